/* core/format/go122.c - the transcoder's input side: each 1.19 event of a
 * thread's P becomes the 1.22 events of its M (the table in
 * docs/go122-trace-format.md 6). The model of what Go 1.22's reader will
 * think (internal/trace/v2/order.go) is kept here: an event that would
 * break it is dropped and counted, never written. */
#include "core/format/go122_int.h"
#include "core/format/encode.h"

#include <string.h>

#include "core/base/real.h"
#include "core/format/events.h"

static struct v2_p *p_get(struct gt_v2 *st, uint32_t p)
{
	if (p >= V2_P_MAX)
		return NULL;
	if (p >= st->np) {
		uint32_t np = st->np ? st->np : 16;
		while (np <= p)
			np *= 2;
		struct v2_p *n = gt_realloc(st->ps, np * sizeof(*n));
		if (!n)
			return NULL;
		memset(n + st->np, 0, (np - st->np) * sizeof(*n));
		st->ps = n;
		st->np = np;
	}
	return &st->ps[p];
}

/* A goroutine's status, written by m at ts: it starts this generation's
 * sequence. */
static void status(struct gt_v2 *st, struct v2_m *m, uint64_t ts, uint64_t id, struct v2_g *g,
		   uint64_t mid, unsigned gs)
{
	v2_emit(st, m, ts, GT_V2_GoStatus, id, mid, gs, 0);
	v2_g_known(st, id, g);
	g->seq = 0;
	g->seqgen = st->gen;
}

/* The snapshot's goroutines (GoCreate before the first Gomaxprocs, with
 * GoWaiting/GoInSyscall): statuses, as the reader's first generation takes
 * them. One in a syscall names its thread when gt_v2_thread told it;
 * otherwise it is shown waiting (its return then is an unblock). This ends
 * the snapshot (also when a trace has no Gomaxprocs: at the first event
 * about a declared goroutine, at the first generation's end). */
void v2_flush_declared(struct gt_v2 *st, struct v2_m *m, uint64_t ts)
{
	st->snapshot_done = 1;
	if (!m && st->status_m)
		m = v2_m_get(st, st->status_m);
	if (!m)
		return;
	for (size_t i = 0; i < st->ndecl; i++) {
		uint64_t id = st->decl[i];
		struct v2_g *g = v2_g_get(st, id);
		if (!g || !g->decl)
			continue;
		g->decl = 0;
		g->st = g->dst;
		if (g->st == G_SYSCALL && g->hint) {
			struct v2_m *gm = v2_m_get(st, g->hint);
			if (gm && !gm->g && !gm->p) {
				g->m = g->hint;
				gm->g = id;
				status(st, gm, ts, id, g, g->hint, GT_V2_GoSyscall);
				continue;
			}
		}
		if (g->st == G_SYSCALL)
			g->st = G_WAITING;
		status(st, m, ts, id, g, GT_V2_NO_THREAD,
		       g->st == G_WAITING ? GT_V2_GoWaiting : GT_V2_GoRunnable);
	}
	st->ndecl = 0;
}

static void declare(struct gt_v2 *st, uint64_t id, struct v2_g *g)
{
	if (g->known || g->decl)
		return;
	if (st->ndecl == st->declcap) {
		size_t cap = st->declcap ? st->declcap * 2 : 64;
		uint64_t *d = gt_realloc(st->decl, cap * sizeof(*d));
		if (!d) {
			st->oom = 1;
			return;
		}
		st->decl = d;
		st->declcap = cap;
	}
	st->decl[st->ndecl++] = id;
	g->decl = 1;
	g->dst = G_RUNNABLE;
}

static void procs_change(struct gt_v2 *st, struct v2_m *m, uint64_t ts)
{
	if (st->procs_pending) {
		v2_emit(st, m, ts, GT_V2_ProcsChange, st->nprocs, 0, 0, 0);
		st->procs_pending = 0;
	}
}

