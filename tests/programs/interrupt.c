/* tests/programs/interrupt.c - blocking calls left early (issue 3).
 *
 *   interrupt cancel   a thread blocked in read() on a pipe, and one blocked
 *                      in recv(), are cancelled with pthread_cancel; their
 *                      cleanup handlers print; main then blocks in a read
 *                      of its own (a helper writes after 30 ms). Exit 3.
 *   interrupt eintr    a SIGUSR1 handler installed without SA_RESTART;
 *                      threads blocked in read, recv, poll, nanosleep,
 *                      waitpid, accept and sem_wait are hit by pthread_kill;
 *                      main's own read is hit by SIGALRM (setitimer). Each
 *                      call's return value and errno are printed. Exit 4.
 *   interrupt nested   a SIGUSR2 handler (SA_RESTART) that calls write,
 *                      malloc/free (one block above the malloc-log size) and
 *                      nanosleep(20 ms) hits main three times while main is
 *                      blocked in read (restarted each time), and hits a
 *                      thread blocked in nanosleep (which returns EINTR).
 *                      Exit 5.
 *   interrupt jump     a SIGALRM handler siglongjmps out of a read that
 *                      main makes two calls deep (blocked_read), twice;
 *                      main then blocks in a read of its own (a helper
 *                      writes after 30 ms) and in a nanosleep. Exit 6.
 * stdout is deterministic. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>

#define MS 1000000L

static void msleep(long ms)
{
	struct timespec d = { ms / 1000, (ms % 1000) * MS };

	while (nanosleep(&d, &d) != 0 && errno == EINTR)
		;
}

static const char *ename(int e)
{
	switch (e) {
	case 0: return "0";
	case EINTR: return "EINTR";
	case EAGAIN: return "EAGAIN";
	case ECHILD: return "ECHILD";
	case EBADF: return "EBADF";
	default: return strerror(e);
	}
}

/* ------------------------------------------------------------ cancel */

static int cpipe[2], csock[2], mpipe[2];

static void cleanup(void *what)
{
	printf("cleanup: %s cancelled\n", (const char *)what);
	fflush(stdout);
}

void *cancel_reader(void *arg)
{
	char c;
	ssize_t n;

	(void)arg;
	pthread_cleanup_push(cleanup, "reader");
	n = read(cpipe[0], &c, 1);
	printf("reader: read returned %zd (not cancelled!)\n", n);
	pthread_cleanup_pop(0);
	return NULL;
}

void *cancel_receiver(void *arg)
{
	char c;
	ssize_t n;

	(void)arg;
	pthread_cleanup_push(cleanup, "receiver");
	n = recv(csock[0], &c, 1, 0);
	printf("receiver: recv returned %zd (not cancelled!)\n", n);
	pthread_cleanup_pop(0);
	return NULL;
}

void *late_writer(void *arg)
{
	(void)arg;
	msleep(30);
	if (write(mpipe[1], "y", 1) != 1)
		abort();
	return NULL;
}

static int do_cancel(void)
{
	pthread_t r, s, w;
	void *rv;
	char c;

	if (pipe(cpipe) || pipe(mpipe) || socketpair(AF_UNIX, SOCK_STREAM, 0, csock))
		return 1;
	pthread_create(&r, NULL, cancel_reader, NULL);
	pthread_create(&s, NULL, cancel_receiver, NULL);
	msleep(50);
	pthread_cancel(r);
	pthread_join(r, &rv);
	printf("reader joined: %s\n", rv == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "returned");
	pthread_cancel(s);
	pthread_join(s, &rv);
	printf("receiver joined: %s\n", rv == PTHREAD_CANCELED ? "PTHREAD_CANCELED" : "returned");
	pthread_create(&w, NULL, late_writer, NULL);
	ssize_t n = read(mpipe[0], &c, 1);
	pthread_join(w, NULL);
	printf("main read: ret=%zd byte=%c\n", n, n == 1 ? c : '?');
	return 3;
}

/* ------------------------------------------------------------ eintr */

