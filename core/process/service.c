/* core/service.c - the service thread (writer + RPC poll loop), requests
 * from program threads (start at load, stop at exit and exec), and the
 * process lifecycle: load, fork, exit. The service thread runs with every
 * signal blocked and in_tracer set, so it is never traced. */
#include "core/process/service.h"
#include "core/process/request.h"
#include "core/process/fatal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/record/buf.h"
#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/write/ctl.h"
#include "core/process/door.h"
#include "core/record/emit.h"
#include "core/process/fdtable.h"
#include "core/base/fdguard.h"
#include "core/process/api.h"
#include "core/record/api.h"
#include "core/base/lock.h"
#include "core/base/log.h"
#include "core/process/safe.h"
#include "core/record/stack.h"
#include "core/write/symbol.h"
#include "core/record/thread.h"
#include "core/base/urcu.h"
#include "core/write/writer.h"

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
		gt_ctl_flush_idle();
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

/* A new service thread after a park tells gt_ns_done whether it has the
 * parked one's fds (core/fdtable.c). */
static uint32_t taken;   /* futex: 0 pending, 1 it has its table, 2 failed */

/* The loop's end of the wake pair: in its own table, or the program's. */
static int loop_wake(void)
{
	int fd = gt_fdtable_wake_fd();

	return fd >= 0 ? fd : wake_fds[1];
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

/* The CPUs the main thread could run on at load: the service thread's,
 * though a lazy start happens on a program thread that may have pinned
 * itself since (the thread from load never shared that pinning). */
static cpu_set_t load_cpus;
static int load_cpus_ok;

static void *service_main(void *arg)
{
	struct pollfd pfd[1 + GT_SVC_MAX_FDS];
	uint64_t last_flush = 0;

	(void)arg;
	gt_tls.in_tracer = 1;
	if (load_cpus_ok)   /* not a pinning the program gave itself since */
		sched_setaffinity(0, sizeof(load_cpus), &load_cpus);
	__atomic_store_n(&svc_tid, (pid_t)syscall(SYS_gettid), __ATOMIC_RELEASE);
	gt_thread_tracer_started();
	int table = gt_fdtable_take(wake_fds);
	__atomic_store_n(&taken, table < 0 ? 2 : 1, __ATOMIC_RELEASE);
	gt_futex_wake(&taken, 1);
	if (table < 0)
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
		pfd[0].fd = loop_wake();
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
			for (int i = 0; i < 64 && read(loop_wake(), v, sizeof(v)) > 0; i++) {
				/* one byte per wake-up, until EAGAIN */
			}
			gt_fd_unlock();
		}
		if (handle_request()) {   /* parked: state and fds stay for the next one */
			if (gt_fdtable_own())
				gt_fdtable_hand_over();
			return NULL;
		}
		if (gt_writer_session()) {
			gt_clock_tick();
			uint64_t now = gt_clock_now();
			if (now - last_flush > 1000000000ull || gt_buf_in_use() * 2 > gt_buf_cap()) {
				gt_ctl_flush_idle();
				last_flush = now;
			}
			gt_writer_drain();
			gt_buf_reserve();
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

/* The service thread runs SCHED_OTHER whatever its creator's policy: a
 * lazy start happens on a program thread that may have made itself
 * real-time since load, and the tracer's writes must not preempt the
 * program (nor anything else) at its priority. */
static int spawn(void)
{
	sigset_t all, old;
	pthread_attr_t a;
	struct sched_param prio = { 0 };

	if (pthread_attr_init(&a))
		return ENOMEM;
	/* 2 MB, not the 8 MB default: under ulimit -v a program counts every
	 * mapping (the deepest stacks are libdw's, reading DWARF). */
	pthread_attr_setstacksize(&a, 2u << 20);
	pthread_attr_setinheritsched(&a, PTHREAD_EXPLICIT_SCHED);
	pthread_attr_setschedpolicy(&a, SCHED_OTHER);
	pthread_attr_setschedparam(&a, &prio);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	int r = pthread_create(&svc_th, &a, service_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	return r;
}

/* A service thread that is to take fds over (a park's, the doorman's):
 * 0 once it has its table with them, -1 when it could not start or take
 * them (it has ended then). */
static int spawn_taken(void)
{
	__atomic_store_n(&taken, 0, __ATOMIC_RELAXED);
	int r = spawn();
	if (!r) {
		uint32_t t;
		while (!(t = __atomic_load_n(&taken, __ATOMIC_ACQUIRE)))
			gt_futex_wait(&taken, 0, -1);
		if (t == 2) {
			gt_thread_tracer_join(svc_th, __atomic_load_n(&svc_tid, __ATOMIC_ACQUIRE));
			r = -1;
		}
	}
	return r;
}

/* The wake pair, ours in the program's table, and a service thread's
 * table from scratch to come. */
static int wake_open(void)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, wake_fds))
		return -errno;
	gt_fd_adopt(&wake_fds[0]);
	gt_fd_adopt(&wake_fds[1]);
	gt_fdtable_reset();
	return 0;
}

