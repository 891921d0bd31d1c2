/* rpc/proto/json.h - a strict RFC 8259 JSON parser into a flat token array (jsmn
 * style: preorder, each token knows where its subtree ends) and a growable
 * output buffer with JSON string escaping. No global state: any thread.
 * Used by the server (service thread), the client and the fuzz target. */
#ifndef GT_RPC_JSON_H
#define GT_RPC_JSON_H

#include <stddef.h>
#include <stdint.h>

enum gj_type { GJ_NULL, GJ_FALSE, GJ_TRUE, GJ_NUM, GJ_STR, GJ_ARR, GJ_OBJ };

struct gj_tok {
	uint8_t type;
	uint32_t start, end;  /* raw text [start, end); strings include quotes */
	uint32_t size;        /* array: elements; object: members */
	uint32_t next;        /* index of the token after this subtree */
};

struct gj_doc {
	const char *s;
	struct gj_tok *t;     /* malloc'd; t[0] is the root */
	uint32_t n, cap;
};

#define GJ_MAX_DEPTH 64
#define GJ_MAX_TOKENS (1u << 20)

/* Parse exactly one JSON value (whitespace around it allowed) from s[0..n).
 * 0, or -1 with err filled ("unexpected end of input at offset 12").
 * -ENOMEM-like failures are reported the same way. gj_free either way. */
int gj_parse(struct gj_doc *d, const char *s, size_t n, char *err, size_t errlen);
void gj_free(struct gj_doc *d);

/* Length of the first JSON value in s[0..n) after leading whitespace, for
 * stream framing: brackets and strings are matched, nothing else checked.
 * >0: the value ends there (leading whitespace included); 0: incomplete
 * (more bytes needed; at end of stream, what is left is one bad value);
 * -1: only whitespace. A bare scalar at the very end is incomplete unless
 * eof is set. */
long gj_frame(const char *s, size_t n, int eof);
/* The same, resumed: st (zeroed for a new value, and again by each result
 * but 0) keeps where the last call stopped, so a value sent a few bytes at
 * a time is scanned once, not from its start at each arrival (a 1 MiB
 * request in 10-byte writes took 9.3 s of the service thread). */
struct gj_scan {
	size_t pos, start;
	long depth;
	unsigned char kind, str, esc;   /* kind: 0 not begun, 1 scalar, 2 bracketed */
};
long gj_frame_at(const char *s, size_t n, int eof, struct gj_scan *st);

/* Member key of object token obj, or -1: in any ASCII case, the last given. */
int gj_get(const struct gj_doc *d, int obj, const char *key);
/* Unescape string token i into out (NUL-terminated, UTF-8). Its length, or
 * -1 when it does not fit or holds a NUL. */
long gj_str(const struct gj_doc *d, int i, char *out, size_t cap);
/* Does string token i equal lit? */
int gj_streq(const struct gj_doc *d, int i, const char *lit);
/* Number token i as an unsigned integer (no sign, fraction or exponent, fits
 * 64 bits): 0 and *v set, or -1. */
int gj_uint(const struct gj_doc *d, int i, uint64_t *v);

/* Output buffer: malloc'd, grows; after an allocation failure oom is set
 * and further output is dropped. */
struct gb {
	char *p;
	size_t len, cap;
	int oom;
};

void gb_put(struct gb *b, const void *s, size_t n);
void gb_puts(struct gb *b, const char *s);
void gb_printf(struct gb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* s[0..n) as a JSON string literal, quotes included. */
void gb_jstr(struct gb *b, const char *s, size_t n);
void gb_consume(struct gb *b, size_t n);   /* drop n bytes from the front */
void gb_free(struct gb *b);

#endif
