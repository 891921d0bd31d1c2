/* tests/unit/rpc/check_rpc.c - the JSON parser, JSON-RPC dispatch and both
 * framings, without sockets: exact bytes in, exact bytes out. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/proto/framing.h"
#include "rpc/proto/json.h"
#include "rpc/proto/proto.h"
#include "rpc/proto/filter.h"
#include "tests/unit/check_main.h"

/* ------------------------------------------------------------- json */

static int parses(const char *s)
{
	struct gj_doc d;
	char err[128];
	int r = gj_parse(&d, s, strlen(s), err, sizeof(err));

	gj_free(&d);
	return r == 0;
}

START_TEST(json_valid_and_invalid)
{
	const char *ok[] = { "0", "-0", "1.5e-3", "\"\"", "[]", "{}", " [1, {\"a\": null}] ",
			     "\"\\u00e9\\n\\/\"", "true", "[false,true,null]", NULL };
	const char *bad[] = { "", "01", "1.", ".5", "+1", "[1,]", "{\"a\"}", "{a:1}", "[1 2]",
			      "\"\t\"", "\"\\x\"", "\"\\u12\"", "tru", "nul", "[", "{\"a\":1,}",
			      "1 2", "\"abc", NULL };
	for (int i = 0; ok[i]; i++)
		ck_assert_msg(parses(ok[i]), "should parse: %s", ok[i]);
	for (int i = 0; bad[i]; i++)
		ck_assert_msg(!parses(bad[i]), "should not parse: %s", bad[i]);
}
END_TEST

/* Strings out: escapes, and bytes that are not UTF-8 as U+FFFD (a
 * command line with \xff broke every JSON parser of gotrace summary's). */
START_TEST(json_string_out)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{ "a\"b\\c\n\x01", "\"a\\\"b\\\\c\\n\\u0001\"" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"" },
		{ "x\xffy", "\"x\\ufffdy\"" },
		{ "\xc3", "\"\\ufffd\"" },                     /* cut short */
		{ "\xc0\xaf", "\"\\ufffd\\ufffd\"" },          /* overlong */
		{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" }, /* a surrogate */
		{ "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" },   /* > U+10FFFF */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct gb b = { 0 };
		gb_jstr(&b, cases[i].in, strlen(cases[i].in));
		gb_put(&b, "", 1);
		ck_assert_str_eq(b.p, cases[i].out);
		free(b.p);
	}
}
END_TEST

START_TEST(json_depth_limit)
{
	char s[2 * (GJ_MAX_DEPTH + 2) + 1];
	int n = GJ_MAX_DEPTH;

	memset(s, '[', (size_t)n);
	memset(s + n, ']', (size_t)n);
	s[2 * n] = '\0';
	ck_assert(parses(s));
	memset(s, '[', (size_t)n + 1);
	memset(s + n + 1, ']', (size_t)n + 1);
	s[2 * n + 2] = '\0';
	ck_assert(!parses(s));
}
END_TEST

START_TEST(json_strings_and_lookup)
{
	const char *s = "{\"k\":\"a\\u00e9\\ud83d\\ude00\\\"\",\"n\":18446744073709551615,"
			"\"big\":18446744073709551616,\"f\":1.0,\"neg\":-1}";
	struct gj_doc d;
	char err[64], out[64];
	uint64_t v;

	ck_assert_int_eq(gj_parse(&d, s, strlen(s), err, sizeof(err)), 0);
	int k = gj_get(&d, 0, "k");
	ck_assert_int_ge(k, 0);
	ck_assert_int_eq(gj_str(&d, k, out, sizeof(out)), 8);
	ck_assert_str_eq(out, "a\xc3\xa9\xf0\x9f\x98\x80\"");
	ck_assert_int_eq(gj_str(&d, k, out, 4), -1);   /* does not fit */
	ck_assert_int_eq(gj_uint(&d, gj_get(&d, 0, "n"), &v), 0);
	ck_assert(v == UINT64_MAX);
	ck_assert_int_eq(gj_uint(&d, gj_get(&d, 0, "big"), &v), -1);
	ck_assert_int_eq(gj_uint(&d, gj_get(&d, 0, "f"), &v), -1);
	ck_assert_int_eq(gj_uint(&d, gj_get(&d, 0, "neg"), &v), -1);
	ck_assert_int_eq(gj_get(&d, 0, "missing"), -1);
	gj_free(&d);
}
END_TEST

START_TEST(json_frame)
{
	ck_assert_int_eq(gj_frame("  ", 2, 0), -1);
	ck_assert_int_eq(gj_frame("{\"a\":", 5, 0), 0);
	ck_assert_int_eq(gj_frame("{\"a\":\"}\"} x", 11, 0), 9);
	ck_assert_int_eq(gj_frame(" [1,[2]]{", 9, 0), 8);
	ck_assert_int_eq(gj_frame("12", 2, 0), 0);     /* maybe more digits */
	ck_assert_int_eq(gj_frame("12", 2, 1), 2);
	ck_assert_int_eq(gj_frame("12 ", 3, 0), 2);
	ck_assert_int_eq(gj_frame("}", 1, 0), 1);      /* a stray byte is one bad value */
	ck_assert_int_eq(gj_frame("\"a\\\"b\"", 6, 0), 6);
}
END_TEST

/* ------------------------------------------------------------ proto */

static int session, starts, stops;
static char last_path[256];
static uint64_t last_secs;

static int f_start(void *ctx, const char *path, char *err, size_t n)
{
	(void)ctx;
	starts++;
	snprintf(last_path, sizeof(last_path), "%s", path);
	if (session) {
		snprintf(err, n, "trace already in progress");
		return -1;
	}
	session = 1;
	return 0;
}

static int f_stop(void *ctx, char *err, size_t n)
{
	(void)ctx;
	stops++;
	if (!session) {
		snprintf(err, n, "trace not in progress");
		return -1;
	}
	session = 0;
	return 0;
}

static int f_go(void *ctx, const char *path, uint64_t secs, char *err, size_t n)
{
	last_secs = secs;
	return f_start(ctx, path, err, n);
}

