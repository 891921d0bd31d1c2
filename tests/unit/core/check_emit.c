/* check_emit.c - core/record/emit.c alone: each test sets a session up as
 * gt_ctl_start does below the writer (pool capped and reserved, gt_trace_on
 * published; P ids from the registry, P 0 being the snapshot's), drives
 * thread records with times of its own, takes the queued chunks as the
 * writer does and decodes every byte: event types, the batch's P, absolute
 * times, goroutine ids and seqs, stack ids; a refused call writes nothing.
 * Each test runs in a process of its own (CK_FORK=yes, unit_env): the pool,
 * the P ids and their last times start fresh. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "core/base/config.h"
#include "core/format/decode.h"
#include "core/record/api.h"
#include "core/record/buf.h"
#include "core/record/emit.h"
#include "core/record/stack.h"
#include "core/record/thread.h"
#include "tests/unit/check_main.h"

#define S 7            /* the session of every test */
#define TID 4242
#define PC 0x401000    /* every record's start routine */
#define SID1 11        /* stack ids of blocking calls, passed through as is */
#define SID2 300       /* (two varint bytes) */
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define NAME(type) (gt_ev_name(type) ? gt_ev_name(type) : "?")

struct ev {
	unsigned type, n;  /* n: values after the time delta (String: its id) */
	uint32_t p;        /* P of the batch */
	uint64_t ts;       /* absolute: the batch's time plus the deltas */
	uint64_t a[4];
	char str[64];      /* String, UserLog */
};

static struct ev evs[8192];
static int nev, nchunks;
static struct {
	uint32_t p, stacks, len, stk[GT_CHUNK_STKS];
	int first;         /* its first event in evs */
	uint64_t ts0;      /* EvBatch time */
} chunks[64];
static uint64_t p_last[64];   /* each P's last time, across its chunks */

/* Decode chunk c into evs: EvBatch(p, ts) first (inline, N = 1), then
 * whole records up to len, each event with its absolute time, which never
 * goes back on a P. NULL, or what is wrong. */
static const char *decode(const struct gt_chunk *c, uint64_t *ts0)
{
	struct gt_rec r;
	size_t off = 0;
	int k;

	if (c->sess != S || c->p >= 64 || gt_decode(c->data, c->len, &off, &r) != 1 ||
	    r.type != GT_EV_Batch || c->data[0] >> 6 != 1 || r.args[0] != c->p)
		return "not the session's, or no EvBatch(its P, ts) first";
	uint64_t ts = *ts0 = r.args[1];
	if (ts < p_last[c->p])
		return "batch starts before its P's last event";
	while ((k = gt_decode(c->data, c->len, &off, &r)) == 1) {
		unsigned timed = r.type != GT_EV_String;
		if (r.type == GT_EV_Batch || r.nargs < timed || r.nargs - timed > 4)
			return "a second batch, or an event of unexpected size";
		if (timed && ts + r.args[0] < ts)
			return "negative time delta";
		struct ev e = { .type = r.type, .p = c->p, .n = r.nargs - timed };
		e.ts = ts += timed ? r.args[0] : 0;
		memcpy(e.a, r.args + timed, e.n * sizeof(uint64_t));
		if (r.str)
			memcpy(e.str, r.str, MIN(r.str_len, sizeof(e.str) - 1));
		if (nev == (int)(sizeof(evs) / sizeof(evs[0])))
			return "too many events";
		evs[nev++] = e;
	}
	p_last[c->p] = ts;
	return k == 0 && off == c->len ? NULL : "malformed record, or len not at a record's end";
}

/* Take every queued chunk as the writer does, decode it, give it back. */
static int take(void)
{
	struct gt_chunk *c;

	nev = nchunks = 0;
	while ((c = gt_buf_take())) {
		ck_assert_int_lt(nchunks, 64);
		chunks[nchunks].p = c->p;
		chunks[nchunks].stacks = c->nstk;
		memcpy(chunks[nchunks].stk, c->stk, sizeof(c->stk));
		chunks[nchunks].len = c->len;
		chunks[nchunks].first = nev;
		const char *err = decode(c, &chunks[nchunks].ts0);
		ck_assert_msg(!err, "chunk %d: %s", nchunks, err);
		nchunks++;
		gt_buf_put(c);
	}
	return nev;
}

