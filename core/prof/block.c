/* core/prof/block.c - the block and mutex profiles' service side
 * (core/prof/prof.h): Go's rates set over core/record/bprof.c's counts,
 * and a profile written as Go's runtime/pprof writes "block" and "mutex":
 * the counts so far (cumulative since the first rate set), sample types
 * contentions/count and delay/nanoseconds, each sample the stack that
 * waited. Service thread. */
#include "core/prof/prof.h"
#include "core/prof/prof_int.h"

#include "core/base/config.h"
#include "core/base/log.h"
#include "core/record/bprof.h"
#include "core/record/stack.h"
#include "core/write/ctl.h"

int gt_prof_stacks_ready(char *err, size_t errlen)
{
	/* As a trace's start: the walks set up, liburcu loaded and the stack
	 * table made here, never by a hook (a dlopen from inside malloc). */
	err[0] = '\0';
	if (gt_ctl_prepare(err, errlen))
		return -1;
	if (gt_stack_table_ready()) {
		gt_fmt(err, errlen, "no stack table (liburcu)");
		return -1;
	}
	return 0;
}

int gt_prof_set_rate(unsigned which, int64_t rate, char *err, size_t errlen)
{
	if (rate > 0 && gt_prof_stacks_ready(err, errlen))
		return -1;
	int r = gt_bprof_set_rate(which, rate);

	if (r)
		gt_fmt(err, errlen, "%s profile: no memory for its table",
		       which == GT_BPROF_MUTEX ? "mutex" : "block");
	return r ? -1 : 0;
}

struct cursor {
	unsigned which;
	size_t pos;
};

static int next(void *ctx, size_t i, struct gt_prof_sample *s)
{
	struct cursor *c = ctx;
	struct gt_bprof_entry e;

	(void)i;
	if (!gt_bprof_get(c->which, &c->pos, &e))
		return 0;
	const struct gt_stack *st = gt_stack_get(e.sid);
	*s = (struct gt_prof_sample){ st ? st->pc : NULL, st ? st->n : 0, st ? st->flags : 0,
		{ (int64_t)((e.count + (1u << (GT_BPROF_FX - 1))) >> GT_BPROF_FX),
		  (int64_t)e.delay } };
	return 1;
}

int gt_prof_write_counts(unsigned which, const char *path, char *err, size_t errlen)
{
	struct cursor c = { which, 0 };
	struct gt_prof_spec m = { { "contentions", "delay" }, { "count", "nanoseconds" },
				  "contentions", "count", 1, 0, 0, next, &c, 2 };
	int r = gt_prof_write_path(path, &m, err, errlen);
	uint64_t lost = gt_bprof_lost();
	if (lost)
		gt_log("%s profile %s: %llu waits not counted (the table of %u stacks is full)",
		       which == GT_BPROF_MUTEX ? "mutex" : "block", path, (unsigned long long)lost,
		       GT_BPROF_CAP);
	return r;
}

/* debug_blockProfile / mutexProfile: a window at rate 1, then the file
 * (geth's order: the rate, the sleep, then os.Create and the write), then
 * the rate from before. One window per profile at a time. */
static struct {
	uint64_t id;   /* 0: none */
	int64_t old;
	char path[GT_PATH_MAX];
} win[GT_BPROFS];
static uint64_t win_ids;

uint64_t gt_prof_window_start(unsigned which, const char *path, char *err, size_t errlen)
{
	if (which >= GT_BPROFS)
		return 0;
	if (win[which].id) {
		gt_fmt(err, errlen, "%s profiling already in progress",
		       which == GT_BPROF_MUTEX ? "mutex" : "block");
		return 0;
	}
	int64_t old = gt_bprof_rate(which);
	if (gt_prof_set_rate(which, 1, err, errlen))
		return 0;
	win[which].old = old;
	gt_fmt(win[which].path, sizeof(win[which].path), "%s", path);
	win[which].id = ++win_ids;
	return win[which].id;
}

uint64_t gt_prof_window(unsigned which)
{
	return which < GT_BPROFS ? win[which].id : 0;
}

int gt_prof_window_stop(unsigned which, char *err, size_t errlen)
{
	if (which >= GT_BPROFS || !win[which].id) {
		gt_fmt(err, errlen, "%s profiling not in progress",
		       which == GT_BPROF_MUTEX ? "mutex" : "block");
		return -1;
	}
	int r = gt_prof_write_counts(which, win[which].path, err, errlen);
	gt_bprof_set_rate(which, win[which].old);
	win[which].id = 0;
	return r;
}
