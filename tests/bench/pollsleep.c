/* tests/bench/pollsleep.c - poll/sleep loop: T threads (default 2) each run
 * N iterations (default 5000) of poll() on an idle pipe with a 0 timeout,
 * a 0-length nanosleep and, every 100th iteration, a 50 us sleep: many
 * short or non-blocking calls, a few that really wait.
 * `pollsleep [N [T]]`; prints the number of iterations. */
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long iterations = 5000;
static int idle_pipe[2];

void *looper(void *arg)
{
	struct pollfd pfd = { .fd = idle_pipe[0], .events = POLLIN };

	for (long i = 0; i < iterations; i++) {
		if (poll(&pfd, 1, 0) != 0)
			abort();
		nanosleep(&(struct timespec){ 0, 0 }, NULL);
		if (i % 100 == 0)
			nanosleep(&(struct timespec){ 0, 50000 }, NULL);
	}
	return arg;
}

int main(int argc, char **argv)
{
	long nthreads = 2;
	pthread_t th[64];

	if (argc > 1)
		iterations = atol(argv[1]);
	if (argc > 2)
		nthreads = atol(argv[2]);
	if (nthreads < 1 || nthreads > 64 || pipe(idle_pipe))
		return 2;
	for (long i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, looper, NULL);
	for (long i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	printf("pollsleep: %ld iterations\n", iterations * nthreads);
	return 0;
}
