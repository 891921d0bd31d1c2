/* preload/malloc.c - the malloc family. Memory always comes from the real
 * allocator (glibc's, or jemalloc/tcmalloc when the program brings one),
 * except while dlsym resolves our real functions: that comes from a static
 * bootstrap buffer and is never passed to the real free. Idle, malloc and
 * free are a jump through a pointer to the real function (the others a
 * load of the gate more); while tracing, usable sizes are counted;
 * while the heap profile samples, gt_hprof_alloc and gt_hprof_free see
 * every block (core/record/hprof.c). */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "preload/hook.h"

#define BOOT_SIZE (256u << 10)
static uint8_t boot[BOOT_SIZE] GT_COLD_BSS __attribute__((aligned(64)));
static size_t boot_used;   /* atomic bump pointer */

static inline int is_boot(const void *p)
{
	return (uintptr_t)p - (uintptr_t)boot < BOOT_SIZE;
}

/* gt_heap_on (core/record/api.h): the trace's session (the low bits),
 * SAMPLING while the heap profile samples, BOOT while bootstrap blocks
 * may be out. */
#define SAMPLING GT_HEAP_SAMPLING
#define BOOT GT_HEAP_BOOT

/* Bootstrap block: [size][pad to align][data]; zeroed (never reused).
 * BOOT goes up before the first one exists, and stays: free and realloc
 * must look at every address from then on. */
static void *boot_alloc(size_t n, size_t align)
{
	if (align < 16)
		align = 16;
	if (n > BOOT_SIZE || align > 4096)
		return NULL;
	__atomic_fetch_or(&gt_heap_on, BOOT, __ATOMIC_SEQ_CST);
	gt_malloc_repath();
	size_t need = (n + align + 16 + 15) & ~(size_t)15;
	size_t off = __atomic_fetch_add(&boot_used, need, __ATOMIC_RELAXED);
	if (off + need > BOOT_SIZE) {
		errno = ENOMEM;
		return NULL;
	}
	uintptr_t p = ((uintptr_t)(boot + off) + 16 + align - 1) & ~(uintptr_t)(align - 1);
	((size_t *)p)[-1] = n;
	return (void *)p;
}

static inline size_t boot_size(const void *p)
{
	return ((const size_t *)p)[-1];
}

/* dlsym is running for us and the real function is not known yet. */
#define BOOTSTRAPPING(fn) \
	(__builtin_expect(gt_real.fn == NULL, 0) && __atomic_load_n(&gt_real_resolving, __ATOMIC_SEQ_CST))

static inline uint64_t watching(void)
{
	return __atomic_load_n(&gt_heap_on, __ATOMIC_RELAXED) & ~BOOT;
}

/* The constructor, the real functions known: with no bootstrap block
 * handed out (dlsym allocated nothing, the common case) BOOT comes down,
 * and malloc and free jump to the real ones. No block can be
 * handed out later: every BOOTSTRAPPING() test is false from now on. */
void gt_malloc_ready(void)
{
	if (!gt_real.malloc || !gt_real.free || !gt_real.calloc || !gt_real.realloc ||
	    !gt_real.posix_memalign || !gt_real.aligned_alloc || !gt_real.memalign ||
	    !gt_real.valloc || !gt_real.pvalloc || __atomic_load_n(&boot_used, __ATOMIC_SEQ_CST))
		return;
	__atomic_fetch_and(&gt_heap_on, ~BOOT, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&boot_used, __ATOMIC_SEQ_CST))
		__atomic_fetch_or(&gt_heap_on, BOOT, __ATOMIC_SEQ_CST);
	gt_hprof_on_gate(gt_malloc_repath);
	gt_malloc_repath();
}

/* Count d bytes (+ or -) for the program; not for the tracer's own. */
static inline void count(int64_t d, uint64_t s, size_t req)
{
	struct gt_tls *tls = &gt_tls;

	if (__builtin_expect(tls->in_tracer != 0, 0)) {
		if (tls->dead)
			gt_heap_fold(d, s, 0);
		return;
	}
	gt_heap_add(d, s, req);
}

/* 3% of a malloc storm's time went to calling glibc's malloc_usable_size
 * twice per malloc/free pair; its header holds the answer. */
