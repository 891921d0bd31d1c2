/* rpc/server/server.c - the JSON-RPC endpoint on the service thread: listening
 * sockets, connections, both framings (a stream of JSON values as geth's
 * IPC reads them; HTTP/1.1 POST), the held replies' connections (the
 * methods and their waits: rpc/server/methods.c). Everything
 * here runs on the service thread, with gt_fd_lock held in poll_handle,
 * except shutdown (see core/process/service.h). All sockets are non-blocking: a
 * client that never reads costs a buffer, never a stall. */
#include "rpc/server/server.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/fdguard.h"
#include "core/record/api.h"
#include "core/base/log.h"
#include "rpc/proto/endpoint.h"
#include "rpc/proto/framing.h"
#include "rpc/proto/proto.h"
#include "rpc/server/methods.h"

#define OUT_HIGH (1u << 20)   /* stop reading a client with this much unread */
/* Nor one with more unparsed input than a request can be: an HTTP client
 * whose reply is held (a debug_goTrace) and that goes on sending. Before,
 * all of it was kept: 300 MB sent took the program's RSS to 313 MB. */
#define IN_HIGH (RPC_MAX_REQUEST + RPC_MAX_HEADER + 16384u)

struct conn {
	int fd;                /* registered with fdguard by its address */
	int tcp;
	struct rpc_conn rc;    /* framing state */
	uint64_t last;         /* last activity, ns */
	struct conn *next;
};

static int lfd[2] = { -1, -1 };   /* Unix socket, optional TCP */
static char sock_path[GT_PATH_MAX] GT_COLD_BSS;
static dev_t sock_dev;
static ino_t sock_ino;
static struct conn *conns;
static unsigned nconns;

static void conn_flush(struct conn *c)
{
	struct gb *o = &c->rc.out;

	while (o->len) {
		ssize_t w = send(c->fd, o->p, o->len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w > 0) {
			gb_consume(o, (size_t)w);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		c->rc.dead = 1;   /* the peer went away: drop what it did not read */
		o->len = 0;
		return;
	}
}

static void conn_close(struct conn **pp)
{
	struct conn *c = *pp;

	gt_rpc_conn_gone(c);   /* the trace or profile goes on; nobody to tell */
	*pp = c->next;
	gt_fd_release_locked(&c->fd);
	close(c->fd);
	rpc_conn_free(&c->rc);
	free(c);
	nconns--;
}

void gt_rpc_send(struct conn *c, struct gb *body)
{
	rpc_conn_reply(&c->rc, body);
	conn_flush(c);
}

/* rpc_conn's callback: one complete request body from c. */
static void handle(struct rpc_conn *rc, const char *s, size_t n)
{
	struct conn *c = (struct conn *)((char *)rc - offsetof(struct conn, rc));
	struct gb out = { 0 };
	struct rpc_held held;

	rpc_handle(&gt_rpc_methods, s, n, &out, &held);
	if (held.active) {
		gt_rpc_hold(c, &out, &held);
		rc->waiting = 1;
		return;
	}
	rpc_conn_reply(rc, &out);
	gb_free(&out);
}

static void accept_all(int l, int tcp)
{
	for (int k = 0; k < 64; k++) {
		int fd = accept4(l, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		if (!tcp) {
			struct ucred cr;
			socklen_t len = sizeof(cr);
			if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) ||
			    (cr.uid != geteuid() && cr.uid != 0)) {
				close(fd);
				continue;
			}
		}
		if (nconns >= gt_cfg.rpc_max_conns) {
			/* Make room by closing the longest-idle client that waits
			 * for nothing; else this one goes. */
			struct conn **victim = NULL;
			for (struct conn **pp = &conns; *pp; pp = &(*pp)->next)
				if (!gt_rpc_waiting(*pp) && (!victim || (*pp)->last < (*victim)->last))
					victim = pp;
			if (!victim) {
				close(fd);
				continue;
			}
			conn_close(victim);
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			return;
		}
		c->fd = fd;
		if (gt_fd_adopt_locked(&c->fd)) {
			gt_fd_release_locked(&c->fd);
			close(c->fd);
			free(c);
			continue;
		}
		c->tcp = tcp;
		c->rc.handle = handle;
		/* A web page can reach a TCP port, not a Unix socket: the Host
		 * check (against DNS rebinding) is TCP's; Origin and
		 * Content-Type are checked on both. */
		c->rc.vhosts = tcp ? gt_cfg.http_vhosts : NULL;
		c->rc.cors = gt_cfg.http_cors;
		c->last = gt_clock_now();
		c->next = conns;
		conns = c;
		nconns++;
	}
}

