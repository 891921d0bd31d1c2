/* rpc/proto/proto.c - JSON-RPC 2.0 request handling (see proto.h). Messages
 * follow go-ethereum's rpc package so scripts written against geth read
 * the same errors. Any thread; state only in the caller's buffers. */
#include "rpc/proto/proto.h"
#include "rpc/proto/filter.h"

#include <stdio.h>
#include <string.h>

#include "core/base/config.h"

struct call {
	const struct rpc_ops *ops;
	const struct gj_doc *d;
	struct gb *cur;       /* where replies go now: out, or held->tail */
	struct rpc_held *held;
	int batch, replies;   /* replies written so far (commas, newline) */
	size_t results;       /* a batch's result bytes so far */
	struct gb res;        /* a result built by its method (debug_memStats) */
};

static void sep(struct call *c)
{
	if (c->batch && c->replies)
		gb_put(c->cur, ",", 1);
	c->replies++;
}

static void head(struct gb *o, const char *id, size_t idlen)
{
	gb_puts(o, "{\"jsonrpc\":\"2.0\",\"id\":");
	gb_put(o, id, idlen);
}

static void error_item(struct gb *o, const char *id, size_t idlen, int code, const char *msg)
{
	head(o, id, idlen);
	gb_printf(o, ",\"error\":{\"code\":%d,\"message\":", code);
	gb_jstr(o, msg, strlen(msg));
	gb_puts(o, "}}");
}

void rpc_error_reply(struct gb *out, int code, const char *msg)
{
	error_item(out, "null", 4, code, msg);
	gb_put(out, "\n", 1);
}

/* Go's json.UnmarshalTypeError text for token i into a Go type. */
static void type_error(const struct gj_doc *d, int i, int arg, const char *go_type,
		       char *msg, size_t len)
{
	static const char *names[] = { "null", "bool", "bool", "number", "string",
				       "array", "object" };
	const struct gj_tok *t = &d->t[i];

	if (t->type == GJ_NUM)
		snprintf(msg, len, "invalid argument %d: json: cannot unmarshal number %.*s "
			 "into Go value of type %s", arg, (int)(t->end - t->start > 64 ? 64 :
			 t->end - t->start), d->s + t->start, go_type);
	else
		snprintf(msg, len, "invalid argument %d: json: cannot unmarshal %s into Go "
			 "value of type %s", arg, names[t->type], go_type);
	if (t->type == GJ_NUM && strcmp(go_type, "string") == 0)
		snprintf(msg, len, "invalid argument %d: json: cannot unmarshal number into "
			 "Go value of type string", arg);
}

/* The methods: their params (none; a file; a file and seconds, the call
 * then held until its end; an int), and what serves them. */
enum { A_NONE, A_FILE, A_FILE_SECS, A_INT, A_OPT_STR };
enum { M_START, M_STOP, M_GO, M_CPU_START, M_CPU_STOP, M_CPU, M_MODULES, M_MEM, M_FREE,
       M_BLOCK, M_BLOCK_WRITE, M_BLOCK_RATE, M_MUTEX, M_MUTEX_WRITE, M_MUTEX_RATE,
       M_HEAP_WRITE, M_STACKS };
static const struct {
	const char *name;
	unsigned char args, id;
} methods[] = {
	{ "debug_startGoTrace", A_FILE, M_START },
	{ "debug_stopGoTrace", A_NONE, M_STOP },
	{ "debug_goTrace", A_FILE_SECS, M_GO },
	{ "debug_startCPUProfile", A_FILE, M_CPU_START },
	{ "debug_stopCPUProfile", A_NONE, M_CPU_STOP },
	{ "debug_cpuProfile", A_FILE_SECS, M_CPU },
	/* geth's: the modules served, each "1.0" (`geth attach` asks) */
	{ "rpc_modules", A_NONE, M_MODULES },
	{ "debug_memStats", A_NONE, M_MEM },
	{ "debug_freeOSMemory", A_NONE, M_FREE },
	{ "debug_blockProfile", A_FILE_SECS, M_BLOCK },
	{ "debug_writeBlockProfile", A_FILE, M_BLOCK_WRITE },
	{ "debug_setBlockProfileRate", A_INT, M_BLOCK_RATE },
	{ "debug_mutexProfile", A_FILE_SECS, M_MUTEX },
	{ "debug_writeMutexProfile", A_FILE, M_MUTEX_WRITE },
	{ "debug_setMutexProfileFraction", A_INT, M_MUTEX_RATE },
	{ "debug_writeMemProfile", A_FILE, M_HEAP_WRITE },
	{ "debug_stacks", A_OPT_STR, M_STACKS },
};

