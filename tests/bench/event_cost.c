/* event_cost.c - cost of one recorded blocking event with a 10-frame stack
 * (issue 7: <= 300 ns median). Recurses 8 frames deep, then times N calls
 * of read(/dev/zero, 1 byte) per round and prints the median ns per call:
 * the recorded stack is read < reads < deep x7 < main, 10 frames (libunwind
 * also walks libc's 3 start-up frames below main, which the trace omits).
 * The default GOTRACE_UNWIND=auto walks this program's frame records (it
 * has them), on the main thread and in a thread alike.
 * scripts/bench runs it plain, with the library idle, and tracing with
 * GOTRACE_BLOCK_NS=0 (every call recorded); recorded - idle = the cost of
 * recording: two clock reads, stack capture, stack-table lookup, encoding.
 * Each round is run twice, once through read and once as a bare syscall
 * instruction (nothing hooks it), at the same depth; the second number
 * printed is the median of the rounds' differences, read - syscall, so
 * that a run's own drift cancels and recorded - idle is taken from two
 * such differences, not from two runs' absolute times. */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 21

static int fd;
static long n = 20000;
static int bare;   /* this round: the syscall without read */

static long sys_read(int f, void *b, size_t k)
{
#if defined(__x86_64__)
	long r;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"((long)SYS_read), "D"((long)f), "S"(b), "d"(k)
			 : "rcx", "r11", "memory");
	return r;
#else
	return syscall(SYS_read, f, b, k);
#endif
}

static uint64_t now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static __attribute__((noinline)) double reads(void)
{
	char c;
	uint64_t t0 = now();
	if (bare) {
		for (long i = 0; i < n; i++)
			if (sys_read(fd, &c, 1) != 1)
				abort();
	} else {
		for (long i = 0; i < n; i++)
			if (read(fd, &c, 1) != 1)
				abort();
	}
	return (double)(now() - t0) / (double)n;
}

static __attribute__((noinline)) double deep(int depth)
{
	double r = depth ? deep(depth - 1) : reads();
	__asm__ volatile("" ::: "memory");
	return r;
}

/* Warm up (stacks interned, symbols written), then ROUNDS timed rounds,
 * 7 deep frames each: deep(6) .. deep(0). A macro, not a function, so that
 * the main thread's stack is main < deep x7 < reads < read: 10 frames. */
#define MEASURE(v, d)                               \
	do {                                        \
		deep(6);                            \
		for (int r_ = 0; r_ < ROUNDS; r_++) { \
			bare = 1;                   \
			double b_ = deep(6);        \
			bare = 0;                   \
			(v)[r_] = deep(6);          \
			(d)[r_] = (v)[r_] - b_;     \
		}                                   \
	} while (0)

static double vs[2][ROUNDS];   /* a thread's: read, read - syscall */

static void *run(void *arg)
{
	(void)arg;
	MEASURE(vs[0], vs[1]);
	return NULL;
}

/* `event_cost [N [thread]]`: with "thread", the reads run in a second
 * thread (the stack ends in run instead of main: still 10 frames).
 * Prints ns per read, then ns per read over a bare syscall (medians). */
int main(int argc, char **argv)
{
	if (argc > 1)
		n = atol(argv[1]);
	fd = open("/dev/zero", O_RDONLY);
	if (argc > 2 && strcmp(argv[2], "thread") == 0) {
		pthread_t t;
		if (pthread_create(&t, NULL, run, NULL) || pthread_join(t, NULL))
			return 1;
	} else {
		MEASURE(vs[0], vs[1]);
	}
	qsort(vs[0], ROUNDS, sizeof(vs[0][0]), cmp);
	qsort(vs[1], ROUNDS, sizeof(vs[1][0]), cmp);
	printf("%.1f %.1f\n", vs[0][ROUNDS / 2], vs[1][ROUNDS / 2]);
	return 0;
}
