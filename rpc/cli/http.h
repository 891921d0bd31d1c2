/* rpc/cli/http.h - the client's HTTP transport, for `gotrace attach
 * http://127.0.0.1:8551` as `geth attach http://...`: a loopback http://
 * URL (the endpoint's GOTRACE_HTTP), one JSON-RPC POST per connection
 * (HTTP/1.1, Connection: close), the reply's body. https and hosts off this
 * machine are refused: the endpoint serves plain HTTP on loopback only, and
 * no name is looked up. No state; used by the `gotrace` command only. */
#ifndef GT_RPC_HTTP_H
#define GT_RPC_HTTP_H

#include <stddef.h>
#include <sys/socket.h>

#include "rpc/proto/json.h"

struct gt_url {
	struct sockaddr_storage ss;   /* the loopback address and port */
	socklen_t len;
	char host[160];               /* the Host header: host[:port] as written */
	char path[1024];              /* "/" when the URL has none */
};

/* Is target a URL ("scheme://...") rather than a PID or a socket path? */
int gt_http_is_url(const char *target);

/* Parse "http://HOST[:PORT][/PATH]" (HOST: 127.0.0.0/8, localhost, [::1];
 * PORT 80 by default): 0, or -1 with err saying what is wrong (https, another
 * scheme, a host not on loopback, a bad port, user info). */
int gt_http_parse(const char *url, struct gt_url *u, char *err, size_t errlen);

/* Connect to u (blocking, close-on-exec): fd, or -1 with err naming url
 * (a refused connection: is the program running with GOTRACE_HTTP?). */
int gt_http_connect(const struct gt_url *u, const char *url, char *err, size_t errlen);

/* The POST of body[0..n) to u, Content-Type: application/json, into out. */
void gt_http_request(struct gb *out, const struct gt_url *u, const char *body, size_t n);

/* Is in[0..n) a complete response (eof: the server closed)? 0: not yet;
 * 1: status 200, its body is in[*off .. *off + *len); -1: another status
 * or a malformed response, err says which (with the server's text). */
int gt_http_response(const char *in, size_t n, int eof, size_t *off, size_t *len,
		     char *err, size_t errlen);

#endif
