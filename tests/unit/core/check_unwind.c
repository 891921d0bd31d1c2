/* check_unwind.c - the stack capture (core/record/unwind.c) through call
 * chains of known frames (unwind/hop_*.c, in shared objects of their own):
 * frame records where every frame keeps one, libunwind where one does not
 * or holds garbage, the same frames either way; the verdicts learned once
 * per return address, and again after the code is forgotten (dlclose);
 * fn as frame 0, max, deep stacks, threads.
 *
 * The test's executable holds core (linked static), so its code is "ours":
 * a walk skips the frames of the capture and ends at the test function,
 * as in the library it ends at our thread trampoline. */
#include <check.h>
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include "core/base/config.h"
#include "core/base/tls.h"
#include "core/record/api.h"
#include "core/record/stack.h"
#include "core/record/thread.h"
#include "core/record/unwind.h"
#include "tests/unit/check_main.h"
#include "tests/unit/core/unwind/hop.h"

static uintptr_t got[GT_STACK_MAX];
static unsigned ngot;
static unsigned want_max = GT_STACK_MAX;
static uintptr_t want_fn;
static int want_id;   /* capture an id (gt_stack_capture_id) into got_id */
static uint32_t got_id;

/* The chain's last hop: capture here, as a hook would. */
static __attribute__((noinline)) unsigned capture(const struct hop *h)
{
	(void)h;
	gt_tls.in_tracer++;
	if (want_id)
		got_id = gt_stack_capture_id(want_fn, want_max, 0);
	else
		ngot = gt_stack_capture(got, want_max, want_fn);
	gt_tls.in_tracer--;
	__asm__ volatile("" : : : "memory");
	return 0;
}

static const struct hop end = { capture, NULL };

/* test -> a -> b -> c -> capture */
static __attribute__((noinline)) void run3(unsigned (*a)(const struct hop *),
					   unsigned (*b)(const struct hop *),
					   unsigned (*c)(const struct hop *))
{
	const struct hop hc = { c, &end }, hb = { b, &hc }, ha = { a, &hb };

	a(&ha);
	__asm__ volatile("" : : : "memory");
}

/* The name of the function holding return address pc. */
static const char *name_of(uintptr_t pc)
{
	Dl_info di;

	return dladdr((void *)(pc - 1), &di) && di.dli_sname ? di.dli_sname : "?";
}

/* got[] holds exactly these functions, innermost first. */
static void expect(const char *const *names, unsigned n)
{
	ck_assert_uint_eq(ngot, n);
	for (unsigned i = 0; i < n; i++)
		ck_assert_str_eq(name_of(got[i]), names[i]);
}

struct counts {
	uint64_t fp, unw, learned;
};

static struct counts counts(void)
{
	struct counts c;

	gt_stack_walk_counts(&c.fp, &c.unw, &c.learned);
	return c;
}

static void setup(int mode)
{
	gt_cfg.unwind = mode;
	gt_cfg.debug = 1;   /* the walks are counted */
	ck_assert_int_eq(gt_stack_init(), 0);
	gt_stack_thread_init(0);   /* main thread: the stack _start found */
	gt_stack_prepare();        /* libunwind, the verdict table */
	if (!gt_tls.t)
		gt_tls.t = gt_thread_alloc();   /* its record keeps the sites' stacks */
	ck_assert_int_eq(gt_cfg.unwind, mode);   /* libunwind was loaded */
	want_max = GT_STACK_MAX;
	want_fn = 0;
}

static const char *const fp3[] = { "hop_fp", "hop_fp", "hop_fp" };
static const char *const mixed[] = { "hop_fp", "hop_nofp", "hop_fp" };
static const char *const clobbered[] = { "hop_fp", "hop_clobber", "hop_fp" };

/* Every frame keeps its record: libunwind once to learn the addresses,
 * then frame records alone, with the same pcs. */
