/* core/record/stack.c - the stack table: a liburcu lock-free hash table (cds_lfht,
 * urcu-bp flavour) from pc arrays to ids, plus an id-indexed table for the
 * writer. Entries are never removed (ids are stable for the process), so
 * readers need no grace periods. Any thread, in_tracer > 0. Capture is
 * core/record/unwind.c. */
#include "core/record/stack.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "core/base/arena.h"
#include "core/base/config.h"
#include "core/base/real.h"
#include "core/record/api.h"
#include "core/base/lock.h"
#include "core/base/log.h"
#include "core/record/thread.h"
#include "core/base/tsan.h"
#include "core/base/urcu.h"
#include "core/base/sys.h"

/* core/record/stack.h: set by the writer, read by the hooks. */
uint64_t *gt_stack_defined;

#define ID_PAGE 4096u
#define ID_PAGES 1024u                      /* 4M stacks */
#define STACK_BYTES_MAX (64ull << 20)       /* memory cap of the table */

static struct cds_lfht *table;
static struct gt_stack **id_pages[ID_PAGES] GT_COLD_BSS;/* published with release */
static struct gt_lock id_lock = GT_LOCK_INIT;
static uint32_t next_id = 1;                /* atomic */
static uint64_t bytes_used;                 /* atomic */

struct key {
	const uintptr_t *pc;
	unsigned n, flags;
};

/* The table is made on first use (the first trace), without
 * CDS_LFHT_AUTO_RESIZE: that flag starts liburcu's resize worker, a thread
 * that stays for good, and a program of one thread must stay one for
 * unshare(CLONE_NEWUSER) and setns (see gt_ns_prepare) while tracing too.
 * The service thread grows it instead (gt_stack_grow). */
#define TABLE_MIN 4096ul
#define TABLE_MAX (1ul << 22)
#define RESIZE_STACK (256u << 10)   /* the resize thread's: it calls cds_lfht_resize */
static unsigned long table_size = TABLE_MIN;   /* service thread */

static struct cds_lfht *get_table(void)
{
	static struct gt_lock init_lock = GT_LOCK_INIT;
	struct cds_lfht *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);

	if (t)
		return t;
	gt_lock(&init_lock);
	t = table;
	if (!t) {
		gt_urcu_load();   /* (at trace start already; tests) */
		t = gt_urcu._cds_lfht_new(TABLE_MIN, TABLE_MIN, TABLE_MAX, 0, gt_urcu.mm_order,
					  gt_urcu.flavor, NULL);
		__atomic_store_n(&table, t, __ATOMIC_RELEASE);
	}
	gt_unlock(&init_lock);
	return t;
}

/* A resize waits for a grace period, which a thread left inside a
 * read-side section (by a siglongjmp out of a signal handler) would hold
 * off for good; so it runs on a thread of its own, and the writer never
 * waits for it. The service thread joins it when it is done and only then,
 * with its task gone, counts it out. rs.lock is held across the
 * resize and taken by fork_prepare: a child never gets a table half
 * resized (as liburcu pauses its own worker at fork). */
static struct {
	pthread_t th;
	pid_t tid;           /* atomic */
	uint32_t state;      /* atomic: 0 none, 1 running, 2 done (to join) */
	struct gt_lock lock;
} rs = { .lock = GT_LOCK_INIT };

static void *resize_main(void *arg)
{
	gt_tls.in_tracer = 1;
	gt_thread_tracer_started();   /* (once: our trampoline may have) */
	__atomic_store_n(&rs.tid, gt_gettid(), __ATOMIC_RELEASE);
	gt_lock(&rs.lock);
	gt_urcu.cds_lfht_resize(table, (unsigned long)(uintptr_t)arg);
	gt_unlock(&rs.lock);
	__atomic_store_n(&rs.state, 2, __ATOMIC_RELEASE);
	return NULL;
}

int gt_stack_reap(int wait_ms)
{
	uint32_t st;

	while ((st = __atomic_load_n(&rs.state, __ATOMIC_ACQUIRE)) == 1 && wait_ms-- > 0)
		gt_usleep(1000);
	if (st != 2)
		return st == 0;
	gt_thread_tracer_join(rs.th, __atomic_load_n(&rs.tid, __ATOMIC_ACQUIRE));
	__atomic_store_n(&rs.state, 0, __ATOMIC_RELAXED);
	return 1;
}

