/* check_tracecheck.c - the trace checker the session tests rely on agrees
 * with Go 1.19: the reference sample passes, and each deliberately broken
 * variant written by the reference generator (go-trace-format.md section 11)
 * is rejected. Files in tests/data/. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/format/decode.h"
#include "core/format/order.h"
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

static uint8_t *read_all(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(1 << 20);

	ck_assert_ptr_nonnull(f);
	*n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

/* The sample with the definition of one stack cut out, a stack that a
 * blocking event names (not a GoCreate, which has its own check). Go's
 * parser takes that silently (an event without frames); ours must not,
 * since the writer only defines the stacks it is told of. */
START_TEST(undefined_stack)
{
	char path[1024], err[256];
	size_t n;
	struct gt_trace t;
	struct tc_result r;

	snprintf(path, sizeof(path), "%s/sample-native.trace", getenv("GT_TEST_DATA"));
	uint8_t *buf = read_all(path, &n);
	ck_assert_msg(tc_check(buf, n, &r) == 0, "%s", r.err);
	ck_assert_int_eq(gt_trace_load(buf, n, &t, err, sizeof(err)), 0);
	uint64_t victim = 0;
	for (uint32_t p = 0; p < t.np && !victim; p++)
		for (size_t i = 0; i < t.ps[p].n && !victim; i++) {
			const struct gt_oev *e = &t.ps[p].e[i];
			uint64_t ids[2];
			if (e->type != GT_EV_GoCreate && tc_event_stacks(e, ids) > 0)
				victim = ids[0];
		}
	ck_assert_uint_ne(victim, 0);
	size_t k = 0;
	for (size_t i = 0, j = 0; i < t.nuntimed; i++) {
		size_t o = 0;
		struct gt_rec st;
		if (gt_decode(t.untimed[i], t.untimed_len[i], &o, &st) == 1 &&
		    st.type == GT_EV_Stack && t.stack_ids[j++] == victim)
			k = i + 1;
	}
	ck_assert_uint_ne(k, 0);
	size_t off = (size_t)(t.untimed[k - 1] - buf), len = t.untimed_len[k - 1];
	gt_trace_free(&t);
	memmove(buf + off, buf + off + len, n - off - len);
	ck_assert_int_eq(tc_check(buf, n - len, &r), -1);
	ck_assert_msg(strstr(r.err, "undefined stack"), "%s", r.err);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("tracecheck");
	TCase *tc = tcase_create("mistakes");
	tcase_add_loop_test(tc, agrees_with_go, 0, sizeof(cases) / sizeof(cases[0]));
	tcase_add_test(tc, undefined_stack);
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
