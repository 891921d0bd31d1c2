/* preload/net.c - sockets and readiness waits. Socket calls that waited
 * become net events; poll/select/epoll are net when they watch a socket,
 * select-style (sync profile) otherwise, sleeps when they watch nothing. */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "preload/hook.h"

#define NET GT_OP_NET

GT_EXPORT int socket(int domain, int type, int proto)
{
	int fd = GT_REAL(socket)(domain, type, proto);
	gt_fd_note_call(fd, GT_FD_SOCKET);
	return fd;
}

GT_EXPORT int socketpair(int domain, int type, int proto, int sv[2])
{
	int r = GT_REAL(socketpair)(domain, type, proto, sv);
	if (r == 0) {
		gt_fd_note_call(sv[0], GT_FD_SOCKET);
		gt_fd_note_call(sv[1], GT_FD_SOCKET);
	}
	return r;
}

/* A program that listens is a server: it and the workers it forks get
 * endpoints (core/process/fork.c). */
GT_EXPORT int listen(int fd, int backlog)
{
	int r = GT_REAL(listen)(fd, backlog);

	if (r == 0)
		gt_service_long_lived();
	return r;
}

#define END_NEW_SOCKET (gt_end_and_note(&op, (uintptr_t)real_, r_))
static inline void gt_end_and_note(struct gt_op *op, uintptr_t fn, int fd)
{
	gt_fd_note_call(fd, GT_FD_SOCKET);
	gt_op_end(op, fn);
}

GT_HOOK_OP_FRAMED(int, accept, (int fd, struct sockaddr *a, socklen_t *l), (fd, a, l), NET,
	   END_NEW_SOCKET)
GT_HOOK_OP_FRAMED(int, accept4, (int fd, struct sockaddr *a, socklen_t *l, int f), (fd, a, l, f), NET,
	   END_NEW_SOCKET)
GT_HOOK_OP(int, connect, (int fd, const struct sockaddr *a, socklen_t l), (fd, a, l), NET,
	   GT_END_PLAIN)
GT_HOOK_OP(ssize_t, recv, (int fd, void *b, size_t n, int f), (fd, b, n, f), NET, GT_END_PLAIN)
GT_HOOK_OP(ssize_t, recvfrom, (int fd, void *b, size_t n, int f, struct sockaddr *a, socklen_t *l),
	   (fd, b, n, f, a, l), NET, GT_END_PLAIN)
GT_HOOK_OP(ssize_t, recvmsg, (int fd, struct msghdr *m, int f), (fd, m, f), NET, GT_END_PLAIN)
GT_HOOK_OP(int, recvmmsg, (int fd, struct mmsghdr *m, unsigned n, int f, struct timespec *t),
	   (fd, m, n, f, t), NET, GT_END_PLAIN)
GT_HOOK_OP(ssize_t, send, (int fd, const void *b, size_t n, int f), (fd, b, n, f), NET,
	   GT_END_PLAIN)
GT_HOOK_OP(ssize_t, sendto,
	   (int fd, const void *b, size_t n, int f, const struct sockaddr *a, socklen_t l),
	   (fd, b, n, f, a, l), NET, GT_END_PLAIN)
GT_HOOK_OP(ssize_t, sendmsg, (int fd, const struct msghdr *m, int f), (fd, m, f), NET,
	   GT_END_PLAIN)
GT_HOOK_OP(int, sendmmsg, (int fd, struct mmsghdr *m, unsigned n, int f), (fd, m, n, f), NET,
	   GT_END_PLAIN)
GT_HOOK_OP(ssize_t, __recv_chk, (int fd, void *b, size_t n, size_t bl, int f), (fd, b, n, bl, f),
	   NET, GT_END_PLAIN)
GT_HOOK_OP_FRAMED(ssize_t, __recvfrom_chk,
	   (int fd, void *b, size_t n, size_t bl, int f, struct sockaddr *a, socklen_t *l),
	   (fd, b, n, bl, f, a, l), NET, GT_END_PLAIN)

/* The array is read after the call only when the kernel read it: a result,
 * or EINTR (else NULL: fds unknown). */
#define END_POLL(p, n)                                                                   \
	GT_OP_END_WITH(&op, gt_op_end_slow_poll(&op, (uintptr_t)real_,                  \
						r_ >= 0 || errno == EINTR ? (p) : NULL, n))
#define END_SELECT(n, r, w, e) \
	GT_OP_END_WITH(&op, gt_op_end_slow_select(&op, (uintptr_t)real_, n, r, w, e))
