/* core/prof/agg.c - a CPU profile's samples, gathered from the threads'
 * rings into one count per distinct stack. Service thread only (no lock;
 * its memory from gt_malloc). */
#include "core/prof/prof_int.h"

#include <string.h>

#include "core/base/real.h"
#include "core/write/ctl.h"
#include "core/record/thread.h"

struct entry {
	uint64_t hash;       /* 0: empty */
	uint64_t count;
	size_t off;          /* in pool */
	unsigned n;
};

static struct {
	struct entry *tab;   /* open addressing, cap a power of two */
	size_t cap, used;
	uintptr_t *pool;     /* the stacks' pcs, one after another */
	size_t pool_len, pool_cap;
	size_t *order;       /* entries in first-seen order, for output */
	uint64_t samples, lost, dropped;
} a;

void gt_prof_agg_reset(void)
{
	gt_free(a.tab);
	gt_free(a.pool);
	gt_free(a.order);
	memset(&a, 0, sizeof(a));
}

static uint64_t hash(const uintptr_t *pc, unsigned n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n;

	for (unsigned i = 0; i < n; i++)
		h = (h ^ pc[i]) * 0xff51afd7ed558ccdull, h ^= h >> 32;
	return h | 1;
}

static int grow(void)
{
	size_t cap = a.cap ? a.cap * 2 : 1024;
	struct entry *t = gt_calloc(cap, sizeof(*t));
	size_t *o = gt_realloc(a.order, cap / 2 * sizeof(*o));

	if (!t || !o) {
		gt_free(t);
		if (o)
			a.order = o;
		return -1;
	}
	a.order = o;
	for (size_t k = 0; k < a.used; k++) {
		struct entry *e = &a.tab[a.order[k]];
		size_t j = e->hash & (cap - 1);
		while (t[j].hash)
			j = (j + 1) & (cap - 1);
		t[j] = *e;
		a.order[k] = j;
	}
	gt_free(a.tab);
	a.tab = t;
	a.cap = cap;
	return 0;
}

void gt_prof_agg_add(const uintptr_t *pc, unsigned n, uint64_t weight)
{
	uint64_t h = hash(pc, n);

	if ((a.used + 1) * 2 > a.cap && grow()) {
		a.dropped += weight;
		return;
	}
	size_t j = h & (a.cap - 1);
	for (; a.tab[j].hash; j = (j + 1) & (a.cap - 1)) {
		struct entry *e = &a.tab[j];
		if (e->hash == h && e->n == n && !memcmp(a.pool + e->off, pc, n * sizeof(*pc))) {
			e->count += weight;
			a.samples += weight;
			return;
		}
	}
	if (a.pool_len + n > a.pool_cap) {
		size_t cap = a.pool_cap ? a.pool_cap * 2 : 4096;
		while (cap < a.pool_len + n)
			cap *= 2;
		uintptr_t *p = gt_realloc(a.pool, cap * sizeof(*p));
		if (!p) {
			a.dropped += weight;
			return;
		}
		a.pool = p;
		a.pool_cap = cap;
	}
	memcpy(a.pool + a.pool_len, pc, n * sizeof(*pc));
	a.tab[j] = (struct entry){ h, weight, a.pool_len, n };
	a.pool_len += n;
	a.order[a.used++] = j;
	a.samples += weight;
}

struct drain {
	uint32_t sess;
};

static void drain_one(struct gt_thread *t, void *arg)
{
	const struct drain *d = arg;
	struct gt_prof_thread *pt = __atomic_load_n(&t->prof, __ATOMIC_ACQUIRE);
	uintptr_t pc[GT_STACK_MAX];

	if (!pt)
		return;
	uint32_t head = __atomic_load_n(&pt->head, __ATOMIC_ACQUIRE), tail = pt->tail;
	while (tail != head) {
		uint64_t h = pt->w[tail & pt->mask];
		unsigned n = PROF_N(h);
		if (!d->sess || PROF_SESS(h) != d->sess || n > GT_STACK_MAX ||
		    head - tail < PROF_WORDS(n)) {
			tail = head;   /* an older profile's: all of it goes */
			break;
		}
		uint64_t at = pt->w[(tail + 1) & pt->mask], pg = pt->w[(tail + 2) & pt->mask];
		for (unsigned i = 0; i < n; i++)
			pc[i] = (uintptr_t)pt->w[(tail + 3 + i) & pt->mask];
		gt_prof_agg_add(pc, n, PROF_WEIGHT(h));
		/* and into the trace in progress, if any, on the goroutine it
		 * was taken on */
		gt_ctl_cpu_sample(at, PROF_P(pg), PROF_G(pg), pc, n);
		tail += PROF_WORDS(n);
	}
	__atomic_store_n(&pt->tail, tail, __ATOMIC_RELEASE);
	uint32_t lost = __atomic_exchange_n(&pt->lost, 0, __ATOMIC_RELAXED);
	if (d->sess)
		a.lost += lost;
}

/* The threads that ended without a timer's sample: [ours, start + 1]
 * (a return address one past the start routine's entry names it). */
static void drain_shorts(uint32_t sess)
{
	struct gt_prof_short sh[GT_PROF_SHORT_MAX];
	uint64_t lost;
	unsigned n = gt_prof_short_take(sh, &lost);

	for (unsigned i = 0; i < n; i++) {
		uintptr_t pc[2] = { sh[i].marker, sh[i].fn + 1 };
		if (sess && sh[i].sess == sess)
			gt_prof_agg_add(pc, sh[i].fn ? 2 : 1, sh[i].weight);
	}
	if (sess)
		a.lost += lost;
}

void gt_prof_agg_drain(uint32_t sess)
{
	struct drain d = { sess };

	gt_thread_foreach(drain_one, &d);
	drain_shorts(sess);
	gt_ctl_cpu_flush();
}

int gt_prof_agg_get(size_t i, struct gt_prof_stack *out)
{
	if (i >= a.used)
		return 0;
	const struct entry *e = &a.tab[a.order[i]];
	out->count = e->count;
	out->n = e->n;
	out->pc = a.pool + e->off;
	return 1;
}

uint64_t gt_prof_agg_samples(void)
{
	return a.samples;
}

uint64_t gt_prof_agg_lost(void)
{
	return a.lost + a.dropped;
}
