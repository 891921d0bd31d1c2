/* core/format/go122_gen.c - the transcoder's output side: each thread's (M's)
 * batch, the statuses that open a generation, and its end: the batches,
 * then the stacks and strings it named, then its frequency
 * (docs/go122-trace-format.md 3-5). */
#include "core/format/go122_int.h"

#include <string.h>

#include "core/base/real.h"
#include "core/format/encode.h"

const char *const v2_reason[R_COUNT] = {
	[R_NONE] = "",
	[R_FOREVER] = "forever",
	[R_PREEMPTED] = "preempted",
	[R_GOSCHED] = "runtime.Gosched",
	[R_SLEEP] = "sleep",
	[R_CHAN_SEND] = "chan send",
	[R_CHAN_RECV] = "chan receive",
	[R_NETWORK] = "network",
	[R_SYNC] = "sync",
	[R_COND] = "sync.(*Cond).Wait",
	[R_SELECT] = "select",
	[R_SYSCALL] = "syscall",
};

static void put_header(struct gt_v2 *st)
{
	uint8_t *p;

	if (st->header_done)
		return;
	if (!(p = gt_v2_buf_room(st->out, GT_V2_HEADER_LEN))) {
		st->oom = 1;
		return;
	}
	memcpy(p, GT_V2_HEADER, GT_V2_HEADER_LEN);
	st->out->len += GT_V2_HEADER_LEN;
	st->s.bytes += GT_V2_HEADER_LEN;
	st->header_done = 1;
}

static void put_batch(struct gt_v2 *st, uint64_t m, uint64_t ts, const uint8_t *d, size_t len)
{
	size_t before;

	put_header(st);
	before = st->out->len;
	if (gt_v2_put_batch(st->out, st->gen, m, ts, d, len))
		st->oom = 1;
	st->s.bytes += st->out->len - before;
	st->s.batches++;
}

struct v2_m *v2_m_get(struct gt_v2 *st, uint64_t id)
{
	if ((st->mn + 1) * 2 > st->mcap) {
		size_t cap = st->mcap ? st->mcap * 2 : 256;
		struct v2_mslot *h = gt_calloc(cap, sizeof(*h));
		if (!h)
			return NULL;
		for (size_t i = 0; i < st->mcap; i++) {
			if (!st->mh[i].m)
				continue;
			size_t j = (size_t)(st->mh[i].id * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);
			while (h[j].m)
				j = (j + 1) & (cap - 1);
			h[j] = st->mh[i];
		}
		gt_free(st->mh);
		st->mh = h;
		st->mcap = cap;
	}
	size_t j = (size_t)(id * 0x9e3779b97f4a7c15ull >> 20) & (st->mcap - 1);
	while (st->mh[j].m && st->mh[j].id != id)
		j = (j + 1) & (st->mcap - 1);
	if (!st->mh[j].m) {
		struct v2_m *m = gt_calloc(1, sizeof(*m));
		if (!m)
			return NULL;
		m->id = id;
		st->mh[j] = (struct v2_mslot){ id, m };
		st->mn++;
		if (!st->status_m)
			st->status_m = id;
	}
	return st->mh[j].m;
}

struct v2_g *v2_g_get(struct gt_v2 *st, uint64_t g)
{
	if (g == 0 || g >= V2_G_MAX)
		return NULL;
	if (g >= st->gcap) {
		uint64_t cap = st->gcap ? st->gcap : 1024;
		while (cap <= g)
			cap *= 2;
		struct v2_g *n = gt_realloc(st->gs, cap * sizeof(*n));
		if (!n)
			return NULL;
		memset(n + st->gcap, 0, (cap - st->gcap) * sizeof(*n));
		st->gs = n;
		st->gcap = cap;
	}
	if (g > st->max_g)
		st->max_g = g;
	return &st->gs[g];
}

void v2_g_known(struct gt_v2 *st, uint64_t id, struct v2_g *g)
{
	if (g->known)
		return;
	if (st->nlive == st->livecap) {
		size_t cap = st->livecap ? st->livecap * 2 : 256;
		uint64_t *l = gt_realloc(st->live, cap * sizeof(*l));
		if (!l) {
			st->oom = 1;
			return;
		}
		st->live = l;
		st->livecap = cap;
	}
	st->live[st->nlive++] = id;
	g->known = 1;
}