struct want {
	unsigned type;
	uint64_t ts;
	unsigned n;
	uint64_t a[3];
};
#define W(ev, ts, n, ...) { GT_EV_##ev, ts, n, { __VA_ARGS__ } }
#define NW(w) ((int)(sizeof(w) / sizeof((w)[0])))
/* A self-announcing enter; the stopper's close of a running goroutine; the
 * group of a blocking call (seq: its GoUnblock's, GoStart's is seq + 1);
 * a syscall's up to its GoSysExit (the P handed off and back). */
#define W_ENTER(ts, g, tid) \
	W(GoCreate, ts, 3, g, start_sid(PC), 0), W(ProcStart, ts, 1, tid), W(GoStart, ts, 2, g, 1)
#define W_CLOSE(ts) W(GoSched, ts, 1, 0), W(ProcStop, ts, 0, 0)
#define W_BLOCK(ev, t0, t1, g, seq, sid) \
	W(ev, t0, 1, sid), W(GoUnblock, t1, 3, g, seq, sid), W(GoStart, t1, 2, g, (seq) + 1)
#define W_SYSCALL(t0, t1, g, seq, sid, tid)                                      \
	W(GoSysCall, t0, 1, sid), W(GoSysBlock, t0, 0, 0), W(ProcStop, t0, 0, 0), \
	W(ProcStart, t1, 1, tid), W(GoSysExit, t1, 3, g, seq, 0)

/* evs[from..from+nw) are exactly w, all on P p. */
static void expect(int from, uint32_t p, const struct want *w, int nw)
{
	ck_assert_int_le(from + nw, nev);
	for (int i = 0; i < nw; i++) {
		const struct ev *e = &evs[from + i];
		ck_assert_msg(e->type == w[i].type && e->n == w[i].n && e->p == p &&
			      e->ts == w[i].ts, "event %d: %s/%u on P %u at %llu, want %s/%u "
			      "on P %u at %llu", from + i, NAME(e->type), e->n, e->p,
			      (unsigned long long)e->ts, NAME(w[i].type), w[i].n, p,
			      (unsigned long long)w[i].ts);
		for (unsigned k = 0; k < w[i].n && k < 3; k++)
			ck_assert_msg(e->a[k] == w[i].a[k], "event %d (%s): arg %u is %llu, "
				      "want %llu", from + i, NAME(e->type), k,
				      (unsigned long long)e->a[k], (unsigned long long)w[i].a[k]);
	}
}

/* gt_ctl_start below the writer: cap the pool (64 chunks: no ulimit -v
 * here), touch the hooks' first chunks, publish the session. */
static void session(void)
{
	gt_cfg.buffer_bytes = 1 << 20;
	gt_buf_limit(SIZE_MAX);
	gt_buf_reserve();
	__atomic_store_n(&gt_trace_on, S, __ATOMIC_RELEASE);
}

/* A record made LIVE as gt_thread_start does; self a made-up pthread_t. */
static struct gt_thread *thread(int32_t tid)
{
	struct gt_thread *t = gt_thread_alloc();

	ck_assert_ptr_nonnull(t);
	gt_lock(&t->lock);
	t->tid = tid;
	t->start_pc = PC;
	t->self = 0x7000 + (uintptr_t)tid;
	t->state = GT_T_LIVE;
	gt_unlock(&t->lock);
	return t;
}

/* The start stack a record announces: its one frame, flag START. */
static uint32_t start_sid(uintptr_t pc)
{
	return gt_stack_intern(&pc, 1, GT_STK_START);
}

/* A blocking call of kind in progress since t0 (op.c's note_op). */
static void pending(struct gt_thread *t, unsigned kind, uint64_t t0, uint64_t sess)
{
	__atomic_store_n(&t->op_t0, t0, __ATOMIC_RELAXED);
	__atomic_store_n(&t->op_sess, sess, __ATOMIC_RELAXED);
	__atomic_store_n(&t->op_kind, kind, __ATOMIC_RELEASE);
}

