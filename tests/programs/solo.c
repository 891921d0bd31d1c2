/* tests/programs/solo.c - a program of one thread, then of two: whether
 * its streams take their locks (glibc's _IO_FLAGS2_NEED_LOCK), before and
 * after a thread is made by `how` (pthread, thrd, timer: a SIGEV_THREAD
 * timer's, aio: glibc's aio threads), and whether two threads' putc on one
 * stream then lose nothing.
 *
 * `solo cancel-self 0` and `solo cancel-reader 0`, after the same wait:
 * main cancels itself and then reads an empty pipe (a one-thread program's
 * read is a cancellation point: its cleanup handler says so), or starts a
 * thread that reads an empty pipe and cancels it (the read, made by a
 * program of two threads, is cancelled while it waits).
 *
 * `solo busy 0`: putc to a stream from the start, in a loop, until the
 * stream takes no lock or 3 s have passed; prints "busy: file F". A
 * tracer's service thread started at load finds the stream held at its
 * first look, most of the time.
 *
 * `solo HOW N`: waits up to 2 s for the first stream's flag to clear (a
 * tracer's service thread starting), prints "before: stdout S file F new
 * W" (1: takes its lock; new: a stream opened after the wait), makes the
 * thread, prints "after: ..." likewise, then main and a second thread (the
 * timer's callback for timer) each putc N bytes to one stream and it
 * prints "putc: BYTES of 2N". */
#include <aio.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <threads.h>
#include <time.h>
#include <unistd.h>

static long n;
static FILE *shared;
static volatile int done;

static int locks(FILE *f)
{
	/* volatile: fopen's result is malloc-like to the compiler, which would
	 * keep the first load across the calls that change the flag */
	return !!(*(volatile int *)&f->_flags2 & 128);
}

static void put_n(void)
{
	for (long i = 0; i < n; i++)
		putc('x', shared);
}

static void *worker(void *a)
{
	(void)a;
	put_n();
	return NULL;
}

static int thrd_fn(void *a)
{
	(void)a;
	return 0;
}

static int cancel_pipe[2];

static void said(void *what)
{
	printf("cleanup: %s\n", (const char *)what);
	fflush(stdout);
}

static void *reader(void *a)
{
	char c;

	(void)a;
	pthread_cleanup_push(said, "reader cancelled");
	read(cancel_pipe[0], &c, 1);
	pthread_cleanup_pop(0);
	return NULL;
}

static void on_timer(union sigval v)
{
	(void)v;
	put_n();
	done = 1;
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	const char *how = argv[1];
	n = atol(argv[2]);
	if (!strcmp(how, "busy")) {
		FILE *f = fopen("/dev/null", "w");
		struct timespec t0, t;
		if (!f)
			return 1;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		do {
			for (int i = 0; i < 100000; i++)
				putc('x', f);
			clock_gettime(CLOCK_MONOTONIC, &t);
		} while (locks(f) && t.tv_sec - t0.tv_sec < 3);
		printf("busy: file %d\n", locks(f));
		return 0;
	}
	FILE *file = fopen("/dev/null", "w");
	shared = tmpfile();
	if (!file || !shared)
		return 1;
	for (int i = 0; i < 200 && locks(file); i++)
		usleep(10000);
	FILE *fresh = fopen("/dev/null", "r");
	printf("before: stdout %d file %d new %d\n", locks(stdout), locks(file), locks(fresh));
	fflush(stdout);

	pthread_t t = 0;
	timer_t tm;
	if (!strcmp(how, "cancel-self") || !strcmp(how, "cancel-reader")) {
		char c;
		if (pipe(cancel_pipe))
			return 1;
		if (!strcmp(how, "cancel-reader")) {
			if (pthread_create(&t, NULL, reader, NULL))
				return 1;
			usleep(100000);
			pthread_cancel(t);
			void *r;
			pthread_join(t, &r);
			printf("reader joined: %s\n", r == PTHREAD_CANCELED ? "cancelled" : "returned");
			return 0;
		}
		pthread_cleanup_push(said, "main cancelled at read");
		pthread_cancel(pthread_self());
		read(cancel_pipe[0], &c, 1);
		pthread_cleanup_pop(0);
		printf("read returned\n");
		return 3;
	}
	if (!strcmp(how, "pthread")) {
		if (pthread_create(&t, NULL, worker, NULL))
			return 1;
	} else if (!strcmp(how, "thrd")) {
		thrd_t th;
		if (thrd_create(&th, thrd_fn, NULL) != thrd_success)
			return 1;
		thrd_join(th, NULL);
	} else if (!strcmp(how, "timer")) {
		struct sigevent ev = { .sigev_notify = SIGEV_THREAD, .sigev_notify_function = on_timer };
		struct itimerspec its = { .it_value = { 0, 1000000 } };
		if (timer_create(CLOCK_MONOTONIC, &ev, &tm) || timer_settime(tm, 0, &its, NULL))
			return 1;
	} else if (!strcmp(how, "aio")) {
		static char buf[16];
		struct aiocb cb = { .aio_fildes = open("/dev/zero", O_RDONLY), .aio_buf = buf,
				    .aio_nbytes = sizeof(buf) };
		const struct aiocb *list[1] = { &cb };
		if (aio_read(&cb) || aio_suspend(list, 1, NULL) || aio_return(&cb) != sizeof(buf))
			return 1;
	} else {
		return 2;
	}
	/* (the pthread and timer threads are putting meanwhile) */
	printf("after: stdout %d file %d new %d\n", locks(stdout), locks(file), locks(fresh));
	fflush(stdout);
	if (!strcmp(how, "thrd") || !strcmp(how, "aio"))
		pthread_create(&t, NULL, worker, NULL);
	put_n();
	if (t)
		pthread_join(t, NULL);
	while (!strcmp(how, "timer") && !done)
		usleep(1000);
	fflush(shared);
	printf("putc: %ld of %ld\n", ftell(shared), 2 * n);
	return 0;
}
