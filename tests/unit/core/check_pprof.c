/* check_pprof.c - core/format/pprof.c byte for byte: protobuf's wire format
 * (the examples of protobuf's encoding guide), each profile.proto message
 * a CPU profile uses, the string table, CRC-32 and gzip's stored form
 * (inflated again by zlib when the test is built with it). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef GT_HAVE_ZLIB
#include <zlib.h>
#endif

#include "core/format/pprof.h"
#include "tests/unit/check_main.h"

#define A(...) { __VA_ARGS__ }
#define ck_pb(b, exp)                                                      \
	do {                                                               \
		const uint8_t e_[] = exp;                                  \
		ck_assert_int_eq((b)->err, 0);                             \
		ck_assert_uint_eq((b)->len, sizeof(e_));                   \
		ck_assert_mem_eq((b)->p, e_, sizeof(e_));                  \
		gt_pb_free(b);                                             \
	} while (0)

START_TEST(wire_format)
{
	struct gt_pb b = { 0 };

	gt_pb_varint(&b, 1, 150);   /* the guide's first example */
	ck_pb(&b, A(0x08, 0x96, 0x01));
	gt_pb_varint(&b, 1, 0);     /* proto3: a zero is not written */
	ck_assert_uint_eq(b.len, 0);
	gt_pb_bytes(&b, 2, "testing", 7);
	ck_pb(&b, A(0x12, 0x07, 't', 'e', 's', 't', 'i', 'n', 'g'));
	gt_pb_packed(&b, 4, (const uint64_t[]){ 3, 270, 86942 }, 3);
	ck_pb(&b, A(0x22, 0x06, 0x03, 0x8e, 0x02, 0x9e, 0xa7, 0x05));
	gt_pb_varint(&b, 2, (uint64_t)-1);   /* int64 -1: ten bytes */
	ck_pb(&b, A(0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01));
	gt_pb_varint(&b, 16, 1);    /* a field number past 15: a two-byte tag */
	ck_pb(&b, A(0x80, 0x01, 0x01));
}
END_TEST

START_TEST(submessage_length_moves_body)
{
	struct gt_pb b = { 0 };
	uint8_t body[200];

	memset(body, 0x55, sizeof(body));
	gt_pb_raw(&b, "x", 1);
	size_t m = gt_pb_begin(&b, 3);
	gt_pb_raw(&b, body, sizeof(body));
	gt_pb_end(&b, m);
	ck_assert_int_eq(b.err, 0);
	ck_assert_uint_eq(b.len, 1 + 1 + 2 + 200);
	ck_assert_mem_eq(b.p, ((const uint8_t[]){ 'x', 0x1a, 0xc8, 0x01 }), 4);
	ck_assert_mem_eq(b.p + 4, body, sizeof(body));
	gt_pb_free(&b);
	m = gt_pb_begin(&b, 5);   /* empty */
	gt_pb_end(&b, m);
	ck_pb(&b, A(0x2a, 0x00));
}
END_TEST

START_TEST(profile_messages)
{
	struct gt_pb b = { 0 };

	gt_pprof_value_type(&b, GT_PPROF_SAMPLE_TYPE, 1, 2);
	ck_pb(&b, A(0x0a, 0x04, 0x08, 0x01, 0x10, 0x02));
	gt_pprof_sample(&b, (const uint64_t[]){ 1, 2, 3 }, 3, (const int64_t[]){ 1, 10000000 }, 2);
	ck_pb(&b, A(0x12, 0x0c, 0x0a, 0x03, 0x01, 0x02, 0x03, 0x12, 0x05, 0x01, 0x80, 0xad, 0xe2,
		    0x04));
	struct gt_pprof_mapping mp = { 1, 0x400000, 0x401000, 0, 4, 5, 1 };
	gt_pprof_mapping(&b, &mp);
	ck_pb(&b, A(0x1a, 0x18, 0x08, 0x01, 0x10, 0x80, 0x80, 0x80, 0x02, 0x18, 0x80, 0xa0, 0x80,
		    0x02, 0x28, 0x04, 0x30, 0x05, 0x38, 0x01, 0x40, 0x01, 0x48, 0x01, 0x50, 0x01));
	const struct gt_pprof_line lines[] = { { 1, 42 }, { 2, 7 } };
	gt_pprof_location(&b, 1, 1, 0x401000, lines, 2);
	ck_pb(&b, A(0x22, 0x15, 0x08, 0x01, 0x10, 0x01, 0x18, 0x80, 0xa0, 0x80, 0x02, 0x22, 0x04,
		    0x08, 0x01, 0x10, 0x2a, 0x22, 0x04, 0x08, 0x02, 0x10, 0x07));
	gt_pprof_function(&b, 1, 2, 2, 3, 0);
	ck_pb(&b, A(0x2a, 0x08, 0x08, 0x01, 0x10, 0x02, 0x18, 0x02, 0x20, 0x03));
}
END_TEST