static int hits;

static void on_usr1(int sig)
{
	(void)sig;
	/* Seven threads take it at once: a plain ++ can lose one. */
	__atomic_add_fetch(&hits, 1, __ATOMIC_RELAXED);
}

enum { E_READ, E_RECV, E_POLL, E_SLEEP, E_WAITPID, E_ACCEPT, E_SEM, NE };
static const char *const enames[NE] = { "read", "recv", "poll", "nanosleep", "waitpid",
					"accept", "sem_wait" };
static long eret[NE];
static int eerr[NE];
static int ebusy[NE];
static int epipe[2], esock[2], elisten;
static sem_t esem;
static pid_t echild;

void *eintr_thread(void *arg)
{
	long i = (long)arg;
	char buf[4];
	struct pollfd p = { .fd = esock[0], .events = POLLIN };
	struct timespec d = { 5, 0 }, rem = { 0, 0 };
	long r = 0;

	__atomic_store_n(&ebusy[i], 1, __ATOMIC_RELEASE);
	errno = 0;
	switch (i) {
	case E_READ: r = read(epipe[0], buf, 1); break;
	case E_RECV: r = recv(esock[0], buf, 1, 0); break;
	case E_POLL: r = poll(&p, 1, 5000); break;
	case E_SLEEP: r = nanosleep(&d, &rem); break;
	case E_WAITPID: r = waitpid(echild, NULL, 0); break;
	case E_ACCEPT: r = accept(elisten, NULL, NULL); break;
	case E_SEM: r = sem_wait(&esem); break;
	}
	eret[i] = r;
	eerr[i] = errno;
	if (i == E_SLEEP && r == -1 && rem.tv_sec + rem.tv_nsec == 0)
		eerr[i] = -1;   /* EINTR must leave a remaining time */
	return NULL;
}

