/* core/record/unwind.c - stack capture: frame-record walks (bounds-checked,
 * trusted where libunwind's CFI shows them exact: GOTRACE_UNWIND=auto),
 * else libunwind (core/record/libunwind.c). Any thread, in_tracer > 0. The
 * table the stacks go into is core/record/stack.c. */
#include "core/record/stack.h"
#include "core/record/unwind.h"

#include <errno.h>
#include <pthread.h>
#include <link.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/auxv.h>

#include "core/base/arena.h"
#include "core/base/config.h"
#include "core/record/api.h"
#include "core/base/log.h"
#include "core/base/sys.h"

extern void *__libc_stack_end;              /* ld.so: the stack at _start */

/* Frame-pointer walks. Bounds-checked: each frame lies above the last and
 * below the top of this thread's stack, so a frame without a frame pointer
 * (rbp holding anything) ends the walk instead of a read of unmapped
 * memory. The top: our thread trampoline's frame (the stack ends there for
 * us); on the main thread where _start found the stack (auto) or the
 * stack's end from pthread_getattr_np (fp, and TSan's test threads, which
 * we did not start). */
void gt_stack_thread_init(uintptr_t top)
{
	struct gt_tls *tls = &gt_tls;
	pthread_attr_t a;
	void *lo;
	size_t size;

#if !defined(__SANITIZE_THREAD__)
	if (gt_cfg.unwind == GT_UNWIND_LIBUNWIND)
		return;
#endif
	if (tls->stack_hi)
		return;
	/* auto, main thread: everything is below where _start found the stack
	 * (the walk ends before, in libc's start-up code). */
	if (!top && gt_cfg.unwind == GT_UNWIND_AUTO) {
		if (getpid() == gt_gettid())
			tls->stack_hi = (uintptr_t)__libc_stack_end;
		return;
	}
	if (top) {
		tls->stack_hi = top;
		return;
	}
	if (pthread_getattr_np(pthread_self(), &a))
		return;
	if (pthread_attr_getstack(&a, &lo, &size) == 0)
		tls->stack_hi = (uintptr_t)lo + size;
	pthread_attr_destroy(&a);
}

static uintptr_t stack_top(void)
{
#if defined(__SANITIZE_THREAD__)
	if (!gt_tls.stack_hi)
		gt_stack_thread_init(0);   /* test threads: never in a signal handler */
#endif
	return gt_tls.stack_hi;   /* 0 for threads met outside our trampoline */
}

/* GOTRACE_UNWIND=fp (TSan builds always, as libunwind's per-thread cache
 * destructor crashes TSan's runtime at thread exit): frame records only. */
static int fp_backtrace(void **buf, int max)
{
	uintptr_t *fp = __builtin_frame_address(0);
	uintptr_t hi = stack_top();
	int n = 0;

	if (!hi)
		return gt_unw_backtrace(buf, max);
	while (n < max && fp && (uintptr_t)(fp + 2) <= hi) {
		uintptr_t *next = (uintptr_t *)fp[0];
		uintptr_t ret = fp[1];
		if (!ret)
			break;
		buf[n++] = (void *)ret;
		if (next <= fp || (uintptr_t)next & 7)
			break;
		fp = next;
	}
	return n;
}

/* GOTRACE_UNWIND=auto (the default): frame records where they are exact,
 * a frame without one by its rule (below), libunwind elsewhere. Whether a frame keeps its record is a property of
 * the code at its return address: a function built with frame pointers has
 * CFA = rbp + 16 at every call it makes, one built without does not (and
 * the record rbp points to then is an ancestor's, or garbage). libunwind's
 * CFI steps tell, once per return address: the frame keeps its record when
 * the caller's sp is rbp + 16 and [rbp], [rbp + 8] hold the caller's rbp
 * and pc. A walk uses the records only when every program frame it steps
 * through is known to keep one and it ends at our thread trampoline;
 * otherwise the stack is libunwind's (learning any address not known yet
 * first). Addresses are kept in an insert-only table (pc | verdict, CAS
 * into empty slots); when it is full, unknown addresses stay unknown. The
 * table is emptied after every dlclose, so that code mapped later at the
 * same addresses is learned afresh; code without CFI (a JIT's) is never
 * vouched for. The walk stays bounds-checked (each record above the last,
 * below the trampoline's, or on the main thread below where _start found
 * the stack). The main thread's stacks end in libc's start-up code, which
 * keeps no records: main's return address into it is learned as an end
 * (the frames from there down are libc's, then _start's). */
