/* core/process/fork.c - fork: the child drops the parent's trace and
 * endpoint; a long-lived program's children get endpoints of their own. */
#include <errno.h>
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
#include "core/process/state.h"
#include "core/record/api.h"
#include "core/record/bprof.h"
#include "core/record/hprof.h"
#include "core/base/urcu.h"
#include "core/process/door.h"
#include "core/process/fdtable.h"
#include "core/process/request.h"
#include "core/prof/prof.h"
#include "core/record/buf.h"
#include "core/record/stack.h"
#include "core/record/thread.h"
#include "core/write/writer.h"

/* pthread_atfork's three, registered at load (core/process/init.c). */
void gt_proc_fork_prepare(void);
void gt_proc_fork_parent(void);
void gt_proc_fork_child(void);

/* Set by setsid/daemon and by a listen() of the program's, and inherited by
 * fork: a daemon and a server are long-lived, and so are their forked
 * children (a double-forking daemon's second child, a pre-fork server's
 * workers, which accept on the listening socket they inherited): each gets
 * an endpoint of its own, now or at fork. Other forked children (a shell's
 * subshells, fork-then-exec) start none. (gt_proc.long_lived) */

void gt_service_long_lived(void)
{
	struct gt_tls *tls = &gt_tls;
	int saved = errno;

	if (tls->in_tracer)
		return;   /* our own endpoint's listen() */
	gt_proc.long_lived = 1;
	if (!gt_proc.ready || gt_proc.state != GT_PROC_NONE || gt_proc.pid != getpid() || gt_cfg.socket_off)
		return;
	tls->in_tracer++;
	if (gt_proc_endpoint_start())
		gt_log("cannot start the service thread: no endpoint");
	tls->in_tracer--;
	errno = saved;
}

void gt_proc_fork_prepare(void)
{
	int nested = gt_tls.in_tracer != 0;   /* a handler's fork inside tracer code */

	gt_tls.in_tracer++;
	gt_tls.urcu_fork = gt_urcu_fork_hold();   /* no thread inside liburcu-bp's init_lock */
	gt_stack_before_fork();
	if (gt_urcu_ready()) {   /* loaded at the first trace */
		gt_urcu.urcu_bp_call_rcu_before_fork();
		gt_urcu.urcu_bp_before_fork();
	}
	gt_buf_before_fork(nested);
}

void gt_proc_fork_parent(void)
{
	gt_buf_after_fork_parent();
	if (gt_urcu_ready()) {
		gt_urcu.urcu_bp_after_fork_parent();
		gt_urcu.urcu_bp_call_rcu_after_fork_parent();
	}
	gt_stack_after_fork(0);
	if (gt_tls.urcu_fork)
		gt_unlock(&gt_urcu_fork_lock);
	gt_tls.urcu_fork = 0;
	gt_tls.in_tracer--;
}

/* The child has only the forking thread: drop the parent's trace without
 * writing to its file, and all state owned by vanished threads. */
void gt_proc_fork_child(void)
{
	gt_urcu_fork_lock = (struct gt_lock)GT_LOCK_INIT;   /* its waiters are the parent's */
	gt_tls.urcu_fork = 0;
	gt_proc.pid = getpid();
	__atomic_store_n(&gt_trace_on, 0, __ATOMIC_RELAXED);
	gt_rec_update();
	/* Our state first: liburcu's child handler restarts its worker thread
	 * through our pthread_create hook. */
	gt_thread_after_fork_child();
	gt_stack_after_fork(1);
	gt_hprof_after_fork_child();
	if (gt_urcu_ready()) {
		gt_urcu.urcu_bp_after_fork_child();
		gt_urcu.urcu_bp_call_rcu_after_fork_child();
	}
	/* With a table of its own, the service thread's fds (endpoint, trace)
	 * are not in ours: their numbers are the program's here. */
	int shared = !gt_fdtable_own();
	gt_buf_after_fork_child();
	gt_writer_after_fork_child(shared);
	gt_prof_after_fork_child(shared);
	/* The parent's service thread may have held fd_lock at fork (it
	 * holds it while handling clients): reset it before closing. */
	gt_fd_after_fork_child();
	if (gt_proc.state == GT_PROC_DOOR) {   /* the doorman is the parent's, and so are its fds */
		gt_door_after_fork_child();
		gt_proc.arm_off();
		shared = 0;
	}
	if (gt_proc_alive() || gt_proc.state == GT_PROC_DOOR) {
		if (gt_proc.client_ok && gt_proc.client->shutdown)
			gt_proc.client->shutdown(shared ? GT_SHUT_CLOSE : 0);
		gt_close(gt_proc.wake_fds[0]);
		gt_close(gt_proc.wake_fds[1]);
		gt_proc.wake_fds[0] = gt_proc.wake_fds[1] = -1;
		gt_proc.client_ok = 0;
	}
	gt_proc.state = GT_PROC_NONE;
	gt_fdtable_reset();
	gt_request_after_fork_child();
	if (gt_proc.long_lived && gt_proc.ready && !gt_cfg.socket_off && gt_proc_endpoint_start())
		gt_log("cannot start the service thread in a forked server's child: no endpoint");
	gt_tls.in_tracer--;
}
