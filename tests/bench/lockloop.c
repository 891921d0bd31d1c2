/* tests/bench/lockloop.c - a lock storm: T threads (default 4) each take one
 * shared mutex N times (default 2000000) around a tiny critical section.
 * Pinned to one CPU (scripts/bench does that), the lock is almost never
 * contended (a few hundred waits in 80M locks, when a holder is preempted):
 * this measures what the lock hook adds to an uncontended lock, the common
 * case. tests/bench/mutex.c is the contended hand-off.
 * `lockloop [N [T]]`; prints the final counter. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter, per_thread = 2000000;

void *contender(void *arg)
{
	(void)arg;
	for (long i = 0; i < per_thread; i++) {
		pthread_mutex_lock(&lock);
		counter++;
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long nthreads = 4;
	pthread_t th[64];

	if (argc > 1)
		per_thread = atol(argv[1]);
	if (argc > 2)
		nthreads = atol(argv[2]);
	if (nthreads < 1 || nthreads > 64)
		return 2;
	for (long i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, contender, NULL);
	for (long i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	printf("lockloop: counter %ld\n", counter);
	return counter == per_thread * nthreads ? 0 : 1;
}
