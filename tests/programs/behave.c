/* tests/programs/behave.c - observable behaviour a preloaded tracer must not
 * change: deterministic stdout, errno values, exit status and exit paths.
 *   behave errno [STATUS]   errno tour, then return STATUS from main
 *   behave exit-thread N    a non-main thread calls exit(N) while others wait
 *   behave quick-exit-thread N   the same with quick_exit(N)
 *   behave pthread-exit     main calls pthread_exit while 3 threads still run
 *   behave return N         main returns N while a thread is blocked for ever
 *   behave exec-fail        a failed execv, then a thread (tracing goes on)
 *   behave exec PROG ARGS   a thread, then execv(PROG, ARGS)
 *   behave close-all        like a daemon: dup2 /dev/null over every open fd
 *                           above 2, close fds 3..1023, with threads before
 *                           and after
 *   behave close-range      the same with close_range(3, ~0U, 0)
 *   behave crash KIND       a thread sleeps twice, then crashes while main
 *                           waits for it and another thread in a condvar:
 *                           abort, segv (a store through NULL), fpe (an
 *                           integer divide by 0), ill (ud2), or kill (the
 *                           process sends itself SIGSEGV) */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE   /* strerrorname_np */
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KEEP 777   /* errno value that successful calls must leave alone */

static const char *ename(int err)
{
	const char *name = err == KEEP ? "kept" : err ? strerrorname_np(err) : "0";

	return name ? name : "?";
}

static void show(const char *what, long ret, int err)
{
	printf("%-22s ret=%ld errno=%s\n", what, ret, ename(err));
}

/* Run expr with errno preset to KEEP; print its result and errno after. */
#define TRY(what, expr) do { errno = KEEP; long r_ = (long)(expr); show(what, r_, errno); } while (0)
/* For pthread-style calls that return an error number. */
#define TRYRC(what, expr) do { errno = KEEP; int rc_ = (expr); \
	printf("%-22s rc=%s errno=%s\n", what, ename(rc_), \
	       ename(errno)); } while (0)

static struct timespec past(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec -= 10;
	return ts;
}

void *errno_thread(void *arg)
{
	(void)arg;
	printf("%-22s errno=%d\n", "new-thread-errno", errno);
	errno = 42;   /* must not leak into the creator */
	return NULL;
}

static void tour_files(void)
{
	char buf[16];
	int p[2];

	TRY("open-missing", open("/nonexistent-gotrace/x", O_RDONLY));
	TRY("openat-missing", openat(AT_FDCWD, "/nonexistent-gotrace/y", O_RDONLY | O_CLOEXEC));
	TRY("open-dir-write", open(".", O_WRONLY));
	TRY("read-badfd", read(-1, buf, 1));
	TRY("write-badfd", write(9999, "x", 1));
	TRY("close-badfd", close(-1));
	TRY("fcntl-badfd", fcntl(-1, F_GETFD));
	TRY("dup2-badfd", dup2(-1, 100));
	TRY("flock-badfd", flock(-1, LOCK_EX));
	if (pipe(p) != 0)
		abort();
	TRY("pread-pipe", pread(p[0], buf, 1, 0));
	TRY("fsync-pipe", fsync(p[1]));
	TRY("write-pipe", write(p[1], "abc", 3));
	TRY("read-pipe", read(p[0], buf, sizeof(buf)));
	close(p[1]);
	TRY("read-pipe-eof", read(p[0], buf, sizeof(buf)));
	TRY("recv-notsock", recv(p[0], buf, 1, 0));
	close(p[0]);
}

static void tour_net_wait(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_STREAM, 0);
	fd_set rd;

	strcpy(sa.sun_path, "/nonexistent-gotrace/sock");
	TRY("connect-missing", connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	TRY("accept-unbound", accept(s, NULL, NULL));
	close(s);
	TRY("socket-badfamily", socket(9999, SOCK_STREAM, 0));
	TRY("poll-timeout", poll(NULL, 0, 1));
	FD_ZERO(&rd);
	FD_SET(900, &rd);
	TRY("select-badfd", select(901, &rd, NULL, NULL, &(struct timeval){ 0, 0 }));
	struct epoll_event ev;
	TRY("epoll_wait-badfd", epoll_wait(-1, &ev, 1, 0));
	TRY("waitpid-nochild", waitpid(-1, NULL, 0));
	TRY("nanosleep-einval", nanosleep(&(struct timespec){ 0, 2000000000L }, NULL));
	TRY("nanosleep-ok", nanosleep(&(struct timespec){ 0, 1000000L }, NULL));
	TRYRC("clock_nanosleep-bad", clock_nanosleep(12345, 0, &(struct timespec){ 0, 1 }, NULL));
	TRY("usleep-ok", usleep(1000));
	TRY("execv-missing", execv("/nonexistent-gotrace/prog", (char *[]){ "x", NULL }));
	TRY("execvp-missing", execvp("gotrace-no-such-command", (char *[]){ "x", NULL }));
}

