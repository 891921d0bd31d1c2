/* core/record/buf.c - the chunk pool (mmap'd in regions, capped) and the writer's
 * queue. The pool lock is held for a list operation or an mmap; program
 * threads wait for free chunks on a futex, without any tracer lock. */
#include "core/record/buf.h"

#include <errno.h>
#include <linux/kcmp.h>
#include <sys/syscall.h>

#include "core/base/arena.h"
#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/record/api.h"
#include "core/base/lock.h"
#include "core/base/sys.h"
#include "core/base/tsan.h"
#include "core/base/urcu.h"

#define REGION_CHUNKS 32
#define REGION_SIZE (REGION_CHUNKS * GT_CHUNK_SIZE)
#define MAX_REGIONS 65536

struct free_chunk {
	struct free_chunk *next;
	uint32_t cold;   /* its pages never touched: mapped by a program thread */
};

static struct gt_lock pool_lock = GT_LOCK_INIT;
static struct free_chunk *free_list;  /* [pool_lock] */
static uint32_t nfree, nmapped;       /* [pool_lock] chunks */
static uint32_t ntaken;               /* [pool_lock] chunks ever handed out */
static uint32_t ncold;                /* [pool_lock] free chunks never touched */
static void *regions[MAX_REGIONS] GT_COLD_BSS;    /* [pool_lock] */
static uint32_t nregions;             /* [pool_lock] */
static uint32_t pool_seq;             /* futex word: bumped on every put */
static uint32_t waiters;              /* threads waiting for a chunk */
static struct gt_buf_stats stats;     /* atomics */
static void (*waker)(void);

static struct __cds_wfcq_head q_head;
static struct cds_wfcq_tail q_tail;
static int q_ready;

void gt_buf_set_waker(void (*wake)(void))
{
	waker = wake;
}

/* The process whose writer empties the pool (a fork's child takes it over
 * in gt_buf_after_fork_child). */
static long pool_pid;

static void queue_init(void)
{
	if (!__atomic_load_n(&q_ready, __ATOMIC_ACQUIRE)) {
		gt_lock(&pool_lock);
		if (!q_ready) {
			pool_pid = gt_raw(SYS_getpid, 0, 0, 0);
			gt_urcu_load();   /* (at trace start already; tests) */
			gt_urcu.__cds_wfcq_init(&q_head, &q_tail);
			__atomic_store_n(&q_ready, 1, __ATOMIC_RELEASE);
		}
		gt_unlock(&pool_lock);
	}
}

/* GOTRACE_BUFFER_MB, or less under ulimit -v (gt_buf_limit). */
static uint64_t cap_bytes;   /* service thread writes, before a session */

void gt_buf_limit(size_t room)
{
	uint64_t cap = gt_cfg.buffer_bytes;

	if (room != SIZE_MAX && cap > room / 4)
		cap = room / 4;
	__atomic_store_n(&cap_bytes, cap, __ATOMIC_RELAXED);
}

uint32_t gt_buf_cap(void)
{
	uint64_t b = __atomic_load_n(&cap_bytes, __ATOMIC_RELAXED);
	uint32_t cap = (uint32_t)((b ? b : gt_cfg.buffer_bytes) / GT_CHUNK_SIZE);

	return cap < 2 * REGION_CHUNKS ? 2 * REGION_CHUNKS : cap;
}

static int can_grow_locked(void)
{
	return nmapped + REGION_CHUNKS <= gt_buf_cap() && nregions < MAX_REGIONS;
}

/* Add region r to the pool. Under pool_lock, can_grow_locked. */
static void add_locked(uint8_t *r, uint32_t cold)
{
	regions[nregions++] = r;
	for (int i = REGION_CHUNKS - 1; i >= 0; i--) {
		struct free_chunk *f = (struct free_chunk *)(r + (size_t)i * GT_CHUNK_SIZE);
		f->next = free_list;
		f->cold = cold;
		free_list = f;
	}
	ncold += cold ? REGION_CHUNKS : 0;
	nfree += REGION_CHUNKS;
	nmapped += REGION_CHUNKS;
	__atomic_fetch_add(&stats.chunks, REGION_CHUNKS, __ATOMIC_RELAXED);
}

