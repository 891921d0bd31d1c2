/* tracecheck.c - see tracecheck.h: core/format/order.c for the wire format and
 * the ordering, plus postProcessTrace's per-P rules and the viewer's "no
 * goroutine still running at the end". */
#include "tracecheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/format/decode.h"
#include "core/base/log.h"
#include "core/format/order.h"

struct pstate {
	int running;
	uint64_t g;
};

int tc_event_stacks(const struct gt_oev *e, uint64_t ids[2])
{
	struct gt_rec rec = { .type = e->type, .nargs = e->nargs + 1 };

	if (rec.nargs > GT_DEC_ARGS)
		return 0;
	memcpy(rec.args + 1, e->args, e->nargs * sizeof(uint64_t));
	return gt_rec_stacks(&rec, ids);
}

static int fail(struct tc_result *r, const char *msg, uint64_t a, uint64_t b)
{
	gt_fmt(r->err, sizeof(r->err), "%s (%llu, %llu)", msg, (unsigned long long)a,
	       (unsigned long long)b);
	return -1;
}

static int post(const struct gt_oev *e, struct pstate *pp, struct tc_result *r)
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
	return 0;
}

int tc_check(const uint8_t *b, size_t n, struct tc_result *r)
{
	struct gt_trace t;
	struct gt_oev **m = NULL;
	int ret = -1;

	memset(r, 0, sizeof(*r));
	if (gt_trace_load(b, n, &t, r->err, sizeof(r->err)))
		return -1;
	struct pstate *pp = calloc(t.np + 1, sizeof(*pp));
	r->events = t.events;
	for (size_t i = 0; i < t.nuntimed; i++)
		if ((t.untimed[i][0] & 0x3f) == GT_EV_Stack)
			r->stacks++;
		else
			r->strings++;
	if (t.valid_end != n) {
		fail(r, "malformed record at offset", t.valid_end, n);
		goto out;
	}
	if (!t.freq) {
		fail(r, "no EvFrequency event", 0, 0);
		goto out;
	}
	/* String ids unique; every stack a GoCreate names for its new goroutine
	 * defined with >= 1 frame (else the 1.19 tool exits at start-up). */
	for (size_t i = 0; i < t.nuntimed; i++) {
		struct gt_rec a, c;
		size_t o = 0;
		if (gt_decode(t.untimed[i], t.untimed_len[i], &o, &a) != 1 || a.type != GT_EV_String)
			continue;
		for (size_t j = i + 1; j < t.nuntimed; j++) {
			o = 0;
			if (gt_decode(t.untimed[j], t.untimed_len[j], &o, &c) == 1 &&
			    c.type == GT_EV_String && c.args[0] == a.args[0]) {
				fail(r, "duplicate string id", a.args[0], j);
				goto out;
			}
		}
	}
	for (uint32_t p = 0; p < t.np; p++)
		for (size_t i = 0; i < t.ps[p].n; i++) {
			const struct gt_oev *e = &t.ps[p].e[i];
			if (e->type != GT_EV_GoCreate)
				continue;
			int ok = 0;
			for (size_t k = 0; k < t.nuntimed && !ok; k++) {
				struct gt_rec st;
				size_t o = 0;
				uint64_t id;
				struct gt_frame f[1];
				if (gt_decode(t.untimed[k], t.untimed_len[k], &o, &st) == 1 &&
				    st.type == GT_EV_Stack && gt_decode_stack(&st, &id, f, 1) >= 1 &&
				    id == e->args[1])
					ok = 1;
			}
			if (!ok) {
				fail(r, "missing stack information for a go create event", e->args[0], e->args[1]);
				goto out;
			}
		}
	/* Every stack an event names is defined (the 1.19 parser would take
	 * an undefined one silently: an event without frames). */
	for (uint32_t p = 0; p < t.np; p++)
		for (size_t i = 0; i < t.ps[p].n; i++) {
			const struct gt_oev *e = &t.ps[p].e[i];
			uint64_t ids[2];
			for (int k = tc_event_stacks(e, ids) - 1; k >= 0; k--) {
				size_t j = 0;
				while (j < t.nstack_ids && t.stack_ids[j] != ids[k])
					j++;
				if (j == t.nstack_ids) {
					fail(r, "event names an undefined stack (type, stack id)",
					     e->type, ids[k]);
					goto out;
				}
			}
		}
	if (gt_trace_order(&t, &m, r->err, sizeof(r->err)))
		goto out;
	for (size_t i = 0; i < t.merged; i++)
		if (post(m[i], pp, r))
			goto out;
	for (uint32_t p = 0; p < t.np; p++)
		if (pp[p].g) {
			fail(r, "goroutine still running at trace end", pp[p].g, p);
			goto out;
		}
	ret = 0;
out:
	free(m);
	free(pp);
	gt_trace_free(&t);
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