#define LOCKED(t, expr) ({ gt_lock(&(t)->lock); int r_ = (expr); gt_unlock(&(t)->lock); r_; })
#define ENTER(t, ts) LOCKED(t, gt_emit_enter_locked(t, S, ts))
#define BLOCK(t, k, t0, t1, sid) LOCKED(t, gt_emit_block_locked(t, GT_OP_##k, t0, t1, sid))
#define CREATE(t, c, ssid, sid, ts) LOCKED(t, gt_emit_create_locked(t, c, ssid, sid, ts))
#define HEAP(t, l, p, ts) LOCKED(t, gt_emit_heap_locked(t, l, p, ts))
#define LOG(t, key, sid, msg, ts) LOCKED(t, gt_emit_log_locked(t, key, sid, msg, ts))
#define CLOSE(t, ts) LOCKED(t, (gt_emit_close_locked(t, S, ts), 0))
#define FLUSH(t) LOCKED(t, (gt_emit_flush_locked(t), 0))

/* Refused (-ESRCH) with no session, another session, a record not LIVE,
 * outside a session: nothing written, no P taken. Enter (self-announce:
 * GoCreate with the start stack, ProcStart, GoStart seq 1); a second enter
 * writes nothing; every kind of blocking call; times going back clamped to
 * the P's last. Once stopped (gt_trace_on 0) a thread inside still writes
 * until the stopper closes it (GoSched, ProcStop); then all is refused. */
START_TEST(enter_block_close)
{
	struct gt_thread *t = thread(TID), *e = gt_thread_alloc();
	uint64_t g = t->goid;
	uint32_t np = gt_p_count();

	ck_assert_int_eq(ENTER(t, 1000), -ESRCH);   /* no session */
	session();
	ck_assert_int_eq(LOCKED(t, gt_emit_enter_locked(t, S + 1, 1000)), -ESRCH);
	ck_assert_int_eq(ENTER(e, 1000), -ESRCH);   /* EMBRYO */
	ck_assert_int_eq(BLOCK(t, SYNC, 1000, 1100, SID1), -ESRCH);
	ck_assert_int_eq(CREATE(t, e, 1, SID1, 1000), -ESRCH);
	ck_assert_int_eq(HEAP(t, 1, 1, 1000), -ESRCH);
	ck_assert_int_eq(LOG(t, 1, SID1, "x", 1000), -ESRCH);
	ck_assert(e->decl == GT_DECL_NONE && gt_p_count() == np && !t->chunk && !gt_buf_take());
	ck_assert_int_eq(ENTER(t, 1000), 0);
	uint32_t p = t->ps->id, len = t->chunk->len;
	ck_assert_uint_ne(p, 0);   /* P 0 is the control P's */
	ck_assert_int_eq(ENTER(t, 1050), 0);
	ck_assert(t->chunk->len == len && t->seq == 1);
	ck_assert_int_eq(LOCKED(t, gt_emit_block_locked(t, 0, 1100, 1200, SID1)), -ESRCH);
	ck_assert_int_eq(BLOCK(t, KINDS, 1100, 1200, SID1), -ESRCH);
	ck_assert_int_eq(BLOCK(t, SYNC, 1100, 1300, SID1), 0);
	ck_assert_int_eq(BLOCK(t, NET, 1400, 1500, SID2), 0);
	ck_assert_int_eq(BLOCK(t, SELECT, 1600, 1650, SID1), 0);
	ck_assert_int_eq(BLOCK(t, COND, 1700, 1700, SID2), 0);
	ck_assert_int_eq(BLOCK(t, SLEEP, 1800, 2800, SID1), 0);
	ck_assert_int_eq(BLOCK(t, SYSCALL, 3000, 3500, SID2), 0);
	LOCKED(t, (gt_emit_close_locked(t, S + 1, 3600), 0));   /* not its session */
	ck_assert_uint_eq(t->sess, S);
	__atomic_store_n(&gt_trace_on, 0, __ATOMIC_SEQ_CST);      /* stop */
	ck_assert_int_eq(BLOCK(t, SYNC, 2000, 1000, SID1), 0);   /* before the last */
	ck_assert_int_eq(CLOSE(t, 4000), 0);
	ck_assert(!t->sess && !t->ps && !t->chunk && t->g == GT_G_NONE);
	ck_assert_int_eq(ENTER(t, 4100), -ESRCH);
	ck_assert_int_eq(BLOCK(t, SYNC, 5000, 5100, SID1), -ESRCH);
	ck_assert_int_eq(HEAP(t, 1, 1, 5000), -ESRCH);
	ck_assert_int_eq(LOG(t, 1, SID1, "x", 5000), -ESRCH);
	struct want w[] = {
		W_ENTER(1000, g, TID),
		W_BLOCK(GoBlockSync, 1100, 1300, g, 2, SID1),
		W_BLOCK(GoBlockNet, 1400, 1500, g, 4, SID2),
		W_BLOCK(GoBlockSelect, 1600, 1650, g, 6, SID1),
		W_BLOCK(GoBlockCond, 1700, 1700, g, 8, SID2),
		W_BLOCK(GoSleep, 1800, 2800, g, 10, SID1),
		W_SYSCALL(3000, 3500, g, 12, SID2, TID), W(GoStart, 3500, 2, g, 13),
		W_BLOCK(GoBlockSync, 3500, 3500, g, 14, SID1),
		W_CLOSE(4000),
	};
	ck_assert_int_eq(take(), NW(w));
	ck_assert_int_eq(nchunks, 1);
	ck_assert_uint_eq(chunks[0].ts0, 1000);
	/* The ids the writer has not defined, each once: the start's, then
	 * the waits' two. */
	ck_assert_uint_eq(chunks[0].stacks, 3);
	ck_assert(chunks[0].stk[1] == SID1 && chunks[0].stk[2] == SID2);
	expect(0, p, w, NW(w));
}
END_TEST

