/* core/write/ctl.h - the control API rpc/ uses to start and stop traces.
 * Service thread only: every function here runs on the tracer's service
 * thread (the RPC handlers run there), never on a program thread. */
#ifndef GT_CTL_H
#define GT_CTL_H

#include <stddef.h>
#include <stdint.h>

/* Start a trace into path (absolute, or relative to the process's working
 * directory). The file is created or truncated. Returns the new session id
 * (> 0), or 0 with err filled: "trace already in progress", or the system's
 * reason the file could not be opened ("open /x/y: Permission denied"). */
uint64_t gt_ctl_start(const char *path, char *err, size_t errlen);
/* What a first session needs from the dynamic loader, done once: liburcu,
 * libunwind and libdw dlopened, the allocator asked (dlsym, dladdr). These
 * take the loader's lock, which a dlopen holds while it runs our
 * constructor: so a constructor that starts a trace (GOTRACE_FILE) and waits
 * for the service thread calls this itself first. 0, or -1 with err set. */
int gt_ctl_prepare(char *err, size_t errlen);

/* Stop the trace in progress; returns once the file is complete on disk.
 * 0, or -1 with err filled: "trace not in progress", or the reason the file
 * could not be written ("write /x/y: No space left on device"). */
int gt_ctl_stop(char *err, size_t errlen);

/* The session now recording (0: none). A debug_goTrace holding its reply
 * compares this with the id gt_ctl_start returned to learn that another
 * client stopped its trace early. */
uint64_t gt_ctl_session(void);

/* Path of the trace being written ("" when none). */
const char *gt_ctl_path(void);

/* Every tick while tracing: queue the partial batches of threads that
 * wrote nothing for a while, so the file keeps up and the pool never runs
 * dry while threads sit blocked holding chunks. */
void gt_ctl_flush_idle(void);

/* Every tick while tracing: in a 1.22 trace, end the generation when its
 * time (GOTRACE_GEN_MS) has come (core/write/ctl.c). */
void gt_ctl_generation(void);
/* The loop's poll time-out: timeout (ms, -1 none), shorter when a
 * generation is to end sooner. */
int gt_ctl_poll_ms(int timeout);

/* A CPU profile sample (core/prof: taken at `at` on the trace's P p, ~0
 * none, by goroutine goid, stack pc[0..n) with pc[0] the interrupted
 * instruction) into the trace in progress: 0, or -1 when there is none,
 * it started after the sample, or no room. gt_ctl_cpu_flush queues those
 * written for the writer. */
int gt_ctl_cpu_sample(uint64_t at, uint64_t p, uint64_t goid, const uintptr_t *pc, unsigned n);
void gt_ctl_cpu_flush(void);
/* drain() is called at the start of each stop, while the trace still
 * takes samples (core/prof registers its drain at load). */
void gt_ctl_set_sampler(void (*drain)(void));

/* Calls started() after each trace starts and stopped() when it begins to
 * stop, on the service thread (an upward call: core/process registers its
 * fatal-signal arming at load). */
void gt_ctl_set_observer(void (*started)(void), void (*stopped)(void));

#endif
