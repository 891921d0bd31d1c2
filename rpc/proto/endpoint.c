/* rpc/proto/endpoint.c - endpoint paths, directory checks, listening sockets
 * (see endpoint.h). */
#include "rpc/proto/endpoint.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

int gt_ep_dir(const char *runtime_dir, char *out, size_t size)
{
	int n;

	if (runtime_dir && *runtime_dir == '/')
		n = snprintf(out, size, "%s/gotrace", runtime_dir);
	else
		n = snprintf(out, size, "/tmp/gotrace-%u", (unsigned)geteuid());
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int gt_ep_secure_dir(const char *dir, char *err, size_t errlen)
{
	struct stat st;

	if (mkdir(dir, 0700) && errno != EEXIST) {
		snprintf(err, errlen, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	if (lstat(dir, &st)) {
		snprintf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	if (S_ISLNK(st.st_mode) || !S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "%s is a symlink or not a directory: refused", dir);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(err, errlen, "%s belongs to uid %u, not to us (uid %u): refused",
			 dir, (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if ((st.st_mode & 0777) != 0700 && chmod(dir, 0700)) {
		snprintf(err, errlen, "chmod %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

static int unix_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path))
		return -ENAMETOOLONG;
	strcpy(sa->sun_path, path);
	return 0;
}

int gt_ep_connect_unix(const char *path)
{
	struct sockaddr_un sa;
	int fd;

	if (unix_addr(path, &sa))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

int gt_ep_listen_unix(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa;
	struct stat st;
	int fd;

	if (unix_addr(path, &sa)) {
		snprintf(err, errlen, "%s: socket path too long (max %zu bytes)", path,
			 sizeof(sa.sun_path) - 1);
		return -1;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			snprintf(err, errlen, "%s exists and is not a socket: refused", path);
			return -1;
		}
		int c = gt_ep_connect_unix(path);
		if (c >= 0) {
			close(c);
			snprintf(err, errlen, "%s is in use by another process", path);
			errno = EADDRINUSE;
			return -1;
		}
		unlink(path);   /* stale: its process is gone */
	}
	/* Bound under a temporary name, 0600 and listening before it takes the
	 * real name: a client (or `gotrace ps` looking for stale sockets) never
	 * finds the path without a listener behind it. */
	struct sockaddr_un tmp;
	char tname[sizeof(tmp.sun_path) + 32];
	snprintf(tname, sizeof(tname), "%s.%ld~", path, (long)getpid());
	if (unix_addr(tname, &tmp))
		tmp = sa;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	unlink(tmp.sun_path);
	if (bind(fd, (struct sockaddr *)&tmp, sizeof(tmp)) || chmod(tmp.sun_path, 0600) ||
	    listen(fd, 128) || (strcmp(tmp.sun_path, path) && rename(tmp.sun_path, path))) {
		snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
		unlink(tmp.sun_path);
		close(fd);
		return -1;
	}
	return fd;
}

int gt_ep_loopback(const char *host, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *in = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
	char h[64];
	size_t l = strlen(host);

	memset(ss, 0, sizeof(*ss));
	if (l >= sizeof(h))
		return -1;
	if (host[0] == '[' && l > 2 && host[l - 1] == ']') {
		memcpy(h, host + 1, l - 2);
		h[l - 2] = '\0';
	} else {
		strcpy(h, host);
	}
	if (!strcmp(h, "localhost"))
		strcpy(h, "127.0.0.1");
	if (inet_pton(AF_INET, h, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		*len = sizeof(*in);
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127 ? 0 : -1;
	}
	if (inet_pton(AF_INET6, h, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		*len = sizeof(*in6);
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ? 0 : -1;
	}
	return -1;
}

int gt_ep_listen_tcp(const char *addr, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	char host[128];
	const char *colon = strrchr(addr, ':');
	char *end;
	int one = 1;

	if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
		snprintf(err, errlen, "GOTRACE_HTTP=%s: want HOST:PORT", addr);
		return -1;
	}
	memcpy(host, addr, (size_t)(colon - addr));
	host[colon - addr] = '\0';
	long port = strtol(colon + 1, &end, 10);
	if (*end || port <= 0 || port > 65535) {
		snprintf(err, errlen, "GOTRACE_HTTP=%s: bad port", addr);
		return -1;
	}
	if (gt_ep_loopback(host, &ss, &len)) {
		snprintf(err, errlen, "GOTRACE_HTTP=%s: not a loopback address "
			 "(127.0.0.0/8, localhost or ::1): refused", addr);
		return -1;
	}
	((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)port);  /* same offset in v6 */
	int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) || listen(fd, 128)) {
		snprintf(err, errlen, "GOTRACE_HTTP=%s: %s", addr, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}