#define FPV_BITS 16
#define FPV_PROBES 16
#define FPV_GOOD (1ull << 63)
#define FPV_BAD (1ull << 62)
#define FPV_END (FPV_GOOD | FPV_BAD)   /* libc's start-up code: the stack ends */
/* A bad verdict may carry a rule (GT_FPV_RULE's bits 2..16) in bits 47..61:
 * user-space pcs are below 1 << 47 (a pc above keeps no rule). */
#define FPV_PC ((1ull << 47) - 1)
#define FPV_RULE_SHIFT 45   /* GT_FPV_RULE >> 2 << 47 */
#define FPV_RULE (((1ull << 62) - 1) & ~FPV_PC)

static uint64_t *fpv;        /* 1 << FPV_BITS entries, mapped at the first trace */
static uintptr_t libc_lo, libc_hi, entry;   /* libc's code; the program's _start */
static int fpv_full;         /* atomic */
static uint32_t fpv_gen;     /* atomic: bumped when the table is emptied */
static uint64_t n_fp, n_unw, n_learn, n_same;   /* atomic; counted with GOTRACE_DEBUG */

static inline uint64_t *fpv_at(uintptr_t pc, unsigned i)
{
	uint64_t h = ((uint64_t)pc * 0x9e3779b97f4a7c15ull) >> (64 - FPV_BITS);

	return &fpv[(h + i) & ((1u << FPV_BITS) - 1)];
}

/* The table's entry for pc (pc | verdict bits | rule), 0: unknown. */
static inline uint64_t fpv_entry(uintptr_t pc)
{
	for (unsigned i = 0; i < FPV_PROBES; i++) {
		uint64_t v = __atomic_load_n(fpv_at(pc, i), __ATOMIC_RELAXED);
		if (!v)
			return 0;
		if ((v & FPV_PC) == pc)
			return v;
	}
	return 0;
}

/* An entry as a verdict: 1 keeps its record at this return address; 2
 * libc's start-up code (the main thread's stack ends there); a rule (>= 3,
 * GT_FPV_RULE: found from its sp); -1 none of those; 0 unknown. */
static inline int fpv_decode(uint64_t v)
{
	if (!v)
		return 0;
	if ((v & FPV_END) == FPV_END)
		return 2;
	if (v & FPV_GOOD)
		return 1;
	return v & FPV_RULE ? (int)((v & FPV_RULE) >> FPV_RULE_SHIFT) | 3 : -1;
}

static inline int fpv_get(uintptr_t pc)
{
	return fpv_decode(fpv_entry(pc));
}

/* fpv_get through this thread's cache of the entries it last used that
 * let a walk go on (a record, or a rule; the main thread's end is met once
 * per walk at most). A walk in a loop then reads one line of TLS per frame
 * instead of a line of the 512 KB table (after a syscall each was a cache
 * and TLB miss: ~40 ns a 10-frame walk on a VM). */
static inline int fpv_get_cached(struct gt_tls *tls, uintptr_t pc)
{
	uint64_t *e = &tls->fpc[((uint64_t)pc * 0x9e3779b97f4a7c15ull) >> 59];
	uint64_t c = *e;   /* once: a signal handler's walk may change it */

	if (c && (c & FPV_PC) == pc)
		return fpv_decode(c);
	uint64_t v = fpv_entry(pc);
	int r = fpv_decode(v);
	if (r == 1 || r >= 3)
		*e = v;
	return r;
}