/* More new stacks in a batch than it lists: the writer scans it whole. */
START_TEST(many_new_stacks)
{
	session();
	struct gt_thread *t = thread(TID);

	ck_assert_int_eq(ENTER(t, 1000), 0);
	for (uint32_t i = 0; i < GT_CHUNK_STKS + 2; i++)
		ck_assert_int_eq(BLOCK(t, SYNC, 1100 + 100 * i, 1150 + 100 * i, 500 + i % 3), 0);
	ck_assert_int_eq(CLOSE(t, 4000), 0);
	take();
	ck_assert_uint_eq(chunks[0].stacks, 4);   /* the start's and three */
	ck_assert_int_eq(ENTER(t, 5000), 0);
	for (uint32_t i = 0; i < GT_CHUNK_STKS + 2; i++)
		ck_assert_int_eq(BLOCK(t, SYNC, 5100 + 100 * i, 5150 + 100 * i, 600 + i), 0);
	ck_assert_int_eq(CLOSE(t, 9000), 0);
	take();
	ck_assert_uint_eq(chunks[0].stacks, GT_CHUNK_STKS + 1);
}
END_TEST

/* The groups write goid and tid from caches of their uvarints: values of
 * 1 to 4 bytes and past 4 (written as they come), a cache made for
 * another value (a record reused for a thread of another tid). */
START_TEST(group_varint_caches)
{
	session();
	struct gt_thread *t = thread(4194303);   /* pid_max: 4 bytes */
	uint64_t g = t->goid;

	ck_assert_int_eq(ENTER(t, 1000), 0);
	ck_assert_int_eq(BLOCK(t, SYSCALL, 1100, 1200, SID1), 0);
	ck_assert_int_eq(BLOCK(t, SYSCALL, 1300, 1400, SID2), 0);   /* from the cache */
	t->tid = 7;
	ck_assert_int_eq(BLOCK(t, SYSCALL, 1500, 1600, SID1), 0);   /* not its value */
	t->goid = 1ull << 40;                                        /* 6 bytes */
	ck_assert_int_eq(BLOCK(t, SYNC, 1700, 1800, SID2), 0);
	ck_assert_int_eq(BLOCK(t, SYSCALL, 1900, 2000, SID1), 0);
	t->goid = g;
	ck_assert_int_eq(BLOCK(t, NET, 2100, 2200, SID2), 0);
	ck_assert_int_eq(CLOSE(t, 2300), 0);
	struct want w[] = {
		W_ENTER(1000, g, 4194303),
		W_SYSCALL(1100, 1200, g, 2, SID1, 4194303), W(GoStart, 1200, 2, g, 3),
		W_SYSCALL(1300, 1400, g, 4, SID2, 4194303), W(GoStart, 1400, 2, g, 5),
		W_SYSCALL(1500, 1600, g, 6, SID1, 7), W(GoStart, 1600, 2, g, 7),
		W_BLOCK(GoBlockSync, 1700, 1800, 1ull << 40, 8, SID2),
		W_SYSCALL(1900, 2000, 1ull << 40, 10, SID1, 7), W(GoStart, 2000, 2, 1ull << 40, 11),
		W_BLOCK(GoBlockNet, 2100, 2200, g, 12, SID2),
		W_CLOSE(2300),
	};
	ck_assert_int_eq(take(), NW(w));
	expect(0, chunks[0].p, w, NW(w));
}
END_TEST

