/* core/process/fatal.h - arming the fatal-signal handlers (why: the
 * preload-facing part in core/process/api.h). */
#ifndef GT_FATAL_H
#define GT_FATAL_H

/* At trace start (arm) and stop. */
void gt_fatal_arm(void);
void gt_fatal_disarm(void);
/* Is there exit work a fatal signal would lose: a trace, a CPU profile, a
 * block or mutex profile's window (core/process/exit.c)? */
int gt_exit_work(void);
/* Armed while there is (the service loop's every turn, a trace's stop):
 * not only for traces. */
void gt_fatal_update(void);
/* A signal about to end the process (our handler's, or the CPU profiler's
 * for a SIGPROF not its own): the trace and profiles finished first. 1
 * when this is our process (not a vfork child): in_tracer left raised. */
int gt_fatal_finish(int sig);

#endif
