/* core/record/emit.h - the event groups a thread writes into its own P (and that
 * the service thread writes for it at trace stop). All *_locked functions
 * run under t->lock; they return 0, -EAGAIN when the pool had no chunk
 * (nothing written: release the lock, gt_emit_wait(), retry), or -ESRCH when
 * the session is gone (nothing to write). */
#ifndef GT_EMIT_H
#define GT_EMIT_H

#include <stddef.h>
#include <stdint.h>

#include "core/format/events.h"
#include "core/record/thread.h"

/* Low level, for the control P of the start snapshot: make room for need
 * bytes (0 or -EAGAIN), append one event (at most 3 args). */
int gt_emit_room_locked(struct gt_thread *t, size_t need);
void gt_emit_put_locked(struct gt_thread *t, uint64_t ts, unsigned type, unsigned nargs,
			uint64_t a0, uint64_t a1, uint64_t a2);

/* CPUSample at ts (when written) of a sample taken at `at` on P p (~0:
 * none) by goroutine goid, stack sid (room: 64 bytes). */
void gt_emit_sample_locked(struct gt_thread *t, uint64_t ts, uint64_t at, uint64_t p,
			   uint64_t goid, uint32_t sid);

/* Enter session s at ts: P, ProcStart, and per the declaration GoCreate
 * (self-announce), GoUnblock/GoSysExit, then GoStart. 0 if already in. */
int gt_emit_enter_locked(struct gt_thread *t, uint64_t s, uint64_t ts);

/* The same from t's own SIGPROF handler, interrupting code of the
 * program's (never ours): a thread that computes enters the trace at its
 * first sample. Never waits: -EBUSY when the lock is taken (the service
 * thread's), -EAGAIN when the pool is dry. */
int gt_emit_enter_try(struct gt_thread *t, uint64_t s);

/* A blocking call of kind that waited from t0 to t1, stack sid. */
int gt_emit_block_locked(struct gt_thread *t, unsigned kind, uint64_t t0, uint64_t t1,
			 uint32_t sid);

/* GoCreate for child (goid, start stack ssid), creator stack sid. */
int gt_emit_create_locked(struct gt_thread *t, struct gt_thread *child, uint32_t ssid,
			  uint32_t sid, uint64_t ts);

/* Heap counter: HeapAlloc(live), HeapGoal(peak). */
int gt_emit_heap_locked(struct gt_thread *t, uint64_t live, uint64_t peak, uint64_t ts);
/* UserLog(task 0, key, stack) + message. */
int gt_emit_log_locked(struct gt_thread *t, uint64_t key, uint32_t sid, const char *msg,
		       uint64_t ts);

/* Thread exit: enter if needed, GoEnd, ProcStop, queue the batch, free the
 * P. Takes the lock; waits for the writer when needed. */
void gt_emit_exit(struct gt_thread *t);

/* Trace stop (service thread, t->lock held or t abandoned): close the
 * thread's goroutine (pending block or GoSched), ProcStop, queue the batch. */
void gt_emit_close_locked(struct gt_thread *t, uint64_t s, uint64_t ts);

/* The kind the end of t's call in progress (op_kind) would give it (a
 * socket's read is a net wait...), for a cut or a cancellation, which
 * have no end; 0 when not known. */
unsigned gt_emit_kind_of(const struct gt_thread *t, unsigned kind);
/* A 1.22 generation's cut (service thread, lock held): a wait t is in
 * since at least the threshold and 1 ms is written as begun (its block
 * events at its start, the stack walked from its hook's record), so that
 * the generation holds its start: Go's readers count a wait from its block
 * event, and a start written at the wait's end, in a later generation,
 * was clamped to that generation's start. Nothing when its stack is not
 * known exact (or no room): the wait is then written whole at its end. */
void gt_emit_cut_locked(struct gt_thread *t, uint64_t s);
/* The owner, when t->cut_kind: the end of the cut's wait at ts (t runs
 * again). 0 or -EAGAIN. */
int gt_emit_uncut_locked(struct gt_thread *t, uint64_t ts, uint32_t sid);

/* Queue t's partial batch for the writer (service thread, lock held). */
void gt_emit_flush_locked(struct gt_thread *t);

/* The start stack id of t (interned on first use). */
uint32_t gt_emit_start_sid(struct gt_thread *t);

/* Wait (no lock held) until the pool has a chunk; the wait is counted and
 * later shown in the trace as a "gotrace.wait" log on the thread. */
void gt_emit_wait(struct gt_thread *t);

/* Run expr (an emit *_locked call) under t's lock; while the pool is dry,
 * wait for the writer outside the lock and retry. */
#define GT_LOCKED_RETRY(t, expr)                   \
	do {                                       \
		int r_;                            \
		for (;;) {                         \
			gt_lock(&(t)->lock);       \
			r_ = (expr);               \
			gt_unlock(&(t)->lock);     \
			if (r_ != -EAGAIN)         \
				break;             \
			gt_emit_wait(t);           \
		}                                  \
	} while (0)

/* Service thread hook used when it runs out of chunks while closing. */
void gt_emit_set_drain(void (*drain)(void));

#endif
