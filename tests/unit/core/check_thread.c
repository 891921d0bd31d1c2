/* check_thread.c - the thread registry alone (core/record/thread.c and
 * thread_life.c, no hooks): goids unique and never reused, the walk sees each
 * record once, P ids small and dense, late registration, the exit handler,
 * names, the fork child. Each test needs a process of its own (CK_FORK=yes,
 * tests/unit/meson.build): the registry cannot be reset. */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/record/api.h"
#include "core/record/thread.h"
#include "tests/unit/check_main.h"

#define THREADS 8
#define PER 2000

static uint32_t locked_state(struct gt_thread *t)
{
	gt_lock(&t->lock);
	uint32_t s = t->state;
	gt_unlock(&t->lock);
	return s;
}

/* For pointers and goids alike (both 64-bit here). */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* n threads run fn((void *)i) and must all return NULL. */
static void run_all(void *(*fn)(void *), uintptr_t n)
{
	pthread_t th[THREADS];
	void *r;

	for (uintptr_t i = 0; i < n; i++)
		pthread_create(&th[i], NULL, fn, (void *)i);
	for (uintptr_t i = 0; i < n; i++) {
		pthread_join(th[i], &r);
		ck_assert_ptr_null(r);
	}
}

/* What a walk saw: hits[i] for each of the m sorted records walk_p[i],
 * and how many others with a goid (allocated, not by us) it met. */
static struct gt_thread **walk_p;
static unsigned walk_m, *hits, others;

static void visit(struct gt_thread *t, void *arg __attribute__((unused)))
{
	struct gt_thread **k = bsearch(&t, walk_p, walk_m, sizeof(t), cmp_u64);

	if (k)
		hits[k - walk_p]++;
	else if (t->goid)
		others++;
}

/* Walk the registry: each of p[0..n) (repeats allowed) is visited exactly
 * once, and no record outside them was ever allocated. Sorts p. */
static void walk_exactly_once(struct gt_thread **p, unsigned n)
{
	qsort(p, n, sizeof(*p), cmp_u64);
	walk_p = p;
	walk_m = 0;
	for (unsigned i = 0; i < n; i++)
		if (!walk_m || p[i] != p[walk_m - 1])
			p[walk_m++] = p[i];
	hits = calloc(walk_m, sizeof(unsigned));
	gt_thread_foreach(visit, NULL);
	for (unsigned i = 0; i < walk_m; i++)
		ck_assert_uint_eq(hits[i], 1);
	ck_assert_uint_eq(others, 0);
	free(hits);
}

/* Threads allocate and free every other record (recycled by any of them) at
 * once, while a walker locks each record it meets, as the service thread. */
static struct gt_thread *ptrs[THREADS][PER];
static uint64_t goids[THREADS][PER];
static uint32_t stop_walk;

static void *allocator(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;

	for (unsigned i = 0; i < PER; i++) {
		struct gt_thread *t = ptrs[me][i] = gt_thread_alloc();
		if (!t || locked_state(t) != GT_T_EMBRYO || (i && t->goid <= goids[me][i - 1]))
			return (void *)1;
		goids[me][i] = t->goid;
		if (i & 1)
			gt_thread_free(t);
	}
	return NULL;
}

static void check_locked(struct gt_thread *t, void *arg)
{
	gt_lock(&t->lock);
	if (t->state > GT_T_EMBRYO || (t->state == GT_T_EMBRYO && !t->goid))
		++*(unsigned *)arg;
	gt_unlock(&t->lock);
}

static void *walker(void *arg)
{
	while (!__atomic_load_n(&stop_walk, __ATOMIC_ACQUIRE))
		gt_thread_foreach(check_locked, arg);
	return NULL;
}

