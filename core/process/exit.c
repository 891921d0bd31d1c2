/* core/process/exit.c - the process's exit: finish the trace, close the
 * endpoint. */
#include <errno.h>
#include <linux/kcmp.h>
#include <stdio.h>
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
#include "core/process/state.h"
#include "core/record/api.h"
#include "core/process/door.h"
#include "core/process/fdtable.h"
#include "core/process/request.h"
#include "core/prof/prof.h"
#include "core/record/thread.h"
#include "core/write/ctl.h"
#include "core/write/writer.h"

/* A trace, a CPU profile, or a block or mutex profile's window (whose
 * debug_blockProfile waits for its file: written at exit, as the others). */
int gt_exit_work(void)
{
	return gt_ctl_session() || gt_writer_session() || gt_prof_session() ||
	       gt_prof_window(0) || gt_prof_window(1);
}

void gt_fatal_update(void)
{
	static int armed;   /* atomic */
	int want = gt_exit_work();

	if (__atomic_exchange_n(&armed, want, __ATOMIC_ACQ_REL) != want) {
		if (want)
			gt_fatal_arm();
		else
			gt_fatal_disarm();
	}
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
	if (gt_exit_work() || !gt_trylock(&gt_req_lock))
		return 0;
	/* The loop holds fd_lock for a few syscalls, but a writer (a trace
	 * started meanwhile) around a gt_write() that can take long: no wait
	 * without an end here. */
	uint64_t t0 = gt_clock_now();
	while (!gt_fd_trylock()) {
		if (gt_clock_now() - t0 > 100000000ull) {
			gt_unlock(&gt_req_lock);
			return 0;
		}
		gt_usleep(50);
	}
	if (gt_exit_work()) {
		gt_fd_unlock();
		gt_unlock(&gt_req_lock);
		return 0;
	}
	gt_proc.state = GT_PROC_CLOSED;
	/* Our fds are the service thread's to close, or go with its table. */
	if (gt_proc.client_ok && gt_proc.client->shutdown)
		gt_proc.client->shutdown(GT_SHUT_UNLINK | (gt_fdtable_own() ? 0 : GT_SHUT_CLOSE));
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

void gt_exit_on(int status, void *arg)
{
	long pid = gt_raw(SYS_getpid, 0, 0, 0);

	(void)arg;
	/* exit() in a vfork child (after a failed exec: common, if not
	 * allowed) runs the exit handlers in its parent's memory: it used
	 * them up, ours with them, and its parent's exit then left the trace
	 * unfinished (a 1.22 one empty). It ends here as exit's end does:
	 * its streams flushed (fcloseall: glibc's _IO_cleanup, which takes no
	 * lock, where a thread of the parent may hold one) and _exit; ours
	 * registered again for the parent (glibc takes a handler off its list
	 * before it calls it), which keeps the rest of the handlers. */
	if (pid != gt_proc.pid && gt_proc.pid &&
	    gt_raw6(SYS_kcmp, pid, gt_proc.pid, KCMP_VM, 0, 0, 0) == 0) {
		on_exit(gt_exit_on, NULL);
		fcloseall();
		gt_raw(SYS_exit_group, status, 0, 0);
	}
	gt_exit_prepare();
}

static void exit_prepare(void)
{
	struct gt_tls *tls = &gt_tls;
	char err[512];

	if (gt_proc.state == GT_PROC_DOOR && gt_proc.pid == getpid() && gt_door_claim()) {
		/* A client waits and nothing woke the program for it (it blocks
		 * SIGURG, or waited where no kick reaches): exit is a safe point.
		 * The service thread takes the endpoint; a few turns of its loop
		 * (accept, read, reply: one sync each) answer the client; then
		 * the exit goes on as a threaded program's. */
		tls->in_tracer++;
		gt_proc.arm_off();
		gt_proc_lazy_service();
		for (int i = 0; gt_proc.state == GT_PROC_SERVICE && i < 4; i++)
			gt_request_call(REQ_SYNC, NULL, err, sizeof(err), 1000000000ll);
		tls->in_tracer--;
	}
	if (gt_proc.state == GT_PROC_DOOR && gt_proc.pid == getpid()) {   /* no client came: the socket goes */
		gt_proc.state = GT_PROC_CLOSED;
		tls->in_tracer++;
		gt_door_stop(0, -1);
		gt_proc.arm_off();
		if (gt_proc.client_ok && gt_proc.client->shutdown)
			gt_proc.client->shutdown(GT_SHUT_UNLINK);
		gt_proc.client_ok = 0;
		tls->in_tracer--;
		return;
	}
	if (!gt_proc_alive() || gt_proc.pid != getpid())
		return;
	/* Not from a signal handler that interrupted tracer code (fd_lock
	 * may be this thread's, mid-change). */
	if (!tls->in_tracer) {
		tls->in_tracer++;
		int done = exit_idle();
		tls->in_tracer--;
		if (done)
			return;   /* CLOSED */
	}
	/* exit() from a signal handler that interrupted tracer code on this
	 * thread: our record lock may be held by the interrupted frame. */
	if (tls->in_tracer && tls->t)
		__atomic_store_n(&tls->t->abandoned, 1, __ATOMIC_RELEASE);
	tls->in_tracer++;
	if (gt_request_call(REQ_EXIT, NULL, err, sizeof(err), 60ll * 1000000000) && err[0])
		gt_log("%s", err);
	gt_proc.state = GT_PROC_CLOSED;
	tls->in_tracer--;
}
