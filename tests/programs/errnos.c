/* tests/programs/errnos.c - errno as the program sees it (issue 21).
 *
 * Prints errno at main and at a thread's start, then sets errno to a
 * sentinel before each kind of call the library hooks (threads, locks,
 * condition waits, pipes, sockets, poll, sleeps, the malloc family, fds,
 * names, fork) and prints errno after it. A call that succeeds leaves errno
 * as libc leaves it; the output must be the same with and without the
 * library, idle or tracing. Calls that wait do so for 30 ms (above the
 * recording threshold), so a trace records them. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#define SENTINEL 4242
#define SHOW(what) printf("%-24s %d\n", what, errno)

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int flag, pipe_fd[2], sock[2];
static int thread_errno = -1;

static void ms(long n)
{
	struct timespec ts = { 0, n * 1000000L };

	nanosleep(&ts, NULL);
}

static void *helper(void *a)
{
	thread_errno = errno;   /* before any call of its own */
	ms(30);
	pthread_mutex_unlock(&mu);   /* main waits for it in lock */
	ms(30);
	pthread_mutex_lock(&mu);
	flag = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	ms(30);
	if (write(pipe_fd[1], "x", 1) != 1)
		abort();
	ms(30);
	if (send(sock[1], "y", 1, 0) != 1)
		abort();
	return a;
}

static void *locker(void *a)
{
	pthread_mutex_lock(&mu);
	return a;
}

/* Calls whose arguments are wrong, as a sweep found them answered
 * otherwise while tracing: timed locks and semaphore waits whose time or
 * clock glibc refuses before it would take the lock or count (the hooks'
 * try took it), a pending cancellation at sem_wait (a cancellation point
 * before the count), sigtimedwait's bad time pointer (read by the hook:
 * SIGSEGV, even idle), sigwait's errno. Each prints its result, errno
 * and whether the lock or count was taken. */
static void *cancelled(void *a)
{
	int old;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	pthread_cancel(pthread_self());
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
	sem_wait(a);   /* cancelled here, the count kept */
	return (void *)1;
}

static void *cancelled_clock(void *a)
{
	struct timespec t;
	int old;
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += 1;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	pthread_cancel(pthread_self());
	pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, &old);
	sem_clockwait(a, CLOCK_MONOTONIC, &t);   /* takes the count */
	return (void *)1;
}

static void bad_arguments(void)
{
	pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
	pthread_mutexattr_t ma;
	pthread_mutex_t rm;
	struct timespec bad = { 0, 2000000000 }, ok = { 0, 0 };
	sem_t sem;
	sigset_t set;
	int v, r, sig;
	void *res;

	r = pthread_rwlock_timedwrlock(&rw, &bad);
	v = pthread_rwlock_trywrlock(&rw);   /* 0: the lock was free */
	printf("%-24s %d %d\n", "rwlock_timedwrlock", r, v);
	if (r == 0 || v == 0)
		pthread_rwlock_unlock(&rw);
	r = pthread_rwlock_clockrdlock(&rw, CLOCK_PROCESS_CPUTIME_ID, &ok);
	v = pthread_rwlock_trywrlock(&rw);
	printf("%-24s %d %d\n", "rwlock_clockrdlock", r, v);
	if (r == 0 || v == 0)
		pthread_rwlock_unlock(&rw);
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&rm, &ma);
	pthread_mutex_lock(&rm);
	r = pthread_mutex_clocklock(&rm, CLOCK_THREAD_CPUTIME_ID, &ok);
	v = pthread_mutex_unlock(&rm);
	printf("%-24s %d %d %d\n", "mutex_clocklock", r, v, pthread_mutex_unlock(&rm));
	sem_init(&sem, 0, 1);
	errno = SENTINEL;
	r = sem_timedwait(&sem, &bad);
	sem_getvalue(&sem, &v);
	printf("%-24s %d %d %d\n", "sem_timedwait", r, errno, v);
	const struct timespec *none = NULL;   /* (hidden from -Wnonnull) */
	__asm__("" : "+r"(none));
	r = pthread_rwlock_timedrdlock(&rw, none);   /* glibc 2.36: no time-out */
	printf("%-24s %d\n", "rwlock_timedrdlock NULL", r);
	if (r == 0)
		pthread_rwlock_unlock(&rw);
	pthread_t th;
	pthread_create(&th, NULL, cancelled_clock, &sem);   /* not a cancel point */
	pthread_join(th, &res);
	sem_getvalue(&sem, &v);
	printf("%-24s %d %d\n", "sem_clockwait cancel", res == PTHREAD_CANCELED, v);
	sem_post(&sem);
	pthread_create(&th, NULL, cancelled, &sem);
	pthread_join(th, &res);
	sem_getvalue(&sem, &v);
	printf("%-24s %d %d\n", "sem_wait cancelled", res == PTHREAD_CANCELED, v);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	errno = SENTINEL;
	r = sigtimedwait(&set, NULL, (const struct timespec *)16);
	printf("%-24s %d %d\n", "sigtimedwait bad time", r, errno);
	errno = SENTINEL;
	r = sigwait((const sigset_t *)16, &sig);
	printf("%-24s %d %d\n", "sigwait bad set", r, errno);
}