/* A named thread's label: a String written inline (an id above the
 * writer's) then GoStartLabel; a new name writes a new String. Groups that
 * write a label or a "gotrace.wait" log go event by event, the others in
 * one pass: both write the same events. */
START_TEST(labels_and_wait_log)
{
	session();
	struct gt_thread *t = thread(TID);
	uint64_t g = t->goid;

	gt_thread_named(t->self, "worker");
	ck_assert_int_eq(ENTER(t, 1000), 0);
	ck_assert_int_eq(BLOCK(t, SYSCALL, 1100, 1200, SID1), 0);   /* one pass */
	gt_thread_named(t->self, "w2");
	ck_assert_int_eq(BLOCK(t, SYSCALL, 1300, 1400, SID2), 0);   /* + label */
	t->waited_ns = 2500000;
	ck_assert_int_eq(BLOCK(t, SYNC, 1500, 1600, SID1), 0);      /* + log */
	ck_assert_uint_eq(t->waited_ns, 0);
	ck_assert_int_eq(BLOCK(t, SYNC, 1700, 1800, SID1), 0);      /* one pass */
	ck_assert_int_eq(CLOSE(t, 1900), 0);
	ck_assert_int_eq(take(), 26);
	uint64_t l1 = evs[2].a[0], l2 = evs[15].a[0];
	ck_assert_uint_ge(l1, 1ull << 32);
	ck_assert_uint_gt(l2, l1);
	struct want w[] = {
		W(GoCreate, 1000, 3, g, start_sid(PC), 0), W(ProcStart, 1000, 1, TID),
		W(String, 1000, 1, l1), W(GoStartLabel, 1000, 3, g, 1, l1),
		W_SYSCALL(1100, 1200, g, 2, SID1, TID), W(GoStartLabel, 1200, 3, g, 3, l1),
		W_SYSCALL(1300, 1400, g, 4, SID2, TID),
		W(String, 1400, 1, l2), W(GoStartLabel, 1400, 3, g, 5, l2),
		W(GoBlockSync, 1500, 1, SID1), W(GoUnblock, 1600, 3, g, 6, SID1),
		W(GoStartLabel, 1600, 3, g, 7, l2), W(UserLog, 1600, 3, 0, GT_STR_WAIT, 0),
		W(GoBlockSync, 1700, 1, SID1), W(GoUnblock, 1800, 3, g, 8, SID1),
		W(GoStartLabel, 1800, 3, g, 9, l2), W_CLOSE(1900),
	};
	ck_assert_int_eq(nchunks, 1);
	expect(0, chunks[0].p, w, NW(w));
	ck_assert_str_eq(evs[2].str, "worker");
	ck_assert_str_eq(evs[15].str, "w2");
	ck_assert_str_eq(evs[20].str, "waited 2500 us for the trace writer (buffer cap)");
}
END_TEST

/* GoCreate of a child (its start stack, the creator's stack) declares it
 * runnable: its enter writes no GoCreate, on a P of its own. Heap counters,
 * a user log; a flush queues the batch and the next event opens another on
 * the same P, marked for stack discovery only if it holds a stack id. */
