/* rpc/proto/framing.c - stream and HTTP/1.1 framing (see framing.h). */
#include "rpc/proto/framing.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rpc/proto/proto.h"

static void process(struct rpc_conn *rc);

/* "Access-Control-Allow-Origin: ..." for a request whose Origin is
 * allowed, else "". */
static void cors_header(struct rpc_conn *rc)
{
	if (rc->allow_origin[0])
		gb_printf(&rc->out, "Access-Control-Allow-Origin: %s\r\nVary: Origin\r\n",
			  rc->allow_origin);
}

static void http_status(struct rpc_conn *rc, int code, const char *reason,
			const char *msg, int close)
{
	size_t l = strlen(msg);

	if (close)
		rc->keep = 0;
	gb_printf(&rc->out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		  "Content-Length: %zu\r\n", code, reason, l + 1);
	cors_header(rc);
	gb_printf(&rc->out, "%s\r\n", rc->keep ? "" : "Connection: close\r\n");
	gb_put(&rc->out, msg, l);
	gb_put(&rc->out, "\n", 1);
	if (!rc->keep)
		rc->closing = 1;
}

void rpc_conn_reply(struct rpc_conn *rc, const struct gb *body)
{
	const char *p = body->p ? body->p : "";

	if (rc->mode == RPC_HTTP) {
		gb_printf(&rc->out, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			  "Content-Length: %zu\r\n", body->len);
		cors_header(rc);
		gb_printf(&rc->out, "%s\r\n", rc->keep ? "" : "Connection: close\r\n");
		if (!rc->keep)
			rc->closing = 1;
	}
	gb_put(&rc->out, p, body->len);
	if (rc->waiting) {
		rc->waiting = 0;
		process(rc);
	}
}

/* Case-insensitive header lookup in the block [h, end): value into out. */
static int header(const char *h, const char *end, const char *name, char *out, size_t size)
{
	size_t nl = strlen(name);

	for (const char *line = h; line < end;) {
		const char *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			eol = end;
		if ((size_t)(eol - line) > nl && !strncasecmp(line, name, nl) && line[nl] == ':') {
			const char *v = line + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = eol;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			size_t l = (size_t)(ve - v) < size - 1 ? (size_t)(ve - v) : size - 1;
			memcpy(out, v, l);
			out[l] = '\0';
			return 1;
		}
		line = eol + 1;
	}
	return 0;
}

static int json_type(const char *ct)
{
	/* As geth: application/json and its aliases, nothing else. A form's
	 * types (x-www-form-urlencoded, multipart/form-data, text/plain) are
	 * what a web page may POST without a CORS preflight. */
	static const char *ok[] = { "application/json", "application/json-rpc",
				    "application/jsonrequest", NULL };
	size_t l = strcspn(ct, "; \t");

	for (int i = 0; ok[i]; i++)
		if (strlen(ok[i]) == l && !strncasecmp(ct, ok[i], l))
			return 1;
	return 0;
}

/* Is [s, s+n) one of list's comma-separated items (case-insensitive), or
 * is "*" one of them? */
static int listed(const char *list, const char *s, size_t n)
{
	while (*list) {
		list += strspn(list, " ,");
		size_t l = strcspn(list, ",");
		size_t t = l;
		while (t && list[t - 1] == ' ')
			t--;
		if ((t == 1 && *list == '*') || (t && t == n && !strncasecmp(list, s, n)))
			return 1;
		list += l;
	}
	return 0;
}

/* geth's virtual host check: no Host, or an IP literal, is served (a DNS
 * rebinding attack needs a name); a name only if listed. */
static int host_ok(const char *vhosts, const char *host)
{
	const char *h = host, *e;
	char ip[64];

	if (!*host)
		return 1;
	if (*h == '[') {   /* [v6]:port */
		e = strchr(h, ']');
		return e != NULL;
	}
	e = strrchr(h, ':');
	size_t n = e ? (size_t)(e - h) : strlen(h);
	if (n < sizeof(ip)) {
		unsigned char a[16];
		memcpy(ip, h, n);
		ip[n] = '\0';
		if (inet_pton(AF_INET, ip, a) == 1)
			return 1;
	}
	return listed(vhosts, h, n);
}