static inline int64_t usable(void *p)
{
#if GT_GLIBC_USABLE
	if (__builtin_expect(__atomic_load_n(&gt_heap_glibc, __ATOMIC_RELAXED), 1))
		return (int64_t)gt_glibc_usable(p);
#endif
	return (int64_t)GT_REAL(malloc_usable_size)(p);
}

/* While tracing, the common case: glibc's allocator, a thread of the
 * program's with a running count for this session, not due to fold. Adds
 * sign * p's usable size to the thread's count and says so, or does
 * nothing and returns 0 (then count() does the whole job). Kept to a few
 * loads and one store: in a malloc storm it is most of what tracing costs. */
static inline int count_fast(void *p, int64_t sign, uint64_t s)
{
#if GT_GLIBC_USABLE
	struct gt_tls *tls = &gt_tls;

	if (__builtin_expect(!__atomic_load_n(&gt_heap_glibc, __ATOMIC_RELAXED) || tls->in_tracer ||
			     tls->heap_sess != s, 0))
		return 0;
	int64_t v = tls->heap + sign * (int64_t)gt_glibc_usable(p);
	if (__builtin_expect(v >= GT_HEAP_FOLD || v <= -GT_HEAP_FOLD, 0))
		return 0;
	tls->heap = v;
	return 1;
#else
	(void)p, (void)sign, (void)s;
	return 0;
#endif
}

static inline void *counted(void *p, size_t req)
{
	uint64_t w = watching(), s = w & ~SAMPLING;

	if (__builtin_expect(w != 0, 0) && p) {
		if (s && !count_fast(p, 1, s))
			count(usable(p), s, req);
		if (w & SAMPLING)
			gt_hprof_alloc(p, req);
	}
	return p;
}

static __attribute__((noinline)) void *malloc_slow(size_t n)
{
	if (BOOTSTRAPPING(malloc))
		return boot_alloc(n, 0);
	return counted(GT_REAL(malloc)(n), n);
}

static __attribute__((noinline)) void *counted_slow(void *p, size_t n)
{
	return counted(p, n);
}

/* Tracing (the session is read again after the call): the count from the
 * chunk header with nothing else kept across the call (one callee-saved
 * register, where the general path kept four: 45 instructions of ours a
 * malloc, callgrind); the rest, heap sampling too, in counted_slow. A
 * frame of its own holds the return address into the program for the
 * stacks of count() and of a sample. */
static __attribute__((noinline)) void *malloc_counted(size_t n)
{
	void *p = gt_real.malloc(n);
	uint64_t w = __atomic_load_n(&gt_heap_on, __ATOMIC_RELAXED);

	if (__builtin_expect(p && w && !(w & (SAMPLING | BOOT)) && count_fast(p, 1, w), 1))
		return p;
	return counted_slow(p, n);
}

/* The heap profile alone, an allocation to sample: one call deep, so that
 * this frame holds the return address into the program, which the
 * sample's stack walk (frame records) must see (malloc has no frame). */
static __attribute__((noinline)) void *malloc_sampled(void *(*r)(size_t), size_t n)
{
	void *p = r(n);

	gt_hprof_alloc_slow(p, n);
	return p;
}

/* malloc and free past the idle, heap-profile-alone and tracing-alone
 * paths: before the real functions are known, with bootstrap blocks out,
 * tracing and sampling at once. */
static __attribute__((noinline)) void *malloc_gated(size_t n)
{
	void *(*r)(size_t) = __atomic_load_n(&gt_real.malloc, __ATOMIC_RELAXED);

	if (__builtin_expect(r == NULL, 0))
		return malloc_slow(n);
	uint64_t w = watching();
	if (!w)
		return r(n);
	if (!(w << 1))   /* w == SAMPLING: the heap profile alone */
		return gt_hprof_skip(n) ? r(n) : malloc_sampled(r, n);
	return malloc_counted(n);
}

/* The heap profile alone: the countdown inline, then the real function
 * (or malloc_sampled) by a tail jump. */
static GT_IDLE_FAST void *malloc_sampling(size_t n)
{
	if (__builtin_expect(gt_hprof_skip(n), 1))
		return gt_real.malloc(n);
	return malloc_sampled(gt_real.malloc, n);
}

