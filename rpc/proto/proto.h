/* rpc/proto/proto.h - JSON-RPC 2.0 with the go-ethereum debug API's trace methods
 * and rpc_modules:
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

/* rpc_modules' result, as geth answers it: the modules served, each at
 * version "1.0" (`geth attach` lists them; keys in Go's sorted order). */
#define RPC_MODULES "{\"debug\":\"1.0\",\"rpc\":\"1.0\"}"

/* What the methods do. Each returns 0, or -1 with err filled (the -32000
 * message). go_trace starts a trace that ends by itself after secs: on 0
 * the reply to a call is held until the trace ends (rpc_reply_held). */
struct rpc_ops {
	void *ctx;
	int (*start)(void *ctx, const char *path, char *err, size_t errlen);
	int (*stop)(void *ctx, char *err, size_t errlen);
	int (*go_trace)(void *ctx, const char *path, uint64_t secs, char *err, size_t errlen);
};

/* A reply waiting for debug_goTrace: head + the held item + tail. */
struct rpc_held {
	int active;
	struct gb id;     /* the call's id, raw JSON */
	struct gb tail;   /* reply text after the held item */
};

/* Handle one JSON text s[0..n): the reply (with its final newline, or
 * nothing when every request was a notification) is appended to out. If a
 * debug_goTrace call holds its reply, held->active is set: out then holds
 * only the text before it; finish with rpc_reply_held. */
void rpc_handle(const struct rpc_ops *ops, const char *s, size_t n, struct gb *out,
		struct rpc_held *held);

/* Complete a held reply into out: result null when err is NULL, else a
 * -32000 error with that message. Frees held's buffers. */
void rpc_reply_held(struct rpc_held *held, const char *err, struct gb *out);

/* One error reply, as for a request that could not be read at all
 * (id null). */
void rpc_error_reply(struct gb *out, int code, const char *msg);

#endif