static int served(const struct rpc_ops *o, unsigned id)
{
	if (id >= M_CPU_START && id <= M_CPU)
		return o->cpu_start != NULL;
	if (id == M_MEM || id == M_FREE)
		return o->mem_stats != NULL;
	if (id == M_STACKS)
		return o->stacks != NULL;
	if (id >= M_BLOCK)
		return o->prof_rate != NULL;
	return 1;
}

/* Go's int from a JSON number: digits, a leading minus; 0, or -1. */
static int json_int(const struct gj_doc *d, int i, int64_t *v)
{
	const struct gj_tok *t = &d->t[i];
	uint32_t k = t->start;
	int neg = k < t->end && d->s[k] == '-';
	uint64_t x = 0;

	if (t->type != GJ_NUM || t->end - k - (uint32_t)neg == 0)
		return -1;
	for (k += (uint32_t)neg; k < t->end; k++) {
		char ch = d->s[k];
		if (ch < '0' || ch > '9' || x > ((uint64_t)INT64_MAX + (uint64_t)neg) / 10)
			return -1;
		x = x * 10 + (uint64_t)(ch - '0');
	}
	if (x > (uint64_t)INT64_MAX + (uint64_t)neg)
		return -1;
	*v = neg ? (int64_t)(0 - x) : (int64_t)x;
	return 0;
}

/* Run method with params token p (-1: none). 0 done (*result: its JSON
 * text, "null" unless set), 1 + RPC_HOLD_* held, or an error code with
 * msg filled. */
static int run(struct call *c, const char *method, int p, int has_id, const char **result,
	       char *msg, size_t len)
{
	const struct gj_doc *d = c->d;
	const struct rpc_ops *o = c->ops;
	int nargs = p >= 0 && d->t[p].type == GJ_ARR ? (int)d->t[p].size : 0;
	int m = -1;

	for (size_t k = 0; k < sizeof(methods) / sizeof(methods[0]) && m < 0; k++)
		if (!strcmp(method, methods[k].name) && served(o, methods[k].id))
			m = (int)k;
	if (m < 0) {
		snprintf(msg, len, "the method %s does not exist/is not available", method);
		return RPC_METHOD_NOT_FOUND;
	}
	unsigned id = methods[m].id, a = methods[m].args;
	/* As geth's parsePositionalArguments: the arguments in order, each
	 * checked (too many, then its type) before the next; then the missing
	 * ones. A JSON null argument is Go's zero value. debug_stacks' filter
	 * is geth's optional trailing *string. */
	int max = a == A_NONE ? 0 : a == A_FILE_SECS ? 2 : 1, want = a == A_OPT_STR ? 0 : max;
	if (p >= 0 && d->t[p].type != GJ_ARR && d->t[p].type != GJ_NULL) {
		snprintf(msg, len, "non-array args");
		return RPC_INVALID_PARAMS;
	}
	/* The string argument (a file, or the filter) goes in path. */
	char path[GT_PATH_MAX] = "";
	uint64_t secs = 0;
	int64_t rate = 0;
	for (int k = 0, i = p + 1; k < nargs; k++, i = (int)d->t[i].next) {
		if (k >= max) {
			snprintf(msg, len, "too many arguments, want at most %d", max);
			return RPC_INVALID_PARAMS;
		}
		if (d->t[i].type == GJ_NULL)
			continue;
		if (k == 1) {
			if (gj_uint(d, i, &secs)) {
				type_error(d, i, 1, "uint", msg, len);
				return RPC_INVALID_PARAMS;
			}
		} else if (a == A_INT) {
			if (json_int(d, i, &rate)) {
				type_error(d, i, 0, "int", msg, len);
				return RPC_INVALID_PARAMS;
			}
		} else if (d->t[i].type != GJ_STR) {
			type_error(d, i, 0, "string", msg, len);
			return RPC_INVALID_PARAMS;
		} else if (gj_str(d, i, path, sizeof(path)) < 0) {
			snprintf(msg, len, "invalid argument 0: %s too long or holds NUL",
				 a == A_OPT_STR ? "filter" : "file name");
			return RPC_INVALID_PARAMS;
		}
	}
	if (nargs < want) {
		snprintf(msg, len, "missing value for required argument %d", nargs);
		return RPC_INVALID_PARAMS;
	}
	/* geth answers "" to a filter it cannot read; an error says why. */
	if (a == A_OPT_STR && path[0] && rpc_filter_check(path, msg, len))
		return RPC_INVALID_PARAMS;
	int r = 0, hold = -1;
	switch (id) {
	case M_MODULES:
		*result = RPC_MODULES;
		return 0;
	case M_MEM: case M_STACKS:   /* results their methods build in c->res */
		c->res.len = 0;
		if (id == M_MEM ? o->mem_stats(o->ctx, &c->res, msg, len)
				: o->stacks(o->ctx, path[0] ? path : NULL, &c->res, msg, len))
			return RPC_SERVER_ERROR;
		if (c->res.oom) {
			snprintf(msg, len, "out of memory");
			return RPC_SERVER_ERROR;
		}
		*result = c->res.len ? c->res.p : "null";
		return 0;
	case M_FREE: r = o->free_os_memory(o->ctx, msg, len); break;
	case M_START: r = o->start(o->ctx, path, msg, len); break;
	case M_STOP: r = o->stop(o->ctx, msg, len); break;
	case M_GO: r = o->go_trace(o->ctx, path, secs, msg, len), hold = RPC_HOLD_TRACE; break;
	case M_CPU_START: r = o->cpu_start(o->ctx, path, msg, len); break;
	case M_CPU_STOP: r = o->cpu_stop(o->ctx, msg, len); break;
	case M_CPU: r = o->cpu_profile(o->ctx, path, secs, msg, len), hold = RPC_HOLD_CPU; break;
	case M_BLOCK: case M_MUTEX: {
		int k = id == M_MUTEX;
		r = o->prof_window(o->ctx, k, path, secs, msg, len);
		hold = k ? RPC_HOLD_MUTEX : RPC_HOLD_BLOCK;
		break;
	}
	case M_BLOCK_WRITE: case M_MUTEX_WRITE: case M_HEAP_WRITE:
		r = o->prof_write(o->ctx, id == M_HEAP_WRITE ? 2 : id == M_MUTEX_WRITE, path, msg,
				  len);
		break;
	case M_BLOCK_RATE: case M_MUTEX_RATE:
		r = o->prof_rate(o->ctx, id == M_MUTEX_RATE, rate, msg, len);
		break;
	}
	if (r)
		return RPC_SERVER_ERROR;
	return hold >= 0 && has_id ? 1 + hold : 0;
}

