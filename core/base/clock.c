/* core/base/clock.c - the TSC's rate against CLOCK_MONOTONIC (see clock.h). */
#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/real.h"

#include <fcntl.h>
#include <string.h>
#include <unistd.h>

struct gt_clock_anchor gt_clock_anchor;
uint64_t gt_clock_thr;

static int usable;          /* the kernel keeps time by the TSC */
static uint64_t ns0, tsc0;  /* the first look: the rate's base */
#define RATE_NS 10000000ull /* the looks a first rate takes, apart */

#if defined(__x86_64__)
static inline uint64_t tsc(void)
{
	return __builtin_ia32_rdtsc();
}
#else
static inline uint64_t tsc(void)
{
	return 0;
}
#endif

void gt_clock_prepare(void)
{
#if defined(__x86_64__)
	static int done;
	char buf[32] = "";

	if (done)
		return;
	done = 1;
	int fd = gt_open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
		      O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		ssize_t n = gt_read(fd, buf, sizeof(buf) - 1);
		buf[n > 0 ? n : 0] = '\0';
		gt_close(fd);
	}
	usable = strcmp(buf, "tsc\n") == 0;
#endif
}

/* A raw TSC value v (untagged) in ns by one look: either side of it. */
static inline uint64_t at(uint64_t v, uint64_t base, uint64_t tsc, uint64_t mult)
{
	if (v >= tsc)
		return base + (uint64_t)(((unsigned __int128)(v - tsc) * mult) >> 32);
	uint64_t back = (uint64_t)(((unsigned __int128)(tsc - v) * mult) >> 32);
	return back < base ? base - back : 0;
}

/* *v (and *w, when given), each a time in ns or a raw TSC value, in ns by
 * one consistent look at the anchor (as gt_clock_try_fast reads it). */
static void ns_of(uint64_t *v, uint64_t *w)
{
	struct gt_clock_anchor *a = &gt_clock_anchor;

	for (;;) {
		uint32_t s = __atomic_load_n(&a->seq, __ATOMIC_SEQ_CST);
		uint64_t mult = __atomic_load_n(&a->mult, __ATOMIC_SEQ_CST);
		uint64_t base = __atomic_load_n(&a->ns, __ATOMIC_SEQ_CST);
		uint64_t tsc = __atomic_load_n(&a->tsc, __ATOMIC_SEQ_CST);
		if (s & 1) {   /* a look in progress (maybe under us, in a handler) */
			uint64_t now = gt_clock_now();
			if (*v & GT_CLOCK_RAW)
				*v = now - gt_clock_raw_elapsed(*v);
			if (w && (*w & GT_CLOCK_RAW))
				*w = now - gt_clock_raw_elapsed(*w);
			return;
		}
		if (__atomic_load_n(&a->seq, __ATOMIC_SEQ_CST) != s)
			continue;
		if (*v & GT_CLOCK_RAW)
			*v = at(*v & ~GT_CLOCK_RAW, base, tsc, mult);
		if (w && (*w & GT_CLOCK_RAW))
			*w = at(*w & ~GT_CLOCK_RAW, base, tsc, mult);
		return;
	}
}

uint64_t gt_clock_ns_of(uint64_t v)
{
	if (v & GT_CLOCK_RAW)
		ns_of(&v, NULL);
	return v;
}

void gt_clock_ns_of2(uint64_t *v, uint64_t *w)
{
	if ((*v | *w) & GT_CLOCK_RAW)
		ns_of(v, w);
}

int gt_clock_rate_due_ms(void)
{
	if (!usable || !ns0 || __atomic_load_n(&gt_clock_anchor.mult, __ATOMIC_RELAXED))
		return -1;
	uint64_t d = gt_clock_now() - ns0;
	return d >= RATE_NS ? 1 : (int)((RATE_NS - d + 999999) / 1000000);   /* never 0: no spin */
}

/* A rate from looks at least 10 ms apart; the base stays the first look,
 * so it only gets more exact, and the anchor moves to every look. */
void gt_clock_tick(void)
{
	struct gt_clock_anchor *a = &gt_clock_anchor;

	if (!usable)
		return;
	/* The clock read between two TSC reads: its time is at their middle,
	 * of the closest pair of three (an interrupt can fall between). */
	uint64_t ns = 0, t = 0, gap = UINT64_MAX;
	for (int i = 0; i < 3; i++) {
		uint64_t ta = tsc(), n = gt_clock_now(), tb = tsc();
		if (tb - ta < gap) {
			gap = tb - ta;
			ns = n;
			t = ta + gap / 2;
		}
	}
	if (!ns0) {
		ns0 = ns;
		tsc0 = t;
		return;
	}
	if (ns - ns0 < RATE_NS || t <= tsc0)
		return;
	uint64_t mult = (uint64_t)((((unsigned __int128)(ns - ns0)) << 32) / (t - tsc0));
	uint32_t seq = __atomic_load_n(&a->seq, __ATOMIC_RELAXED);   /* one writer */
	__atomic_store_n(&a->seq, seq + 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&a->ns, ns, __ATOMIC_SEQ_CST);
	__atomic_store_n(&a->tsc, t, __ATOMIC_SEQ_CST);
	__atomic_store_n(&a->mult, mult, __ATOMIC_SEQ_CST);
	__atomic_store_n(&a->seq, seq + 2, __ATOMIC_SEQ_CST);
	/* The fewest ticks d with d * mult >> 32 >= block_ns (as
	 * gt_clock_raw_between measures); at least 1 (0 says unknown). */
	unsigned __int128 thr = ((((unsigned __int128)gt_cfg.block_ns) << 32) + mult - 1) / mult;
	__atomic_store_n(&gt_clock_thr, thr > UINT64_MAX ? UINT64_MAX : thr ? (uint64_t)thr : 1,
			 __ATOMIC_RELAXED);
}
