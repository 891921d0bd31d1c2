/* core/process/loop.c - the service thread: its poll loop (writer, stack
 * table, the endpoint rpc/ plugs in), the wake pair program threads wake
 * it through, and its start. It runs with every signal blocked and
 * in_tracer set, so it is never traced. */
#include <errno.h>
#include <sys/prctl.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/single_threaded.h>
#include <time.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/fdguard.h"
#include "core/base/lock.h"
#include "core/base/log.h"
#include "core/base/sys.h"
#include "core/process/api.h"
#include "core/process/fatal.h"
#include "core/process/solo.h"
#include "core/process/state.h"
#include "core/record/api.h"
#include "core/process/fdtable.h"
#include "core/process/request.h"
#include "core/prof/prof.h"
#include "core/record/buf.h"
#include "core/record/stack.h"
#include "core/record/thread.h"
#include "core/write/ctl.h"
#include "core/write/writer.h"

/* The one process state (core/process/state.h). */
struct gt_proc gt_proc = { .wake_fds = { -1, -1 } };

void gt_service_set_client(const struct gt_svc_client *c)
{
	gt_proc.client = c;
}

static void wake_locked(void)
{
	char one = 1;
	int saved = errno;

	if (gt_proc.wake_fds[0] >= 0 && gt_write(gt_proc.wake_fds[0], &one, 1) < 0) {
		/* EAGAIN: queue full, the thread is awake anyway */
	}
	errno = saved;
}

/* Requests (start, stop, exit): the requester waits for the answer anyway,
 * and a lost wake-up would leave it waiting for good. */
void gt_proc_wake(void)
{
	gt_fd_lock();
	wake_locked();
	gt_fd_unlock();
}

/* Buffers (a chunk submitted with memory low, a thread at the cap): the
 * thread must not wait behind the writer, which holds fd_lock around its
 * gt_write() of the trace, and a write to a slow disk or a FIFO can take
 * seconds. So it only tries the lock, having set wake_pending first. If the
 * try fails, the holder is the service thread (which reads wake_pending
 * after it lets go and before it polls: seq_cst on both sides, so one of
 * the two sees the other), another thread's wake (which writes), or a
 * dup2 moving our fds, whose wake-up is then at most one tick late (the
 * loop polls with a 100 ms time-out while tracing; a thread at the cap
 * tries again every 50 ms). */
static uint32_t wake_pending;

void gt_proc_wake_buffers(void)
{
	__atomic_store_n(&wake_pending, 1, __ATOMIC_SEQ_CST);
	if (!gt_fd_trylock())
		return;
	__atomic_store_n(&wake_pending, 0, __ATOMIC_RELAXED);
	wake_locked();
	gt_fd_unlock();
}

/* A new service thread after a park tells gt_ns_done whether it has the
 * parked one's fds (core/process/fdtable.c). */
static uint32_t taken;   /* futex: 0 pending, 1 it has its table, 2 failed */

/* The loop's end of the wake pair: in its own table, or the program's. */
static int loop_wake(void)
{
	int fd = gt_fdtable_wake_fd();

	return fd >= 0 ? fd : gt_proc.wake_fds[1];
}

/* fd_lock, for the loop: once exit_idle has closed our fds, it touches
 * nothing more. */
static void fd_lock_open(void)
{
	gt_fd_lock();
	if (gt_proc.state == GT_PROC_CLOSED) {
		gt_fd_unlock();
		for (;;)
			gt_pause();
	}
}

/* Once a second the loop looks whether the program's threads are all
 * gone, ours alone keeping the process (gt_thread_orphaned). */
#define ORPHAN_MS 1000

