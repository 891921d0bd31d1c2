/* check_prof.c - core/prof in-process (no preload): the aggregate, the
 * rings' drain (only the profile's own samples), and whole profiles of this
 * process: SIGPROF's disposition before, during (the program is shown its
 * own) and after, a program handler refused or taking over mid-profile,
 * geth's errors, and the file gunzipped with zlib, naming the function
 * that burned the CPU. */
#include <check.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/base/config.h"
#include "core/prof/api.h"
#include "core/prof/prof.h"
#include "core/prof/prof_int.h"
#include "core/record/api.h"
#include "core/record/stack.h"
#include "core/record/thread.h"
#include "tests/unit/check_main.h"

static char dir[] = "/tmp/gt-prof-XXXXXX";

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	setenv("GOTRACE_CPU_HZ", "1000", 1);
	gt_config_load();
	gt_thread_init_main();
	gt_stack_init();
	gt_thread_set_observer(gt_prof_thread_started, gt_prof_thread_exiting);
	gt_hook_ready();
}

START_TEST(agg_merges_and_keeps_order)
{
	const uintptr_t a[] = { 1, 2, 3 }, b[] = { 4, 5 };
	struct gt_prof_stack s;

	gt_prof_agg_reset();
	gt_prof_agg_add(a, 3, 1);
	gt_prof_agg_add(b, 2, 2);
	gt_prof_agg_add(a, 3, 3);
	gt_prof_agg_add(a, 2, 1);   /* a prefix is another stack */
	ck_assert(gt_prof_agg_get(0, &s));
	ck_assert_uint_eq(s.count, 4);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_mem_eq(s.pc, a, sizeof(a));
	ck_assert(gt_prof_agg_get(1, &s));
	ck_assert_uint_eq(s.count, 2);
	ck_assert(gt_prof_agg_get(2, &s));
	ck_assert_uint_eq(s.count, 1);
	ck_assert_uint_eq(s.n, 2);
	ck_assert(!gt_prof_agg_get(3, &s));
	ck_assert_uint_eq(gt_prof_agg_samples(), 7);
	/* Many distinct stacks: the table grows, none is lost. */
	for (uintptr_t i = 0; i < 20000; i++)
		gt_prof_agg_add(&i, 1, 1);
	ck_assert(gt_prof_agg_get(20002, &s));
	ck_assert_uint_eq(gt_prof_agg_samples(), 20007);
	gt_prof_agg_reset();
	ck_assert_uint_eq(gt_prof_agg_samples(), 0);
}
END_TEST

static void put(struct gt_prof_thread *pt, uint32_t sess, uint32_t weight, const uintptr_t *pc,
		unsigned n)
{
	pt->w[pt->head & pt->mask] = PROF_HDR(sess, weight, n);
	pt->w[(pt->head + 1) & pt->mask] = 1000 + pt->head;   /* its time */
	pt->w[(pt->head + 2) & pt->mask] = ~0ull;             /* no P */
	for (unsigned i = 0; i < n; i++)
		pt->w[(pt->head + 3 + i) & pt->mask] = pc[i];
	pt->head += PROF_WORDS(n);
}

START_TEST(drain_takes_only_its_profile)
{
	struct gt_thread *t = gt_thread_alloc();
	struct gt_prof_thread *pt = mmap(NULL, sizeof(*pt) + 16 * 8, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	const uintptr_t a[] = { 0x1000, 0x2000 }, b[] = { 0x3000 };
	struct gt_prof_stack s;

	ck_assert_ptr_ne(pt, MAP_FAILED);
	pt->mask = 15;
	t->prof = pt;
	gt_prof_agg_reset();
	put(pt, 7, 1, a, 2);
	put(pt, 7, 3, b, 1);
	put(pt, 7, 1, a, 2);
	pt->lost = 2;
	gt_prof_agg_drain(7);   /* no trace: gt_ctl_cpu_sample takes none */
	ck_assert_uint_eq(pt->tail, pt->head);
	ck_assert_uint_eq(gt_prof_agg_samples(), 5);
	ck_assert(gt_prof_agg_get(0, &s));
	ck_assert_uint_eq(s.count, 2);
	ck_assert_uint_eq(gt_prof_agg_lost(), 2);
	/* A late sample of an older profile, then this one's: the older one
	 * and everything after it go (a ring is drained to its head). */
	put(pt, 6, 1, a, 2);
	put(pt, 7, 1, b, 1);
	gt_prof_agg_drain(7);
	ck_assert_uint_eq(pt->tail, pt->head);
	ck_assert_uint_eq(gt_prof_agg_samples(), 5);
	gt_prof_agg_reset();
	t->prof = NULL;
	gt_thread_free(t);
}
END_TEST

static volatile unsigned long sink;

__attribute__((noinline)) void unit_spin(double secs)
{
	struct timespec t0, t;
	unsigned long x = sink;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
	do {
		for (int i = 0; i < 100000; i++)
			x = x * 6364136223846793005ul + 1;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	} while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < secs);
	sink = x;
}

static void *spinner(void *arg)
{
	(void)arg;
	unit_spin(0.3);
	return NULL;
}

/* The file gunzipped: does it hold s? */
static int profile_holds(const char *path, const char *s)
{
	gzFile f = gzopen(path, "rb");
	static char buf[1 << 22];
	int n = f ? gzread(f, buf, sizeof(buf)) : -1;

	if (f)
		gzclose(f);
	return n > 0 && memmem(buf, (size_t)n, s, strlen(s)) != NULL;
}

static void disposition(struct sigaction *out)
{
	ck_assert_int_eq(sigaction(SIGPROF, NULL, out), 0);
}