#define END_EPOLL(ep) GT_OP_END_WITH(&op, gt_op_end_slow_epoll(&op, (uintptr_t)real_, ep))
#define SEL GT_OP_SELECT

GT_HOOK_OP(int, poll, (struct pollfd *p, nfds_t n, int t), (p, n, t), SEL, END_POLL(p, n))
GT_HOOK_OP(int, ppoll, (struct pollfd *p, nfds_t n, gt_ts t, const sigset_t *s), (p, n, t, s), SEL,
	   END_POLL(p, n))
GT_HOOK_OP(int, __poll_chk, (struct pollfd *p, nfds_t n, int t, size_t l), (p, n, t, l), SEL,
	   END_POLL(p, n))
GT_HOOK_OP(int, __ppoll_chk, (struct pollfd *p, nfds_t n, gt_ts t, const sigset_t *s, size_t l),
	   (p, n, t, s, l), SEL, END_POLL(p, n))
/* select and pselect rewrite their sets: a timed-out select of sockets
 * left none, and was a sleep. While tracing the sets are copied first (n
 * bits each) and a recorded call is classified by them, as given. Only
 * sets on this thread's stack above its sp (locals, as a rule) are read
 * before the call: memory that cannot fault. A set elsewhere may be a bad
 * pointer, for which select fails with EFAULT where a read of ours would
 * have been a SIGSEGV; it is read after the call only when the kernel
 * read it (a result, or EINTR), and a call that failed otherwise, or timed
 * out with its sets cleared, is a select of fds unknown (n -1). */
static int sets_keep(fd_set in[3], const fd_set *sets[3], int n)
{
	size_t len = n <= 0 ? 0 : n >= FD_SETSIZE ? sizeof(fd_set) : ((size_t)n + 7) / 8;
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0), hi = gt_tls.stack_hi;

	/* (sp on the thread's own stack: not on its sigaltstack, nor far
	 * below its top, as a coroutine's stack or a malloc'd altstack is,
	 * with other mappings, PROT_NONE ones too, between it and the top) */
	if (!hi || sp >= hi || hi - sp > (8u << 20) ||
	    (sp >= gt_tls.alt_lo && sp < gt_tls.alt_hi))
		return 0;
	for (int i = 0; i < 3; i++)
		if (sets[i] && ((uintptr_t)sets[i] < sp || (uintptr_t)sets[i] > hi - len))
			return 0;
	for (int i = 0; i < 3; i++)
		if (sets[i]) {
			memcpy(&in[i], sets[i], len);
			sets[i] = &in[i];
		}
	return 1;
}

static inline int sets_known(int r, int kept)
{
	return kept || (r < 0 ? errno == EINTR : r > 0);
}

#define SELECT_HOOK(name, params, args)                                       \
	static __attribute__((noinline, used)) int gt_framed_##name params    \
	{                                                                     \
		struct gt_op op;                                              \
		fd_set in[3];                                                 \
		const fd_set *sets[3] = { r, w, e };                          \
		int (*real_) params = GT_REAL(name);                          \
		/* (the sets, by the array here: for a cut, gt_emit_kind_of) */ \
		gt_op_begin_ck(&op, SEL, 0, (uintptr_t)real_, GT_THUNK_SELECT | SEL << 8, \
			       (uint64_t)n, (uintptr_t)sets);                  \
		int kept = gt_op_slow(&op) && sets_keep(in, sets, n);         \
		int r_ = real_ args;                                          \
		END_SELECT(sets_known(r_, kept) ? n : -1, sets[0], sets[1], sets[2]); \
		return r_;                                                    \
	}                                                                     \
	GT_HOOK_THUNK(int, name, params, SEL, GT_THUNK_NONE)
SELECT_HOOK(select, (int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *t), (n, r, w, e, t))
SELECT_HOOK(pselect, (int n, fd_set *r, fd_set *w, fd_set *e, gt_ts t, const sigset_t *s),
	    (n, r, w, e, t, s))
GT_HOOK_OP(int, epoll_wait, (int ep, struct epoll_event *ev, int n, int t), (ep, ev, n, t), SEL,
	   END_EPOLL(ep))
GT_HOOK_OP(int, epoll_pwait, (int ep, struct epoll_event *ev, int n, int t, const sigset_t *s),
	   (ep, ev, n, t, s), SEL, END_EPOLL(ep))

GT_EXPORT int epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
	int r = GT_REAL(epoll_ctl)(ep, op, fd, ev);
	if (r == 0 && op == EPOLL_CTL_ADD)
		gt_fd_epoll_add(ep, fd);
	return r;
}