/* Origin, Host, preflight: 0 to serve the request; else it was answered. */
static int http_policy(struct rpc_conn *rc, const char *method, const char *h, const char *end)
{
	char v[256];

	rc->allow_origin[0] = '\0';
	if (rc->vhosts && header(h, end, "Host", v, sizeof(v)) && !host_ok(rc->vhosts, v)) {
		http_status(rc, 403, "Forbidden", "invalid host specified", 0);
		return 1;
	}
	if (header(h, end, "Origin", v, sizeof(v))) {
		if (!rc->cors || !listed(rc->cors, v, strlen(v))) {
			http_status(rc, 403, "Forbidden",
				    "origin not allowed (GOTRACE_HTTP_CORS)", 0);
			return 1;
		}
		snprintf(rc->allow_origin, sizeof(rc->allow_origin), "%s",
			 strcspn(v, "\r\n") == strlen(v) ? v : "null");
	}
	if (!strcmp(method, "OPTIONS") && rc->allow_origin[0]) {   /* a CORS preflight */
		gb_printf(&rc->out, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n"
			  "Access-Control-Allow-Methods: POST, GET\r\n"
			  "Access-Control-Allow-Headers: Content-Type\r\n"
			  "Access-Control-Max-Age: 600\r\n");
		cors_header(rc);
		gb_printf(&rc->out, "%s\r\n", rc->keep ? "" : "Connection: close\r\n");
		if (!rc->keep)
			rc->closing = 1;
		return 1;
	}
	return 0;
}

/* The end of s[0, n)'s header block, past its blank line, or NULL. Lines
 * end in CRLF or, as Go's net/http also takes, a bare LF. */
static const char *head_end(const char *s, size_t n)
{
	const char *e = s + n;

	for (const char *p = s; p < e && (p = memchr(p, '\n', (size_t)(e - p))); p++) {
		if (p + 1 < e && p[1] == '\n')
			return p + 2;
		if (p + 2 < e && p[1] == '\r' && p[2] == '\n')
			return p + 3;
	}
	return NULL;
}

/* One HTTP request from in, if complete. 1: go on; 0: wait for bytes. */
static int http_one(struct rpc_conn *rc)
{
	char *s = rc->in.p, v[256], method[16], version[16];
	const char *end = rc->in.len ? head_end(s, rc->in.len) : NULL;
	size_t hlen, clen = 0;

	/* (A NUL in the header is malformed; in the body, JSON's to refuse.
	 * The body is not scanned again at each arrival of a slow client.) */
	if (!end || memchr(s, '\0', (size_t)(end - s))) {
		if (end || rc->in.len > RPC_MAX_HEADER ||
		    (rc->in.len && memchr(s, '\0', rc->in.len)))
			http_status(rc, 431, "Request Header Fields Too Large",
				    "request header too large or malformed", 1);
		else if (rc->eof)
			rc->closing = 1;
		return 0;
	}
	hlen = (size_t)(end - s);
	const char *eol = memchr(s, '\n', hlen);
	if (sscanf(s, "%15s %*s %15s", method, version) != 2 ||
	    strncmp(version, "HTTP/1.", 7) || (size_t)(eol - s) > 8192) {
		http_status(rc, 400, "Bad Request", "malformed request line", 1);
		return 0;
	}
	eol++;   /* the headers' first line */
	int conn = header(eol, end, "Connection", v, sizeof(v));
	rc->keep = strcmp(version, "HTTP/1.0") ? !(conn && strcasestr(v, "close"))
					       : conn && strcasestr(v, "keep-alive");
	if (header(eol, end, "Transfer-Encoding", v, sizeof(v)) &&
	    strcasecmp(v, "identity")) {
		http_status(rc, 411, "Length Required",
			    "transfer-encoding is not supported: send Content-Length", 1);
		return 0;
	}
	if (header(eol, end, "Content-Length", v, sizeof(v))) {
		char *e;
		unsigned long long x = strtoull(v, &e, 10);
		if (*e || !*v || v[0] == '-') {
			http_status(rc, 400, "Bad Request", "bad Content-Length", 1);
			return 0;
		}
		if (x > RPC_MAX_REQUEST) {
			char m[96];
			snprintf(m, sizeof(m), "content length too large (%llu>%u)", x,
				 RPC_MAX_REQUEST);
			http_status(rc, 413, "Request Entity Too Large", m, 1);
			return 0;
		}
		clen = (size_t)x;
	}
	if (rc->in.len < hlen + clen) {
		if (!rc->continued && header(eol, end, "Expect", v, sizeof(v)) &&
		    !strcasecmp(v, "100-continue")) {
			gb_puts(&rc->out, "HTTP/1.1 100 Continue\r\n\r\n");
			rc->continued = 1;
		}
		if (rc->eof)
			rc->closing = 1;
		return 0;
	}
	rc->continued = 0;
	/* The request is complete: take it out of in before handling it. */
	struct gb req = { 0 };
	gb_put(&req, s, hlen + clen);
	gb_consume(&rc->in, hlen + clen);
	int has_ct = header(req.p, req.p + hlen, "Content-Type", v, sizeof(v));
	if (http_policy(rc, method, req.p, req.p + hlen)) {
		/* answered: forbidden, or a preflight */
	} else if (!strcmp(method, "POST") || (!strcmp(method, "GET") && clen)) {
		/* (geth serves a GET with a body as a call; PUT and DELETE get 405) */
		if (!has_ct || !json_type(v)) {
			http_status(rc, 415, "Unsupported Media Type",
				    "invalid content type, only application/json is supported", 0);
		} else if (req.oom) {
			http_status(rc, 503, "Service Unavailable", "out of memory", 1);
		} else {
			rc->handle(rc, req.p + hlen, clen);
		}
	} else if ((!strcmp(method, "GET") || !strcmp(method, "HEAD")) && !clen) {
		struct gb empty = { 0 };
		rpc_conn_reply(rc, &empty);   /* a health check, as geth answers it */
	} else {
		http_status(rc, 405, "Method Not Allowed", "method not allowed", 0);
	}
	gb_free(&req);
	return !rc->closing && !rc->waiting;
}