START_TEST(alloc_concurrent)
{
	pthread_t w;
	unsigned bad = 0;

	pthread_create(&w, NULL, walker, &bad);
	run_all(allocator, THREADS);
	__atomic_store_n(&stop_walk, 1, __ATOMIC_RELEASE);
	pthread_join(w, NULL);
	ck_assert_uint_eq(bad, 0);
	/* Kept (even) records are as allocated; each record once in a walk. */
	for (int i = 0; i < THREADS; i++)
		for (int j = 0; j < PER; j += 2)
			ck_assert(locked_state(ptrs[i][j]) == GT_T_EMBRYO &&
				  ptrs[i][j]->goid == goids[i][j]);
	walk_exactly_once((struct gt_thread **)ptrs, THREADS * PER);
	/* Every goid handed out is unique, recycled records' included. */
	uint64_t *g = (uint64_t *)goids;
	qsort(g, THREADS * PER, sizeof(*g), cmp_u64);
	for (unsigned i = 1; i < THREADS * PER; i++)
		ck_assert_uint_lt(g[i - 1], g[i]);
}
END_TEST

/* P ids: 1, 2, 3... (0 is the control P, which gt_p_count counts: ids are
 * 0..count-1); a released id, with its slot's last time, comes back before
 * a new id is made. Then concurrently: one holder at a time, the slot's
 * last_ts what the previous holder left, no more ids than holders. */
static uint32_t holder[THREADS + 1];
static uint64_t stamp[THREADS + 1];

