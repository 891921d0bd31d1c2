/* tests/fuzz/fuzz_rpc.c - libFuzzer target over everything a client can
 * send: the JSON parser, JSON-RPC dispatch, stream framing and HTTP
 * framing. The first byte picks the layer; framing inputs are fed in
 * chunks whose sizes come from the input, so every split point of a
 * request is tried. Fake methods: start/stop keep a session flag, goTrace
 * holds its reply, which is completed at once. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/proto/framing.h"
#include "rpc/proto/json.h"
#include "rpc/proto/proto.h"
#include "rpc/proto/filter.h"

static int session;

static int f_start(void *ctx, const char *path, char *err, size_t n)
{
	(void)ctx;
	if (session || !*path) {
		strncpy(err, session ? "trace already in progress" : "open : no such file", n - 1);
		err[n - 1] = '\0';
		return -1;
	}
	session = 1;
	return 0;
}

static int f_stop(void *ctx, char *err, size_t n)
{
	(void)ctx;
	if (!session) {
		strncpy(err, "trace not in progress", n - 1);
		err[n - 1] = '\0';
		return -1;
	}
	session = 0;
	return 0;
}

static int f_go(void *ctx, const char *path, uint64_t secs, char *err, size_t n)
{
	(void)secs;
	return f_start(ctx, path, err, n);
}

static int f_mem(void *ctx, struct gb *out, char *err, size_t n)
{
	(void)err;
	(void)n;
	gb_puts(out, ctx ? "{}" : "{\"Alloc\":1}");
	return 0;
}

static int f_free(void *ctx, char *err, size_t n)
{
	return f_stop(ctx, err, n);
}

static int f_rate(void *ctx, int which, int64_t rate, char *err, size_t n)
{
	(void)which;
	return rate < 0 ? f_stop(ctx, err, n) : 0;
}

static int f_write(void *ctx, int which, const char *path, char *err, size_t n)
{
	(void)which;
	return f_start(ctx, path, err, n);
}

static int f_window(void *ctx, int which, const char *path, uint64_t secs, char *err, size_t n)
{
	(void)which;
	return f_go(ctx, path, secs, err, n);
}

/* debug_stacks: a fixed dump, through the filter as the server does. */
static int f_stacks(void *ctx, const char *filter, struct gb *out, char *err, size_t n)
{
	static const char d[] = "goroutine 1 [running, thread 1]:\nmain(...)\n\tm.c:1\n\n"
				"goroutine 2 [syscall, read, thread 2]:\nr(...)\n\tm.c:2\n\n";
	struct gb f = { 0 };

	(void)ctx;
	if (filter && rpc_filter_stacks(filter, d, sizeof(d) - 1, &f, err, n)) {
		gb_free(&f);
		return -1;
	}
	if (filter)
		gb_jstr(out, f.p ? f.p : "", f.len);
	else
		gb_jstr(out, d, sizeof(d) - 1);
	gb_free(&f);
	return 0;
}

static const struct rpc_ops ops = { NULL, f_start, f_stop, f_go, f_start, f_stop, f_go,
				    f_mem, f_free, f_rate, f_write, f_window, f_stacks };

/* Every reply must be valid JSON text (one value per line). */
static void check_replies(const struct gb *out)
{
	const char *p = out->p, *end = out->p + out->len;

	while (p && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			abort();   /* a reply without its newline */
		struct gj_doc d;
		char err[128];
		if (gj_parse(&d, p, (size_t)(nl - p), err, sizeof(err)))
			abort();   /* we wrote something that is not JSON */
		gj_free(&d);
		p = nl + 1;
	}
}

static void handle(struct rpc_conn *rc, const char *s, size_t n)
{
	struct gb out = { 0 };
	struct rpc_held held;

	rpc_handle(&ops, s, n, &out, &held);
	if (held.active) {
		session = 0;
		rpc_reply_held(&held, (n & 1) ? "write x: no space" : NULL, &out);
	}
	if (rc->mode != RPC_HTTP)
		check_replies(&out);
	rpc_conn_reply(rc, &out);
	gb_free(&out);
}

static void feed(const uint8_t *data, size_t size, int http)
{
	struct rpc_conn rc = { 0 };
	size_t i = 0;

	rc.handle = handle;
	if (http)   /* headers and body from the input, after a request line */
		rpc_conn_input(&rc, "POST / HTTP/1.1\r\n", 17);
	while (i < size && !rc.closing && !rc.dead) {
		size_t chunk = 1 + data[i] % 64;
		i++;
		if (chunk > size - i)
			chunk = size - i;
		rpc_conn_input(&rc, (const char *)data + i, chunk);
		i += chunk;
		if (rc.out.len > (4u << 20))
			rc.out.len = 0;   /* the server stops reading such a client */
	}
	rc.eof = 1;
	rpc_conn_input(&rc, NULL, 0);
	rpc_conn_free(&rc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t sel = data[0] % 4;
	data++;
	size--;
	session = 0;
	if (sel == 0) {
		struct gj_doc d;
		char err[128], s[256];
		if (gj_parse(&d, (const char *)data, size, err, sizeof(err)) == 0) {
			for (uint32_t i = 0; i < d.n; i++) {
				uint64_t v;
				if (d.t[i].next <= i || d.t[i].next > d.n || d.t[i].end < d.t[i].start)
					abort();   /* the token tree is inconsistent */
				gj_str(&d, (int)i, s, sizeof(s));
				gj_uint(&d, (int)i, &v);
			}
		}
		gj_free(&d);
		gj_frame((const char *)data, size, 0);
		gj_frame((const char *)data, size, 1);
	} else if (sel == 1) {
		struct gb out = { 0 };
		struct rpc_held held;
		rpc_handle(&ops, (const char *)data, size, &out, &held);
		if (held.active)
			rpc_reply_held(&held, NULL, &out);
		check_replies(&out);
		gb_free(&out);
	} else {
		feed(data, size, sel == 3);
	}
	return 0;
}
