/* core/record/bprof.h - the block and mutex profiles' counts, kept by the
 * hooks of blocking calls (core/record/op.c) as Go's runtime keeps them
 * (runtime/mprof.go): cumulative from the first rate set, one entry per
 * (profile, stack), a count and a delay. core/prof/block.c sets the rates
 * and writes the profiles (service thread). */
#ifndef GT_BPROF_H
#define GT_BPROF_H

#include <stddef.h>
#include <stdint.h>

enum { GT_BPROF_BLOCK, GT_BPROF_MUTEX, GT_BPROFS };

/* Counts are fixed point: 1 << GT_BPROF_FX is one contention (Go's are
 * float64: a short wait sampled at rate r counts r/d). */
#define GT_BPROF_FX 10

/* Go's SetBlockProfileRate(ns) and SetMutexProfileFraction(n): <= 0 off.
 * Service thread. 0, or -ENOMEM (the table could not be mapped). */
int gt_bprof_set_rate(unsigned which, int64_t rate);
int64_t gt_bprof_rate(unsigned which);

/* Hooks (op.c): a blocking call (lock: a lock's wait) that waited d ns.
 * The profiles that take it: a bit per profile, w[2 * p] its count (fixed
 * point) and w[2 * p + 1] its delay. Any thread, signal-safe. */
unsigned gt_bprof_pick(unsigned lock, uint64_t d, uint64_t w[2 * GT_BPROFS]);
void gt_bprof_add(unsigned which, uint32_t sid, const uint64_t w[2 * GT_BPROFS]);

/* gt_rec_on (and the malloc hooks' gt_heap_on) from gt_trace_on and the
 * rates: after either changes (service thread, or a fork's child). */
void gt_rec_update(void);

/* Service thread: entry i of profile which (from 0; 0 past the end). */
struct gt_bprof_entry {
	uint32_t sid;
	uint64_t count;   /* fixed point */
	uint64_t delay;   /* ns */
};
int gt_bprof_get(unsigned which, size_t *i, struct gt_bprof_entry *out);
/* Entries that found no room (the table holds GT_BPROF_CAP). */
uint64_t gt_bprof_lost(void);
#define GT_BPROF_CAP (1u << 16)

#endif