/* The CPU profile's, as geth's StartCPUProfile / StopCPUProfile answer. */
static int cpu_session, cpu_calls;

static int f_cpu_start(void *ctx, const char *path, char *err, size_t n)
{
	(void)ctx;
	cpu_calls++;
	snprintf(last_path, sizeof(last_path), "%s", path);
	if (cpu_session) {
		snprintf(err, n, "CPU profiling already in progress");
		return -1;
	}
	cpu_session = 1;
	return 0;
}

static int f_cpu_stop(void *ctx, char *err, size_t n)
{
	(void)ctx;
	cpu_calls++;
	if (!cpu_session) {
		snprintf(err, n, "CPU profiling not in progress");
		return -1;
	}
	cpu_session = 0;
	return 0;
}

static int f_cpu_profile(void *ctx, const char *path, uint64_t secs, char *err, size_t n)
{
	last_secs = secs;
	return f_cpu_start(ctx, path, err, n);
}

/* debug_memStats' result is the method's own text; debug_freeOSMemory's
 * is null. */
static int mem_calls, free_calls;

static int f_mem(void *ctx, struct gb *out, char *err, size_t n)
{
	(void)ctx;
	mem_calls++;
	if (mem_calls == 3) {
		snprintf(err, n, "no figures");
		return -1;
	}
	gb_puts(out, "{\"HeapAlloc\":42}");
	return 0;
}

static int f_free(void *ctx, char *err, size_t n)
{
	(void)ctx;
	(void)err;
	(void)n;
	free_calls++;
	return 0;
}

/* The block and mutex profiles': the last rate and file per profile. */
static int64_t rates[2];
static char wrote[2][64];
static int windows[2];

static int f_rate(void *ctx, int which, int64_t rate, char *err, size_t n)
{
	(void)ctx;
	(void)err;
	(void)n;
	rates[which] = rate;
	return 0;
}

static int f_write(void *ctx, int which, const char *path, char *err, size_t n)
{
	(void)ctx;
	if (!strcmp(path, "/nope")) {
		snprintf(err, n, "open /nope: permission denied");
		return -1;
	}
	snprintf(wrote[which], sizeof(wrote[which]), "%s", path);
	return 0;
}

static int f_window(void *ctx, int which, const char *path, uint64_t secs, char *err, size_t n)
{
	(void)ctx;
	(void)err;
	(void)n;
	windows[which]++;
	last_secs = secs;
	snprintf(last_path, sizeof(last_path), "%s", path);
	return 0;
}

/* debug_stacks: a dump of three blocks, filtered as the server does. */
static const char dump[] = "goroutine 1 [running, thread 10 \"main\"]:\nmain(...)\n\tm.c:3\n\n"
			   "goroutine 2 [syscall, read, thread 11]:\nread(...)\n\tlibc.so.6\n"
			   "reader(...)\n\tm.c:9\n\n"
			   "goroutine 3 [sync, pthread_mutex_lock, thread 12]:\nlocker(...)\n\tm.c:20\n\n";

static int f_stacks(void *ctx, const char *filter, struct gb *out, char *err, size_t n)
{
	(void)ctx;
	if (filter && !strcmp(filter, "huge")) {   /* a 1,000,002-byte result */
		gb_put(out, "\"", 1);
		for (int k = 0; k < 1000; k++)
			gb_printf(out, "%01000d", 0);
		gb_put(out, "\"", 1);
		return 0;
	}
	if (!filter) {
		gb_jstr(out, dump, strlen(dump));
		return 0;
	}
	struct gb f = { 0 };
	if (rpc_filter_stacks(filter, dump, strlen(dump), &f, err, n))
		return -1;
	gb_jstr(out, f.p ? f.p : "", f.len);
	gb_free(&f);
	return 0;
}

static const struct rpc_ops ops = { NULL, f_start, f_stop, f_go, f_cpu_start, f_cpu_stop,
				    f_cpu_profile, f_mem, f_free, f_rate, f_write, f_window,
				    f_stacks };

static void reset(void)
{
	session = starts = stops = 0;
	cpu_session = cpu_calls = 0;
	last_path[0] = '\0';
	last_secs = 0;
}

/* Reply to one text; a held reply is completed with err. */
static char *reply(const char *in, const char *held_err, int *was_held)
{
	struct gb out = { 0 };
	struct rpc_held held;

	rpc_handle(&ops, in, strlen(in), &out, &held);
	if (was_held)
		*was_held = held.active;
	if (held.active)
		rpc_reply_held(&held, held_err, &out);
	gb_put(&out, "", 0);
	char *s = strdup(out.p ? out.p : "");
	gb_free(&out);
	return s;
}

static void expect(const char *in, const char *want)
{
	char *got = reply(in, NULL, NULL);
	ck_assert_msg(!strcmp(got, want), "for %s\n got: %s\nwant: %s", in, got, want);
	free(got);
}

#define R(id, rest) "{\"jsonrpc\":\"2.0\",\"id\":" id "," rest "}\n"
#define E(id, code, msg) R(id, "\"error\":{\"code\":" #code ",\"message\":\"" msg "\"}")

START_TEST(proto_methods)
{
	reset();
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_startGoTrace\",\"params\":[\"/t/a\"],\"id\":1}",
	       R("1", "\"result\":null"));
	ck_assert_str_eq(last_path, "/t/a");
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_startGoTrace\",\"params\":[\"b\"],\"id\":\"x\"}",
	       E("\"x\"", -32000, "trace already in progress"));
	expect("{\"id\":7,\"method\":\"debug_stopGoTrace\",\"jsonrpc\":\"2.0\"}",
	       R("7", "\"result\":null"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_stopGoTrace\",\"params\":null,\"id\":null}",
	       E("null", -32000, "trace not in progress"));
	ck_assert_int_eq(stops, 2);
	/* geth's rpc_modules: no params, [] or null; others as any method's */
	int ran = starts + stops;
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"rpc_modules\",\"id\":1}",
	       R("1", "\"result\":{\"debug\":\"1.0\",\"rpc\":\"1.0\"}"));
	expect("[{\"jsonrpc\":\"2.0\",\"method\":\"rpc_modules\",\"params\":[],\"id\":2},"
	       "{\"jsonrpc\":\"2.0\",\"method\":\"rpc_modules\",\"params\":null,\"id\":3}]",
	       "[{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"debug\":\"1.0\",\"rpc\":\"1.0\"}},"
	       "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{\"debug\":\"1.0\",\"rpc\":\"1.0\"}}]\n");
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"rpc_modules\",\"params\":[1],\"id\":1}",
	       E("1", -32602, "too many arguments, want at most 0"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"rpc_modules\",\"params\":{},\"id\":1}",
	       E("1", -32602, "non-array args"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"rpc_modules\"}", "");
	ck_assert_int_eq(starts + stops, ran);   /* it ran nothing */
}
END_TEST

