/* tracecheck.c - see tracecheck.h. Follows go1.19 src/internal/trace
 * parser.go (parseEvents), order.go (order1007, stateTransition) and
 * postProcessTrace, restricted to the events libgotrace writes. */
#include "tracecheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/decode.h"
#include "core/log.h"

enum { G_DEAD, G_RUNNABLE, G_RUNNING, G_WAITING };
#define NOSEQ UINT64_MAX
#define MAXG (1u << 20)
#define MAXP 4096

struct ev {
	uint64_t ts, g, args[4];
	unsigned type, p;
};

struct gst {
	uint64_t seq;
	int st;
};

static int fail(struct tc_result *r, const char *msg, uint64_t a, uint64_t b)
{
	gt_fmt(r->err, sizeof(r->err), "%s (%llu, %llu)", msg, (unsigned long long)a,
	       (unsigned long long)b);
	return -1;
}

/* g, init and next state of an event (order.go stateTransition). */
static int transition(const struct ev *e, uint64_t *g, struct gst *init, struct gst *next)
{
	switch (e->type) {
	case GT_EV_GoCreate:
		*g = e->args[0];
		*init = (struct gst){ 0, G_DEAD };
		*next = (struct gst){ 1, G_RUNNABLE };
		return 1;
	case GT_EV_GoWaiting:
	case GT_EV_GoInSyscall:
		*g = e->g;
		*init = (struct gst){ 1, G_RUNNABLE };
		*next = (struct gst){ 2, G_WAITING };
		return 1;
	case GT_EV_GoStart:
	case GT_EV_GoStartLabel:
		*g = e->g;
		*init = (struct gst){ e->args[1], G_RUNNABLE };
		*next = (struct gst){ e->args[1] + 1, G_RUNNING };
		return 1;
	case GT_EV_GoBlock: case GT_EV_GoBlockSend: case GT_EV_GoBlockRecv:
	case GT_EV_GoBlockSelect: case GT_EV_GoBlockSync: case GT_EV_GoBlockCond:
	case GT_EV_GoBlockNet: case GT_EV_GoSleep: case GT_EV_GoSysBlock:
		*g = e->g;
		*init = (struct gst){ NOSEQ, G_RUNNING };
		*next = (struct gst){ NOSEQ, G_WAITING };
		return 1;
	case GT_EV_GoSched:
	case GT_EV_GoPreempt:
		*g = e->g;
		*init = (struct gst){ NOSEQ, G_RUNNING };
		*next = (struct gst){ NOSEQ, G_RUNNABLE };
		return 1;
	case GT_EV_GoUnblock:
	case GT_EV_GoSysExit:
		*g = e->args[0];
		*init = (struct gst){ e->args[1], G_WAITING };
		*next = (struct gst){ e->args[1] + 1, G_RUNNABLE };
		return 1;
	}
	return 0;
}

static int ready(const struct gst *cur, const struct gst *init)
{
	return (init->seq == NOSEQ || init->seq == cur->seq) && init->st == cur->st;
}

struct plist {
	struct ev *e;
	size_t n, cap, head;
	uint64_t last_ts, lastg;
};

static int load(const uint8_t *b, size_t n, struct plist *ps, struct tc_result *r, uint32_t *maxp)
{
	struct gt_rec rec;
	size_t off = 16;
	int p = -1;
	uint64_t ts = 0;
	int freq = 0;

	if (n < 16 || memcmp(b, "go 1.19 trace\0\0\0", 16))
		return fail(r, "bad header", n, 0);
	for (;;) {
		int k = gt_decode(b, n, &off, &rec);
		if (k == 0)
			break;
		if (k < 0)
			return fail(r, "malformed record at offset", off, 0);
		switch (rec.type) {
		case GT_EV_Batch:
			if (rec.args[0] >= MAXP)
				return fail(r, "P id too large", rec.args[0], 0);
			p = (int)rec.args[0];
			if (rec.args[1] < ps[p].last_ts)
				return fail(r, "time stamps out of order (batch)", (uint64_t)p, rec.args[1]);
			ts = rec.args[1];
			if ((uint32_t)p > *maxp)
				*maxp = (uint32_t)p;
			continue;
		case GT_EV_Frequency:
			freq = 1;
			continue;
		case GT_EV_Stack:
			r->stacks++;
			continue;
		case GT_EV_String:
			r->strings++;
			continue;
		}
		if (p < 0)
			return fail(r, "event before any batch", off, 0);
		struct plist *pl = &ps[p];
		ts += rec.args[0];
		pl->last_ts = ts;
		if (pl->n == pl->cap) {
			pl->cap = pl->cap ? pl->cap * 2 : 256;
			pl->e = realloc(pl->e, pl->cap * sizeof(*pl->e));
		}
		struct ev *e = &pl->e[pl->n++];
		memset(e, 0, sizeof(*e));
		e->type = rec.type;
		e->ts = ts;
		e->p = (unsigned)p;
		for (unsigned i = 0; i + 1 < rec.nargs && i < 4; i++)
			e->args[i] = rec.args[i + 1];
		/* parseEvents: the goroutine an event belongs to */
		e->g = pl->lastg;
		switch (rec.type) {
		case GT_EV_GoStart: case GT_EV_GoStartLabel:
			pl->lastg = e->args[0];
			e->g = pl->lastg;
			break;
		case GT_EV_GoEnd: case GT_EV_GoStop: case GT_EV_GoSched: case GT_EV_GoPreempt:
		case GT_EV_GoSleep: case GT_EV_GoBlock: case GT_EV_GoBlockSend:
		case GT_EV_GoBlockRecv: case GT_EV_GoBlockSelect: case GT_EV_GoBlockSync:
		case GT_EV_GoBlockCond: case GT_EV_GoBlockNet: case GT_EV_GoSysBlock:
			pl->lastg = 0;
			break;
		case GT_EV_GoSysExit: case GT_EV_GoWaiting: case GT_EV_GoInSyscall:
			e->g = e->args[0];
			break;
		}
		r->events++;
	}
	if (!freq)
		return fail(r, "no EvFrequency event", 0, 0);
	return 0;
}

