/* core/format/order.c - see order.h. Follows go1.19 src/internal/trace parser.go
 * (parseEvents: which goroutine an event belongs to) and order.go (order1007,
 * stateTransition). */
#include "core/format/order.h"

#include <stdlib.h>
#include <string.h>

#include "core/format/decode.h"
#include "core/base/log.h"
#include "core/base/real.h"

enum { G_DEAD, G_RUNNABLE, G_RUNNING, G_WAITING };
#define NOSEQ UINT64_MAX

struct gst {
	uint64_t g, seq;
	int st;
	int used;
};

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
	if (n < *cap)
		return 0;
	size_t c = *cap ? *cap * 2 : 64;
	void *q = gt_realloc(*p, c * size);
	if (!q)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

static struct gt_pstream *stream(struct gt_trace *t, uint64_t p)
{
	if (p >= (1u << 20))
		return NULL;
	if (p >= t->np) {
		uint32_t np = (uint32_t)p + 1;
		struct gt_pstream *s = gt_realloc(t->ps, np * sizeof(*s));
		if (!s)
			return NULL;
		memset(s + t->np, 0, (np - t->np) * sizeof(*s));
		t->ps = s;
		t->np = np;
	}
	return &t->ps[p];
}

/* parseEvents: the goroutine an event belongs to, tracked per P. */
static void attribute(struct gt_oev *e, uint64_t *lastg)
{
	e->g = *lastg;
	switch (e->type) {
	case 14: case 41:   /* GoStart, GoStartLabel */
		*lastg = e->args[0];
		e->g = *lastg;
		break;
	case 15: case 16: case 17: case 18: case 19: case 20: case 22: case 23:
	case 24: case 25: case 26: case 27: case 30:   /* GoEnd ... GoSysBlock */
		*lastg = 0;
		break;
	case 29: case 31: case 32:   /* GoSysExit, GoWaiting, GoInSyscall */
		e->g = e->args[0];
		break;
	}
}

/* Pass 1: how many events each P has, how many untimed records: the
 * arrays are then allocated once (no realloc copying big traces). */
static int count(const uint8_t *b, size_t n, struct gt_trace *t, size_t *nuntimed)
{
	struct gt_rec r;
	size_t off = 16;
	int64_t curp = -1;

	*nuntimed = 0;
	while (gt_decode(b, n, &off, &r) == 1) {
		if (r.type == GT_EV_Batch) {
			if (!stream(t, r.args[0]))
				return -1;
			curp = (int64_t)r.args[0];
		} else if (r.type == GT_EV_String || r.type == GT_EV_Stack) {
			(*nuntimed)++;
		} else if (r.type != GT_EV_Frequency) {
			if (curp < 0)
				break;
			t->ps[curp].cap++;
		}
	}
	for (uint32_t p = 0; p < t->np; p++)
		if (t->ps[p].cap && !(t->ps[p].e = gt_malloc(t->ps[p].cap * sizeof(struct gt_oev))))
			return -1;
	t->untimed_cap = *nuntimed;
	t->untimed = gt_malloc((*nuntimed + 1) * sizeof(*t->untimed));
	t->untimed_len = gt_malloc((*nuntimed + 1) * sizeof(*t->untimed_len));
	t->stack_ids = gt_malloc((*nuntimed + 1) * sizeof(*t->stack_ids));
	return t->untimed && t->untimed_len && t->stack_ids ? 0 : -1;
}

int gt_trace_load(const uint8_t *b, size_t n, struct gt_trace *t, char *err, size_t errlen)
{
	struct gt_rec r;
	size_t off = 16, nun;
	int64_t curp = -1;
	uint64_t ts = 0;

	memset(t, 0, sizeof(*t));
	t->size = n;
	if (n < 16 || memcmp(b, GT_TRACE_HEADER, 16) != 0) {
		gt_fmt(err, errlen, "not a Go 1.19 trace");
		return -1;
	}
	if (count(b, n, t, &nun)) {
		gt_fmt(err, errlen, "out of memory");
		return -1;
	}
	while (gt_decode(b, n, &off, &r) == 1) {
		if (r.type == GT_EV_Batch) {
			curp = (int64_t)r.args[0];
			ts = r.args[1];
		} else if (r.type == GT_EV_Frequency) {
			t->freq = r.args[0];
		} else if (r.type == GT_EV_String || r.type == GT_EV_Stack) {
			t->untimed[t->nuntimed] = b + r.off;
			t->untimed_len[t->nuntimed++] = r.size;
			if (r.type == GT_EV_Stack && r.nargs >= 1)
				t->stack_ids[t->nstack_ids++] = r.args[0];
		} else if (curp >= 0 && r.nargs >= 1 && r.nargs <= 6) {
			struct gt_pstream *cur = &t->ps[curp];
			struct gt_oev *e = &cur->e[cur->n++];
			memset(e, 0, sizeof(*e));
			ts += r.args[0];
			e->ts = ts;
			e->type = (uint16_t)r.type;
			e->p = (uint32_t)curp;
			e->nargs = r.nargs - 1;
			memcpy(e->args, r.args + 1, e->nargs * sizeof(uint64_t));
			e->str = r.str;
			e->str_len = r.str_len;
			attribute(e, &cur->lastg);
			if (r.type == GT_EV_Gomaxprocs)
				t->have_gomaxprocs = 1;
			t->events++;
		} else {
			break;   /* a timed event before any batch, or malformed */
		}
		t->valid_end = off;
	}
	if (t->valid_end < 16)
		t->valid_end = 16;
	return 0;
}

