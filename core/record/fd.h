/* core/record/fd.h - what kind of wait a call on these fds is (core/record/fd.c). */
#ifndef GT_FD_H
#define GT_FD_H

#include "core/base/fdkind.h"
#include "core/record/api.h"   /* GT_OP_* */

struct pollfd;

/* fd's kind from the table, fstat'd once when not known yet. */
int gt_fd_probe(int fd);   /* the fstat: 1 for a socket */
static inline int gt_fd_is_socket(int fd)
{
	unsigned k = (unsigned)fd < GT_FD_MAX ?
		__atomic_load_n(&gt_fd_kind[fd], __ATOMIC_RELAXED) : GT_FD_UNKNOWN;

	return k == GT_FD_UNKNOWN ? gt_fd_probe(fd) : k == GT_FD_SOCKET;
}

static inline unsigned gt_fd_classify(int fd)   /* GT_OP_NET or GT_OP_SYSCALL */
{
	return gt_fd_is_socket(fd) ? GT_OP_NET : GT_OP_SYSCALL;
}
/* NET if any fd is a socket, SLEEP when there is no fd, else SELECT. */
unsigned gt_fd_classify_poll(const struct pollfd *p, unsigned long n);
unsigned gt_fd_classify_select(int nfds, const void *r, const void *w, const void *e);
unsigned gt_fd_classify_epoll(int epfd);

#endif
