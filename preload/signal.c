/* preload/signal.c - the program's signal dispositions, beside the handlers
 * of ours: core/process/fatal.c's while a trace runs, on signals left at
 * SIG_DFL (each call is serialised with ours and shows ours as SIG_DFL),
 * and core/prof/'s SIGPROF while a CPU profile runs (the program is shown
 * its own). Other signals, and our own calls, go to libc untouched. */
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