/* P p starts on m (its status first, if this generation has none). */
static void p_start(struct gt_v2 *st, struct v2_p *p, uint32_t pid, struct v2_m *m, uint64_t ts)
{
	if (p->st == P_NONE || p->statusgen != st->gen) {
		v2_emit(st, m, ts, GT_V2_ProcStatus, pid, GT_V2_ProcIdle, 0, 0);
		p->seq = 0;
		p->statusgen = st->gen;
	}
	v2_emit(st, m, ts, GT_V2_ProcStart, pid, ++p->seq, 0, 0);
	p->st = P_RUNNING;
	p->m = m;
	p->last_m = m->id;
	m->p = pid + 1;
}

static void p_stop(struct gt_v2 *st, struct v2_p *p, uint64_t ts)
{
	struct v2_m *m = p->m;

	v2_emit(st, m, ts, GT_V2_ProcStop, 0, 0, 0, 0);
	p->st = P_IDLE;
	p->m = NULL;
	m->p = 0;
	if (!m->g) {   /* the thread is done (or idle): its batch need not wait */
		v2_m_flush(st, m);
		gt_v2_buf_free(&m->buf);
	}
}

static void create(struct gt_v2 *st, struct v2_m *m, uint64_t ts, uint64_t id, uint64_t nstk,
		   uint64_t stk)
{
	struct v2_g *g = v2_g_get(st, id);

	if (g && g->early) {   /* arrival order: its thread's events came first */
		g->early = 0;
		st->early--;
		v2_emit(st, m, ts, GT_V2_GoCreate, id, v2_stk(st, nstk), v2_stk(st, stk), 0);
		return;
	}
	if (!g || g->known || g->decl) {
		st->s.dropped++;
		return;
	}
	v2_emit(st, m, ts, GT_V2_GoCreate, id, v2_stk(st, nstk), v2_stk(st, stk), 0);
	v2_g_known(st, id, g);
	g->st = G_RUNNABLE;
	g->seq = 0;
	g->seqgen = st->gen;
}

/* The goroutine running on m leaves it: blocked (block) or runnable. */
static void g_stop(struct gt_v2 *st, struct v2_m *m, uint64_t ts, int block, unsigned reason,
		   uint64_t stk)
{
	struct v2_g *g = v2_g_get(st, m->g);

	v2_emit(st, m, ts, block ? GT_V2_GoBlock : GT_V2_GoStop, v2_reason_id(st, reason),
		v2_stk(st, stk), 0, 0);
	g->st = block ? G_WAITING : G_RUNNABLE;
	g->m = 0;
	m->g = 0;
}

/* After a syscall's end and its goroutine's start, the transition out of
 * the syscall state that carries a stack: Go 1.23-1.25's profiles skip the
 * stackless GoSyscallEnd*, and would end the syscall at the goroutine's
 * next stacked event. A block whose reason no profile counts, and a
 * stackless unblock (no scheduling latency counted either). */
static void syscall_fix(struct gt_v2 *st, struct v2_m *m, uint64_t ts, uint64_t id,
			struct v2_g *g)
{
	g->fixpend = 0;
	if (st->o.flags & GT_V2_NO_SYSCALL_FIX)
		return;
	v2_emit(st, m, ts, GT_V2_GoBlock, v2_reason_id(st, R_SYSCALL), v2_stk(st, g->fixstk), 0,
		0);
	v2_emit(st, m, ts, GT_V2_GoUnblock, id, ++g->seq, 0, 0);
	v2_emit(st, m, ts, GT_V2_GoStart, id, ++g->seq, 0, 0);
}