static void wake_close(void)
{
	for (int i = 0; i < 2; i++) {
		gt_fd_release(&wake_fds[i]);
		close(wake_fds[i]);
		wake_fds[i] = -1;
	}
}

static int service_start(void)
{
	int r = wake_open();

	if (r)
		return r;
	client_started = 0;
	r = spawn();
	if (r) {
		wake_close();
		return -r;
	}
	running = 1;
	return 0;
}

/* A program of one thread: the endpoint waits in a doorman (core/door.c)
 * until a client comes, and the service thread starts at the first safe
 * point after that (gt_service_safe_point). lazy: the endpoint is the
 * doorman's, or in the wake pair for the service thread to take. */
static int lazy;
static void (*arm_pre)(void), (*arm_on)(void), (*arm_off)(void);

void gt_service_set_arm(void (*pre)(void), void (*on)(void), void (*off)(void))
{
	arm_pre = pre;
	arm_on = on;
	arm_off = off;
}

/* 1: the endpoint is up, in a doorman (or there is none to be had: the
 * client said why); 0: start the service thread instead. */
static int lazy_start(void)
{
	int fds[2], n = 0;

	if (!gt_cfg.lazy || gt_cfg.socket_off || !arm_on || !client || !client->listener ||
	    !__libc_single_threaded || !gt_door_possible())
		return 0;
	if (wake_open())
		return 0;
	gt_safe_init();
	client_started = 1;
	client_ok = client->start() == 0;   /* the only thread: no fd_lock */
	if (!client_ok) {
		wake_close();
		return 1;
	}
	gt_fd_lock();
	for (int i = 0; i < 2; i++)
		if (client->listener(i))
			fds[n++] = *client->listener(i);
	arm_pre();   /* before the doorman, which may arm at once */
	int r = gt_door_start(fds, n, wake_fds[1], arm_on);
	/* The doorman has its copies; ours are not the program's to see. */
	for (int i = 0; !r && i < 2; i++) {
		int *p = client->listener(i);
		if (p) {
			int fd = *p;
			gt_fd_release_locked(p);
			close(fd);
		}
	}
	gt_fd_unlock();
	if (r) {
		arm_off();
		client->shutdown(GT_SHUT_CLOSE | GT_SHUT_UNLINK);
		client_ok = client_started = 0;
		wake_close();
		if (gt_cfg.debug)
			gt_log("no doorman (%s): the service thread starts now", strerror(-r));
		return 0;
	}
	lazy = 1;
	return 1;
}

/* The doorman has handed the endpoint to the wake pair: the service thread
 * takes it over. On a program thread at a safe point, in_tracer raised. */
