/* rpc/cli/http.c - see http.h. */
#include "rpc/cli/http.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "rpc/proto/endpoint.h"

int gt_http_is_url(const char *target)
{
	const char *c = strstr(target, "://");

	if (!c || c == target || !isalpha((unsigned char)target[0]))
		return 0;
	for (const char *p = target; p < c; p++)   /* RFC 3986's scheme characters */
		if (!isalnum((unsigned char)*p) && *p != '+' && *p != '-' && *p != '.')
			return 0;
	return 1;
}

int gt_http_parse(const char *url, struct gt_url *u, char *err, size_t errlen)
{
	const char *c = strstr(url, "://"), *a, *ae, *hs, *he, *port = NULL;
	char host[128];

	memset(u, 0, sizeof(*u));
	if (!gt_http_is_url(url)) {
		snprintf(err, errlen, "%s: not a URL (want http://HOST:PORT)", url);
		return -1;
	}
	if (c - url == 5 && !strncasecmp(url, "https", 5)) {
		snprintf(err, errlen, "%s: https is not supported: the endpoint serves plain HTTP "
			 "on loopback only (GOTRACE_HTTP); use http://", url);
		return -1;
	}
	if (c - url != 4 || strncasecmp(url, "http", 4)) {
		snprintf(err, errlen, "%s: %.*s:// is not supported: give http://HOST:PORT (the "
			 "endpoint's GOTRACE_HTTP), a PID or a socket path", url, (int)(c - url), url);
		return -1;
	}
	a = c + 3;
	ae = a + strcspn(a, "/?#");
	if (memchr(a, '@', (size_t)(ae - a))) {
		snprintf(err, errlen, "%s: user info in the URL is not supported", url);
		return -1;
	}
	hs = a;
	if (*a == '[') {   /* [v6]:port */
		he = memchr(a, ']', (size_t)(ae - a));
		if (!he) {
			snprintf(err, errlen, "%s: bad URL: no ']' after the IPv6 address", url);
			return -1;
		}
		he++;
		if (he < ae && *he != ':') {
			snprintf(err, errlen, "%s: bad URL: text after the IPv6 address", url);
			return -1;
		}
		port = he < ae ? he + 1 : NULL;
	} else {
		he = memchr(a, ':', (size_t)(ae - a));
		port = he ? he + 1 : NULL;
		he = he ? he : ae;
		if (port && memchr(port, ':', (size_t)(ae - port))) {
			snprintf(err, errlen, "%s: bad URL: an IPv6 address goes in brackets "
				 "(http://[::1]:PORT)", url);
			return -1;
		}
	}
	if (he == hs || (size_t)(he - hs) >= sizeof(host) ||
	    (size_t)(ae - a) >= sizeof(u->host)) {
		snprintf(err, errlen, "%s: bad URL: %s host", url, he == hs ? "no" : "too long a");
		return -1;
	}
	memcpy(host, hs, (size_t)(he - hs));
	host[he - hs] = '\0';
	long p = 80;   /* an empty port is the scheme's default, as in any URL */
	if (port && port < ae) {
		char *end;
		p = strtol(port, &end, 10);
		if (end != ae || !isdigit((unsigned char)*port) || p <= 0 || p > 65535) {
			snprintf(err, errlen, "%s: bad URL: port %.*s", url, (int)(ae - port), port);
			return -1;
		}
	}
	if (gt_ep_loopback(host, &u->ss, &u->len)) {
		snprintf(err, errlen, "%s: %s is not a loopback address (127.0.0.0/8, localhost, "
			 "[::1]): the endpoint's HTTP listens on loopback only, and gotrace sends "
			 "nothing off this machine", url, host);
		return -1;
	}
	((struct sockaddr_in *)&u->ss)->sin_port = htons((uint16_t)p);  /* same offset in v6 */
	memcpy(u->host, a, (size_t)(ae - a));
	u->host[ae - a] = '\0';
	size_t pl = strcspn(ae, "#");
	for (size_t i = 0; i < pl; i++)
		if ((unsigned char)ae[i] <= ' ' || ae[i] == 0x7f) {
			snprintf(err, errlen, "%s: bad URL: a space or control character in the "
				 "path", url);
			return -1;
		}
	if (pl + 2 > sizeof(u->path)) {
		snprintf(err, errlen, "%s: bad URL: path too long", url);
		return -1;
	}
	snprintf(u->path, sizeof(u->path), "%s%.*s", *ae == '/' ? "" : "/", (int)pl, ae);
	return 0;
}

