/* core/process/ns.c - unshare and setns of a one-thread program: the
 * service thread (or the doorman) leaves for the call. */
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
#include "core/process/door.h"
#include "core/process/request.h"
#include "core/record/stack.h"
#include "core/record/thread.h"

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

/* gt_tls directly, not through a pointer: GCC 12's -fsanitize=null checks
 * &gt_tls with the flags of an earlier compare here (lea sets none) and
 * reported a null pointer in the ASan build. */
int gt_ns_prepare(int is_setns, long flags)
{
	char err[64];
	int saved = errno;

	if (!ns_needs_one_thread(is_setns, flags) || gt_tls.in_tracer ||
	    gt_proc.pid != getpid() || gt_thread_program_count() > 1)
		return 0;
	if (gt_proc.state == GT_PROC_DOOR && gt_door_pending()) {
		/* The doorman is a task of the group too: it hands the endpoint to
		 * the wake pair and ends; a service thread takes it after. */
		gt_tls.in_tracer++;
		gt_door_stop(1, gt_proc.wake_fds[0]);
		gt_proc.state = GT_PROC_PARKED;
		gt_proc.arm_off();
		errno = saved;
		return 2;
	}
	if (gt_proc.state != GT_PROC_SERVICE)
		return 0;
	gt_tls.in_tracer++;
	gt_lock(&gt_req_lock);
	if (gt_request_call_locked(REQ_PARK, NULL, err, sizeof(err), -1)) {
		gt_unlock(&gt_req_lock);
		gt_tls.in_tracer--;
		errno = saved;
		return 0;
	}
	/* Its tid only now: a thread just started may not have written it */
	pid_t tid = __atomic_load_n(&gt_proc.tid, __ATOMIC_ACQUIRE);
	gt_thread_tracer_join(gt_proc.th, tid);
	gt_proc.state = GT_PROC_PARKED;
	gt_stack_reap(1000);   /* a stack-table resize: let it finish */
	errno = saved;
	return 1;   /* req_lock and in_tracer stay until gt_ns_done */
}

void gt_ns_done(int parked)
{
	int saved = errno;

	if (!parked)
		return;
	if (parked == 2) {
		gt_proc_lazy_service();
		gt_tls.in_tracer--;
		errno = saved;
		return;
	}
	int r = gt_proc_spawn_taken();
	gt_proc.state = r ? GT_PROC_NONE : GT_PROC_SERVICE;
	if (r) {
		__atomic_store_n(&gt_trace_on, 0, __ATOMIC_RELEASE);
		gt_rec_update();
		gt_log("cannot start the service thread again after unshare/setns: "
		       "no endpoint, tracing stopped");
	}
	gt_unlock(&gt_req_lock);
	gt_tls.in_tracer--;
	errno = saved;
}
