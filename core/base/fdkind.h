/* core/base/fdkind.h - what we know of each fd, for free. */
#ifndef GT_BASE_FDKIND_H
#define GT_BASE_FDKIND_H

#include <stdint.h>

#include "core/base/tls.h"
#include "core/base/visibility.h"

/* Socket or not, per fd: decides net vs syscall (and poll/select/epoll)
 * events. Filled lazily (fstat) by core in the slow path only; preload
 * notes what it knows for free: close/dup2 forget, socket/accept set
 * (gt_fd_note_call: the program's calls only, not the tracer's). */
/* GT_FD_NOWAIT: no socket, and a read never waits (a regular file, a
 * memory device: preload/armed.c asks, for GOTRACE_LAZY's safe points). */
enum gt_fd_kind { GT_FD_UNKNOWN = 0, GT_FD_SOCKET, GT_FD_OTHER, GT_FD_EPOLL_NET, GT_FD_NOWAIT };
extern uint8_t gt_fd_kind[GT_FD_MAX] GT_HIDDEN;

static inline void gt_fd_note(int fd, unsigned kind)
{
	if ((unsigned)fd < GT_FD_MAX)
		__atomic_store_n(&gt_fd_kind[fd], (uint8_t)kind, __ATOMIC_RELAXED);
}

/* What a call that made or ended fd says of it: the program's calls
 * only. The table describes the program's fds; the tracer's own come and
 * go on other threads, and a note of theirs could land after the number
 * was freed and taken by the program: the service thread's probe socket
 * (rpc/proto/endpoint.c) at 4 made a one-thread program's later
 * /dev/null at 4 a socket, its writes network waits (4 runs in 6). */
static inline void gt_fd_note_call(int fd, unsigned kind)
{
	if (!gt_tls.in_tracer)
		gt_fd_note(fd, kind);
}

#endif
