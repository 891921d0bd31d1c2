/* tests/programs/heapsteps.c - the live heap grows to 64 MiB in 1 MiB steps
 * (each block touched), then shrinks to 4 MiB; the 4 MiB stay allocated at
 * exit (issue 4). Between steps a 1 ms pause, so the counter's steps are
 * spread over time. stdout: the program's own figures (usable sizes). */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define STEP (1 << 20)
#define PEAK_STEPS 64
#define KEEP_STEPS 4

static void pause_ms(long ms)
{
	struct timespec d = { 0, ms * 1000000L };

	nanosleep(&d, NULL);
}

int main(void)
{
	static char *block[PEAK_STEPS];
	size_t live = 0, peak = 0;

	for (int i = 0; i < PEAK_STEPS; i++) {
		block[i] = malloc(STEP);
		if (!block[i]) {
			perror("heapsteps: malloc");
			return 1;
		}
		memset(block[i], i + 1, STEP);
		live += malloc_usable_size(block[i]);
		pause_ms(1);
	}
	peak = live;
	for (int i = PEAK_STEPS - 1; i >= KEEP_STEPS; i--) {
		live -= malloc_usable_size(block[i]);
		free(block[i]);
		pause_ms(1);
	}
	long sum = 0;
	for (int i = 0; i < KEEP_STEPS; i++)
		sum += block[i][STEP - 1];
	printf("heapsteps: peak %zu KiB, final %zu KiB, check %ld\n", peak >> 10, live >> 10, sum);
	return 0;
}
