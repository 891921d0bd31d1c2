/* core/record/fd.c - is this fd a socket? A byte per fd, written racily by any
 * thread (relaxed atomics): a stale answer only moves an event between the
 * net and syscall profiles, never breaks a trace. fstat runs only on the
 * recording path of a call that already blocked. */
#include <errno.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/stat.h>

#include "core/record/fd.h"
#include "core/record/api.h"

int gt_fd_probe(int fd)
{
	struct stat st;
	int saved = errno;
	unsigned k = fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode) ? GT_FD_SOCKET : GT_FD_OTHER;

	errno = saved;
	gt_fd_note(fd, k);
	return k == GT_FD_SOCKET;
}

void gt_fd_epoll_add(int epfd, int fd)
{
	if ((unsigned)epfd < GT_FD_MAX &&
	    __atomic_load_n(&gt_fd_kind[epfd], __ATOMIC_RELAXED) != GT_FD_EPOLL_NET &&
	    gt_fd_is_socket(fd))
		gt_fd_note(epfd, GT_FD_EPOLL_NET);
}

unsigned gt_fd_classify_poll(const struct pollfd *p, unsigned long n)
{
	int any = 0;

	n = (unsigned int)n;   /* the kernel's nfds is an unsigned int */
	if (!p)
		return n ? GT_OP_SELECT : GT_OP_SLEEP;   /* not to be read */
	for (unsigned long i = 0; i < n; i++) {
		if (p[i].fd < 0)
			continue;
		any = 1;
		if (gt_fd_is_socket(p[i].fd))
			return GT_OP_NET;
	}
	return any ? GT_OP_SELECT : GT_OP_SLEEP;
}

unsigned gt_fd_classify_select(int nfds, const void *r, const void *w, const void *e)
{
	const fd_set *s[3] = { r, w, e };
	int any = 0;

	if (nfds < 0)
		return GT_OP_SELECT;   /* sets not to be read */

	for (int fd = 0; fd < nfds && fd < FD_SETSIZE; fd++)
		for (int i = 0; i < 3; i++)
			if (s[i] && FD_ISSET(fd, s[i])) {
				any = 1;
				if (gt_fd_is_socket(fd))
					return GT_OP_NET;
			}
	return any ? GT_OP_SELECT : GT_OP_SLEEP;
}

unsigned gt_fd_classify_epoll(int epfd)
{
	return (unsigned)epfd < GT_FD_MAX &&
	       __atomic_load_n(&gt_fd_kind[epfd], __ATOMIC_RELAXED) == GT_FD_EPOLL_NET ?
	       GT_OP_NET : GT_OP_SELECT;
}
