/* core/record/emit.c - encoding the mapping of go-trace-format.md section 9 into a
 * thread's batch. Callers hold t->lock, so the owner and the service thread
 * never interleave; each group checks for room first, so a group is either
 * written whole or not at all. */
#include "core/record/emit.h"

#include <errno.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "core/record/buf.h"
#include "core/base/clock.h"
#include "core/format/decode.h"
#include "core/format/encode.h"
#include "core/base/log.h"
#include "core/record/stack.h"
#include "core/record/emit_int.h"

static void (*drain_fn)(void);

void gt_emit_set_drain(void (*drain)(void))
{
	drain_fn = drain;
}

/* Make room for need bytes plus a batch header in t's chunk. */
int gt_emit_room_locked(struct gt_thread *t, size_t need)
{
	struct gt_chunk *c = t->chunk;

	if (has_room(t, need))
		return 0;
	struct gt_chunk *n = gt_buf_get(0, NULL);
	if (!n)
		return -EAGAIN;
	if (c)
		gt_buf_submit(c);
	n->sess = t->sess;
	t->chunk = n;
	return 0;
}

void gt_emit_put_locked(struct gt_thread *t, uint64_t ts, unsigned type, unsigned nargs,
			uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct gt_chunk *c = t->chunk;
	uint8_t *p = batch(t, &ts);
	uint64_t v[4];

	v[0] = ts - c->last_ts;
	v[1] = a0;
	v[2] = a1;
	v[3] = a2;
	/* The stack is the last argument (GoCreate: the third as well), as
	 * gt_scan_stacks reads them. */
	if (gt_ev_has_stack[type] && nargs) {
		note_stack(c, v[nargs]);
		if (type == GT_EV_GoCreate && nargs == 3)
			note_stack(c, a1);
	}
	p = gt_put_event(p, type, v, nargs + 1);
	c->last_ts = ts;
	t->last_ts = ts;
	__atomic_store_n(&c->len, (uint32_t)(p - c->data), __ATOMIC_RELEASE);
}

void gt_emit_sample_locked(struct gt_thread *t, uint64_t ts, uint64_t at, uint64_t p,
			   uint64_t goid, uint32_t sid)
{
	struct gt_chunk *c = t->chunk;
	uint8_t *q = batch(t, &ts);
	uint64_t v[5] = { ts - c->last_ts, at, p, goid, sid };

	note_stack(c, sid);
	q = gt_put_event(q, GT_EV_CPUSample, v, 5);
	c->last_ts = ts;
	t->last_ts = ts;
	__atomic_store_n(&c->len, (uint32_t)(q - c->data), __ATOMIC_RELEASE);
}

uint32_t gt_emit_start_sid(struct gt_thread *t)
{
	uint32_t sid = __atomic_load_n(&t->start_sid, __ATOMIC_RELAXED);

	if (sid)
		return sid;
	uintptr_t pc = t->start_pc;
	unsigned flags = GT_STK_START;
	if (t->flags & GT_TF_MAIN)
		flags |= GT_STK_MAIN;
	else if (t->flags & GT_TF_ADOPTED)
		flags |= GT_STK_RET;
	if (!pc)
		pc = 1;   /* main or unknown: the writer names it */
	sid = gt_stack_intern(&pc, 1, flags);
	__atomic_store_n(&t->start_sid, sid, __ATOMIC_RELAXED);
	return sid;
}

/* A "gotrace.wait" log for time spent waiting for the writer. */
static void put_wait_log(struct gt_thread *t, uint64_t ts)
{
	struct gt_chunk *c = t->chunk;
	char msg[96];
	uint64_t v[4];

	size_t len = gt_fmt(msg, sizeof(msg), "waited %llu us for the trace writer (buffer cap)",
			    (unsigned long long)(t->waited_ns / 1000));
	uint8_t *p = batch(t, &ts);
	v[0] = ts - c->last_ts;
	v[1] = 0;
	v[2] = GT_STR_WAIT;
	v[3] = 0;
	p = gt_put_userlog(p, v, msg, len);
	c->last_ts = ts;
	t->last_ts = ts;
	__atomic_store_n(&c->len, (uint32_t)(p - c->data), __ATOMIC_RELEASE);
	t->waited_ns = 0;
}

