/* tests/programs/fdclose.c - a daemon's ways to close every fd (issue 21).
 *
 *   fdclose METHOD OUT [first]
 * First a wait of 30 ms (a trace walks its stack: libunwind opens its
 * pipe; with "first", no wait: the closes come while the program still has
 * one thread, the lazy endpoint's doorman), then every fd from 0 up is
 * closed by METHOD:
 *   raw        syscall(SYS_close_range, 0, ~0U, 0)  (code before glibc 2.34)
 *   cloexec    close_range(0, ~0U, CLOSE_RANGE_CLOEXEC), then exec-free
 *              closes of 0-2 (the flag alone closes nothing)
 *   closefrom  closefrom(0)
 *   proc       close() of each fd listed in /proc/self/fd
 *   rawclose   syscall(SYS_close, fd) for fd 0..1023
 * then stdin, stdout and stderr are reopened on /dev/null (a daemon's
 * reopen), another 30 ms wait is walked, and "FD0 FD1 FD2" of the reopen is
 * written to OUT. It then sleeps 2 s, so a client can call its endpoint,
 * and exits 0. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <sys/syscall.h>

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void ms(long n)
{
	struct timespec ts = { n / 1000, n % 1000 * 1000000L };

	nanosleep(&ts, NULL);
}

static void *holder(void *a)
{
	pthread_mutex_lock(&mu);
	ms(30);
	pthread_mutex_unlock(&mu);
	return a;
}

/* A recorded wait: a contended lock (its stack is walked). */
static void wait_once(void)
{
	pthread_t th;

	pthread_create(&th, NULL, holder, NULL);
	ms(5);
	pthread_mutex_lock(&mu);
	pthread_mutex_unlock(&mu);
	pthread_join(th, NULL);
}

int main(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	const char *m = argv[1];
	char out[4096];

	snprintf(out, sizeof(out), "%s", argv[2]);
	if (argc < 4 || strcmp(argv[3], "first"))
		wait_once();
	if (!strcmp(m, "raw")) {
		syscall(SYS_close_range, 0, ~0U, 0);
	} else if (!strcmp(m, "cloexec")) {
		close_range(0, ~0U, CLOSE_RANGE_CLOEXEC);
		close(0);
		close(1);
		close(2);
	} else if (!strcmp(m, "closefrom")) {
		closefrom(0);
	} else if (!strcmp(m, "proc")) {
		DIR *d = opendir("/proc/self/fd");
		int fds[1024], n = 0;
		struct dirent *e;
		while (d && (e = readdir(d)) && n < 1024)
			if (e->d_name[0] != '.' && atoi(e->d_name) != dirfd(d))
				fds[n++] = atoi(e->d_name);
		if (d)
			closedir(d);
		for (int i = 0; i < n; i++)
			close(fds[i]);
	} else if (!strcmp(m, "rawclose")) {
		for (int fd = 0; fd < 1024; fd++)
			syscall(SYS_close, fd);
	} else {
		return 2;
	}
	int a = open("/dev/null", O_RDONLY);
	int b = open("/dev/null", O_WRONLY);
	int c = open("/dev/null", O_WRONLY);
	wait_once();
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	dprintf(fd, "%d %d %d\n", a, b, c);
	close(fd);
	ms(2000);
	return 0;
}
