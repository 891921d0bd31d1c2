/* check_encode.c - the encoder byte for byte (examples from
 * go-trace-format.md section 2, produced by Go 1.19's own format), and
 * encode/decode round trips for every event of the table in core/format/events.h. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/format/decode.h"
#include "core/format/encode.h"
#include "tests/unit/check_main.h"

#define BYTES(...) ((const uint8_t[]){ __VA_ARGS__ })
#define ck_bytes(p, end, exp)                                                  \
	do {                                                                   \
		const uint8_t e_[] = exp;                                      \
		ck_assert_int_eq((int)((end) - (p)), (int)sizeof(e_));         \
		ck_assert_mem_eq((p), e_, sizeof(e_));                         \
	} while (0)
#define A(...) { __VA_ARGS__ }

START_TEST(varints)
{
	static const struct { uint64_t v; uint8_t n; uint8_t b[10]; } cases[] = {
		{ 0, 1, { 0 } },
		{ 1, 1, { 1 } },
		{ 127, 1, { 0x7f } },
		{ 128, 2, { 0x80, 0x01 } },
		{ 300, 2, { 0xac, 0x02 } },
		{ 16383, 2, { 0xff, 0x7f } },
		{ 16384, 3, { 0x80, 0x80, 0x01 } },
		{ 1000000000, 5, { 0x80, 0x94, 0xeb, 0xdc, 0x03 } },
		{ UINT64_MAX, 10, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 } },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t buf[16];
		uint8_t *e = gt_put_uvarint(buf, cases[i].v);
		ck_assert_int_eq(e - buf, cases[i].n);
		ck_assert_mem_eq(buf, cases[i].b, cases[i].n);
	}
}
END_TEST

START_TEST(doc_examples)
{
	uint8_t b[64], *e;

	e = gt_put_batch(b, 0, 5000000000000ull);
	ck_bytes(b, e, A(0x41, 0x00, 0x80, 0xa0, 0xe5, 0xb9, 0xc2, 0x91, 0x01));
	e = gt_put_frequency(b, 1000000000);
	ck_bytes(b, e, A(0x02, 0x80, 0x94, 0xeb, 0xdc, 0x03));
	e = gt_put_string(b, 1, "main", 4);
	ck_bytes(b, e, A(0x25, 0x01, 0x04, 0x6d, 0x61, 0x69, 0x6e));
	struct gt_frame f = { 0x401a30, 1, 2, 60 };
	e = gt_put_stack(b, 1, &f, 1);
	ck_bytes(b, e, A(0xc3, 0x09, 0x01, 0x01, 0xb0, 0xb4, 0x80, 0x02, 0x01, 0x02, 0x3c));
	e = gt_put_event(b, GT_EV_GoStart, (const uint64_t[]){ 1, 4, 1 }, 3);
	ck_bytes(b, e, A(0x8e, 0x01, 0x04, 0x01));
	e = gt_put_event(b, GT_EV_GoSysCall, (const uint64_t[]){ 0, 11 }, 2);
	ck_bytes(b, e, A(0x5c, 0x00, 0x0b));
	e = gt_put_event(b, GT_EV_GoCreate, (const uint64_t[]){ 30, 4, 5, 6 }, 4);
	ck_bytes(b, e, A(0xcd, 0x04, 0x1e, 0x04, 0x05, 0x06));
	e = gt_put_event(b, GT_EV_GoUnblock, (const uint64_t[]){ 5, 4, 4, 0 }, 4);
	ck_bytes(b, e, A(0xd5, 0x04, 0x05, 0x04, 0x04, 0x00));
	e = gt_put_event(b, GT_EV_GoSysExit, (const uint64_t[]){ 1000, 4, 2, 0 }, 4);
	ck_bytes(b, e, A(0xdd, 0x05, 0xe8, 0x07, 0x04, 0x02, 0x00));
	e = gt_put_userlog(b, (const uint64_t[]){ 1, 0, 30, 12 }, "hi", 2);
	ck_bytes(b, e, A(0xf0, 0x04, 0x01, 0x00, 0x1e, 0x0c, 0x02, 0x68, 0x69));
	e = gt_put_event(b, GT_EV_ProcStop, (const uint64_t[]){ 1 }, 1);
	ck_bytes(b, e, A(0x06, 0x01));
}
END_TEST

/* A stack whose payload is >= 128 bytes needs a 2-byte length varint
 * (the runtime's 1-byte reservation would corrupt it). */
