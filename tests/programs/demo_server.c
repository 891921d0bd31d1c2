/* tests/programs/demo_server.c - the README's demo: a small "server" that
 * runs for about a second. A client thread sends requests over a socket
 * pair; a listener thread receives them and queues them (mutex + condvar);
 * four workers pop requests, compute, sleep, append to a journal with fsync
 * and reply; every 25th request spawns a short-lived helper thread; a
 * flusher thread writes statistics every 100 ms. `demo_server [REQUESTS]`. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define N_WORKERS 4
#define QCAP 64

static struct {
	pthread_mutex_t lock;
	pthread_cond_t nonempty;
	uint32_t items[QCAP];
	int head, len, closed;
} q = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, { 0 }, 0, 0, 0 };

static pthread_mutex_t reply_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static long served, helpers;
static volatile int stopping;
static int srv_fd, cli_fd;   /* socket pair: server end, client end */
static FILE *journal;
static long requests = 250;

static void queue_push(uint32_t v)
{
	pthread_mutex_lock(&q.lock);
	q.items[(q.head + q.len++) % QCAP] = v;
	pthread_cond_signal(&q.nonempty);
	pthread_mutex_unlock(&q.lock);
}

static int queue_pop(uint32_t *v)
{
	pthread_mutex_lock(&q.lock);
	while (q.len == 0 && !q.closed)
		pthread_cond_wait(&q.nonempty, &q.lock);
	int ok = q.len > 0;
	if (ok) {
		*v = q.items[q.head];
		q.head = (q.head + 1) % QCAP;
		q.len--;
	}
	pthread_mutex_unlock(&q.lock);
	return ok;
}

void *request_helper(void *arg)
{
	usleep(3000);
	pthread_mutex_lock(&stats_lock);
	helpers++;
	pthread_mutex_unlock(&stats_lock);
	return arg;
}

static uint32_t compute(uint32_t v)
{
	for (int i = 0; i < 20000; i++)
		v = v * 1103515245u + 12345u;
	return v;
}

static void journal_append(uint32_t id, uint32_t result)
{
	pthread_mutex_lock(&stats_lock);
	fprintf(journal, "%u %u\n", id, result);
	fflush(journal);
	if (id % 10 == 0)
		fsync(fileno(journal));
	served++;
	pthread_mutex_unlock(&stats_lock);
}

void *worker_main(void *arg)
{
	uint32_t id;

	(void)arg;
	while (queue_pop(&id)) {
		uint32_t r = compute(id);
		usleep(2000);
		journal_append(id, r);
		if (id % 25 == 0) {
			pthread_t h;
			if (pthread_create(&h, NULL, request_helper, NULL) == 0)
				pthread_detach(h);
		}
		pthread_mutex_lock(&reply_lock);
		if (write(srv_fd, &id, sizeof(id)) != sizeof(id))
			abort();
		pthread_mutex_unlock(&reply_lock);
	}
	return NULL;
}

void *listener_main(void *arg)
{
	uint32_t id;

	(void)arg;
	while (recv(srv_fd, &id, sizeof(id), MSG_WAITALL) == sizeof(id))
		queue_push(id);
	pthread_mutex_lock(&q.lock);
	q.closed = 1;
	pthread_cond_broadcast(&q.nonempty);
	pthread_mutex_unlock(&q.lock);
	return NULL;
}

void *client_main(void *arg)
{
	uint32_t id, got = 0;

	(void)arg;
	for (id = 1; id <= requests; id++) {
		if (send(cli_fd, &id, sizeof(id), 0) != sizeof(id))
			abort();
		usleep(4000);
	}
	while (got < requests && recv(cli_fd, &id, sizeof(id), MSG_WAITALL) == sizeof(id))
		got++;
	shutdown(cli_fd, SHUT_WR);
	return NULL;
}

void *flusher_main(void *arg)
{
	(void)arg;
	while (!stopping) {
		usleep(100000);
		pthread_mutex_lock(&stats_lock);
		fprintf(journal, "# served %ld\n", served);
		fflush(journal);
		fdatasync(fileno(journal));
		pthread_mutex_unlock(&stats_lock);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t workers[N_WORKERS], listener, client, flusher;
	int sv[2];

	if (argc > 1)
		requests = atol(argv[1]);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || !(journal = tmpfile())) {
		perror("demo_server");
		return 1;
	}
	srv_fd = sv[0];
	cli_fd = sv[1];
	printf("demo_server: %ld requests, %d workers\n", requests, N_WORKERS);
	pthread_create(&flusher, NULL, flusher_main, NULL);
	pthread_create(&listener, NULL, listener_main, NULL);
	for (int i = 0; i < N_WORKERS; i++)
		pthread_create(&workers[i], NULL, worker_main, NULL);
	pthread_create(&client, NULL, client_main, NULL);
	pthread_join(client, NULL);
	pthread_join(listener, NULL);
	for (int i = 0; i < N_WORKERS; i++)
		pthread_join(workers[i], NULL);
	stopping = 1;
	pthread_join(flusher, NULL);
	usleep(5000);   /* let detached helpers finish */
	printf("demo_server: served %ld requests\n", served);
	fclose(journal);
	return 0;
}
