/* tests/bench/mallocstorm.c - malloc storm: T threads (default 4) each do N
 * (default 1000000) malloc/free pairs of pseudo-random sizes (16 B - 4 KiB,
 * a few larger), keeping a small window of live blocks.
 * `mallocstorm [N [T]]`; prints a checksum. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WINDOW 64

static long per_thread = 1000000;

void *storm(void *arg)
{
	uint32_t x = (uint32_t)(uintptr_t)arg * 2654435761u + 1;
	void *live[WINDOW] = { 0 };
	unsigned long sum = 0;

	for (long i = 0; i < per_thread; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		size_t size = (x & 0xff) == 0 ? 65536 + (x >> 16) : 16 + (x >> 20);
		int slot = (int)(x % WINDOW);
		free(live[slot]);
		live[slot] = malloc(size);
		if (!live[slot])
			abort();
		memset(live[slot], 1, 16);
		sum += size;
	}
	for (int i = 0; i < WINDOW; i++)
		free(live[i]);
	return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
	long nthreads = 4;
	pthread_t th[64];
	unsigned long total = 0;

	if (argc > 1)
		per_thread = atol(argv[1]);
	if (argc > 2)
		nthreads = atol(argv[2]);
	if (nthreads < 1 || nthreads > 64)
		return 2;
	for (long i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, storm, (void *)(uintptr_t)(i + 1));
	for (long i = 0; i < nthreads; i++) {
		void *r;
		pthread_join(th[i], &r);
		total += (uintptr_t)r;
	}
	printf("mallocstorm: %lu bytes requested\n", total);
	return 0;
}
