/* core/record/unwind_sig.c - stack capture from a signal's context, for
 * the CPU profiler's SIGPROF handler (core/prof/): the interrupted pc, then
 * the frame records where the verdicts of core/record/unwind.c show them
 * exact, else libunwind from the context (learning the verdicts). Runs in
 * a signal handler on the interrupted thread: no lock, no allocation, reads
 * only memory the verdicts vouch for or libunwind validates. */
#include "core/record/stack.h"
#include "core/record/unwind.h"

#include <stdint.h>
#include <ucontext.h>

#include "core/base/arena.h"
#include "core/base/config.h"
#include "core/base/fdguard.h"
#include "core/record/api.h"

/* The interrupted pc's verdict, as fpv's for return addresses, in a table
 * of its own (interrupted pcs are many; return addresses, which the
 * tracer's walks need, must keep their room): pc | kind << 62, a rule's
 * bits (GT_FPV_RULE >> 2) at 47..61 with kind OTHER; CAS into empty
 * slots; when full, pcs stay unknown (libunwind then). */
#define LEAF_BITS 14
#define LEAF_PROBES 8
#define LEAF_PC ((1ull << 47) - 1)
#define LEAF_RULE (((1ull << 62) - 1) & ~LEAF_PC)

static uint64_t *leafv;               /* mapped by gt_stack_prepare_signal */
static uintptr_t ldso_lo, ldso_hi;    /* the dynamic loader's code */
static uint64_t walks[3];             /* atomic, GOTRACE_DEBUG: records, libunwind, as they are */

static void count(int how)
{
	if (__builtin_expect(gt_cfg.debug != 0, 0))
		__atomic_fetch_add(&walks[how], 1, __ATOMIC_RELAXED);
}

void gt_stack_signal_counts(uint64_t out[3])
{
	for (int i = 0; i < 3; i++)
		out[i] = __atomic_load_n(&walks[i], __ATOMIC_RELAXED);
}

static inline uint64_t *leaf_at(uintptr_t pc, unsigned i)
{
	uint64_t h = ((uint64_t)pc * 0x9e3779b97f4a7c15ull) >> (64 - LEAF_BITS);

	return &leafv[(h + i) & ((1u << LEAF_BITS) - 1)];
}

static int leaf_get(uintptr_t pc)
{
	for (unsigned i = 0; i < LEAF_PROBES; i++) {
		uint64_t v = __atomic_load_n(leaf_at(pc, i), __ATOMIC_RELAXED);
		if (!v)
			return GT_LEAF_UNKNOWN;
		if ((v & LEAF_PC) == pc)
			return v & LEAF_RULE ? (int)((v & LEAF_RULE) >> 45) | 3 : (int)(v >> 62);
	}
	return GT_LEAF_UNKNOWN;
}

static void leaf_put(uintptr_t pc, int kind)
{
	uint64_t want = (uint64_t)pc | (uint64_t)(kind >= 3 ? GT_LEAF_OTHER : kind) << 62;

	if (kind > GT_LEAF_OTHER)   /* a rule */
		want |= ((uint64_t)(unsigned)kind << 45) & LEAF_RULE;

	if (!pc || (pc & ~LEAF_PC) || kind == GT_LEAF_UNKNOWN)
		return;
	for (unsigned i = 0; i < LEAF_PROBES; i++) {
		uint64_t v = 0;
		if (__atomic_compare_exchange_n(leaf_at(pc, i), &v, want, 0, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED) || (v & LEAF_PC) == pc)
			return;
	}
}

void gt_stack_prepare_signal(void)
{
	gt_stack_prepare();
	if (!leafv)
		__atomic_store_n(&leafv, gt_map(sizeof(*leafv) << LEAF_BITS), __ATOMIC_RELEASE);
	if (!ldso_hi)
		gt_stack_text(0, "/ld-linux", &ldso_lo, &ldso_hi);
}

/* GOTRACE_UNWIND=fp, or libunwind not usable here: the frame records from
 * fp up as they are, into pc[*n..max), as far as the bounds allow: [lo, hi)
 * of this thread's stack, each record above the last, ending at our thread
 * trampoline (a return address of ours whose record is at hi - 16). (The
 * checked walk is gt_fpv_walk's.) */