static void g_start(struct gt_v2 *st, struct v2_m *m, uint64_t ts, uint64_t id, uint64_t label)
{
	struct v2_g *g = v2_g_get(st, id);

	if (!st->snapshot_done || (g && g->decl))   /* a goroutine runs: no snapshot any more */
		v2_flush_declared(st, m, ts);
	if (g && !g->known && g->st == G_NONE && (st->o.flags & GT_V2_ARRIVAL)) {
		/* Arrival order: the GoCreate is still in its creator's buffer.
		 * Go's reader waits for it (this GoStart's seq needs the
		 * goroutine), as long as it comes in this generation. */
		v2_g_known(st, id, g);
		g->early = 1;
		st->early++;
		g->st = G_RUNNABLE;
		g->seq = 0;
		g->seqgen = st->gen;
	}
	if (!g || !g->known || g->st != G_RUNNABLE || m->g) {
		st->s.dropped++;
		return;
	}
	v2_emit(st, m, ts, GT_V2_GoStart, id, ++g->seq, 0, 0);
	g->st = G_RUNNING;
	g->m = m->id;
	g->hint = m->id;   /* (kept after it stops: its samples' M, at the generation's end) */
	m->g = id;
	if (g->fixpend)
		syscall_fix(st, m, ts, id, g);
	if (label && (g->label != label || g->labelgen != st->gen)) {
		v2_emit(st, m, ts, GT_V2_GoLabel, v2_str(st, label), 0, 0, 0);
		g->label = label;
		g->labelgen = st->gen;
	}
	procs_change(st, m, ts);
}

/* A syscall the goroutine on p's M entered and that did not block
 * (GoSysCall without GoSysBlock): it ends at once. */
static void syscall_end_now(struct gt_v2 *st, struct v2_p *p, uint64_t ts)
{
	struct v2_m *m = p->m;
	struct v2_g *g = m ? v2_g_get(st, m->g) : NULL;

	p->nbsys = 0;
	if (!g || g->st != G_SYSCALL)
		return;
	v2_emit(st, m, ts, GT_V2_GoSyscallEnd, 0, 0, 0, 0);
	g->st = G_RUNNING;
	p->st = P_RUNNING;
	syscall_fix(st, m, ts, m->g, g);
}

/* GoSysExit of goroutine id on p: the end of its blocked syscall, after its
 * thread took p again; or, for one the snapshot showed waiting, an unblock. */
static void sys_exit(struct gt_v2 *st, struct v2_p *p, uint64_t ts, uint64_t id)
{
	struct v2_g *g = v2_g_get(st, id);
	struct v2_m *m = p->m;

	if (g && g->decl)
		v2_flush_declared(st, m, ts);
	if (!g || !m) {
		st->s.dropped++;
		return;
	}
	if (g->st == G_WAITING) {
		v2_emit(st, m, ts, GT_V2_GoUnblock, id, ++g->seq, 0, 0);
		g->st = G_RUNNABLE;
		return;
	}
	if (g->st != G_SYSCALL || m->g != id) {
		st->s.dropped++;
		return;
	}
	if (p->st == P_SYSCALL) {   /* its P was never handed off: hand it now */
		p_stop(st, p, ts);
		p_start(st, p, (uint32_t)(p - st->ps), m, ts);
	}
	v2_emit(st, m, ts, GT_V2_GoSyscallEndBlocked, 0, 0, 0, 0);
	g->st = G_RUNNABLE;
	g->m = 0;
	m->g = 0;
	g->fixpend = g->fixstk != 0;
}

/* The 1.19 block events: GoBlock and GoStop of 1.22, with a reason. */
static int block_reason(unsigned type, int *block)
{
	*block = 1;
	switch (type) {
	case GT_EV_GoStop: return R_FOREVER;
	case GT_EV_GoSleep: return R_SLEEP;
	case GT_EV_GoBlock: return R_NONE;
	case GT_EV_GoBlockSend: return R_CHAN_SEND;
	case GT_EV_GoBlockRecv: return R_CHAN_RECV;
	case GT_EV_GoBlockSelect: return R_SELECT;
	case GT_EV_GoBlockSync: return R_SYNC;
	case GT_EV_GoBlockCond: return R_COND;
	case GT_EV_GoBlockNet: return R_NETWORK;
	}
	*block = 0;
	switch (type) {
	case GT_EV_GoSched: return R_GOSCHED;
	case GT_EV_GoPreempt: return R_PREEMPTED;
	}
	return -1;
}