static void tour_memory(void)
{
	void *p;

	TRY("malloc-huge", (p = malloc(SIZE_MAX / 2)) != NULL);
	errno = KEEP;
	p = malloc(100);
	p = realloc(p, 100000);
	free(p);
	free(NULL);
	show("malloc-realloc-free", p != NULL, errno);
	TRYRC("posix_memalign-bad", posix_memalign(&p, 3, 16));
}

static void tour_threads(void)
{
	pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t c = PTHREAD_COND_INITIALIZER;
	struct timespec ts = past();
	pthread_t th;
	sem_t sem;

	errno = KEEP;
	if (pthread_create(&th, NULL, errno_thread, NULL) != 0)
		abort();
	pthread_join(th, NULL);
	show("create-join", 0, errno);
	pthread_mutex_lock(&m);
	TRYRC("trylock-locked", pthread_mutex_trylock(&m));
	TRYRC("cond_timedwait-past", pthread_cond_timedwait(&c, &m, &ts));
	pthread_mutex_unlock(&m);
	TRYRC("join-self", pthread_join(pthread_self(), NULL));
	sem_init(&sem, 0, 0);
	TRY("sem_timedwait-past", sem_timedwait(&sem, &ts));
	TRY("sem_trywait-empty", sem_trywait(&sem));
	sem_destroy(&sem);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	TRY("sigtimedwait-timeout", sigtimedwait(&set, NULL, &(struct timespec){ 0, 1000 }));
}

static int mode_errno(int status)
{
	printf("behave: errno tour\n");
	tour_files();
	tour_net_wait();
	tour_memory();
	tour_threads();
	printf("behave: exit %d\n", status);
	return status;
}

/* --- exit() from a non-main thread ------------------------------------ */

static pthread_mutex_t lk = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int turn;

void *sleeper_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&lk);
	for (;;)
		pthread_cond_wait(&cv, &lk);   /* never signalled: blocked at exit */
	return NULL;
}

static int quick;   /* the quitter calls quick_exit */

void *quitter_main(void *arg)
{
	int status = (int)(long)arg;

	usleep(20000);
	printf("quitter: %s(%d)\n", quick ? "quick_exit" : "exit", status);
	if (quick) {
		fflush(stdout);   /* (quick_exit flushes no stream) */
		quick_exit(status);
	}
	exit(status);
}

static int mode_exit_thread(int status)
{
	pthread_t s, q;

	printf("main: starting sleeper and quitter\n");
	pthread_create(&s, NULL, sleeper_main, NULL);
	pthread_create(&q, NULL, quitter_main, (void *)(long)status);
	pthread_join(q, NULL);   /* never returns: the quitter exits the process */
	printf("main: not reached\n");
	return 99;
}

/* --- main calls pthread_exit while others still run -------------------- */

void *late_worker(void *arg)
{
	int me = (int)(long)arg;

	usleep(10000 * (me + 1));
	pthread_mutex_lock(&lk);
	while (turn != me)
		pthread_cond_wait(&cv, &lk);
	printf("worker %d: done after main left\n", me);
	turn++;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&lk);
	return NULL;
}

static int mode_pthread_exit(void)
{
	pthread_t th[3];

	/* said first: worker 0 does not wait for main to leave, and its line
	 * came first when it ran before main's printf (a traced run's timing) */
	printf("main: pthread_exit\n");
	fflush(stdout);
	for (long i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, late_worker, (void *)i);
	pthread_exit(NULL);
}

/* --- return from main while a thread is blocked ----------------------- */

void *joined_worker(void *arg)
{
	usleep(1000);
	return arg;
}

static int mode_return(int status)
{
	pthread_t j, b;

	pthread_create(&b, NULL, sleeper_main, NULL);
	pthread_create(&j, NULL, joined_worker, NULL);
	pthread_join(j, NULL);
	usleep(5000);   /* the sleeper is now waiting in pthread_cond_wait */
	printf("main: return %d\n", status);
	return status;
}