/* order.go stateTransition: the goroutine, and its state before/after. */
static int transition(const struct gt_oev *e, uint64_t *g, struct gst *init, struct gst *next)
{
	switch (e->type) {
	case 13:   /* GoCreate */
		*g = e->args[0];
		*init = (struct gst){ 0, 0, G_DEAD, 0 };
		*next = (struct gst){ 0, 1, G_RUNNABLE, 0 };
		return 1;
	case 31: case 32:   /* GoWaiting, GoInSyscall */
		*g = e->g;
		*init = (struct gst){ 0, 1, G_RUNNABLE, 0 };
		*next = (struct gst){ 0, 2, G_WAITING, 0 };
		return 1;
	case 14: case 41:   /* GoStart, GoStartLabel */
		*g = e->g;
		*init = (struct gst){ 0, e->args[1], G_RUNNABLE, 0 };
		*next = (struct gst){ 0, e->args[1] + 1, G_RUNNING, 0 };
		return 1;
	case 19: case 20: case 22: case 23: case 24: case 25: case 26: case 27: case 30:
		*g = e->g;
		*init = (struct gst){ 0, NOSEQ, G_RUNNING, 0 };
		*next = (struct gst){ 0, NOSEQ, G_WAITING, 0 };
		return 1;
	case 17: case 18:   /* GoSched, GoPreempt */
		*g = e->g;
		*init = (struct gst){ 0, NOSEQ, G_RUNNING, 0 };
		*next = (struct gst){ 0, NOSEQ, G_RUNNABLE, 0 };
		return 1;
	case 21: case 29:   /* GoUnblock, GoSysExit */
		*g = e->args[0];
		*init = (struct gst){ 0, e->args[1], G_WAITING, 0 };
		*next = (struct gst){ 0, e->args[1] + 1, G_RUNNABLE, 0 };
		return 1;
	}
	return 0;
}

/* Goroutine states: open addressing on the id. */
struct gmap {
	struct gst *s;
	size_t cap, n;
};

static struct gst *gget(struct gmap *m, uint64_t g)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 1024;
		struct gst *s = gt_calloc(cap, sizeof(*s));
		if (!s)
			return NULL;
		for (size_t i = 0; i < m->cap; i++)
			if (m->s[i].used) {
				size_t j = (m->s[i].g * 0x9e3779b97f4a7c15ull) & (cap - 1);
				while (s[j].used)
					j = (j + 1) & (cap - 1);
				s[j] = m->s[i];
			}
		gt_free(m->s);
		m->s = s;
		m->cap = cap;
	}
	size_t j = (g * 0x9e3779b97f4a7c15ull) & (m->cap - 1);
	while (m->s[j].used && m->s[j].g != g)
		j = (j + 1) & (m->cap - 1);
	if (!m->s[j].used) {
		m->s[j] = (struct gst){ g, 0, G_DEAD, 1 };
		m->n++;
	}
	return &m->s[j];
}

int gt_trace_order(struct gt_trace *t, struct gt_oev ***out, char *err, size_t errlen)
{
	struct gmap gm = { 0 };
	uint64_t last_ts = 0;
	struct gt_oev **m = NULL;
	size_t mcap = 0;
	int ret = 0;

	t->merged = 0;
	for (uint32_t p = 0; p < t->np; p++)
		t->ps[p].kept = 0;
	for (;;) {
		int best = -1;
		struct gst next = { 0 };
		uint64_t bg = 0;
		int has_g = 0, left = 0;
		for (uint32_t p = 0; p < t->np; p++) {
			struct gt_pstream *s = &t->ps[p];
			if (s->kept == s->n)
				continue;
			left = 1;
			struct gt_oev *e = &s->e[s->kept];
			uint64_t g;
			struct gst init, nx;
			int hg = transition(e, &g, &init, &nx);
			if (hg) {
				struct gst *cur = gget(&gm, g);
				if (!cur || (init.seq != NOSEQ && init.seq != cur->seq) || init.st != cur->st)
					continue;
			}
			if (best < 0 || e->ts < t->ps[best].e[t->ps[best].kept].ts) {
				best = (int)p;
				bg = g;
				next = nx;
				has_g = hg;
			}
		}
		if (!left)
			break;
		if (best < 0) {
			gt_fmt(err, errlen, "no consistent ordering of events possible");
			ret = -1;
			break;
		}
		struct gt_oev *e = &t->ps[best].e[t->ps[best].kept];
		if (e->ts < last_ts) {
			gt_fmt(err, errlen, "time stamps out of order");
			ret = -1;
			break;
		}
		last_ts = e->ts;
		if (has_g) {
			struct gst *cur = gget(&gm, bg);
			cur->st = next.st;
			if (next.seq != NOSEQ)
				cur->seq = next.seq;
		}
		t->ps[best].kept++;
		if (out) {
			if (grow((void **)&m, &mcap, t->merged, sizeof(*m)))
				break;
			m[t->merged] = e;
		}
		t->merged++;
	}
	gt_free(gm.s);
	if (out)
		*out = m;
	return ret;
}

void gt_trace_free(struct gt_trace *t)
{
	for (uint32_t p = 0; p < t->np; p++)
		gt_free(t->ps[p].e);
	gt_free(t->ps);
	gt_free(t->untimed);
	gt_free(t->untimed_len);
	gt_free(t->stack_ids);
	memset(t, 0, sizeof(*t));
}