START_TEST(create_heap_log_flush)
{
	session();
	struct gt_thread *t = thread(TID), *c = thread(TID + 1);
	uint64_t g = t->goid, cg = c->goid;

	c->start_pc = PC + 64;
	uint32_t css = gt_emit_start_sid(c);
	ck_assert_uint_eq(css, start_sid(PC + 64));
	ck_assert_int_eq(ENTER(t, 1000), 0);
	ck_assert_int_eq(CREATE(t, c, css, SID1, 1100), 0);
	ck_assert(c->decl == GT_DECL_RUNNABLE && c->decl_sess == S);
	ck_assert_int_eq(HEAP(t, 4096, 8192, 1200), 0);
	ck_assert_int_eq(LOG(t, GT_STR_THREAD_NAME, SID2, "hello", 1300), 0);
	FLUSH(t);
	ck_assert_ptr_null(t->chunk);
	ck_assert_int_eq(HEAP(t, 1, 2, 1400), 0);
	FLUSH(t);
	ck_assert_int_eq(ENTER(c, 1250), 0);
	uint32_t p = t->ps->id, cp = c->ps->id;
	ck_assert_uint_ne(cp, p);
	ck_assert_int_eq(CLOSE(c, 1500), 0);
	ck_assert_int_eq(CLOSE(t, 1500), 0);
	struct want w[] = {
		W_ENTER(1000, g, TID), W(GoCreate, 1100, 3, cg, css, SID1),
		W(HeapAlloc, 1200, 1, 4096), W(HeapGoal, 1200, 1, 8192),
		W(UserLog, 1300, 3, 0, GT_STR_THREAD_NAME, SID2),
		W(HeapAlloc, 1400, 1, 1), W(HeapGoal, 1400, 1, 2),
		W(ProcStart, 1250, 1, TID + 1), W(GoStart, 1250, 2, cg, 1), W_CLOSE(1500),
		W_CLOSE(1500),
	};
	ck_assert_int_eq(take(), NW(w));
	ck_assert_int_eq(nchunks, 4);
	expect(0, p, w, 9);
	expect(9, cp, w + 9, 4);
	expect(13, p, w + 13, 2);
	ck_assert_str_eq(evs[6].str, "hello");
	static const int first[] = { 0, 7, 9, 13 }, stacks[] = { 1, 0, 0, 0 };
	static const uint64_t ts0[] = { 1000, 1400, 1250, 1500 };
	for (int i = 0; i < 4; i++)
		ck_assert(chunks[i].first == first[i] && chunks[i].ts0 == ts0[i] &&
			  !!chunks[i].stacks == stacks[i]);
}
END_TEST

/* A recorded call ends at a TSC time, which may run a little ahead of the
 * clock another thread reads: a thread created just after starts no
 * earlier than the GoCreate that declared it (decl_ts), or Go's parsers
 * would find its start before its creation ("time stamps out of order"). */
START_TEST(child_after_its_create)
{
	session();
	struct gt_thread *t = thread(TID), *c = thread(TID + 1);
	uint64_t g = t->goid, cg = c->goid;

	c->start_pc = PC + 64;
	uint32_t css = gt_emit_start_sid(c);
	ck_assert_int_eq(ENTER(t, 1000), 0);
	ck_assert_int_eq(BLOCK(t, SLEEP, 1100, 5000, SID1), 0);   /* ends ahead */
	ck_assert_int_eq(CREATE(t, c, css, SID2, 1200), 0);   /* clamped to 5000 */
	ck_assert_uint_eq(c->decl_ts, 5000);
	FLUSH(t);
	ck_assert_int_eq(ENTER(c, 1300), 0);   /* the child's clock, behind */
	uint32_t p = t->ps->id, cp = c->ps->id;
	ck_assert_int_eq(CLOSE(c, 6000), 0);
	ck_assert_int_eq(CLOSE(t, 6000), 0);
	struct want w[] = {
		W_ENTER(1000, g, TID), W_BLOCK(GoSleep, 1100, 5000, g, 2, SID1),
		W(GoCreate, 5000, 3, cg, css, SID2),
		W(ProcStart, 5000, 1, TID + 1), W(GoStart, 5000, 2, cg, 1), W_CLOSE(6000),
		W_CLOSE(6000),
	};
	ck_assert_int_eq(take(), NW(w));
	expect(0, p, w, 7);
	expect(7, cp, w + 7, 4);
	expect(11, p, w + 11, 2);
}
END_TEST

