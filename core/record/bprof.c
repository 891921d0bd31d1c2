/* core/record/bprof.c - see bprof.h. One table for both profiles, open
 * addressing on (profile, stack id), mapped at the first rate set and kept:
 * entries are claimed by a compare-and-swap of their key and counted with
 * atomic adds, so a hook never waits and never allocates. */
#include "core/record/bprof.h"

#include <errno.h>

#include "core/base/arena.h"
#include "core/base/mix.h"
#include "core/record/api.h"
#include "core/record/hprof.h"

uint64_t gt_rec_on;

struct ent {
	uint64_t key;     /* (profile + 1) << 32 | sid; 0: free */
	uint64_t count, delay;
};

static struct ent *tab;          /* GT_BPROF_CAP entries; set once (release) */
static int64_t rates[GT_BPROFS];
static uint64_t lost, rnd;

static int any_rate(void)
{
	return (__atomic_load_n(&rates[GT_BPROF_BLOCK], __ATOMIC_RELAXED) |
		__atomic_load_n(&rates[GT_BPROF_MUTEX], __ATOMIC_RELAXED)) != 0;
}

void gt_rec_update(void)
{
	uint64_t on = __atomic_load_n(&gt_trace_on, __ATOMIC_RELAXED);

	if (any_rate())
		on |= GT_REC_PROF;
	__atomic_store_n(&gt_rec_on, on, __ATOMIC_RELEASE);
	gt_hprof_gate();
}

int gt_bprof_set_rate(unsigned which, int64_t rate)
{
	if (which >= GT_BPROFS)
		return -EINVAL;
	if (rate > 0 && !__atomic_load_n(&tab, __ATOMIC_ACQUIRE)) {
		struct ent *t = gt_map(GT_BPROF_CAP * sizeof(*t));
		if (!t)
			return -ENOMEM;
		__atomic_store_n(&tab, t, __ATOMIC_RELEASE);
	}
	__atomic_store_n(&rates[which], rate > 0 ? rate : 0, __ATOMIC_RELEASE);
	gt_rec_update();
	return 0;
}

int64_t gt_bprof_rate(unsigned which)
{
	return which < GT_BPROFS ? __atomic_load_n(&rates[which], __ATOMIC_RELAXED) : 0;
}


/* splitmix64 of a shared counter: one atomic add per sampled decision. */
static uint64_t random64(void)
{
	return gt_mix64(__atomic_add_fetch(&rnd, 0x9e3779b97f4a7c15ull, __ATOMIC_RELAXED));
}

unsigned gt_bprof_pick(unsigned lock, uint64_t d, uint64_t w[2 * GT_BPROFS])
{
	int64_t rb = __atomic_load_n(&rates[GT_BPROF_BLOCK], __ATOMIC_RELAXED);
	int64_t rm = __atomic_load_n(&rates[GT_BPROF_MUTEX], __ATOMIC_RELAXED);
	unsigned which = 0;

	if (d == 0)
		d = 1;
	/* Go's blocksampled and saveblockevent: a wait of at least rate ns
	 * counts once with its delay; a shorter one with probability d/rate,
	 * then as rate/d contentions of rate ns in all (no bias). */
	if (rb > 0) {
		uint64_t r = (uint64_t)rb;
		if (d >= r) {
			w[0] = 1u << GT_BPROF_FX;
			w[1] = d;
			which |= 1u << GT_BPROF_BLOCK;
		} else if (random64() % r < d) {
			w[0] = (r << GT_BPROF_FX) / d;
			w[1] = r;
			which |= 1u << GT_BPROF_BLOCK;
		}
	}
	/* SetMutexProfileFraction(n): one lock wait in n, counted n times. */
	if (rm > 0 && lock && (rm == 1 || random64() % (uint64_t)rm == 0)) {
		w[2] = (uint64_t)rm << GT_BPROF_FX;
		w[3] = (uint64_t)rm * d;
		which |= 1u << GT_BPROF_MUTEX;
	}
	return which;
}

static void add_one(unsigned p, uint32_t sid, uint64_t count, uint64_t delay)
{
	struct ent *t = __atomic_load_n(&tab, __ATOMIC_ACQUIRE);
	uint64_t key = (uint64_t)(p + 1) << 32 | sid;

	if (!t)
		return;
	size_t j = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 48) & (GT_BPROF_CAP - 1);
	for (unsigned probe = 0; probe < 64; probe++, j = (j + 1) & (GT_BPROF_CAP - 1)) {
		uint64_t k = __atomic_load_n(&t[j].key, __ATOMIC_ACQUIRE);
		if (k == 0) {
			uint64_t zero = 0;
			if (__atomic_compare_exchange_n(&t[j].key, &zero, key, 0, __ATOMIC_ACQ_REL,
							__ATOMIC_ACQUIRE))
				k = key;
			else
				k = zero;
		}
		if (k == key) {
			__atomic_fetch_add(&t[j].count, count, __ATOMIC_RELAXED);
			__atomic_fetch_add(&t[j].delay, delay, __ATOMIC_RELAXED);
			return;
		}
	}
	__atomic_fetch_add(&lost, 1, __ATOMIC_RELAXED);
}

void gt_bprof_add(unsigned which, uint32_t sid, const uint64_t w[2 * GT_BPROFS])
{
	for (unsigned p = 0; p < GT_BPROFS; p++)
		if (which & 1u << p)
			add_one(p, sid, w[2 * p], w[2 * p + 1]);
}

int gt_bprof_get(unsigned which, size_t *i, struct gt_bprof_entry *out)
{
	struct ent *t = __atomic_load_n(&tab, __ATOMIC_ACQUIRE);

	for (; t && *i < GT_BPROF_CAP; (*i)++) {
		uint64_t k = __atomic_load_n(&t[*i].key, __ATOMIC_ACQUIRE);
		uint64_t c = __atomic_load_n(&t[*i].count, __ATOMIC_RELAXED);
		if (k >> 32 != which + 1 || !c)   /* another's, or claimed not counted yet */
			continue;
		out->sid = (uint32_t)k;
		out->count = c;
		out->delay = __atomic_load_n(&t[*i].delay, __ATOMIC_RELAXED);
		(*i)++;
		return 1;
	}
	return 0;
}

uint64_t gt_bprof_lost(void)
{
	return __atomic_load_n(&lost, __ATOMIC_RELAXED);
}