/* One request object (or anything else found where one belongs). */
static void request(struct call *c, int i)
{
	const struct gj_doc *d = c->d;
	int v = gj_get(d, i, "jsonrpc"), m = gj_get(d, i, "method");
	int id = gj_get(d, i, "id"), p = gj_get(d, i, "params");
	const char *ids = "null";
	size_t idl = 4;
	char method[2049], msg[GT_PATH_MAX + 2400];

	if (id >= 0 && d->t[id].type != GJ_OBJ && d->t[id].type != GJ_ARR) {   /* geth: true too */
		ids = d->s + d->t[id].start;
		idl = d->t[id].end - d->t[id].start;
	} else if (id >= 0) {
		id = -2;   /* an object or array as id: invalid, answered with null */
	}
	if (c->results > RPC_MAX_BATCH_RESPONSE) {   /* as geth: not run */
		if (id != -1) {
			sep(c);
			error_item(c->cur, ids, idl, RPC_RESPONSE_TOO_LARGE, "response too large");
		}
		return;
	}
	/* A response sent to us (geth drops it: an answer to no call of its):
	 * a version, a valid id, no method (or ""), no params, a result or
	 * an error. */
	if (d->t[i].type == GJ_OBJ && id >= 0 && v >= 0 && gj_streq(d, v, "2.0") && p < 0 &&
	    (m < 0 || (d->t[m].type == GJ_STR && d->t[m].end - d->t[m].start <= 2)) &&
	    (gj_get(d, i, "result") >= 0 || gj_get(d, i, "error") >= 0))
		return;
	if (d->t[i].type != GJ_OBJ || v < 0 || !gj_streq(d, v, "2.0") || m < 0 ||
	    d->t[m].type != GJ_STR || d->t[m].end - d->t[m].start <= 2 || id == -2) {
		sep(c);
		error_item(c->cur, ids, idl, RPC_INVALID_REQUEST, "invalid request");
		return;
	}
	if (gj_str(d, m, method, sizeof(method)) < 0)
		strcpy(method, "(too long)");
	const char *result = "null";
	int r = run(c, method, p, id >= 0, &result, msg, sizeof(msg));
	if (id < 0)
		return;   /* a notification: no reply, whatever happened */
	sep(c);
	if (r > 0 && c->held->active < RPC_HOLDS) {
		/* The held item goes between the text before it and its tail. */
		int k = c->held->active++;
		c->held->kind[k] = r - 1;
		gb_put(&c->held->id[k], ids, idl);
		c->cur = &c->held->tail[k];
		return;
	}
	if (r == 0) {
		if (c->batch)
			c->results += strlen(result);
		head(c->cur, ids, idl);
		gb_puts(c->cur, ",\"result\":");
		gb_puts(c->cur, result);
		gb_puts(c->cur, "}");
	} else {
		error_item(c->cur, ids, idl, r, msg);
	}
}

