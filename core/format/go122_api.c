/* core/format/go122_api.c - the transcoder's life and its inputs: the 1.19
 * untimed records, whole 1.19 batches (decoded here), single events (the
 * generation cut by time), goroutine threads (go122.h). The events
 * themselves: go122.c. */
#include "core/format/go122_int.h"

#include <string.h>

#include "core/base/real.h"
#include "core/format/decode.h"
#include "core/format/events.h"

struct gt_v2 *gt_v2_new(const struct gt_v2_opts *o)
{
	struct gt_v2 *st = gt_calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	if (o)
		st->o = *o;
	st->gen = 1;
	st->freq = GT_FREQUENCY;
	return st;
}

void gt_v2_free(struct gt_v2 *st)
{
	if (!st)
		return;
	for (size_t i = 0; i < st->mcap; i++)
		if (st->mh[i].m) {
			gt_v2_buf_free(&st->mh[i].m->buf);
			gt_free(st->mh[i].m);
		}
	gt_free(st->mh);
	gt_free(st->dirty);
	gt_free(st->ps);
	gt_free(st->gs);
	gt_free(st->decl);
	gt_free(st->live);
	gt_v2_tab_free(&st->strs);
	gt_v2_tab_free(&st->stks);
	gt_v2_buf_free(&st->genstr);
	gt_v2_buf_free(&st->tmp);
	gt_v2_buf_free(&st->samples);
	gt_free(st);
}

void gt_v2_get_stats(const struct gt_v2 *st, struct gt_v2_stats *s)
{
	*s = st->s;
}

uint64_t gt_v2_pending(const struct gt_v2 *st)
{
	return st->early;
}

int gt_v2_untimed(struct gt_v2 *st, const uint8_t *buf, size_t len)
{
	struct gt_rec r;
	size_t off = 0;
	int k;

	while ((k = gt_decode(buf, len, &off, &r)) == 1) {
		if (r.type == GT_EV_String && r.nargs >= 1) {
			if (gt_v2_tab_put(&st->strs, r.args[0], r.str, r.str_len))
				return -1;
		} else if (r.type == GT_EV_Stack && r.payload) {
			/* Kept as the 1.19 payload after the id: nframes, frames. */
			size_t o = 0;
			while (o < r.payload_len && (r.payload[o] & 0x80))
				o++;
			if (o < r.payload_len &&
			    gt_v2_tab_put(&st->stks, r.args[0], r.payload + o + 1,
					  r.payload_len - o - 1))
				return -1;
		} else if (r.type == GT_EV_Frequency && r.nargs >= 1 && r.args[0]) {
			st->freq = r.args[0];
		}
	}
	return k < 0 ? -1 : 0;
}

int gt_v2_thread(struct gt_v2 *st, uint64_t goid, uint64_t tid)
{
	struct v2_g *g = v2_g_get(st, goid);

	if (!g)
		return -1;
	if (!g->hint)
		g->hint = tid;
	return 0;
}

int gt_v2_event(struct gt_v2 *st, uint32_t p, uint64_t ts, unsigned type, const uint64_t *args,
		unsigned nargs, const uint8_t *str, size_t slen, struct gt_v2_buf *out)
{
	st->out = out;
	st->s.events_in++;
	if (st->gen_open && st->o.gen_ticks && ts >= st->gen_t0 + st->o.gen_ticks &&
	    gt_v2_generation_end(st, out))
		return -1;
	if (!st->gen_open) {
		/* Written as flushed (GT_V2_ARRIVAL), a generation after the first
		 * starts at the last event written before it, not at this one:
		 * batches come in the order they were flushed, and a later batch's
		 * events before this one's time were moved up to it (a thread's
		 * waits squashed to nothing: a third of a condition-wait profile,
		 * up to a generation's length). */
		st->gen_open = 1;
		st->gen_t0 = ts;   /* (time-based cuts count from it) */
		/* (in time order, gotrace convert's, this event is the earliest) */
		st->gen_ts = (st->o.flags & GT_V2_ARRIVAL) && st->last_ts && st->last_ts < ts
				     ? st->last_ts : ts;
		if (st->need_status)
			v2_statuses(st, st->gen_ts);
	}
	if (ts > st->last_ts)
		st->last_ts = ts;
	v2_event(st, p, ts, type, args, nargs, str, slen);
	return st->oom || out->oom ? -1 : 0;
}

int gt_v2_batch(struct gt_v2 *st, const uint8_t *b, size_t len, struct gt_v2_buf *out)
{
	struct gt_rec r;
	size_t off = 0;
	uint64_t ts = 0;
	uint32_t p = 0;
	int k, have = 0;

	while ((k = gt_decode(b, len, &off, &r)) == 1) {
		if (r.type == GT_EV_Batch) {
			if (r.nargs < 2 || r.args[0] >= V2_P_MAX)
				return -2;
			p = (uint32_t)r.args[0];
			ts = r.args[1];
			have = 1;
		} else if (r.type == GT_EV_String || r.type == GT_EV_Stack ||
			   r.type == GT_EV_Frequency) {
			if (gt_v2_untimed(st, b + r.off, r.size))
				return -1;
		} else if (!have || r.nargs < 1 || r.nargs > GT_DEC_ARGS) {
			return -2;
		} else {
			ts += r.args[0];
			if (gt_v2_event(st, p, ts, r.type, r.args + 1, r.nargs - 1, r.str, r.str_len,
					out))
				return -1;
		}
	}
	return k < 0 ? -2 : 0;
}
