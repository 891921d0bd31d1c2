/* preload/signal.c - the program's signal dispositions, beside the handlers
 * of ours: core/process/fatal.c's while a trace runs, on signals left at
 * SIG_DFL (each call is serialised with ours and shows ours as SIG_DFL),
 * and core/prof/'s SIGPROF while a CPU profile runs (the program is shown
 * its own). Other signals, and our own calls, go to libc untouched. */
#include <errno.h>
#include <signal.h>

#include "core/process/api.h"
#include "core/prof/api.h"
#include "preload/hook.h"

GT_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (__builtin_expect((!gt_fatal_sig(sig) && sig != SIGPROF) || gt_tls.in_tracer, 1))
		return GT_REAL(sigaction)(sig, act, old);
	if (sig == SIGPROF)
		return gt_prof_sigaction(act, old);
	return gt_fatal_sigaction(sig, act, old);
}

GT_EXPORT sighandler_t signal(int sig, sighandler_t h)
{
	if (__builtin_expect((!gt_fatal_sig(sig) && sig != SIGPROF) || gt_tls.in_tracer, 1))
		return GT_REAL(signal)(sig, h);
	if (sig == SIGPROF)
		return gt_prof_signal(h);
	return gt_fatal_signal(sig, h, GT_REAL(signal));
}

/* bsd_signal is signal; sysv_signal and sigset are made of sigaction, as
 * glibc makes them, but through ours: glibc's call its own sigaction, out
 * of our reach, so the program was shown our handler, and a handler it
 * set so was reset to SIG_DFL at a trace's end (raise(SIGTERM) then
 * killed it). */
GT_EXPORT sighandler_t bsd_signal(int sig, sighandler_t h)
{
	return signal(sig, h);
}

GT_EXPORT sighandler_t sysv_signal(int sig, sighandler_t h)
{
	struct sigaction act = { .sa_handler = h }, old;

	if (h == SIG_ERR || sig < 1 || sig >= NSIG) {
		errno = EINVAL;
		return SIG_ERR;
	}
	sigemptyset(&act.sa_mask);
	act.sa_flags = (SA_RESETHAND | SA_NODEFER | SA_INTERRUPT) & ~SA_RESTART;
	return sigaction(sig, &act, &old) < 0 ? SIG_ERR : old.sa_handler;
}

GT_EXPORT sighandler_t sigset(int sig, sighandler_t disp)
{
	struct sigaction act = { .sa_handler = disp }, old;
	sigset_t one, was;

	sigemptyset(&one);
	if (sigaddset(&one, sig) < 0)
		return SIG_ERR;
	if (disp == SIG_HOLD) {
		if (sigprocmask(SIG_BLOCK, &one, &was) < 0)
			return SIG_ERR;
		if (sigismember(&was, sig))
			return SIG_HOLD;
		return sigaction(sig, NULL, &old) < 0 ? SIG_ERR : old.sa_handler;
	}
	sigemptyset(&act.sa_mask);
	if (sigaction(sig, &act, &old) < 0 || sigprocmask(SIG_UNBLOCK, &one, &was) < 0)
		return SIG_ERR;
	return sigismember(&was, sig) ? SIG_HOLD : old.sa_handler;
}

/* The thread's sigaltstack, noted (core/base/tls.h): a recorded call from
 * a handler on it takes no stack (the walk needs more than the few KB an
 * altstack may have: Rust's overflow handler died in it), and select's
 * sets are not read from it before the call. */
GT_EXPORT int sigaltstack(const stack_t *ss, stack_t *old)
{
	int r = GT_REAL(sigaltstack)(ss, old);

	if (r == 0 && ss) {
		int off = ss->ss_flags & SS_DISABLE;
		gt_tls.alt_lo = off ? 0 : (uintptr_t)ss->ss_sp;
		gt_tls.alt_hi = off ? 0 : (uintptr_t)ss->ss_sp + ss->ss_size;
	}
	return r;
}
