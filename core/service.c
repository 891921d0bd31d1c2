/* core/service.c - the service thread (writer + RPC poll loop), requests
 * from program threads (start at load, stop at exit and exec), and the
 * process lifecycle: load, fork, exit. The service thread runs with every
 * signal blocked and in_tracer set, so it is never traced. */
#include "core/service.h"
#include "core/session.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/clock.h"
#include "core/config.h"
#include "core/ctl.h"
#include "core/emit.h"
#include "core/fdguard.h"
#include "core/gotrace.h"
#include "core/lock.h"
#include "core/log.h"
#include "core/stack.h"
#include "core/symbol.h"
#include "core/thread.h"
#include "core/urcu.h"
#include "core/writer.h"

void gt_hook_ready(void);

enum req_op { REQ_NONE, REQ_START, REQ_STOP, REQ_EXIT, REQ_SYNC, REQ_PARK };

static const struct gt_svc_client *client;
static int client_ok;
/* Wake-ups: program threads write a byte to wake_fds[0], the loop reads
 * wake_fds[1]. A parked service thread's fds travel the other way (below). */
static int wake_fds[2] = { -1, -1 };
static int running;        /* service thread alive (in this process) */
static pthread_t svc_th;   /* joinable: gt_ns_prepare waits for its end */
static pid_t svc_tid;      /* atomic: its task */
static int client_started; /* client->start ran (once per process) */
static int closed;         /* [fd_lock] the endpoint closed at an idle exit */
static int ready;          /* gt_init done */
static long my_pid;

/* One request at a time: req_lock is held by the requester until done. */
static struct gt_lock req_lock = GT_LOCK_INIT;
static struct {
	int op;
	const char *path;
	int result;
	char err[512];
	uint32_t done;        /* futex: 0 pending, 1 done */
} req;

void gt_service_set_client(const struct gt_svc_client *c)
{
	client = c;
}

static void wake_locked(void)
{
	char one = 1;
	int saved = errno;

	if (wake_fds[0] >= 0 && write(wake_fds[0], &one, 1) < 0) {
		/* EAGAIN: queue full, the thread is awake anyway */
	}
	errno = saved;
}

/* Requests (start, stop, exit): the requester waits for the answer anyway,
 * and a lost wake-up would leave it waiting for good. */
static void wake(void)
{
	gt_fd_lock();
	wake_locked();
	gt_fd_unlock();
}

/* Buffers (a chunk submitted with memory low, a thread at the cap): the
 * thread must not wait behind the writer, which holds fd_lock around its
 * write() of the trace, and a write to a slow disk or a FIFO can take
 * seconds. So it only tries the lock, having set wake_pending first. If the
 * try fails, the holder is the service thread (which reads wake_pending
 * after it lets go and before it polls: seq_cst on both sides, so one of
 * the two sees the other), another thread's wake (which writes), or a
 * dup2 moving our fds, whose wake-up is then at most one tick late (the
 * loop polls with a 100 ms time-out while tracing; a thread at the cap
 * tries again every 50 ms). */
static uint32_t wake_pending;

static void wake_buffers(void)
{
	__atomic_store_n(&wake_pending, 1, __ATOMIC_SEQ_CST);
	if (!gt_fd_trylock())
		return;
	__atomic_store_n(&wake_pending, 0, __ATOMIC_RELAXED);
	wake_locked();
	gt_fd_unlock();
}

/* Returns 1 when the service thread is to end (REQ_PARK). */
static int handle_request(void)
{
	int op = __atomic_load_n(&req.op, __ATOMIC_ACQUIRE);

	if (op == REQ_NONE)
		return 0;
	req.err[0] = '\0';
	if (op == REQ_START)
		req.result = gt_ctl_start(req.path, req.err, sizeof(req.err)) ? 0 : -1;
	else if (op == REQ_STOP)
		req.result = gt_ctl_stop(req.err, sizeof(req.err));
	else if (op == REQ_EXIT)
		req.result = gt_ctl_session() ? gt_ctl_stop(req.err, sizeof(req.err)) : 0;
	else if (op == REQ_SYNC && gt_writer_session()) {
		gt_session_flush_idle();
		gt_writer_drain();   /* defines (symbolises) every stack seen so far */
		req.result = 0;
	} else if (op == REQ_PARK) {
		req.result = 0;
	}
	if (op == REQ_EXIT && client_ok && client->shutdown)
		client->shutdown(GT_SHUT_CLOSE | GT_SHUT_UNLINK);
	__atomic_store_n(&req.op, REQ_NONE, __ATOMIC_RELAXED);
	__atomic_store_n(&req.done, 1, __ATOMIC_RELEASE);
	gt_futex_wake(&req.done, 1);
	if (op == REQ_EXIT)
		for (;;)
			pause();   /* the process is exiting: touch nothing more */
	return op == REQ_PARK;
}

