/* rpc/server/methods.c - the endpoint's methods, as go-ethereum's debug
 * handler (internal/debug/api.go) answers them: the trace methods over
 * core/write/ctl.h, the CPU profile methods over core/prof/prof.h, file
 * names with "~/" expanded, errors worded as Go's. debug_goTrace and
 * debug_cpuProfile hold their reply until their trace or profile ends
 * (time, or a stop from another client). Service thread only. */
#include "rpc/server/methods.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/log.h"
#include "core/base/real.h"
#include "core/prof/mem.h"
#include "core/prof/prof.h"
#include "core/write/ctl.h"
#include "rpc/proto/filter.h"

/* A reply text with held items (a batch may hold both kinds). */
struct reply {
	struct conn *conn;            /* NULL: its client left */
	struct gb head;               /* the text before the first held item */
	struct rpc_held held;
	char *err[RPC_HOLDS];         /* item i's error, once it is over (NULL: none) */
	int pending;                  /* items not over yet */
};

/* What each kind of held call starts and stops (RPC_HOLD_*). */
static uint64_t block_start(const char *p, char *e, size_t n) { return gt_prof_window_start(0, p, e, n); }
static uint64_t mutex_start(const char *p, char *e, size_t n) { return gt_prof_window_start(1, p, e, n); }
static int block_stop(char *e, size_t n) { return gt_prof_window_stop(0, e, n); }
static int mutex_stop(char *e, size_t n) { return gt_prof_window_stop(1, e, n); }
static uint64_t block_session(void) { return gt_prof_window(0); }
static uint64_t mutex_session(void) { return gt_prof_window(1); }

static const struct {
	uint64_t (*start)(const char *path, char *err, size_t errlen);
	int (*stop)(char *err, size_t errlen);
	uint64_t (*session)(void);
} kinds[RPC_HOLDS] = {
	[RPC_HOLD_TRACE] = { gt_ctl_start, gt_ctl_stop, gt_ctl_session },
	[RPC_HOLD_CPU] = { gt_prof_start, gt_prof_stop, gt_prof_session },
	[RPC_HOLD_BLOCK] = { block_start, block_stop, block_session },
	[RPC_HOLD_MUTEX] = { mutex_start, mutex_stop, mutex_session },
};

/* The one call of each kind in progress (debug_goTrace, debug_cpuProfile,
 * debug_blockProfile, debug_mutexProfile). */
static struct wait {
	uint64_t session;             /* 0: none */
	uint64_t deadline;
	struct reply *r;              /* NULL: nobody waits (a notification) */
	int item;                     /* r's held item */
} waits[RPC_HOLDS];

static void fix_case(char *err)
{
	/* Go's errors say "open /x: permission denied": lower-case the
	 * system's reason after the last ": " as geth's messages have it. */
	char *p = strstr(err, ": ");
	while (p && strstr(p + 2, ": "))
		p = strstr(p + 2, ": ");
	if (p && p[2] >= 'A' && p[2] <= 'Z' && p[3] >= 'a' && p[3] <= 'z')
		p[2] = (char)(p[2] - 'A' + 'a');
}

static void expand(const char *in, char *out, size_t size)
{
	if (in[0] == '~' && in[1] == '/' && gt_cfg.home[0])
		snprintf(out, size, "%s%s", gt_cfg.home, in + 1);
	else
		snprintf(out, size, "%s", in);
}

static uint64_t start_kind(int k, const char *file, char *err, size_t errlen)
{
	char path[GT_PATH_MAX];
	uint64_t id;

	if (waits[k].session) {
		static const char *const busy[RPC_HOLDS] = { "trace already in progress",
			"CPU profiling already in progress", "block profiling already in progress",
			"mutex profiling already in progress" };
		snprintf(err, errlen, "%s", busy[k]);
		return 0;
	}
	expand(file, path, sizeof(path));
	id = kinds[k].start(path, err, errlen);
	if (!id)
		fix_case(err);
	return id;
}

static int stop_kind(int k, char *err, size_t errlen)
{
	int had = kinds[k].session() != 0;

	if (kinds[k].stop(err, errlen)) {
		if (had)   /* one that failed: said on the program's stderr too */
			gt_log("%s", err);
		fix_case(err);
		return -1;
	}
	return 0;
}