void v2_m_flush(struct gt_v2 *st, struct v2_m *m)
{
	if (!m->dirty)
		return;
	if (m->buf.len)
		put_batch(st, m->id, m->batch_ts, m->buf.p, m->buf.len);
	m->buf.len = 0;
	/* Out of the open list: the last one takes its place. */
	struct v2_m *last = st->dirty[--st->ndirty];
	st->dirty[m->dirty - 1] = last;
	last->dirty = m->dirty;
	m->dirty = 0;
	m->batch_gen = 0;
}

static int open_batch(struct gt_v2 *st, struct v2_m *m, uint64_t ts)
{
	if (st->ndirty == st->dirtycap) {
		size_t cap = st->dirtycap ? st->dirtycap * 2 : 64;
		struct v2_m **d = gt_realloc(st->dirty, cap * sizeof(*d));
		if (!d)
			return -1;
		st->dirty = d;
		st->dirtycap = cap;
	}
	st->dirty[st->ndirty++] = m;
	m->dirty = (uint32_t)st->ndirty;
	m->batch_gen = st->gen;
	m->batch_ts = ts;
	m->last_ts = ts;
	return 0;
}

void v2_emit(struct gt_v2 *st, struct v2_m *m, uint64_t ts, unsigned type, uint64_t a,
	     uint64_t b, uint64_t c, uint64_t d)
{
	uint64_t v[5];
	uint8_t *p;

	if (!m || st->oom)
		return;
	if (ts < m->last_ts)
		ts = m->last_ts;
	/* Every event a time of its own, in the order written: Go's reader
	 * (1.22-1.26 reader.go) tries the earliest M first, then the others
	 * sorted by time from the second on, so of two Ms tied at the head
	 * the one that must go first can be skipped ("failed to advance"). */
	if (!(st->o.flags & GT_V2_ARRIVAL)) {
		if (ts <= st->emit_ts)
			ts = st->emit_ts + 1;
		st->emit_ts = ts;
	}
	if (m->dirty && m->buf.len + GT_V2_EVENT_MAX > GT_V2_MAX_BATCH)
		v2_m_flush(st, m);
	if (!m->dirty && open_batch(st, m, ts)) {
		st->oom = 1;
		return;
	}
	if (!(p = gt_v2_buf_room(&m->buf, GT_V2_EVENT_MAX))) {
		st->oom = 1;
		return;
	}
	v[0] = ts - m->last_ts;
	v[1] = a;
	v[2] = b;
	v[3] = c;
	v[4] = d;
	m->buf.len = (size_t)(gt_v2_put_event(p, type, v) - m->buf.p);
	m->last_ts = ts;
	st->s.events_out++;
}

uint64_t v2_reason_id(struct gt_v2 *st, unsigned r)
{
	if (r == R_NONE || r >= R_COUNT)
		return 0;
	if (!st->reason_gid[r])
		st->reason_gid[r] = gt_v2_tab_newid(&st->strs);
	return st->reason_gid[r];
}

uint64_t v2_str(struct gt_v2 *st, uint64_t id)
{
	uint64_t g = gt_v2_tab_ref(&st->strs, id, st->gen);

	if (id && !g)
		st->oom = 1;
	return g;
}

uint64_t v2_stk(struct gt_v2 *st, uint64_t id)
{
	uint64_t g = gt_v2_tab_ref(&st->stks, id, st->gen);

	if (id && !g)
		st->oom = 1;
	return g;
}

