/* tests/bench/pingpong.c - pipe ping-pong: two threads bounce one byte over
 * two pipes N times (default 100000): every read blocks briefly.
 * `pingpong [N]`; prints the number of round trips. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int ping[2], pong[2];
static long rounds = 100000;

static void xfer(int in, int out, int first)
{
	char c = 'x';

	for (long i = 0; i < rounds; i++) {
		if (first && write(out, &c, 1) != 1)
			abort();
		if (read(in, &c, 1) != 1)
			abort();
		if (!first && write(out, &c, 1) != 1)
			abort();
	}
}

void *ponger(void *arg)
{
	(void)arg;
	xfer(ping[0], pong[1], 0);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th;

	if (argc > 1)
		rounds = atol(argv[1]);
	if (pipe(ping) || pipe(pong))
		return 1;
	pthread_create(&th, NULL, ponger, NULL);
	xfer(pong[0], ping[1], 1);
	pthread_join(th, NULL);
	printf("pingpong: %ld round trips\n", rounds);
	return 0;
}