/* The service thread's fd table. Sharing the program's costs a program of
 * one thread on every syscall: once an fd table has a second user, the
 * kernel takes and drops a reference on the file for each call (and the
 * position lock for regular files); 64-byte reads and writes ran 1.35x
 * slower with a sleeping thread beside them, 1.13x when that thread had a
 * table of its own. So the service thread takes one (unshare(CLONE_FILES)),
 * closes its copies of the program's fds and keeps only the wake pair.
 * The program can then neither close nor reuse our fds. Its messages reach
 * the program's stderr through a pidfd (pidfd_getfd; before Linux 5.6 they
 * are lost); 0, 1 and 2 of its table are /dev/null (or an eventfd, which
 * refuses writes), never a file of ours, for libraries that print. Without
 * close_range (before 5.9), with unshare refused, under valgrind or TSan
 * (take_table), it shares the table, as before, and fdguard keeps our fds
 * out of the program's way.
 *
 * A park (unshare/setns) ends the thread and its table: it sends every fd
 * in it, with its number, to wake_fds[0] (SCM_RIGHTS), and the next thread
 * puts each back at its number in its own table. Nothing else knows. */
static int own;               /* atomic: the service thread has its own table */
static int own_wake, own_in;  /* wake_fds[1] and wake_fds[0] in it */
static int own_pidfd = -1;    /* in it */
static uint32_t handed;       /* fds a parked thread sent to the next */
static uint32_t taken;        /* futex: 0 pending, 1 the new thread has its table, 2 failed */

#define HAND_BATCH 250   /* SCM_MAX_FD is 253 */

static int close_range_ok(void)
{
	return syscall(SYS_close_range, ~0u, ~0u, 0) == 0;   /* closes nothing */
}

static void close_all_but(int a, int b)
{
	unsigned lo = (unsigned)(a < b ? a : b), hi = (unsigned)(a < b ? b : a);

	if (lo > 0)
		syscall(SYS_close_range, 0u, lo - 1, 0);
	if (hi > lo + 1)
		syscall(SYS_close_range, lo + 1, hi - 1, 0);
	syscall(SYS_close_range, hi + 1, ~0u, 0);
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
	return sendmsg(own_wake, &m, MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)(k * sizeof(int)) ? 0 : -1;
}

/* The park, with a table of our own: every fd in it (but the wake pair,
 * which the next thread has) goes to the next service thread. */
