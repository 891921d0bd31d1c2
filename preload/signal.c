/* preload/signal.c - the program's signal dispositions, beside the handler
 * core/process/fatal.c sets while a trace runs on signals left at SIG_DFL: each
 * call is serialised with ours and shows ours as SIG_DFL. Other signals,
 * and our own calls, go to libc untouched. */
#include <signal.h>

#include "core/process/api.h"
#include "preload/hook.h"

GT_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	if (__builtin_expect(!gt_fatal_sig(sig) || gt_tls.in_tracer, 1))
		return GT_REAL(sigaction)(sig, act, old);
	return gt_fatal_sigaction(sig, act, old);
}

GT_EXPORT sighandler_t signal(int sig, sighandler_t h)
{
	if (__builtin_expect(!gt_fatal_sig(sig) || gt_tls.in_tracer, 1))
		return GT_REAL(signal)(sig, h);
	return gt_fatal_signal(sig, h, GT_REAL(signal));
}
