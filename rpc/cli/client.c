/* rpc/cli/client.c - see client.h: finding endpoints, ps. The call itself:
 * rpc/cli/call.c. */
#include "rpc/cli/client.h"

#include <ctype.h>
#include <limits.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/config.h"
#include "rpc/cli/http.h"
#include "rpc/proto/endpoint.h"

static int all_digits(const char *s)
{
	if (!*s)
		return 0;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return 0;
	return 1;
}

/* Value of name in /proc/pid/environ ("" when unset); -1 when unreadable. */
static int proc_env(long pid, const char *name, char *out, size_t size)
{
	char path[64], buf[65536];
	size_t nl = strlen(name), n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	out[0] = '\0';
	for (size_t i = 0; i < n; i += strlen(buf + i) + 1)
		if (!strncmp(buf + i, name, nl) && buf[i + nl] == '=') {
			snprintf(out, size, "%s", buf + i + nl + 1);
			break;
		}
	return 0;
}

/* Where process pid's endpoint is: its GOTRACE_SOCKET, else the default
 * directory of its XDG_RUNTIME_DIR and uid, as the library computed it. */
static int pid_socket(long pid, char *path, size_t size, char *err, size_t errlen)
{
	char sock[GT_PATH_MAX], rt[GT_PATH_MAX], dir[GT_PATH_MAX], proc[64];
	struct stat st;

	snprintf(proc, sizeof(proc), "/proc/%ld", pid);
	if (stat(proc, &st)) {
		snprintf(err, errlen, "no process %ld", pid);
		return -1;
	}
	if (proc_env(pid, "GOTRACE_SOCKET", sock, sizeof(sock)) == 0 && sock[0]) {
		if (!strcmp(sock, "off")) {
			snprintf(err, errlen, "process %ld runs with GOTRACE_SOCKET=off: no endpoint", pid);
			return -1;
		}
		if (gt_config_expand(sock, pid, path, (unsigned)size)) {
			snprintf(err, errlen, "GOTRACE_SOCKET of process %ld: name too long", pid);
			return -1;
		}
		return 0;
	}
	if (proc_env(pid, "XDG_RUNTIME_DIR", rt, sizeof(rt)) < 0) {
		const char *x = getenv("XDG_RUNTIME_DIR");
		snprintf(rt, sizeof(rt), "%s", x ? x : "");
	}
	int n = rt[0] == '/' ? snprintf(dir, sizeof(dir), "%s/gotrace", rt)
			     : snprintf(dir, sizeof(dir), "/tmp/gotrace-%u", (unsigned)st.st_uid);
	if (n < 0 || (size_t)n >= sizeof(dir)) {
		snprintf(err, errlen, "XDG_RUNTIME_DIR of process %ld: too long", pid);
		return -1;
	}
	if ((size_t)snprintf(path, size, "%s/%ld.sock", dir, pid) >= size) {
		snprintf(err, errlen, "socket path too long");
		return -1;
	}
	return 0;
}

/* The endpoint of process pid, found by what it listens on: a Unix socket
 * in one of its threads' fd tables (the service thread has one of its own)
 * that /proc/net/unix names <pid>.sock. For processes whose
 * environment cannot tell (nginx's workers write their title over it). */
static int pid_socket_by_fd(long pid, char *path, size_t size)
{
	char d[64], link[64], want[32], line[4096 + 128];
	unsigned long inodes[64];
	unsigned n = 0;
	DIR *tasks, *fds;
	struct dirent *t, *f;
	int found = -1;

	snprintf(d, sizeof(d), "/proc/%ld/task", pid);
	if (!(tasks = opendir(d)))
		return -1;
	while ((t = readdir(tasks)) && n < 64) {
		char fdd[320];
		if (t->d_name[0] == '.')
			continue;
		snprintf(fdd, sizeof(fdd), "/proc/%ld/task/%s/fd", pid, t->d_name);
		if (!(fds = opendir(fdd)))
			continue;
		while ((f = readdir(fds)) && n < 64) {
			char fp[600];
			unsigned long ino;
			snprintf(fp, sizeof(fp), "%s/%s", fdd, f->d_name);
			ssize_t k = readlink(fp, link, sizeof(link) - 1);
			if (k > 0 && (link[k] = '\0', sscanf(link, "socket:[%lu]", &ino) == 1))
				inodes[n++] = ino;
		}
		closedir(fds);
	}
	closedir(tasks);
	snprintf(want, sizeof(want), "/%ld.sock", pid);
	FILE *u = fopen("/proc/net/unix", "re");
	if (!u)
		return -1;
	while (found < 0 && fgets(line, sizeof(line), u)) {
		unsigned long ino;
		char sp[4096 + 1];
		if (sscanf(line, "%*s %*s %*s %*s %*s %*s %lu %4096s", &ino, sp) != 2)
			continue;
		/* The name it was bound to: the library binds <pid>.sock.<pid>~
		 * and renames it to <pid>.sock. */
		char *at = strstr(sp, want);
		if (!at || (at[strlen(want)] && at[strlen(want)] != '.'))
			continue;
		at[strlen(want)] = '\0';
		for (unsigned i = 0; i < n; i++)
			if (inodes[i] == ino && (size_t)snprintf(path, size, "%s", sp) < size)
				found = 0;
	}
	fclose(u);
	return found;
}

