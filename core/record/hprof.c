/* core/record/hprof.c - see hprof.h. The countdown to the next sample is
 * the thread's (no shared write per allocation); a sample takes a lock:
 * at the default rate that is once per 512 KiB allocated. The sampled
 * blocks live in a chained table whose nodes come from a pool mapped at
 * the first rate set (nothing here calls malloc); a free looks there only
 * when the filter's bit for its address is set. The bits are the counts'
 * shadow: each count (saturating) says how many live sampled blocks hash
 * to its slot, under the lock; the hooks read only the 4 KiB of bits,
 * which stay in L1 where 256 KiB of counts missed it (issue 26). */
#include "core/record/hprof.h"

#include <errno.h>

#include "core/base/arena.h"
#include "core/base/config.h"
#include "core/base/lock.h"
#include "core/base/tls.h"
#include "core/record/api.h"
#include "core/record/stack.h"

uint64_t gt_heap_on = GT_HEAP_BOOT;

#define LIVE_MAX (1u << 16)      /* sampled blocks alive at once */
#define BUCKETS (1u << 14)       /* the live blocks' hash chains */
#define STACKS (1u << 14)        /* stacks with figures */
#define SLOTS (1u << GT_HPROF_BITS)   /* the filter's counts and bits */

struct live {
	uintptr_t p;
	uint32_t sid, next;      /* next: index + 1 in its chain or the free list */
	uint64_t size;
};

struct fig {
	uint32_t sid;            /* 0: free slot (sid 0 is "no stack": kept as 1 << 31) */
	uint64_t alloc_n, alloc_b, free_n, free_b;
};

static struct {
	struct gt_lock lock;
	struct live *live;       /* LIVE_MAX nodes */
	uint32_t *chain;         /* BUCKETS heads: index + 1 */
	uint32_t free_head;      /* free nodes: index + 1 */
	struct fig *figs;        /* STACKS, open addressing on sid */
	uint8_t *count;          /* SLOTS: live sampled blocks per slot (saturating) */
	uint64_t lost;
} h = { .lock = GT_LOCK_INIT };

static int64_t rate;             /* bytes; 0: off */
uint32_t gt_hprof_gen;           /* bumped at each rate set: threads redraw */
uint64_t gt_hprof_bits[SLOTS / 64];   /* bit s: count[s] != 0 */

static __thread uint64_t rnd_state __attribute__((tls_model("initial-exec")));

static void (*gate_moved)(void);   /* the malloc hooks' (preload/malloc.c) */

void gt_hprof_on_gate(void (*fn)(void))
{
	__atomic_store_n(&gate_moved, fn, __ATOMIC_RELEASE);
}

void gt_hprof_gate(void)
{
	uint64_t on = __atomic_load_n(&gt_trace_on, __ATOMIC_RELAXED);
	uint64_t old = __atomic_load_n(&gt_heap_on, __ATOMIC_RELAXED);

	if (__atomic_load_n(&rate, __ATOMIC_RELAXED))
		on |= GT_HEAP_SAMPLING;
	/* GT_HEAP_BOOT is the malloc hooks' own: kept as it is. */
	while (!__atomic_compare_exchange_n(&gt_heap_on, &old, on | (old & GT_HEAP_BOOT), 0,
					    __ATOMIC_RELEASE, __ATOMIC_RELAXED))
		;
	void (*fn)(void) = __atomic_load_n(&gate_moved, __ATOMIC_ACQUIRE);
	if (fn)
		fn();
}

void gt_hprof_after_fork_child(void)
{
	h.lock = (struct gt_lock)GT_LOCK_INIT;   /* another thread may have held it */
}

static int map_tables(void)
{
	if (h.live)
		return 0;
	struct live *l = gt_map(LIVE_MAX * sizeof(*l));
	uint32_t *c = gt_map(BUCKETS * sizeof(*c));
	struct fig *f = gt_map(STACKS * sizeof(*f));
	uint8_t *cnt = gt_map(SLOTS);
	if (!l || !c || !f || !cnt)
		return -ENOMEM;   /* (a mapping that worked stays: small, once) */
	for (uint32_t i = 0; i < LIVE_MAX; i++)
		l[i].next = i + 2 <= LIVE_MAX ? i + 2 : 0;
	h.free_head = 1;
	h.chain = c;
	h.figs = f;
	h.count = cnt;
	__atomic_store_n(&h.live, l, __ATOMIC_RELEASE);
	return 0;
}

