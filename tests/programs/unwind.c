/* tests/programs/unwind.c - blocking reads at the end of stacks the
 * frame-record walk must get right or hand to libunwind: one thread per
 * shape, each reading /dev/zero N times (default 2000) from:
 *   fp        frames with frame pointers only (the walk's case)
 *   nofp      through a function built without them, which uses rbp
 *   untouched through one built without them that leaves rbp alone, called
 *             through a pointer: rbp then still points at its caller's
 *             record, and a walk trusting it would drop a frame
 *   qsort     from qsort's comparison callback (libc, no frame pointers)
 *   deep      100 frames deep (deeper than any recorded stack)
 * and then from the main thread, with frame pointers (main < fp_mid <
 * fp_leaf), where the stack ends in libc's start-up code.
 * Every shape calls read() from a function named after it, so the stacks
 * differ. `unwind [N]`; prints one line per shape. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define NOFP __attribute__((noinline, optimize("omit-frame-pointer")))
#define FP __attribute__((noinline))

static long n = 2000;
static int fd;
static volatile int sink;

static FP void rd(void)
{
	char c;
	if (read(fd, &c, 1) != 1)
		abort();
	sink += c;
}

static FP void fp_leaf(void) { rd(); }
static FP void fp_mid(void) { fp_leaf(); __asm__ volatile("" ::: "memory"); }

/* Uses rbp as a general register around the call: built without frame
 * pointers, rbp holds a computed value, not a record. */
static NOFP void nofp_busy(void)
{
	long x = sink;
	__asm__ volatile("mov %0, %%rbp\n\tadd $8, %%rbp" : : "r"(x) : "rbp");
	rd();
	__asm__ volatile("" ::: "memory");
}

static NOFP void nofp_untouched(void)
{
	rd();
	__asm__ volatile("" ::: "memory");
}

static void (*volatile untouched_ptr)(void) = nofp_untouched;

static FP void untouched_caller(void) { untouched_ptr(); __asm__ volatile("" ::: "memory"); }

static int cmp(const void *a, const void *b)
{
	rd();
	return *(const int *)a - *(const int *)b;
}

static FP void sorter(void)
{
	int v[8] = { 5, 3, 7, 1, 8, 2, 6, 4 };
	qsort(v, 8, sizeof(v[0]), cmp);
}

static FP void deep(int d)
{
	if (d)
		deep(d - 1);
	else
		rd();
	__asm__ volatile("" ::: "memory");
}

static void *shape(void *arg)
{
	long k = (long)arg;
	for (long i = 0; i < n; i++) {
		switch (k) {
		case 0: fp_mid(); break;
		case 1: nofp_busy(); break;
		case 2: untouched_caller(); break;
		case 3: if (i % 16 == 0) sorter(); break;
		case 4: deep(100); break;
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "fp", "nofp", "untouched", "qsort", "deep" };
	pthread_t th[5];

	if (argc > 1)
		n = atol(argv[1]);
	fd = open("/dev/zero", O_RDONLY);
	if (fd < 0)
		return 1;
	for (long k = 0; k < 5; k++)
		pthread_create(&th[k], NULL, shape, (void *)k);
	for (long k = 0; k < 5; k++) {
		pthread_join(th[k], NULL);
		printf("unwind: %s done\n", names[k]);
	}
	for (long i = 0; i < n; i++)   /* the main thread's stack ends in libc */
		fp_mid();
	printf("unwind: main done\n");
	return 0;
}
