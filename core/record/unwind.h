/* core/record/unwind.h - libunwind for the stack capture
 * (core/record/libunwind.c), inside record/ only. */
#ifndef GT_RECORD_UNWIND_H
#define GT_RECORD_UNWIND_H

#include <stdint.h>

#include "core/record/api.h"

/* dlopen libunwind: 1, or 0 (no libunwind stacks then). */
int gt_unw_load(void);
/* unw_backtrace; 0 frames while libunwind is not loaded (or ready). */
int gt_unw_backtrace(void **buf, int max);
int gt_unw_walk(uintptr_t *pcs, int *good, int max, int *whole);

/* libunwind's CFI walk from a signal's context (a ucontext_t): the
 * interrupted pc first, then return addresses, as gt_unw_walk; *leaf: how
 * the interrupted frame keeps its caller (GT_LEAF_*). The walk ends before
 * our thread trampoline (a frame of ours whose rbp is top - 16; top 0:
 * unknown). may_setup: libunwind's own one-time set-up (it opens a pipe)
 * may run here. Signal-safe. Count, or -1 when libunwind is not loaded,
 * not set up and may not be, or busy on this thread. */
enum { GT_LEAF_UNKNOWN, GT_LEAF_RECORD, GT_LEAF_OTHER = 3 };   /* or a rule: > OTHER */
int gt_unw_walk_context(void *uc, uintptr_t top, uintptr_t *pcs, int *good, int max,
			int *whole, int *leaf, int may_setup);

/* A frame without a record whose caller the walk still finds (learned
 * from libunwind's steps: core/record/libunwind.c): its CFA (the caller's
 * sp) is its sp + 8 * off (1..GT_FPV_OFF_MAX), the return address just
 * below, and the caller's rbp is saved at CFA - 8 * k (1..GT_FPV_K_MAX),
 * or left as it was (0). As a good[] value of the walks: >= 3. */
#define GT_FPV_OFF_MAX 511u
#define GT_FPV_K_MAX 63u
#define GT_FPV_RULE(off, k) (int)(3u | (unsigned)(off) << 2 | (unsigned)(k) << 11)
#define GT_FPV_RULE_OFF(r) (((unsigned)(r) >> 2) & 511u)
#define GT_FPV_RULE_K(r) (((unsigned)(r) >> 11) & 63u)

/* The frame walk from a frame's state: ret (the return address into its
 * code), sp (its sp then: the callee's CFA), bp (its rbp), up to the
 * stack's top hi: the return addresses into pc[*n..max) (*n advanced),
 * each frame stepped by its record or its rule. sig: a signal's walk, which
 * keeps our frames; a hook's ends at the first of ours past the program's.
 * 0 when exact to its end (our thread trampoline, the main thread's end,
 * max); -1 when not known (*unknown, if not NULL: the first address without
 * a verdict, 0 for one known bad). Signal-safe. */
int gt_fpv_walk(uintptr_t ret, uintptr_t sp, uintptr_t bp, uintptr_t hi, uintptr_t *pc,
		unsigned *n, unsigned max, int sig, uintptr_t *unknown);

/* The hooks' walk (gt_fpv_walk), from the record at from (a hook's) or at
 * its own frame: the program's frames into pc (ours skipped), their count;
 * -1 when they are not known exact (*unknown: the first address without
 * a verdict). gt_fpv_generation: bumped when the verdicts are forgotten. */
int gt_fp_walk(uintptr_t *pc, unsigned max, uintptr_t *unknown, uintptr_t *from);
/* The same walk with the thread's last stack as its hint: pc[0..n) and
 * their verdicts v[0..n) (1, 2 or a rule) for the frames at the same
 * depths; a frame whose address is the hint's takes its verdict without a
 * look-up. A frame that differs has its verdict written to v (below cap),
 * so that v then holds the new stack's when the walk succeeds (and must be
 * forgotten when it fails). same: 1 when every frame was the hint's (the
 * stack is the hint's when the counts agree too). bp (below cap): each
 * frame's frame pointer as the walk found it, for the next walk_same
 * (core/record/capture.c). */
struct gt_walk_hint {
	const uintptr_t *pc;
	int32_t *v;
	uintptr_t *bp;
	unsigned n, cap;
	int same;
};
int gt_fp_walk_hinted(uintptr_t *pc, unsigned max, uintptr_t *unknown, uintptr_t *from,
		      struct gt_walk_hint *h);
void gt_stack_count_fp(void);
uint32_t gt_fpv_generation(void);

/* Learning the verdicts (core/record/unwind.c) from a libunwind walk, the
 * signal walk's (core/record/unwind_sig.c) or a hook's (good[]: as
 * frame_kind says; may be changed: the main thread's end marked). */
void gt_fpv_learn(const uintptr_t *pcs, int *good, int m, int whole);

/* The walks so far, counted while GOTRACE_DEBUG is on (gt_cfg.debug):
 * frame-record walks, libunwind walks, and those of them that learned. */
void gt_stack_walk_counts(uint64_t *fp, uint64_t *unw, uint64_t *learned);
/* Of the frame-record walks, those that found a site's last stack again
 * (core/record/capture.c: the id without a lookup). */
uint64_t gt_stack_same_count(void);

/* A return to gt_op_ret or into a thunk (its call of the real function,
 * the only return address there): a hook's thunk made a frame record at
 * the real function's CFA, sp (preload/hook.h), and the program's caller
 * is there. Steps over it; -1: it does not fit below hi. */
static inline int gt_thunk_step(uintptr_t *ret, uintptr_t *sp, uintptr_t *bp, uintptr_t hi)
{
#ifdef GT_OP_THUNKS
	if (*ret == (uintptr_t)gt_op_ret ||
	    *ret - (uintptr_t)__start_gt_thunks < (uintptr_t)(__stop_gt_thunks - __start_gt_thunks)) {
		if (*ret == (uintptr_t)gt_op_traced_ret)   /* the call's state below it */
			*sp += GT_THUNK_FRAME;
		const uintptr_t *r = (const uintptr_t *)*sp;
		if (*sp + 16 > hi)
			return -1;
		*ret = r[1];
		*bp = r[0];
		*sp += 16;
	}
#else
	(void)ret, (void)sp, (void)bp, (void)hi;
#endif
	return 0;
}

#endif