int gt_hprof_set_rate(int64_t r)
{
	if (r > 0) {
		gt_lock(&h.lock);
		int e = map_tables();
		gt_unlock(&h.lock);
		if (e)
			return e;
	}
	__atomic_store_n(&rate, r > 0 ? r : 0, __ATOMIC_RELEASE);
	__atomic_add_fetch(&gt_hprof_gen, 1, __ATOMIC_RELEASE);
	gt_hprof_gate();
	return 0;
}

int64_t gt_hprof_rate(void)
{
	return __atomic_load_n(&rate, __ATOMIC_RELAXED);
}

/* ln(u) for u in (0, 1]: u = m * 2^e, m in [0.5, 1); ln m by its atanh
 * series (|z| <= 1/3: 12 terms are past double's precision). No libm. */
static double ln(double u)
{
	int e = 0;

	while (u < 0.5) {
		u *= 2;
		e--;
	}
	double z = (u - 1) / (u + 1), z2 = z * z, t = z, s = 0;
	for (int k = 1; k < 26; k += 2) {
		s += t / k;
		t *= z2;
	}
	return 2 * s + e * 0.6931471805599453;
}

/* Go's fastexprand: the distance to the next sample, exponential with
 * mean rate. */
static int64_t draw(int64_t r)
{
	uint64_t x = rnd_state;

	if (!x)
		x = (uintptr_t)&x ^ 0x9e3779b97f4a7c15ull;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	rnd_state = x;
	double u = ((double)(x >> 11) + 1) / 9007199254740993.0;   /* (0, 1] */
	double d = -ln(u) * (double)r;
	return d < 1 ? 1 : (int64_t)d;
}

static struct fig *fig_of(uint32_t sid)
{
	uint32_t key = sid ? sid : 1u << 31;
	size_t j = (key * 0x9e3779b1u) & (STACKS - 1);

	for (unsigned probe = 0; probe < STACKS; probe++, j = (j + 1) & (STACKS - 1)) {
		if (h.figs[j].sid == key)
			return &h.figs[j];
		if (!h.figs[j].sid) {
			h.figs[j].sid = key;
			return &h.figs[j];
		}
	}
	return NULL;
}

static inline size_t bucket(uintptr_t p)
{
	return (size_t)((p >> 4) * 0x9e3779b97f4a7c15ull >> 50) & (BUCKETS - 1);
}

static __attribute__((noinline)) void take(void *p, size_t n)
{
	uintptr_t pc[GT_STACK_MAX];
	unsigned k = gt_stack_capture(pc, gt_cfg.stack_depth, 0);
	uint32_t sid = gt_stack_intern(pc, k, 0);

	gt_lock(&h.lock);
	struct fig *f = fig_of(sid);
	uint32_t i = h.free_head;
	if (!f || !i) {
		h.lost++;
		gt_unlock(&h.lock);
		return;
	}
	struct live *l = &h.live[i - 1];
	h.free_head = l->next;
	size_t b = bucket((uintptr_t)p);
	*l = (struct live){ (uintptr_t)p, sid, h.chain[b], n };
	h.chain[b] = i;
	uint32_t s = gt_hprof_slot((uintptr_t)p);
	if (h.count[s] < 255 && !h.count[s]++)
		__atomic_fetch_or(&gt_hprof_bits[s >> 6], 1ull << (s & 63), __ATOMIC_RELAXED);
	f->alloc_n++;
	f->alloc_b += n;
	gt_unlock(&h.lock);
}