void gt_stack_grow(void)
{
	struct cds_lfht *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
	unsigned long n = __atomic_load_n(&next_id, __ATOMIC_RELAXED);
	unsigned long size = table_size;
	sigset_t all, old;

	gt_stack_reap(0);
	if (!t || n <= 2 * size || size >= TABLE_MAX || __atomic_load_n(&rs.state, __ATOMIC_ACQUIRE))
		return;
	while (size < TABLE_MAX && n > 2 * size)
		size *= 4;
	/* liburcu aborts when a bucket order's calloc fails: grow only while
	 * the address space has room for it many times over (ulimit -v);
	 * else chains get longer, lookups slower, nothing breaks. */
	size_t room = gt_as_room();
	if (room != SIZE_MAX && room / 8 < size * sizeof(struct cds_lfht_node) + RESIZE_STACK) {
		static int said;
		if (!said++)
			gt_log("stack table kept at %lu buckets: %zu MB of address space left "
			       "(ulimit -v)", table_size, room >> 20);
		return;
	}
	__atomic_store_n(&rs.state, 1, __ATOMIC_RELAXED);
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_attr_t a;
	int ok = pthread_attr_init(&a) == 0;
	if (ok)
		pthread_attr_setstacksize(&a, RESIZE_STACK);
	if (ok && gt_pthread_create(&rs.th, &a, resize_main, (void *)(uintptr_t)size) == 0)
		table_size = size;
	else
		__atomic_store_n(&rs.state, 0, __ATOMIC_RELAXED);   /* again next time */
	if (ok)
		pthread_attr_destroy(&a);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void gt_stack_before_fork(void)
{
	gt_lock(&rs.lock);
}

void gt_stack_after_fork(int child)
{
	if (child) {
		/* the resize thread is the parent's: none here */
		rs.lock.word = 0;
		rs.state = 0;
	} else {
		gt_unlock(&rs.lock);
	}
}

unsigned long gt_stack_buckets(void)
{
	return table_size;
}

static uint64_t hash(const uintptr_t *pc, unsigned n, unsigned flags)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)n << 8 | flags);

	for (unsigned i = 0; i < n; i++) {
		h ^= pc[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 33;
	}
	return h;
}

static int match(struct cds_lfht_node *node, const void *arg)
{
	const struct gt_stack *s = caa_container_of(node, struct gt_stack, node);
	const struct key *k = arg;

	GT_TSAN_ACQUIRE(node);
	return s->n == k->n && s->flags == k->flags &&
	       memcmp(s->pc, k->pc, k->n * sizeof(uintptr_t)) == 0;
}

/* Give e an id and make it reachable by id. 0 when the id space is full. */
static uint32_t publish_id(struct gt_stack *e)
{
	uint32_t id = __atomic_fetch_add(&next_id, 1, __ATOMIC_RELAXED);
	uint32_t pg = id / ID_PAGE;

	if (pg >= ID_PAGES)
		return 0;
	struct gt_stack **page = __atomic_load_n(&id_pages[pg], __ATOMIC_ACQUIRE);
	if (!page) {
		gt_lock(&id_lock);
		page = id_pages[pg];
		if (!page) {
			page = gt_map(ID_PAGE * sizeof(*page));
			__atomic_store_n(&id_pages[pg], page, __ATOMIC_RELEASE);
		}
		gt_unlock(&id_lock);
		if (!page)
			return 0;
	}
	e->id = id;
	__atomic_store_n(&page[id % ID_PAGE], e, __ATOMIC_RELEASE);
	return id;
}

/* Each thread's last stacks, by hash: a blocking call in a loop finds its
 * stack here without the table's read lock and lookup (urcu-bp's TLS is
 * global-dynamic, its read lock a __tls_get_addr call). Entries point into
 * the table, whose entries are immutable and never freed; a hit is checked
 * frame by frame, so it is exact. Written only by its thread, one pointer
 * store at a time: a signal handler's intern in between can only replace
 * an entry. */
#define CACHE_WAYS 16
static __thread const struct gt_stack *recent[CACHE_WAYS]
	__attribute__((tls_model("initial-exec")));

static int same(const struct gt_stack *e, uint64_t h, const uintptr_t *pc, unsigned n,
		unsigned flags)
{
	return e && e->hash == h && e->n == n && e->flags == flags &&
	       memcmp(e->pc, pc, n * sizeof(uintptr_t)) == 0;
}

int gt_stack_table_ready(void)
{
	return get_table() ? 0 : -1;
}

