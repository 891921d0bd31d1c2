/* rpc/cli/tracefile.c - the trace file a running process writes, found
 * before `gotrace stop` ends it, so that the summary can follow: the
 * endpoint's server pid (SO_PEERCRED), its service thread (the task named
 * "gotrace", core/process/loop.c), the one regular file that task holds
 * open for writing. debug_stopGoTrace answers null, as geth's does. */
#include "rpc/cli/tracefile.h"

#include "core/format/events.h"
#include "core/format/go122.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static long peer_pid(const char *sock)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct ucred cr;
	socklen_t len = sizeof(cr);
	long pid = -1;
	int fd;

	if (strlen(sock) >= sizeof(a.sun_path))
		return -1;
	strcpy(a.sun_path, sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == 0)
		pid = cr.pid;
	close(fd);
	return pid;
}

/* fd n of task dir d is a regular file open for writing: its path. */
static int written(const char *d, const char *n, char *out, size_t size)
{
	char p[700], line[128];
	struct stat st;
	int ok = 0;

	snprintf(p, sizeof(p), "%s/fd/%s", d, n);
	if (stat(p, &st) || !S_ISREG(st.st_mode))
		return 0;
	ssize_t k = readlink(p, out, size - 1);
	if (k <= 0)
		return 0;
	out[k] = '\0';
	snprintf(p, sizeof(p), "%s/fdinfo/%s", d, n);
	FILE *f = fopen(p, "re");
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "flags:", 6))
			ok = (strtoul(line + 6, NULL, 8) & O_ACCMODE) == O_WRONLY;
	if (f)
		fclose(f);
	return ok;
}

int gt_trace_file_of(const char *sock, char *out, size_t size)
{
	long pid = peer_pid(sock);
	char d[64], task[384], p[448], comm[32], path[4096];
	int n = -1;

	if (pid <= 0)
		return -1;
	snprintf(d, sizeof(d), "/proc/%ld/task", pid);
	DIR *tasks = opendir(d);
	struct dirent *t;
	while (tasks && n < 0 && (t = readdir(tasks))) {
		if (t->d_name[0] == '.')
			continue;
		snprintf(task, sizeof(task), "%s/%s", d, t->d_name);
		snprintf(p, sizeof(p), "%s/comm", task);
		FILE *f = fopen(p, "re");
		int ours = f && fgets(comm, sizeof(comm), f) && !strcmp(comm, "gotrace\n");
		if (f)
			fclose(f);
		if (!ours)
			continue;
		snprintf(p, sizeof(p), "%s/fd", task);
		DIR *fds = opendir(p);
		struct dirent *e;
		n = 0;
		while (fds && (e = readdir(fds)))
			if (e->d_name[0] != '.' && written(task, e->d_name, path, sizeof(path)) &&
			    !n++)
				snprintf(out, size, "%s", path);
		if (fds)
			closedir(fds);
	}
	if (tasks)
		closedir(tasks);
	return n == 1 ? 0 : -1;
}

int gt_trace_file_minor(const char *path)
{
	char h[GT_V2_HEADER_LEN];
	FILE *f = fopen(path, "re");
	size_t n = f ? fread(h, 1, sizeof(h), f) : 0;

	if (f)
		fclose(f);
	if (n == GT_TRACE_HEADER_LEN && !memcmp(h, GT_TRACE_HEADER, GT_TRACE_HEADER_LEN))
		return 19;
	return gt_v2_header_minor(h, n) ? 22 : 0;
}

void gt_trace_no_summary(FILE *f, const char *path)
{
	struct stat st;

	if (stat(path, &st))
		st.st_size = 0;
	int mb = st.st_size >= 1000000;
	fprintf(f, "gotrace: %s: a Go 1.22-format trace, %.1f %s: no summary (gotrace summary "
		"reads the 1.19 format only, GOTRACE_FORMAT=go1.19, the default)\n", path,
		(double)st.st_size / (mb ? 1e6 : 1e3), mb ? "MB" : "KB");
}