START_TEST(proto_params)
{
	reset();
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_startGoTrace\",\"id\":1}",
	       E("1", -32602, "missing value for required argument 0"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_goTrace\",\"params\":[\"f\"],\"id\":1}",
	       E("1", -32602, "missing value for required argument 1"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_stopGoTrace\",\"params\":[1],\"id\":1}",
	       E("1", -32602, "too many arguments, want at most 0"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_startGoTrace\",\"params\":[5],\"id\":1}",
	       E("1", -32602, "invalid argument 0: json: cannot unmarshal number into Go value of type string"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_goTrace\",\"params\":[\"f\",\"5\"],\"id\":1}",
	       E("1", -32602, "invalid argument 1: json: cannot unmarshal string into Go value of type uint"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_goTrace\",\"params\":[\"f\",-1],\"id\":1}",
	       E("1", -32602, "invalid argument 1: json: cannot unmarshal number -1 into Go value of type uint"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_startGoTrace\",\"params\":{\"file\":\"f\"},\"id\":1}",
	       E("1", -32602, "non-array args"));
	ck_assert_int_eq(starts, 0);   /* nothing ran */
}
END_TEST

START_TEST(proto_request_errors)
{
	reset();
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_foo\",\"id\":1}",
	       E("1", -32601, "the method debug_foo does not exist/is not available"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"foobar, \"params\": \"bar\", \"baz]",
	       E("null", -32700, "parse error"));
	expect("[]", E("null", -32600, "empty batch"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":1,\"params\":\"bar\"}", E("null", -32600, "invalid request"));
	expect("{\"jsonrpc\":\"1.0\",\"method\":\"debug_stopGoTrace\",\"id\":3}", E("3", -32600, "invalid request"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_stopGoTrace\",\"id\":[1]}", E("null", -32600, "invalid request"));
	expect("[1]", "[" "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":\"invalid request\"}}" "]\n");
}
END_TEST

/* Where geth's rpc package answers otherwise than a plain reading of the
 * spec would, as geth does: arguments checked in order, keys in any case,
 * an empty method, responses sent to us, the batch limits. */
START_TEST(proto_as_geth)
{
	reset();
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_goTrace\",\"params\":[1,2,3],\"id\":1}",
	       E("1", -32602, "invalid argument 0: json: cannot unmarshal number into Go value of type string"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_goTrace\",\"params\":[\"f\",\"x\",3],\"id\":1}",
	       E("1", -32602, "invalid argument 1: json: cannot unmarshal string into Go value of type uint"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_goTrace\",\"params\":[1],\"id\":1}",
	       E("1", -32602, "invalid argument 0: json: cannot unmarshal number into Go value of type string"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_goTrace\",\"params\":[\"f\",1,3],\"id\":1}",
	       E("1", -32602, "too many arguments, want at most 2"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"\",\"id\":1}", E("1", -32600, "invalid request"));
	expect("{\"JSONRPC\":\"2.0\",\"Method\":\"rpc_modules\",\"ID\":4}",
	       R("4", "\"result\":{\"debug\":\"1.0\",\"rpc\":\"1.0\"}"));
	expect("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null}", "");
	expect("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"\",\"result\":1}", "");
	expect("{\"id\":1,\"result\":null}", E("1", -32600, "invalid request"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"rpc_modules\",\"id\":true}",
	       R("true", "\"result\":{\"debug\":\"1.0\",\"rpc\":\"1.0\"}"));
	expect("[{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":1,\"message\":\"m\"}},"
	       "{\"jsonrpc\":\"2.0\",\"method\":\"rpc_modules\",\"id\":2}]",
	       "[{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"debug\":\"1.0\",\"rpc\":\"1.0\"}}]\n");
	char name[1200];
	memset(name, 'x', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	struct gb in = { 0 };
	gb_printf(&in, "{\"jsonrpc\":\"2.0\",\"method\":\"%s\",\"id\":1}", name);
	char *got = reply(in.p, NULL, NULL);
	ck_assert_msg(strstr(got, name) != NULL, "the long name echoed: %.200s", got);
	free(got);
	/* Over 1000 calls: one error, in an array, with the first call's id. */
	in.len = 0;
	gb_puts(&in, "[{\"jsonrpc\":\"2.0\",\"method\":\"rpc_modules\"},"
		"{\"method\":\"rpc_modules\",\"id\":4}");
	for (int k = 0; k < RPC_MAX_BATCH - 1; k++)
		gb_printf(&in, ",{\"jsonrpc\":\"2.0\",\"method\":\"rpc_modules\",\"id\":%d}", k + 5);
	gb_puts(&in, "]");
	expect(in.p, "[" "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32600,"
	       "\"message\":\"batch too large\"}}" "]\n");
	/* Results past 25 MB: the calls after them answered -32003, not run. */
	in.len = 0;
	gb_puts(&in, "[");
	for (int k = 0; k < 30; k++)
		gb_printf(&in, "%s{\"jsonrpc\":\"2.0\",\"method\":\"debug_stacks\",\"params\":"
			  "[\"huge\"],\"id\":%d}", k ? "," : "", k);
	gb_puts(&in, ",{\"jsonrpc\":\"2.0\",\"method\":\"debug_startGoTrace\",\"params\":[\"f\"]}]");
	got = reply(in.p, NULL, NULL);
	int results = 0, large = 0;
	for (const char *q = got; (q = strstr(q, "\"result\":")); q++)
		results++;
	for (const char *q = got; (q = strstr(q, "{\"code\":-32003,\"message\":\"response too large\"}")); q++)
		large++;
	ck_assert_int_eq(results, 25);
	ck_assert_int_eq(large, 5);
	ck_assert_int_eq(starts, 0);   /* the notification after them did not run */
	free(got);
	gb_free(&in);
}
END_TEST

START_TEST(proto_batches_and_notifications)
{
	reset();
	/* A notification runs but gets no reply; so does an all-notification batch. */
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_startGoTrace\",\"params\":[\"f\"]}", "");
	ck_assert_int_eq(session, 1);
	expect("[{\"jsonrpc\":\"2.0\",\"method\":\"debug_stopGoTrace\"},{\"jsonrpc\":\"2.0\",\"method\":\"x\"}]", "");
	ck_assert_int_eq(session, 0);
	expect("[{\"jsonrpc\":\"2.0\",\"method\":\"debug_startGoTrace\",\"params\":[\"f\"],\"id\":1},"
	       "{\"jsonrpc\":\"2.0\",\"method\":\"debug_stopGoTrace\"},"
	       "{\"jsonrpc\":\"2.0\",\"method\":\"debug_stopGoTrace\",\"id\":2}]",
	       "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null},"
	       "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32000,\"message\":\"trace not in progress\"}}]\n");
}
END_TEST

START_TEST(proto_held)
{
	int held;
	char *s;

	reset();
	s = reply("{\"jsonrpc\":\"2.0\",\"method\":\"debug_goTrace\",\"params\":[\"g\",7],\"id\":9}", NULL, &held);
	ck_assert(held);
	ck_assert(last_secs == 7);
	ck_assert_str_eq(s, R("9", "\"result\":null"));
	free(s);
	reset();
	/* Held inside a batch: the items around it keep their places. */
	s = reply("[{\"jsonrpc\":\"2.0\",\"method\":\"debug_foo\",\"id\":1},"
		  "{\"jsonrpc\":\"2.0\",\"method\":\"debug_goTrace\",\"params\":[\"g\",0],\"id\":2},"
		  "{\"jsonrpc\":\"2.0\",\"method\":\"debug_startGoTrace\",\"params\":[\"h\"],\"id\":3}]",
		  "write g: no space", &held);
	ck_assert(held);
	ck_assert_str_eq(s, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32601,\"message\":\"the method debug_foo does not exist/is not available\"}},"
			 "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32000,\"message\":\"write g: no space\"}},"
			 "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32000,\"message\":\"trace already in progress\"}}]\n");
	free(s);
	reset();
	/* A goTrace notification holds no reply. */
	s = reply("{\"jsonrpc\":\"2.0\",\"method\":\"debug_goTrace\",\"params\":[\"g\",1]}", NULL, &held);
	ck_assert(!held);
	ck_assert_str_eq(s, "");
	ck_assert_int_eq(session, 1);
	free(s);
}
END_TEST

/* geth's debug_startCPUProfile, debug_stopCPUProfile, debug_cpuProfile:
 * names, params and errors as its handler's; the trace's state apart. */
START_TEST(proto_cpu_methods)
{
	reset();
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_startCPUProfile\",\"params\":[\"/t/c\"],\"id\":1}",
	       R("1", "\"result\":null"));
	ck_assert_str_eq(last_path, "/t/c");
	ck_assert_int_eq(session, 0);
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_startCPUProfile\",\"params\":[\"d\"],\"id\":2}",
	       E("2", -32000, "CPU profiling already in progress"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_startGoTrace\",\"params\":[\"t\"],\"id\":3}",
	       R("3", "\"result\":null"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_stopCPUProfile\",\"params\":[],\"id\":4}",
	       R("4", "\"result\":null"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_stopCPUProfile\",\"id\":5}",
	       E("5", -32000, "CPU profiling not in progress"));
	ck_assert_int_eq(session, 1);   /* the trace runs on */
	int calls = cpu_calls;
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_startCPUProfile\",\"id\":1}",
	       E("1", -32602, "missing value for required argument 0"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_cpuProfile\",\"params\":[\"f\"],\"id\":1}",
	       E("1", -32602, "missing value for required argument 1"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_stopCPUProfile\",\"params\":[1],\"id\":1}",
	       E("1", -32602, "too many arguments, want at most 0"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_startCPUProfile\",\"params\":[5],\"id\":1}",
	       E("1", -32602, "invalid argument 0: json: cannot unmarshal number into Go value of type string"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_cpuProfile\",\"params\":[\"f\",\"5\"],\"id\":1}",
	       E("1", -32602, "invalid argument 1: json: cannot unmarshal string into Go value of type uint"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_cpuProfile\",\"params\":[\"f\",-1],\"id\":1}",
	       E("1", -32602, "invalid argument 1: json: cannot unmarshal number -1 into Go value of type uint"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_cpuProfile\",\"params\":[\"f\",1.5],\"id\":1}",
	       E("1", -32602, "invalid argument 1: json: cannot unmarshal number 1.5 into Go value of type uint"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_cpuProfile\",\"params\":[\"f\",1,2],\"id\":1}",
	       E("1", -32602, "too many arguments, want at most 2"));
	ck_assert_int_eq(cpu_calls, calls);   /* none ran */
	/* Where the server has no profiler, the methods are not there. */
	static const struct rpc_ops plain = { NULL, f_start, f_stop, f_go, NULL, NULL, NULL,
					      NULL, NULL, NULL, NULL, NULL, NULL };
	struct gb out = { 0 };
	struct rpc_held held;
	const char *in = "{\"jsonrpc\":\"2.0\",\"method\":\"debug_stopCPUProfile\",\"id\":1}";
	rpc_handle(&plain, in, strlen(in), &out, &held);
	gb_put(&out, "", 0);
	ck_assert_str_eq(out.p, E("1", -32601, "the method debug_stopCPUProfile does not exist/is not available"));
	gb_free(&out);
}
END_TEST

/* The text debug_stacks' reply carries, as a C string. */
static void expect_stacks(const char *params, const char *want)
{
	char in[512];
	struct gb w = { 0 };

	snprintf(in, sizeof(in), "{\"jsonrpc\":\"2.0\",\"method\":\"debug_stacks\"%s%s,\"id\":1}",
		 params ? ",\"params\":" : "", params ? params : "");
	gb_puts(&w, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":");
	gb_jstr(&w, want, strlen(want));
	gb_puts(&w, "}\n");
	expect(in, w.p);
	gb_free(&w);
}

START_TEST(proto_stacks)
{
	expect_stacks(NULL, dump);
	expect_stacks("[]", dump);
	expect_stacks("[null]", dump);
	expect_stacks("[\"\"]", dump);
	/* geth's expressions: words, &&, ||, !, parentheses */
	expect_stacks("[\"reader\"]", "goroutine 2 [syscall, read, thread 11]:\nread(...)\n"
		      "\tlibc.so.6\nreader(...)\n\tm.c:9\n\n");
	expect_stacks("[\"m.c:3 || pthread_mutex_lock\"]",
		      "goroutine 1 [running, thread 10 \"main\"]:\nmain(...)\n\tm.c:3\n\n"
		      "goroutine 3 [sync, pthread_mutex_lock, thread 12]:\nlocker(...)\n\tm.c:20\n\n");
	expect_stacks("[\"goroutine && !(running || syscall)\"]",
		      "goroutine 3 [sync, pthread_mutex_lock, thread 12]:\nlocker(...)\n\tm.c:20\n\n");
	expect_stacks("[\"nothing_like_it\"]", "");
	/* what geth cannot read it answers with "": here, an error that says why */
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_stacks\",\"params\":[\"(a || b\"],\"id\":1}",
	       E("1", -32602, "invalid filter: expected ) at its end"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_stacks\",\"params\":[\"a &&\"],\"id\":1}",
	       E("1", -32602, "invalid filter: expected a word at its end"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_stacks\",\"params\":[\"a b\"],\"id\":1}",
	       E("1", -32602, "invalid filter: unexpected text at \\\"b\\\""));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_stacks\",\"params\":[1],\"id\":1}",
	       E("1", -32602, "invalid argument 0: json: cannot unmarshal number into Go value of type string"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_stacks\",\"params\":[\"a\",\"b\"],\"id\":1}",
	       E("1", -32602, "too many arguments, want at most 1"));
}
END_TEST

START_TEST(proto_mem_methods)
{
	mem_calls = free_calls = 0;
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_memStats\",\"id\":1}",
	       R("1", "\"result\":{\"HeapAlloc\":42}"));
	/* in a batch, each its own result */
	expect("[{\"jsonrpc\":\"2.0\",\"method\":\"debug_memStats\",\"params\":[],\"id\":2},"
	       "{\"jsonrpc\":\"2.0\",\"method\":\"debug_freeOSMemory\",\"id\":3},"
	       "{\"jsonrpc\":\"2.0\",\"method\":\"debug_memStats\",\"id\":4}]",
	       "[{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{\"HeapAlloc\":42}},"
	       "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":null},"
	       "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32000,\"message\":\"no figures\"}}]\n");
	ck_assert_int_eq(free_calls, 1);
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_freeOSMemory\",\"params\":[1],\"id\":5}",
	       E("5", -32602, "too many arguments, want at most 0"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_memStats\",\"params\":[\"x\"],\"id\":6}",
	       E("6", -32602, "too many arguments, want at most 0"));
	ck_assert_int_eq(mem_calls, 3);
	ck_assert_int_eq(free_calls, 1);
	/* geth's methods that mean nothing for native code: as any unknown one */
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_gcStats\",\"id\":7}",
	       E("7", -32601, "the method debug_gcStats does not exist/is not available"));
}
END_TEST

/* geth's block and mutex profile methods: Go's int for the rates, files
 * as the others', the windows held. */
START_TEST(proto_block_mutex_methods)
{
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_setBlockProfileRate\",\"params\":[-5],\"id\":1}",
	       R("1", "\"result\":null"));
	ck_assert_int_eq(rates[0], -5);
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_setMutexProfileFraction\",\"params\":[7],\"id\":2}",
	       R("2", "\"result\":null"));
	ck_assert_int_eq(rates[1], 7);
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_setMutexProfileFraction\",\"params\":[null],\"id\":3}",
	       R("3", "\"result\":null"));
	ck_assert_int_eq(rates[1], 0);
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_setBlockProfileRate\",\"params\":[1.5],\"id\":4}",
	       E("4", -32602, "invalid argument 0: json: cannot unmarshal number 1.5 into Go value of type int"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_setBlockProfileRate\",\"params\":[\"1\"],\"id\":5}",
	       E("5", -32602, "invalid argument 0: json: cannot unmarshal string into Go value of type int"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_setBlockProfileRate\",\"params\":[99999999999999999999],\"id\":6}",
	       E("6", -32602, "invalid argument 0: json: cannot unmarshal number 99999999999999999999 into Go value of type int"));
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_setBlockProfileRate\",\"id\":7}",
	       E("7", -32602, "missing value for required argument 0"));
	ck_assert_int_eq(rates[0], -5);
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_writeMutexProfile\",\"params\":[\"/t/m\"],\"id\":8}",
	       R("8", "\"result\":null"));
	ck_assert_str_eq(wrote[1], "/t/m");
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_writeBlockProfile\",\"params\":[\"/nope\"],\"id\":9}",
	       E("9", -32000, "open /nope: permission denied"));
	/* the windows hold their reply (a notification's does not) */
	struct rpc_held h;
	struct gb out = { 0 };
	const char *in = "[{\"jsonrpc\":\"2.0\",\"method\":\"debug_blockProfile\",\"params\":[\"/t/b\",3],\"id\":10},"
			 "{\"jsonrpc\":\"2.0\",\"method\":\"debug_mutexProfile\",\"params\":[\"/t/x\",4],\"id\":11}]";
	rpc_handle(&ops, in, strlen(in), &out, &h);
	ck_assert_int_eq(h.active, 2);
	ck_assert_int_eq(h.kind[0], RPC_HOLD_BLOCK);
	ck_assert_int_eq(h.kind[1], RPC_HOLD_MUTEX);
	ck_assert_int_eq(windows[0] + windows[1], 2);
	ck_assert_int_eq(last_secs, 4);
	const char *errs[RPC_HOLDS] = { "write /t/b: no space left on device", NULL };
	rpc_reply_held_each(&h, errs, &out);
	gb_put(&out, "", 0);
	ck_assert_str_eq(out.p, "[{\"jsonrpc\":\"2.0\",\"id\":10,\"error\":{\"code\":-32000,"
			 "\"message\":\"write /t/b: no space left on device\"}},"
			 "{\"jsonrpc\":\"2.0\",\"id\":11,\"result\":null}]\n");
	gb_free(&out);
	expect("{\"jsonrpc\":\"2.0\",\"method\":\"debug_mutexProfile\",\"params\":[\"/t/x\",\"4\"],\"id\":12}",
	       E("12", -32602, "invalid argument 1: json: cannot unmarshal string into Go value of type uint"));
}
END_TEST

/* debug_cpuProfile holds its reply as debug_goTrace does; a batch may hold
 * both, each answered with its own outcome, in its place. */
START_TEST(proto_cpu_held)
{
	int held;
	char *s;

	reset();
	s = reply("{\"jsonrpc\":\"2.0\",\"method\":\"debug_cpuProfile\",\"params\":[\"c\",3],\"id\":4}", NULL, &held);
	ck_assert_int_eq(held, 1);
	ck_assert(last_secs == 3);
	ck_assert_str_eq(s, R("4", "\"result\":null"));
	free(s);
	reset();
	const char *in = "[{\"jsonrpc\":\"2.0\",\"method\":\"debug_goTrace\",\"params\":[\"g\",1],\"id\":1},"
			 "{\"jsonrpc\":\"2.0\",\"method\":\"debug_foo\",\"id\":2},"
			 "{\"jsonrpc\":\"2.0\",\"method\":\"debug_cpuProfile\",\"params\":[\"c\",1],\"id\":3},"
			 "{\"jsonrpc\":\"2.0\",\"method\":\"debug_cpuProfile\",\"params\":[\"d\",1],\"id\":4}]";
	struct gb out = { 0 };
	struct rpc_held h;
	rpc_handle(&ops, in, strlen(in), &out, &h);
	ck_assert_int_eq(h.active, 2);
	ck_assert_int_eq(h.kind[0], RPC_HOLD_TRACE);
	ck_assert_int_eq(h.kind[1], RPC_HOLD_CPU);
	const char *errs[RPC_HOLDS] = { NULL, "write c: no space left on device" };
	rpc_reply_held_each(&h, errs, &out);
	ck_assert_int_eq(h.active, 0);
	gb_put(&out, "", 0);
	ck_assert_str_eq(out.p, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":null},"
			 "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32601,\"message\":\"the method debug_foo does not exist/is not available\"}},"
			 "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32000,\"message\":\"write c: no space left on device\"}},"
			 "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32000,\"message\":\"CPU profiling already in progress\"}}]\n");
	gb_free(&out);
	/* A notification holds nothing, but the profile runs. */
	reset();
	s = reply("{\"jsonrpc\":\"2.0\",\"method\":\"debug_cpuProfile\",\"params\":[\"c\",1]}", NULL, &held);
	ck_assert(!held);
	ck_assert_str_eq(s, "");
	ck_assert_int_eq(cpu_session, 1);
	free(s);
}
END_TEST

/* ---------------------------------------------------------- framing */

static void fhandle(struct rpc_conn *rc, const char *s, size_t n)
{
	struct gb out = { 0 };
	struct rpc_held held;

	rpc_handle(&ops, s, n, &out, &held);
	if (held.active)
		rpc_reply_held(&held, NULL, &out);
	rpc_conn_reply(rc, &out);
	gb_free(&out);
}

/* Feed in in chunks of `chunk` bytes (0: all at once), then EOF if eof. */
static const char *policy_vhosts, *policy_cors;   /* for run_conn's connections */

static char *run_conn(const char *in, size_t chunk, int eof, struct rpc_conn *keep)
{
	struct rpc_conn rc = { 0 };
	size_t n = strlen(in);

	rc.handle = fhandle;
	rc.vhosts = policy_vhosts;
	rc.cors = policy_cors;
	for (size_t i = 0; i < n;) {
		size_t c = chunk ? (chunk < n - i ? chunk : n - i) : n;
		rpc_conn_input(&rc, in + i, c);
		i += c;
	}
	if (eof) {
		rc.eof = 1;
		rpc_conn_input(&rc, NULL, 0);
	}
	gb_put(&rc.out, "", 0);
	char *s = strdup(rc.out.p ? rc.out.p : "");
	if (keep)
		*keep = rc;
	else
		rpc_conn_free(&rc);
	return s;
}

START_TEST(framing_stream)
{
	const char *in = " {\"jsonrpc\":\"2.0\",\"method\":\"debug_startGoTrace\",\"params\":[\"a\"],\"id\":1}\n"
			 "{\"jsonrpc\":\"2.0\",\"method\":\"debug_stopGoTrace\",\"id\":2}[]";
	const char *want = R("1", "\"result\":null") R("2", "\"result\":null")
			   E("null", -32600, "empty batch");
	for (size_t chunk = 0; chunk < 9; chunk++) {
		reset();
		char *got = run_conn(in, chunk, 0, NULL);
		ck_assert_msg(!strcmp(got, want), "chunk %zu: %s", chunk, got);
		free(got);
	}
	/* Cut short by the end of the stream: one parse error. */
	char *got = run_conn("{\"jsonrpc\":", 0, 1, NULL);
	ck_assert_str_eq(got, E("null", -32700, "parse error"));
	free(got);
}
END_TEST

START_TEST(framing_stream_too_large)
{
	struct rpc_conn rc;
	size_t n = RPC_MAX_REQUEST + 10;
	char *big = malloc(n + 1);

	memset(big, ' ', n);
	big[0] = '[';
	big[n] = '\0';
	char *got = run_conn(big, 65536, 0, &rc);
	ck_assert_msg(strstr(got, "-32600") && strstr(got, "request too large"), "%s", got);
	ck_assert(rc.closing);
	rpc_conn_free(&rc);
	free(got);
	free(big);
}
END_TEST




/* A request sent a byte at a time, or in any two parts, frames as one sent
 * whole: the scan resumes where it stopped (it rescanned from the value's
 * start at each arrival). */
START_TEST(framing_stream_resumed)
{
	static const char *vals[] = {
		"{\"a\":\"}]\\\"{\",\"b\":[1,[2,{}]]}", "[{\"x\":\"\\\\\"},2]", "\"s\\\"t\"",
		"12 ", "}", "  \n\t",
	};
	for (size_t v = 0; v < sizeof(vals) / sizeof(vals[0]); v++) {
		const char *s = vals[v];
		size_t n = strlen(s);
		long whole = gj_frame(s, n, 0);
		for (size_t cut = 0; cut <= n; cut++) {
			struct gj_scan st = { 0 };
			long k = gj_frame_at(s, cut, 0, &st);
			if (k == -1)
				continue;   /* whitespace so far: the caller drops it */
			if (k == 0)
				k = gj_frame_at(s, n, 0, &st);
			ck_assert_msg(k == whole, "%s cut at %zu: %ld, whole %ld", s, cut, k, whole);
		}
	}
	/* a batch of 300 calls, a byte at a time */
	struct gb in = { 0 };
	gb_puts(&in, "[");
	for (int k = 0; k < 300; k++)
		gb_printf(&in, "%s{\"jsonrpc\":\"2.0\",\"method\":\"rpc_modules\",\"id\":\"}%d\"}",
			  k ? "," : "", k);
	gb_puts(&in, "]");
	reset();
	char *got = run_conn(in.p, 1, 0, NULL);
	ck_assert_msg(got[0] == '[' && strstr(got, "\"id\":\"}299\"") && !strstr(got, "error"),
		      "%.300s", got);
	free(got);
	gb_free(&in);
}
END_TEST

START_TEST(framing_http_keepalive)
{
	const char *b1 = "{\"jsonrpc\":\"2.0\",\"method\":\"debug_startGoTrace\",\"params\":[\"a\"],\"id\":1}";
	const char *b2 = "{\"jsonrpc\":\"2.0\",\"method\":\"debug_stopGoTrace\",\"id\":2}";
	char in[1024], want[1024];
	struct rpc_conn rc;

	snprintf(in, sizeof(in), "POST / HTTP/1.1\r\ncontent-type: application/json\r\n"
		 "content-length: %zu\r\n\r\n%s"
		 "POST / HTTP/1.1\r\nContent-Type: application/json; charset=utf-8\r\n"
		 "Content-Length: %zu\r\n\r\n%s", strlen(b1), b1, strlen(b2), b2);
	snprintf(want, sizeof(want),
		 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s"
		 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
		 strlen(R("1", "\"result\":null")), R("1", "\"result\":null"),
		 strlen(R("2", "\"result\":null")), R("2", "\"result\":null"));
	for (size_t chunk = 0; chunk < 5; chunk++) {
		reset();
		char *got = run_conn(in, chunk, 0, &rc);
		ck_assert_msg(!strcmp(got, want), "chunk %zu:\n%s", chunk, got);
		ck_assert(!rc.closing);   /* keep-alive */
		rpc_conn_free(&rc);
		free(got);
	}
}
END_TEST

/* What a web page can send (issue 21): geth's rules. */
static void status_is(const char *in, const char *want, const char *why)
{
	reset();
	char *got = run_conn(in, 0, 0, NULL);
	ck_assert_msg(!strncmp(got, want, strlen(want)), "%s: %s", why, got);
	free(got);
}

START_TEST(framing_http_policy)
{
	const char *body = "{\"jsonrpc\":\"2.0\",\"method\":\"debug_stopGoTrace\",\"id\":1}";
	char in[1024];

#define REQ(hdrs) (snprintf(in, sizeof(in), "POST / HTTP/1.1\r\n%sContent-Length: %zu\r\n\r\n%s", \
			    hdrs, strlen(body), body), in)
	policy_vhosts = "localhost, myhost";
	policy_cors = NULL;
	status_is(REQ(""), "HTTP/1.1 415 ", "no Content-Type");
	status_is(REQ("Content-Type: application/x-www-form-urlencoded\r\n"), "HTTP/1.1 415 ",
		  "a form");
	status_is(REQ("Content-Type: multipart/form-data; boundary=x\r\n"), "HTTP/1.1 415 ",
		  "a multipart form");
	status_is(REQ("Content-Type: application/json\r\n"), "HTTP/1.1 200 ", "no Host");
	status_is(REQ("Host: localhost:8551\r\nContent-Type: application/json\r\n"), "HTTP/1.1 200 ",
		  "localhost");
	status_is(REQ("Host: MyHost\r\nContent-Type: application/json\r\n"), "HTTP/1.1 200 ",
		  "a listed name");
	status_is(REQ("Host: 127.0.0.1:8551\r\nContent-Type: application/json\r\n"), "HTTP/1.1 200 ",
		  "an IPv4 literal");
	status_is(REQ("Host: [::1]:8551\r\nContent-Type: application/json\r\n"), "HTTP/1.1 200 ",
		  "an IPv6 literal");
	status_is(REQ("Host: evil.example:8551\r\nContent-Type: application/json\r\n"),
		  "HTTP/1.1 403 ", "a rebound name");
	status_is(REQ("Host: localhostx\r\nContent-Type: application/json\r\n"), "HTTP/1.1 403 ",
		  "a name that only starts like a listed one");
	status_is(REQ("Origin: http://evil.example\r\nContent-Type: application/json\r\n"),
		  "HTTP/1.1 403 ", "a foreign Origin, no CORS list");
	policy_cors = "http://ok.example";
	status_is(REQ("Origin: http://evil.example\r\nContent-Type: application/json\r\n"),
		  "HTTP/1.1 403 ", "an Origin not listed");
	reset();
	char *got = run_conn(REQ("Origin: http://ok.example\r\nContent-Type: application/json\r\n"),
			     0, 0, NULL);
	ck_assert_msg(!strncmp(got, "HTTP/1.1 200 ", 13) &&
		      strstr(got, "Access-Control-Allow-Origin: http://ok.example\r\n"), "%s", got);
	free(got);
	reset();
	got = run_conn("OPTIONS / HTTP/1.1\r\nOrigin: http://ok.example\r\n"
		       "Access-Control-Request-Method: POST\r\n\r\n", 0, 0, NULL);
	ck_assert_msg(!strncmp(got, "HTTP/1.1 200 ", 13) &&
		      strstr(got, "Access-Control-Allow-Headers: Content-Type\r\n") &&
		      strstr(got, "Access-Control-Allow-Origin: http://ok.example\r\n"), "%s", got);
	free(got);
	policy_vhosts = NULL;   /* the Unix socket: no Host check */
	status_is(REQ("Host: evil.example\r\nContent-Type: application/json\r\n"), "HTTP/1.1 200 ",
		  "any Host on the Unix socket");
	policy_cors = NULL;
#undef REQ
}
END_TEST

START_TEST(framing_http_statuses)
{
	struct rpc_conn rc;
	char *got;

	got = run_conn("POST / HTTP/1.1\r\nContent-Length: 9999999\r\n\r\n", 0, 0, &rc);
	ck_assert_msg(!strncmp(got, "HTTP/1.1 413 ", 13) && strstr(got, "content length too large"), "%s", got);
	ck_assert(rc.closing);
	rpc_conn_free(&rc);
	free(got);
	got = run_conn("POST / HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\n[]", 0, 0, &rc);
	ck_assert_msg(!strncmp(got, "HTTP/1.1 415 ", 13), "%s", got);
	ck_assert(!rc.closing);
	rpc_conn_free(&rc);
	free(got);
	got = run_conn("PUT / HTTP/1.1\r\nContent-Length: 2\r\n\r\n[]", 0, 0, NULL);
	ck_assert_msg(!strncmp(got, "HTTP/1.1 405 ", 13), "%s", got);
	free(got);
	got = run_conn("GET / HTTP/1.1\r\n\r\n", 0, 0, NULL);
	ck_assert_msg(!strncmp(got, "HTTP/1.1 200 OK", 15) && strstr(got, "Content-Length: 0\r\n"), "%s", got);
	free(got);
	got = run_conn("POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Type: application/json\r\n"
		       "Content-Length: 2\r\n\r\n", 0, 0, &rc);
	ck_assert_str_eq(got, "HTTP/1.1 100 Continue\r\n\r\n");
	rpc_conn_input(&rc, "[]", 2);
	ck_assert_msg(strstr(rc.out.p, "empty batch") != NULL, "%s", rc.out.p);
	rpc_conn_free(&rc);
	free(got);
	got = run_conn("POST / HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]",
		       0, 0, &rc);
	ck_assert_msg(strstr(got, "Connection: close\r\n") != NULL, "%s", got);
	ck_assert(rc.closing);
	rpc_conn_free(&rc);
	free(got);
	got = run_conn("POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n[]\r\n0\r\n\r\n", 0, 0, NULL);
	ck_assert_msg(!strncmp(got, "HTTP/1.1 411 ", 13), "%s", got);
	free(got);
	/* As Go's net/http: header lines ending in a bare LF; a GET with a
	 * body is a call; a NUL in the body is JSON's to refuse (-32700). */
	got = run_conn("POST / HTTP/1.1\nContent-Type: application/json\nContent-Length: 2\n\n[]", 0, 0, NULL);
	ck_assert_msg(!strncmp(got, "HTTP/1.1 200 OK", 15) && strstr(got, "empty batch"), "%s", got);
	free(got);
	got = run_conn("GET / HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n[]",
		       0, 0, NULL);
	ck_assert_msg(!strncmp(got, "HTTP/1.1 200 OK", 15) && strstr(got, "empty batch"), "%s", got);
	free(got);
	{
		static const char nul[] = "POST / HTTP/1.1\r\nContent-Type: application/json\r\n"
					  "Content-Length: 3\r\n\r\n[\0]";
		struct rpc_conn c = { 0 };
		c.handle = fhandle;
		rpc_conn_input(&c, nul, sizeof(nul) - 1);
		gb_put(&c.out, "", 0);
		ck_assert_msg(!strncmp(c.out.p, "HTTP/1.1 200 OK", 15) && strstr(c.out.p, "-32700"),
			      "%s", c.out.p);
		rpc_conn_free(&c);
	}
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("rpc");
	TCase *j = tcase_create("json"), *p = tcase_create("proto"), *f = tcase_create("framing");

	tcase_add_test(j, json_valid_and_invalid);
	tcase_add_test(j, json_depth_limit);
	tcase_add_test(j, json_string_out);
	tcase_add_test(j, json_strings_and_lookup);
	tcase_add_test(j, json_frame);
	tcase_add_test(p, proto_methods);
	tcase_add_test(p, proto_params);
	tcase_add_test(p, proto_request_errors);
	tcase_add_test(p, proto_batches_and_notifications);
	tcase_add_test(p, proto_as_geth);
	tcase_add_test(p, proto_held);
	tcase_add_test(p, proto_cpu_methods);
	tcase_add_test(p, proto_cpu_held);
	tcase_add_test(p, proto_mem_methods);
	tcase_add_test(p, proto_stacks);
	tcase_add_test(p, proto_block_mutex_methods);
	tcase_add_test(f, framing_stream);
	tcase_add_test(f, framing_stream_too_large);
	tcase_add_test(f, framing_stream_resumed);
	tcase_add_test(f, framing_http_keepalive);
	tcase_add_test(f, framing_http_statuses);
	tcase_add_test(f, framing_http_policy);
	suite_add_tcase(s, j);
	suite_add_tcase(s, p);
	suite_add_tcase(s, f);
	return s;
}

int main(void)
{
	return gt_check_run(suite());
}
