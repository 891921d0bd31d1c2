/* core/write/out122.c - the writer's Go 1.22 side (core/write/out122.h). */
#include "core/write/out122.h"

#include <errno.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/log.h"
#include "core/format/go122.h"
#include "core/write/writer.h"

static struct {
	struct gt_v2 *st;
	struct gt_v2_buf gen;   /* the open generation's 1.22 bytes */
	uint64_t whole;         /* file bytes up to the last whole generation */
	struct gt_out122_stats s;
} o;

int gt_out122_open(void)
{
	/* Arrival order; generations only when the writer ends them (the
	 * threads flushed first: gt_ctl_generation). */
	struct gt_v2_opts opts = { 0, GT_V2_ARRIVAL };

	o.st = gt_v2_new(&opts);
	o.gen.len = 0;
	o.whole = 0;
	memset(&o.s, 0, sizeof(o.s));
	return o.st ? 0 : -ENOMEM;
}

int gt_out122_on(void)
{
	return o.st != NULL;
}

int gt_out122_feed(const uint8_t *p, size_t n)
{
	if (!o.st || !n)
		return 0;
	int r = gt_v2_batch(o.st, p, n, &o.gen);
	if (r == -2 && !o.s.malformed++)   /* not ours to lose the trace over */
		gt_log("go1.22 writer: a batch does not decode; its events are lost");
	return r == -1 || o.gen.oom ? -ENOMEM : 0;
}

void gt_out122_thread(uint64_t goid, uint64_t tid)
{
	if (o.st)
		gt_v2_thread(o.st, goid, tid);
}

uint64_t gt_out122_pending(void)
{
	return o.st ? gt_v2_pending(o.st) : 0;
}

size_t gt_out122_held(void)
{
	return o.gen.len;
}

/* The generation's bytes to the file: a valid end of it, once written. */
static void put_gen(void)
{
	struct gt_writer_stats ws;

	if (o.gen.len > o.s.max_gen_bytes)
		o.s.max_gen_bytes = o.gen.len;
	gt_writer_put(o.gen.p, o.gen.len);
	o.gen.len = 0;
	gt_writer_get_stats(&ws);
	if (!gt_writer_error())
		o.whole = ws.bytes;
}

int gt_out122_cut(uint64_t ns)
{
	uint64_t t0 = gt_clock_now();

	if (!o.st)
		return 0;
	int r = gt_v2_generation_end(o.st, &o.gen);
	uint64_t before = o.s.generations;
	struct gt_v2_stats vs;
	gt_v2_get_stats(o.st, &vs);
	o.s.generations = vs.generations;
	if (o.s.generations != before)
		put_gen();
	ns += gt_clock_now() - t0;
	o.s.cut_ns += ns;
	if (ns > o.s.max_cut_ns)
		o.s.max_cut_ns = ns;
	return r ? -ENOMEM : 0;
}

uint64_t gt_out122_finish(void)
{
	struct gt_v2_stats vs;

	if (!o.st)
		return o.whole;
	if (gt_v2_finish(o.st, &o.gen))
		o.gen.len = 0;   /* out of memory: the last generation is lost */
	else
		put_gen();
	gt_v2_get_stats(o.st, &vs);
	o.s.generations = vs.generations;
	o.s.dropped = vs.dropped;
	o.s.events_in = vs.events_in;
	o.s.events_out = vs.events_out;
	gt_v2_free(o.st);
	o.st = NULL;
	gt_v2_buf_free(&o.gen);
	return o.whole;
}

void gt_out122_forget(void)
{
	o.st = NULL;
	memset(&o.gen, 0, sizeof(o.gen));
}

void gt_out122_get_stats(struct gt_out122_stats *s)
{
	*s = o.s;
}

void gt_out122_postponed(void)
{
	o.s.postponed++;
}