static void conn_read(struct conn *c)
{
	char buf[16384];

	for (int k = 0; k < 16 && !c->rc.dead && !c->rc.eof; k++) {
		ssize_t r = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r > 0) {
			rpc_conn_input(&c->rc, buf, (size_t)r);
			if ((size_t)r < sizeof(buf) || c->rc.out.len > OUT_HIGH ||
			    c->rc.in.len > IN_HIGH)
				break;
		} else if (r == 0) {
			c->rc.eof = 1;
			rpc_conn_input(&c->rc, NULL, 0);
		} else if (errno != EINTR) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				c->rc.dead = 1;
			break;
		}
	}
}

static int srv_start(void)
{
	char dir[GT_PATH_MAX], err[GT_PATH_MAX + 128];
	struct stat st;

	if (gt_cfg.socket_off) {
		lfd[0] = -1;
	} else {
		if (gt_cfg.socket[0]) {
			if (gt_config_expand(gt_cfg.socket, (long)getpid(), sock_path,
					     sizeof(sock_path))) {
				gt_log("GOTRACE_SOCKET=%s: name too long; no RPC endpoint",
				       gt_cfg.socket);
				sock_path[0] = '\0';
			}
		} else if (gt_ep_dir(gt_cfg.runtime_dir, dir, sizeof(dir)) ||
			   gt_ep_secure_dir(dir, err, sizeof(err)) ||
			   snprintf(sock_path, sizeof(sock_path), "%s/%ld.sock", dir,
				    (long)getpid()) >= (int)sizeof(sock_path)) {
			gt_log("%s; no RPC endpoint", err);
			sock_path[0] = '\0';
		}
		if (sock_path[0]) {
			lfd[0] = gt_ep_listen_unix(sock_path, err, sizeof(err));
			/* A GOTRACE_SOCKET without %p names one process's endpoint:
			 * the children that inherit it stay quiet, as they do with
			 * a GOTRACE_FILE without %p. */
			int quiet = errno == EADDRINUSE && gt_cfg.socket[0] &&
				    !strstr(gt_cfg.socket, "%p") && !gt_cfg.debug;
			if (lfd[0] < 0) {
				if (!quiet)
					gt_log("%s; no RPC endpoint", err);
				sock_path[0] = '\0';
			} else if (stat(sock_path, &st) == 0) {
				sock_dev = st.st_dev;
				sock_ino = st.st_ino;
			}
		}
	}
	if (gt_cfg.http[0]) {
		lfd[1] = gt_ep_listen_tcp(gt_cfg.http, err, sizeof(err));
		if (lfd[1] < 0)
			gt_log("%s; no HTTP endpoint", err);
	}
	for (int i = 0; i < 2; i++)
		if (lfd[i] >= 0)
			gt_fd_adopt(&lfd[i]);
	return lfd[0] >= 0 || lfd[1] >= 0 ? 0 : -ENOENT;
}

