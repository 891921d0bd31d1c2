/* core/record/fd.h - what kind of wait a call on these fds is (core/record/fd.c). */
#ifndef GT_FD_H
#define GT_FD_H

struct pollfd;

int gt_fd_is_socket(int fd);
unsigned gt_fd_classify(int fd);   /* GT_OP_NET or GT_OP_SYSCALL */
/* NET if any fd is a socket, SLEEP when there is no fd, else SELECT. */
unsigned gt_fd_classify_poll(const struct pollfd *p, unsigned long n);
unsigned gt_fd_classify_select(int nfds, const void *r, const void *w, const void *e);
unsigned gt_fd_classify_epoll(int epfd);

#endif