int main(void)
{
	pthread_t th;
	char c;

	SHOW("main");
	if (pipe(pipe_fd) || socketpair(AF_UNIX, SOCK_STREAM, 0, sock))
		return 1;
	/* The helper unlocks a mutex a first thread locked (a normal mutex
	 * allows it), so main's lock waits. */
	pthread_create(&th, NULL, locker, NULL);
	pthread_join(th, NULL);
	errno = SENTINEL;
	pthread_create(&th, NULL, helper, NULL);
	SHOW("pthread_create");
	errno = SENTINEL;
	pthread_mutex_lock(&mu);
	SHOW("pthread_mutex_lock");
	errno = SENTINEL;
	while (!flag)
		pthread_cond_wait(&cv, &mu);
	SHOW("pthread_cond_wait");
	errno = SENTINEL;
	pthread_mutex_unlock(&mu);
	SHOW("pthread_mutex_unlock");
	errno = SENTINEL;
	if (read(pipe_fd[0], &c, 1) != 1)
		return 1;
	SHOW("read");
	errno = SENTINEL;
	if (recv(sock[0], &c, 1, 0) != 1)
		return 1;
	SHOW("recv");
	errno = SENTINEL;
	pthread_join(th, NULL);
	SHOW("pthread_join");
	printf("%-24s %d\n", "thread start", thread_errno);
	errno = SENTINEL;
	poll(NULL, 0, 30);
	SHOW("poll");
	errno = SENTINEL;
	ms(30);
	SHOW("nanosleep");
	errno = SENTINEL;
	void *p = malloc(100);
	SHOW("malloc");
	errno = SENTINEL;
	p = realloc(p, 5 << 20);
	SHOW("realloc");
	errno = SENTINEL;
	free(p);
	SHOW("free");
	errno = SENTINEL;
	p = calloc(10, 10);
	free(p);
	SHOW("calloc");
	errno = SENTINEL;
	int fd = open("/dev/null", O_RDONLY);
	SHOW("open");
	errno = SENTINEL;
	dup2(fd, 100);
	SHOW("dup2");
	errno = SENTINEL;
	close(100);
	close(fd);
	SHOW("close");
	errno = SENTINEL;
	prctl(PR_SET_NAME, "errnos", 0, 0, 0);
	SHOW("prctl");
	errno = SENTINEL;
	pthread_setname_np(pthread_self(), "errnos-main");
	SHOW("pthread_setname_np");
	bad_arguments();
	fflush(stdout);
	errno = SENTINEL;
	pid_t pid = fork();
	if (pid == 0) {
		printf("%-24s %d\n", "fork (child)", errno);
		fflush(stdout);
		_exit(0);
	}
	int e = errno, st;
	waitpid(pid, &st, 0);
	printf("%-24s %d\n", "fork (parent)", e);
	errno = SENTINEL;
	return 0;
}
