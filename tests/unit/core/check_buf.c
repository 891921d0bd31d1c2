/* check_buf.c - the chunk pool and the writer queue under concurrency:
 * FIFO per producer, no chunk lost or handed out twice, waits at the cap
 * counted and released by a consumer. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/config.h"
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

int main(void)
{
	Suite *s = suite_create("buf");
	TCase *tc = tcase_create("pool");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, fifo_and_cap);
	tcase_add_test(tc, cap_without_consumer);
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