/* Threads the start snapshot declared (ctl.c's declare): a waiter's wait
 * ends with a GoUnblock carrying its start stack, a syscall's with a
 * GoSysExit, both seq 2 (after P 0's GoCreate, GoWaiting/GoInSyscall); a
 * declaration of another session is ignored. A released P is reused, its
 * next owner's times starting at its last; exit ends the goroutine. The
 * stopper closes a call in progress as an open-ended wait. */
START_TEST(declared_reuse_exit)
{
	session();
	struct gt_thread *w = thread(TID), *y = thread(TID + 1), *o = thread(TID + 2);
	struct gt_thread *n = thread(TID + 3);
	uint32_t ss = start_sid(PC);

	w->decl = o->decl = GT_DECL_WAITING;
	y->decl = GT_DECL_SYSCALL;
	w->decl_sess = y->decl_sess = S;
	o->decl_sess = S - 1;
	ck_assert(!ENTER(w, 2000) && !ENTER(y, 2000) && !ENTER(o, 2000));
	uint32_t wp = w->ps->id, yp = y->ps->id, op = o->ps->id;
	ck_assert(wp != yp && yp != op && op != wp);
	pending(w, GT_OP_NET, 4000, S - 1);   /* a call of another session's */
	ck_assert_int_eq(CLOSE(w, 5000), 0);
	ck_assert_int_eq(ENTER(n, 100), 0);
	ck_assert_uint_eq(n->ps->id, wp);
	gt_emit_exit(n);
	ck_assert(n->state == GT_T_EXITING && !n->ps && !n->sess);
	pending(y, GT_OP_SYSCALL, 5500, S);
	pending(o, GT_OP_NET, 5800, S);
	ck_assert_int_eq(CLOSE(y, 6000), 0);
	ck_assert_int_eq(CLOSE(o, 6000), 0);
	ck_assert_int_eq(take(), 21);
	ck_assert_int_eq(nchunks, 4);
	uint64_t te = evs[8].ts;   /* exit's time is the clock's */
	ck_assert_uint_gt(te, 5000);
	struct want ww[] = {
		W(ProcStart, 2000, 1, TID), W(GoUnblock, 2000, 3, w->goid, 2, ss),
		W(GoStart, 2000, 2, w->goid, 3), W_CLOSE(5000),
		W_ENTER(5000, n->goid, TID + 3), W(GoEnd, te, 0, 0), W(ProcStop, te, 0, 0),
	}, wy[] = {
		W(ProcStart, 2000, 1, TID + 1), W(GoSysExit, 2000, 3, y->goid, 2, 0),
		W(GoStart, 2000, 2, y->goid, 3), W(GoSysCall, 5500, 1, 0),
		W(GoSysBlock, 5500, 0, 0), W(ProcStop, 5500, 0, 0),
	}, wo[] = {
		W_ENTER(2000, o->goid, TID + 2), W(GoBlockNet, 5800, 1, 0),
		W(ProcStop, 6000, 0, 0),
	};
	expect(0, wp, ww, NW(ww));
	expect(10, yp, wy, NW(wy));
	expect(16, op, wo, NW(wo));
}
END_TEST

static struct gt_chunk *held[128];
static int nheld, drains;

/* The writer's drain at the cap (gt_emit_set_drain): a chunk freed. */
static void drain(void)
{
	drains++;
	if (nheld)
		gt_buf_put(held[--nheld]);
}

static void dry(void) { drains++; }

/* -EAGAIN with the pool dry: nothing written, nothing changed (seq, time,
 * goroutine, a child's declaration), an enter's P given back; the retry
 * with a chunk writes the whole group. The stopper drains. */
