/* tests/programs/storm.c - a multi-threaded malloc/free storm (issue 4).
 *
 * NT threads each run OPS operations on their own 256 slots with a seeded
 * generator: malloc, calloc, posix_memalign, realloc chains (grow and
 * shrink), frees of their own blocks, and blocks handed over to a shared
 * exchange that the other threads free. Sizes mix small (16..512 B), medium
 * (1..64 KiB) and large (128 KiB..1 MiB, mmapped) blocks. The program keeps
 * its own account of the live bytes with malloc_usable_size (added after
 * each allocation, taken away before each free), keeps every fourth slot of
 * every thread alive at exit and prints the account. Exit 0.
 * stdout: every line is deterministic except the "live" figure: glibc may
 * hand out a chunk up to a few dozen bytes bigger than asked for, depending
 * on which thread freed what first, so the usable sizes of the survivors
 * vary by a few hundred bytes from run to run (the requested sizes do not). */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NT 8
#define OPS 40000
#define SLOTS 256
#define XCHG 512

static long long live;      /* atomic: the program's own account, bytes */
static long long allocs, frees, foreign_frees;
static long long kept_blocks, kept_bytes;   /* atomic: requested sizes of the survivors */

static pthread_mutex_t xlock = PTHREAD_MUTEX_INITIALIZER;
static void *xring[XCHG];
static int xowner[XCHG];
static int xhead, xcount;

static void account(long long d)
{
	__atomic_add_fetch(&live, d, __ATOMIC_RELAXED);
}

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t pick_size(uint64_t *s)
{
	uint64_t r = next(s) % 100;

	if (r < 70)
		return 16 + next(s) % 497;
	if (r < 98)
		return 1024 + next(s) % (63 * 1024);
	return (128 << 10) + next(s) % (896 << 10);
}

static void *get(uint64_t *s, size_t n)
{
	void *p = NULL;

	switch (next(s) % 4) {
	case 0: p = calloc(1, n); break;
	case 1: if (posix_memalign(&p, 64, n)) p = NULL; break;
	default: p = malloc(n); break;
	}
	if (!p)
		abort();
	((char *)p)[0] = 1;
	((char *)p)[n - 1] = 2;
	account((long long)malloc_usable_size(p));
	__atomic_add_fetch(&allocs, 1, __ATOMIC_RELAXED);
	return p;
}

static void put(void *p)
{
	account(-(long long)malloc_usable_size(p));
	free(p);
	__atomic_add_fetch(&frees, 1, __ATOMIC_RELAXED);
}

static void *chain(uint64_t *s, void *p, size_t *size)
{
	int links = 2 + (int)(next(s) % 5);

	for (int i = 0; i < links; i++) {
		size_t n = pick_size(s);
		*size = n;
		long long old = (long long)malloc_usable_size(p);
		void *q = realloc(p, n);
		if (!q)
			abort();
		((char *)q)[n - 1] = 3;
		account((long long)malloc_usable_size(q) - old);
		p = q;
	}
	return p;
}

/* Hand p to the exchange; returns a block some other thread handed over
 * (to be freed by us), or NULL. */
static void *swap(int me, void *p)
{
	void *out = NULL;

	pthread_mutex_lock(&xlock);
	for (int i = 0; i < xcount; i++) {
		int at = (xhead + i) % XCHG;
		if (xowner[at] != me) {
			out = xring[at];
			xring[at] = xring[xhead];
			xowner[at] = xowner[xhead];
			xhead = (xhead + 1) % XCHG;
			xcount--;
			break;
		}
	}
	if (p) {
		if (xcount == XCHG) {   /* full: free the oldest ourselves */
			pthread_mutex_unlock(&xlock);
			put(p);
			return out;
		}
		int at = (xhead + xcount) % XCHG;
		xring[at] = p;
		xowner[at] = me;
		xcount++;
	}
	pthread_mutex_unlock(&xlock);
	return out;
}

void *stormer(void *arg)
{
	int me = (int)(long)arg;
	uint64_t s = 0x9e3779b97f4a7c15ULL * (uint64_t)(me + 1);
	void *slot[SLOTS] = { 0 };
	size_t size[SLOTS] = { 0 };

	for (int op = 0; op < OPS; op++) {
		int j = (int)(next(&s) % SLOTS);
		if (!slot[j]) {
			size[j] = pick_size(&s);
			slot[j] = get(&s, size[j]);
			continue;
		}
		uint64_t r = next(&s) % 10;
		if (r < 3) {
			slot[j] = chain(&s, slot[j], &size[j]);
		} else if (r < 6) {
			put(slot[j]);
			slot[j] = NULL;
		} else {
			void *theirs = swap(me, slot[j]);
			slot[j] = NULL;
			if (theirs) {
				put(theirs);
				__atomic_add_fetch(&foreign_frees, 1, __ATOMIC_RELAXED);
			}
		}
	}
	for (int j = 0; j < SLOTS; j++) {
		if (!slot[j])
			continue;
		if (j % 4 != 0) {
			put(slot[j]);
		} else {
			__atomic_add_fetch(&kept_blocks, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&kept_bytes, (long long)size[j], __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

int main(void)
{
	pthread_t th[NT];

	for (long i = 0; i < NT; i++)
		pthread_create(&th[i], NULL, stormer, (void *)i);
	for (int i = 0; i < NT; i++)
		pthread_join(th[i], NULL);
	while (xcount) {   /* what is left in the exchange: main frees it */
		void *p = swap(-1, NULL);
		put(p);
		foreign_frees++;
	}
	printf("storm: %d threads, %lld allocations\n", NT, allocs);
	printf("storm: kept %lld blocks of %lld requested bytes\n", kept_blocks, kept_bytes);
	printf("storm: live %lld bytes\n", live);
	fprintf(stderr, "storm: %lld frees, %lld by another thread\n", frees, foreign_frees);
	return 0;
}