static int do_eintr(void)
{
	struct sigaction sa;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	pthread_t th[NE];
	char c;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;              /* no SA_RESTART */
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	if (pipe(epipe) || socketpair(AF_UNIX, SOCK_STREAM, 0, esock) || sem_init(&esem, 0, 0))
		return 1;
	elisten = socket(AF_INET, SOCK_STREAM, 0);
	if (elisten < 0 || bind(elisten, (struct sockaddr *)&a, sizeof(a)) || listen(elisten, 4))
		return 1;
	echild = fork();
	if (echild == 0) {
		pause();
		_exit(0);
	}

	/* Only main takes SIGALRM: the threads block it. */
	sigset_t alrm, old;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	pthread_sigmask(SIG_BLOCK, &alrm, &old);
	for (long i = 0; i < NE; i++)
		pthread_create(&th[i], NULL, eintr_thread, (void *)i);
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	struct itimerval it = { .it_value = { 0, 80000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	errno = 0;
	ssize_t n = read(epipe[0], &c, 1);
	int e = errno;
	printf("main read (SIGALRM): ret=%zd errno=%s\n", n, ename(e));

	for (int i = 0; i < NE; i++)
		while (!__atomic_load_n(&ebusy[i], __ATOMIC_ACQUIRE))
			msleep(1);
	msleep(100);   /* let them all block */
	for (int i = 0; i < NE; i++)
		pthread_kill(th[i], SIGUSR1);
	for (int i = 0; i < NE; i++) {
		pthread_join(th[i], NULL);
		printf("%-9s ret=%ld errno=%s\n", enames[i], eret[i],
		       eerr[i] == -1 ? "EINTR-without-remaining-time" : ename(eerr[i]));
	}
	kill(echild, SIGKILL);
	waitpid(echild, NULL, 0);
	printf("handler calls: %d\n", __atomic_load_n(&hits, __ATOMIC_RELAXED));
	return 4;
}

/* ------------------------------------------------------------ nested */

static volatile sig_atomic_t nested_calls;
static int npipe[2];
static pthread_t main_th;

static void on_usr2(int sig)
{
	int saved = errno;
	char msg[32];
	int n = nested_calls + 1;

	(void)sig;
	int len = snprintf(msg, sizeof(msg), "handler %d\n", n);
	if (write(1, msg, (size_t)len) != len)
		abort();
	char *small = malloc(100000);
	char *big = malloc(4 << 20);   /* above GOTRACE_MALLOC_LOG: a malloc log */
	if (!small || !big)
		abort();
	memset(small, 1, 100000);
	memset(big, 2, 4 << 20);
	free(small);
	free(big);
	struct timespec d = { 0, 20 * MS };
	nanosleep(&d, NULL);
	nested_calls = n;
	errno = saved;
}

void *napper(void *arg)
{
	struct timespec d = { 2, 0 }, rem;

	(void)arg;
	errno = 0;
	int r = nanosleep(&d, &rem);
	int e = errno;
	return (void *)(long)(r == -1 && e == EINTR ? 1 : 0);
}

void *kicker(void *arg)
{
	(void)arg;
	for (int i = 0; i < 3; i++) {
		msleep(40);
		pthread_kill(main_th, SIGUSR2);
	}
	msleep(60);
	if (write(npipe[1], "z", 1) != 1)
		abort();
	return NULL;
}

static int do_nested(void)
{
	struct sigaction sa;
	pthread_t k, nap;
	void *rv;
	char c;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGUSR2, &sa, NULL);
	if (pipe(npipe))
		return 1;
	main_th = pthread_self();
	printf("main: reading\n");
	fflush(stdout);
	pthread_create(&k, NULL, kicker, NULL);
	ssize_t n = read(npipe[0], &c, 1);
	printf("main read: ret=%zd byte=%c handler calls=%d\n", n, n == 1 ? c : '?',
	       (int)nested_calls);
	fflush(stdout);
	pthread_join(k, NULL);

	pthread_create(&nap, NULL, napper, NULL);
	msleep(50);
	pthread_kill(nap, SIGUSR2);
	pthread_join(nap, &rv);
	printf("napper: nanosleep %s, handler calls=%d\n",
	       rv ? "returned -1/EINTR" : "did NOT return -1/EINTR", (int)nested_calls);
	return 5;
}

/* ------------------------------------------------------------ jump */

static sigjmp_buf jump_to;

static void on_alrm_jump(int sig)
{
	(void)sig;
	siglongjmp(jump_to, 1);
}

__attribute__((noinline)) ssize_t blocked_read(int fd)
{
	char c;

	return read(fd, &c, 1);
}

__attribute__((noinline)) ssize_t deeper_read(int fd)
{
	return blocked_read(fd) + 0 * getpid();
}

static int do_jump(void)
{
	struct sigaction sa = { .sa_handler = on_alrm_jump };
	struct itimerval it = { { 0, 0 }, { 0, 20000 } };
	int p[2];
	pthread_t w;

	if (pipe(p) || pipe(mpipe) || sigaction(SIGALRM, &sa, NULL))
		return 1;
	for (volatile int k = 1; k <= 2; k++) {
		if (sigsetjmp(jump_to, 1) == 0) {
			setitimer(ITIMER_REAL, &it, NULL);
			ssize_t n = deeper_read(p[0]);
			printf("read %d returned %zd (no jump!)\n", k, n);
		} else {
			printf("jumped out of read %d\n", k);
		}
	}
	pthread_create(&w, NULL, late_writer, NULL);
	ssize_t n = deeper_read(mpipe[0]);
	pthread_join(w, NULL);
	printf("main read: ret=%zd\n", n);
	msleep(30);
	printf("main slept\n");
	return 6;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "cancel"))
		return do_cancel();
	if (argc == 2 && !strcmp(argv[1], "eintr"))
		return do_eintr();
	if (argc == 2 && !strcmp(argv[1], "nested"))
		return do_nested();
	if (argc == 2 && !strcmp(argv[1], "jump"))
		return do_jump();
	fprintf(stderr, "usage: interrupt cancel|eintr|nested|jump\n");
	return 2;
}