/* postProcessTrace, per event in merged order. */
struct pstate {
	int running;
	uint64_t g;
};

static int post(const struct ev *e, struct pstate *pp, struct gst *gs, struct tc_result *r)
{
	struct pstate *p = &pp[e->p];

	switch (e->type) {
	case GT_EV_ProcStart:
		if (p->running)
			return fail(r, "p is running before start", e->p, e->ts);
		p->running = 1;
		r->procs++;
		break;
	case GT_EV_ProcStop:
		if (!p->running)
			return fail(r, "p is not running before stop", e->p, e->ts);
		if (p->g)
			return fail(r, "p is running a goroutine during stop", e->p, p->g);
		p->running = 0;
		break;
	case GT_EV_GoCreate:
		r->creates++;
		break;
	case GT_EV_GoStart: case GT_EV_GoStartLabel:
		if (p->g)
			return fail(r, "p is already running a goroutine while start", e->p, e->args[0]);
		p->g = e->args[0];
		r->starts++;
		break;
	case GT_EV_GoEnd: case GT_EV_GoStop: case GT_EV_GoSched: case GT_EV_GoPreempt:
	case GT_EV_GoSleep: case GT_EV_GoBlock: case GT_EV_GoBlockSend: case GT_EV_GoBlockRecv:
	case GT_EV_GoBlockSelect: case GT_EV_GoBlockSync: case GT_EV_GoBlockCond:
	case GT_EV_GoBlockNet: case GT_EV_GoSysBlock:
		if (!e->g || p->g != e->g)
			return fail(r, "block/end event of a goroutine not running on its p", e->p, e->g);
		p->g = 0;
		if (e->type == GT_EV_GoEnd)
			r->ends++;
		else if (e->type != GT_EV_GoSched)
			r->blocks++;
		break;
	case GT_EV_GoSysCall:
		if (!e->g || p->g != e->g)
			return fail(r, "syscall of a goroutine not running on its p", e->p, e->g);
		break;
	}
	(void)gs;
	return 0;
}

int tc_check(const uint8_t *b, size_t n, struct tc_result *r)
{
	struct plist *ps = calloc(MAXP, sizeof(*ps));
	struct gst *gs = calloc(MAXG, sizeof(*gs));
	struct pstate *pp = calloc(MAXP, sizeof(*pp));
	uint32_t maxp = 0;
	int ret = -1;
	uint64_t total = 0, last_ts = 0;

	memset(r, 0, sizeof(*r));
	if (load(b, n, ps, r, &maxp))
		goto out;
	for (uint32_t p = 0; p <= maxp; p++)
		total += ps[p].n;
	/* order1007: take the earliest ready frontier event, one per P. */
	for (; total; total--) {
		int best = -1;
		uint64_t bg = 0;
		struct gst bn = { 0, 0 };
		for (uint32_t p = 0; p <= maxp; p++) {
			struct plist *pl = &ps[p];
			if (pl->head == pl->n)
				continue;
			struct ev *e = &pl->e[pl->head];
			uint64_t g;
			struct gst init, next;
			if (transition(e, &g, &init, &next)) {
				if (g >= MAXG) {
					fail(r, "goroutine id too large", g, 0);
					goto out;
				}
				if (!ready(&gs[g], &init))
					continue;
			} else {
				g = MAXG;
			}
			if (best < 0 || e->ts < ps[best].e[ps[best].head].ts) {
				best = (int)p;
				bg = g;
				bn = next;
			}
		}
		if (best < 0) {
			fail(r, "no consistent ordering of events possible", total, 0);
			goto out;
		}
		struct ev *e = &ps[best].e[ps[best].head++];
		if (bg < MAXG) {
			if (bn.seq == NOSEQ)
				bn.seq = gs[bg].seq;
			gs[bg] = bn;
		}
		if (e->ts < last_ts) {
			fail(r, "time stamps out of order", e->ts, last_ts);
			goto out;
		}
		last_ts = e->ts;
		if (post(e, pp, gs, r))
			goto out;
	}
	/* The 1.19 viewer crashes on goroutines still running at the end. */
	for (uint32_t p = 0; p <= maxp; p++)
		if (pp[p].g) {
			fail(r, "goroutine still running at trace end", pp[p].g, p);
			goto out;
		}
	ret = 0;
out:
	for (uint32_t p = 0; p < MAXP; p++)
		free(ps[p].e);
	free(ps);
	free(gs);
	free(pp);
	return ret;
}

int tc_check_file(const char *path, struct tc_result *r)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		memset(r, 0, sizeof(*r));
		gt_fmt(r->err, sizeof(r->err), "cannot open %s", path);
		return -1;
	}
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)n + 1);
	size_t got = fread(b, 1, (size_t)n, f);
	fclose(f);
	int ret = tc_check(b, got, r);
	free(b);
	return ret;
}