/* Map one more region if the cap allows. Under pool_lock. */
static int grow_locked(void)
{
	if (!can_grow_locked())
		return -ENOMEM;
	uint8_t *r = gt_map(REGION_SIZE);
	if (!r)
		return -ENOMEM;
	add_locked(r, 1);
	return 0;
}

/* Free chunks whose pages are touched already: the first write to a page
 * faults, and on some VMs that costs ~10 us (a 1 KB group of events per
 * page made it a fifth of a recorded event's cost). The service thread
 * keeps as many as the program took since its last call, at least a
 * region's worth, within the cap; program threads map (untouched) only
 * when they outrun it. Regions are touched outside the lock. */
void gt_buf_reserve(void)
{
	static uint32_t taken_seen;   /* the service thread's own */

	gt_lock(&pool_lock);
	uint32_t want = ntaken - taken_seen;
	taken_seen = ntaken;
	if (want < REGION_CHUNKS)
		want = REGION_CHUNKS;
	while (nfree - ncold < want && can_grow_locked()) {
		gt_unlock(&pool_lock);
		uint8_t *r = gt_map(REGION_SIZE);
		if (!r)
			return;
		for (size_t i = 0; i < REGION_SIZE; i += 4096)
			((volatile uint8_t *)r)[i] = 0;
		gt_lock(&pool_lock);
		if (!can_grow_locked()) {   /* program threads grew it meanwhile */
			gt_unlock(&pool_lock);
			gt_unmap(r, REGION_SIZE);
			return;
		}
		add_locked(r, 0);
	}
	gt_unlock(&pool_lock);
}

static struct gt_chunk *try_get(void)
{
	struct gt_chunk *c = NULL;

	queue_init();   /* loads liburcu (tests; a trace start did already) */
	gt_lock(&pool_lock);
	if (!free_list)
		grow_locked();
	if (free_list) {
		c = (struct gt_chunk *)free_list;
		ncold -= free_list->cold;
		free_list = free_list->next;
		nfree--;
		ntaken++;
	}
	gt_unlock(&pool_lock);
	if (c) {
		gt_urcu.cds_wfcq_node_init(&c->node);
		c->len = 0;
		c->sess = 0;
		c->p = 0;
		c->nstk = 0;
		c->last_ts = 0;
	}
	return c;
}

struct gt_chunk *gt_buf_get(int wait, uint64_t *waited_ns)
{
	struct gt_chunk *c;
	uint64_t t0 = 0;

	if (waited_ns)
		*waited_ns = 0;
	queue_init();
	while (!(c = try_get())) {
		if (!wait)
			return NULL;
		if (!t0) {
			t0 = gt_clock_now();
			__atomic_fetch_add(&stats.waits, 1, __ATOMIC_RELAXED);
		}
		uint32_t seq = __atomic_load_n(&pool_seq, __ATOMIC_ACQUIRE);
		__atomic_fetch_add(&waiters, 1, __ATOMIC_SEQ_CST);
		if (waker)
			waker();
		/* Bounded sleep: the writer also wakes us when it frees. */
		gt_futex_wait(&pool_seq, seq, 50 * 1000000);
		__atomic_fetch_sub(&waiters, 1, __ATOMIC_SEQ_CST);
		if (gt_buf_orphaned())
			return NULL;
	}
	if (t0) {
		uint64_t d = gt_clock_now() - t0;
		__atomic_fetch_add(&stats.wait_ns, d, __ATOMIC_RELAXED);
		if (waited_ns)
			*waited_ns = d;
	}
	return c;
}

void gt_buf_put(struct gt_chunk *c)
{
	struct free_chunk *f = (struct free_chunk *)c;

	gt_lock(&pool_lock);
	f->next = free_list;
	f->cold = 0;
	free_list = f;
	nfree++;
	gt_unlock(&pool_lock);
	__atomic_fetch_add(&pool_seq, 1, __ATOMIC_RELEASE);
	if (__atomic_load_n(&waiters, __ATOMIC_SEQ_CST))
		gt_futex_wake(&pool_seq, 1 << 30);
}