void v2_statuses(struct gt_v2 *st, uint64_t ts)
{
	struct v2_m *sm = st->status_m ? v2_m_get(st, st->status_m) : NULL;

	for (uint32_t i = 0; i < st->np; i++) {
		struct v2_p *p = &st->ps[i];
		if (p->st == P_NONE)
			continue;
		if (p->m)
			v2_emit(st, p->m, ts, GT_V2_ProcStatus, i,
				p->st == P_SYSCALL ? GT_V2_ProcSyscall : GT_V2_ProcRunning, 0, 0);
		else
			v2_emit(st, sm, ts, GT_V2_ProcStatus, i, GT_V2_ProcIdle, 0, 0);
		p->seq = 0;
		p->statusgen = st->gen;
	}
	size_t k = 0;
	for (size_t i = 0; i < st->nlive; i++) {
		uint64_t id = st->live[i];
		struct v2_g *g = &st->gs[id];
		if (g->st == G_DEAD || g->st == G_NONE)
			continue;
		st->live[k++] = id;
		switch (g->st) {
		case G_RUNNING:
			v2_emit(st, v2_m_get(st, g->m), ts, GT_V2_GoStatus, id, g->m, GT_V2_GoRunning,
				0);
			break;
		case G_SYSCALL:
			/* On its own M, before that M's exit from the syscall:
			 * from another, the reader may take the exit first (the
			 * runtime writes it on the M too). */
			v2_emit(st, v2_m_get(st, g->m), ts, GT_V2_GoStatus, id, g->m,
				GT_V2_GoSyscall, 0);
			break;
		default:
			v2_emit(st, sm, ts, GT_V2_GoStatus, id, GT_V2_NO_THREAD,
				g->st == G_WAITING ? GT_V2_GoWaiting : GT_V2_GoRunnable, 0);
		}
		g->seq = 0;
		g->seqgen = st->gen;
	}
	st->nlive = k;
	st->procs_pending = st->nprocs != 0;
	st->need_status = 0;
}

/* ---- the end of a generation ---- */

/* tmp holds a string or stack batch being built (its first byte the
 * batch's kind); rec is one record for it. */
static void batch_add(struct gt_v2 *st, uint8_t kind, const uint8_t *rec, size_t len,
		      uint64_t ts)
{
	struct gt_v2_buf *b = &st->tmp;
	uint8_t *p;

	if (b->len && b->len + len > GT_V2_MAX_BATCH) {
		put_batch(st, GT_V2_NO_THREAD, ts, b->p, b->len);
		b->len = 0;
	}
	if (!(p = gt_v2_buf_room(b, 1 + len))) {
		st->oom = 1;
		return;
	}
	if (!b->len)
		*p++ = kind, b->len++;
	memcpy(p, rec, len);
	b->len += len;
}

static void batch_end(struct gt_v2 *st, uint64_t ts)
{
	if (st->tmp.len)
		put_batch(st, GT_V2_NO_THREAD, ts, st->tmp.p, st->tmp.len);
	st->tmp.len = 0;
}

/* One stack of the generation: its 1.19 frames (nframes, then pc, func,
 * file, line each), their strings named, at most GT_V2_MAX_FRAMES. An
 * undefined or malformed one is written with the frames that decode. */
static void put_stack(struct gt_v2 *st, uint64_t id, uint64_t gid, uint64_t ts)
{
	const struct gt_v2_ent *e = gt_v2_tab_get(&st->stks, id);
	uint64_t f[GT_V2_MAX_FRAMES][4], n = 0, k = 0;
	uint8_t rec[1 + 20 + GT_V2_MAX_FRAMES * 40], *q = rec;
	size_t o = 0, len = e && e->defined ? e->len : 0;
	const uint8_t *d = len ? st->stks.data.p + e->off : NULL;

	if (d && gt_get_uvarint(d, len, &o, &n))
		n = 0;
	for (; k < n && k < GT_V2_MAX_FRAMES; k++)
		if (gt_get_uvarint(d, len, &o, &f[k][0]) || gt_get_uvarint(d, len, &o, &f[k][1]) ||
		    gt_get_uvarint(d, len, &o, &f[k][2]) || gt_get_uvarint(d, len, &o, &f[k][3]))
			break;
	*q++ = GT_V2_Stack;
	q = gt_put_uvarint(q, gid);
	q = gt_put_uvarint(q, k);
	for (uint64_t i = 0; i < k; i++) {
		q = gt_put_uvarint(q, f[i][0]);
		q = gt_put_uvarint(q, v2_str(st, f[i][1]));
		q = gt_put_uvarint(q, v2_str(st, f[i][2]));
		q = gt_put_uvarint(q, f[i][3]);
	}
	batch_add(st, GT_V2_Stacks, rec, (size_t)(q - rec), ts);
}

static void put_str(struct gt_v2 *st, uint64_t id, const void *s, size_t len, uint64_t ts)
{
	uint8_t rec[21 + GT_V2_MAX_STRING];

	batch_add(st, GT_V2_Strings, rec, (size_t)(gt_v2_put_string(rec, id, s, len) - rec), ts);
}