void gt_hprof_alloc_slow(void *p, size_t n)
{
	struct gt_tls *tls = &gt_tls;
	int64_t r = __atomic_load_n(&rate, __ATOMIC_RELAXED);
	uint32_t g = __atomic_load_n(&gt_hprof_gen, __ATOMIC_ACQUIRE);
	int fresh = tls->hp_gen != g;   /* a new rate (or thread): a fresh distance */

	tls->hp_gen = g;
	/* A fresh distance counts this allocation too: skipping it lost the
	 * first block after every rate set (a 8 MiB one: 1/8 of a site). */
	if (fresh && r > 0 && (tls->hp_left = draw(r) - (int64_t)n) >= 0)
		return;
	tls->hp_left = r > 0 ? draw(r) : INT64_MAX;
	if (!p || r <= 0 || tls->in_tracer)
		return;
	tls->in_tracer++;
	take(p, n);
	tls->in_tracer--;
}

/* p's record out of the table (its filter slot down): 0 if none, else
 * its index + 1. Under h.lock. */
static uint32_t unlink_locked(uintptr_t p, struct live *live)
{
	for (uint32_t *at = &h.chain[bucket(p)]; *at; at = &live[*at - 1].next) {
		if (live[*at - 1].p != p)
			continue;
		uint32_t i = *at, s = gt_hprof_slot(p);
		if (h.count[s] < 255 && !--h.count[s])   /* (255: set for good) */
			__atomic_fetch_and(&gt_hprof_bits[s >> 6], ~(1ull << (s & 63)), __ATOMIC_RELAXED);
		*at = live[i - 1].next;
		return i;
	}
	return 0;
}

/* Record i, unlinked, is freed: its figures, its node to the free list. */
static void drop_locked(uint32_t i, struct live *live)
{
	struct live *l = &live[i - 1];
	struct fig *f = fig_of(l->sid);

	if (f) {
		f->free_n++;
		f->free_b += l->size;
	}
	l->next = h.free_head;
	h.free_head = i;
}

uint32_t gt_hprof_unlink(void *p)
{
	struct live *live = __atomic_load_n(&h.live, __ATOMIC_ACQUIRE);
	struct gt_tls *tls = &gt_tls;
	uint32_t i;

	/* A block sampled while the rate was set is matched however the rate
	 * is now (its figures stay right). */
	if (!p || !live || tls->in_tracer)
		return 0;
	tls->in_tracer++;
	gt_lock(&h.lock);
	i = unlink_locked((uintptr_t)p, live);
	gt_unlock(&h.lock);
	tls->in_tracer--;
	return i;
}

void gt_hprof_unlinked(void *p, uint32_t i, int freed)
{
	struct live *live = __atomic_load_n(&h.live, __ATOMIC_ACQUIRE);
	struct gt_tls *tls = &gt_tls;

	if (!i || !live)
		return;
	tls->in_tracer++;
	gt_lock(&h.lock);
	if (freed) {
		drop_locked(i, live);
	} else {   /* still the program's: back in its chain */
		size_t b = bucket((uintptr_t)p);
		uint32_t s = gt_hprof_slot((uintptr_t)p);
		live[i - 1].next = h.chain[b];
		h.chain[b] = i;
		if (h.count[s] < 255 && !h.count[s]++)
			__atomic_fetch_or(&gt_hprof_bits[s >> 6], 1ull << (s & 63), __ATOMIC_RELAXED);
	}
	gt_unlock(&h.lock);
	tls->in_tracer--;
}

void gt_hprof_free_slow(void *p)
{
	gt_hprof_unlinked(p, gt_hprof_unlink(p), 1);
}

int gt_hprof_get(size_t *i, struct gt_hprof_entry *out)
{
	int found = 0;

	if (!__atomic_load_n(&h.live, __ATOMIC_ACQUIRE))
		return 0;
	gt_lock(&h.lock);
	for (; *i < STACKS && !found; (*i)++) {
		const struct fig *f = &h.figs[*i];
		if (!f->sid || !f->alloc_n)
			continue;
		*out = (struct gt_hprof_entry){ f->sid == 1u << 31 ? 0 : f->sid, f->alloc_n,
						f->alloc_b, f->free_n, f->free_b };
		found = 1;
	}
	gt_unlock(&h.lock);
	return found;
}

uint64_t gt_hprof_lost(void)
{
	return __atomic_load_n(&h.lost, __ATOMIC_RELAXED);
}
