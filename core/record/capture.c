/* core/record/capture.c - an event's stack id: the hooks' frame walk,
 * and the thread's last stack reused without a lookup. */
#include "core/record/stack.h"
#include "core/record/unwind.h"

#include <string.h>

#include "core/base/config.h"
#include "core/base/tls.h"

/* The last stack this thread's events had: a call in a loop has the same
 * one each time, and its id comes without hashing and a lookup (~160
 * instructions for 10 frames). Valid for the verdict table's gen. */
#define LAST_MAX 24
static __thread struct {
	uint32_t gen, sid, flags;
	unsigned n;   /* 0: none */
	uintptr_t pc[LAST_MAX];
	int32_t v[LAST_MAX];   /* each frame's verdict: the walk's hint */
} last __attribute__((tls_model("initial-exec"), unused));

uint32_t gt_stack_capture_id(uintptr_t fn, unsigned max, unsigned flags)
{
	uintptr_t pc[GT_STACK_MAX];
	unsigned n;

#if !defined(__SANITIZE_THREAD__)
	if (gt_cfg.unwind == GT_UNWIND_AUTO && max) {
		uint32_t gen = gt_fpv_generation();
		unsigned k = 0, pn = 0;
		uintptr_t unknown;
		if (fn)
			pc[k++] = fn;
		if (last.n > k && last.gen == gen && last.flags == flags && (!fn || last.pc[0] == fn))
			pn = last.n - k;
		/* From the hook's frame record when in its call: our frames
		 * below it need no walking. The last stack is the walk's hint:
		 * its frames' verdicts come without a look-up, and when every
		 * frame is the same, so is the id. */
		uintptr_t *from = gt_tls.in_call ? (uintptr_t *)gt_tls.call_fp : NULL;
		struct gt_walk_hint h = { last.pc + k, last.v + k, pn, LAST_MAX - k, 0 };
		int m = gt_fp_walk_hinted(pc + k, max - k, &unknown, from, &h);
		n = k + (unsigned)m;
		if (m >= 0 && pn && n == last.n && h.same)
			return last.sid;
		last.n = 0;   /* last.v now holds some of this walk's verdicts */
		if (m >= 0) {
			uint32_t sid = gt_stack_intern(pc, n, flags);
			if (sid && n <= LAST_MAX) {
				memcpy(last.pc, pc, n * sizeof(*pc));
				last.n = n;
				last.gen = gen;
				last.flags = flags;
				last.sid = sid;
			}
			return sid;
		}
	}
#endif
	n = gt_stack_capture(pc, max, fn);
	return gt_stack_intern(pc, n, flags);
}