static int srv_fill(struct pollfd *pfd, int max, int *timeout)
{
	uint64_t now = gt_clock_now(), idle = gt_cfg.rpc_idle_ms * 1000000ull;
	int n = 0;

	for (int i = 0; i < 2; i++)
		if (lfd[i] >= 0) {
			pfd[n].fd = lfd[i];
			pfd[n].events = POLLIN;
			pfd[n++].revents = 0;
		}
	uint64_t next = gt_rpc_waits_next();
	for (struct conn *c = conns; c && n < max; c = c->next) {
		/* A client gone (EOF) whose reply is held: nothing to read or
		 * send until the reply, which is sent at once. Polled, its hang-up
		 * was reported at every pass: the service thread spun. */
		if (c->rc.eof && !c->rc.out.len && gt_rpc_waiting(c))
			continue;
		pfd[n].fd = c->fd;
		pfd[n].events = 0;
		if (!c->rc.eof && !c->rc.closing && c->rc.out.len <= OUT_HIGH &&
		    c->rc.in.len <= IN_HIGH)
			pfd[n].events |= POLLIN;
		if (c->rc.out.len)
			pfd[n].events |= POLLOUT;
		pfd[n++].revents = 0;
		if (!gt_rpc_waiting(c) && c->last + idle < next)
			next = c->last + idle;
	}
	if (next != UINT64_MAX) {
		uint64_t ms = next > now ? (next - now) / 1000000 + 1 : 0;
		if (*timeout < 0 || ms < (uint64_t)*timeout)
			*timeout = (int)(ms > 600000 ? 600000 : ms);
	}
	if (gt_rpc_waits_any() && (*timeout < 0 || *timeout > 100))
		*timeout = 100;   /* notice a stop from elsewhere (GOTRACE_FILE exit) */
	return n;
}

static void srv_handle(struct pollfd *pfd, int n)
{
	uint64_t now = gt_clock_now(), idle = gt_cfg.rpc_idle_ms * 1000000ull;
	int k = 0;

	for (int i = 0; i < 2; i++)
		if (lfd[i] >= 0 && k < n && pfd[k++].revents & POLLIN)
			accept_all(lfd[i], i);
	/* Before the connections: one whose held reply goes out now and that
	 * has nothing more to say is closed below, not at its idle time-out. */
	gt_rpc_waits_check(now);
	/* Connections in the order srv_fill listed them; new ones (at the
	 * head) were not polled yet and are skipped by fd mismatch. */
	for (struct conn **pp = &conns; *pp;) {
		struct conn *c = *pp;
		short ev = 0;
		for (int j = k; j < n; j++)
			if (pfd[j].fd == c->fd) {
				ev = pfd[j].revents;
				break;
			}
		if (ev & (POLLIN | POLLHUP | POLLERR)) {
			conn_read(c);
			c->last = now;
		}
		if (c->rc.out.len) {
			conn_flush(c);
			if (ev & POLLOUT)
				c->last = now;
		}
		int waiting = gt_rpc_waiting(c);
		int done = c->rc.dead || ((c->rc.eof || c->rc.closing) && !c->rc.out.len &&
					  !waiting);
		if (done || (!waiting && c->last + idle < now))
			conn_close(pp);
		else
			pp = &c->next;
	}
}

static void srv_shutdown(int flags)
{
	struct stat st;
	int do_close = flags & GT_SHUT_CLOSE, unlink_it = flags & GT_SHUT_UNLINK;
	int flush = flags & GT_SHUT_FLUSH;

	/* At exit (or an exec) the trace and profile are complete: tell the
	 * waiting debug_goTrace and debug_cpuProfile so; the block and mutex
	 * windows end (written) with their calls. */
	if (((do_close && unlink_it) || flush) && gt_rpc_waits_any()) {
		gt_rpc_waits_check(UINT64_MAX);
		for (struct conn *c = conns; c; c = c->next)
			if (c->rc.out.len)
				(void)!send(c->fd, c->rc.out.p, c->rc.out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	if (flush)
		return;
	for (int i = 0; i < 2; i++)
		if (lfd[i] >= 0) {
			if (do_close) {
				if (unlink_it)   /* a child's fd table of ours is reset */
					gt_fd_release(&lfd[i]);
				close(lfd[i]);
			}
			lfd[i] = -1;
		}
	for (struct conn *c = conns; do_close && c; c = c->next)
		close(c->fd);   /* a child's copies; the parent keeps its own */
	conns = NULL;
	nconns = 0;
	if (unlink_it && sock_path[0] && stat(sock_path, &st) == 0 &&
	    st.st_dev == sock_dev && st.st_ino == sock_ino)
		unlink(sock_path);
	sock_path[0] = '\0';
	gt_rpc_waits_reset();
}

static int *srv_listener(int i)
{
	return i >= 0 && i < 2 && lfd[i] >= 0 ? &lfd[i] : NULL;
}

const struct gt_svc_client gt_rpc_server = {
	srv_start, srv_fill, srv_handle, srv_shutdown, srv_listener
};