/* Events that need p's M and its running goroutine. */
static void on_running(struct gt_v2 *st, struct v2_p *p, uint64_t ts, unsigned type,
		       const uint64_t *a, const uint8_t *str, size_t slen)
{
	struct v2_m *m = p->m;
	struct v2_g *g = m && m->g ? v2_g_get(st, m->g) : NULL;
	int block, r = block_reason(type, &block);

	if (!g || g->st != G_RUNNING) {
		st->s.dropped++;
		return;
	}
	if (r >= 0) {
		g_stop(st, m, ts, block, (unsigned)r, a[0]);
	} else if (type == GT_EV_GoEnd) {
		v2_emit(st, m, ts, GT_V2_GoDestroy, 0, 0, 0, 0);
		g->st = G_DEAD;
		g->m = 0;
		m->g = 0;
	} else if (type == GT_EV_GoSysCall) {
		v2_emit(st, m, ts, GT_V2_GoSyscallBegin, ++p->seq, v2_stk(st, a[0]), 0, 0);
		g->st = G_SYSCALL;
		g->fixstk = a[0];
		p->st = P_SYSCALL;
		p->nbsys = 1;
	} else if (type == GT_EV_UserLog) {
		uint8_t *q = gt_v2_buf_room(&st->genstr, 21 + GT_V2_MAX_STRING);
		uint64_t id = gt_v2_tab_newid(&st->strs);
		if (!q) {
			st->oom = 1;
			return;
		}
		st->genstr.len = (size_t)(gt_v2_put_string(q, id, str, slen) - st->genstr.p);
		v2_emit(st, m, ts, GT_V2_UserLog, a[0], v2_str(st, a[1]), id, v2_stk(st, a[2]));
	} else {
		st->s.dropped++;
	}
}

static void heap(struct gt_v2 *st, struct v2_p *p, uint32_t pid, uint64_t ts, unsigned type,
		 uint64_t v)
{
	unsigned t = type == GT_EV_HeapAlloc ? GT_V2_HeapAlloc : GT_V2_HeapGoal;
	struct v2_m *m;

	if (p->m) {
		v2_emit(st, p->m, ts, t, v, 0, 0, 0);
		return;
	}
	/* A counter on a stopped P (the writer's last heap figure, on P 0):
	 * 1.22 wants a P, so its last thread takes it for the moment. */
	m = p->last_m ? v2_m_get(st, p->last_m) : NULL;
	if (!m || m->p) {
		st->s.dropped++;
		return;
	}
	p_start(st, p, pid, m, ts);
	v2_emit(st, m, ts, t, v, 0, 0, 0);
	p_stop(st, p, ts);
}

/* A CPU sample (taken at v[0] on P v[1] by goroutine v[2], stack v[3]):
 * kept for the generation's EvCPUSamples batch, on the M the goroutine
 * last ran on, at its own time (not before the generation's start). */
static void sample(struct gt_v2 *st, const uint64_t *v)
{
	uint8_t *q = gt_v2_buf_room(&st->samples, 1 + 5 * 10);
	struct v2_g *g = v[2] < V2_G_MAX && v[2] < st->gcap ? &st->gs[v[2]] : NULL;
	uint64_t m = g && g->m ? g->m : g && g->hint ? g->hint : GT_V2_NO_THREAD;

	if (!q) {
		st->oom = 1;
		return;
	}
	*q++ = GT_V2_CPUSample;
	q = gt_put_uvarint(q, v[0] > st->gen_ts ? v[0] : st->gen_ts);
	q = gt_put_uvarint(q, m);
	q = gt_put_uvarint(q, v[1]);
	q = gt_put_uvarint(q, v[2]);
	q = gt_put_uvarint(q, v2_stk(st, v[3]));
	st->samples.len = (size_t)(q - st->samples.p);
}

