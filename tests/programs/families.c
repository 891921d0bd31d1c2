/* tests/programs/families.c - one thread per blocking family (issue 3).
 *
 * Each thread blocks once in one call and measures that call itself with
 * CLOCK_MONOTONIC:
 *   reader    read() on a pipe            (main writes at +60 ms)
 *   locker    pthread_mutex_lock()        (main holds the mutex until +90 ms)
 *   waiter    pthread_cond_wait()         (main signals at +120 ms)
 *   receiver  recv() on a socketpair      (main sends at +150 ms)
 *   poller    poll() on a silent socket, 70 ms timeout
 *   sleeper   nanosleep() 110 ms
 *   napper    poll(NULL, 0, 45): a timeout with nothing watched (a sleep)
 *   reaper    waitpid() of a forked child that sleeps 130 ms
 *   futexer   syscall(SYS_futex, FUTEX_WAIT) (main wakes it at +100 ms), as
 *             Rust's std, abseil and libc++ wait
 *   sockreader read() on a socketpair        (main writes at +140 ms)
 *   selecter  select() on a silent socket, 65 ms timeout
 *   epoller   epoll_wait() on a set watching a silent socket, 75 ms timeout
 * With an argument N, main sleeps N ms before it starts them: calls that
 * begin once a trace from load has the TSC's rate take the traced thunk's
 * path (core/record/thunk.c), earlier ones the framed body's.
 * After joining everything main prints one line per thread:
 *   <start routine> tid=<tid> ns=<measured ns> ret=<return value>
 * The order of the lines is fixed; the figures vary from run to run. */
#include <linux/futex.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MS 1000000LL

struct result {
	const char *name;
	pid_t tid;
	long long ns;
	long ret;
};

enum { READER, LOCKER, WAITER, RECEIVER, POLLER, SLEEPER, NAPPER, REAPER, FUTEXER, SOCKREADER,
       SELECTER, EPOLLER, NFAM };

static struct result res[NFAM];
static int pipefd[2], recvsv[2], pollsv[2], readsv[2], selsv[2], epsv[2], epfd;
static pthread_mutex_t held = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cm = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int signalled;
static uint32_t futex_word;

static long long now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void begin(int i, const char *name)
{
	res[i].name = name;
	res[i].tid = (pid_t)syscall(SYS_gettid);
}

void *reader(void *arg)
{
	char c;

	(void)arg;
	begin(READER, "reader");
	long long t0 = now();
	ssize_t n = read(pipefd[0], &c, 1);
	res[READER].ns = now() - t0;
	res[READER].ret = (long)n;
	return NULL;
}

void *locker(void *arg)
{
	(void)arg;
	begin(LOCKER, "locker");
	long long t0 = now();
	int rc = pthread_mutex_lock(&held);
	res[LOCKER].ns = now() - t0;
	res[LOCKER].ret = rc;
	pthread_mutex_unlock(&held);
	return NULL;
}

void *waiter(void *arg)
{
	long long total = 0;
	int rc = 0;

	(void)arg;
	begin(WAITER, "waiter");
	pthread_mutex_lock(&cm);
	while (!signalled && rc == 0) {
		long long t0 = now();
		rc = pthread_cond_wait(&cv, &cm);
		total += now() - t0;
	}
	pthread_mutex_unlock(&cm);
	res[WAITER].ns = total;
	res[WAITER].ret = rc;
	return NULL;
}

void *receiver(void *arg)
{
	char buf[8];

	(void)arg;
	begin(RECEIVER, "receiver");
	long long t0 = now();
	ssize_t n = recv(recvsv[0], buf, sizeof(buf), 0);
	res[RECEIVER].ns = now() - t0;
	res[RECEIVER].ret = (long)n;
	return NULL;
}

void *poller(void *arg)
{
	struct pollfd p = { .fd = pollsv[0], .events = POLLIN };

	(void)arg;
	begin(POLLER, "poller");
	long long t0 = now();
	int n = poll(&p, 1, 70);
	res[POLLER].ns = now() - t0;
	res[POLLER].ret = n;
	return NULL;
}

void *sleeper(void *arg)
{
	struct timespec d = { 0, 110 * MS };

	(void)arg;
	begin(SLEEPER, "sleeper");
	long long t0 = now();
	int rc = nanosleep(&d, NULL);
	res[SLEEPER].ns = now() - t0;
	res[SLEEPER].ret = rc;
	return NULL;
}