/* Label strings are written by their threads, inline in their batches, with
 * ids far above the writer's (which count up from 1 in each trace). */
#define LABEL_IDS (1ull << 32)
static uint64_t next_label = LABEL_IDS;   /* atomic */

static uint64_t label(struct gt_thread *t)
{
	if (!t->name[0])
		return known_label(t);
	if (t->label_sess != t->sess) {
		struct gt_chunk *c = t->chunk;
		size_t len = strnlen(t->name, sizeof(t->name));
		t->label_sid = __atomic_fetch_add(&next_label, 1, __ATOMIC_RELAXED);
		uint8_t *p = gt_put_string(c->data + c->len, t->label_sid, t->name, len);
		__atomic_store_n(&c->len, (uint32_t)(p - c->data), __ATOMIC_RELEASE);
		t->label_sess = t->sess;
	}
	return t->label_sid;
}

void gt_emit_start_g(struct gt_thread *t, uint64_t ts)
{
	uint64_t lb = t->chunk->len ? label(t) : 0;

	if (lb)
		gt_emit_put_locked(t, ts, GT_EV_GoStartLabel, 3, t->goid, ++t->seq, lb);
	else
		gt_emit_put_locked(t, ts, GT_EV_GoStart, 2, t->goid, ++t->seq, 0);
	t->g = GT_G_RUNNING;
	if (t->waited_ns)
		put_wait_log(t, ts);
}

int gt_emit_enter_locked(struct gt_thread *t, uint64_t s, uint64_t ts)
{
	if (t->sess == s)
		return 0;
	if (t->state != GT_T_LIVE || t->sess ||
	    __atomic_load_n(&gt_trace_on, __ATOMIC_ACQUIRE) != s)
		return -ESRCH;
	/* The start stack: the new goroutine's of a self-announce, and the
	 * stack of a declared waiter's unblock (see put_unblock). */
	uint32_t ssid = gt_emit_start_sid(t);
	struct gt_pslot *ps = gt_p_acquire();
	if (!ps)
		return -ESRCH;
	__atomic_store_n(&t->sess, s, __ATOMIC_RELAXED);
	if (gt_emit_room_locked(t, GROUP_MAX)) {
		__atomic_store_n(&t->sess, 0, __ATOMIC_RELAXED);
		gt_p_release(ps);
		return -EAGAIN;
	}
	t->ps = ps;
	t->last_ts = ps->last_ts;
	t->seq = 0;
	__atomic_store_n(&t->op_kind, 0, __ATOMIC_RELAXED);
	uint32_t decl = t->decl_sess == s ? t->decl : GT_DECL_NONE;
	if (decl != GT_DECL_NONE && t->last_ts < t->decl_ts)
		t->last_ts = t->decl_ts;   /* after the GoCreate that declared us */
	if (decl == GT_DECL_NONE)   /* self-announce: no goroutine runs on our P yet */
		gt_emit_put_locked(t, ts, GT_EV_GoCreate, 3, t->goid, ssid, 0);
	gt_emit_put_locked(t, ts, GT_EV_ProcStart, 1, (uint64_t)t->tid, 0, 0);
	if (decl == GT_DECL_WAITING)
		gt_emit_put_locked(t, ts, GT_EV_GoUnblock, 3, t->goid, 2, ssid);
	else if (decl == GT_DECL_SYSCALL)
		gt_emit_put_locked(t, ts, GT_EV_GoSysExit, 3, t->goid, 2, 0);
	if (decl == GT_DECL_WAITING || decl == GT_DECL_SYSCALL)
		t->seq = 2;
	gt_emit_start_g(t, ts);
	return 0;
}