int v2_event(struct gt_v2 *st, uint32_t pid, uint64_t ts, unsigned type, const uint64_t *a,
		 unsigned n, const uint8_t *str, size_t slen)
{
	struct v2_p *p;
	uint64_t v[4] = { 0 };

	memcpy(v, a, (n < 4 ? n : 4) * sizeof(*v));
	if (type == GT_EV_CPUSample) {   /* no P's or goroutine's state */
		sample(st, v);
		return 0;
	}
	p = p_get(st, pid);
	if (!p)
		return st->s.dropped++, 0;
	if (p->nbsys && type != GT_EV_GoSysBlock)
		syscall_end_now(st, p, ts);
	switch (type) {
	case GT_EV_ProcStart: {
		struct v2_m *m = v2_m_get(st, v[0]);
		if (!m)
			return st->oom = 1, -1;
		if (m->p || p->m)
			return st->s.dropped++, 0;
		p_start(st, p, pid, m, ts);
		if (p->pend) {
			p->pend = 0;
			create(st, m, ts, p->pend_g, p->pend_nstk, p->pend_stk);
		}
		return 0;
	}
	case GT_EV_ProcStop:
		if (!p->m)
			return st->s.dropped++, 0;
		p_stop(st, p, ts);
		return 0;
	case GT_EV_GoCreate: {
		struct v2_g *g = v2_g_get(st, v[0]);
		if (!g)
			return st->s.dropped++, 0;
		if (!st->snapshot_done) {
			declare(st, v[0], g);
		} else if (!p->m) {   /* a thread announcing itself: after its ProcStart */
			p->pend = 1;
			p->pend_g = v[0];
			p->pend_nstk = v[1];
			p->pend_stk = v[2];
		} else {
			create(st, p->m, ts, v[0], v[1], v[2]);
		}
		return 0;
	}
	case GT_EV_GoWaiting:
	case GT_EV_GoInSyscall: {
		struct v2_g *g = v2_g_get(st, v[0]);
		if (!g || !g->decl)
			return st->s.dropped++, 0;
		g->dst = type == GT_EV_GoWaiting ? G_WAITING : G_SYSCALL;
		return 0;
	}
	case GT_EV_GoStart:
	case GT_EV_GoStartLabel:
		if (!p->m)
			return st->s.dropped++, 0;
		g_start(st, p->m, ts, v[0], type == GT_EV_GoStartLabel ? v[2] : 0);
		return 0;
	case GT_EV_GoUnblock: {
		struct v2_g *g = v2_g_get(st, v[0]);
		struct v2_m *m = p->m ? p->m : p->last_m ? v2_m_get(st, p->last_m) : NULL;
		if (g && g->decl)
			v2_flush_declared(st, m, ts);
		if (!g || !m || g->st != G_WAITING)
			return st->s.dropped++, 0;
		v2_emit(st, m, ts, GT_V2_GoUnblock, v[0], ++g->seq, v2_stk(st, v[2]), 0);
		g->st = G_RUNNABLE;
		return 0;
	}
	case GT_EV_GoSysBlock:
		p->nbsys = 0;
		return 0;
	case GT_EV_GoSysExit:
		sys_exit(st, p, ts, v[0]);
		return 0;
	case GT_EV_HeapAlloc:
	case GT_EV_HeapGoal:
		heap(st, p, pid, ts, type, v[0]);
		return 0;
	case GT_EV_Gomaxprocs:
		st->nprocs = v[0] ? v[0] : 1;
		st->procs_pending = 1;
		if (!st->snapshot_done)
			v2_flush_declared(st, p->m, ts);
		if (p->m && p->m->g)
			procs_change(st, p->m, ts);
		return 0;
	}
	on_running(st, p, ts, type, v, str, slen);
	return 0;
}