static void *p_user(void *arg)
{
	uint64_t me = (uintptr_t)arg;

	for (uint64_t i = 1; i <= 5000; i++) {
		struct gt_pslot *ps = gt_p_acquire();
		uint32_t none = 0;
		if (!ps || ps->id == 0 || ps->id > THREADS)
			return (void *)1;   /* dense: at most THREADS held at once */
		if (!__atomic_compare_exchange_n(&holder[ps->id], &none, 1, 0,
						 __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			return (void *)2;   /* two holders */
		if (ps->last_ts != __atomic_load_n(&stamp[ps->id], __ATOMIC_RELAXED))
			return (void *)3;   /* the slot's time got lost */
		if (i % 64 == 0)
			sched_yield();
		ps->last_ts = (me + 1) << 32 | i;
		__atomic_store_n(&stamp[ps->id], ps->last_ts, __ATOMIC_RELAXED);
		__atomic_store_n(&holder[ps->id], 0, __ATOMIC_RELAXED);
		gt_p_release(ps);
	}
	return NULL;
}

#define NP 40
START_TEST(p_ids)
{
	struct gt_pslot *ps[NP];

	ck_assert_uint_eq(gt_p_count(), 1);
	for (unsigned i = 0; i < NP; i++) {
		ps[i] = gt_p_acquire();
		ck_assert(ps[i]->id == i + 1 && ps[i]->last_ts == 0 && gt_p_count() == i + 2);
	}
	ps[4]->last_ts = 444;   /* its owner's last event */
	ps[17]->last_ts = 1717;
	gt_p_release(ps[4]);
	gt_p_release(ps[17]);
	struct gt_pslot *a = gt_p_acquire(), *b = gt_p_acquire();
	struct gt_pslot *lo = a->id < b->id ? a : b, *hi = a->id < b->id ? b : a;
	ck_assert(lo->id == 5 && lo->last_ts == 444 && hi->id == 18 && hi->last_ts == 1717);
	ck_assert_uint_eq(gt_p_count(), NP + 1);   /* no new id */
	ck_assert_uint_eq(gt_p_acquire()->id, NP + 1);
	ck_assert_uint_eq(gt_p_count(), NP + 2);
}
END_TEST

START_TEST(p_concurrent)
{
	run_all(p_user, THREADS);
	ck_assert(gt_p_count() >= 2 && gt_p_count() <= THREADS + 1);
}
END_TEST

/* A thread the tracer never saw (a plain pthread_create): calls
 * gt_thread_self twice with in_tracer 1, as a hook's slow path has it (2: a
 * tracer thread calling into core), parks until its gate opens, leaves; a
 * pthread key made after the exit key sees what the exit handler left. */
struct reg {
	pthread_t th;
	uint32_t tracer, hold, go;
	int tid, count;
	struct gt_thread *t, *again, *t_after, *self_after;   /* _after: seen after */
	int rounds, dead, in_tracer_after;                      /* the exit handler */
};

static uint32_t parked;
static pthread_key_t late_key;

static void late(void *arg)
{
	struct reg *r = arg;

	/* Its exit handler still to run: come again in the next round. */
	if (r->t && !gt_tls.dead && r->rounds++ < 3 && pthread_setspecific(late_key, r) == 0)
		return;
	r->dead = (int)gt_tls.dead;
	r->t_after = gt_tls.t;
	r->in_tracer_after = (int)gt_tls.in_tracer;
	gt_tls.in_tracer++;   /* as any entry into core does */
	r->self_after = gt_thread_self();
	gt_tls.in_tracer--;
}

static void *adopted(void *arg)
{
	struct reg *r = arg;

	gt_tls.in_tracer = 1 + r->tracer;
	r->t = gt_thread_self();
	r->again = gt_thread_self();
	gt_tls.in_tracer = r->tracer;   /* a tracer thread's stays 1 for good */
	r->tid = (int)syscall(SYS_gettid);
	r->count = gt_thread_program_count();
	if (r->hold)
		gt_lock(&r->t->lock);   /* held across the fork */
	pthread_setspecific(late_key, r);
	__atomic_add_fetch(&parked, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&r->go, __ATOMIC_ACQUIRE))
		usleep(1000);
	return NULL;
}

static void start(struct reg *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		pthread_create(&r[i].th, NULL, adopted, &r[i]);
	while (__atomic_load_n(&parked, __ATOMIC_ACQUIRE) < n)
		usleep(1000);
}

static void finish(struct reg *r, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		__atomic_store_n(&r[i].go, 1, __ATOMIC_RELEASE);
	for (unsigned i = 0; i < n; i++)
		pthread_join(r[i].th, NULL);
}

/* Nothing before gt_thread_init_main (no exit key); then main once, no name
 * (the process labels it until named); late threads, at once, once each with their tid and
 * pthread_t, counted, and at exit freed, uncounted, not registered again by
 * later destructors; a tracer thread among them (in_tracer 2) gets none. */
START_TEST(self_registers)
{
	struct reg r[THREADS + 1] = { { 0 } };
	struct gt_thread *all[THREADS + 1];

	gt_tls.in_tracer = 1;
	ck_assert(!gt_thread_self() && gt_thread_program_count() == 0);
	gt_tls.in_tracer = 0;
	gt_thread_init_main();
	struct gt_thread *m = all[THREADS] = gt_tls.t;
	gt_thread_init_main();
	ck_assert(m && gt_tls.t == m && locked_state(m) == GT_T_LIVE && m->flags == GT_TF_MAIN);
	ck_assert(m->tid == getpid() && m->tls == &gt_tls && m->self == (uintptr_t)pthread_self());
	ck_assert_str_eq(m->name, "");
	ck_assert_int_eq(gt_thread_program_count(), 1);
	gt_tls.in_tracer = 1;
	ck_assert_ptr_eq(gt_thread_self(), m);
	gt_tls.in_tracer = 0;
	pthread_key_create(&late_key, late);   /* after the exit key: runs later */
	r[THREADS].tracer = 1;
	start(r, THREADS + 1);
	ck_assert(!r[THREADS].t && gt_thread_program_count() == THREADS + 1);
	for (int i = 0; i < THREADS; i++) {
		struct gt_thread *t = all[i] = r[i].t;
		ck_assert(t && r[i].again == t && locked_state(t) == GT_T_LIVE);
		ck_assert(t->flags == GT_TF_ADOPTED && t->goid > m->goid);
		ck_assert(t->tid == r[i].tid && t->self == (uintptr_t)r[i].th && r[i].count >= 2);
	}
	walk_exactly_once(all, THREADS + 1);   /* distinct, and no others */
	finish(r, THREADS + 1);
	for (int i = 0; i < THREADS; i++) {
		ck_assert(locked_state(r[i].t) == GT_T_FREE && !r[i].t->tls);
		/* the exit handler ran (no record, in_tracer 1 for good), and
		 * gt_thread_self after it did not register the thread again */
		ck_assert(r[i].dead == 1 && !r[i].t_after && r[i].in_tracer_after == 1);
		ck_assert_ptr_null(r[i].self_after);
	}
	ck_assert(!r[THREADS].self_after && gt_thread_program_count() == 1);   /* tracer too */
}
END_TEST

/* gt_thread_named names the LIVE record whose pthread_t matches, and only
 * it: truncated to 15 bytes, "GC " made "GC_", its label to be redefined. */
START_TEST(named)
{
	struct reg r[3] = { { 0 } };

	gt_thread_init_main();
	pthread_key_create(&late_key, NULL);
	start(r, 3);
	r[0].t->label_sess = 7;   /* its owner is parked */
	gt_tls.in_tracer = 1;
	gt_thread_named((uintptr_t)r[0].th, "worker-a-with-a-long-name");
	ck_assert(!strcmp(r[0].t->name, "worker-a-with-a") && r[0].t->label_sess == 0);
	ck_assert_str_eq(r[1].t->name, "");   /* others untouched */
	ck_assert_str_eq(gt_tls.t->name, "");
	gt_thread_named((uintptr_t)r[1].th, "GC worker");
	ck_assert_str_eq(r[1].t->name, "GC_worker");
	ck_assert_str_eq(r[0].t->name, "worker-a-with-a");
	/* Gone: its freed record keeps the pthread_t (glibc's to reuse). */
	gt_thread_named((uintptr_t)r[2].th, "c");
	finish(&r[2], 1);
	gt_thread_named((uintptr_t)r[2].th, "late");
	ck_assert_str_eq(r[2].t->name, "c");
	finish(r, 2);
}
END_TEST

/* thread_life.c as the pthread_create and pthread_setname_np hooks call it.
 * body runs in the new thread (gt_thread_start's routine) and looks. */
struct life {
	struct gt_thread *rec, *t;
	uint32_t state, in_tracer, own;
	int count;
};

static void *body(void *arg)
{
	struct life *l = arg;

	l->t = gt_tls.t;
	l->in_tracer = gt_tls.in_tracer;
	l->count = gt_thread_program_count();
	l->state = locked_state(l->rec);
	l->own = l->rec->tid == (int)syscall(SYS_gettid) &&
		 l->rec->self == (uintptr_t)pthread_self();
	return l;
}

START_TEST(life)
{
	struct life a = { 0 }, b = { 0 };
	uintptr_t me = (uintptr_t)pthread_self();
	pthread_t th;
	void *ret;

	gt_thread_init_main();
	struct gt_thread *m = gt_tls.t;
	ck_assert_ptr_null(gt_thread_prepare(body, &a, 0));   /* before load is done */
	gt_thread_set_name(me, "early", 0);
	gt_hook_ready();
	/* A program thread: EMBRYO, then LIVE, its own and counted while it
	 * runs, freed and uncounted after; errno and in_tracer kept. */
	errno = EDOM;
	a.rec = gt_thread_prepare(body, &a, 0);
	ck_assert(errno == EDOM && gt_tls.in_tracer == 0);
	ck_assert(locked_state(a.rec) == GT_T_EMBRYO && a.rec->flags == 0);
	ck_assert(a.rec->fn == body && a.rec->arg == &a && a.rec->start_pc == (uintptr_t)body);
	ck_assert_int_eq(pthread_create(&th, NULL, gt_thread_start, a.rec), 0);
	pthread_join(th, &ret);
	ck_assert_ptr_eq(ret, &a);
	ck_assert(a.t == a.rec && a.state == GT_T_LIVE && a.own && !a.in_tracer && a.count == 2);
	ck_assert(locked_state(a.rec) == GT_T_FREE && gt_thread_program_count() == 1);
	/* Made by the tracer (in_tracer > 0): untraced for good, its record
	 * freed before it runs, never counted. */
	gt_tls.in_tracer = 1;
	b.rec = gt_thread_prepare(body, &b, 0);
	ck_assert(gt_tls.in_tracer == 1 && b.rec->flags == GT_TF_INTERNAL);
	gt_tls.in_tracer = 0;
	ck_assert_int_eq(pthread_create(&th, NULL, gt_thread_start, b.rec), 0);
	pthread_join(th, NULL);
	ck_assert(!b.t && b.state == GT_T_FREE && b.in_tracer == 1 && b.count == 1);
	/* The real pthread_create failed: the record goes back, for reuse. */
	struct gt_thread *c = gt_thread_prepare(body, NULL, 0);
	uint64_t g = c->goid;
	gt_thread_abort(c);
	ck_assert_uint_eq(locked_state(c), GT_T_FREE);
	ck_assert(gt_thread_alloc() == c && c->goid > g);   /* before new memory */
	ck_assert(locked_state(c) == GT_T_EMBRYO && !c->fn && !c->arg && !c->start_pc);
	/* Names: from a program call only (in_tracer 0), errno kept. */
	gt_tls.in_tracer = 1;
	gt_thread_set_name(me, "inner", 0);
	gt_tls.in_tracer = 0;
	gt_thread_set_name(me, NULL, 0);
	ck_assert_str_eq(m->name, "");   /* none of the three named it */
	errno = ERANGE;
	gt_thread_set_name(me, "renamed", 0);
	ck_assert(errno == ERANGE && !strcmp(m->name, "renamed"));
}
END_TEST

/* fork: in the child only the forking thread's record is left (tid the
 * child's), the others free for reuse, their locks (even one held at the
 * fork: else a hang, to the test's timeout) released, P ids and counts
 * restarted. The child's exit status: 0, or the number of the failed check. */
static void live_other(struct gt_thread *t, void *arg)
{
	if (t != gt_tls.t && t->state != GT_T_FREE)
		++*(unsigned *)arg;
}

static int child(struct gt_thread **rec, unsigned n, uint64_t top)
{
	struct gt_thread *m = rec[0];
	unsigned others = 0;

	gt_tls.in_tracer++;   /* as the atfork child handler has it */
	gt_thread_after_fork_child();
	gt_tls.in_tracer--;
	if (gt_tls.t != m || locked_state(m) != GT_T_LIVE || m->tid != getpid())
		return 10;
	gt_thread_foreach(live_other, &others);
	if (others || gt_thread_program_count() != 1)
		return 11;
	if (gt_p_acquire()->id != 1 || gt_p_count() != 2)
		return 12;
	/* Every other record comes back, each once, with a new goid ... */
	for (unsigned i = 1; i < n; i++) {
		struct gt_thread *t = gt_thread_alloc();
		unsigned j = 1;
		while (j < n && rec[j] != t)
			j++;
		if (j == n || t->goid <= top || locked_state(t) != GT_T_EMBRYO)
			return 13;
		rec[j] = NULL;
	}
	/* ... then new memory, not ours. */
	return gt_thread_alloc() == m ? 14 : 0;
}

START_TEST(fork_child)
{
	struct reg r[3] = { { 0 } };
	struct gt_thread *rec[8], *all[8];
	int status;

	gt_thread_init_main();
	pthread_key_create(&late_key, NULL);
	r[1].hold = 1;
	start(r, 3);
	rec[0] = gt_tls.t;
	for (int i = 1; i < 8; i++)   /* 3 threads, 4 being made */
		rec[i] = i < 4 ? r[i - 1].t : gt_thread_alloc();
	for (int i = 0; i < 3; i++)
		gt_p_acquire();
	memcpy(all, rec, sizeof(rec));
	walk_exactly_once(all, 8);   /* these and no others */
	pid_t pid = fork();
	if (pid == 0)
		_exit(child(rec, 8, rec[7]->goid));   /* the last made: the highest */
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "child killed by signal %d", WTERMSIG(status));
	ck_assert_int_eq(WEXITSTATUS(status), 0);
	gt_unlock(&r[1].t->lock);
	finish(r, 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("thread");
	TCase *tc = tcase_create("registry");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, alloc_concurrent);
	tcase_add_test(tc, p_ids);
	tcase_add_test(tc, p_concurrent);
	tcase_add_test(tc, self_registers);
	tcase_add_test(tc, named);
	tcase_add_test(tc, life);
	tcase_add_test(tc, fork_child);
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