/* The methods whose first argument is a file (made absolute by the client:
 * the console, call and the subcommands alike). */
int gt_client_file_method(const char *m)
{
	static const char *const files[] = {
		"debug_goTrace", "debug_startGoTrace", "debug_cpuProfile", "debug_startCPUProfile",
		"debug_blockProfile", "debug_writeBlockProfile", "debug_mutexProfile",
		"debug_writeMutexProfile", "debug_writeMemProfile",
	};

	for (size_t k = 0; k < sizeof(files) / sizeof(files[0]); k++)
		if (!strcmp(m, files[k]))
			return 1;
	return 0;
}

int gt_client_seconds_ok(const char *s)
{
	char *end;

	if (!*s)
		return 0;
	for (const char *c = s; *c; c++)
		if (*c < '0' || *c > '9')
			return 0;
	errno = 0;
	(void)strtoull(s, &end, 10);   /* a uint64, as the endpoint's (it caps it) */
	return errno != ERANGE;
}

int gt_client_resolve(const char *target, char *path, size_t size, char *err, size_t errlen)
{
	struct stat st;
	struct gt_url u;

	if (gt_http_is_url(target)) {   /* checked here, connected to by the call */
		if (gt_http_parse(target, &u, err, errlen))
			return -2;
		if ((size_t)snprintf(path, size, "%s", target) >= size) {
			snprintf(err, errlen, "%.64s...: URL too long", target);
			return -2;
		}
		return 0;
	}
	if (!all_digits(target)) {
		snprintf(path, size, "%s", target);
		if (stat(path, &st)) {
			snprintf(err, errlen, "%s: %s", target, strerror(errno));
			return -1;
		}
		return 0;
	}
	long pid = strtol(target, NULL, 10);
	if (pid_socket(pid, path, size, err, errlen))
		return -1;
	if (stat(path, &st) && pid_socket_by_fd(pid, path, size) == 0 && stat(path, &st) == 0)
		return 0;
	if (stat(path, &st)) {
		snprintf(err, errlen, "process %s has no gotrace endpoint: %s: %s (is "
			 "libgotrace.so preloaded into it?)", target, path, strerror(errno));
		return -1;
	}
	return 0;
}

static void cmdline(long pid, char *out, size_t size)
{
	char path[64];
	size_t n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	out[0] = '\0';
	f = fopen(path, "re");
	if (!f)
		return;
	n = fread(out, 1, size - 1, f);
	fclose(f);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)out[i] < 0x20)
			out[i] = ' ';   /* NULs between arguments, and newlines */
	out[n] = '\0';
}

/* Is a socket bound at name listening, by /proc/net/unix (this network
 * namespace's)? Asked instead of connecting: a connection is a client to
 * a one-thread program's doorman (core/process/door.c), which would start its
 * service thread for it. The table is read once. */