int gt_emit_create_locked(struct gt_thread *t, struct gt_thread *child, uint32_t ssid,
			  uint32_t sid, uint64_t ts)
{
	int r;

	if (!t->sess)
		return -ESRCH;
	if ((r = gt_emit_uncut_locked(t, ts, 0)))   /* (a cut's wait it left unseen) */
		return r;
	if (t->g != GT_G_RUNNING)
		return -ESRCH;
	if (gt_emit_room_locked(t, GROUP_MAX))
		return -EAGAIN;
	gt_emit_put_locked(t, ts, GT_EV_GoCreate, 3, child->goid, ssid, sid);
	child->decl_sess = t->sess;
	child->decl = GT_DECL_RUNNABLE;
	child->decl_ts = t->last_ts;   /* (clamped: maybe a TSC time, later than the clock's) */
	return 0;
}

int gt_emit_heap_locked(struct gt_thread *t, uint64_t live, uint64_t peak, uint64_t ts)
{
	if (!t->sess)
		return -ESRCH;
	if (gt_emit_room_locked(t, GROUP_MAX))
		return -EAGAIN;
	gt_emit_put_locked(t, ts, GT_EV_HeapAlloc, 1, live, 0, 0);
	gt_emit_put_locked(t, ts, GT_EV_HeapGoal, 1, peak, 0, 0);
	return 0;
}

int gt_emit_log_locked(struct gt_thread *t, uint64_t key, uint32_t sid, const char *msg,
		       uint64_t ts)
{
	size_t len = strlen(msg);
	uint64_t v[4];
	int r;

	if (!t->sess)
		return -ESRCH;
	if ((r = gt_emit_uncut_locked(t, ts, 0)))
		return r;
	if (t->g != GT_G_RUNNING)
		return -ESRCH;
	if (gt_emit_room_locked(t, GROUP_MAX + len))
		return -EAGAIN;
	struct gt_chunk *c = t->chunk;
	uint8_t *p = batch(t, &ts);
	v[0] = ts - c->last_ts;
	v[1] = 0;
	v[2] = key;
	v[3] = sid;
	note_stack(c, sid);
	p = gt_put_userlog(p, v, msg, len);
	c->last_ts = ts;
	t->last_ts = ts;
	__atomic_store_n(&c->len, (uint32_t)(p - c->data), __ATOMIC_RELEASE);
	return 0;
}

/* Out of the session: the batch queued, the P free. */
static void drop(struct gt_thread *t)
{
	if (t->chunk && t->chunk->len)
		gt_buf_submit(t->chunk);
	else if (t->chunk)
		gt_buf_put(t->chunk);
	t->chunk = NULL;
	t->ps->last_ts = t->last_ts;
	gt_p_release(t->ps);
	t->ps = NULL;
	__atomic_store_n(&t->sess, 0, __ATOMIC_RELAXED);
	t->g = GT_G_NONE;
	__atomic_store_n(&t->cut_kind, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&t->op_kind, 0, __ATOMIC_RELAXED);
}

/* Leave the session: ProcStop unless the P stopped (a syscall's block). */
static void leave(struct gt_thread *t, uint64_t ts, int stopped)
{
	if (!stopped)
		gt_emit_put_locked(t, ts, GT_EV_ProcStop, 0, 0, 0, 0);
	drop(t);
}