static void put_freq(struct gt_v2 *st, uint64_t ts)
{
	uint8_t b[11], *e = b;

	*e++ = GT_V2_Frequency;
	e = gt_put_uvarint(e, st->freq);
	put_batch(st, GT_V2_NO_THREAD, ts, b, (size_t)(e - b));
}

int gt_v2_generation_end(struct gt_v2 *st, struct gt_v2_buf *out)
{
	uint64_t ts = st->last_ts;

	st->out = out;
	if (!st->gen_open)
		return st->oom || out->oom ? -1 : 0;
	if (!st->snapshot_done)   /* declared goroutines get their status in generation 1 */
		v2_flush_declared(st, NULL, ts);
	while (st->ndirty)
		v2_m_flush(st, st->dirty[st->ndirty - 1]);
	/* CPU samples: records of a type byte and five uvarints (ts, M, P, G,
	 * stack). One whose goroutine's M was not known when it came (its
	 * thread's first batch of the generation later than the sample: the
	 * first 0.4-1 s of a profile) takes the M known now: without one, Go
	 * 1.23's thread view leaves it out. */
	for (size_t o = 0; o < st->samples.len;) {
		size_t e = o + 1;
		uint64_t x[5] = { 0 };
		for (int k = 0; k < 5; k++)
			if (gt_get_uvarint(st->samples.p, st->samples.len, &e, &x[k]))
				e = st->samples.len;
		struct v2_g *g = x[3] < V2_G_MAX && x[3] < st->gcap ? &st->gs[x[3]] : NULL;
		uint64_t m = g && g->m ? g->m : g && g->hint ? g->hint : 0;
		if (x[1] == GT_V2_NO_THREAD && m) {
			uint8_t rec[1 + 5 * 10], *q = rec;
			*q++ = GT_V2_CPUSample;
			x[1] = m;
			for (int k = 0; k < 5; k++)
				q = gt_put_uvarint(q, x[k]);
			batch_add(st, GT_V2_CPUSamples, rec, (size_t)(q - rec), ts);
		} else {
			batch_add(st, GT_V2_CPUSamples, st->samples.p + o, e - o, ts);
		}
		o = e;
	}
	batch_end(st, ts);
	st->samples.len = 0;
	/* Stacks first: they name strings. Ids: this generation's, in order. */
	for (size_t i = 0; i < st->stks.nrefs; i++)
		put_stack(st, st->stks.refs[i], i + 1, ts);
	batch_end(st, ts);
	for (size_t i = 0; i < st->strs.nrefs; i++) {
		const struct gt_v2_ent *e = gt_v2_tab_get(&st->strs, st->strs.refs[i]);
		if (e && e->defined)
			put_str(st, e->gid, st->strs.data.p + e->off, e->len, ts);
		else if (e)
			put_str(st, e->gid, "?", 1, ts);
	}
	for (unsigned r = 1; r < R_COUNT; r++)
		if (st->reason_gid[r])
			put_str(st, st->reason_gid[r], v2_reason[r], strlen(v2_reason[r]), ts);
	/* The log messages: EvString records already. */
	for (size_t o = 0; o < st->genstr.len;) {
		size_t e = o + 1, k = 0;
		uint64_t id, len;
		if (gt_get_uvarint(st->genstr.p, st->genstr.len, &e, &id) ||
		    gt_get_uvarint(st->genstr.p, st->genstr.len, &e, &len))
			break;
		k = e + (size_t)len - o;
		batch_add(st, GT_V2_Strings, st->genstr.p + o, k, ts);
		o += k;
	}
	batch_end(st, ts);
	put_freq(st, ts);
	gt_v2_tab_reset(&st->stks);
	gt_v2_tab_reset(&st->strs);
	st->genstr.len = 0;
	memset(st->reason_gid, 0, sizeof(st->reason_gid));
	st->s.generations++;
	st->gen++;
	st->gen_open = 0;
	st->need_status = 1;
	return st->oom || out->oom ? -1 : 0;
}

int gt_v2_finish(struct gt_v2 *st, struct gt_v2_buf *out)
{
	st->out = out;
	if (st->gen_open)
		return gt_v2_generation_end(st, out);
	if (!st->s.generations) {   /* no event at all: one readable generation */
		put_freq(st, st->last_ts);
		st->s.generations++;
	}
	return st->oom || out->oom ? -1 : 0;
}
