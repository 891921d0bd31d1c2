/* tests/programs/stackstates.c - threads in known states for debug_stacks:
 * one in read, one in poll, one on a contended mutex, one in a condition
 * wait, one asleep, one computing, one in sem_wait; main asleep too. Each blocking call
 * counts the EINTRs it sees (the program must not see any). After SECS
 * seconds (argv[1], default 10) everything is released; the program
 * prints what each thread did and exits 0.
 * Usage: stackstates [SECS] */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static int rp[2], pp[2];
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go_cond;
static volatile int stop_busy;
static int eintr[7];
static sem_t sem;
static double secs = 10;
static volatile unsigned long spins;

__attribute__((noinline)) static void *reader_thread(void *a)
{
	char c;
	ssize_t n;

	(void)a;
	while ((n = read(rp[0], &c, 1)) < 0 && errno == EINTR)
		eintr[0]++;
	return (void *)(long)n;
}

__attribute__((noinline)) static void *poll_thread(void *a)
{
	struct pollfd p = { pp[0], POLLIN, 0 };
	int n;

	(void)a;
	while ((n = poll(&p, 1, -1)) < 0 && errno == EINTR)
		eintr[1]++;
	return (void *)(long)n;
}

__attribute__((noinline)) static void *lock_thread(void *a)
{
	(void)a;
	int r = pthread_mutex_lock(&held);
	if (r == EINTR)
		eintr[2]++;
	pthread_mutex_unlock(&held);
	return (void *)(long)(r == 0);
}

__attribute__((noinline)) static void *cond_thread(void *a)
{
	int woken = 0;

	(void)a;
	pthread_mutex_lock(&cm);
	while (!go_cond) {
		pthread_cond_wait(&cv, &cm);
		woken++;
	}
	pthread_mutex_unlock(&cm);
	return (void *)(long)(woken > 0);
}

/* Sleeps secs in one nanosleep: an interruption shows as EINTR. */
__attribute__((noinline)) static void *sleep_thread(void *a)
{
	struct timespec t = { (time_t)secs, (long)((secs - (time_t)secs) * 1e9) };

	(void)a;
	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		eintr[4]++;
	return (void *)1;
}

/* sem_wait reports EINTR itself (an interrupted wait returns -1). */
__attribute__((noinline)) static void *sem_thread(void *a)
{
	(void)a;
	while (sem_wait(&sem) < 0 && errno == EINTR)
		eintr[6]++;
	return (void *)1;
}

__attribute__((noinline)) static void spin_here(void)
{
	while (!stop_busy)
		spins++;
}

__attribute__((noinline)) static void *busy_thread(void *a)
{
	(void)a;
	spin_here();
	return (void *)1;
}

int main(int argc, char **argv)
{
	void *(*fn[])(void *) = { reader_thread, poll_thread, lock_thread, cond_thread,
				  sleep_thread, busy_thread, sem_thread };
	const char *names[] = { "reader", "poller", "locker", "waiter", "sleeper", "busy",
				"semwaiter" };
	pthread_t t[7];
	void *r[7];

	if (argc > 1)
		secs = atof(argv[1]);
	if (pipe(rp) || pipe(pp) || sem_init(&sem, 0, 0))
		return 1;
	pthread_mutex_lock(&held);
	for (int i = 0; i < 7; i++) {
		pthread_create(&t[i], NULL, fn[i], NULL);
		pthread_setname_np(t[i], names[i]);
	}
	printf("ready\n");
	fflush(stdout);
	struct timespec d = { (time_t)secs, (long)((secs - (time_t)secs) * 1e9) };
	int main_eintr = 0;
	while (nanosleep(&d, &d) < 0 && errno == EINTR)
		main_eintr++;
	if (write(rp[1], "x", 1) != 1 || write(pp[1], "x", 1) != 1)
		return 1;
	pthread_mutex_unlock(&held);
	pthread_mutex_lock(&cm);
	go_cond = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&cm);
	stop_busy = 1;
	sem_post(&sem);
	for (int i = 0; i < 7; i++)
		pthread_join(t[i], &r[i]);
	for (int i = 0; i < 7; i++)
		printf("%s %ld eintr %d\n", names[i], (long)r[i], eintr[i]);
	printf("main eintr %d\n", main_eintr);
	return 0;
}