void rpc_handle(const struct rpc_ops *ops, const char *s, size_t n, struct gb *out,
		struct rpc_held *held)
{
	struct gj_doc d;
	char err[128];
	struct call c = { .ops = ops, .d = &d, .cur = out, .held = held };

	memset(held, 0, sizeof(*held));
	if (gj_parse(&d, s, n, err, sizeof(err))) {
		gj_free(&d);
		rpc_error_reply(out, RPC_PARSE_ERROR, "parse error");
		return;
	}
	if (d.t[0].type != GJ_ARR) {
		request(&c, 0);
	} else if (d.t[0].size == 0) {
		rpc_error_reply(out, RPC_INVALID_REQUEST, "empty batch");
	} else if (d.t[0].size > RPC_MAX_BATCH) {
		/* As geth: one error, in an array, with the first call's id */
		int id = -1;
		for (uint32_t i = 1; i < d.n && id < 0; i = d.t[i].next) {
			int m = gj_get(&d, (int)i, "method"), v = gj_get(&d, (int)i, "jsonrpc");
			id = m >= 0 && d.t[m].type == GJ_STR && d.t[m].end - d.t[m].start > 2 &&
			     v >= 0 && gj_streq(&d, v, "2.0") ? gj_get(&d, (int)i, "id") : -1;
			if (id >= 0 && (d.t[id].type == GJ_OBJ || d.t[id].type == GJ_ARR))
				id = -1;
		}
		gb_put(out, "[", 1);
		if (id >= 0)
			error_item(out, d.s + d.t[id].start, d.t[id].end - d.t[id].start,
				   RPC_INVALID_REQUEST, "batch too large");
		else
			error_item(out, "null", 4, RPC_INVALID_REQUEST, "batch too large");
		gb_puts(out, "]\n");
	} else {
		size_t mark = out->len;
		c.batch = 1;
		gb_put(out, "[", 1);
		for (uint32_t i = 1; i < d.n; i = d.t[i].next)
			request(&c, (int)i);
		if (!c.replies) {
			out->len = mark;   /* all notifications: no reply at all */
			if (out->p)
				out->p[mark] = '\0';
		} else {
			gb_put(c.cur, "]", 1);
		}
	}
	if (c.replies)
		gb_put(c.cur, "\n", 1);
	gb_free(&c.res);
	gj_free(&d);
}

void rpc_reply_held_each(struct rpc_held *held, const char *const err[RPC_HOLDS],
			 struct gb *out)
{
	for (int k = 0; k < held->active; k++) {
		if (err && err[k])
			error_item(out, held->id[k].p, held->id[k].len, RPC_SERVER_ERROR, err[k]);
		else {
			head(out, held->id[k].p, held->id[k].len);
			gb_puts(out, ",\"result\":null}");
		}
		gb_put(out, held->tail[k].p ? held->tail[k].p : "", held->tail[k].len);
	}
	rpc_held_free(held);
}

void rpc_reply_held(struct rpc_held *held, const char *err, struct gb *out)
{
	const char *each[RPC_HOLDS];

	for (int k = 0; k < RPC_HOLDS; k++)
		each[k] = err;

	rpc_reply_held_each(held, each, out);
}

void rpc_held_free(struct rpc_held *held)
{
	for (int k = 0; k < RPC_HOLDS; k++) {
		gb_free(&held->id[k]);
		gb_free(&held->tail[k]);
	}
	held->active = 0;
}