START_TEST(profile_of_this_process)
{
	char f[256], err[512];
	struct sigaction cur;
	pthread_t th;

	setup();
	snprintf(f, sizeof(f), "%s/a.pprof", dir);
	ck_assert_int_eq(gt_prof_stop(err, sizeof(err)), -1);
	ck_assert_str_eq(err, "CPU profiling not in progress");
	uint64_t id = gt_prof_start(f, err, sizeof(err));
	ck_assert_msg(id, "%s", err);
	ck_assert_uint_eq(gt_prof_session(), id);
	ck_assert(!gt_prof_start(f, err, sizeof(err)));
	ck_assert_str_eq(err, "CPU profiling already in progress");
	disposition(&cur);   /* the real one: ours */
	ck_assert(cur.sa_flags & SA_SIGINFO);
	ck_assert_int_eq(gt_prof_sigaction(NULL, &cur), 0);   /* the program's view */
	ck_assert_ptr_eq(cur.sa_handler, SIG_DFL);
	/* A thread started now gets its timer at its start (the observer). */
	struct gt_thread *rec = gt_thread_prepare(spinner, NULL, 0);
	ck_assert_ptr_nonnull(rec);
	ck_assert_int_eq(pthread_create(&th, NULL, gt_thread_start, rec), 0);
	unit_spin(0.3);
	pthread_join(th, NULL);
	gt_prof_drain();
	ck_assert_uint_gt(gt_prof_agg_samples(), 200);   /* 0.6 s at 1000 Hz */
	ck_assert_msg(gt_prof_stop(err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(gt_prof_session(), 0);
	disposition(&cur);
	ck_assert_ptr_eq(cur.sa_handler, SIG_DFL);
	ck_assert(profile_holds(f, "unit_spin"));
	ck_assert(profile_holds(f, "nanoseconds"));
	/* The file exists before the start's refusal too, as geth creates it. */
	snprintf(f, sizeof(f), "%s/nodir/b.pprof", dir);
	ck_assert(!gt_prof_start(f, err, sizeof(err)));
	ck_assert(strstr(err, "open ") && strstr(err, "No such file or directory"));
}
END_TEST

static volatile int program_calls;

static void program_handler(int sig)
{
	(void)sig;
	program_calls++;
}

START_TEST(a_program_handler_is_refused)
{
	char f[256], err[512];
	struct sigaction act = { .sa_handler = program_handler }, cur;

	setup();
	sigemptyset(&act.sa_mask);
	ck_assert_int_eq(sigaction(SIGPROF, &act, NULL), 0);
	snprintf(f, sizeof(f), "%s/c.pprof", dir);
	ck_assert(!gt_prof_start(f, err, sizeof(err)));
	ck_assert_str_eq(err, "cpu profiling already in use: the program handles SIGPROF itself "
			 "(a profiler of its own?); gotrace does not take it");
	ck_assert(!access(f, F_OK));   /* created, as os.Create before pprof's refusal */
	disposition(&cur);
	ck_assert_ptr_eq(cur.sa_handler, program_handler);
	raise(SIGPROF);
	ck_assert_int_eq(program_calls, 1);
}
END_TEST

START_TEST(a_program_takes_sigprof_mid_profile)
{
	char f[256], err[512];
	struct sigaction act = { .sa_handler = program_handler }, cur, old;

	setup();
	sigemptyset(&act.sa_mask);
	snprintf(f, sizeof(f), "%s/d.pprof", dir);
	ck_assert_msg(gt_prof_start(f, err, sizeof(err)), "%s", err);
	unit_spin(0.1);
	/* SIG_IGN, then SIG_DFL: kept for the end, sampling goes on */
	struct sigaction ign = { .sa_handler = SIG_IGN };
	ck_assert_int_eq(gt_prof_sigaction(&ign, &old), 0);
	ck_assert_ptr_eq(old.sa_handler, SIG_DFL);
	ck_assert_int_eq(gt_prof_sigaction(NULL, &old), 0);
	ck_assert_ptr_eq(old.sa_handler, SIG_IGN);
	ck_assert_uint_ne(gt_prof_sampling, 0);
	/* a handler: it is the program's at once, sampling ends */
	ck_assert_int_eq(gt_prof_sigaction(&act, &old), 0);
	ck_assert_ptr_eq(old.sa_handler, SIG_IGN);
	ck_assert_uint_eq(gt_prof_sampling, 0);
	disposition(&cur);
	ck_assert_ptr_eq(cur.sa_handler, program_handler);
	ck_assert_msg(gt_prof_stop(err, sizeof(err)) == 0, "%s", err);
	disposition(&cur);
	ck_assert_ptr_eq(cur.sa_handler, program_handler);
	ck_assert(profile_holds(f, "unit_spin"));
	/* signal() while a profile runs: the program's view, SIG_IGN kept */
	ck_assert_int_eq(sigaction(SIGPROF, &(struct sigaction){ .sa_handler = SIG_DFL }, NULL), 0);
	ck_assert_msg(gt_prof_start(f, err, sizeof(err)), "%s", err);
	ck_assert_ptr_eq(gt_prof_signal(SIG_IGN), SIG_DFL);
	ck_assert_ptr_eq(gt_prof_signal(SIG_IGN), SIG_IGN);
	ck_assert_msg(gt_prof_stop(err, sizeof(err)) == 0, "%s", err);
	disposition(&cur);
	ck_assert_ptr_eq(cur.sa_handler, SIG_IGN);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("prof");
	TCase *tc = tcase_create("prof");

	tcase_add_test(tc, agg_merges_and_keeps_order);
	tcase_add_test(tc, drain_takes_only_its_profile);
	tcase_add_test(tc, profile_of_this_process);
	tcase_add_test(tc, a_program_handler_is_refused);
	tcase_add_test(tc, a_program_takes_sigprof_mid_profile);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return gt_check_run(suite());
}
