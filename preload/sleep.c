/* preload/sleep.c - sleeps and waits for signals: sleep events (in no
 * blocking profile; shown on the thread's timeline). libc's sleep and
 * usleep call nanosleep internally, out of our reach, so each is hooked. */
#include <errno.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "core/prof/api.h"
#include "preload/hook.h"

#define SLEEP GT_OP_SLEEP

GT_HOOK_OP(int, nanosleep, (gt_ts req, struct timespec *rem), (req, rem), SLEEP, GT_END_PLAIN)
GT_HOOK_OP(int, clock_nanosleep, (clockid_t c, int f, gt_ts req, struct timespec *rem),
	   (c, f, req, rem), SLEEP, GT_END_PLAIN)
GT_HOOK_OP(int, usleep, (useconds_t us), (us), SLEEP, GT_END_PLAIN)
GT_HOOK_OP(unsigned, sleep, (unsigned s), (s), SLEEP, GT_END_PLAIN)
GT_HOOK_OP(int, pause, (void), (), SLEEP, GT_END_PLAIN)
GT_HOOK_OP(int, sigsuspend, (const sigset_t *m), (m), SLEEP, GT_END_PLAIN)
/* The sigwait family drops our SIGPROFs (a profile's timer, a debug_stacks
 * request) and waits on: a thread that blocks SIGPROF gets no timer
 * (core/prof/sample.c), but one that blocks it after its timer was armed
 * would take them (tini forwards what it takes to its child, whose
 * default for SIGPROF is death). The time left is the timeout's. */
static int wait_sig(const sigset_t *m, siginfo_t *si, gt_ts t)
{
	struct timespec end, left;
	int r;

	/* *t is read only once the kernel took it (a bad pointer: EFAULT,
	 * as without us, not a fault of ours). */
	if (t)
		clock_gettime(CLOCK_MONOTONIC, &end);
	for (gt_ts wait = t;; wait = &left) {
		r = t ? GT_REAL(sigtimedwait)(m, si, wait) : GT_REAL(sigwaitinfo)(m, si);
		if (r != SIGPROF || !gt_prof_signal_ours(si))
			return r;
		if (t && wait == t) {
			end.tv_sec += t->tv_sec + (end.tv_nsec + t->tv_nsec) / 1000000000;
			end.tv_nsec = (end.tv_nsec + t->tv_nsec) % 1000000000;
		}
		if (t) {
			clock_gettime(CLOCK_MONOTONIC, &left);
			long long ns = (long long)(end.tv_sec - left.tv_sec) * 1000000000 +
				       (end.tv_nsec - left.tv_nsec);
			if (ns < 0)
				ns = 0;
			left.tv_sec = (time_t)(ns / 1000000000);
			left.tv_nsec = (long)(ns % 1000000000);
		}
	}
}

/* One hooked wait (fn names it): EINTR waited on again when restart. */
static int wait_op(const sigset_t *m, siginfo_t *i, gt_ts t, uintptr_t fn, int restart)
{
	struct gt_op op;
	siginfo_t own;
	int r;

	gt_op_begin(&op, SLEEP, fn);
	do
		r = wait_sig(m, i ? i : &own, t);
	while (restart && r < 0 && errno == EINTR);
	gt_op_end(&op, fn);
	return r;
}

GT_EXPORT int sigwaitinfo(const sigset_t *m, siginfo_t *i)
{
	return wait_op(m, i, NULL, (uintptr_t)GT_REAL(sigwaitinfo), 0);
}

GT_EXPORT int sigtimedwait(const sigset_t *m, siginfo_t *i, gt_ts t)
{
	return wait_op(m, i, t, (uintptr_t)GT_REAL(sigtimedwait), 0);
}

/* As glibc's: EINTR waits on, the signal's number in *s, an error's; and
 * errno as it leaves it (EINTR after a handler, the error on one). */
GT_EXPORT int sigwait(const sigset_t *m, int *s)
{
	int r = wait_op(m, NULL, NULL, (uintptr_t)GT_REAL(sigwait), 1);

	if (r > 0)
		*s = r;
	return r < 0 ? errno : 0;
}
