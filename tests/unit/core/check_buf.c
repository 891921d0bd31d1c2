/* check_buf.c - the chunk pool and the writer queue under concurrency:
 * FIFO per producer, no chunk lost or handed out twice, waits at the cap
 * counted and released by a consumer. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "core/base/lock.h"

#include "core/record/buf.h"
#include "core/base/config.h"
#include "tests/unit/check_main.h"

#define PRODUCERS 4
#define PER 3000

static uint32_t stop_consumer;

static void *producer(void *arg)
{
	uint32_t me = (uint32_t)(uintptr_t)arg;

	for (uint32_t i = 0; i < PER; i++) {
		uint64_t waited;
		struct gt_chunk *c = gt_buf_get(1, &waited);
		if (!c)
			return (void *)1;
		if (c->len != 0)
			return (void *)2;
		c->p = me;
		memcpy(c->data, &i, sizeof(i));
		memset(c->data + 4, (int)me, 64);
		c->len = 68;
		gt_buf_submit(c);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	uint32_t next[PRODUCERS] = { 0 };
	uint64_t total = 0;

	(void)arg;
	while (total < (uint64_t)PRODUCERS * PER) {
		/* Read before the take: an empty queue after the producers
		 * ended is empty for good (a take that found it empty just
		 * before their last submits is not). */
		uint32_t stop = __atomic_load_n(&stop_consumer, __ATOMIC_ACQUIRE);
		struct gt_chunk *c = gt_buf_take();
		if (!c) {
			if (stop)
				break;
			continue;
		}
		uint32_t seq;
		memcpy(&seq, c->data, 4);
		if (c->p >= PRODUCERS || seq != next[c->p]++)
			return (void *)1;   /* per-producer FIFO broken */
		for (int i = 0; i < 64; i++)
			if (c->data[4 + i] != (uint8_t)c->p)
				return (void *)2;
		total++;
		gt_buf_put(c);
	}
	return total == (uint64_t)PRODUCERS * PER ? NULL : (void *)3;
}

#if !defined(__SANITIZE_THREAD__)   /* (a raw fork under TSan's runtime: its own
				     * fork handlers skipped, it may hang; the plain
				     * and ASan builds run this one) */
/* A raw fork's child (syscall(SYS_fork): no fork handler ran) has its
 * copy of a lock another thread held at the fork: its wait for it ended
 * only by the lock's check of gt_buf_orphaned, every 100 ms. */
static struct gt_lock held_lock = GT_LOCK_INIT;
static void *hold_it(void *a)
{
	gt_lock(&held_lock);
	return a;
}

START_TEST(lock_in_raw_fork_child)
{
	pthread_t th;
	int st;

	gt_buf_put(gt_buf_get(0, NULL));   /* (the pool's owner: this process) */
	gt_lock_set_orphaned(gt_buf_orphaned);
	pthread_create(&th, NULL, hold_it, NULL);
	pthread_join(th, NULL);   /* held, and its holder gone */
	pid_t p = (pid_t)syscall(SYS_fork);
	if (p == 0) {
		alarm(10);
		gt_lock(&held_lock);   /* would wait for ever */
		_exit(0);
	}
	ck_assert_int_eq(waitpid(p, &st, 0), p);
	ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	gt_lock_set_orphaned(NULL);
	held_lock.word = 0;
}
END_TEST
#endif

START_TEST(fifo_and_cap)
{
	pthread_t p[PRODUCERS], cons;
	struct gt_buf_stats st;

	gt_cfg.buffer_bytes = 1 << 20;   /* a tiny cap: producers must wait */
	pthread_create(&cons, NULL, consumer, NULL);
	for (uintptr_t i = 0; i < PRODUCERS; i++)
		pthread_create(&p[i], NULL, producer, (void *)i);
	for (int i = 0; i < PRODUCERS; i++) {
		void *r;
		pthread_join(p[i], &r);
		ck_assert_ptr_null(r);
	}
	__atomic_store_n(&stop_consumer, 1, __ATOMIC_RELEASE);
	void *r;
	pthread_join(cons, &r);
	ck_assert_ptr_null(r);
	ck_assert_uint_eq(gt_buf_in_use(), 0);
	gt_buf_get_stats(&st);
	ck_assert_uint_le(st.chunks, 64);      /* never over the cap (2 regions) */
	gt_buf_trim();
	ck_assert_uint_eq(gt_buf_in_use(), 0);
}
END_TEST

