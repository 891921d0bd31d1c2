/* rpc/proto/proto.h - JSON-RPC 2.0 with the go-ethereum debug API's trace,
 * CPU profile and memory methods and rpc_modules:
 * one JSON text (a request or a batch) in, the reply text out. No sockets
 * and no state of its own, so unit tests and the fuzz target drive it with
 * their own ops. Replies and error messages are byte for byte geth's. */
#ifndef GT_RPC_PROTO_H
#define GT_RPC_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "rpc/proto/json.h"

#define RPC_PARSE_ERROR      -32700
#define RPC_INVALID_REQUEST  -32600
#define RPC_METHOD_NOT_FOUND -32601
#define RPC_INVALID_PARAMS   -32602
#define RPC_SERVER_ERROR     -32000

#define RPC_MAX_BATCH 1000
/* geth's batchResponseMaxSize: a batch's results past it, and the calls
 * after, are answered -32003 "response too large" (1000 debug_stacks of a
 * program of 200 threads made 55 MB, held by the program). */
#define RPC_MAX_BATCH_RESPONSE 25000000u
#define RPC_RESPONSE_TOO_LARGE -32003

/* rpc_modules' result, as geth answers it: the modules served, each at
 * version "1.0" (`geth attach` lists them; keys in Go's sorted order). */
#define RPC_MODULES "{\"debug\":\"1.0\",\"rpc\":\"1.0\"}"

/* What the methods do. Each returns 0, or -1 with err filled (the -32000
 * message). go_trace starts a trace that ends by itself after secs, and
 * cpu_profile a CPU profile (debug_cpuProfile): on 0 the reply to a call
 * is held until it ends (rpc_reply_held). The debug_*CPUProfile methods
 * are not served (-32601) where cpu_start is NULL. */
struct rpc_ops {
	void *ctx;
	int (*start)(void *ctx, const char *path, char *err, size_t errlen);
	int (*stop)(void *ctx, char *err, size_t errlen);
	int (*go_trace)(void *ctx, const char *path, uint64_t secs, char *err, size_t errlen);
	int (*cpu_start)(void *ctx, const char *path, char *err, size_t errlen);
	int (*cpu_stop)(void *ctx, char *err, size_t errlen);
	int (*cpu_profile)(void *ctx, const char *path, uint64_t secs, char *err, size_t errlen);
	/* debug_memStats: its result, a JSON object, appended to out;
	 * debug_freeOSMemory (result null). Not served where NULL. */
	int (*mem_stats)(void *ctx, struct gb *out, char *err, size_t errlen);
	int (*free_os_memory)(void *ctx, char *err, size_t errlen);
	/* The block (which 0), mutex (1) and heap (2) profiles, served where
	 * prof_rate is not NULL: debug_setBlockProfileRate /
	 * SetMutexProfileFraction, debug_writeBlockProfile / writeMutexProfile
	 * / writeMemProfile (the counts so far),
	 * and debug_blockProfile / mutexProfile: a window of secs at rate 1,
	 * its reply held as go_trace's (the file is written at its end). */
	int (*prof_rate)(void *ctx, int which, int64_t rate, char *err, size_t errlen);
	int (*prof_write)(void *ctx, int which, const char *path, char *err, size_t errlen);
	int (*prof_window)(void *ctx, int which, const char *path, uint64_t secs, char *err,
			   size_t errlen);
	/* debug_stacks(filter): the dump as a JSON string appended to out
	 * (filter NULL: none; else checked already). Not served where NULL. */
	int (*stacks)(void *ctx, const char *filter, struct gb *out, char *err, size_t errlen);
};

/* The methods that hold their reply; one of each at a time (one trace,
 * one CPU profile per process), so a batch holds at most RPC_HOLDS. */
enum { RPC_HOLD_TRACE, RPC_HOLD_CPU, RPC_HOLD_BLOCK, RPC_HOLD_MUTEX, RPC_HOLDS };

/* A reply waiting for debug_goTrace and/or debug_cpuProfile: head, then
 * each held item followed by the reply text after it. */
struct rpc_held {
	int active;                  /* items held, 0 .. RPC_HOLDS */
	int kind[RPC_HOLDS];         /* item i's RPC_HOLD_* */
	struct gb id[RPC_HOLDS];     /* item i's id, raw JSON */
	struct gb tail[RPC_HOLDS];   /* reply text after item i */
};

/* Handle one JSON text s[0..n): the reply (with its final newline, or
 * nothing when every request was a notification) is appended to out. If a
 * debug_goTrace call holds its reply, held->active is set: out then holds
 * only the text before it; finish with rpc_reply_held. */
void rpc_handle(const struct rpc_ops *ops, const char *s, size_t n, struct gb *out,
		struct rpc_held *held);

/* Complete a held reply into out: item i's result is null when err[i]
 * (or err) is NULL, else a -32000 error with that message. Frees held's
 * buffers. */
void rpc_reply_held_each(struct rpc_held *held, const char *const err[RPC_HOLDS],
			 struct gb *out);
void rpc_reply_held(struct rpc_held *held, const char *err, struct gb *out);
/* Free a held reply never completed. */
void rpc_held_free(struct rpc_held *held);

/* One error reply, as for a request that could not be read at all
 * (id null). */
void rpc_error_reply(struct gb *out, int code, const char *msg);

#endif