static int stream_one(struct rpc_conn *rc)
{
	long k = gj_frame_at(rc->in.p, rc->in.len, rc->eof, &rc->scan);

	if (k < 0) {
		gb_consume(&rc->in, rc->in.len);
		if (rc->eof)
			rc->closing = 1;
		return 0;
	}
	if (k == 0) {
		if (rc->in.len > RPC_MAX_REQUEST) {
			char m[80];
			snprintf(m, sizeof(m), "request too large (max %u bytes)", RPC_MAX_REQUEST);
			rpc_error_reply(&rc->out, RPC_INVALID_REQUEST, m);
			rc->closing = 1;
			return 0;
		}
		if (!rc->eof)
			return 0;
		k = (long)rc->in.len;   /* cut short by the end of the stream */
		rc->scan = (struct gj_scan){ 0 };
	}
	struct gb req = { 0 };
	gb_put(&req, rc->in.p, (size_t)k);
	gb_consume(&rc->in, (size_t)k);
	if (req.oom)
		rpc_error_reply(&rc->out, RPC_SERVER_ERROR, "out of memory");
	else
		rc->handle(rc, req.p, req.len);
	gb_free(&req);
	return 1;
}

static void process(struct rpc_conn *rc)
{
	while (!rc->closing && !rc->dead && rc->in.len) {
		if (rc->mode == RPC_UNKNOWN) {
			size_t i = 0;
			while (i < rc->in.len && strchr(" \t\r\n", rc->in.p[i]) && rc->in.p[i])
				i++;
			if (i == rc->in.len)
				break;
			rc->mode = rc->in.p[i] >= 'A' && rc->in.p[i] <= 'Z' ? RPC_HTTP : RPC_STREAM;
		}
		if (!(rc->mode == RPC_HTTP ? (rc->waiting ? 0 : http_one(rc)) : stream_one(rc)))
			break;
	}
	if (rc->eof && !rc->in.len && !rc->waiting)
		rc->closing = 1;
}

void rpc_conn_input(struct rpc_conn *rc, const char *data, size_t n)
{
	if (n)
		gb_put(&rc->in, data, n);
	if (rc->in.oom) {
		rc->dead = 1;
		return;
	}
	process(rc);
}

void rpc_conn_free(struct rpc_conn *rc)
{
	gb_free(&rc->in);
	gb_free(&rc->out);
}
