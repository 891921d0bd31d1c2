/* cpuburn: CPU for the profiler's tests (tests/integration/test_cpu.py).
 *
 *   cpuburn SECONDS [THREADS] [MODE]
 *
 * THREADS (default 2) threads burn CPU for SECONDS, each alternating
 * between burn_three() and burn_one(), which do the same work per
 * iteration, 3 to 1; one more thread sleeps the whole time (sleeper) and
 * main waits. MODE:
 *   own    the program profiles itself first: a SIGPROF handler of its
 *          own and setitimer(ITIMER_PROF); at the end it says whether the
 *          handler is still its and ran in the second half of the run
 *   take   it installs such a handler at SECONDS/2 (in the middle of a
 *          profile of ours)
 *   fork   a child forked at SECONDS/2 burns 1 s and exits by itself
 *   short  each of the THREADS is a relay instead: it starts a thread
 *          (short_burner) that calls burn_three() and burn_one() once,
 *          ~80 ms, joins it, and starts the next
 *   tiny   as short, with calls 1/20 as long: threads of ~4 ms, which
 *          end before a CPU-time timer of theirs would be armed
 *   pipe   each of the THREADS writes a byte to a pipe of its own and
 *          reads it back (pipe_write, pipe_read), in a loop: its CPU time
 *          is spent inside libc's write and read and the kernel
 * At the end it prints what it saw of SIGPROF's disposition (it must not
 * see ours) and "cpuburn: done"; its exit status is 0. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Iterations of burn_one's loop: ~20 ms here (burn_three's ~60), five
 * and more of the kernel's 4 ms ticks, at which CPU-time timers fire. A
 * call then gets its length's share of samples give or take one, where
 * calls shorter than a tick were sampled at random: the 3:1 ratio's
 * spread, ~6% over 1,500 samples (binomial), falls to ~2%. */
#define UNIT 12000000

static long unit = UNIT;
static volatile int stop;
static volatile unsigned long sink;
static volatile long handler_calls;

/* Each call's work is random within +-10%, 3 units (burn_three) or 1 on
 * average: a loop of fixed period could beat with the sampling period. */
static __thread unsigned long rng = 88172645463325252ul;

static long units(long mean)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return mean - mean / 10 + (long)(rng % (unsigned long)(mean / 5));   /* 0.9 .. 1.1 mean */
}

__attribute__((noinline)) void burn_three(void)
{
	unsigned long x = sink;

	for (long i = 0, n = units(3 * unit); i < n; i++)
		x = x * 6364136223846793005ul + 1442695040888963407ul + (x >> 29);
	sink = x;
}

__attribute__((noinline)) void burn_one(void)
{
	unsigned long x = sink;

	for (long i = 0, n = units(unit); i < n; i++)
		x = x * 6364136223846793005ul + 1442695040888963407ul + (x >> 29);
	sink = x;
}

static void *burner(void *arg)
{
	rng += (unsigned long)arg * 0x9e3779b97f4a7c15ul;
	while (!stop) {
		burn_three();
		burn_one();
	}
	return NULL;
}

__attribute__((noinline)) void pipe_write(int fd)
{
	if (write(fd, "x", 1) != 1)
		abort();
}

__attribute__((noinline)) void pipe_read(int fd)
{
	char c;

	if (read(fd, &c, 1) != 1)
		abort();
}

static void *piper(void *arg)
{
	int p[2];

	(void)arg;
	if (pipe(p))
		abort();
	while (!stop) {
		pipe_write(p[1]);
		pipe_read(p[0]);
	}
	close(p[0]);
	close(p[1]);
	return NULL;
}

static void *short_burner(void *arg)
{
	rng += (unsigned long)arg * 0x9e3779b97f4a7c15ul;
	burn_three();
	burn_one();
	return NULL;
}

static void *relay(void *arg)
{
	for (long k = 1; !stop; k++) {
		pthread_t t;
		if (pthread_create(&t, NULL, short_burner, (void *)((long)arg << 20 | k)))
			break;
		pthread_join(t, NULL);
	}
	return NULL;
}

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;

static void *sleeper(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&m);
	while (!stop)
		pthread_cond_wait(&cv, &m);
	pthread_mutex_unlock(&m);
	return NULL;
}

static void on_prof(int sig)
{
	(void)sig;
	handler_calls++;
}

static void own_profiler(void)
{
	struct sigaction sa = { .sa_handler = on_prof, .sa_flags = SA_RESTART };
	struct itimerval it = { { 0, 10000 }, { 0, 10000 } };

	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPROF, &sa, NULL) || setitimer(ITIMER_PROF, &it, NULL))
		perror("cpuburn: own profiler");
}

static const char *disposition(void)
{
	struct sigaction cur;

	if (sigaction(SIGPROF, NULL, &cur))
		return "error";
	if (cur.sa_handler == SIG_DFL)
		return "SIG_DFL";
	if (cur.sa_handler == SIG_IGN)
		return "SIG_IGN";
	return cur.sa_handler == on_prof ? "own" : "other";
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts))
		;   /* EINTR: the rest */
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	int n = argc > 2 ? atoi(argv[2]) : 2;
	const char *mode = argc > 3 ? argv[3] : "";
	pthread_t th[64], sl;
	pid_t child = 0;

	if (n < 1 || n > 64)
		n = 2;
	if (!strcmp(mode, "tiny")) {
		unit = UNIT / 20;
		mode = "short";
	}
	printf("cpuburn: SIGPROF at start: %s\n", disposition());
	if (!strcmp(mode, "own"))
		own_profiler();
	pthread_create(&sl, NULL, sleeper, NULL);
	for (int i = 0; i < n; i++)
		pthread_create(&th[i], NULL, !strcmp(mode, "pipe") ? piper
					     : strcmp(mode, "short") ? burner : relay,
			       (void *)(long)(i + 1));
	long mid = 0;
	if (*mode && strcmp(mode, "short") && strcmp(mode, "pipe")) {
		sleep_s(secs / 2);
		mid = handler_calls;
		if (!strcmp(mode, "take")) {
			own_profiler();
		} else if (!strcmp(mode, "fork") && (child = fork()) == 0) {
			time_t t0 = time(NULL);
			while (time(NULL) - t0 < 1)
				burn_one();
			_exit(0);
		}
		sleep_s(secs / 2);
	} else {
		sleep_s(secs);
	}
	stop = 1;
	pthread_mutex_lock(&m);
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&m);
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	pthread_join(sl, NULL);
	if (child) {
		int st;
		waitpid(child, &st, 0);
		printf("cpuburn: child %s\n", WIFEXITED(st) && !WEXITSTATUS(st) ? "exited 0" : "failed");
	}
	if (!strcmp(mode, "own") || !strcmp(mode, "take")) {
		struct itimerval off = { { 0, 0 }, { 0, 0 } };
		setitimer(ITIMER_PROF, &off, NULL);
		printf("cpuburn: own handler %s, %s in the second half\n", disposition(),
		       handler_calls > mid ? "called" : "never called");
	}
	printf("cpuburn: SIGPROF at end: %s\ncpuburn: done\n", disposition());
	return 0;
}