static int exit_locked(struct gt_thread *t)
{
	uint64_t s = __atomic_load_n(&gt_trace_on, __ATOMIC_ACQUIRE);
	int r = 0;

	/* Enter first, so a thread the trace declared shows its end. */
	if (s && t->sess != s)
		r = gt_emit_enter_locked(t, s, gt_clock_now());
	if (r == -EAGAIN)
		return r;
	if (!t->sess) {
		t->state = GT_T_EXITING;
		return 0;
	}
	uint64_t ts = gt_clock_now();
	if ((r = gt_emit_uncut_locked(t, ts, 0)) || gt_emit_room_locked(t, GROUP_MAX))
		return -EAGAIN;
	t->state = GT_T_EXITING;
	if (t->g == GT_G_RUNNING)
		gt_emit_put_locked(t, ts, GT_EV_GoEnd, 0, 0, 0, 0);
	leave(t, ts, 0);
	return 0;
}

void gt_emit_exit(struct gt_thread *t)
{
	for (;;) {
		gt_lock(&t->lock);
		int r = exit_locked(t);
		gt_unlock(&t->lock);
		if (r != -EAGAIN)
			return;
		gt_emit_wait(t);
	}
}

void gt_emit_close_locked(struct gt_thread *t, uint64_t s, uint64_t ts)
{
	int dry = 0;

	if (t->sess != s)
		return;
	/* The pool is dry: the writer frees what is queued. When that frees
	 * nothing (every chunk is another thread's current batch: the stopper
	 * queues those first, gt_ctl_stop), the thread leaves unclosed, its
	 * goroutine running to the trace's end (Go reads that too), rather
	 * than the stopper waiting for chunks nobody gives back. */
	while (gt_emit_room_locked(t, GROUP_MAX)) {
		if (!drain_fn || ++dry > 3) {
			drop(t);
			return;
		}
		drain_fn();
	}
	int stopped = 0;
	if (t->cut_kind) {
		/* Still in the wait a cut wrote the start of: it stays open
		 * (as a wait the stop writes, below). Else it ended unseen. */
		if (__atomic_load_n(&t->op_kind, __ATOMIC_ACQUIRE) &&
		    __atomic_load_n(&t->op_t0, __ATOMIC_RELAXED) == t->cut_t0) {
			leave(t, ts, t->cut_kind == GT_OP_SYSCALL);
			return;
		}
		gt_emit_uncut_locked(t, ts, 0);   /* (room made above) */
	}
	if (t->g == GT_G_RUNNING) {
		/* The owner sets these without the lock: kind last (release). */
		uint32_t kind = __atomic_load_n(&t->op_kind, __ATOMIC_ACQUIRE);
		uint64_t t0 = gt_clock_ns_of(__atomic_load_n(&t->op_t0, __ATOMIC_RELAXED));
		if (kind && __atomic_load_n(&t->op_sess, __ATOMIC_RELAXED) == s) {
			gt_emit_put_block(t, kind, t0, 0);   /* open-ended wait */
			stopped = kind == GT_OP_SYSCALL;
		} else {
			gt_emit_put_locked(t, ts, GT_EV_GoSched, 1, 0, 0, 0);
		}
	}
	leave(t, ts, stopped);
}

void gt_emit_flush_locked(struct gt_thread *t)
{
	if (t->chunk && t->chunk->len) {
		gt_buf_submit(t->chunk);
		t->chunk = NULL;
	}
}

void gt_emit_wait(struct gt_thread *t)
{
	uint64_t waited = 0;
	struct gt_chunk *c = gt_buf_get(1, &waited);

	/* We only waited for memory to be free; give the chunk back, the
	 * retry takes one under the lock. */
	if (c) {
		gt_buf_put(c);
	} else {
		/* A raw fork's child (gt_buf_orphaned): it records no more, and
		 * this thread leaves the session, so the retry ends. */
		__atomic_store_n(&gt_trace_on, 0, __ATOMIC_RELEASE);
		__atomic_store_n(&gt_rec_on, 0, __ATOMIC_RELEASE);
		if (t) {
			gt_lock(&t->lock);
			if (t->sess)
				drop(t);
			gt_unlock(&t->lock);
		}
	}
	if (t)
		__atomic_fetch_add(&t->waited_ns, waited, __ATOMIC_RELAXED);
}
