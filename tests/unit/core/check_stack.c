/* check_stack.c - the stack table: ids are unique per content and stable,
 * from many threads at once; capture skips the tracer's frames. */
#include <check.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/process/api.h"
#include "core/record/api.h"
#include "core/record/stack.h"
#include "tests/unit/check_main.h"

#define THREADS 8
#define STACKS 2000
#define ROUNDS 3

static uint32_t ids[THREADS][STACKS];

static void make(unsigned k, uintptr_t *pc, unsigned *n)
{
	*n = 1 + k % 20;
	for (unsigned i = 0; i < *n; i++)
		pc[i] = 0x400000 + k * 64 + i * 8;
}

/* Intern keys 0..keys-1 `rounds` times, each thread in its own order
 * (k = j * step + me * skew): ids[k] from the first round, and every later
 * round must give the same. NULL, or (void *)1 on a different id. */
static void *intern_rounds(unsigned me, unsigned keys, int rounds, unsigned step, unsigned skew,
			   void (*mk)(unsigned, uintptr_t *, unsigned *), uint32_t *out)
{
	uintptr_t pc[GT_STACK_MAX];
	unsigned n;

	gt_tls.in_tracer++;
	for (int r = 0; r < rounds; r++)
		for (unsigned j = 0; j < keys; j++) {
			unsigned k = (j * step + me * skew) % keys;
			mk(k, pc, &n);
			uint32_t id = gt_stack_intern(pc, n, 0);
			if (r == 0)
				out[k] = id;
			else if (out[k] != id)
				return (void *)1;
		}
	gt_tls.in_tracer--;
	return NULL;
}

static void *worker(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;

	return intern_rounds(me, STACKS, ROUNDS, 7, 131, make, ids[me]);
}

START_TEST(concurrent_intern)
{
	pthread_t th[THREADS];

	ck_assert_int_eq(gt_stack_init(), 0);
	for (uintptr_t i = 0; i < THREADS; i++)
		pthread_create(&th[i], NULL, worker, (void *)i);
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(th[i], &r);
		ck_assert_ptr_null(r);
	}
	/* Same content -> same id in every thread; different -> different. */
	for (unsigned k = 0; k < STACKS; k++) {
		ck_assert_uint_ne(ids[0][k], 0);
		for (int t = 1; t < THREADS; t++)
			ck_assert_uint_eq(ids[t][k], ids[0][k]);
		const struct gt_stack *s = gt_stack_get(ids[0][k]);
		uintptr_t pc[GT_STACK_MAX];
		unsigned n;
		make(k, pc, &n);
		ck_assert_ptr_nonnull(s);
		ck_assert_uint_eq(s->n, n);
		ck_assert_mem_eq(s->pc, pc, n * sizeof(uintptr_t));
	}
	uint32_t *sorted = malloc(sizeof(uint32_t) * STACKS);
	memcpy(sorted, ids[0], sizeof(uint32_t) * STACKS);
	for (unsigned i = 0; i < STACKS; i++)
		for (unsigned j = i + 1; j < STACKS; j++)
			ck_assert_uint_ne(sorted[i], sorted[j]);
	free(sorted);
	/* flags are part of the key */
	uintptr_t pc = 0x1234;
	ck_assert_uint_ne(gt_stack_intern(&pc, 1, 0), gt_stack_intern(&pc, 1, GT_STK_START));
	ck_assert_uint_eq(gt_stack_intern(&pc, 1, GT_STK_START),
			  gt_stack_intern(&pc, 1, GT_STK_START));
	ck_assert_uint_eq(gt_stack_intern(&pc, 0, 0), 0);
}
END_TEST

static __attribute__((noinline)) unsigned outer_frame(uintptr_t *pc, unsigned max)
{
	unsigned n = gt_stack_capture(pc, max, 0xabc);
	__asm__ volatile("" ::: "memory");
	return n;
}

START_TEST(capture)
{
	uintptr_t pc[GT_STACK_MAX];

	ck_assert_int_eq(gt_stack_init(), 0);
	gt_stack_prepare();   /* loads libunwind */
	gt_tls.in_tracer++;
	unsigned n = outer_frame(pc, GT_STACK_MAX);
	gt_tls.in_tracer--;
	/* The test binary links core statically, so all of it is "self":
	 * what remains is fn then nothing (the walk stops at our code). */
	ck_assert_uint_ge(n, 1);
	ck_assert_uint_eq(pc[0], 0xabc);
	for (unsigned i = 1; i < n; i++)
		ck_assert(!gt_stack_is_self(pc[i]));
	n = gt_stack_capture(pc, 1, 0xabc);
	ck_assert_uint_eq(n, 1);
}
END_TEST

/* The table grows (gt_stack_grow: a resize on a thread of its own) while
 * threads intern and look up: every id stays what it was. */
#define GROW_KEYS 30000
#define GROW_THREADS 4
static uint32_t grow_ids[GROW_THREADS][GROW_KEYS];

static void make_grow(unsigned k, uintptr_t *pc, unsigned *n)
{
	*n = 2 + k % 5;
	for (unsigned i = 0; i < *n; i++)
		pc[i] = 0x7f0000000000 + (uintptr_t)k * 4096 + i * 16;
}

static void *grow_worker(void *arg)
{
	unsigned me = (unsigned)(uintptr_t)arg;

	return intern_rounds(me, GROW_KEYS, 2, 13, 977, make_grow, grow_ids[me]);
}

START_TEST(grow)
{
	pthread_t th[GROW_THREADS];
	int joined[GROW_THREADS] = { 0 }, left = GROW_THREADS;
	uintptr_t pc[GT_STACK_MAX];
	unsigned n;

	ck_assert_int_eq(gt_stack_init(), 0);
	gt_tls.in_tracer++;
	for (uintptr_t i = 0; i < GROW_THREADS; i++)
		pthread_create(&th[i], NULL, grow_worker, (void *)i);
	while (left) {
		gt_stack_grow();   /* as the service thread does, each loop */
		for (int i = 0; i < GROW_THREADS; i++) {
			void *r;
			if (!joined[i] && pthread_tryjoin_np(th[i], &r) == 0) {
				joined[i] = 1;
				left--;
				ck_assert_ptr_null(r);
			}
		}
		usleep(1000);
	}
	do
		gt_stack_grow();
	while (!gt_stack_reap(100));
	ck_assert_uint_ge(gt_stack_buckets(), 4 * 4096);
	for (unsigned k = 0; k < GROW_KEYS; k++) {
		make_grow(k, pc, &n);
		ck_assert_uint_ne(grow_ids[0][k], 0);
		for (int t = 1; t < GROW_THREADS; t++)
			ck_assert_uint_eq(grow_ids[t][k], grow_ids[0][k]);
		ck_assert_uint_eq(gt_stack_intern(pc, n, 0), grow_ids[0][k]);
	}
	gt_tls.in_tracer--;
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stack");
	TCase *tc = tcase_create("table");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, concurrent_intern);
	tcase_add_test(tc, capture);
	tcase_add_test(tc, grow);
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
