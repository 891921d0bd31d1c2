/* tests/programs/spawn.c - a parent with children: `spawn PROG [ARGS]` runs
 * a thread (parent_worker), forks a child that runs a thread
 * (fork_child_worker) and exits 3 without exec, then forks a child that
 * execs PROG ARGS; waits for both and prints their exit statuses. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

void *parent_worker(void *arg)
{
	usleep(1000);
	return arg;
}

void *fork_child_worker(void *arg)
{
	usleep(1000);
	return arg;
}

static int status_of(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void run_thread(void *(*fn)(void *))
{
	pthread_t th;

	if (pthread_create(&th, NULL, fn, NULL) != 0)
		abort();
	pthread_join(th, NULL);
}

int main(int argc, char **argv)
{
	pid_t forked, execed;

	if (argc < 2) {
		fprintf(stderr, "usage: spawn PROG [ARGS]\n");
		return 2;
	}
	run_thread(parent_worker);
	fflush(stdout);
	forked = fork();
	if (forked == 0) {
		run_thread(fork_child_worker);
		exit(3);
	}
	execed = fork();
	if (execed == 0) {
		execv(argv[1], argv + 1);
		perror(argv[1]);
		_exit(127);
	}
	printf("spawn: fork child exit %d\n", status_of(forked));
	printf("spawn: exec child exit %d\n", status_of(execed));
	return 0;
}
