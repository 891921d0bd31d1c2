/* core/prof/prof.h - CPU profiles of the running program, as Go's
 * runtime/pprof takes them: each program thread (not the tracer's) sampled
 * by its CPU time, GOTRACE_CPU_HZ times a second of it (per-thread
 * CLOCK_THREAD_CPUTIME_ID timers with SIGEV_THREAD_ID, Go 1.18+'s way:
 * no thread's samples go to another), SIGPROF's handler capturing the
 * stack into the thread's ring (core/prof/sample.c); the service thread
 * aggregates, symbolises and writes a gzip'd pprof profile.proto at the
 * stop. Service thread only (the RPC handlers and the mailbox run there);
 * the program threads' side is core/prof/api.h. */
#ifndef GT_PROF_H
#define GT_PROF_H

#include <stddef.h>
#include <stdint.h>

/* Start a profile into path (absolute, or the process's working
 * directory's), created or truncated first, as geth's StartCPUProfile.
 * The profile's id (> 0), or 0 with err: "CPU profiling already in
 * progress", the system's reason the file could not be opened ("open
 * /x/y: Permission denied"), or why the program's SIGPROF is not ours to
 * take (it handles the signal itself). */
uint64_t gt_prof_start(const char *path, char *err, size_t errlen);

/* End the profile in progress and write it; returns once the file is
 * complete. 0, or -1 with err: "CPU profiling not in progress", or why the
 * file could not be written. */
int gt_prof_stop(char *err, size_t errlen);

/* The profile in progress (0: none). */
uint64_t gt_prof_session(void);

/* Every turn of the service loop while a profile runs: arm the timers of
 * the threads started since the last, and every GT_PROF_DRAIN_MS move the
 * threads' samples out of their rings. How long the loop may sleep
 * meanwhile: GT_PROF_TICK_MS. */
void gt_prof_drain(void);
#define GT_PROF_TICK_MS 10
#define GT_PROF_DRAIN_MS 50

/* Stacks can be taken by hooks from now on (the walks, liburcu, the stack
 * table): 0, or -1 with err. */
int gt_prof_stacks_ready(char *err, size_t errlen);

/* Block and mutex profiles (which: GT_BPROF_BLOCK, GT_BPROF_MUTEX of
 * core/record/bprof.h). Go's SetBlockProfileRate(ns) and
 * SetMutexProfileFraction(n) (<= 0: off): 0, or -1 with err. */
int gt_prof_set_rate(unsigned which, int64_t rate, char *err, size_t errlen);
/* The profile's counts so far into path (created or truncated), as Go's
 * pprof.Lookup("block"/"mutex").WriteTo: 0, or -1 with err. */
int gt_prof_write_counts(unsigned which, const char *path, char *err, size_t errlen);
/* debug_blockProfile's window: rate 1 from now; its id (> 0), or 0 with
 * err ("block profiling already in progress"). Its stop writes the counts
 * into path and puts the rate from before back: 0, or -1 with err. */
uint64_t gt_prof_window_start(unsigned which, const char *path, char *err, size_t errlen);
int gt_prof_window_stop(unsigned which, char *err, size_t errlen);
uint64_t gt_prof_window(unsigned which);   /* the window in progress, 0 none */

/* The heap profile: sample one allocation per rate bytes (0: stop), the
 * walks and the stack table made ready first; and the profile written to
 * path, as Go's pprof.Lookup("heap").WriteTo (sampling starts there when
 * nothing started it). 0, or -1 with err. */
int gt_prof_mem_start(int64_t rate, char *err, size_t errlen);
int gt_prof_mem_write(const char *path, char *err, size_t errlen);

/* debug_stacks: every program thread's state and stack as text, in the
 * layout of Go's goroutine dump (core/prof/stacks.c). The text (gt_free
 * it) and its length, or NULL with err. */
char *gt_stacks_dump(size_t *len, char *err, size_t errlen);

/* The thread observer (core/record/thread.h), registered at load: a
 * thread that starts while a profile runs gets its timer; one that ends
 * loses it. */
struct gt_thread;
void gt_prof_thread_started(struct gt_thread *t);
/* A waiting thread's frames walked from outside by libunwind (peek.c),
 * from the frame record at fp, its stack [fp, hi) read directly: for a
 * 1.22 generation's cut (gt_stack_set_peeker). Service thread. */
int gt_prof_peek_record(uintptr_t fp, uintptr_t hi, uintptr_t *pc, int max);
/* Set once at load (core/process/init.c): what a SIGPROF not ours calls
 * before it ends the process by the program's SIG_DFL (the trace and the
 * profile finished: core/process/fatal.c's gt_fatal_finish). */
void gt_prof_set_dying(int (*finish)(int sig));
void gt_prof_thread_exiting(struct gt_thread *t);

/* In a forked child: no profile runs there (the timers were the
 * parent's); the program's SIGPROF disposition is put back. close_fd: the
 * profile's fd is in this table (the service thread shared it). */
void gt_prof_after_fork_child(int close_fd);

#endif
