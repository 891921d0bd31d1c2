/* rpc/proto/framing.h - requests out of a byte stream and replies back into it,
 * for one connection: either a stream of JSON values (geth's IPC: socat,
 * nc -U) or HTTP/1.1 (curl), told apart by the first byte (a JSON text
 * never starts with an upper-case letter; a request line always does). No
 * I/O here: bytes in, bytes to send out, so tests and the fuzz target drive
 * it directly. Not thread-safe; one owner per connection. */
#ifndef GT_RPC_FRAMING_H
#define GT_RPC_FRAMING_H

#include <stddef.h>

#include "rpc/proto/json.h"

#define RPC_MAX_REQUEST (1u << 20)   /* body or JSON value */
#define RPC_MAX_HEADER 16384

enum rpc_mode { RPC_UNKNOWN, RPC_STREAM, RPC_HTTP };

struct rpc_conn {
	/* One complete request body; it replies with rpc_conn_reply, now or
	 * later (then it sets waiting until it does). */
	void (*handle)(struct rpc_conn *rc, const char *s, size_t n);
	struct gb in, out;      /* unparsed input; output not yet sent */
	struct gj_scan scan;    /* stream: how far in's first value was scanned */
	int mode;
	int eof;                /* the peer shut down its writing side */
	int closing;            /* close once out is sent; read no more */
	int dead;               /* the socket failed: drop everything */
	int waiting;            /* a reply is held: HTTP reads no further */
	int keep;               /* HTTP: keep-alive after this response */
	int continued;          /* HTTP: "100 Continue" sent for this request */
	/* HTTP policy, as geth's HTTP server (set by the server; NULL: not
	 * checked): Host names served besides IP literals (vhosts), and
	 * Origins (cors); comma-separated lists, "*" for any. */
	const char *vhosts, *cors;
	char allow_origin[256]; /* the request's Origin, allowed: echoed back */
};

/* Feed n bytes (n = 0 with eof set: the peer is done sending). Complete
 * requests go to handle; framing errors are answered (HTTP status, or a
 * -32700/-32600 reply) and may set closing. */
void rpc_conn_input(struct rpc_conn *rc, const char *data, size_t n);
/* The reply text for the request handle was given (empty: nothing for a
 * stream; an empty 200 for HTTP). Then parsing resumes if it was waiting. */
void rpc_conn_reply(struct rpc_conn *rc, const struct gb *body);
void rpc_conn_free(struct rpc_conn *rc);

#endif
