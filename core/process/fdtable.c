/* core/process/fdtable.c - the service thread's fd table of its own.
 *
 * Sharing the program's costs a program of one thread on every syscall:
 * once an fd table has a second user, the kernel takes and drops a
 * reference on the file for each call (and the position lock for regular
 * files); 64-byte reads and writes ran 1.35x slower with a sleeping thread
 * beside them, 1.13x when that thread had a table of its own. So the
 * service thread takes one (unshare(CLONE_FILES)), closes its copies of the
 * program's fds and keeps only the wake pair. The program can then neither
 * close nor reuse our fds. Its messages reach the program's stderr through
 * a pidfd (pidfd_getfd; before Linux 5.6 they are lost); 0, 1 and 2 of its
 * table are /dev/null (or an eventfd, which refuses writes), never a file
 * of ours, for libraries that print. Without close_range (before 5.9),
 * with unshare refused, under valgrind or in TSan builds (gt_fdtable_take)
 * it shares the table, as before, and fdguard keeps our fds out of the
 * program's way.
 *
 * A park (unshare/setns) ends the thread and its table: it sends every fd
 * in it, with its number, to the wake pair's [0] (SCM_RIGHTS), and the next
 * thread puts each back at its number in its own table. Nothing else knows
 * of it: the endpoint, its clients, the trace and libdw's files go on. */
#include "core/process/fdtable.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/base/config.h"
#include "core/process/door.h"
#include "core/base/fdguard.h"
#include "core/process/api.h"
#include "core/record/api.h"
#include "core/base/log.h"
#include "core/process/service.h"
#include "core/base/real.h"

static int own;               /* atomic: the service thread has its own table */
static int own_wake, own_in;  /* the wake pair's [1] and [0] in it */
static int own_pidfd = -1;    /* in it */
static uint32_t handed;       /* fds a parked thread sent to the next */

#define HAND_BATCH 250   /* SCM_MAX_FD is 253 */

static int close_range_ok(void)
{
	return gt_syscall(SYS_close_range, ~0u, ~0u, 0) == 0;   /* closes nothing */
}

static void close_all_but(int a, int b)
{
	unsigned lo = (unsigned)(a < b ? a : b), hi = (unsigned)(a < b ? b : a);

	if (lo > 0)
		gt_syscall(SYS_close_range, 0u, lo - 1, 0);
	if (hi > lo + 1)
		gt_syscall(SYS_close_range, lo + 1, hi - 1, 0);
	gt_syscall(SYS_close_range, hi + 1, ~0u, 0);
}

static int send_fds(const int *nums, unsigned k)
{
	union {
		char buf[CMSG_SPACE(HAND_BATCH * sizeof(int))];
		struct cmsghdr align;
	} c;
	struct iovec iov = { (void *)nums, k * sizeof(int) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
			    .msg_controllen = CMSG_SPACE(k * sizeof(int)) };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);

	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(k * sizeof(int));
	memcpy(CMSG_DATA(h), nums, k * sizeof(int));
	return gt_sendmsg(own_wake, &m, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)(k * sizeof(int)) ? 0 : -1;
}

/* The park, with a table of our own: every fd in it (but the wake pair,
 * which the next thread has) goes to the next service thread. */
