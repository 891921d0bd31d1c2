/* core/record/capture.c - an event's stack id: the hooks' frame walk,
 * and the last stack of each of a thread's call sites reused without a
 * lookup. */
#include "core/record/stack.h"
#include "core/record/unwind.h"
#include "core/record/thread.h"

#include <string.h>

#include "core/base/config.h"
#include "core/base/tls.h"

/* The last stacks of a thread's events, by call site (struct gt_thread's
 * sites): a call in a loop has the same one each time, and its id comes
 * without hashing and a lookup (~160 instructions for 10 frames). Four,
 * each for a site (the real function and the hook's return address),
 * taken in turn: a loop of calls at up to four sites (read then write,
 * lock then wait) finds each its own; with one, st-syscalls' read and
 * write missed every time. Each valid for the verdict table's gen. */
#define LAST_MAX GT_SITE_MAX

#if !defined(__SANITIZE_THREAD__)
static struct gt_site_stack *last_of(struct gt_thread *t, uintptr_t site)
{
	for (unsigned i = 0; i < GT_SITE_WAYS; i++)
		if (t->sites[i].site == site)
			return &t->sites[i];
	struct gt_site_stack *l = &t->sites[t->site_next++ % GT_SITE_WAYS];
	l->site = site;
	l->n = 0;
	return l;
}

/* Whether the walk from the record at from gives h's frames, with the
 * same verdicts, and stops where it did: a call in a loop, checked without
 * a store, a verdict look-up or a self check per frame, and without a
 * bounds test where the frame pointer is the one the hint's walk tested
 * (callgrind, event_cost: 973 instructions an event with the hinted walk,
 * 880 with this and bounds tests, 796 without them). 0: walk (it may still
 * be the same). The verdicts are valid: the last stack's are of this
 * generation. */
static int walk_same(uintptr_t *from, const struct gt_walk_hint *h, unsigned max)
{
	const uintptr_t *fp = from ? from : __builtin_frame_address(0);
	const uintptr_t *hpc = h->pc, *hbp = h->bp;
	const int32_t *hv = h->v;
	uintptr_t hi = gt_tls.stack_hi;
	unsigned hn = h->n;

	if (!hi || !hn || hn > max || (uintptr_t)(fp + 2) > hi)
		return 0;
	uintptr_t ret = fp[1], sp = (uintptr_t)(fp + 2), bp = fp[0];
	while (gt_stack_is_self(ret)) {   /* our frames above the program's */
		if (bp == hi - 16 || bp - sp + 15 >= hi - sp || (bp & 7))
			return 0;
		const uintptr_t *r = (const uintptr_t *)bp;
		ret = r[1];
		sp = bp + 16;
		bp = r[0];
	}
	for (unsigned n = 0; n < hn; n++) {
		int32_t v = hv[n];
		if (ret != hpc[n])
			return 0;
		if (__builtin_expect(v == 1, 1)) {
			/* The bp this frame had in the walk that made the hint
			 * was checked then, on this thread's stack: the same
			 * needs no test. Else fpv_walk's bp > sp - 16 and bp +
			 * 16 <= hi in one unsigned test (sp <= hi here). */
			if (bp != hbp[n] && (bp - sp + 15 >= hi - sp || (bp & 7)))
				return 0;
			const uintptr_t *r = (const uintptr_t *)bp;
			ret = r[1];
			sp = bp + 16;
			bp = r[0];
		} else if (v == 2) {
			return n + 1 == hn;
		} else if ((v & 3) == 3) {
			uintptr_t cfa = sp + 8 * GT_FPV_RULE_OFF(v);
			unsigned k = GT_FPV_RULE_K(v);
			if (cfa > hi)
				return 0;
			ret = ((const uintptr_t *)cfa)[-1];
			if (k)
				bp = ((const uintptr_t *)cfa)[-(long)k];
			sp = cfa;
		} else {
			return 0;
		}
	}
	/* fpv_walk stopped after them: as deep as asked, or at our frame */
	return hn == max || (ret && gt_stack_is_self(ret));
}
#endif

