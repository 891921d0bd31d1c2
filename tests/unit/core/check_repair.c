/* check_repair.c - gotrace repair: a trace cut at any byte (a killed
 * process), or ending with goroutines still running, becomes a trace that
 * the checker (Go 1.19's rules) accepts, keeping what still orders. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/format/repair.h"
#include "tracecheck.h"
#include "tests/unit/check_main.h"

static char *load(const char *name, size_t *n)
{
	char path[1024];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", getenv("GT_TEST_DATA"), name);
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	fstat(fd, &st);
	char *b = malloc((size_t)st.st_size);
	ck_assert_int_eq(read(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	*n = (size_t)st.st_size;
	return b;
}

static void save(const char *path, const char *b, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ck_assert_int_eq(write(fd, b, n), (ssize_t)n);
	close(fd);
}

START_TEST(every_cut)
{
	size_t n;
	char *b = load("sample-native.trace", &n);
	char in[] = "/tmp/gt-repair-XXXXXX";
	char out[64], err[256];
	struct gt_repair_stats st;
	struct tc_result r;
	uint64_t last_kept = 0;

	close(mkstemp(in));
	snprintf(out, sizeof(out), "%s.out", in);
	for (size_t cut = 16; cut <= n; cut += 3) {
		save(in, b, cut);
		ck_assert_msg(gt_repair(in, out, &st, err, sizeof(err)) == 0, "cut %zu: %s", cut, err);
		ck_assert_msg(tc_check_file(out, &r) == 0, "cut %zu: %s", cut, r.err);
		ck_assert_uint_le(st.kept, st.events);
		ck_assert_uint_ge(st.kept + 8, last_kept);   /* more file, not much less kept */
		last_kept = st.kept;
	}
	/* the whole file: nothing lost, nothing to repair */
	save(in, b, n);
	ck_assert_int_eq(gt_repair(in, out, &st, err, sizeof(err)), 0);
	ck_assert_uint_eq(st.kept, st.events);
	ck_assert(st.was_valid);
	unlink(in);
	unlink(out);
	free(b);
}
END_TEST

START_TEST(running_at_end)
{
	size_t n;
	char *b = load("mistake-no_stop_events.trace", &n);
	char in[] = "/tmp/gt-repair-XXXXXX";
	char err[256];
	struct gt_repair_stats st;
	struct tc_result r;

	close(mkstemp(in));
	save(in, b, n);
	ck_assert_int_ne(tc_check_file(in, &r), 0);
	ck_assert_int_eq(gt_repair(in, in, &st, err, sizeof(err)), 0);   /* in place */
	ck_assert_msg(tc_check_file(in, &r) == 0, "%s", r.err);
	ck_assert_uint_eq(st.kept, st.events);
	ck_assert_uint_gt(st.closed, 0);
	ck_assert(!st.was_valid);
	unlink(in);
	free(b);
}
END_TEST

START_TEST(bad_input)
{
	char err[256];
	struct gt_repair_stats st;
	char in[] = "/tmp/gt-repair-XXXXXX";

	ck_assert_int_eq(gt_repair("/nonexistent/x.trace", "/tmp/x", &st, err, sizeof(err)), -1);
	ck_assert_str_eq(err, "open /nonexistent/x.trace: No such file or directory");
	close(mkstemp(in));
	save(in, "hello world, not a trace", 24);
	ck_assert_int_eq(gt_repair(in, in, &st, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "not a Go 1.19 trace"), "%s", err);
	save(in, "", 0);
	ck_assert_int_eq(gt_repair(in, in, &st, err, sizeof(err)), -1);
	ck_assert_msg(strstr(err, "empty"), "%s", err);
	unlink(in);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("repair");
	TCase *tc = tcase_create("repair");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, every_cut);
	tcase_add_test(tc, running_at_end);
	tcase_add_test(tc, bad_input);
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
