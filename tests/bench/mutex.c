/* tests/bench/mutex.c - T threads (default 4) each take one shared mutex N
 * times (default 100000). Two kinds, both pinned to one CPU by
 * scripts/bench:
 *
 * handoff (default): the holder yields the CPU inside its critical section,
 *   as a thread preempted or blocked while holding a lock does, so the other
 *   threads run, find the lock held and wait in the kernel: every lock after
 *   the first is a contended wait, and each unlock wakes a waiter (about one
 *   futex wait, one futex wake and one sched_yield per lock).
 * storm: a tiny critical section and no yield. On one CPU the lock is almost
 *   never contended (a few hundred waits in 80M locks, when a holder is
 *   preempted): what the lock hook adds to an uncontended lock.
 *
 * `mutex [N [T [handoff|storm]]]`; prints the final counter. */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static long counter, per_thread = 100000;
static int handoff = 1;

void *contender(void *arg)
{
	(void)arg;
	for (long i = 0; i < per_thread; i++) {
		pthread_mutex_lock(&lock);
		counter++;
		if (handoff)
			sched_yield();
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
	if (argc > 3)
		handoff = strcmp(argv[3], "storm") != 0;
	if (nthreads < 2 || nthreads > 64)
		return 2;
	for (long i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, contender, NULL);
	for (long i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	printf("mutex: counter %ld\n", counter);
	return counter == per_thread * nthreads ? 0 : 1;
}
