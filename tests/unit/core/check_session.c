/* check_session.c - whole traces from core in-process (no preload): threads
 * created, blocking, exiting while traces start and stop, at the memory cap;
 * every file checked with tracecheck (Go 1.19's ordering rules). */
#include <check.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/record/buf.h"
#include "core/process/api.h"
#include "core/record/api.h"
#include "core/process/request.h"
#include "core/format/summary.h"
#include "tracecheck.h"
#include "tests/unit/check_main.h"

static char dir[] = "/tmp/gt-session-XXXXXX";
static uint32_t running;

static void setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	setenv("GOTRACE_SOCKET", "/nonexistent/unused", 1);   /* not "off": service runs */
	setenv("GOTRACE_BLOCK_NS", "0", 1);
}

static void path(char *out, size_t n, const char *name)
{
	snprintf(out, n, "%s/%s", dir, name);
}

static void sleep_us(long us)
{
	struct timespec ts = { 0, us * 1000 };
	nanosleep(&ts, NULL);
}

/* One recorded blocking call of each kind in turn. */
static void op(unsigned i, long us)
{
	struct gt_op o;
	gt_op_begin(&o, 1 + i % (GT_OP_KINDS - 1), 0);
	sleep_us(us);
	gt_op_end(&o, (uintptr_t)nanosleep);
}

static int spawn(pthread_t *th, void *(*fn)(void *), void *arg)
{
	struct gt_thread *rec = gt_thread_prepare(fn, arg, (uintptr_t)pthread_create);
	if (!rec)
		return pthread_create(th, NULL, fn, arg);
	int r = pthread_create(th, NULL, gt_thread_start, rec);
	if (r)
		gt_thread_abort(rec);
	return r;
}

static void *child(void *arg)
{
	for (unsigned i = 0; i < 10; i++)
		op(i, 20);
	return arg;
}

static void *worker(void *arg)
{
	pthread_t c[2];
	for (unsigned i = 0; i < 50; i++)
		op(i, 20);
	for (int i = 0; i < 2; i++)
		spawn(&c[i], child, NULL);
	for (int i = 0; i < 2; i++)
		pthread_join(c[i], NULL);
	return arg;
}

