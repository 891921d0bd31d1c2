/* tests/programs/blockers.c - one thread blocked in each family for as long
 * as its driver wants (issue 20: a trace started mid-run snapshots them).
 *
 *   reader    read() on a pipe               (a syscall)
 *   locker    pthread_mutex_lock()           (sync)
 *   waiter    pthread_cond_wait()            (cond)
 *   receiver  recv() on a socketpair         (net)
 *   sleeper   nanosleep() until woken by SIGUSR1 (sleep; restarted by hand)
 * main prints "ready" once every thread is in its call, waits for a line on
 * stdin, then releases them 20 ms apart (reader, locker, waiter, receiver,
 * sleeper), joins them, and then does it all again once more with the
 * threads blocked 30 ms each (so the trace also has waits that begin and
 * end inside it). Prints "done"; exit 0. `blockers -v` first prints the
 * waits each thread measured around its call, summed by profile:
 * "waited syscall=NS sync=NS net=NS" (a run's own figures: under load two
 * runs differ by more than a profile may). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/syscall.h>

static int pipe_fd[2], sock[2];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cmu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int go;
static volatile sig_atomic_t woken;
static volatile pid_t tids[5];
enum { W_SYSCALL, W_SYNC, W_NET, W_N };
static long long waited[W_N];   /* ns, atomic adds */

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void add_wait(int w, long long since)
{
	__atomic_add_fetch(&waited[w], now_ns() - since, __ATOMIC_RELAXED);
}

static void *reader(void *a)
{
	char c;

	tids[0] = (pid_t)syscall(SYS_gettid);
	long long t = now_ns();
	if (read(pipe_fd[0], &c, 1) != 1)
		perror("read");
	add_wait(W_SYSCALL, t);
	return a;
}

static void *locker(void *a)
{
	tids[1] = (pid_t)syscall(SYS_gettid);
	long long t = now_ns();
	pthread_mutex_lock(&mu);
	add_wait(W_SYNC, t);
	pthread_mutex_unlock(&mu);
	return a;
}

static void *waiter(void *a)
{
	pthread_mutex_lock(&cmu);
	tids[2] = (pid_t)syscall(SYS_gettid);
	while (!go) {
		long long t = now_ns();
		pthread_cond_wait(&cv, &cmu);
		add_wait(W_SYNC, t);
	}
	go = 0;
	pthread_mutex_unlock(&cmu);
	return a;
}

static void *receiver(void *a)
{
	char c;

	tids[3] = (pid_t)syscall(SYS_gettid);
	long long t = now_ns();
	if (recv(sock[0], &c, 1, 0) != 1)
		perror("recv");
	add_wait(W_NET, t);
	return a;
}

static void on_usr1(int sig)
{
	(void)sig;
	woken = 1;
}

static void *sleeper(void *a)
{
	struct timespec ts = { 30, 0 };

	tids[4] = (pid_t)syscall(SYS_gettid);
	while (!woken && nanosleep(&ts, &ts) == 0)
		ts.tv_sec = 30;
	return a;
}

/* The thread's state letter in /proc: 'S' once it sleeps in its call. */
static int sleeping(pid_t tid)
{
	char path[64], buf[256];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/stat", (int)tid);
	if (!(f = fopen(path, "r")))
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	char *p = strrchr(buf, ')');
	return p && p[1] == ' ' && p[2] == 'S';
}

static void pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, ms % 1000 * 1000000L };

	nanosleep(&ts, NULL);
}

static void round_trip(int wait_for_line)
{
	void *(*fn[5])(void *) = { reader, locker, waiter, receiver, sleeper };
	pthread_t th[5];

	woken = 0;
	memset((void *)tids, 0, sizeof(tids));
	pthread_mutex_lock(&mu);
	for (int i = 0; i < 5; i++)
		pthread_create(&th[i], NULL, fn[i], NULL);
	for (int i = 0; i < 5; i++)
		while (!tids[i] || !sleeping(tids[i]))
			pause_ms(1);
	if (wait_for_line) {
		char line[64];
		puts("ready");
		fflush(stdout);
		if (!fgets(line, sizeof(line), stdin))
			return;
	} else {
		pause_ms(30);
	}
	if (write(pipe_fd[1], "x", 1) != 1)
		perror("write");
	pause_ms(20);
	pthread_mutex_unlock(&mu);
	pause_ms(20);
	pthread_mutex_lock(&cmu);
	go = 1;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&cmu);
	pause_ms(20);
	if (send(sock[1], "y", 1, 0) != 1)
		perror("send");
	pause_ms(20);
	pthread_kill(th[4], SIGUSR1);
	for (int i = 0; i < 5; i++)
		pthread_join(th[i], NULL);
}

int main(int argc, char **argv)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	if (pipe(pipe_fd) || socketpair(AF_UNIX, SOCK_STREAM, 0, sock)) {
		perror("setup");
		return 1;
	}
	round_trip(1);
	round_trip(0);
	if (argc > 1 && !strcmp(argv[1], "-v"))
		printf("waited syscall=%lld sync=%lld net=%lld\n", waited[W_SYSCALL],
		       waited[W_SYNC], waited[W_NET]);
	puts("done");
	return 0;
}