START_TEST(records_once_learned)
{
	uintptr_t first[GT_STACK_MAX];

	setup(GT_UNWIND_AUTO);
	struct counts c0 = counts();
	run3(hop_fp, hop_fp, hop_fp);
	expect(fp3, 3);
	memcpy(first, got, sizeof(got));
	struct counts c1 = counts();
	ck_assert_uint_eq(c1.learned, c0.learned + 1);
	run3(hop_fp, hop_fp, hop_fp);
	struct counts c2 = counts();
	expect(fp3, 3);
	ck_assert_mem_eq(got, first, 3 * sizeof(*got));
	ck_assert_uint_eq(c2.fp, c1.fp + 1);
	ck_assert_uint_eq(c2.unw, c1.unw);
}
END_TEST

/* A frame without its record: libunwind's walk once, which teaches its
 * rule (its CFA from its sp, where it saved rbp); then the frame walk
 * goes through it by that rule, with libunwind's pcs. */
START_TEST(no_record_rule)
{
	uintptr_t first[GT_STACK_MAX];

	setup(GT_UNWIND_AUTO);
	run3(hop_fp, hop_nofp, hop_fp);
	expect(mixed, 3);
	memcpy(first, got, sizeof(got));
	struct counts c1 = counts();
	for (int i = 0; i < 3; i++) {
		run3(hop_fp, hop_nofp, hop_fp);
		expect(mixed, 3);
		ck_assert_mem_eq(got, first, 3 * sizeof(*got));
	}
	struct counts c2 = counts();
	ck_assert_uint_eq(c2.unw, c1.unw);
	ck_assert_uint_eq(c2.learned, c1.learned);
	ck_assert_uint_eq(c2.fp, c1.fp + 3);
}
END_TEST

/* rbp holding garbage below the frame: frame records alone stop there
 * (bounds-checked, no crash: they lose the outer hop), auto does not. */
START_TEST(garbage_record)
{
	static const char *const cut[] = { "hop_fp", "hop_clobber" };

	setup(GT_UNWIND_AUTO);
	for (int i = 0; i < 2; i++) {
		run3(hop_fp, hop_clobber, hop_fp);
		expect(clobbered, 3);
	}
	gt_cfg.unwind = GT_UNWIND_FP;
	run3(hop_fp, hop_clobber, hop_fp);
	expect(cut, 2);   /* the clobber took effect */
	run3(hop_fp, hop_fp, hop_fp);
	expect(fp3, 3);
}
END_TEST

/* GOTRACE_UNWIND=libunwind: the same frames for every chain, the same pcs
 * as the frame-record walk. */
START_TEST(libunwind_mode)
{
	uintptr_t fp_pcs[3];

	setup(GT_UNWIND_AUTO);
	run3(hop_fp, hop_fp, hop_fp);
	run3(hop_fp, hop_fp, hop_fp);
	memcpy(fp_pcs, got, sizeof(fp_pcs));
	gt_cfg.unwind = GT_UNWIND_LIBUNWIND;
	struct counts c0 = counts();
	run3(hop_fp, hop_fp, hop_fp);
	expect(fp3, 3);
	ck_assert_mem_eq(got, fp_pcs, sizeof(fp_pcs));
	run3(hop_fp, hop_nofp, hop_fp);
	expect(mixed, 3);
	run3(hop_fp, hop_clobber, hop_fp);
	expect(clobbered, 3);
	ck_assert_uint_eq(counts().fp, c0.fp);
}
END_TEST

/* fn becomes frame 0 and counts against max; max cuts the outer frames. */
START_TEST(fn_and_max)
{
	static const char *const two[] = { "hop_fp", "hop_nofp" };

	setup(GT_UNWIND_AUTO);
	want_fn = 0xabc;
	run3(hop_fp, hop_fp, hop_fp);
	ck_assert_uint_eq(ngot, 4);
	ck_assert_uint_eq(got[0], 0xabc);
	ck_assert_str_eq(name_of(got[1]), "hop_fp");
	want_max = 2;
	for (int i = 0; i < 2; i++) {   /* learning, then frame records */
		run3(hop_fp, hop_fp, hop_fp);
		ck_assert_uint_eq(ngot, 2);
		ck_assert_uint_eq(got[0], 0xabc);
		ck_assert_str_eq(name_of(got[1]), "hop_fp");
	}
	want_fn = 0;
	run3(hop_fp, hop_nofp, hop_fp);   /* libunwind's walk, cut the same */
	expect(two, 2);
}
END_TEST

