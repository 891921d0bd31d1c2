/* tests/programs/tree.c - a fixed thread tree: main starts 6 threads with
 * start routine alpha(); each alpha starts 2 threads with start routine
 * beta() from the helper spawn_betas(); everything is joined. stdout is
 * deterministic. With argv[1], every thread's "role index tid" line is
 * written to that file at the end, so a test can match trace thread ids. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

#define N_ALPHA 6
#define N_BETA 2

static pid_t tids[1 + N_ALPHA + N_ALPHA * N_BETA];
static long results[N_ALPHA * N_BETA];

static pid_t my_tid(void)
{
	return (pid_t)syscall(SYS_gettid);
}

void *beta(void *arg)
{
	long idx = (long)arg;

	tids[1 + N_ALPHA + idx] = my_tid();
	usleep(2000);   /* a short sleep, so the thread shows a wait */
	results[idx] = idx * idx;
	return NULL;
}

/* Not inlined: the test expects it in the creation stack of every beta. */
__attribute__((noinline)) int spawn_betas(long alpha_idx, pthread_t *th)
{
	for (long i = 0; i < N_BETA; i++) {
		int rc = pthread_create(&th[i], NULL, beta, (void *)(alpha_idx * N_BETA + i));
		if (rc != 0)
			return rc;
	}
	return 0;
}

void *alpha(void *arg)
{
	long idx = (long)arg;
	pthread_t th[N_BETA];

	tids[1 + idx] = my_tid();
	if (spawn_betas(idx, th) != 0)
		abort();
	for (int i = 0; i < N_BETA; i++)
		pthread_join(th[i], NULL);
	return NULL;
}

static void write_tids(const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		perror(path);
		exit(2);
	}
	fprintf(f, "main 0 %d\n", (int)tids[0]);
	for (int i = 0; i < N_ALPHA; i++)
		fprintf(f, "alpha %d %d\n", i, (int)tids[1 + i]);
	for (int i = 0; i < N_ALPHA * N_BETA; i++)
		fprintf(f, "beta %d %d\n", i, (int)tids[1 + N_ALPHA + i]);
	fclose(f);
}

int main(int argc, char **argv)
{
	pthread_t th[N_ALPHA];
	long sum = 0;

	tids[0] = my_tid();
	for (long i = 0; i < N_ALPHA; i++) {
		if (pthread_create(&th[i], NULL, alpha, (void *)i) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	for (int i = 0; i < N_ALPHA; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < N_ALPHA * N_BETA; i++)
		sum += results[i];
	printf("tree: %d alpha, %d beta, sum %ld\n", N_ALPHA, N_ALPHA * N_BETA, sum);
	if (argc > 1)
		write_tids(argv[1]);
	return 0;
}
