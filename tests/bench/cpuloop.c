/* tests/bench/cpuloop.c - CPU-bound threads, no calls at all: what sampling
 * costs where a thread only computes. `cpuloop N THREADS`: each thread runs
 * N units of an LCG, three in one function for one in another (the split
 * tests/programs/cpuburn.c profiles). Prints a checksum. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static long units;

__attribute__((noinline)) static unsigned long spin(unsigned long x, long n)
{
	for (long i = 0; i < n; i++)
		x = x * 6364136223846793005ul + 1442695040888963407ul + (x >> 29);
	return x;
}

__attribute__((noinline)) static unsigned long three(unsigned long x)
{
	return spin(x, 3 * 100000);
}

__attribute__((noinline)) static unsigned long one(unsigned long x)
{
	return spin(x, 100000);
}

static void *worker(void *arg)
{
	unsigned long x = (unsigned long)arg;

	for (long u = 0; u < units; u++)
		x = one(three(x));
	return (void *)x;
}

int main(int argc, char **argv)
{
	units = argc > 1 ? atol(argv[1]) : 1000;
	int n = argc > 2 ? atoi(argv[2]) : 2;
	pthread_t th[64];
	unsigned long sum = 0;

	if (n < 1 || n > 64)
		n = 2;
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, worker, (void *)(unsigned long)(i + 1));
	for (int i = 0; i < n; i++) {
		void *r;
		pthread_join(th[i], &r);
		sum += (unsigned long)r;
	}
	printf("%lu\n", sum);
	return 0;
}