/* malloc and free are a jump through malloc_path and free_path, which
 * repath() sets at every change of the gate and of gt_real's two slots:
 * idle, the real function itself (or armed.c's trampoline in its slot):
 * the hook is one instruction, where a load of the gate, a test and the
 * jump made four (1.8% of a malloc storm's instructions, callgrind); the
 * heap profile alone, malloc_sampling and free_sampling; tracing alone,
 * malloc_counted and free_counted; the rest (bootstrap, both at once),
 * the gated paths, which read the gate themselves. A call that read the
 * path just before a change takes the old one: as a call that read the
 * gate just before it did. */
static void *(*malloc_path)(size_t) = malloc_gated;

GT_IDLE_FAST GT_EXPORT void *malloc(size_t n)
{
	return __atomic_load_n(&malloc_path, __ATOMIC_ACQUIRE)(n);
}

/* calloc, realloc and the aligned ones, idle: as malloc (the gate at 0
 * says the real functions are known and no bootstrap block is out). */
#define GATE_IDLE() __builtin_expect(!__atomic_load_n(&gt_heap_on, __ATOMIC_ACQUIRE), 1)

static __attribute__((noinline)) void *calloc_gated(size_t n, size_t m)
{
	if (BOOTSTRAPPING(calloc)) {
		size_t t;
		if (__builtin_mul_overflow(n, m, &t)) {
			errno = ENOMEM;
			return NULL;
		}
		return boot_alloc(t, 0);
	}
	return counted(GT_REAL(calloc)(n, m), n * m);
}

GT_IDLE_FAST GT_EXPORT void *calloc(size_t n, size_t m)
{
	if (GATE_IDLE())
		return gt_real.calloc(n, m);
	return calloc_gated(n, m);
}

static __attribute__((noinline)) void free_slow(void *p)
{
	if (!p || is_boot(p))
		return;
	if (BOOTSTRAPPING(free))
		return;   /* cannot free before we know free: leak, never crash */
	uint64_t w = watching(), s = w & ~SAMPLING;
	if (w & SAMPLING)
		gt_hprof_free(p);
	if (__builtin_expect(s != 0, 0))
		count(-usable(p), s, 0);
	GT_REAL(free)(p);
}

static __attribute__((noinline)) void free_gated(void *p)
{
	void (*r)(void *) = __atomic_load_n(&gt_real.free, __ATOMIC_RELAXED);

	if (__builtin_expect(r && !is_boot(p), 1)) {
		uint64_t w = watching();
		if (w == 0)
			return r(p);
		if (!(w << 1)) {   /* w == SAMPLING: the heap profile alone */
			gt_hprof_free(p);
			return r(p);
		}
		/* free(NULL) included: libc's answer */
		if (p == NULL || (!(w & SAMPLING) && count_fast(p, -1, w)))
			return r(p);
	}
	free_slow(p);
}

static GT_IDLE_FAST void free_sampling(void *p)
{
	gt_hprof_free(p);   /* (NULL: its slow path finds no block) */
	return gt_real.free(p);
}

/* Tracing alone, free(NULL) included (the session is read here: a gate
 * moved since the path was read sends the call to free_slow). */
static GT_IDLE_FAST void free_counted(void *p)
{
	uint64_t w = __atomic_load_n(&gt_heap_on, __ATOMIC_ACQUIRE);

	if (p == NULL || count_fast(p, -1, w))
		return gt_real.free(p);
	return free_slow(p);
}

static void (*free_path)(void *) = free_gated;

GT_IDLE_FAST GT_EXPORT void free(void *p)
{
	__atomic_load_n(&free_path, __ATOMIC_ACQUIRE)(p);
}

/* malloc_path and free_path from the gate and gt_real's slots, again
 * until those held still across the stores (two writers, the one that
 * stored last has read last). Atomics only: armed.c calls it on the
 * doorman. */