/* --- crash -------------------------------------------------------------- */

static const char *crash_kind;
static volatile int crash_zero, crash_zero_num = 7;

void *crasher_main(void *arg)
{
	usleep(20000);
	usleep(30000);
	printf("crasher: %s\n", crash_kind);
	fflush(stdout);
	if (!strcmp(crash_kind, "abort"))
		abort();
	if (!strcmp(crash_kind, "segv"))
		*(volatile int *)(uintptr_t)crash_zero = 1;
	if (!strcmp(crash_kind, "fpe"))
		printf("%d\n", crash_zero_num / crash_zero);
	if (!strcmp(crash_kind, "ill"))
		__builtin_trap();
	if (!strcmp(crash_kind, "kill"))
		kill(getpid(), SIGSEGV);
	return arg;
}

static int mode_crash(const char *kind)
{
	pthread_t b, c;

	crash_kind = kind;
	pthread_create(&b, NULL, sleeper_main, NULL);
	pthread_create(&c, NULL, crasher_main, NULL);
	pthread_join(c, NULL);
	printf("main: %s did not end the process\n", kind);
	return 3;
}

/* --- exec --------------------------------------------------------------- */

void *after_exec_fail(void *arg)
{
	return arg;
}

void *before_exec(void *arg)
{
	usleep(1000);
	return arg;
}

static int mode_exec_fail(void)
{
	pthread_t th;

	errno = 0;
	execv("/nonexistent-gotrace/prog", (char *[]){ "prog", NULL });
	printf("execv: %s\n", ename(errno));
	pthread_create(&th, NULL, after_exec_fail, NULL);
	pthread_join(th, NULL);
	printf("main: thread after failed exec joined\n");
	return 0;
}

static int mode_exec(char **argv)
{
	pthread_t th;

	pthread_create(&th, NULL, before_exec, NULL);
	pthread_join(th, NULL);
	printf("main: exec %s\n", argv[0]);
	fflush(stdout);
	execv(argv[0], argv);
	printf("execv: %s\n", ename(errno));
	return 127;
}

/* --- closing every fd -------------------------------------------------- */

void *before_close(void *arg)
{
	return arg;
}

void *after_close(void *arg)
{
	usleep(1000);
	return arg;
}

static void run_thread(void *(*fn)(void *))
{
	pthread_t th;

	if (pthread_create(&th, NULL, fn, NULL) != 0)
		abort();
	pthread_join(th, NULL);
}

static int mode_close(int use_range)
{
	int null = open("/dev/null", O_RDWR);

	run_thread(before_close);
	for (int fd = 3; fd < 1024; fd++) {
		if (fd != null && fcntl(fd, F_GETFD) >= 0)
			dup2(null, fd);
	}
	if (use_range)
		close_range(3, ~0U, 0);
	else
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
	run_thread(after_close);
	run_thread(after_close);
	printf("closed all fds, threads still run\n");
	return 0;
}

static int arg_int(int argc, char **argv, int i, int def)
{
	return argc > i ? atoi(argv[i]) : def;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "errno";

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(mode, "errno") == 0)
		return mode_errno(arg_int(argc, argv, 2, 0));
	if (strcmp(mode, "exit-thread") == 0)
		return mode_exit_thread(arg_int(argc, argv, 2, 3));
	if (strcmp(mode, "quick-exit-thread") == 0)
		return quick = 1, mode_exit_thread(arg_int(argc, argv, 2, 3));
	if (strcmp(mode, "pthread-exit") == 0)
		return mode_pthread_exit();
	if (strcmp(mode, "return") == 0)
		return mode_return(arg_int(argc, argv, 2, 0));
	if (strcmp(mode, "exec-fail") == 0)
		return mode_exec_fail();
	if (strcmp(mode, "close-all") == 0)
		return mode_close(0);
	if (strcmp(mode, "close-range") == 0)
		return mode_close(1);
	if (strcmp(mode, "exec") == 0 && argc > 2)
		return mode_exec(argv + 2);
	if (strcmp(mode, "crash") == 0 && argc > 2)
		return mode_crash(argv[2]);
	fprintf(stderr, "usage: behave errno [STATUS] | exit-thread N | pthread-exit"
		" | return N | exec-fail | exec PROG [ARGS] | close-all | close-range"
		" | crash abort|segv|fpe|ill|kill | quick-exit-thread N\n");
	return 2;
}