START_TEST(string_table)
{
	struct gt_pprof_strings t;

	gt_pprof_strings_init(&t);
	ck_assert_uint_eq(gt_pprof_str(&t, ""), 0);
	ck_assert_uint_eq(gt_pprof_str(&t, "main"), 1);
	ck_assert_uint_eq(gt_pprof_str(&t, "x"), 2);
	ck_assert_uint_eq(gt_pprof_str(&t, "main"), 1);
	ck_assert_uint_eq(t.n, 3);
	ck_pb(&t.text, A(0x32, 0x00, 0x32, 0x04, 'm', 'a', 'i', 'n', 0x32, 0x01, 'x'));
	gt_pprof_strings_free(&t);
	/* Many: the table grows and every string keeps its index. */
	gt_pprof_strings_init(&t);
	char s[32];
	for (int i = 1; i <= 5000; i++) {
		snprintf(s, sizeof(s), "f%d", i);
		ck_assert_uint_eq(gt_pprof_str(&t, s), (uint64_t)i);
	}
	for (int i = 1; i <= 5000; i += 7) {
		snprintf(s, sizeof(s), "f%d", i);
		ck_assert_uint_eq(gt_pprof_str(&t, s), (uint64_t)i);
	}
	ck_assert_int_eq(t.err, 0);
	gt_pprof_strings_free(&t);
}
END_TEST

START_TEST(crc32_check_value)
{
	ck_assert_uint_eq(gt_crc32(0, "123456789", 9), 0xcbf43926u);   /* the check value */
	ck_assert_uint_eq(gt_crc32(gt_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
	ck_assert_uint_eq(gt_crc32(0, "", 0), 0);
}
END_TEST

START_TEST(gzip_stored)
{
	struct gt_pb b = { 0 };

	gt_gzip_stored(&b, "hello", 5);
	ck_pb(&b, A(0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
		    0x01, 0x05, 0x00, 0xfa, 0xff, 'h', 'e', 'l', 'l', 'o',
		    0x86, 0xa6, 0x10, 0x36, 0x05, 0x00, 0x00, 0x00));
	gt_gzip_stored(&b, "", 0);
	ck_pb(&b, A(0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff,
		    0x01, 0x00, 0x00, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0));
	/* Over one block: 65535 bytes, then the rest in the final one. */
	size_t n = 70000;
	uint8_t *in = malloc(n);
	for (size_t i = 0; i < n; i++)
		in[i] = (uint8_t)(i * 7 + (i >> 9));
	gt_gzip_stored(&b, in, n);
	ck_assert_uint_eq(b.len, 10 + 5 + 65535 + 5 + (n - 65535) + 8);
	ck_assert_mem_eq(b.p + 10, ((const uint8_t[]){ 0x00, 0xff, 0xff, 0x00, 0x00 }), 5);
	ck_assert_mem_eq(b.p + 10 + 5 + 65535,
			 ((const uint8_t[]){ 0x01, 0x71, 0x11, 0x8e, 0xee }), 5);
#ifdef GT_HAVE_ZLIB
	z_stream z = { 0 };
	uint8_t *back = malloc(n + 1);
	ck_assert_int_eq(inflateInit2(&z, 31), Z_OK);
	z.next_in = b.p;
	z.avail_in = (uInt)b.len;
	z.next_out = back;
	z.avail_out = (uInt)n + 1;
	ck_assert_int_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
	ck_assert_uint_eq(z.total_out, n);
	ck_assert_mem_eq(back, in, n);
	inflateEnd(&z);
	free(back);
#endif
	free(in);
	gt_pb_free(&b);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("pprof");
	TCase *tc = tcase_create("bytes");

	tcase_add_test(tc, wire_format);
	tcase_add_test(tc, submessage_length_moves_body);
	tcase_add_test(tc, profile_messages);
	tcase_add_test(tc, string_table);
	tcase_add_test(tc, crc32_check_value);
	tcase_add_test(tc, gzip_stored);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return gt_check_run(suite());
}
