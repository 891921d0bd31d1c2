/* core/prof/api.h - what preload/ asks of the CPU profiler: the program's
 * own calls about SIGPROF while a profile may run. Every function keeps
 * errno. */
#ifndef GT_PROF_API_H
#define GT_PROF_API_H

#include <signal.h>

/* The program's sigaction(SIGPROF, act, old) / signal(SIGPROF, h). While
 * a profile runs our handler is in place: the program is shown its own
 * disposition, and may change it to SIG_DFL or SIG_IGN (put in place at
 * the profile's end); a handler of its own ends our sampling at once (the
 * profile is written at its stop with what it has) and is installed. With
 * no profile running: the real call. */
int gt_prof_sigaction(const struct sigaction *act, struct sigaction *old);
sighandler_t gt_prof_signal(sighandler_t h);
/* Is si one of our SIGPROFs (this thread's profile timer's, a debug_stacks
 * request's), taken by the program's sigwait family? It is dropped there. */
int gt_prof_signal_ours(const siginfo_t *si);

#endif