static void *service_main(void *arg)
{
	struct pollfd pfd[1 + GT_SVC_MAX_FDS];
	uint64_t last_flush = 0, last_orphan = gt_clock_now();

	(void)arg;
	gt_tls.in_tracer = 1;
	/* ps -L, top -H: ours; and `gotrace stop` finds the trace file of the
	 * process in this task's fd table (rpc/cli/cli.c). */
	static const char name[16] = "gotrace";
	gt_syscall(SYS_prctl, PR_SET_NAME, (long)name, 0L, 0L, 0L);
	if (gt_proc.load_cpus_ok)   /* not a pinning the program gave itself since */
		sched_setaffinity(0, sizeof(gt_proc.load_cpus), &gt_proc.load_cpus);
	__atomic_store_n(&gt_proc.tid, gt_gettid(), __ATOMIC_RELEASE);
	gt_thread_tracer_started();
	int table = gt_fdtable_take(gt_proc.wake_fds);
	__atomic_store_n(&taken, table < 0 ? 2 : 1, __ATOMIC_RELEASE);
	gt_futex_wake(&taken, 1);
	if (table < 0)
		return NULL;   /* gt_ns_done says so */
	if (!gt_proc.client_started) {   /* not again when resumed after gt_ns_prepare */
		gt_proc.client_started = 1;
		gt_fd_lock();   /* against exit_idle */
		if (gt_proc.client && gt_proc.client->start && gt_proc.state != GT_PROC_CLOSED)
			gt_proc.client_ok = gt_proc.client->start() == 0;
		gt_fd_unlock();
	}
	for (int more = 0;;) {   /* more: batches left queued last turn */
		gt_solo_begin();
		gt_fatal_update();   /* a profile or window began or ended last turn */
		int timeout = gt_prof_session() ? GT_PROF_TICK_MS : gt_ctl_session() ? 100 : -1;
		timeout = gt_ctl_poll_ms(timeout);   /* a 1.22 trace's next generation */
		/* The TSC's first rate, 10 ms into the first trace, not 100:
		 * hooks pay clock_gettime at both ends of a call until then. */
		int rate = gt_writer_session() ? gt_clock_rate_due_ms() : -1;
		if (rate >= 0 && (timeout < 0 || timeout > rate))
			timeout = rate;
		int solo = gt_solo_retry_ms();
		if (solo >= 0 && (timeout < 0 || timeout > solo))
			timeout = solo;
		if (timeout < 0 || timeout > ORPHAN_MS)
			timeout = ORPHAN_MS;
		int n = 0;

		uint32_t gen = gt_fd_generation();
		pfd[0].fd = loop_wake();
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		if (gt_proc.client_ok && gt_proc.client->poll_fill) {
			fd_lock_open();
			n = gt_proc.client->poll_fill(pfd + 1, GT_SVC_MAX_FDS, &timeout);
			gt_fd_unlock();
		}
		if (__atomic_exchange_n(&wake_pending, 0, __ATOMIC_SEQ_CST) || more)
			timeout = 0;   /* a wake_buffers() found fd_lock taken */
		more = 0;
		if (gt_poll(pfd, (nfds_t)(1 + n), timeout) < 0 && errno != EINTR)
			gt_usleep(10000);
		/* An fd of ours moved out of the program's way meanwhile: these
		 * revents may name its old number, now the program's. */
		if (gt_fd_generation() != gen)
			for (int i = 0; i <= n; i++)
				pfd[i].revents = 0;
		if (pfd[0].revents & POLLIN) {
			char v[64];
			fd_lock_open();
			for (int i = 0; i < 64 && gt_read(loop_wake(), v, sizeof(v)) > 0; i++) {
				/* one byte per wake-up, until EAGAIN */
			}
			gt_fd_unlock();
		}
		if (gt_request_handle()) {   /* parked: state and fds stay for the next one */
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
			if (gt_writer_drain_until(now + 50000000ull))
				more = 1;   /* the next turn at once, requests first */
			gt_ctl_generation();
			gt_buf_reserve();
		}
		gt_prof_drain();
		gt_stack_grow();
		uint64_t now = gt_clock_now();
		if (now - last_orphan >= ORPHAN_MS * 1000000ull) {
			last_orphan = now;
			if (gt_thread_orphaned())
				gt_request_orphaned();
		}
		if (gt_proc.client_ok && gt_proc.client->poll_handle) {
			fd_lock_open();   /* its fds stay put while it handles them */
			gt_proc.client->poll_handle(pfd + 1, n);
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
	int r = gt_pthread_create(&gt_proc.th, &a, service_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&a);
	return r;
}

/* A service thread that is to take fds over (a park's, the doorman's):
 * 0 once it has its table with them, -1 when it could not start or take
 * them (it has ended then). */
int gt_proc_spawn_taken(void)
{
	__atomic_store_n(&taken, 0, __ATOMIC_RELAXED);
	int r = spawn();
	if (!r) {
		uint32_t t;
		while (!(t = __atomic_load_n(&taken, __ATOMIC_ACQUIRE)))
			gt_futex_wait(&taken, 0, -1);
		if (t == 2) {
			gt_thread_tracer_join(gt_proc.th, __atomic_load_n(&gt_proc.tid, __ATOMIC_ACQUIRE));
			r = -1;
		}
	}
	return r;
}

/* The wake pair, ours in the program's table, and a service thread's
 * table from scratch to come. */
int gt_proc_wake_open(void)
{
	if (gt_socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, gt_proc.wake_fds))
		return -errno;
	gt_fd_adopt(&gt_proc.wake_fds[0]);
	gt_fd_adopt(&gt_proc.wake_fds[1]);
	gt_fdtable_reset();
	return 0;
}

void gt_proc_wake_close(void)
{
	for (int i = 0; i < 2; i++) {
		gt_fd_release(&gt_proc.wake_fds[i]);
		gt_close(gt_proc.wake_fds[i]);
		gt_proc.wake_fds[i] = -1;
	}
}

int gt_proc_service_start(void)
{
	int r = gt_proc_wake_open();

	if (r)
		return r;
	gt_proc.client_started = 0;
	r = spawn();
	if (r) {
		gt_proc_wake_close();
		return -r;
	}
	gt_proc.state = GT_PROC_SERVICE;
	return 0;
}
