/* tests/programs/sigkeep.c - signal dispositions a preloaded tracer must
 * not show or take (test_exit_paths ProgramSignals):
 *   sigkeep query    what sigaction, signal, sysv_signal, bsd_signal and
 *                    sigset report for the signals a trace arms; a SIGSEGV
 *                    handler of the program's recovers 3 faults; a vfork
 *                    child dies of SIGUSR2; then a handler that hands the
 *                    fault back (signal(SIGSEGV, SIG_DFL) and return, as
 *                    JITs and Rust's guard handler do): the process dies
 *                    of SIGSEGV after two sleeps
 *   sigkeep survive  waits for "go" on stdin, installs a recovering SIGSEGV
 *                    handler, waits for "fault", recovers 5 faults
 *   sigkeep double   two threads sleep, then both abort() at once */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern sighandler_t bsd_signal(int, sighandler_t);   /* (not declared under _GNU_SOURCE) */

static sigjmp_buf jb;
static volatile int *bad;

static void recover(int sig)
{
	(void)sig;
	siglongjmp(jb, 1);
}

static void hand_back(int sig)
{
	signal(sig, SIG_DFL);   /* the fault again, to SIG_DFL: the end */
}

static int faults(int n)
{
	volatile int got = 0;

	for (volatile int i = 0; i < n; i++)
		if (sigsetjmp(jb, 1))
			got++;
		else
			*bad = 1;
	return got;
}

static const char *shown(sighandler_t h)
{
	return h == SIG_DFL ? "SIG_DFL" : h == SIG_IGN ? "SIG_IGN" : h == SIG_ERR ? "SIG_ERR" : "a handler";
}

static int query(void)
{
	static const int sigs[] = { SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTERM, SIGINT };
	struct sigaction old;

	for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sigaction(sigs[i], NULL, &old);
		printf("%s: sigaction %s\n", strsignal(sigs[i]), shown(old.sa_handler));
	}
	printf("sysv_signal(SIGTERM): %s\n", shown(sysv_signal(SIGTERM, recover)));
	printf("bsd_signal(SIGINT): %s\n", shown(bsd_signal(SIGINT, recover)));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	printf("sigset(SIGHUP): %s\n", shown(sigset(SIGHUP, recover)));
#pragma GCC diagnostic pop
	printf("signal(SIGSEGV): %s\n", shown(signal(SIGSEGV, recover)));
	printf("recovered %d\n", faults(3));
	printf("signal(SIGSEGV) back: %s\n", shown(signal(SIGSEGV, SIG_DFL)));
	sigaction(SIGSEGV, NULL, &old);
	printf("then: %s\n", shown(old.sa_handler));
	pid_t p = vfork();
	if (p == 0) {
		raise(SIGUSR2);
		_exit(1);
	}
	int st;
	waitpid(p, &st, 0);
	sigaction(SIGUSR2, NULL, &old);
	printf("vfork child: signal %d; SIGUSR2 then %s\n", WIFSIGNALED(st) ? WTERMSIG(st) : 0,
	       shown(old.sa_handler));
	signal(SIGSEGV, hand_back);
	usleep(20000);
	usleep(30000);
	printf("handing a fault back\n");
	fflush(stdout);
	*bad = 1;
	return 3;
}

static int survive(void)
{
	char line[16];

	if (!fgets(line, sizeof(line), stdin))
		return 2;
	signal(SIGSEGV, recover);
	printf("installed\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 2;
	printf("recovered %d\n", faults(5));
	return 0;
}

static pthread_barrier_t both;

static void *aborter(void *a)
{
	usleep(20000);
	pthread_barrier_wait(&both);
	abort();
	return a;
}

static int twice(void)
{
	pthread_t t[2];

	pthread_barrier_init(&both, NULL, 2);
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, aborter, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	return 3;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";

	bad = (volatile int *)(getenv("SIGKEEP_NOT_NULL") ? "x" : NULL);
	if (!strcmp(mode, "query"))
		return query();
	if (!strcmp(mode, "survive"))
		return survive();
	if (!strcmp(mode, "double"))
		return twice();
	fprintf(stderr, "usage: sigkeep query|survive|double\n");
	return 2;
}