static void lazy_service(void)
{
	lazy = 0;
	int r = spawn_taken();
	if (r) {
		gt_log("cannot start the service thread: the endpoint is lost");
		if (client_ok && client->shutdown)
			client->shutdown(GT_SHUT_UNLINK);   /* its fds are in the wake pair */
		client_ok = 0;
		return;
	}
	running = 1;
}

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void gt_service_safe_point(int kind, uintptr_t caller, int wait)
{
	struct gt_tls *tls = &gt_tls;

	/* Where a handler may be running, look again 10 ms later, not at the
	 * next call: the look is 62 syscalls and a read of the stack, and a
	 * write loop must not pay it on every write while a client waits. */
	static uint64_t quiet_until;

	if (tls->in_tracer || (kind == GT_SAFE_CALLER && (tls->in_call || gt_safe_in_libc(caller))))
		return;
	uint64_t quiet = kind == GT_SAFE_SIGNAL ? __atomic_load_n(&quiet_until, __ATOMIC_RELAXED) : 0;
	if (quiet && coarse_ns() < quiet)
		return;
	int saved = errno;
	tls->in_tracer++;
	int h = kind == GT_SAFE_SIGNAL && gt_safe_in_handler();
	if (h)
		__atomic_store_n(&quiet_until, coarse_ns() + 10000000u, __ATOMIC_RELAXED);
	/* A client waits (claim), or the program is about to wait long: the
	 * doorman hands the endpoint over now. One thread wins either way. */
	if (!h && my_pid == getpid() &&
	    (gt_door_claim() || (wait && lazy && gt_door_hand_over(wake_fds[0])))) {
		arm_off();
		lazy_service();
	}
	tls->in_tracer--;
	errno = saved;
}

void gt_service_needed(void)
{
	if (lazy)
		gt_service_safe_point(GT_SAFE_PLAIN, 0, 1);
}

/* The endpoint, for a process with no trace from load: a doorman, else
 * the service thread. 0, or -errno. */
static int endpoint_start(void)
{
	return lazy_start() ? 0 : service_start();
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

	if (!ns_needs_one_thread(is_setns, flags) || tls->in_tracer ||
	    my_pid != getpid() || gt_thread_program_count() > 1)
		return 0;
	if (lazy && gt_door_pending()) {
		/* The doorman is a task of the group too: it hands the endpoint to
		 * the wake pair and ends; a service thread takes it after. */
		tls->in_tracer++;
		gt_door_stop(1, wake_fds[0]);
		arm_off();
		errno = saved;
		return 2;
	}
	if (!running)
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
	if (parked == 2) {
		lazy_service();
		tls->in_tracer--;
		errno = saved;
		return;
	}
	int r = spawn_taken();
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

int gt_request_start(const char *path, char *err, size_t errlen)
{
	return call(REQ_START, path, err, errlen, -1);
}

int gt_request_stop_for_signal(int64_t timeout_ns)
{
	if (!running || my_pid != getpid() || !gt_ctl_session() || !gt_trylock(&req_lock))
		return -1;
	req.path = NULL;
	req.done = 0;
	__atomic_store_n(&req.op, REQ_EXIT, __ATOMIC_RELEASE);
	wake_buffers();   /* never waits for fd_lock */
	uint64_t t0 = gt_clock_now();
	while (!__atomic_load_n(&req.done, __ATOMIC_ACQUIRE)) {
		int64_t left = timeout_ns - (int64_t)(gt_clock_now() - t0);
		if (left <= 0)
			return -1;   /* req_lock stays held: the process is about to die */
		gt_futex_wait(&req.done, 0, left < 100000000 ? left : 100000000);
	}
	gt_unlock(&req_lock);
	return 0;
}

int gt_request_stop(char *err, size_t errlen, int64_t timeout_ns)
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
		client->shutdown(GT_SHUT_UNLINK | (gt_fdtable_own() ? 0 : GT_SHUT_CLOSE));
	gt_fd_unlock();
	return 1;
}

