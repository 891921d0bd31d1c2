/* core/base/clock.h - trace timestamps: CLOCK_MONOTONIC nanoseconds (vDSO),
 * written with EvFrequency = 1e9. System-wide monotonic, so a time read
 * before an action is published orders it across threads. Signal-safe.
 *
 * gt_clock_fast: the same time from the TSC where the kernel keeps time by
 * it (clocksource tsc): ~12 ns against ~30 for clock_gettime. Hooks read it
 * at both ends of a blocking call while tracing (raw: gt_clock_try_raw),
 * and a call long enough to record converts both (gt_clock_ns_of2).
 * It is the clock's time at the service thread's last look (every loop
 * tick while tracing) plus the ticks since, at the rate measured between
 * its looks: off by at most the drift of a tick's interval (~ns). Until
 * the rate is known, and without a usable TSC, it is gt_clock_now. */
#ifndef GT_CLOCK_H
#define GT_CLOCK_H

#include <stdint.h>
#include <time.h>

#include "core/base/visibility.h"

static inline uint64_t gt_clock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The service thread's last look, under a sequence count (odd: changing). */
struct gt_clock_anchor {
	uint32_t seq;
	uint64_t ns, tsc;
	uint64_t mult;   /* ns = ticks * mult >> 32; 0: no usable TSC (yet) */
};
extern struct gt_clock_anchor gt_clock_anchor GT_HIDDEN;
/* GOTRACE_BLOCK_NS in TSC ticks at the last look's rate, for the traced
 * thunk (core/record/thunk.c): a call at least this long is recorded. 0
 * while the rate is not known (or there is no usable TSC). */
extern uint64_t gt_clock_thr GT_HIDDEN;

/* Once, before the first trace: is the TSC the kernel's clocksource? */
void gt_clock_prepare(void);
/* The service thread, every loop tick while tracing: look again. */
void gt_clock_tick(void);
/* ms until a look would give the TSC's rate, while it is not known yet
 * (hooks read clock_gettime until then): -1 when known or unusable. */
int gt_clock_rate_due_ms(void);

/* The TSC's time into *ns: 1, or 0 (nothing read) when there is no usable
 * TSC or a look is in progress. (A hook's fast path reads the bare TSC
 * instead: gt_clock_try_raw.) */
static inline int gt_clock_try_fast(uint64_t *ns)
{
#if defined(__x86_64__)
	struct gt_clock_anchor *a = &gt_clock_anchor;

	/* All seq_cst (plain loads on x86; TSan has no fences): a load of
	 * the anchor that sees a look in progress is followed by a load of
	 * seq that sees it too. */
	for (;;) {
		uint32_t s = __atomic_load_n(&a->seq, __ATOMIC_SEQ_CST);
		uint64_t mult = __atomic_load_n(&a->mult, __ATOMIC_SEQ_CST);
		if (!mult || (s & 1))
			return 0;
		uint64_t base = __atomic_load_n(&a->ns, __ATOMIC_SEQ_CST);
		uint64_t tsc = __atomic_load_n(&a->tsc, __ATOMIC_SEQ_CST);
		uint64_t now = __builtin_ia32_rdtsc();
		if (__atomic_load_n(&a->seq, __ATOMIC_SEQ_CST) != s)
			continue;
		/* A TSC behind the anchor (another CPU's, a little behind):
		 * the anchor's time. */
		uint64_t d = now > tsc ? now - tsc : 0;
		*ns = base + (uint64_t)(((unsigned __int128)d * mult) >> 32);
		return 1;
	}
#else
	(void)ns;
	return 0;
#endif
}

/* A call's start as the bare TSC, tagged GT_CLOCK_RAW (bit 63: no time in
 * ns has it), for a hook's fast path: most calls only ask how long they
 * took, which needs neither the anchor's sequence count nor its base.
 * 1, or 0 without a usable TSC. gt_clock_ns_of gives the time. */
#define GT_CLOCK_RAW (1ull << 63)
static inline int gt_clock_try_raw(uint64_t *v)
{
#if defined(__x86_64__)
	if (!__atomic_load_n(&gt_clock_anchor.mult, __ATOMIC_RELAXED))
		return 0;
	*v = __builtin_ia32_rdtsc() | GT_CLOCK_RAW;
	return 1;
#else
	(void)v;
	return 0;
#endif
}

/* The TSC now, tagged as gt_clock_try_raw's (only where that gave 1). */
static inline uint64_t gt_clock_raw_now(void)
{
#if defined(__x86_64__)
	return __builtin_ia32_rdtsc() | GT_CLOCK_RAW;
#else
	return 0;
#endif
}

/* ns from raw a to raw b, at the rate of the last look. */
static inline uint64_t gt_clock_raw_between(uint64_t a, uint64_t b)
{
	uint64_t mult = __atomic_load_n(&gt_clock_anchor.mult, __ATOMIC_RELAXED);

	a &= ~GT_CLOCK_RAW;
	b &= ~GT_CLOCK_RAW;
	return b > a ? (uint64_t)(((unsigned __int128)(b - a) * mult) >> 32) : 0;
}

/* ns since raw (gt_clock_try_raw's): how long a call took so far. */
static inline uint64_t gt_clock_raw_elapsed(uint64_t raw)
{
	return gt_clock_raw_between(raw, gt_clock_raw_now());
}

/* A time in ns, or a raw TSC start converted by the anchor (signal-safe). */
uint64_t gt_clock_ns_of(uint64_t v);
/* Both of them so, by one look at the anchor: a call's start and end. */
void gt_clock_ns_of2(uint64_t *v, uint64_t *w);

static inline uint64_t gt_clock_fast(void)
{
	uint64_t ns;

	return gt_clock_try_fast(&ns) ? ns : gt_clock_now();
}

#endif