uint32_t gt_stack_intern(const uintptr_t *pc, unsigned n, unsigned flags)
{
	struct key k = { pc, n, flags };
	struct cds_lfht_iter it;
	struct cds_lfht_node *node;
	const struct gt_stack *hit;
	uint32_t id = 0;

	struct cds_lfht *tab = n && n <= GT_STACK_MAX ? get_table() : NULL;

	if (!tab)
		return 0;
	uint64_t h = hash(pc, n, flags);
	const struct gt_stack **slot = &recent[h % CACHE_WAYS];
	if (same(*slot, h, pc, n, flags))
		return (*slot)->id;
	gt_urcu_read_lock();
	gt_urcu.cds_lfht_lookup(tab, h, match, &k, &it);
	node = cds_lfht_iter_get_node(&it);
	if (node) {
		GT_TSAN_ACQUIRE(node);
		hit = caa_container_of(node, struct gt_stack, node);
		*slot = hit;
		id = hit->id;
		goto out;
	}
	size_t size = sizeof(struct gt_stack) + n * sizeof(uintptr_t);
	if (__atomic_add_fetch(&bytes_used, size, __ATOMIC_RELAXED) > STACK_BYTES_MAX)
		goto out;
	struct gt_stack *e = gt_arena_alloc(size);
	if (!e)
		goto out;
	cds_lfht_node_init(&e->node);
	e->hash = h;
	e->n = (uint16_t)n;
	e->flags = (uint16_t)flags;
	memcpy(e->pc, pc, n * sizeof(uintptr_t));
	if (!publish_id(e))
		goto out;
	/* A racing insert of the same stack wins: use its id (ours is then
	 * an unused duplicate, still readable by id). */
	GT_TSAN_RELEASE(&e->node);
	node = gt_urcu.cds_lfht_add_unique(tab, h, match, &k, &e->node);
	GT_TSAN_ACQUIRE(node);
	hit = caa_container_of(node, struct gt_stack, node);
	*slot = hit;
	id = hit->id;
out:
	gt_urcu.urcu_bp_read_unlock();
	return id;
}

const struct gt_stack *gt_stack_get(uint32_t id)
{
	uint32_t pg = id / ID_PAGE;

	if (id == 0 || pg >= ID_PAGES)
		return NULL;
	struct gt_stack **page = __atomic_load_n(&id_pages[pg], __ATOMIC_ACQUIRE);
	return page ? __atomic_load_n(&page[id % ID_PAGE], __ATOMIC_ACQUIRE) : NULL;
}

uint32_t gt_stack_count(void)
{
	return __atomic_load_n(&next_id, __ATOMIC_RELAXED) - 1;
}

#define MAX_NAMES 256
static struct {
	uintptr_t pc;
	const char *name;
} names[MAX_NAMES];
static uint32_t nnames;   /* release-published under id_lock */

/* Appended, not searched (an address named twice keeps its first name,
 * the one the lookup finds). */
void gt_stack_name_fn(uintptr_t real, const char *name)
{
	if (!real)
		return;
	gt_lock(&id_lock);
	uint32_t n = nnames;
	if (n < MAX_NAMES) {
		names[n].pc = real;
		names[n].name = name;
		__atomic_store_n(&nnames, n + 1, __ATOMIC_RELEASE);
	}
	gt_unlock(&id_lock);
}

static const char *(*namer)(uintptr_t pc);
static uintptr_t (*realer)(uintptr_t pc);

void gt_stack_set_namer(const char *(*name_of)(uintptr_t pc), uintptr_t (*real_of)(uintptr_t pc))
{
	__atomic_store_n(&realer, real_of, __ATOMIC_RELEASE);
	__atomic_store_n(&namer, name_of, __ATOMIC_RELEASE);
}

uintptr_t gt_stack_fn_real(uintptr_t pc)
{
	uintptr_t (*f)(uintptr_t) = __atomic_load_n(&realer, __ATOMIC_ACQUIRE);
	uintptr_t r = f ? f(pc) : 0;

	return r ? r : pc;
}

const char *gt_stack_fn_name(uintptr_t real)
{
	uint32_t n = __atomic_load_n(&nnames, __ATOMIC_ACQUIRE);

	for (uint32_t i = 0; i < n; i++)
		if (names[i].pc == real)
			return names[i].name;

	const char *name = gt_real_name_of(real);
	const char *(*f)(uintptr_t) = __atomic_load_n(&namer, __ATOMIC_ACQUIRE);
	if (!name && f)
		name = f(real);
	return name;
}
