/* core/prof/memprof.c - the heap profile's service side (geth's
 * debug_writeMemProfile): the sampling rate set (GOTRACE_MEMPROFILE_RATE,
 * or at the first profile asked for), and the profile written as Go's
 * runtime/pprof writes "heap": alloc_objects, alloc_space, inuse_objects,
 * inuse_space, each sampled figure scaled to what it stands for by Go's
 * scaleHeapSample (a block of size s sampled at rate r stands for
 * 1 / (1 - e^(-s/r)) blocks). Service thread, or the library's start. */
#include "core/prof/prof.h"
#include "core/prof/prof_int.h"

#include "core/base/config.h"
#include "core/base/log.h"
#include "core/record/hprof.h"
#include "core/record/stack.h"

#define MEM_RATE_DEFAULT (512 * 1024)   /* Go's runtime.MemProfileRate */

int gt_prof_mem_start(int64_t rate, char *err, size_t errlen)
{
	if (rate > 0 && gt_prof_stacks_ready(err, errlen))
		return -1;
	if (gt_hprof_set_rate(rate)) {
		gt_fmt(err, errlen, "heap profile: no memory for its tables");
		return -1;
	}
	return 0;
}

/* e^-x, x >= 0, without libm: halve until small, Taylor, square back. */
static double exp_neg(double x)
{
	int k = 0;

	if (x > 700)
		return 0;
	while (x > 0.5) {
		x /= 2;
		k++;
	}
	double t = 1, s = 1;
	for (int i = 1; i < 14; i++) {
		t *= -x / i;
		s += t;
	}
	while (k--)
		s *= s;
	return s;
}

static void scale(uint64_t n, uint64_t b, int64_t rate, int64_t *on, int64_t *ob)
{
	if (!n || !b) {
		*on = *ob = 0;
		return;
	}
	double avg = (double)b / (double)n, f = 1 / (1 - exp_neg(avg / (double)rate));
	*on = (int64_t)((double)n * f);
	*ob = (int64_t)((double)b * f);
}

struct cursor {
	size_t pos;
	int64_t rate;
	int64_t val[4];
};

static int next(void *ctx, size_t i, struct gt_prof_sample *s)
{
	struct cursor *c = ctx;
	struct gt_hprof_entry e;

	(void)i;
	if (!gt_hprof_get(&c->pos, &e))
		return 0;
	scale(e.alloc_n, e.alloc_b, c->rate, &c->val[0], &c->val[1]);
	scale(e.alloc_n - e.free_n, e.alloc_b - e.free_b, c->rate, &c->val[2], &c->val[3]);
	const struct gt_stack *st = gt_stack_get(e.sid);
	*s = (struct gt_prof_sample){ st ? st->pc : NULL, st ? st->n : 0, 0,
				      { c->val[0], c->val[1], c->val[2], c->val[3] } };
	return 1;
}

int gt_prof_mem_write(const char *path, char *err, size_t errlen)
{
	/* Sampling starts at the first profile asked for unless the
	 * environment set a rate (GOTRACE_MEMPROFILE_RATE=0: never): once
	 * that profile (empty) is written, so that a file we cannot open
	 * starts nothing. */
	int64_t start = gt_hprof_rate() || gt_cfg.mem_rate == 0 ? 0 :
			gt_cfg.mem_rate > 0 ? gt_cfg.mem_rate : MEM_RATE_DEFAULT;
	struct cursor c = { 0, start ? start : gt_hprof_rate() ? gt_hprof_rate() : MEM_RATE_DEFAULT,
			    { 0 } };
	struct gt_prof_spec m = { { "alloc_objects", "alloc_space", "inuse_objects", "inuse_space" },
				  { "count", "bytes", "count", "bytes" }, "space", "bytes",
				  (uint64_t)c.rate, 0, 0, next, &c, 4 };
	int r = gt_prof_write_path(path, &m, err, errlen);
	if (r == 0 && start) {
		if (gt_prof_mem_start(start, err, errlen))
			return -1;
		gt_log("heap profile: sampling from now on, one allocation per %lld bytes; %s holds "
		       "none yet (GOTRACE_MEMPROFILE_RATE samples from the start)",
		       (long long)start, path);
	}
	if (gt_hprof_lost())
		gt_log("heap profile %s: %llu samples not kept (its tables are full)", path,
		       (unsigned long long)gt_hprof_lost());
	return r;
}