/* Deeper than GT_STACK_MAX: max frames, all of the recursion, from frame
 * records once learned. */
START_TEST(deep)
{
	setup(GT_UNWIND_AUTO);
	for (int i = 0; i < 2; i++) {
		struct counts c0 = counts();
		hop_rec(3 * GT_STACK_MAX, &end);
		ck_assert_uint_eq(ngot, GT_STACK_MAX);
		for (unsigned k = 0; k < ngot; k++)
			ck_assert_str_eq(name_of(got[k]), "hop_rec");
		if (i)
			ck_assert_uint_eq(counts().fp, c0.fp + 1);
	}
}
END_TEST

/* After a dlclose the verdicts are forgotten: the next walk learns again,
 * with the same result. */
START_TEST(forget_code)
{
	setup(GT_UNWIND_AUTO);
	run3(hop_fp, hop_fp, hop_fp);
	run3(hop_fp, hop_fp, hop_fp);
	struct counts c0 = counts();
	gt_stack_forget_code();
	run3(hop_fp, hop_fp, hop_fp);
	expect(fp3, 3);
	struct counts c1 = counts();
	ck_assert_uint_eq(c1.learned, c0.learned + 1);
	ck_assert_uint_eq(c1.fp, c0.fp);
	run3(hop_fp, hop_fp, hop_fp);
	ck_assert_uint_eq(counts().fp, c1.fp + 1);
}
END_TEST

/* The id of chain a-b-c: the thread's last stack's when the walk finds
 * the same frames (gt_fp_walk_same), else a walk's and a look-up. */
static uint32_t id3(unsigned (*a)(const struct hop *), unsigned (*b)(const struct hop *),
		    unsigned (*c)(const struct hop *))
{
	want_id = 1;
	run3(a, b, c);
	want_id = 0;
	return got_id;
}

/* The id of the pcs gt_stack_capture walks for chain a-b-c. */
static uint32_t interned3(unsigned (*a)(const struct hop *), unsigned (*b)(const struct hop *),
			  unsigned (*c)(const struct hop *))
{
	run3(a, b, c);
	return gt_stack_intern(got, ngot, 0);
}

/* id3 from deeper on this stack: the same frames with other frame
 * pointers (walk_same checks each then, instead of taking the hint's). */
static __attribute__((noinline)) uint32_t id3_deeper(unsigned (*a)(const struct hop *),
						     unsigned (*b)(const struct hop *),
						     unsigned (*c)(const struct hop *))
{
	volatile char pad[272];

	pad[0] = 1;
	uint32_t id = id3(a, b, c);
	__asm__ volatile("" : : "r"(pad) : "memory");
	return id;
}

/* The last stack is reused only when every frame is the same and the walk
 * would stop where it stopped: a frame changed, max or fn changed, each
 * gives the id of its own frames. */
START_TEST(last_stack)
{
	setup(GT_UNWIND_AUTO);
	uint32_t fp = interned3(hop_fp, hop_fp, hop_fp);
	uint32_t mid = interned3(hop_fp, hop_nofp, hop_fp);
	uint32_t clob = interned3(hop_clobber, hop_fp, hop_fp);
	ck_assert_uint_ne(fp, 0);
	ck_assert_uint_ne(fp, mid);
	ck_assert_uint_ne(clob, fp);
	for (int i = 0; i < 3; i++) {   /* each twice: a walk, then the same */
		ck_assert_uint_eq(id3(hop_fp, hop_fp, hop_fp), fp);
		ck_assert_uint_eq(id3(hop_fp, hop_fp, hop_fp), fp);
		ck_assert_uint_eq(id3_deeper(hop_fp, hop_fp, hop_fp), fp);
		ck_assert_uint_eq(id3(hop_fp, hop_nofp, hop_fp), mid);   /* a rule's frame */
		ck_assert_uint_eq(id3(hop_fp, hop_nofp, hop_fp), mid);
		ck_assert_uint_eq(id3(hop_clobber, hop_fp, hop_fp), clob);
		ck_assert_uint_eq(id3(hop_clobber, hop_fp, hop_fp), clob);
	}
	want_max = 2;   /* cut: same first frames, not the same stack */
	uint32_t two = interned3(hop_fp, hop_fp, hop_fp);
	ck_assert_uint_ne(two, fp);
	ck_assert_uint_eq(id3(hop_fp, hop_fp, hop_fp), two);
	want_max = GT_STACK_MAX;
	ck_assert_uint_eq(id3(hop_fp, hop_fp, hop_fp), fp);
	want_max = 2;
	ck_assert_uint_eq(id3(hop_fp, hop_fp, hop_fp), two);
	want_max = GT_STACK_MAX;
	want_fn = 0xabc;   /* fn as frame 0, then the same frames */
	uint32_t fn = interned3(hop_fp, hop_fp, hop_fp);
	ck_assert_uint_ne(fn, fp);
	ck_assert_uint_eq(id3(hop_fp, hop_fp, hop_fp), fn);
	ck_assert_uint_eq(id3(hop_fp, hop_fp, hop_fp), fn);
	want_fn = 0;
	ck_assert_uint_eq(id3(hop_fp, hop_fp, hop_fp), fp);
}
END_TEST