START_TEST(long_stack_length_prefix)
{
	struct gt_frame f[16];
	uint8_t b[1024], *e;
	struct gt_rec r;
	size_t off = 0;

	for (int i = 0; i < 16; i++)
		f[i] = (struct gt_frame){ 0x7f0a1c400000ull + 16 * i, 100 + i, 200, 1000 + i };
	e = gt_put_stack(b, 77, f, 16);
	ck_assert_ptr_nonnull(e);
	ck_assert_int_eq(b[0], 0xc3);
	ck_assert(b[1] & 0x80);   /* length takes two bytes */
	ck_assert_int_eq(gt_decode(b, (size_t)(e - b), &off, &r), 1);
	ck_assert_int_eq(off, e - b);
	uint64_t id;
	struct gt_frame g[16];
	ck_assert_int_eq(gt_decode_stack(&r, &id, g, 16), 16);
	ck_assert_int_eq(id, 77);
	ck_assert_mem_eq(f, g, sizeof(f));
}
END_TEST

START_TEST(stack_payload_cap)
{
	struct gt_frame f[64];
	uint8_t b[8192];

	for (int i = 0; i < 64; i++)
		f[i] = (struct gt_frame){ UINT64_MAX - i, UINT64_MAX, UINT64_MAX, UINT64_MAX };
	ck_assert_ptr_null(gt_put_stack(b, 1, f, 64));   /* > 2048 bytes */
	ck_assert_ptr_nonnull(gt_put_stack(b, 1, f, 10));
}
END_TEST

/* Every timed event of the table: encode its arg count with distinctive
 * values, decode, compare; and the inline / length form rule. */
START_TEST(table_round_trip)
{
	static const struct { unsigned type, args; const char *name; } evs[] = {
#define EV(name, type, args, stack) { type, args, #name },
		GT_EVENTS(EV)
#undef EV
	};
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++) {
		uint64_t v[GT_MAX_ARGS + 1];
		uint8_t b[128], *e;
		unsigned n = evs[i].args + 1;
		for (unsigned k = 0; k < n; k++)
			v[k] = (k * 0x1234567ull) << (k * 7 % 40);
		if (evs[i].type == GT_EV_UserLog)
			e = gt_put_userlog(b, v, "msg", 3);
		else
			e = gt_put_event(b, evs[i].type, v, n);
		ck_assert_int_eq(b[0] & 0x3f, evs[i].type);
		ck_assert_int_eq(b[0] >> 6, n <= 3 ? n - 1 : 3);
		struct gt_rec r;
		size_t off = 0;
		ck_assert_int_eq(gt_decode(b, (size_t)(e - b), &off, &r), 1);
		ck_assert_int_eq(off, e - b);
		ck_assert_uint_eq(r.nargs, n);
		ck_assert_mem_eq(r.args, v, n * sizeof(uint64_t));
		ck_assert_str_eq(gt_ev_name(r.type), evs[i].name);
		if (evs[i].type == GT_EV_UserLog)
			ck_assert_mem_eq(r.str, "msg", 3);
	}
}
END_TEST

START_TEST(stack_refs)
{
	uint8_t b[64], *e;
	struct gt_rec r;
	uint64_t ids[2];
	size_t off = 0;

	e = gt_put_event(b, GT_EV_GoCreate, (const uint64_t[]){ 1, 7, 5, 6 }, 4);
	gt_decode(b, (size_t)(e - b), &off, &r);
	ck_assert_int_eq(gt_rec_stacks(&r, ids), 2);
	ck_assert_int_eq(ids[0], 5);
	ck_assert_int_eq(ids[1], 6);
	off = 0;
	e = gt_put_event(b, GT_EV_GoStart, (const uint64_t[]){ 1, 7, 1 }, 3);
	gt_decode(b, (size_t)(e - b), &off, &r);
	ck_assert_int_eq(gt_rec_stacks(&r, ids), 0);
	off = 0;
	e = gt_put_event(b, GT_EV_GoBlockSync, (const uint64_t[]){ 1, 0 }, 2);
	gt_decode(b, (size_t)(e - b), &off, &r);
	ck_assert_int_eq(gt_rec_stacks(&r, ids), 0);   /* stack 0 = none */
}
END_TEST

