/* core/record/unwind.h - libunwind for the stack capture
 * (core/record/libunwind.c), inside record/ only. */
#ifndef GT_RECORD_UNWIND_H
#define GT_RECORD_UNWIND_H

#include <stdint.h>

/* dlopen libunwind: 1, or 0 (no libunwind stacks then). */
int gt_unw_load(void);
/* unw_backtrace; 0 frames while libunwind is not loaded (or ready). */
int gt_unw_backtrace(void **buf, int max);
int gt_unw_walk(uintptr_t *pcs, int *good, int max, int *whole);

/* The walks so far, counted while GOTRACE_DEBUG is on (gt_cfg.debug):
 * frame-record walks, libunwind walks, and those of them that learned. */
void gt_stack_walk_counts(uint64_t *fp, uint64_t *unw, uint64_t *learned);

#endif