int gt_http_connect(const struct gt_url *u, const char *url, char *err, size_t errlen)
{
	int fd = socket(u->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	while (connect(fd, (const struct sockaddr *)&u->ss, u->len)) {
		if (errno == EINTR)
			continue;
		int e = errno;
		close(fd);
		snprintf(err, errlen, "connect %s: %s%s%s%s", url, strerror(e),
			 e == ECONNREFUSED ? " (is the program running with GOTRACE_HTTP=" : "",
			 e == ECONNREFUSED ? u->host : "", e == ECONNREFUSED ? "?)" : "");
		return -1;
	}
	return fd;
}

void gt_http_request(struct gb *out, const struct gt_url *u, const char *body, size_t n)
{
	gb_printf(out, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: gotrace/%s\r\n"
		  "Content-Type: application/json\r\nAccept: application/json\r\n"
		  "Content-Length: %zu\r\nConnection: close\r\n\r\n", u->path, u->host,
		  GT_VERSION, n);
	gb_put(out, body, n);
}

/* Header name's value in the header block [h, end), into v: 1, or 0. */
static int header(const char *h, const char *end, const char *name, char *v, size_t size)
{
	size_t nl = strlen(name);

	while (h < end) {
		const char *eol = memchr(h, '\n', (size_t)(end - h));
		eol = eol ? eol : end;
		if ((size_t)(eol - h) > nl && !strncasecmp(h, name, nl) && h[nl] == ':') {
			const char *s = h + nl + 1, *e = eol;
			while (s < e && (*s == ' ' || *s == '\t'))
				s++;
			while (e > s && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
				e--;
			snprintf(v, size, "%.*s", (int)(e - s), s);
			return 1;
		}
		h = eol + 1;
	}
	return 0;
}

int gt_http_response(const char *in, size_t n, int eof, size_t *off, size_t *len,
		     char *err, size_t errlen)
{
	const char *h = in, *end = in + n;
	int status = 0;
	char v[64];

	for (;;) {   /* interim 1xx responses (100 Continue) come first */
		const char *e = n >= 4 ? memmem(h, (size_t)(end - h), "\r\n\r\n", 4) : NULL;
		if (!e) {
			if (!eof)
				return 0;
			snprintf(err, errlen, "%s", h == end ? "the connection closed before the "
				 "reply (did the program exit?)" : "a cut-short HTTP response");
			return -1;
		}
		if (sscanf(h, "HTTP/1.%*1[01] %3d", &status) != 1 || status < 100) {
			snprintf(err, errlen, "not an HTTP response: %.40s", h);
			return -1;
		}
		if (status >= 200)
			break;
		h = e + 4;
	}
	const char *hend = (const char *)memmem(h, (size_t)(end - h), "\r\n\r\n", 4) + 4;
	size_t have = (size_t)(end - hend), want = have;
	if (header(h, hend, "Transfer-Encoding", v, sizeof(v)) && strcasecmp(v, "identity")) {
		snprintf(err, errlen, "a reply in Transfer-Encoding %s: not supported", v);
		return -1;
	}
	if (header(h, hend, "Content-Length", v, sizeof(v))) {
		char *ce;
		unsigned long long cl = strtoull(v, &ce, 10);
		if (*ce || !*v || v[0] == '-' || cl > (1ull << 30)) {
			snprintf(err, errlen, "a reply with a bad Content-Length: %s", v);
			return -1;
		}
		want = (size_t)cl;
		if (have < want && !eof)
			return 0;
		if (have < want) {
			snprintf(err, errlen, "the connection closed in the middle of the reply");
			return -1;
		}
	} else if (!eof) {
		return 0;   /* no length: the body ends where the connection does */
	}
	if (status != 200) {
		const char *eol = hend;
		while (eol < hend + want && *eol != '\r' && *eol != '\n')
			eol++;
		const char *reason = h + strcspn(h, " ") + 5;   /* after "HTTP/1.1 NNN " */
		snprintf(err, errlen, "HTTP %d %.*s%s%.*s", status, (int)strcspn(reason, "\r\n"),
			 reason, eol > hend ? ": " : "", (int)(eol - hend > 300 ? 300 : eol - hend),
			 hend);
		return -1;
	}
	*off = (size_t)(hend - in);
	*len = want;
	return 1;
}
