/* tests/programs/waits.c - known waits at three call sites, for the block
 * and mutex profiles (issue 26): a holder thread takes the mutex and keeps
 * it for a set time; main then locks it from wait_long (2 units), wait_a
 * and wait_b (1 unit each), ROUNDS times, and measures each of its waits.
 *
 *   waits [UNIT_MS [ROUNDS]]
 *
 * It prints "ready" and waits for a line on stdin (a profile is switched
 * on meanwhile), then runs the rounds and prints each site's total wait in
 * ns ("wait_long 123456789"), then "done" and waits for a line again
 * before it exits (a profile is written meanwhile). */
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static sem_t go, held;
static long hold_ns;
static int quit;

static long now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static void *holder(void *arg)
{
	(void)arg;
	for (;;) {
		sem_wait(&go);
		if (quit)
			return NULL;
		pthread_mutex_lock(&m);
		sem_post(&held);
		struct timespec d = { hold_ns / 1000000000L, hold_ns % 1000000000L };
		nanosleep(&d, NULL);
		pthread_mutex_unlock(&m);
	}
}

/* The holder keeps the lock for ns; the caller's lock waits that long. */
static long contend(long ns)
{
	hold_ns = ns;
	sem_post(&go);
	sem_wait(&held);
	long t0 = now();
	pthread_mutex_lock(&m);
	long t = now() - t0;
	pthread_mutex_unlock(&m);
	return t;
}

static __attribute__((noinline)) long wait_long(long unit)
{
	return contend(2 * unit);
}

static __attribute__((noinline)) long wait_a(long unit)
{
	return contend(unit);
}

static __attribute__((noinline)) long wait_b(long unit)
{
	return contend(unit);
}

int main(int argc, char **argv)
{
	long unit = (argc > 1 ? atol(argv[1]) : 10) * 1000000L;
	int rounds = argc > 2 ? atoi(argv[2]) : 10;
	long total[3] = { 0 };
	char line[64];
	pthread_t h;

	sem_init(&go, 0, 0);
	sem_init(&held, 0, 0);
	pthread_create(&h, NULL, holder, NULL);
	printf("ready\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int r = 0; r < rounds; r++) {
		total[0] += wait_long(unit);
		total[1] += wait_a(unit);
		total[2] += wait_b(unit);
	}
	printf("wait_long %ld\nwait_a %ld\nwait_b %ld\ndone\n", total[0], total[1], total[2]);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	quit = 1;
	sem_post(&go);
	pthread_join(h, NULL);
	return 0;
}