struct ids {
	uint64_t v[256];
	unsigned n;
};

static void collect(uint64_t id, void *arg)
{
	struct ids *ids = arg;

	ck_assert_uint_lt(ids->n, 256);
	ids->v[ids->n++] = id;
}

/* The writer's scanner finds the stack ids that decode + gt_rec_stacks
 * find, in order: every event of the table with stacks 0 and nonzero,
 * strings and logs between them; and on a cut-off buffer it stops where
 * the decoder stops. */
START_TEST(scan_stacks_matches_decode)
{
	static const unsigned types[] = {
#define EV(name, type, args, stack) type,
		GT_EVENTS(EV)
#undef EV
	};
	static const unsigned nargs[] = {
#define EV(name, type, args, stack) args,
		GT_EVENTS(EV)
#undef EV
	};
	uint8_t b[16384], *e = b;
	for (unsigned z = 0; z < 2; z++)
		for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
			uint64_t v[GT_MAX_ARGS + 1];
			unsigned n = nargs[i] + 1;
			for (unsigned k = 0; k < n; k++)
				v[k] = z ? 0 : 100 + i * 8 + k + ((uint64_t)k << (7 * k));
			e = types[i] == GT_EV_UserLog ? gt_put_userlog(e, v, "log", 3)
						      : gt_put_event(e, types[i], v, n);
			e = gt_put_string(e, 1000 + i, "a string", 8);
		}
	for (size_t cut = (size_t)(e - b); ; cut = cut * 2 / 3) {
		struct ids want = { .n = 0 }, got = { .n = 0 };
		struct gt_rec r;
		uint64_t ids[2];
		size_t off = 0;
		while (gt_decode(b, cut, &off, &r) == 1)
			for (int k = gt_rec_stacks(&r, ids), j = 0; j < k; j++)
				collect(ids[j], &want);
		gt_scan_stacks(b, cut, collect, &got);
		ck_assert_uint_eq(got.n, want.n);
		ck_assert_mem_eq(got.v, want.v, want.n * sizeof(uint64_t));
		if (cut == (size_t)(e - b))
			ck_assert_uint_gt(want.n, 10);
		if (cut < 8)
			break;
	}
}
END_TEST

START_TEST(decode_rejects)
{
	struct gt_rec r;
	size_t off = 0;

	/* type 0 */
	ck_assert_int_eq(gt_decode(BYTES(0x00, 0x01), 2, &off, &r), -1);
	ck_assert_int_eq(off, 0);
	/* cut short inside a varint */
	off = 0;
	ck_assert_int_eq(gt_decode(BYTES(0x8e, 0x01, 0x84), 3, &off, &r), -1);
	/* length form whose length runs past the end */
	off = 0;
	ck_assert_int_eq(gt_decode(BYTES(0xcd, 0x09, 0x01), 3, &off, &r), -1);
	/* 11-byte varint */
	off = 0;
	ck_assert_int_eq(gt_decode(BYTES(0x45, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
					 0xff, 0xff, 0xff, 0x01), 12, &off, &r), -1);
	/* end of buffer */
	off = 3;
	ck_assert_int_eq(gt_decode(BYTES(0x06, 0x01, 0x00), 3, &off, &r), 0);
}
END_TEST

START_TEST(header)
{
	ck_assert_int_eq(sizeof(GT_TRACE_HEADER) - 1, 16);
	ck_assert_mem_eq(GT_TRACE_HEADER, "go 1.19 trace\0\0\0", 16);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("encode");
	TCase *tc = tcase_create("bytes");

	tcase_add_test(tc, varints);
	tcase_add_test(tc, doc_examples);
	tcase_add_test(tc, long_stack_length_prefix);
	tcase_add_test(tc, stack_payload_cap);
	tcase_add_test(tc, table_round_trip);
	tcase_add_test(tc, stack_refs);
	tcase_add_test(tc, scan_stacks_matches_decode);
	tcase_add_test(tc, decode_rejects);
	tcase_add_test(tc, header);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return gt_check_run(suite());
}