START_TEST(threads_and_blocks)
{
	char f[256], err[256];
	struct tc_result r;
	pthread_t w[8];

	setup();
	gt_init();
	path(f, sizeof(f), "basic.trace");
	ck_assert_msg(gt_request_start(f, err, sizeof(err)) == 0, "%s", err);
	for (int i = 0; i < 8; i++)
		ck_assert_int_eq(spawn(&w[i], worker, NULL), 0);
	for (int i = 0; i < 8; i++)
		pthread_join(w[i], NULL);
	ck_assert_msg(gt_request_stop(err, sizeof(err), -1) == 0, "%s", err);
	ck_assert_msg(tc_check_file(f, &r) == 0, "%s", r.err);
	ck_assert_uint_eq(r.creates, 1 + 8 + 16);
	ck_assert_uint_eq(r.ends, 8 + 16);
	ck_assert_uint_eq(r.blocks, 8 * 50 + 16 * 10);
	/* the client's summary agrees */
	struct gt_summary s;
	ck_assert_msg(gt_summary_read(f, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_eq(s.goroutines, 25);
	ck_assert(s.complete);
	ck_assert_uint_gt(s.stacks, 0);
}
END_TEST

static unsigned busy_started;   /* atomic */

static void *busy(void *arg)
{
	unsigned i = 0;
	__atomic_add_fetch(&busy_started, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&running, __ATOMIC_ACQUIRE)) {
		op(i++, 30);
		if (i % 40 == 0) {
			pthread_t c;
			if (spawn(&c, child, NULL) == 0)
				pthread_join(c, NULL);
		}
	}
	return arg;
}

/* Traces start and stop while threads block, create and exit. */
START_TEST(start_stop_storm)
{
	char f[256], err[256];
	struct tc_result r;
	pthread_t w[6];

	setup();
	gt_init();
	running = 1;
	for (int i = 0; i < 6; i++)
		ck_assert_int_eq(spawn(&w[i], busy, NULL), 0);
	/* Running (so every snapshot declares them): a worker not started yet
	 * when a short cycle begins, and given no CPU in it on a loaded
	 * machine, would be in no trace of that cycle. */
	while (__atomic_load_n(&busy_started, __ATOMIC_ACQUIRE) < 6)
		sleep_us(100);
	for (int cycle = 0; cycle < 20; cycle++) {
		snprintf(f, sizeof(f), "%s/storm%d.trace", dir, cycle);
		ck_assert_msg(gt_request_start(f, err, sizeof(err)) == 0, "%s", err);
		sleep_us(2000 + 500 * (cycle % 7));
		ck_assert_msg(gt_request_stop(err, sizeof(err), -1) == 0, "%s", err);
		ck_assert_msg(tc_check_file(f, &r) == 0, "cycle %d: %s", cycle, r.err);
		ck_assert_uint_ge(r.creates, 7);   /* main + the 6 workers, at least */
	}
	__atomic_store_n(&running, 0, __ATOMIC_RELEASE);
	for (int i = 0; i < 6; i++)
		pthread_join(w[i], NULL);
}
END_TEST

static void *blocked(void *arg)
{
	op(0, 200000);   /* a syscall in progress when the trace starts */
	op(3, 200000);   /* a sync wait in progress when it stops */
	return arg;
}

START_TEST(blocked_across_start_and_stop)
{
	char f[256], err[256];
	struct tc_result r;
	pthread_t w;

	setup();
	gt_init();
	ck_assert_int_eq(spawn(&w, blocked, NULL), 0);
	sleep_us(50000);
	path(f, sizeof(f), "blocked.trace");
	ck_assert_msg(gt_request_start(f, err, sizeof(err)) == 0, "%s", err);
	sleep_us(300000);
	ck_assert_msg(gt_request_stop(err, sizeof(err), -1) == 0, "%s", err);
	pthread_join(w, NULL);
	ck_assert_msg(tc_check_file(f, &r) == 0, "%s", r.err);
	ck_assert_uint_eq(r.creates, 2);
}
END_TEST

/* The writer stalls on a pipe nobody reads yet: threads reach the cap,
 * wait, and the wait shows in the trace. */
static uint64_t waits_before;   /* set before slow_reader starts */

static void *slow_reader(void *arg)
{
	const char *fifo = arg;
	char buf[65536];
	struct gt_buf_stats st;
	int fd = open(fifo, O_RDONLY);
	/* The pipe fills, the writer blocks, the threads reach the cap and
	 * wait: not read until one has (or 20 s have passed: the test then
	 * fails on the count), however fast or slow the threads run. */
	for (int i = 0; i < 2000; i++) {
		gt_buf_get_stats(&st);
		if (st.waits > waits_before)
			break;
		sleep_us(10000);
	}
	int out = open((const char *)fifo + strlen(fifo) + 1, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			break;
	close(fd);
	close(out);
	return NULL;
}

/* Enough events to overflow what the stalled writer holds (the 1 MiB
 * pool, its 1 MiB output buffer, the pipe) twice over: ~20 bytes an op.
 * Fewer under TSan, whose slowdown makes checking a 20 MB trace take
 * minutes (30000 made 2.4 MB there: no margin once its ops got faster and
 * their timestamp deltas shorter). */
#if defined(__SANITIZE_THREAD__)
#define SPIN_OPS 60000
#else
#define SPIN_OPS 100000
#endif

static void *spinner(void *arg)
{
	for (unsigned i = 0; i < SPIN_OPS; i++) {
		struct gt_op o;
		gt_op_begin(&o, GT_OP_SYSCALL, 0);
		gt_op_end(&o, (uintptr_t)read);
	}
	return arg;
}

START_TEST(memory_cap)
{
	char names[600], err[256];
	struct tc_result r;
	struct gt_buf_stats before, after;
	pthread_t rd, w[4];

	setup();
	setenv("GOTRACE_BUFFER_MB", "1", 1);
	gt_init();
	snprintf(names, 300, "%s/fifo", dir);
	snprintf(names + strlen(names) + 1, 300, "%s/cap.trace", dir);
	ck_assert_int_eq(mkfifo(names, 0600), 0);
	gt_buf_get_stats(&before);
	waits_before = before.waits;
	pthread_create(&rd, NULL, slow_reader, names);
	ck_assert_msg(gt_request_start(names, err, sizeof(err)) == 0, "%s", err);
	for (int i = 0; i < 4; i++)
		spawn(&w[i], spinner, NULL);
	for (int i = 0; i < 4; i++)
		pthread_join(w[i], NULL);
	ck_assert_msg(gt_request_stop(err, sizeof(err), -1) == 0, "%s", err);
	pthread_join(rd, NULL);
	gt_buf_get_stats(&after);
	ck_assert_uint_gt(after.waits, before.waits);
	ck_assert_uint_le(after.chunks, 64);
	const char *f = names + strlen(names) + 1;
	ck_assert_msg(tc_check_file(f, &r) == 0, "%s", r.err);
	ck_assert_uint_eq(r.blocks, 4 * SPIN_OPS);   /* nothing dropped */
	struct gt_summary s;
	ck_assert_msg(gt_summary_read(f, &s, err, sizeof(err)) == 0, "%s", err);
	ck_assert_uint_gt(s.waits, 0);              /* "gotrace.wait" logs */
}
END_TEST

static pthread_barrier_t parked;

static void *one_op_then_park(void *arg)
{
	op(0, 1);   /* enters the session: a chunk of its own */
	pthread_barrier_wait(&parked);   /* holds it until the trace stops */
	pthread_barrier_wait(&parked);
	return arg;
}

/* The first thread's batch queued by the service thread's idle flush
 * (its tick: 100 ms), then as many threads as the pool has chunks, each
 * holding one, when the trace stops: the first close needs a chunk, and
 * the stop must queue the others' batches first, not wait for chunks
 * nobody gives back. */
START_TEST(more_threads_than_chunks)
{
	enum { N = 65 };
	char f[256], err[256];
	struct tc_result r;
	pthread_t w[N];

	setup();
	setenv("GOTRACE_BUFFER_MB", "1", 1);   /* the least: 64 chunks */
	gt_init();
	path(f, sizeof(f), "many.trace");
	ck_assert_int_eq(pthread_barrier_init(&parked, NULL, N + 1), 0);
	ck_assert_msg(gt_request_start(f, err, sizeof(err)) == 0, "%s", err);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(spawn(&w[i], one_op_then_park, NULL), 0);
		if (!i)
			sleep_us(300000);
	}
	pthread_barrier_wait(&parked);
	ck_assert_msg(gt_request_stop(err, sizeof(err), -1) == 0, "%s", err);
	pthread_barrier_wait(&parked);
	for (int i = 0; i < N; i++)
		pthread_join(w[i], NULL);
	ck_assert_msg(tc_check_file(f, &r) == 0, "%s", r.err);
	ck_assert_uint_eq(r.blocks, N);
}
END_TEST

START_TEST(errors)
{
	char f[256], err[256];

	setup();
	gt_init();
	ck_assert_int_eq(gt_request_stop(err, sizeof(err), -1), -1);
	ck_assert_str_eq(err, "trace not in progress");
	ck_assert_int_eq(gt_request_start("/nonexistent/dir/x.trace", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "open /nonexistent/dir/x.trace: No such file or directory");
	path(f, sizeof(f), "e.trace");
	ck_assert_int_eq(gt_request_start(f, err, sizeof(err)), 0);
	ck_assert_int_eq(gt_request_start(f, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "trace already in progress");
	ck_assert_int_eq(gt_request_stop(err, sizeof(err), -1), 0);
	ck_assert_int_eq(gt_request_start("/dev/full", err, sizeof(err)), 0);
	op(0, 10);
	ck_assert_int_eq(gt_request_stop(err, sizeof(err), -1), -1);
	ck_assert_str_eq(err, "write /dev/full: no space left on device: the trace ends there");
	/* the file is removed while written: the stop says so */
	path(f, sizeof(f), "gone.trace");
	ck_assert_int_eq(gt_request_start(f, err, sizeof(err)), 0);
	ck_assert_int_eq(unlink(f), 0);
	op(0, 10);
	ck_assert_int_eq(gt_request_stop(err, sizeof(err), -1), -1);
	ck_assert_msg(strstr(err, "was removed while the trace was written"), "%s", err);
	/* and the next trace works */
	path(f, sizeof(f), "after.trace");
	ck_assert_int_eq(gt_request_start(f, err, sizeof(err)), 0);
	op(0, 10);
	ck_assert_int_eq(gt_request_stop(err, sizeof(err), -1), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("session");
	TCase *tc = tcase_create("session");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, threads_and_blocks);
	tcase_add_test(tc, start_stop_storm);
	tcase_add_test(tc, blocked_across_start_and_stop);
	tcase_add_test(tc, memory_cap);
	tcase_add_test(tc, more_threads_than_chunks);
	tcase_add_test(tc, errors);
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