static void hand_over(void)
{
	int nums[HAND_BATCH], dir = open("/proc/thread-self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	unsigned k = 0, lost = 0, sent = 0;
	char buf[4096];
	long r;

	if (dir < 0) {
		gt_log("unshare/setns: /proc/thread-self/fd: %s; the endpoint and trace end",
		       strerror(errno));
		return;
	}
	while ((r = syscall(SYS_getdents64, dir, buf, sizeof(buf))) > 0) {
		for (long off = 0; off < r;) {
			struct { uint64_t ino; int64_t off; unsigned short len; unsigned char type; char name[]; }
				*d = (void *)(buf + off);
			off += d->len;
			if (d->name[0] < '0' || d->name[0] > '9')
				continue;
			int fd = atoi(d->name);
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
	close(dir);
	if (lost)
		gt_log("unshare/setns: %u of our fds could not be handed over: %s", lost,
		       strerror(errno));
	handed = sent;
}

/* The next thread's side: each fd back at its number. */
static int take_handed(void)
{
	static int want[GT_SVC_MAX_FDS + 64], got[GT_SVC_MAX_FDS + 64];
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
		ssize_t r = recvmsg(own_in, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
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
				close(fds[i]);
			}
		}
	}
	/* They arrived on the lowest free numbers, maybe the numbers others
	 * want: all above every number in play first, then each to its own. */
	for (unsigned i = 0; i < n; i++) {
		int t = fcntl(got[i], F_DUPFD_CLOEXEC, top + 1);
		close(got[i]);
		got[i] = t;
	}
	for (unsigned i = 0; i < n; i++) {
		if (want[i] == own_wake || want[i] == own_in) {   /* the pair moved meanwhile */
			int *p = want[i] == own_wake ? &own_wake : &own_in;
			int t = fcntl(*p, F_DUPFD_CLOEXEC, top + 1);
			close(*p);
			*p = t;
		}
		if (got[i] < 0 || dup3(got[i], want[i], O_CLOEXEC) < 0) {
			gt_log("unshare/setns: cannot take fd %d over: %s", want[i], strerror(errno));
			return -1;
		}
		close(got[i]);
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

/* At the start of the service thread. */
static void take_table(void)
{
	gt_fd_lock();   /* the pair's numbers stay put */
	int w0 = wake_fds[0], w1 = wake_fds[1];
	int ok = TABLE_OF_OUR_OWN && !gt_cfg.valgrind && close_range_ok() && syscall(SYS_unshare, CLONE_FILES) == 0;
	__atomic_store_n(&own, ok, __ATOMIC_RELEASE);
	gt_fd_unlock();
	if (!ok) {
		if (handed)   /* the parked thread's fds cannot come back */
			gt_log("unshare/setns: no fd table of our own for the new service thread");
		__atomic_store_n(&taken, handed ? 2 : 1, __ATOMIC_RELEASE);
		gt_futex_wake(&taken, 1);
		return;
	}
	gt_tls.own_fds = 1;
	own_wake = w1;
	own_in = w0;
	close_all_but(w0, w1);
	int r = 0;
	if (handed) {
		r = take_handed();   /* the parked thread's pidfd and /dev/null too */
		handed = 0;
	} else {
		int z = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (z < 0)
			z = eventfd(0, EFD_CLOEXEC);
		for (int i = 0; z >= 0 && i < 3; i++)
			if (i != z && i != w0 && i != w1 && dup3(z, i, O_CLOEXEC) < 0)
				break;
		if (z > 2)
			close(z);
		own_pidfd = (int)syscall(SYS_pidfd_open, my_pid, 0);
	}
	gt_log_own_table(own_pidfd);
	__atomic_store_n(&taken, r ? 2 : 1, __ATOMIC_RELEASE);
	gt_futex_wake(&taken, 1);
}

/* fd_lock, for the loop: once exit_idle has closed our fds, it touches
 * nothing more. */
static void fd_lock_open(void)
{
	gt_fd_lock();
	if (closed) {
		gt_fd_unlock();
		for (;;)
			pause();
	}
}

static void *service_main(void *arg)
{
	struct pollfd pfd[1 + GT_SVC_MAX_FDS];
	uint64_t last_flush = 0;

	(void)arg;
	gt_tls.in_tracer = 1;
	__atomic_store_n(&svc_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	gt_thread_tracer_started();
	take_table();
	if (__atomic_load_n(&taken, __ATOMIC_RELAXED) == 2)
		return NULL;   /* gt_ns_done says so */
	if (!client_started) {   /* not again when resumed after gt_ns_prepare */
		client_started = 1;
		gt_fd_lock();   /* against exit_idle */
		if (client && client->start && !closed)
			client_ok = client->start() == 0;
		gt_fd_unlock();
	}
	for (;;) {
		int timeout = gt_ctl_session() ? 100 : -1;
		int n = 0;

		uint32_t gen = gt_fd_generation();
		pfd[0].fd = own ? own_wake : wake_fds[1];
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		if (client_ok && client->poll_fill) {
			fd_lock_open();
			n = client->poll_fill(pfd + 1, GT_SVC_MAX_FDS, &timeout);
			gt_fd_unlock();
		}
		if (__atomic_exchange_n(&wake_pending, 0, __ATOMIC_SEQ_CST))
			timeout = 0;   /* a wake_buffers() found fd_lock taken */
		if (poll(pfd, (nfds_t)(1 + n), timeout) < 0 && errno != EINTR)
			usleep(10000);
		/* An fd of ours moved out of the program's way meanwhile: these
		 * revents may name its old number, now the program's. */
		if (gt_fd_generation() != gen)
			for (int i = 0; i <= n; i++)
				pfd[i].revents = 0;
		if (pfd[0].revents & POLLIN) {
			char v[64];
			fd_lock_open();
			for (int i = 0; i < 64 && read(own ? own_wake : wake_fds[1], v, sizeof(v)) > 0; i++) {
				/* one byte per wake-up, until EAGAIN */
			}
			gt_fd_unlock();
		}
		if (handle_request()) {   /* parked: state and fds stay for the next one */
			if (own)
				hand_over();
			return NULL;
		}
		if (gt_writer_session()) {
			uint64_t now = gt_clock_now();
			if (now - last_flush > 1000000000ull || gt_buf_in_use() * 2 >
			    gt_cfg.buffer_bytes / GT_CHUNK_SIZE) {
				gt_session_flush_idle();
				last_flush = now;
			}
			gt_writer_drain();
		}
		gt_stack_grow();
		if (client_ok && client->poll_handle) {
			fd_lock_open();   /* its fds stay put while it handles them */
			client->poll_handle(pfd + 1, n);
			gt_fd_unlock();
		}
	}
	return NULL;
}

static int spawn(void)
{
	sigset_t all, old;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = pthread_create(&svc_th, NULL, service_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return r;
}

static int service_start(void)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, wake_fds))
		return -errno;
	gt_fd_adopt(&wake_fds[0]);
	gt_fd_adopt(&wake_fds[1]);
	client_started = 0;
	handed = 0;
	int r = spawn();
	if (r) {
		gt_fd_release(&wake_fds[0]);
		gt_fd_release(&wake_fds[1]);
		close(wake_fds[0]);
		close(wake_fds[1]);
		wake_fds[0] = wake_fds[1] = -1;
		return -r;
	}
	running = 1;
	return 0;
}

/* With req_lock held: 0, -1 (the answer's error in err), or -2 (timed
 * out: req_lock must stay held, the service thread still owns req). */
static int call_locked(int op, const char *path, char *err, size_t errlen, int64_t timeout_ns)
{
	req.path = path;
	req.done = 0;
	__atomic_store_n(&req.op, op, __ATOMIC_RELEASE);
	wake();
	uint64_t t0 = gt_clock_now();
	while (!__atomic_load_n(&req.done, __ATOMIC_ACQUIRE)) {
		int64_t left = -1;
		if (timeout_ns >= 0) {
			left = timeout_ns - (int64_t)(gt_clock_now() - t0);
			if (left <= 0) {
				/* Leave req_lock held: the request is still owned by the
				 * service thread. Only exit/exec get here. */
				gt_fmt(err, errlen, "the trace writer did not finish in time");
				return -2;
			}
		}
		gt_futex_wait(&req.done, 0, left);
	}
	int r = req.result;
	if (r)
		gt_fmt(err, errlen, "%s", req.err);
	return r ? -1 : 0;
}

static int call(int op, const char *path, char *err, size_t errlen, int64_t timeout_ns)
{
	if (!running || my_pid != getpid()) {
		gt_fmt(err, errlen, "no service thread");
		return -1;
	}
	gt_lock(&req_lock);
	int r = call_locked(op, path, err, errlen, timeout_ns);
	if (r != -2)
		gt_unlock(&req_lock);
	return r ? -1 : 0;
}

/* unshare(CLONE_NEWUSER) and setns() into a user namespace want a process
 * of one thread, and into a mount namespace an fs_struct of its own, which
 * pthread threads share: with the service thread there, they fail with
 * EINVAL in a program that has one thread (unshare -U, and sandboxes that
 * unshare their own process).
 * So the service thread leaves for the call: it ends its loop (listening
 * socket, clients, trace and wake fd stay as they are; a trace loses
 * nothing, the one program thread is in the call), this thread waits until
 * its task is gone, and after the call a new one takes the loop up. Other
 * requests wait on req_lock meanwhile. A resize of the stack table that
 * runs is let finish (its thread ends); a program that has threads of its
 * own gets EINVAL, as it would without us. */
static int ns_needs_one_thread(int is_setns, long flags)
{
	if (is_setns)   /* 0: any type, known from the fd only */
		return flags == 0 || (flags & (CLONE_NEWUSER | CLONE_NEWNS));
	return (flags & (CLONE_NEWUSER | CLONE_THREAD | CLONE_VM | CLONE_SIGHAND)) != 0;
}

int gt_ns_prepare(int is_setns, long flags)
{
	struct gt_tls *tls = &gt_tls;
	char err[64];
	int saved = errno;

	if (!ns_needs_one_thread(is_setns, flags) || tls->in_tracer || !running ||
	    my_pid != getpid() || gt_thread_program_count() > 1)
		return 0;
	tls->in_tracer++;
	gt_lock(&req_lock);
	if (call_locked(REQ_PARK, NULL, err, sizeof(err), -1)) {
		gt_unlock(&req_lock);
		tls->in_tracer--;
		errno = saved;
		return 0;
	}
	/* Its tid only now: a thread just started may not have written it */
	pid_t tid = __atomic_load_n(&svc_tid, __ATOMIC_ACQUIRE);
	gt_thread_tracer_join(svc_th, tid);
	gt_stack_reap(1000);   /* a stack-table resize: let it finish */
	errno = saved;
	return 1;   /* req_lock and in_tracer stay until gt_ns_done */
}

void gt_ns_done(int parked)
{
	struct gt_tls *tls = &gt_tls;
	int saved = errno;

	if (!parked)
		return;
	__atomic_store_n(&taken, 0, __ATOMIC_RELAXED);
	int r = spawn();
	if (!r) {   /* it has our fds back, or could not */
		uint32_t t;
		while (!(t = __atomic_load_n(&taken, __ATOMIC_ACQUIRE)))
			gt_futex_wait(&taken, 0, -1);
		if (t == 2) {
			gt_thread_tracer_join(svc_th, __atomic_load_n(&svc_tid, __ATOMIC_ACQUIRE));
			r = -1;
		}
	}
	if (r) {
		running = 0;
		__atomic_store_n(&gt_trace_on, 0, __ATOMIC_RELEASE);
		gt_log("cannot start the service thread again after unshare/setns: "
		       "no endpoint, tracing stopped");
	}
	gt_unlock(&req_lock);
	tls->in_tracer--;
	errno = saved;
}

int gt_session_start_sync(const char *path, char *err, size_t errlen)
{
	return call(REQ_START, path, err, errlen, -1);
}

int gt_session_stop_sync(char *err, size_t errlen, int64_t timeout_ns)
{
	return call(REQ_STOP, NULL, err, errlen, timeout_ns);
}

/* Before dlclose while tracing: the library may hold code on stacks the
 * writer has not symbolised yet. This thread's batch and every idle
 * thread's go to the writer, which symbolises their stacks while the
 * library is still mapped. A busy thread's unflushed stacks in it stay
 * unnamed ("?", with the object's name when known). */
void gt_service_sync(void)
{
	struct gt_tls *tls = &gt_tls;
	char err[64];
	int saved = errno;

	if (!__atomic_load_n(&gt_trace_on, __ATOMIC_ACQUIRE) || tls->in_tracer ||
	    !running || my_pid != getpid())
		return;
	tls->in_tracer++;
	if (tls->t) {
		gt_lock(&tls->t->lock);
		gt_emit_flush_locked(tls->t);
		gt_unlock(&tls->t->lock);
	}
	call(REQ_SYNC, NULL, err, sizeof(err), -1);
	tls->in_tracer--;
	errno = saved;
}

/* An exit with no trace running needs nothing of the service thread: the
 * exiting thread closes the endpoint itself, not waiting for the thread to
 * be scheduled twice (a tenth of a millisecond on a busy machine, per
 * process). No request is in progress (req_lock, kept: none can start) and
 * the loop is not handling clients or starting the endpoint (fd_lock), so
 * no trace can start either. After fd_lock the loop sees `closed` and
 * stops. 0: a trace or a request is under way, the long way then. */
static int exit_idle(void)
{
	if (gt_ctl_session() || gt_writer_session() || !gt_trylock(&req_lock))
		return 0;
	/* The loop holds fd_lock for a few syscalls, but a writer (a trace
	 * started meanwhile) around a write() that can take long: no wait
	 * without an end here. */
	uint64_t t0 = gt_clock_now();
	while (!gt_fd_trylock()) {
		if (gt_clock_now() - t0 > 100000000ull) {
			gt_unlock(&req_lock);
			return 0;
		}
		usleep(50);
	}
	if (gt_ctl_session() || gt_writer_session()) {
		gt_fd_unlock();
		gt_unlock(&req_lock);
		return 0;
	}
	closed = 1;
	/* Our fds are the service thread's to close, or go with its table. */
	if (client_ok && client->shutdown)
		client->shutdown(GT_SHUT_UNLINK | (own ? 0 : GT_SHUT_CLOSE));
	gt_fd_unlock();
	return 1;
}

/* atexit (and _exit): finish the trace, close the endpoint. atexit runs
 * ours after the program's own handlers (ours was registered first). */
void gt_exit_prepare(void)
{
	struct gt_tls *tls = &gt_tls;
	char err[512];

	if (!running || my_pid != getpid())
		return;
	/* Not from a signal handler that interrupted tracer code (fd_lock
	 * may be this thread's, mid-change). */
	if (!tls->in_tracer) {
		tls->in_tracer++;
		int done = exit_idle();
		tls->in_tracer--;
		if (done) {
			running = 0;
			return;
		}
	}
	/* exit() from a signal handler that interrupted tracer code on this
	 * thread: our record lock may be held by the interrupted frame. */
	if (tls->in_tracer && tls->t)
		__atomic_store_n(&tls->t->abandoned, 1, __ATOMIC_RELEASE);
	tls->in_tracer++;
	if (call(REQ_EXIT, NULL, err, sizeof(err), 60ll * 1000000000) && err[0])
		gt_log("%s", err);
	running = 0;
	tls->in_tracer--;
}

/* Will exec of path find an executable? (PATH search for the p
 * variants.) A call that fails returns to the program, and the trace must
 * then go on: only a plausible exec finishes it first. */
static int executable(int dirfd, const char *path, int search, int flags)
{
	char buf[GT_PATH_MAX];

	if (!path)
		return 1;   /* fexecve: the fd is what runs */
	if (!search || strchr(path, '/'))
		return (flags & AT_EMPTY_PATH && !*path) ||
		       faccessat(dirfd, path, X_OK, AT_EACCESS | (flags & AT_SYMLINK_NOFOLLOW)) == 0;
	const char *p = getenv("PATH");
	if (!p)
		p = "/bin:/usr/bin";
	while (*p) {
		const char *e = strchr(p, ':');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		size_t l = strlen(path);
		if (n + 1 + l < sizeof(buf)) {   /* "dir/path"; an empty dir is "." */
			memcpy(buf, n ? p : ".", n ? n : 1);
			size_t d = n ? n : 1;
			buf[d] = '/';
			memcpy(buf + d + 1, path, l + 1);
			if (faccessat(AT_FDCWD, buf, X_OK, AT_EACCESS) == 0)
				return 1;
		}
		p += n + (e != NULL);
	}
	return 0;
}

void gt_exec_prepare(int dirfd, const char *path, int search, int flags)
{
	struct gt_tls *tls = &gt_tls;
	char err[512];
	int saved = errno;

	/* Not in a vfork child (it shares our memory but is not us). */
	if (!__atomic_load_n(&gt_trace_on, __ATOMIC_ACQUIRE) || my_pid != getpid() ||
	    tls->in_tracer || !executable(dirfd, path, search, flags)) {
		errno = saved;
		return;
	}
	tls->in_tracer++;
	if (gt_session_stop_sync(err, sizeof(err), 60ll * 1000000000))
		gt_log("%s", err);
	tls->in_tracer--;
	errno = saved;
}

/* Set by setsid/daemon and by a listen() of the program's, and inherited by
 * fork: a daemon and a server are long-lived, and so are their forked
 * children (a double-forking daemon's second child, a pre-fork server's
 * workers, which accept on the listening socket they inherited): each gets
 * an endpoint of its own, now or at fork. Other forked children (a shell's
 * subshells, fork-then-exec) start none. */
static int long_lived;

void gt_service_long_lived(void)
{
	struct gt_tls *tls = &gt_tls;
	int saved = errno;

	if (tls->in_tracer)
		return;   /* our own endpoint's listen() */
	long_lived = 1;
	if (!ready || running || my_pid != getpid() || gt_cfg.socket_off)
		return;
	tls->in_tracer++;
	if (service_start())
		gt_log("cannot start the service thread: no endpoint");
	tls->in_tracer--;
	errno = saved;
}

static void fork_prepare(void)
{
	gt_tls.in_tracer++;
	gt_stack_before_fork();
	if (gt_urcu_ready()) {   /* loaded at the first trace */
		gt_urcu.urcu_bp_call_rcu_before_fork();
		gt_urcu.urcu_bp_before_fork();
	}
}

static void fork_parent(void)
{
	if (gt_urcu_ready()) {
		gt_urcu.urcu_bp_after_fork_parent();
		gt_urcu.urcu_bp_call_rcu_after_fork_parent();
	}
	gt_stack_after_fork(0);
	gt_tls.in_tracer--;
}

/* The child has only the forking thread: drop the parent's trace without
 * writing to its file, and all state owned by vanished threads. */
static void fork_child(void)
{
	my_pid = getpid();
	__atomic_store_n(&gt_trace_on, 0, __ATOMIC_RELAXED);
	/* Our state first: liburcu's child handler restarts its worker thread
	 * through our pthread_create hook. */
	gt_thread_after_fork_child();
	gt_stack_after_fork(1);
	if (gt_urcu_ready()) {
		gt_urcu.urcu_bp_after_fork_child();
		gt_urcu.urcu_bp_call_rcu_after_fork_child();
	}
	/* With a table of its own, the service thread's fds (endpoint, trace)
	 * are not in ours: their numbers are the program's here. */
	int shared = !__atomic_load_n(&own, __ATOMIC_ACQUIRE);
	gt_buf_after_fork_child();
	gt_writer_after_fork_child(shared);
	/* The parent's service thread may have held fd_lock at fork (it
	 * holds it while handling clients): reset it before closing. */
	gt_fd_after_fork_child();
	if (running) {
		if (client_ok && client->shutdown)
			client->shutdown(shared ? GT_SHUT_CLOSE : 0);
		close(wake_fds[0]);
		close(wake_fds[1]);
		wake_fds[0] = wake_fds[1] = -1;
		running = 0;
		client_ok = 0;
	}
	own = 0;
	req_lock.word = 0;
	req.op = REQ_NONE;
	if (long_lived && ready && !gt_cfg.socket_off && service_start())
		gt_log("cannot start the service thread in a forked server's child: no endpoint");
	gt_tls.in_tracer--;
}

/* GOTRACE_FILE: which file this process traces into, if any. A name
 * without %p belongs to one process (GOTRACE_OWNER, else the first to load
 * us, which then claims it), so children inheriting LD_PRELOAD do not
 * overwrite it; with %p every process has its own. */
static int trace_file(char *out, size_t size)
{
	if (!gt_cfg.file[0])
		return 0;
	if (!gt_cfg.file_has_pid) {
		if (gt_cfg.owner && gt_cfg.owner != my_pid)
			return 0;
		if (!gt_cfg.owner) {
			char pid[24];
			gt_fmt(pid, sizeof(pid), "%ld", my_pid);
			setenv("GOTRACE_OWNER", pid, 1);
		}
	}
	if (gt_config_expand(gt_cfg.file, my_pid, out, (unsigned)size)) {
		gt_log("GOTRACE_FILE=%s: name too long", gt_cfg.file);
		return 0;
	}
	return 1;
}

void gt_init(void)
{
	struct gt_tls *tls = &gt_tls;
	static char path[GT_PATH_MAX];
	char err[512];

	if (ready)
		return;
	tls->in_tracer++;
	my_pid = getpid();
	gt_config_load();
	gt_thread_init_main();
	gt_stack_thread_init(0);
	if (gt_stack_init())
		gt_log("stack table unavailable: events have no stacks");
	gt_emit_set_drain(gt_writer_drain);
	gt_buf_set_waker(wake_buffers);
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	atexit(gt_exit_prepare);
	int file = trace_file(path, sizeof(path));
	if ((file || !gt_cfg.socket_off) && service_start())
		gt_log("cannot start the service thread: tracing disabled");
	ready = 1;
	gt_hook_ready();
	if (file && running) {
		if (gt_ctl_prepare(err, sizeof(err)) || gt_session_start_sync(path, err, sizeof(err)))
			gt_log("%s", err);
	}
	tls->in_tracer--;
	/* The main thread runs from now on: show it so right away. */
	if (file && gt_trace_on && tls->t) {
		tls->in_tracer++;
		gt_lock(&tls->t->lock);
		gt_emit_enter_locked(tls->t, gt_trace_on, gt_clock_now());
		gt_unlock(&tls->t->lock);
		tls->in_tracer--;
	}
}