/* atexit (and _exit): finish the trace, close the endpoint. atexit runs
 * ours after the program's own handlers (ours was registered first). */
static void exit_prepare(void);

/* The program's atexit handlers registered before ours run after it and
 * may read errno. */
void gt_exit_prepare(void)
{
	int saved = errno;

	exit_prepare();
	errno = saved;
}

static void exit_prepare(void)
{
	struct gt_tls *tls = &gt_tls;
	char err[512];

	if (lazy && my_pid == getpid() && gt_door_claim()) {
		/* A client waits and nothing woke the program for it (it blocks
		 * SIGURG, or waited where no kick reaches): exit is a safe point.
		 * The service thread takes the endpoint; a few turns of its loop
		 * (accept, read, reply: one sync each) answer the client; then
		 * the exit goes on as a threaded program's. */
		tls->in_tracer++;
		arm_off();
		lazy_service();
		for (int i = 0; running && i < 4; i++)
			call(REQ_SYNC, NULL, err, sizeof(err), 1000000000ll);
		tls->in_tracer--;
	}
	if (lazy && my_pid == getpid()) {   /* no client came: the socket goes */
		lazy = 0;
		tls->in_tracer++;
		gt_door_stop(0, -1);
		arm_off();
		if (client_ok && client->shutdown)
			client->shutdown(GT_SHUT_UNLINK);
		client_ok = 0;
		tls->in_tracer--;
		return;
	}
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
	if (gt_request_stop(err, sizeof(err), 60ll * 1000000000) && err[0])
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
	if (!ready || running || lazy || my_pid != getpid() || gt_cfg.socket_off)
		return;
	tls->in_tracer++;
	if (endpoint_start())
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
	int shared = !gt_fdtable_own();
	gt_buf_after_fork_child();
	gt_writer_after_fork_child(shared);
	/* The parent's service thread may have held fd_lock at fork (it
	 * holds it while handling clients): reset it before closing. */
	gt_fd_after_fork_child();
	if (lazy) {   /* the doorman is the parent's, and so are its fds */
		gt_door_after_fork_child();
		arm_off();
		shared = 0;
	}
	if (running || lazy) {
		if (client_ok && client->shutdown)
			client->shutdown(shared ? GT_SHUT_CLOSE : 0);
		close(wake_fds[0]);
		close(wake_fds[1]);
		wake_fds[0] = wake_fds[1] = -1;
		running = lazy = 0;
		client_ok = 0;
	}
	gt_fdtable_reset();
	req_lock.word = 0;
	req.op = REQ_NONE;
	if (long_lived && ready && !gt_cfg.socket_off && endpoint_start())
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
	static char path[GT_PATH_MAX] GT_COLD_BSS;
	char err[512];

	if (ready)
		return;
	tls->in_tracer++;
	my_pid = getpid();
	load_cpus_ok = sched_getaffinity(0, sizeof(load_cpus), &load_cpus) == 0;
	gt_config_load();
	gt_thread_init_main();
	gt_stack_thread_init(0);
	if (gt_stack_init())
		gt_log("stack table unavailable: events have no stacks");
	gt_emit_set_drain(gt_writer_drain);
	gt_ctl_set_observer(gt_fatal_arm, gt_fatal_disarm);
	gt_buf_set_waker(wake_buffers);
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	atexit(gt_exit_prepare);
	if (gt_cfg.socket_off && gt_cfg.http[0])
		gt_log("GOTRACE_HTTP=%s: no HTTP endpoint: GOTRACE_SOCKET=off turns the whole "
		       "endpoint off", gt_cfg.http);
	int file = trace_file(path, sizeof(path));
	if (file ? service_start() : !gt_cfg.socket_off && endpoint_start())
		gt_log("cannot start the service thread: tracing disabled");
	ready = 1;
	gt_hook_ready();
	if (file && running) {
		if (gt_ctl_prepare(err, sizeof(err)) || gt_request_start(path, err, sizeof(err)))
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
