/* check_tracecheck.c - the trace checker the session tests rely on agrees
 * with Go 1.19: the reference sample passes, and each deliberately broken
 * variant written by the reference generator (go-trace-format.md section 11)
 * is rejected. Files in tests/data/. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tracecheck.h"
#include "tests/unit/check_main.h"

static const struct {
	const char *file, *err;   /* err NULL: valid */
} cases[] = {
	{ "sample-native.trace", NULL },
	{ "mistake-block_on_foreign_p.trace", "" },
	{ "mistake-dup_string_id.trace", "duplicate string id" },
	{ "mistake-empty_create_stack.trace", "missing stack information" },
	{ "mistake-event_before_batch.trace", NULL },   /* 1.19 accepts it too */
	{ "mistake-header_17_bytes.trace", "" },
	{ "mistake-no_frequency.trace", "no EvFrequency" },
	{ "mistake-no_stop_events.trace", "still running at trace end" },
	{ "mistake-one_byte_length.trace", "malformed" },
	{ "mistake-procstop_while_running.trace", "during stop" },
	{ "mistake-reuse_goid.trace", "no consistent ordering" },
	{ "mistake-start_without_create.trace", "no consistent ordering" },
	{ "mistake-sysexit_without_sysblock.trace", "no consistent ordering" },
	{ "mistake-ts_backwards.trace", "time stamps out of order" },
	{ "mistake-unblock_running.trace", "no consistent ordering" },
	{ "mistake-wrong_seq.trace", "no consistent ordering" },
};

START_TEST(agrees_with_go)
{
	char path[1024];
	struct tc_result r;

	snprintf(path, sizeof(path), "%s/%s", getenv("GT_TEST_DATA"), cases[_i].file);
	int rc = tc_check_file(path, &r);
	if (!cases[_i].err) {
		ck_assert_msg(rc == 0, "%s: %s", cases[_i].file, r.err);
		ck_assert_uint_eq(r.creates, 6);
	} else {
		ck_assert_msg(rc == -1, "%s accepted", cases[_i].file);
		ck_assert_msg(strstr(r.err, cases[_i].err), "%s: %s", cases[_i].file, r.err);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tracecheck");
	TCase *tc = tcase_create("mistakes");
	tcase_add_loop_test(tc, agrees_with_go, 0, sizeof(cases) / sizeof(cases[0]));
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
