/* check_heap.c - gt_glibc_usable reads what glibc's malloc_usable_size
 * says, for every kind of block (small, large, mmapped, aligned, calloc'd,
 * realloc'd), and gt_heap_begin turns it on only for glibc's allocator.
 * Under ASan/TSan the allocator is the sanitizer's, and with MALLOC_CHECK_
 * old glibcs check blocks in libc: then the check is that gt_heap_begin
 * says so (and the header is not read). The heap profile's sampled blocks
 * are found again at their free through the filter of their addresses,
 * whose bits clear when the last block under them goes. */
#include <check.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/process/api.h"
#include "core/record/api.h"
#include "core/record/heap.h"
#include "core/record/hprof.h"
#include "core/record/stack.h"
#include "tests/unit/check_main.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define SANITIZED 1
#else
#define SANITIZED 0
#endif

#if GT_GLIBC_USABLE
static void same(void *p, const char *what, size_t n)
{
	ck_assert_msg(p, "%s(%zu) failed", what, n);
	ck_assert_msg(gt_glibc_usable(p) == malloc_usable_size(p),
		      "%s(%zu): header says %zu, malloc_usable_size %zu", what, n,
		      gt_glibc_usable(p), malloc_usable_size(p));
}
#endif

START_TEST(usable_matches_glibc)
{
	gt_heap_begin();
	ck_assert_int_eq(gt_heap_glibc, !SANITIZED && !getenv("MALLOC_CHECK_"));
#if GT_GLIBC_USABLE
	if (!gt_heap_glibc) {
		fprintf(stderr, "check_heap: %s: header sizes not compared\n",
			SANITIZED ? "the sanitizer's allocator" : "MALLOC_CHECK_ set");
		return;
	}
	static void *keep[4096];
	unsigned k = 0;
	/* Every small size, then larger ones up to and past the mmap threshold
	 * (128 KiB by default, so 200 KiB+ blocks are mmapped). */
	for (size_t n = 0; n <= 2048; n++, k++)
		same(keep[k % 4096] = malloc(n), "malloc", n);
	for (size_t n = 2049; n < (8u << 20); n = n * 5 / 4 + 7)
		same(keep[k++ % 4096] = malloc(n), "malloc", n);
	for (size_t n = 1; n < (1u << 20); n = n * 3 + 1)
		same(keep[k++ % 4096] = calloc(n, 3), "calloc", n * 3);
	for (size_t a = 16; a <= 65536; a *= 2)
		for (size_t n = 1; n < (4u << 20); n = n * 7 + 3) {
			void *p = NULL;
			ck_assert_int_eq(posix_memalign(&p, a, n), 0);
			same(p, "posix_memalign", n);
			same(keep[k++ % 4096] = memalign(a, n + 1), "memalign", n + 1);
			free(p);
		}
	void *r = NULL;
	for (size_t n = 1; n < (16u << 20); n = n * 2 + 5)
		same(r = realloc(r, n), "realloc", n);
	free(r);
	/* Blocks that stay live while their neighbours are freed and reused. */
	for (unsigned i = 0; i < 4096; i += 2) {
		free(keep[i]);
		keep[i] = malloc(i * 3 + 1);
	}
	for (unsigned i = 0; i < 4096; i++)
		if (keep[i])
			same(keep[i], "kept", 0);
	for (unsigned i = 0; i < 4096; i++)
		free(keep[i]);
#endif
}
END_TEST

/* The sampled figures summed over stacks. */
static void sums(uint64_t *alloc_n, uint64_t *free_n)
{
	struct gt_hprof_entry e;
	size_t i = 0;

	*alloc_n = *free_n = 0;
	while (gt_hprof_get(&i, &e)) {
		*alloc_n += e.alloc_n;
		*free_n += e.free_n;
	}
}

static int all_clear(const uint64_t *w, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (w[i])
			return 0;
	return 1;
}

/* Addresses only (never read), spread over the filter. */
#define NB 128
static uintptr_t addr(unsigned i)
{
	return 0x7f1200000000ull + (uintptr_t)(i % 96) * 0x10000 + (i / 96) * 0x40;
}

START_TEST(sampled_blocks_found_at_free)
{
	uint64_t a, f;

	ck_assert_int_eq(gt_stack_init(), 0);
	gt_stack_thread_init(0);
	ck_assert_int_eq(gt_hprof_set_rate(1), 0);   /* every allocation */
	for (unsigned i = 0; i < NB; i++)
		gt_hprof_alloc_slow((void *)addr(i), 64);
	sums(&a, &f);
	ck_assert_uint_eq(a, NB);
	ck_assert_uint_eq(f, 0);
	for (unsigned i = 0; i < NB; i++)
		ck_assert_msg(gt_hprof_maybe((void *)addr(i)), "block %u not seen", i);
	for (unsigned i = 0; i < NB; i += 2)
		gt_hprof_free((void *)addr(i));   /* as the hook does */
	sums(&a, &f);
	ck_assert_uint_eq(f, NB / 2);
	for (unsigned i = 1; i < NB; i += 2)
		ck_assert_msg(gt_hprof_maybe((void *)addr(i)), "block %u lost", i);
	for (unsigned i = 1; i < NB; i += 2)
		gt_hprof_free((void *)addr(i));
	sums(&a, &f);
	ck_assert_uint_eq(f, NB);
	ck_assert(all_clear(gt_hprof_bits, sizeof(gt_hprof_bits) / 8));
	gt_hprof_free((void *)addr(5));   /* freed twice: found no more */
	sums(&a, &f);
	ck_assert_uint_eq(f, NB);
	gt_hprof_set_rate(0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("heap");
	TCase *tc = tcase_create("usable");
	tcase_add_test(tc, usable_matches_glibc);
	tcase_add_test(tc, sampled_blocks_found_at_free);
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