uint32_t gt_buf_in_use(void)
{
	gt_lock(&pool_lock);
	uint32_t n = nmapped - nfree;
	gt_unlock(&pool_lock);
	return n;
}

void gt_buf_submit(struct gt_chunk *c)
{
	queue_init();
	GT_TSAN_RELEASE(c);
	gt_urcu.cds_wfcq_enqueue(&q_head, &q_tail, &c->node);
	/* Wake the writer only when memory runs low; otherwise it comes by on
	 * its own tick, and the program's threads make no syscall. */
	if (waker && gt_buf_in_use() * 2 > gt_buf_cap())
		waker();
}

struct gt_chunk *gt_buf_take(void)
{
	struct cds_wfcq_node *n;

	queue_init();
	n = gt_urcu.__cds_wfcq_dequeue_blocking(&q_head, &q_tail);
	if (!n)
		return NULL;
	GT_TSAN_ACQUIRE(caa_container_of(n, struct gt_chunk, node));
	return caa_container_of(n, struct gt_chunk, node);
}


void gt_buf_trim(void)
{
	gt_lock(&pool_lock);
	if (nfree == nmapped) {
		for (uint32_t i = 0; i < nregions; i++)
			gt_unmap(regions[i], REGION_SIZE);
		nregions = 0;
		nfree = nmapped = ncold = 0;
		free_list = NULL;
	}
	gt_unlock(&pool_lock);
}

void gt_buf_get_stats(struct gt_buf_stats *s)
{
	s->waits = __atomic_load_n(&stats.waits, __ATOMIC_RELAXED);
	s->wait_ns = __atomic_load_n(&stats.wait_ns, __ATOMIC_RELAXED);
	s->chunks = __atomic_load_n(&stats.chunks, __ATOMIC_RELAXED);
}

void gt_buf_before_fork(int nested)
{
	gt_tls.buf_fork = nested ? gt_trylock(&pool_lock) : (gt_lock(&pool_lock), 1);
}

void gt_buf_after_fork_parent(void)
{
	if (gt_tls.buf_fork)
		gt_unlock(&pool_lock);
	gt_tls.buf_fork = 0;
}

/* A child made by a raw fork or clone (syscall(SYS_fork), clone3, glibc's
 * clone(fn, stack, SIGCHLD)): no fork handler of ours ran in it, so it
 * records into its copy of the pool, which no writer empties. Its waits
 * for room waited for ever (a ping-pong of 200,000 writes hung). A vfork
 * child (CLONE_VM) shares the parent's pool and writer: not one. */
int gt_buf_orphaned(void)
{
	long pid = gt_raw(SYS_getpid, 0, 0, 0);

	if (!pool_pid || pid == pool_pid)
		return 0;
	/* kcmp's 0: the same address space (an error: the parent gone, or no
	 * kcmp here; then the wait could be for ever too) */
	return gt_raw6(SYS_kcmp, pid, pool_pid, KCMP_VM, 0, 0, 0) != 0;
}

void gt_buf_after_fork_child(void)
{
	pool_pid = gt_raw(SYS_getpid, 0, 0, 0);
	/* Every chunk was owned by a thread or the queue of the parent. Rebuild
	 * the free list from all regions; the queue starts empty. */
	pool_lock.word = 0;
	gt_tls.buf_fork = 0;
	free_list = NULL;
	nfree = 0;
	for (uint32_t r = 0; r < nregions; r++) {
		for (int i = REGION_CHUNKS - 1; i >= 0; i--) {
			struct free_chunk *f = (struct free_chunk *)((uint8_t *)regions[r] +
								    (size_t)i * GT_CHUNK_SIZE);
			f->next = free_list;
			f->cold = 0;   /* (some never touched: then counted warm) */
			free_list = f;
			nfree++;
		}
	}
	ncold = 0;
	waiters = 0;
	q_ready = 0;   /* queue_init makes it anew */
}
