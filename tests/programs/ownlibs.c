/* tests/programs/ownlibs.c - a program that brings its own copies of
 * libraries the tracer uses too, and exports them, as real programs do:
 * rustc links jemalloc in and exports malloc and free; node links a zlib of
 * its own in and exports deflateReset and the rest.
 * - malloc and its family are this file's: blocks from one mapping, never
 *   reused. free() of a block it never made aborts, as jemalloc's does;
 *   so does glibc's free() of one of these (the word below a block is not
 *   a size glibc's free takes). glibc's own calls (strdup, fopen) and
 *   libdw's get these too.
 * - deflateReset is this file's, and aborts: a zlib whose calls of its own
 *   functions bind to the process's first definition would reach it.
 * Three threads take a mutex through an always-inline helper (a trace's
 * stacks have an inlined frame), then burn CPU for `ownlibs MS` ms each
 * (a CPU profile has samples). Prints "ownlibs: N" and exits 0. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define ARENA (1ul << 34)        /* reserved, not committed */
#define MAGIC 0x6f776e6c69627321ul
#define FREED 0x66726565642121ul

static char *arena;
static size_t used;

static void die(const char *what)
{
	static const char pre[] = "ownlibs: ";
	ssize_t r = write(2, pre, sizeof(pre) - 1);
	r += write(2, what, strlen(what));
	r += write(2, "\n", 1);
	(void)r;
	abort();
}

static char *base(void)
{
	char *a = __atomic_load_n(&arena, __ATOMIC_ACQUIRE);

	if (!a) {
		char *m = mmap(NULL, ARENA, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (m == MAP_FAILED)
			die("mmap failed");
		if (!__atomic_compare_exchange_n(&arena, &a, m, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			munmap(m, ARENA);
		else
			a = m;
	}
	return a;
}

/* A block of n bytes aligned to al (a power of two, at least 16), MAGIC
 * and its size in the 16 bytes below it, the size as n << 4 | 8: where
 * glibc keeps a chunk's size, one that is not a multiple of 16 ("free():
 * invalid size"). */
static void *take(size_t al, size_t n)
{
	char *a = base();

	if (al < 16)
		al = 16;
	if (n > ARENA / 2 || al > ARENA / 2) {
		errno = ENOMEM;
		return NULL;
	}
	size_t need = (n + al + 16 + 15) & ~(size_t)15;
	size_t off = __atomic_fetch_add(&used, need, __ATOMIC_RELAXED);
	if (off + need > ARENA) {
		errno = ENOMEM;
		return NULL;
	}
	uintptr_t p = ((uintptr_t)a + off + 16 + al - 1) & ~(uintptr_t)(al - 1);
	((size_t *)p)[-1] = n << 4 | 8;
	((size_t *)p)[-2] = MAGIC;
	return (void *)p;
}

static size_t *head(void *p)
{
	char *a = base();

	if ((char *)p < a + 16 || (char *)p >= a + ARENA || ((size_t *)p)[-2] != MAGIC)
		die("free() of a block this malloc never made");
	return (size_t *)p - 2;
}

void *malloc(size_t n) { return take(16, n); }
void *calloc(size_t n, size_t m)
{
	size_t t;
	if (__builtin_mul_overflow(n, m, &t)) {
		errno = ENOMEM;
		return NULL;
	}
	return take(16, t);   /* fresh pages: zero */
}
void free(void *p)
{
	if (p)
		head(p)[0] = FREED;
}
void *realloc(void *p, size_t n)
{
	if (!p)
		return malloc(n);
	size_t old = head(p)[1] >> 4;
	void *q = malloc(n);
	if (q) {
		memcpy(q, p, old < n ? old : n);
		free(p);
	}
	return q;
}
void *memalign(size_t al, size_t n) { return take(al, n); }
void *aligned_alloc(size_t al, size_t n) { return take(al, n); }
int posix_memalign(void **out, size_t al, size_t n)
{
	void *p = take(al, n);
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}
void *valloc(size_t n) { return take(4096, n); }
void *pvalloc(size_t n) { return take(4096, (n + 4095) & ~(size_t)4095); }
size_t malloc_usable_size(void *p) { return p ? head(p)[1] >> 4 : 0; }

int deflateReset(void *strm);
int deflateReset(void *strm)
{
	(void)strm;
	die("the program's deflateReset was called (not by the program)");
	return -2;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long ms, total;

static inline __attribute__((always_inline)) void hold(void)
{
	pthread_mutex_lock(&lock);
	usleep(1000);
	total++;
	pthread_mutex_unlock(&lock);
}

static double now_cpu(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void *worker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 30; i++)
		hold();
	volatile unsigned long x = 0;
	for (double t0 = now_cpu(); now_cpu() - t0 < (double)ms;)
		for (int i = 0; i < 10000; i++)
			x += (unsigned long)i * i;
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t t[3];

	ms = argc > 1 ? atol(argv[1]) : 200;
	char *s = strdup("glibc's strdup takes our malloc");
	for (int i = 0; i < 3; i++)
		if (pthread_create(&t[i], NULL, worker, NULL))
			return 1;
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	free(s);
	printf("ownlibs: %ld\n", total);
	return 0;
}
