/* core/process/request.c - what program threads ask of the service
 * thread (start at load, stop at exit and exec, a sync before dlclose, a
 * park for unshare): one request at a time, answered on its loop. */
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
#include "core/process/fatal.h"
#include "core/process/state.h"
#include "core/record/api.h"
#include "core/process/request.h"
#include "core/write/symbol.h"
#include "core/prof/prof.h"
#include "core/record/emit.h"
#include "core/record/thread.h"
#include "core/write/ctl.h"
#include "core/write/writer.h"

/* One request at a time: req_lock is held by the requester until done. */
struct gt_lock gt_req_lock = GT_LOCK_INIT;
static struct {
	int op;
	const char *path;
	int result;
	char err[512];
	uint32_t done;        /* futex: 0 pending, 1 done */
} req;

/* The process ends: the CPU profile and the trace finished and written,
 * the endpoint's held calls answered and its socket gone. */
/* shut: the endpoint's end (GT_SHUT_CLOSE | GT_SHUT_UNLINK at exit), or
 * GT_SHUT_FLUSH before an exec (kept: the exec may fail). */
static void finish_all(char *err, size_t errlen, int *result, int shut)
{
	/* A CPU profile is written at exit too (its handler must not outlive
	 * us either way); a trace's error is the one said. */
	if (gt_prof_session() && gt_prof_stop(err, errlen))
		gt_log("%s", err);
	err[0] = '\0';
	*result = gt_ctl_session() ? gt_ctl_stop(err, errlen) : 0;
	if (gt_proc.client_ok && gt_proc.client->shutdown)
		gt_proc.client->shutdown(shut);
}

void gt_request_orphaned(void)
{
	char err[512];
	int r;

	if (gt_cfg.debug)
		gt_log("the program's threads left, main by a raw exit: the process ends "
		       "(status 0), as it would without us");
	finish_all(err, sizeof(err), &r, GT_SHUT_CLOSE | GT_SHUT_UNLINK);
	if (r && err[0])
		gt_log("%s", err);
	for (;;)
		gt_raw(SYS_exit_group, 0, 0, 0);
}

/* Returns 1 when the service thread is to end (REQ_PARK). */
int gt_request_handle(void)
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
		finish_all(req.err, sizeof(req.err), &req.result, GT_SHUT_CLOSE | GT_SHUT_UNLINK);
	else if (op == REQ_EXEC)
		finish_all(req.err, sizeof(req.err), &req.result, GT_SHUT_FLUSH);
	else if (op == REQ_PROF_START)
		req.result = gt_prof_start(req.path, req.err, sizeof(req.err)) ? 0 : -1;
	else if (op == REQ_PROF_STOP)
		req.result = gt_prof_session() ? gt_prof_stop(req.err, sizeof(req.err)) : 0;
	else if (op == REQ_SYNC && gt_writer_session()) {
		gt_ctl_flush_idle();
		/* defines (symbolises) every stack seen so far; bounded: busy
		 * threads may fill batches as fast as it writes them */
		gt_writer_drain_until(gt_clock_now() + 1000000000ull);
		req.result = 0;
	} else if (op == REQ_PARK) {
		req.result = 0;
	}
	__atomic_store_n(&req.op, REQ_NONE, __ATOMIC_RELAXED);
	__atomic_store_n(&req.done, 1, __ATOMIC_RELEASE);
	gt_futex_wake(&req.done, 1);
	if (op == REQ_EXIT)
		for (;;)
			gt_pause();   /* the process is exiting: touch nothing more */
	return op == REQ_PARK;
}

/* With req_lock held: 0, -1 (the answer's error in err), or -2 (timed
 * out: req_lock must stay held, the service thread still owns req). */
