/* tests/programs/sigs.c - signal dispositions as the program sees them
 * (issue 20: our handler for fatal signals while a trace runs must be
 * invisible). Prints "ready", then at each line on stdin does one step:
 *   1  sigaction(SIGTERM) query; signal(SIGUSR1, h) (old shown); raise it;
 *      sigaction(SIGINT, SIG_IGN) then query; a recorded wait (a contended
 *      lock); prints what each saw
 *   2  queries SIGTERM and SIGUSR1 again, prints, exits 0
 * The output is the same with and without a trace running. */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void on_usr1(int sig)
{
	got = sig;
}

static const char *name(void (*h)(int))
{
	return h == SIG_DFL ? "SIG_DFL" : h == SIG_IGN ? "SIG_IGN" : h == on_usr1 ? "on_usr1" : "other";
}

static void *holder(void *a)
{
	pthread_mutex_lock(&mu);
	usleep(30000);
	pthread_mutex_unlock(&mu);
	return a;
}

int main(void)
{
	char line[16];
	struct sigaction old, ign;

	puts("ready");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	sigaction(SIGTERM, NULL, &old);
	printf("SIGTERM %s flags %d\n", name(old.sa_handler), old.sa_flags & SA_SIGINFO);
	void (*prev)(int) = signal(SIGUSR1, on_usr1);
	printf("signal(SIGUSR1) was %s\n", name(prev));
	raise(SIGUSR1);
	printf("SIGUSR1 handled by the program: %d\n", got == SIGUSR1);
	memset(&ign, 0, sizeof(ign));
	ign.sa_handler = SIG_IGN;
	sigaction(SIGINT, &ign, &old);
	printf("SIGINT was %s\n", name(old.sa_handler));
	sigaction(SIGINT, NULL, &old);
	printf("SIGINT is %s\n", name(old.sa_handler));
	pthread_t t;
	pthread_create(&t, NULL, holder, NULL);
	usleep(5000);
	pthread_mutex_lock(&mu);
	pthread_mutex_unlock(&mu);
	pthread_join(t, NULL);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	sigaction(SIGTERM, NULL, &old);
	printf("SIGTERM %s\n", name(old.sa_handler));
	sigaction(SIGUSR1, NULL, &old);
	printf("SIGUSR1 %s\n", name(old.sa_handler));
	return 0;
}
