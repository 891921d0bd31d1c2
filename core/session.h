/* core/session.h - what the rest of core asks of the service thread. */
#ifndef GT_SESSION_H
#define GT_SESSION_H

#include <stddef.h>
#include <stdint.h>

/* Ask the service thread to start a trace into path / stop the trace in
 * progress, and wait for it (any program thread, never the service thread).
 * 0, or -1 with err filled; -1 with "no service thread" when it is not
 * running. timeout_ns < 0: wait for ever. */
int gt_session_start_sync(const char *path, char *err, size_t errlen);
int gt_session_stop_sync(char *err, size_t errlen, int64_t timeout_ns);
/* The same from a fatal signal's handler (core/fatal.c): waits for no lock
 * the interrupted code may hold (the request lock is only tried; the
 * service thread is woken without fd_lock, or comes on its 100 ms tick),
 * at most timeout_ns. 0 when the trace was finished. */
int gt_session_stop_for_signal(int64_t timeout_ns);

/* Service thread, every tick while tracing: queue the partial batches of
 * threads that wrote nothing for a while, so the file keeps up and the pool
 * never runs dry while threads sit blocked holding chunks. */
void gt_session_flush_idle(void);

#endif
