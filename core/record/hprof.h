/* core/record/hprof.h - the heap profile's samples, taken by the malloc
 * hooks as Go's runtime takes its MemProfile: one allocation per `rate`
 * bytes allocated on average (the distance to the next sample drawn from
 * an exponential distribution, per thread), its stack counted at its
 * allocation and again at its free, so that the in-use figures are right.
 * core/prof/heap.c sets the rate and writes the profile (service thread). */
#ifndef GT_HPROF_H
#define GT_HPROF_H

#include <stddef.h>
#include <stdint.h>

#include "core/record/api.h"   /* gt_heap_on, gt_hprof_alloc, gt_hprof_free */

/* Sample one allocation per rate bytes on average (0: stop). Service
 * thread (or the library's start-up). 0, or -ENOMEM. */
int gt_hprof_set_rate(int64_t rate);
int64_t gt_hprof_rate(void);

/* gt_heap_on again from gt_trace_on and the rate (gt_rec_update calls it:
 * one place updates every gate). A forked child's lock, free. */
void gt_hprof_gate(void);
void gt_hprof_after_fork_child(void);

/* Service thread: the stacks' raw (unscaled) sampled figures, entry i
 * (from 0; 0 past the end). */
struct gt_hprof_entry {
	uint32_t sid;
	uint64_t alloc_n, alloc_b, free_n, free_b;
};
int gt_hprof_get(size_t *i, struct gt_hprof_entry *out);
/* Samples not kept (a table full). */
uint64_t gt_hprof_lost(void);

#endif