/* A loop of calls at a few sites (fn read, then write, then a lock):
 * each site keeps its last stack, so that every call after the first
 * round finds its own again, with the right id. */
START_TEST(sites_alternating)
{
	static const uintptr_t fns[3] = { 0x1111, 0x2222, 0x3333 };
	uint32_t ids[3];

	setup(GT_UNWIND_AUTO);
	for (int i = 0; i < 3; i++) {
		want_fn = fns[i];
		ids[i] = interned3(hop_fp, hop_fp, hop_fp);
		ck_assert_uint_ne(ids[i], 0);
	}
	ck_assert_uint_ne(ids[0], ids[1]);
	for (int i = 0; i < 3; i++) {   /* warm: each site's stack kept */
		want_fn = fns[i];
		ck_assert_uint_eq(id3(hop_fp, hop_fp, hop_fp), ids[i]);
	}
	uint64_t same0 = gt_stack_same_count();
	for (int r = 0; r < 10; r++)
		for (int i = 0; i < 3; i++) {
			want_fn = fns[i];
			ck_assert_uint_eq(id3(hop_fp, hop_fp, hop_fp), ids[i]);
		}
	ck_assert_uint_eq(gt_stack_same_count() - same0, 30);
	want_fn = 0;
}
END_TEST

/* A thread started through a trampoline of ours: its records end at the
 * top it notes (its own frame), and each thread keeps its own cache. */
static void *thread_main(void *arg)
{
	(void)arg;
	gt_stack_thread_init((uintptr_t)__builtin_frame_address(0) + 16);
	gt_tls.t = gt_thread_alloc();   /* a record of its own: its own sites */
	struct counts c0 = counts();
	run3(hop_fp, hop_fp, hop_fp);
	run3(hop_fp, hop_fp, hop_fp);
	struct counts c1 = counts();
	return (void *)(uintptr_t)(ngot == 3 && c1.fp == c0.fp + 2 && c1.unw == c0.unw);
}

START_TEST(thread)
{
	pthread_t th;
	void *ok;

	setup(GT_UNWIND_AUTO);
	run3(hop_fp, hop_fp, hop_fp);   /* learned on the main thread */
	ck_assert_int_eq(pthread_create(&th, NULL, thread_main, NULL), 0);
	pthread_join(th, &ok);
	ck_assert_ptr_eq(ok, (void *)1);
	expect(fp3, 3);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("unwind");
	TCase *tc = tcase_create("capture");

	tcase_add_test(tc, records_once_learned);
	tcase_add_test(tc, no_record_rule);
	tcase_add_test(tc, garbage_record);
	tcase_add_test(tc, libunwind_mode);
	tcase_add_test(tc, fn_and_max);
	tcase_add_test(tc, deep);
	tcase_add_test(tc, forget_code);
	tcase_add_test(tc, thread);
	tcase_add_test(tc, last_stack);
	tcase_add_test(tc, sites_alternating);
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