void gt_fdtable_hand_over(void)
{
	int nums[HAND_BATCH], dir = gt_open("/proc/thread-self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	unsigned k = 0, lost = 0, sent = 0;
	char buf[4096];
	long r;

	if (dir < 0) {
		gt_log("unshare/setns: /proc/thread-self/fd: %s; the endpoint and trace end",
		       strerror(errno));
		return;
	}
	while ((r = gt_syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < r;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			off += d->d_reclen;
			if (d->d_name[0] < '0' || d->d_name[0] > '9')
				continue;
			int fd = atoi(d->d_name);
			if (fd == dir || fd == own_wake || fd == own_in)
				continue;
			nums[k++] = fd;
			if (k == HAND_BATCH) {
				if (send_fds(nums, k))
					lost += k;
				else
					sent += k;
				k = 0;
			}
		}
	}
	if (k && send_fds(nums, k))
		lost += k;
	else
		sent += k;
	gt_close(dir);
	if (lost)
		gt_log("unshare/setns: %u of our fds could not be handed over: %s", lost,
		       strerror(errno));
	handed = sent;
}

/* The next thread's side: each fd back at its number. */
static int take_handed(void)
{
	static int want[GT_SVC_MAX_FDS + 64] GT_COLD_BSS, got[GT_SVC_MAX_FDS + 64] GT_COLD_BSS;
	unsigned n = 0;
	int top = own_wake > own_in ? own_wake : own_in;

	for (;;) {
		union {
			char buf[CMSG_SPACE(HAND_BATCH * sizeof(int))];
			struct cmsghdr align;
		} c;
		int nums[HAND_BATCH];
		struct iovec iov = { nums, sizeof(nums) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.buf,
				    .msg_controllen = sizeof(c.buf) };
		ssize_t r = gt_recvmsg(own_in, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		struct cmsghdr *h = r > 0 ? CMSG_FIRSTHDR(&m) : NULL;
		if (!h)
			break;
		unsigned k = (unsigned)((h->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int *fds = (int *)(void *)CMSG_DATA(h);
		for (unsigned i = 0; i < k; i++) {
			if (n < sizeof(want) / sizeof(want[0]) && i < (unsigned)r / sizeof(int)) {
				want[n] = nums[i];
				got[n] = fds[i];
				top = want[n] > top ? want[n] : top;
				top = got[n] > top ? got[n] : top;
				n++;
			} else {
				gt_close(fds[i]);
			}
		}
	}
	/* They arrived on the lowest free numbers, maybe the numbers others
	 * want: all above every number in play first, then each to its own. */
	for (unsigned i = 0; i < n; i++) {
		int t = gt_fcntl(got[i], F_DUPFD_CLOEXEC, top + 1);
		gt_close(got[i]);
		got[i] = t;
	}
	for (unsigned i = 0; i < n; i++) {
		if (want[i] == own_wake || want[i] == own_in) {   /* the pair moved meanwhile */
			int *p = want[i] == own_wake ? &own_wake : &own_in;
			int t = gt_fcntl(*p, F_DUPFD_CLOEXEC, top + 1);
			gt_close(*p);
			*p = t;
		}
		if (got[i] < 0 || gt_dup3(got[i], want[i], O_CLOEXEC) < 0) {
			gt_log("unshare/setns: cannot take fd %d over: %s", want[i], strerror(errno));
			return -1;
		}
		gt_close(got[i]);
	}
	if (n != handed) {
		gt_log("unshare/setns: %u of %u fds arrived", n, handed);
		return -1;
	}
	return 0;
}

/* TSan models one fd table per process: an fd number reused in the other
 * table looks like a race to it. Its builds share the table. */
#if defined(__SANITIZE_THREAD__)
#define TABLE_OF_OUR_OWN 0
#else
#define TABLE_OF_OUR_OWN 1
#endif

int gt_fdtable_take(const int *wake)
{
	gt_fd_lock();   /* the pair's numbers stay put */
	int w0 = wake[0], w1 = wake[1];
	int ok = TABLE_OF_OUR_OWN && !gt_cfg.valgrind && close_range_ok() &&
		 gt_syscall(SYS_unshare, CLONE_FILES) == 0;
	__atomic_store_n(&own, ok, __ATOMIC_RELEASE);
	gt_fd_unlock();
	/* A parked thread's fds (all of its table), or the doorman's
	 * listeners (core/process/door.c) */
	int parked = handed != 0;
	handed += gt_door_take_handed();
	if (!ok) {
		if (handed)   /* those fds cannot come back */
			gt_log("no fd table of our own for the new service thread: "
			       "the endpoint's sockets are lost");
		return handed ? -1 : 0;
	}
	gt_tls.own_fds = 1;
	own_wake = w1;
	own_in = w0;
	close_all_but(w0, w1);
	int r = 0;
	if (handed) {
		r = take_handed();   /* the parked thread's pidfd and /dev/null too */
		handed = 0;
	}
	if (!parked) {
		int z = gt_open("/dev/null", O_RDWR | O_CLOEXEC);
		if (z < 0)
			z = eventfd(0, EFD_CLOEXEC);
		for (int i = 0; z >= 0 && i < 3; i++)
			if (i != z && i != own_in && i != own_wake && gt_dup3(z, i, O_CLOEXEC) < 0)
				break;
		if (z > 2)
			gt_close(z);
		own_pidfd = (int)gt_syscall(SYS_pidfd_open, (pid_t)getpid(), 0);
	}
	gt_log_own_table(own_pidfd);
	return r ? -1 : 1;
}

int gt_fdtable_own(void)
{
	return __atomic_load_n(&own, __ATOMIC_ACQUIRE);
}

int gt_fdtable_wake_fd(void)
{
	return __atomic_load_n(&own, __ATOMIC_RELAXED) ? own_wake : -1;
}

void gt_fdtable_reset(void)
{
	__atomic_store_n(&own, 0, __ATOMIC_RELAXED);
	handed = 0;
}