static void fpv_put(uintptr_t pc, int verdict)
{
	uint64_t want = (uint64_t)pc | (verdict == 2 ? FPV_END : verdict == 1 ? FPV_GOOD : FPV_BAD);

	if (verdict >= 3)
		want |= ((uint64_t)(unsigned)verdict << FPV_RULE_SHIFT) & FPV_RULE;
	if (!pc || ((uint64_t)pc & ~FPV_PC))
		return;
	for (unsigned i = 0; i < FPV_PROBES; i++) {
		uint64_t v = 0;
		if (__atomic_compare_exchange_n(fpv_at(pc, i), &v, want, 0, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED) || (v & FPV_PC) == pc)
			return;
	}
	__atomic_store_n(&fpv_full, 1, __ATOMIC_RELAXED);
}

static inline void count(uint64_t *c)
{
	if (__builtin_expect(gt_cfg.debug != 0, 0))
		__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* Give every return address of this stack its verdict, then return the
 * stack from libunwind. The two reads are below the caller's sp, inside
 * the frame libunwind just stepped out of: mapped. (TSan builds walk
 * frame records only: unused there.) */
void gt_fpv_learn(const uintptr_t *pcs, int *good, int m, int whole)
{
	if (!__atomic_load_n(&fpv, __ATOMIC_RELAXED))
		return;
	/* The main thread's stack ends in libc's start-up code: frames in libc
	 * down to one in the program's _start. The first of them (main's
	 * return address) ends a walk: libunwind would add the rest, which
	 * the trace omits (start-up frames are cut when stacks are named). */
	if (whole && m >= 2 && pcs[m - 1] >= entry && pcs[m - 1] < entry + 64) {
		int j = m - 2;
		while (j >= 0 && pcs[j] >= libc_lo && pcs[j] < libc_hi)
			j--;
		if (j < m - 2 && j >= 0)
			good[j + 1] = 2;
	}
	for (int k = 0; k < m; k++)
		fpv_put(pcs[k], good[k]);
}

static __attribute__((noinline, unused)) int learn(void **buf, int max, uintptr_t pc)
{
	uintptr_t pcs[GT_STACK_MAX + 24];
	int good[GT_STACK_MAX + 24], whole = 0;

	count(&n_learn);
	if (max > GT_STACK_MAX + 24)
		max = GT_STACK_MAX + 24;
	int m = gt_unw_walk(pcs, good, max, &whole);
	if (m < 0)
		return 0;
	gt_fpv_learn(pcs, good, m, whole);
	/* An address libunwind did not reach (code without CFI: a JIT's) is
	 * one we cannot vouch for; saying so once keeps it from being learned
	 * again on every walk. */
	if (!fpv_get(pc))
		fpv_put(pc, 0);
	return gt_unw_backtrace(buf, max);
}

uint32_t gt_fpv_generation(void)
{
	return __atomic_load_n(&fpv_gen, __ATOMIC_ACQUIRE);
}

void gt_stack_forget_code(void)
{
	uint64_t *t = __atomic_load_n(&fpv, __ATOMIC_RELAXED);

	if (t)
		for (unsigned i = 0; i < 1u << FPV_BITS; i++)
			__atomic_store_n(&t[i], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fpv_full, 0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&fpv_gen, 1, __ATOMIC_RELEASE);   /* and every thread's cache */
}

/* A frame without a record gets a rule with its verdict (its CFA from its
 * sp, where it saved rbp: libunwind.c's frame_kind), so libunwind is paid
 * once per return address, not per stack. */
/* The frame walk of GOTRACE_UNWIND=auto (core/record/unwind.h); with
 * hints (h), a frame whose return address is the hint's at its depth takes
 * the hint's verdict: no self check, no cache probe (verdicts depend on
 * the address alone, within one generation). */
static inline __attribute__((always_inline)) int
fpv_walk(uintptr_t ret, uintptr_t sp, uintptr_t bp, uintptr_t hi, uintptr_t *pc, unsigned *np,
	 unsigned max, int sig, uintptr_t *unknown, struct gt_walk_hint *h)
{
	struct gt_tls *tls = &gt_tls;
	unsigned n = *np, n0 = n;
	const uintptr_t *hpc = h ? h->pc : NULL;
	unsigned hn = h ? h->n : 0;

	if (!fpv)
		return -1;
	uint32_t gen = __atomic_load_n(&fpv_gen, __ATOMIC_ACQUIRE);
	if (tls->fpc_gen != gen) {
		memset(tls->fpc, 0, sizeof(tls->fpc));
		tls->fpc_gen = gen;
	}
	for (;; *np = n) {
		int v;
		if (gt_thunk_step(&ret, &sp, &bp, hi))
			return -1;
		if (n >= max) {
			count(&n_fp);
			return 0;   /* as deep as asked */
		}
		if (h && n < h->cap)
			h->bp[n] = bp;   /* (a frame of ours skipped: overwritten) */
		if (h && n < hn && ret == hpc[n]) {   /* (never 0) */
			v = h->v[n];
			pc[n++] = ret;
			if (v == 2) {
				*np = n;
				count(&n_fp);
				return 0;
			}
		} else if (!ret) {
			return -1;
		} else if (gt_stack_is_self(ret)) {
			/* Our thread trampoline (its record at the top - 16) ends
			 * the stack; a hook's walk ends at any frame of ours past
			 * the program's, a signal's keeps them. */
			if (bp == hi - 16 || (!sig && n > n0)) {
				count(&n_fp);
				return 0;
			}
			v = 1;   /* our code keeps its records */
			if (sig)
				pc[n++] = ret;
		} else {
			v = fpv_get_cached(tls, ret);
			if (h) {
				h->same = 0;
				if (n < h->cap)
					h->v[n] = v;
			}
			if (v == 2) {
				pc[n++] = ret;
				*np = n;
				count(&n_fp);
				return 0;   /* libc's start-up code: the main thread's end */
			}
			if (v <= 0) {
				if (v == 0 && unknown)
					*unknown = ret;
				return -1;
			}
			pc[n++] = ret;
		}
		if (v == 1) {   /* its record at bp, above the callee's */
			if (bp <= sp - 16 || (bp & 7) || bp + 16 > hi)
				return -1;
			const uintptr_t *r = (const uintptr_t *)bp;
			ret = r[1];
			sp = bp + 16;
			bp = r[0];
		} else {   /* its CFA from its sp (a rule libunwind's steps taught) */
			uintptr_t cfa = sp + 8 * GT_FPV_RULE_OFF(v);
			unsigned k = GT_FPV_RULE_K(v);
			if (cfa > hi)
				return -1;
			ret = ((const uintptr_t *)cfa)[-1];
			if (k)
				bp = ((const uintptr_t *)cfa)[-(long)k];
			sp = cfa;
		}
	}
}

int gt_fpv_walk(uintptr_t ret, uintptr_t sp, uintptr_t bp, uintptr_t hi, uintptr_t *pc,
		unsigned *np, unsigned max, int sig, uintptr_t *unknown)
{
	return fpv_walk(ret, sp, bp, hi, pc, np, max, sig, unknown, NULL);
}

/* gt_fp_walk's body, from the record at fp; h constant at each use. */
static inline __attribute__((always_inline)) int
fp_walk(uintptr_t *fp, uintptr_t *pc, unsigned max, uintptr_t *unknown, struct gt_walk_hint *h)
{
	uintptr_t hi = gt_tls.stack_hi;
	unsigned n = 0;

	*unknown = 0;
	if (!hi || (uintptr_t)(fp + 2) > hi ||
	    fpv_walk(fp[1], (uintptr_t)(fp + 2), fp[0], hi, pc, &n, max, 0, unknown, h))
		return -1;
	return (int)n;
}

int gt_fp_walk(uintptr_t *pc, unsigned max, uintptr_t *unknown, uintptr_t *from)
{
	return fp_walk(from ? from : __builtin_frame_address(0), pc, max, unknown, NULL);
}

int gt_fp_walk_hinted(uintptr_t *pc, unsigned max, uintptr_t *unknown, uintptr_t *from,
		      struct gt_walk_hint *h)
{
	h->same = 1;
	return fp_walk(from ? from : __builtin_frame_address(0), pc, max, unknown, h);
}

/* A walk capture.c found the same as its thread's last, counted. */
void gt_stack_count_fp(void)
{
	count(&n_fp);
	count(&n_same);
}

uint64_t gt_stack_same_count(void)
{
	return __atomic_load_n(&n_same, __ATOMIC_RELAXED);
}

/* GOTRACE_UNWIND=fp or libunwind; auto when fp_walk could not: libunwind,
 * learning the address fp_walk did not know first. */
static int backtrace_(void **buf, int max, uintptr_t unknown)
{
#if defined(__SANITIZE_THREAD__)
	(void)unknown;
	return fp_backtrace(buf, max);
#else
	if (gt_cfg.unwind == GT_UNWIND_AUTO) {
		count(&n_unw);
		if (unknown && !__atomic_load_n(&fpv_full, __ATOMIC_RELAXED))
			return learn(buf, max, unknown);
	}
	return gt_cfg.unwind == GT_UNWIND_FP ? fp_backtrace(buf, max) : gt_unw_backtrace(buf, max);
#endif
}

void gt_stack_walk_counts(uint64_t *fp, uint64_t *unw, uint64_t *learned)
{
	*fp = __atomic_load_n(&n_fp, __ATOMIC_RELAXED);
	*unw = __atomic_load_n(&n_unw, __ATOMIC_RELAXED);
	*learned = __atomic_load_n(&n_learn, __ATOMIC_RELAXED);
}

void gt_stack_log_stats(void)
{
#define N(x) (unsigned long long)__atomic_load_n(&x, __ATOMIC_RELAXED)
	if (gt_cfg.debug)
		gt_log("unwind: %llu frame-record walks (%llu a site's last stack again), %llu "
		       "libunwind, %llu learned", N(n_fp), N(n_same), N(n_unw), N(n_learn));
#undef N
}

/* Loaded when the first trace starts (before the session is published),
 * not at load: idle processes never pay for it. libunwind's own set-up
 * (~150 us) is the first program thread's walk (unw_ready): here, when
 * this is one (GOTRACE_FILE at load), else in that thread's first hook. */
void gt_stack_prepare(void)
{
	static int done;
	uintptr_t warm[8];

	if (done)
		return;
	done = 1;
	if (!gt_unw_load()) {
		/* auto walks frame records alone then; libunwind: no stacks */
		gt_log("libunwind.so.8 not loaded: stacks %s",
		       gt_cfg.unwind == GT_UNWIND_LIBUNWIND ? "are empty" : "from frame records only");
		if (gt_cfg.unwind == GT_UNWIND_AUTO)
			gt_cfg.unwind = GT_UNWIND_FP;
	}
	if (gt_cfg.unwind == GT_UNWIND_AUTO) {
		gt_stack_text(0, "/libc.so", &libc_lo, &libc_hi);   /* the start-up frames' object */
		entry = (uintptr_t)getauxval(AT_ENTRY);
		fpv = gt_map(sizeof(*fpv) << FPV_BITS);   /* NULL: libunwind only */
	}
	gt_stack_capture(warm, 8, 0);
}

unsigned gt_stack_capture(uintptr_t *pc, unsigned max, uintptr_t fn)
{
	void *buf[GT_STACK_MAX + 24];
	unsigned k = 0;

	if (fn && k < max)
		pc[k++] = fn;
	uintptr_t unknown = 0;
#if !defined(__SANITIZE_THREAD__)
	/* The common case: frame records, straight into pc. */
	if (gt_cfg.unwind == GT_UNWIND_AUTO) {
		int m = gt_fp_walk(pc + k, max - k, &unknown, NULL);
		if (m >= 0)
			return k + (unsigned)m;
	}
#endif
	int n = backtrace_(buf, GT_STACK_MAX + 24, unknown);
	int i = 0;

	/* Skip libunwind's own frames, then ours (core + the hook). */
	while (i < n && !gt_stack_is_self((uintptr_t)buf[i]))
		i++;
	while (i < n && gt_stack_is_self((uintptr_t)buf[i]))
		i++;
	/* Stop at our thread trampoline: what is beyond is libc's start code. */
	for (; i < n && k < max; i++) {
		if (gt_stack_is_self((uintptr_t)buf[i]))
			break;
		pc[k++] = (uintptr_t)buf[i];
	}
	return k;
}