static int wait_for(int k, const char *file, uint64_t secs, char *err, size_t errlen)
{
	uint64_t id = start_kind(k, file, err, errlen);

	if (!id)
		return -1;
	waits[k].session = id;
	waits[k].r = NULL;
	if (secs > 365ull * 86400)
		secs = 365ull * 86400;
	waits[k].deadline = gt_clock_now() + secs * 1000000000ull;
	return 0;
}

static int op_start(void *ctx, const char *file, char *err, size_t errlen)
{
	(void)ctx;
	return start_kind(RPC_HOLD_TRACE, file, err, errlen) ? 0 : -1;
}

static int op_stop(void *ctx, char *err, size_t errlen)
{
	(void)ctx;
	return stop_kind(RPC_HOLD_TRACE, err, errlen);
}

static int op_go_trace(void *ctx, const char *file, uint64_t secs, char *err, size_t errlen)
{
	(void)ctx;
	return wait_for(RPC_HOLD_TRACE, file, secs, err, errlen);
}

static int op_cpu_start(void *ctx, const char *file, char *err, size_t errlen)
{
	(void)ctx;
	return start_kind(RPC_HOLD_CPU, file, err, errlen) ? 0 : -1;
}

static int op_cpu_stop(void *ctx, char *err, size_t errlen)
{
	(void)ctx;
	return stop_kind(RPC_HOLD_CPU, err, errlen);
}

static int op_cpu_profile(void *ctx, const char *file, uint64_t secs, char *err, size_t errlen)
{
	(void)ctx;
	return wait_for(RPC_HOLD_CPU, file, secs, err, errlen);
}

/* runtime.MemStats as geth's debug_memStats encodes it: every field, in
 * Go's order. Those with a native meaning come from glibc's allocator
 * (core/prof/mem.h); the garbage collector's, the goroutine stacks' and
 * the counts of calls (Mallocs, Frees, TotalAlloc, Lookups, HeapObjects:
 * glibc keeps none) are 0. */
static int op_mem_stats(void *ctx, struct gb *o, char *err, size_t errlen)
{
	struct gt_mem_stats m;

	(void)ctx;
	(void)err;
	(void)errlen;
	gt_mem_stats(&m);
	gb_printf(o, "{\"Alloc\":%llu,\"TotalAlloc\":0,\"Sys\":%llu,\"Lookups\":0,"
		  "\"Mallocs\":0,\"Frees\":0,\"HeapAlloc\":%llu,\"HeapSys\":%llu,"
		  "\"HeapIdle\":%llu,\"HeapInuse\":%llu,\"HeapReleased\":0,\"HeapObjects\":0,",
		  (unsigned long long)m.heap_inuse, (unsigned long long)m.heap_sys,
		  (unsigned long long)m.heap_inuse, (unsigned long long)m.heap_sys,
		  (unsigned long long)m.heap_idle, (unsigned long long)m.heap_inuse);
	gb_puts(o, "\"StackInuse\":0,\"StackSys\":0,\"MSpanInuse\":0,\"MSpanSys\":0,"
		"\"MCacheInuse\":0,\"MCacheSys\":0,\"BuckHashSys\":0,\"GCSys\":0,"
		"\"OtherSys\":0,\"NextGC\":0,\"LastGC\":0,\"PauseTotalNs\":0,\"PauseNs\":[");
	for (int i = 0; i < 256; i++)
		gb_puts(o, i ? ",0" : "0");
	gb_puts(o, "],\"PauseEnd\":[");
	for (int i = 0; i < 256; i++)
		gb_puts(o, i ? ",0" : "0");
	gb_puts(o, "],\"NumGC\":0,\"NumForcedGC\":0,\"GCCPUFraction\":0,\"EnableGC\":false,"
		"\"DebugGC\":false,\"BySize\":[");
	for (int i = 0; i < 61; i++)
		gb_puts(o, i ? ",{\"Size\":0,\"Mallocs\":0,\"Frees\":0}"
			: "{\"Size\":0,\"Mallocs\":0,\"Frees\":0}");
	gb_puts(o, "]}");
	return 0;
}

static int op_free_os_memory(void *ctx, char *err, size_t errlen)
{
	(void)ctx;
	(void)err;
	(void)errlen;
	gt_mem_free_os();
	return 0;
}

static int op_prof_rate(void *ctx, int which, int64_t rate, char *err, size_t errlen)
{
	(void)ctx;
	return gt_prof_set_rate((unsigned)which, rate, err, errlen);
}