START_TEST(cap_without_consumer)
{
	struct gt_chunk *held[128];
	int n = 0;

	gt_cfg.buffer_bytes = 1 << 20;
	while (n < 128 && (held[n] = gt_buf_get(0, NULL)))
		n++;
	ck_assert_int_eq(n, 64);               /* the minimum pool: 2 regions */
	ck_assert_ptr_null(gt_buf_get(0, NULL));
	gt_buf_put(held[--n]);
	ck_assert_ptr_nonnull(held[n] = gt_buf_get(0, NULL));
	for (int i = 0; i <= n; i++)
		gt_buf_put(held[i]);
}
END_TEST

/* Every page of c is resident: touched already (mincore). */
static int resident(const struct gt_chunk *c)
{
	unsigned char v[GT_CHUNK_SIZE / 4096];
	long pg = sysconf(_SC_PAGESIZE);

	if (pg != 4096 || mincore((void *)c, GT_CHUNK_SIZE, v))
		return -1;
	for (unsigned i = 0; i < sizeof(v); i++)
		if (!(v[i] & 1))
			return 0;
	return 1;
}

/* The service thread's reserve: chunks whose pages are touched, as many as
 * were taken since its last call (at least a region's), within the cap; a
 * region a program thread mapped on its own does not count as touched. */
START_TEST(reserve_touched)
{
	struct gt_chunk *held[64];
	struct gt_buf_stats st0, st;

	gt_cfg.buffer_bytes = 4 << 20;   /* 128 chunks */
	gt_buf_trim();
	ck_assert_uint_eq(gt_buf_in_use(), 0);
	gt_buf_get_stats(&st0);
	/* A program thread's own region: untouched but for its first page. */
	held[0] = gt_buf_get(0, NULL);
	ck_assert_ptr_nonnull(held[0]);
	gt_buf_put(held[0]);
	gt_buf_reserve();
	gt_buf_get_stats(&st);
	ck_assert_uint_eq(st.chunks - st0.chunks, 64);   /* its own + the reserve */
	/* The reserve's chunks come first (the one put back is touched too). */
	for (int i = 0; i < 32; i++) {
		held[i] = gt_buf_get(0, NULL);
		ck_assert_ptr_nonnull(held[i]);
		ck_assert_int_eq(resident(held[i]), 1);
	}
	/* 32 taken since: the next call keeps 32 touched ones free again. */
	gt_buf_reserve();
	gt_buf_get_stats(&st);
	ck_assert_uint_eq(st.chunks - st0.chunks, 96);
	for (int i = 32; i < 64; i++) {
		held[i] = gt_buf_get(0, NULL);
		ck_assert_int_eq(resident(held[i]), 1);
	}
	/* At the cap (128 chunks) it maps no more. */
	gt_buf_reserve();
	gt_buf_reserve();
	gt_buf_get_stats(&st);
	ck_assert_uint_eq(st.chunks - st0.chunks, 128);
	for (int i = 0; i < 64; i++)
		gt_buf_put(held[i]);
	gt_buf_trim();
	ck_assert_uint_eq(gt_buf_in_use(), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("pool");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fifo_and_cap);
	tcase_add_test(tc, cap_without_consumer);
	tcase_add_test(tc, reserve_touched);
#if !defined(__SANITIZE_THREAD__)   /* (see the test) */
	tcase_add_test(tc, lock_in_raw_fork_child);
#endif
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