void *napper(void *arg)
{
	(void)arg;
	begin(NAPPER, "napper");
	long long t0 = now();
	int n = poll(NULL, 0, 45);
	res[NAPPER].ns = now() - t0;
	res[NAPPER].ret = n;
	return NULL;
}

void *reaper(void *arg)
{
	int st = 0;

	(void)arg;
	begin(REAPER, "reaper");
	pid_t pid = fork();
	if (pid == 0) {
		struct timespec d = { 0, 130 * MS };
		nanosleep(&d, NULL);
		_exit(7);
	}
	long long t0 = now();
	pid_t r = waitpid(pid, &st, 0);
	res[REAPER].ns = now() - t0;
	res[REAPER].ret = (r == pid && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
	return NULL;
}

void *futexer(void *arg)
{
	long long total = 0;
	long rc = 0;

	(void)arg;
	begin(FUTEXER, "futexer");
	while (!__atomic_load_n(&futex_word, __ATOMIC_ACQUIRE)) {
		long long t0 = now();
		rc = syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
		total += now() - t0;
	}
	res[FUTEXER].ns = total;
	res[FUTEXER].ret = rc == 0 || errno == EAGAIN ? 0 : -1;
	return NULL;
}

void *sockreader(void *arg)
{
	char c;

	(void)arg;
	begin(SOCKREADER, "sockreader");
	long long t0 = now();
	ssize_t n = read(readsv[0], &c, 1);
	res[SOCKREADER].ns = now() - t0;
	res[SOCKREADER].ret = (long)n;
	return NULL;
}

void *selecter(void *arg)
{
	fd_set r;
	struct timeval tv = { 0, 65000 };

	(void)arg;
	begin(SELECTER, "selecter");
	FD_ZERO(&r);
	FD_SET(selsv[0], &r);
	long long t0 = now();
	int n = select(selsv[0] + 1, &r, NULL, NULL, &tv);
	res[SELECTER].ns = now() - t0;
	res[SELECTER].ret = n;
	return NULL;
}

void *epoller(void *arg)
{
	struct epoll_event ev;

	(void)arg;
	begin(EPOLLER, "epoller");
	long long t0 = now();
	int n = epoll_wait(epfd, &ev, 1, 75);
	res[EPOLLER].ns = now() - t0;
	res[EPOLLER].ret = n;
	return NULL;
}

static void at(long long start, long long off)
{
	long long t = start + off;
	struct timespec ts = { (time_t)(t / 1000000000LL), (long)(t % 1000000000LL) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
		;
}

int main(int argc, char **argv)
{
	void *(*fn[NFAM])(void *) = { reader, locker, waiter, receiver, poller, sleeper,
				      napper, reaper, futexer, sockreader, selecter, epoller };
	pthread_t th[NFAM];
	struct epoll_event ev = { .events = EPOLLIN };

	if (pipe(pipefd) || socketpair(AF_UNIX, SOCK_STREAM, 0, recvsv) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, pollsv) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, readsv) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, selsv) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, epsv) || (epfd = epoll_create1(0)) < 0 ||
	    epoll_ctl(epfd, EPOLL_CTL_ADD, epsv[0], &ev)) {
		perror("families: pipe/socketpair/epoll");
		return 1;
	}
	pthread_mutex_lock(&held);
	if (argc > 1)
		at(now(), atoll(argv[1]) * MS);
	long long start = now();
	for (int i = 0; i < NFAM; i++)
		if (pthread_create(&th[i], NULL, fn[i], NULL) != 0) {
			fprintf(stderr, "families: pthread_create failed\n");
			return 1;
		}
	at(start, 60 * MS);
	if (write(pipefd[1], "x", 1) != 1)
		return 1;
	at(start, 90 * MS);
	pthread_mutex_unlock(&held);
	at(start, 100 * MS);
	__atomic_store_n(&futex_word, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	at(start, 120 * MS);
	pthread_mutex_lock(&cm);
	signalled = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&cm);
	at(start, 140 * MS);
	if (write(readsv[1], "r", 1) != 1)
		return 1;
	at(start, 150 * MS);
	if (send(recvsv[1], "hello", 5, 0) != 5)
		return 1;
	for (int i = 0; i < NFAM; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < NFAM; i++)
		printf("%s tid=%d ns=%lld ret=%ld\n", res[i].name, (int)res[i].tid, res[i].ns,
		       res[i].ret);
	printf("main tid=%d\n", (int)syscall(SYS_gettid));
	return 0;
}