GT_RAW void gt_malloc_repath(void)
{
	for (;;) {
		uint64_t w = __atomic_load_n(&gt_heap_on, __ATOMIC_ACQUIRE);
		void *(*m)(size_t) = __atomic_load_n(&gt_real.malloc, __ATOMIC_ACQUIRE);
		void (*f)(void *) = __atomic_load_n(&gt_real.free, __ATOMIC_ACQUIRE);
		void *(*mp)(size_t) = malloc_gated;
		void (*fp)(void *) = free_gated;

		if (m && f && !(w & BOOT)) {
			if (!w) {
				mp = m;
				fp = f;
			} else if (w == SAMPLING) {
				mp = malloc_sampling;
				fp = free_sampling;
			} else if (!(w & SAMPLING)) {
				mp = malloc_counted;
				fp = free_counted;
			}
		}
		__atomic_store_n(&malloc_path, mp, __ATOMIC_SEQ_CST);
		__atomic_store_n(&free_path, fp, __ATOMIC_SEQ_CST);
		if (w == __atomic_load_n(&gt_heap_on, __ATOMIC_SEQ_CST) &&
		    m == __atomic_load_n(&gt_real.malloc, __ATOMIC_SEQ_CST) &&
		    f == __atomic_load_n(&gt_real.free, __ATOMIC_SEQ_CST))
			return;
	}
}

static __attribute__((noinline)) void *realloc_gated(void *p, size_t n)
{
	if (p && is_boot(p)) {
		void *q = malloc(n);
		if (q)
			memcpy(q, p, boot_size(p) < n ? boot_size(p) : n);
		return q;
	}
	if (BOOTSTRAPPING(realloc))
		return boot_alloc(n, 0);
	uint64_t w = watching(), s = w & ~SAMPLING;
	if (__builtin_expect(w == 0, 1))
		return GT_REAL(realloc)(p, n);
	int64_t old = p && s ? usable(p) : 0;
	uint32_t rec = p && (w & SAMPLING) && gt_hprof_maybe(p) ? gt_hprof_unlink(p) : 0;
	void *q = GT_REAL(realloc)(p, n);
	if (rec)   /* freed unless the call failed (NULL for n > 0: p kept) */
		gt_hprof_unlinked(p, rec, q || n == 0);
	if (s && q)
		count(usable(q) - old, s, n);
	else if (s && p && n == 0)
		count(-old, s, 0);   /* glibc: realloc(p, 0) frees p */
	if (q && (w & SAMPLING))
		gt_hprof_alloc(q, n);
	return q;
}

GT_IDLE_FAST GT_EXPORT void *realloc(void *p, size_t n)
{
	if (GATE_IDLE())
		return gt_real.realloc(p, n);
	return realloc_gated(p, n);
}

GT_EXPORT void *reallocarray(void *p, size_t n, size_t m)
{
	size_t t;

	if (__builtin_mul_overflow(n, m, &t)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(p, t);
}

GT_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	if (BOOTSTRAPPING(posix_memalign)) {
		void *p = boot_alloc(n, align);
		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	int r = GT_REAL(posix_memalign)(out, align, n);
	if (r == 0)
		counted(*out, n);
	return r;
}

#define ALIGNED_HOOK(name)                                                       \
	static __attribute__((noinline)) void *name##_gated(size_t align, size_t n) \
	{                                                                        \
		if (BOOTSTRAPPING(name))                                         \
			return boot_alloc(n, align);                             \
		return counted(GT_REAL(name)(align, n), n);                      \
	}                                                                        \
	GT_IDLE_FAST GT_EXPORT void *name(size_t align, size_t n)                \
	{                                                                        \
		if (GATE_IDLE())                                                 \
			return gt_real.name(align, n);                           \
		return name##_gated(align, n);                                   \
	}
ALIGNED_HOOK(aligned_alloc)
ALIGNED_HOOK(memalign)

GT_EXPORT void *valloc(size_t n)
{
	if (BOOTSTRAPPING(valloc))
		return boot_alloc(n, 4096);
	return counted(GT_REAL(valloc)(n), n);
}

GT_EXPORT void *pvalloc(size_t n)
{
	if (BOOTSTRAPPING(pvalloc))
		return boot_alloc((n + 4095) & ~(size_t)4095, 4096);
	return counted(GT_REAL(pvalloc)(n), n);
}

GT_EXPORT size_t malloc_usable_size(void *p)
{
	if (!p)
		return 0;
	if (is_boot(p))
		return boot_size(p);
	return GT_REAL(malloc_usable_size)(p);
}