uint32_t gt_stack_capture_id(uintptr_t fn, unsigned max, unsigned flags)
{
	uintptr_t pc[GT_STACK_MAX];
	unsigned n;

	/* On a sigaltstack with less than 64 KB below: no stack (see
	 * preload/signal.c's sigaltstack). */
	uintptr_t sp = (uintptr_t)pc, alo = gt_tls.alt_lo;
	if (__builtin_expect(sp >= alo && sp < gt_tls.alt_hi && sp - alo < (64u << 10), 0))
		return 0;

#if !defined(__SANITIZE_THREAD__)
	struct gt_thread *t = gt_tls.t;

	if (gt_cfg.unwind == GT_UNWIND_AUTO && max && t) {
		uint32_t gen = gt_fpv_generation();
		unsigned k = 0, pn = 0;
		uintptr_t unknown;
		/* From the hook's frame record when in its call: our frames
		 * below it need no walking. The site's last stack is the
		 * walk's hint: its frames' verdicts come without a look-up,
		 * and when every frame is the same, so is the id. */
		uintptr_t *from = gt_tls.in_call ? (uintptr_t *)gt_tls.call_fp : NULL;
		uintptr_t site = fn ^ (from ? from[1] : 0);
		struct gt_site_stack *last = last_of(t, site);
		if (fn)
			pc[k++] = fn;
		if (last->n > k && last->gen == gen && last->flags == flags && (!fn || last->pc[0] == fn))
			pn = last->n - k;
		struct gt_walk_hint h = { last->pc + k, last->v + k, last->bp + k, pn, LAST_MAX - k, 0 };
		if (pn && walk_same(from, &h, max - k)) {
			if (gt_cfg.debug)
				gt_stack_count_fp();
			return last->sid;
		}
		int m = gt_fp_walk_hinted(pc + k, max - k, &unknown, from, &h);
		n = k + (unsigned)m;
		if (m >= 0 && pn && n == last->n && h.same)
			return last->sid;
		last->n = 0;   /* last->v now holds some of this walk's verdicts */
		if (m >= 0) {
			uint32_t sid = gt_stack_intern(pc, n, flags);
			if (sid && n <= LAST_MAX) {
				memcpy(last->pc, pc, n * sizeof(*pc));
				last->n = n;
				last->gen = gen;
				last->flags = flags;
				last->sid = sid;
			}
			return sid;
		}
	}
#endif
	n = gt_stack_capture(pc, max, fn);
	return gt_stack_intern(pc, n, flags);
}

static int (*peeker)(uintptr_t fp, uintptr_t hi, uintptr_t *pc, int max);

void gt_stack_set_peeker(int (*walk)(uintptr_t fp, uintptr_t hi, uintptr_t *pc, int max))
{
	peeker = walk;
}

uint32_t gt_stack_capture_of(const struct gt_tls *tls, unsigned max)
{
#if !defined(__SANITIZE_THREAD__)
	uintptr_t pc[GT_STACK_MAX], unknown;
	uintptr_t fp = tls->call_fp, fn = tls->call_fn, hi = tls->stack_hi;
	unsigned n = 0, k;

	if (!max || max > GT_STACK_MAX || !fp || (fp & 7) || (hi && fp + 16 > hi) ||
	    (fp >= tls->alt_lo && fp < tls->alt_hi))
		return 0;
	const uintptr_t *f = (const uintptr_t *)fp;
	if (fn)
		pc[n++] = fn;
	k = n;
	/* GOTRACE_UNWIND=fp: the frame records as they are, as the thread's
	 * own walk takes them. Else the frame walk where every frame's
	 * verdict is known (a site recorded before), or libunwind's (hi 0,
	 * not known in that mode: it reads the stack through the kernel), to
	 * our first frame (the thread trampoline: where the owner's ends). */
	if (gt_cfg.unwind == GT_UNWIND_FP) {
		uintptr_t ret = f[1], sp = fp + 16, bp = f[0];
		while (hi && n < max && ret && !gt_stack_is_self(ret)) {
			pc[n++] = ret;
			if (bp < sp || bp + 16 > hi || (bp & 7))
				break;
			ret = ((const uintptr_t *)bp)[1];
			sp = bp + 16;
			bp = ((const uintptr_t *)bp)[0];
		}
	} else if (gt_cfg.unwind != GT_UNWIND_AUTO || !hi ||
		   gt_fpv_walk(f[1], fp + 16, f[0], hi, pc, &n, max, 0, &unknown)) {
		int m = peeker ? peeker(fp, hi, pc + k, (int)(max - k)) : 0;
		for (n = k; n < k + (unsigned)(m > 0 ? m : 0) && !gt_stack_is_self(pc[n]); n++)
			;
	}
	if (n <= k)
		return 0;
	return gt_stack_intern(pc, n, fn ? GT_STK_FN : 0);
#else
	(void)tls, (void)max;
	return 0;
#endif
}
