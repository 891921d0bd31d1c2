/* core/fatal.h - a trace that a fatal signal ends is finished first. While
 * a trace runs, each signal whose default action ends the process and
 * whose disposition is SIG_DFL gets a handler of ours: it asks the service
 * thread to finish the trace (every thread's goroutine closed: Go
 * 1.19-1.22's viewer refuses a file with one still running), then puts
 * SIG_DFL back and raises the signal again, so the process dies as it
 * would have, by the same signal. The program never sees the handler: its
 * sigaction and signal calls (the hooks) report SIG_DFL where ours sits,
 * and any disposition it sets replaces ours. */
#ifndef GT_FATAL_H
#define GT_FATAL_H

#include <signal.h>

typedef int (*gt_sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef void (*(*gt_signal_fn)(int, void (*)(int)))(int);

/* The real sigaction, from the constructor (preload/). */
void gt_fatal_init(gt_sigaction_fn real);

/* Service thread, at trace start / stop. */
void gt_fatal_arm(void);
void gt_fatal_disarm(void);

/* Could sig carry our handler? (a cheap test for the hooks) */
static inline int gt_fatal_sig(int sig)
{
	switch (sig) {
	case SIGHUP: case SIGINT: case SIGQUIT: case SIGTERM: case SIGPIPE: case SIGALRM:
	case SIGUSR1: case SIGUSR2:
		return 1;
	}
	return 0;
}

/* The program's sigaction(sig, act, old) / signal(sig, h) with
 * gt_fatal_sig(sig): real's result, with ours shown as SIG_DFL. */
int gt_fatal_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
void (*gt_fatal_signal(int sig, void (*h)(int), gt_signal_fn real))(int);

#endif