int gt_request_call_locked(int op, const char *path, char *err, size_t errlen, int64_t timeout_ns)
{
	req.path = path;
	req.done = 0;
	__atomic_store_n(&req.op, op, __ATOMIC_RELEASE);
	gt_proc_wake();
	uint64_t t0 = gt_clock_now();
	while (!__atomic_load_n(&req.done, __ATOMIC_ACQUIRE)) {
		int64_t left = -1;
		if (timeout_ns >= 0) {
			left = timeout_ns - (int64_t)(gt_clock_now() - t0);
			if (left <= 0) {
				/* Leave req_lock held: the request is still owned by the
				 * service thread. Only exit/exec get here. */
				const char *path = gt_ctl_path();
				gt_fmt(err, errlen, "the trace writer did not finish in %llu s "
				       "(a slow reader?): the trace%s%s is cut; gotrace repair keeps "
				       "what was written", (unsigned long long)(timeout_ns / 1000000000),
				       path[0] ? " " : "", path);
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

int gt_request_call(int op, const char *path, char *err, size_t errlen, int64_t timeout_ns)
{
	if (!gt_proc_alive() || gt_proc.pid != getpid()) {
		gt_fmt(err, errlen, "no service thread");
		return -1;
	}
	gt_lock(&gt_req_lock);
	int r = gt_request_call_locked(op, path, err, errlen, timeout_ns);
	if (r != -2)
		gt_unlock(&gt_req_lock);
	return r ? -1 : 0;
}

int gt_request_start(const char *path, char *err, size_t errlen)
{
	return gt_request_call(REQ_START, path, err, errlen, -1);
}

int gt_request_stop_for_signal(int64_t timeout_ns)
{
	if (!gt_proc_alive() || gt_proc.pid != getpid() || !gt_exit_work())
		return -1;
	/* Another thread's signal (two threads crashing at once) or exit may
	 * be finishing it: wait for that, not die under it (6-9 runs in 20
	 * of two threads' aborts lost the trace's end). */
	uint64_t t0 = gt_clock_now();
	while (!gt_trylock(&gt_req_lock)) {
		struct timespec ms = { 0, 1000000 };
		if ((int64_t)(gt_clock_now() - t0) >= timeout_ns)
			return -1;
		gt_raw(SYS_nanosleep, (long)&ms, 0, 0);
	}
	if (!gt_exit_work()) {
		gt_unlock(&gt_req_lock);
		return 0;   /* finished by the other */
	}
	timeout_ns -= (int64_t)(gt_clock_now() - t0);
	req.path = NULL;
	req.done = 0;
	__atomic_store_n(&req.op, REQ_EXIT, __ATOMIC_RELEASE);
	gt_proc_wake_buffers();   /* never waits for fd_lock */
	t0 = gt_clock_now();
	while (!__atomic_load_n(&req.done, __ATOMIC_ACQUIRE)) {
		int64_t left = timeout_ns - (int64_t)(gt_clock_now() - t0);
		if (left <= 0)
			return -1;   /* req_lock stays held: the process is about to die */
		gt_futex_wait(&req.done, 0, left < 100000000 ? left : 100000000);
	}
	gt_unlock(&gt_req_lock);
	return 0;
}

int gt_request_stop(char *err, size_t errlen, int64_t timeout_ns)
{
	return gt_request_call(REQ_STOP, NULL, err, errlen, timeout_ns);
}

int gt_request_prof_stop(char *err, size_t errlen, int64_t timeout_ns)
{
	return gt_request_call(REQ_PROF_STOP, NULL, err, errlen, timeout_ns);
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
	    !gt_proc_alive() || gt_proc.pid != getpid())
		return;
	tls->in_tracer++;
	if (tls->t) {
		gt_lock(&tls->t->lock);
		gt_emit_flush_locked(tls->t);
		gt_unlock(&tls->t->lock);
	}
	gt_request_call(REQ_SYNC, NULL, err, sizeof(err), -1);
	tls->in_tracer--;
	errno = saved;
}

void gt_service_unloaded(void)
{
	gt_stack_forget_code();
	gt_sym_unloaded();
}

/* In a forked child: no request is in progress there. */
void gt_request_after_fork_child(void)
{
	gt_req_lock.word = 0;
	req.op = REQ_NONE;
}