static int op_prof_write(void *ctx, int which, const char *file, char *err, size_t errlen)
{
	char path[GT_PATH_MAX];

	(void)ctx;
	expand(file, path, sizeof(path));
	if (which == 2 ? gt_prof_mem_write(path, err, errlen)
		       : gt_prof_write_counts((unsigned)which, path, err, errlen)) {
		fix_case(err);
		return -1;
	}
	return 0;
}

static int op_prof_window(void *ctx, int which, const char *file, uint64_t secs, char *err,
			  size_t errlen)
{
	(void)ctx;
	return wait_for(which ? RPC_HOLD_MUTEX : RPC_HOLD_BLOCK, file, secs, err, errlen);
}

/* geth's Stacks(filter): the dump, or the blocks the filter keeps. */
static int op_stacks(void *ctx, const char *filter, struct gb *o, char *err, size_t errlen)
{
	size_t n;
	char *d = gt_stacks_dump(&n, err, errlen);

	(void)ctx;
	if (!d)
		return -1;
	if (filter) {
		struct gb f = { 0 };
		rpc_filter_stacks(filter, d, n, &f, err, errlen);   /* checked already */
		gb_jstr(o, f.p ? f.p : "", f.len);
		gb_free(&f);
	} else {
		gb_jstr(o, d, n);
	}
	gt_free(d);
	return 0;
}

const struct rpc_ops gt_rpc_methods = {
	NULL, op_start, op_stop, op_go_trace, op_cpu_start, op_cpu_stop, op_cpu_profile,
	op_mem_stats, op_free_os_memory, op_prof_rate, op_prof_write, op_prof_window, op_stacks
};

void gt_rpc_hold(struct conn *c, struct gb *head, struct rpc_held *held)
{
	struct reply *r = calloc(1, sizeof(*r));

	if (!r) {   /* the trace or profile still ends in time; nobody is told */
		gb_free(head);
		rpc_held_free(held);
		return;
	}
	r->conn = c;
	r->head = *head;
	r->held = *held;
	r->pending = held->active;
	for (int i = 0; i < held->active; i++) {
		waits[held->kind[i]].r = r;
		waits[held->kind[i]].item = i;
	}
}

static void reply_free(struct reply *r)
{
	gb_free(&r->head);
	rpc_held_free(&r->held);
	for (int i = 0; i < RPC_HOLDS; i++)
		free(r->err[i]);
	free(r);
}

/* Wait k is over: stop what it started, if still running, and answer. */
static void finish(int k)
{
	struct wait w = waits[k];
	char err[512];
	const char *e = NULL;

	memset(&waits[k], 0, sizeof(waits[k]));
	if (kinds[k].session() == w.session && kinds[k].stop(err, sizeof(err))) {
		gt_log("%s", err);   /* on the program's stderr too */
		fix_case(err);
		e = err;
	}
	if (!w.r)
		return;
	if (e)
		w.r->err[w.item] = strdup(e);
	if (--w.r->pending)
		return;
	if (w.r->conn) {
		struct gb body = w.r->head;
		memset(&w.r->head, 0, sizeof(w.r->head));
		rpc_reply_held_each(&w.r->held, (const char *const *)w.r->err, &body);
		gt_rpc_send(w.r->conn, &body);
		gb_free(&body);
	}
	reply_free(w.r);
}

uint64_t gt_rpc_waits_next(void)
{
	uint64_t next = UINT64_MAX;

	for (int k = 0; k < RPC_HOLDS; k++)
		if (waits[k].session && waits[k].deadline < next)
			next = waits[k].deadline;
	return next;
}

int gt_rpc_waits_any(void)
{
	for (int k = 0; k < RPC_HOLDS; k++)
		if (waits[k].session)
			return 1;
	return 0;
}

void gt_rpc_waits_check(uint64_t now)
{
	for (int k = 0; k < RPC_HOLDS; k++) {
		uint64_t cur = kinds[k].session();
		if (waits[k].session && (cur != waits[k].session || now >= waits[k].deadline))
			finish(k);
	}
}

int gt_rpc_waiting(const struct conn *c)
{
	for (int k = 0; k < RPC_HOLDS; k++)
		if (waits[k].r && waits[k].r->conn == c)
			return 1;
	return 0;
}

void gt_rpc_conn_gone(const struct conn *c)
{
	for (int k = 0; k < RPC_HOLDS; k++)
		if (waits[k].r && waits[k].r->conn == c)
			waits[k].r->conn = NULL;
}

void gt_rpc_waits_reset(void)
{
	memset(waits, 0, sizeof(waits));
}
