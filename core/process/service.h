/* core/process/service.h - the tracer's one service thread: it writes traces and runs
 * a poll loop that rpc/ plugs into (no thread per client). It starts with
 * every signal blocked and is never traced. */
#ifndef GT_SERVICE_H
#define GT_SERVICE_H

#include <poll.h>
#include <stdint.h>

/* What rpc/ plugs into the loop. Every callback runs on the service thread,
 * except shutdown (see below). */
struct gt_svc_client {
	/* Once, when the service thread starts. 0, or -errno: the loop then runs
	 * without the client (tracing via GOTRACE_FILE still works). */
	int (*start)(void);
	/* Fill up to max pollfds; return how many. May lower *timeout_ms (-1 =
	 * infinite) to be woken for a timer (debug_goTrace's deadline, idle
	 * connection time-outs). */
	int (*poll_fill)(struct pollfd *pfd, int max, int *timeout_ms);
	/* The loop polled: pfd[0..n) are the entries poll_fill gave, with revents
	 * set. Called every iteration, also on time-outs, so timers can fire. */
	void (*poll_handle)(struct pollfd *pfd, int n);
	/* The endpoint ends: at process exit (the service thread's last
	 * request, or an idle exit on the exiting thread) or in the child
	 * after fork. GT_SHUT_CLOSE: close its fds (they are in the calling
	 * thread's fd table; not when the service thread has a table of its
	 * own and the caller is not it); GT_SHUT_UNLINK: remove the socket
	 * file (not in a forked child). Its state is reset either way. Must be
	 * async-signal-safe-ish: close(), unlink(), no locks. */
	void (*shutdown)(int flags);
	/* The variable holding listening socket i (0, 1), NULL when there is
	 * none: after start, a one-thread program's doorman takes them
	 * (core/process/door.c). Any thread. */
	int *(*listener)(int i);
};

#define GT_SHUT_CLOSE 1
#define GT_SHUT_UNLINK 2
/* Not an end: the held calls answered, their traces and profiles over
 * (an exec is coming), the endpoint kept (the exec may fail). Alone. */
#define GT_SHUT_FLUSH 4

/* Install the client before gt_service_start (preload/init.c does this). */
void gt_service_set_client(const struct gt_svc_client *c);

/* Max pollfds one client may fill. */
#define GT_SVC_MAX_FDS 1100

#endif
