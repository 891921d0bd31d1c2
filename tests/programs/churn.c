/* tests/programs/churn.c - thread churn: `churn [N [SPAWNERS [WAVE]]]` starts
 * N short threads (default 2000) from SPAWNERS threads (default 4) that all
 * begin at once (barrier); each spawner keeps up to WAVE (default 16) threads
 * in flight, joins them, and goes on. Prints the number of threads that ran. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_long ran;
static pthread_barrier_t go;

struct spawner {
	pthread_t th;
	long count;
	long wave;
};

void *short_worker(void *arg)
{
	(void)arg;
	atomic_fetch_add(&ran, 1);
	return NULL;
}

void *spawner_main(void *arg)
{
	struct spawner *s = arg;
	pthread_t *th = calloc((size_t)s->wave, sizeof(*th));

	if (!th)
		abort();
	pthread_barrier_wait(&go);
	for (long done = 0; done < s->count;) {
		long n = s->count - done < s->wave ? s->count - done : s->wave;
		for (long i = 0; i < n; i++) {
			int rc = pthread_create(&th[i], NULL, short_worker, NULL);
			if (rc != 0) {
				fprintf(stderr, "churn: pthread_create failed (%d)\n", rc);
				abort();
			}
		}
		for (long i = 0; i < n; i++)
			pthread_join(th[i], NULL);
		done += n;
	}
	free(th);
	return NULL;
}

static long arg_num(int argc, char **argv, int i, long def)
{
	if (argc <= i)
		return def;
	char *end;
	long v = strtol(argv[i], &end, 10);
	if (*end || v < 1) {
		fprintf(stderr, "usage: churn [THREADS [SPAWNERS [WAVE]]]\n");
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	long n = arg_num(argc, argv, 1, 2000);
	long m = arg_num(argc, argv, 2, 4);
	long wave = arg_num(argc, argv, 3, 16);
	struct spawner *sp = calloc((size_t)m, sizeof(*sp));

	if (!sp)
		return 1;
	pthread_barrier_init(&go, NULL, (unsigned)m);
	for (long i = 0; i < m; i++) {
		sp[i].count = n / m + (i < n % m);
		sp[i].wave = wave;
		if (pthread_create(&sp[i].th, NULL, spawner_main, &sp[i]) != 0) {
			perror("pthread_create");
			return 1;
		}
	}
	for (long i = 0; i < m; i++)
		pthread_join(sp[i].th, NULL);
	pthread_barrier_destroy(&go);
	free(sp);
	printf("churn: %ld threads ran\n", (long)atomic_load(&ran));
	return 0;
}