static void records(uintptr_t fp, uintptr_t lo, uintptr_t hi, uintptr_t *pc, unsigned *n,
		    unsigned max)
{
	while (*n < max) {
		if (fp < lo || fp + 16 > hi || (fp & 7))
			return;
		uintptr_t next = ((const uintptr_t *)fp)[0], ret = ((const uintptr_t *)fp)[1];
		if (!ret || (next == hi - 16 && gt_stack_is_self(ret)))
			return;   /* the end, or our thread trampoline */
		pc[(*n)++] = ret;
		if (next <= fp)
			return;
		fp = next;
	}
}

/* libunwind from the context, learning what it shows. -1: not usable. */
static int unwound(void *uc, uintptr_t rip, uintptr_t hi, uintptr_t *pc, unsigned max,
		   int outside)
{
	uintptr_t pcs[GT_STACK_MAX + 1];
	int good[GT_STACK_MAX + 1], whole, leaf;

	/* Not in the dynamic loader: dl_iterate_phdr, which libunwind calls,
	 * may meet its lists mid-change there. Its one-time set-up opens a
	 * pipe our fd guard adopts under fd_lock: only where the interrupted
	 * code holds no lock of ours (outside our code and tracer work, not
	 * holding fd_lock: another thread holding it needs nothing of ours to
	 * let go). */
	if (rip >= ldso_lo && rip < ldso_hi)
		return -1;
	if (max > GT_STACK_MAX + 1)
		max = GT_STACK_MAX + 1;
	int setup = outside && !gt_stack_is_self(rip) && !gt_fd_lock_mine();
	int m = gt_unw_walk_context(uc, hi, pcs, good, (int)max, &whole, &leaf, setup);
	if (m <= 0)
		return -1;
	if (leafv)
		leaf_put(pcs[0], leaf);
	if (m > 1)
		gt_fpv_learn(pcs + 1, good + 1, m - 1, whole);
	for (int k = 0; k < m; k++)
		pc[k] = pcs[k];
	return m;
}

unsigned gt_stack_capture_signal(void *ucontext, uintptr_t *pc, unsigned max, int outside)
{
	const ucontext_t *uc = ucontext;
	uintptr_t rip = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
	uintptr_t rsp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];
	uintptr_t rbp = (uintptr_t)uc->uc_mcontext.gregs[REG_RBP];
	uintptr_t hi = gt_tls.stack_hi;
	unsigned n = 0;

	if (!max)
		return 0;
	if (gt_cfg.unwind == GT_UNWIND_AUTO && hi && leafv && rsp >= 4096 && rsp < hi) {
		/* The interrupted frame's caller by its record or its rule,
		 * then the frame walk (records and rules) from there. */
		int kind = leaf_get(rip), ok = 0;
		uintptr_t ret = 0, sp = 0, bp = rbp;
		pc[n++] = rip;
		if (kind == GT_LEAF_RECORD && rbp >= rsp && rbp + 16 <= hi && !(rbp & 7)) {
			ret = ((const uintptr_t *)rbp)[1];
			sp = rbp + 16;
			bp = ((const uintptr_t *)rbp)[0];
			ok = 1;
		} else if (kind > GT_LEAF_OTHER) {
			uintptr_t cfa = rsp + 8 * GT_FPV_RULE_OFF(kind);
			unsigned k = GT_FPV_RULE_K(kind);
			if (cfa <= hi) {
				ret = ((const uintptr_t *)cfa)[-1];
				if (k)
					bp = ((const uintptr_t *)cfa)[-(long)k];
				sp = cfa;
				ok = 1;
			}
		}
		if (ok && gt_fpv_walk(ret, sp, bp, hi, pc, &n, max, 1, NULL) == 0) {
			count(0);
			return n;
		}
		n = 0;
	}
	if (gt_cfg.unwind != GT_UNWIND_FP) {
		int m = unwound(ucontext, rip, hi, pc, max, outside);
		if (m > 0) {
			count(1);
			return (unsigned)m;
		}
	}
	/* GOTRACE_UNWIND=fp, or libunwind not usable here: the records as they
	 * are (a frame without one loses its caller). */
	count(2);
	pc[n++] = rip;
	if (hi)
		records(rbp, rsp, hi, pc, &n, max);
	return n;
}
