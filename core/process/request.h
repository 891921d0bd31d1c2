/* core/process/request.h - what program threads ask of the service thread. */
#ifndef GT_REQUEST_H
#define GT_REQUEST_H

#include <stddef.h>
#include <stdint.h>

/* Ask the service thread to start a trace into path / stop the trace in
 * progress, and wait for it (any program thread, never the service thread).
 * 0, or -1 with err filled; -1 with "no service thread" when it is not
 * running. timeout_ns < 0: wait for ever. */
int gt_request_start(const char *path, char *err, size_t errlen);
int gt_request_stop(char *err, size_t errlen, int64_t timeout_ns);
/* Finish the CPU profile in progress, if any (before an exec: its timers
 * and handler go, and no SIGPROF is left pending for the new image, which
 * SIG_DFL would kill). 0, or -1 with err filled. */
int gt_request_prof_stop(char *err, size_t errlen, int64_t timeout_ns);
/* The same from a fatal signal's handler (core/process/fatal.c): waits for no lock
 * the interrupted code may hold (the request lock is only tried; the
 * service thread is woken without fd_lock, or comes on its 100 ms tick),
 * at most timeout_ns. 0 when the trace was finished. */
int gt_request_stop_for_signal(int64_t timeout_ns);

#endif