START_TEST(pool_dry)
{
	session();
	struct gt_thread *t = thread(TID), *c = thread(TID + 1);
	uint64_t g = t->goid;

	while (nheld < 128 && (held[nheld] = gt_buf_get(0, NULL)))
		nheld++;
	ck_assert_int_eq(nheld, 64);   /* the cap: none free, none queued */
	uint32_t np = gt_p_count();
	ck_assert_int_eq(ENTER(t, 1000), -EAGAIN);
	ck_assert(!t->sess && !t->ps && !t->chunk && t->g == GT_G_NONE);
	gt_buf_put(held[--nheld]);
	ck_assert_int_eq(ENTER(t, 1000), 0);
	ck_assert_uint_eq(gt_p_count(), np + 1);   /* the failed enter's P, reused */
	FLUSH(t);
	ck_assert_int_eq(BLOCK(t, SYNC, 1100, 1200, SID1), -EAGAIN);
	ck_assert_int_eq(CREATE(t, c, 5, SID1, 1100), -EAGAIN);
	ck_assert_int_eq(HEAP(t, 1, 1, 1100), -EAGAIN);
	ck_assert_int_eq(LOG(t, 1, SID1, "x", 1100), -EAGAIN);
	ck_assert(c->decl == GT_DECL_NONE && c->decl_sess == 0);
	ck_assert(t->seq == 1 && t->last_ts == 1000 && t->g == GT_G_RUNNING && !t->chunk);
	ck_assert_int_eq(take(), 3);   /* the enter only; its chunk back to the pool */
	ck_assert_int_eq(BLOCK(t, SYNC, 1100, 1200, SID1), 0);
	FLUSH(t);
	gt_emit_set_drain(drain);
	ck_assert_int_eq(CLOSE(t, 1300), 0);
	ck_assert_int_eq(drains, 1);
	ck_assert_uint_eq(t->sess, 0);
	struct want w[] = { W_BLOCK(GoBlockSync, 1100, 1200, g, 2, SID1), W_CLOSE(1300) };
	ck_assert_int_eq(take(), NW(w));
	ck_assert_int_eq(nchunks, 2);
	expect(0, chunks[0].p, w, NW(w));
	/* Dry for good (every chunk another's current batch): the close ends
	 * after a few drains, t out of the session, its P free; no spinning. */
	ck_assert(ENTER(t, 1400) == 0 && FLUSH(t) == 0 && take() == 3);
	while (nheld < 128 && (held[nheld] = gt_buf_get(0, NULL)))
		nheld++;
	gt_emit_set_drain(dry);
	ck_assert_int_eq(CLOSE(t, 1500), 0);
	ck_assert(drains > 1 && drains < 6 && !t->sess && !t->ps && !t->chunk);
}
END_TEST

/* A chunk is filled to within a group's room, then queued; the next group
 * opens a batch on the same P at its own time (delta 0). No group is split
 * across chunks. */
START_TEST(rollover)
{
	session();
	struct gt_thread *t = thread(TID);
	uint64_t i;

	ck_assert_int_eq(ENTER(t, 1000), 0);
	for (i = 0; i < 100000 && gt_buf_in_use() < 2; i++)
		ck_assert_int_eq(HEAP(t, i, i + 1, 1000 + i), 0);
	FLUSH(t);
	ck_assert_int_eq(take(), 3 + 2 * (int)i);
	ck_assert_int_eq(nchunks, 2);
	ck_assert_uint_eq(chunks[0].p, chunks[1].p);
	ck_assert_uint_le(chunks[0].len, GT_CHUNK_DATA);
	ck_assert_uint_gt(chunks[0].len + 512 + 32, GT_CHUNK_DATA);   /* no room for a group */
	ck_assert_int_eq(chunks[1].first, 3 + 2 * (int)(i - 1));
	ck_assert_uint_eq(chunks[1].ts0, 1000 + i - 1);
	for (uint64_t k = 0; k < i; k++) {
		struct want w[] = { W(HeapAlloc, 1000 + k, 1, k),
				    W(HeapGoal, 1000 + k, 1, k + 1) };
		expect(3 + 2 * (int)k, chunks[0].p, w, 2);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("emit");
	TCase *tc = tcase_create("groups");

	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, enter_block_close);
	tcase_add_test(tc, labels_and_wait_log);
	tcase_add_test(tc, many_new_stacks);
	tcase_add_test(tc, group_varint_caches);
	tcase_add_test(tc, create_heap_log_flush);
	tcase_add_test(tc, child_after_its_create);
	tcase_add_test(tc, declared_reuse_exit);
	tcase_add_test(tc, pool_dry);
	tcase_add_test(tc, rollover);
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