static int listed_listening(const char *name)
{
	static char *table;
	static int tried;
	size_t n = strlen(name);

	if (!tried) {
		tried = 1;
		FILE *f = fopen("/proc/net/unix", "re");
		size_t cap = 0, len = 0;
		for (int c; f && (c = getc(f)) != EOF;) {
			if (len + 2 > cap) {
				char *t = realloc(table, cap = cap ? 2 * cap : 1 << 16);
				if (!t)
					break;
				table = t;
			}
			table[len++] = (char)c;
		}
		if (table)
			table[len] = 0;
		if (f)
			fclose(f);
	}
	/* Num RefCount Protocol Flags Type St Inode Path; Flags 00010000:
	 * __SO_ACCEPTCON, a listener. The path is the name it was bound to. */
	for (const char *l = table; l && *l;) {
		const char *e = strchr(l, '\n'), *f = l;
		e = e ? e : l + strlen(l);
		unsigned long flags = 0;
		for (int i = 0; i < 7 && f < e; i++) {
			while (f < e && *f == ' ')
				f++;
			if (i == 3)
				flags = strtoul(f, NULL, 16);
			while (f < e && *f != ' ')
				f++;
		}
		while (f < e && *f == ' ')
			f++;
		if ((flags & 0x10000) && (size_t)(e - f) == n && !memcmp(f, name, n))
			return 1;
		l = *e ? e + 1 : e;
	}
	return 0;
}

/* One endpoint: live (1, printed), stale (0, removed) or not a socket. */
static int probe(const char *sock, long pid)
{
	char cmd[256], bound[GT_PATH_MAX * 2 + 32];

	/* An endpoint is bound under a temporary name, then renamed
	 * (rpc/proto/endpoint.c): the table has that name. */
	snprintf(bound, sizeof(bound), "%s.%ld~", sock, pid);
	if (!listed_listening(bound) && !listed_listening(sock)) {
		int fd = gt_ep_connect_unix(sock);   /* another namespace's, or stale */
		if (fd == -ECONNREFUSED)
			unlink(sock);
		if (fd < 0)
			return 0;
		close(fd);
	}
	cmdline(pid, cmd, sizeof(cmd));
	printf("%-8ld %-40s %s\n", pid, sock, cmd);
	return 1;
}

int gt_client_ps(void)
{
	char dirs[2][GT_PATH_MAX], path[GT_PATH_MAX * 2];
	const char *rt = getenv("XDG_RUNTIME_DIR");
	int live = 0, nd = 0;

	if (rt && *rt == '/')
		gt_ep_dir(rt, dirs[nd++], GT_PATH_MAX);
	gt_ep_dir(NULL, dirs[nd++], GT_PATH_MAX);
	printf("%-8s %-40s %s\n", "PID", "SOCKET", "COMMAND");
	for (int i = 0; i < nd; i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *e;
		if (!d)
			continue;
		while ((e = readdir(d))) {
			size_t l = strlen(e->d_name);
			if (l < 6 || strcmp(e->d_name + l - 5, ".sock"))
				continue;
			if ((size_t)snprintf(path, sizeof(path), "%s/%s", dirs[i], e->d_name) >=
			    sizeof(path))
				continue;
			live += probe(path, strtol(e->d_name, NULL, 10));
		}
		closedir(d);
	}
	/* Processes with a GOTRACE_SOCKET of their own. */
	DIR *p = opendir("/proc");
	struct dirent *e;
	while (p && (e = readdir(p))) {
		char sock[GT_PATH_MAX];
		if (!all_digits(e->d_name))
			continue;
		long pid = strtol(e->d_name, NULL, 10);
		if (proc_env(pid, "GOTRACE_SOCKET", sock, sizeof(sock)) || !sock[0] ||
		    !strcmp(sock, "off") || gt_config_expand(sock, pid, path, sizeof(path)))
			continue;
		struct stat st;
		if (stat(path, &st) || !S_ISSOCK(st.st_mode))
			continue;
		char lib[GT_PATH_MAX];
		if (proc_env(pid, "LD_PRELOAD", lib, sizeof(lib)) || !strstr(lib, "gotrace"))
			continue;
		live += probe(path, pid);
	}
	if (p)
		closedir(p);
	return live;
}

/* FILE as the program should open it: absolute against our cwd. */
void gt_client_absolute(const char *file, char *out, size_t size)
{
	char cwd[PATH_MAX];

	int n;

	if (file[0] == '/' || (file[0] == '~' && file[1] == '/') || !getcwd(cwd, sizeof(cwd)))
		n = snprintf(out, size, "%s", file);
	else
		n = snprintf(out, size, "%s/%s", cwd, file);
	if (n < 0 || (size_t)n >= size)
		snprintf(out, size, "%s", file);   /* too long: the program says so */
}
