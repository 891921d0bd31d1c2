/* rpc/proto/jsonout.c - the JSON writer: a growing buffer (struct gb) and
 * what goes into it (see json.h). */
#include "rpc/proto/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for n more bytes and the NUL: 0, or -1 (oom set). */
static int room(struct gb *b, size_t n)
{
	if (b->oom)
		return -1;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return -1;
		}
		b->p = p;
		b->cap = cap;
	}
	return 0;
}

void gb_put(struct gb *b, const void *s, size_t n)
{
	if (room(b, n))
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void gb_puts(struct gb *b, const char *s)
{
	gb_put(b, s, strlen(s));
}

void gb_printf(struct gb *b, const char *fmt, ...)
{
	char tmp[1024];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n <= 0)
		return;
	if ((size_t)n < sizeof(tmp)) {
		gb_put(b, tmp, (size_t)n);
		return;
	}
	/* Longer (a path, a method's name): written again, in place. It was
	 * cut at 1023 bytes. */
	if (room(b, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/* The length of the valid UTF-8 sequence at s (n bytes left), or 0: a
 * lead byte without its continuation bytes, an overlong form, a
 * surrogate or a code point past U+10FFFF. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char c = s[0];
	size_t len = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 :
		     c >= 0xf0 && c <= 0xf4 ? 4 : 0;

	if (!len || len > n)
		return 0;
	unsigned char lo = c == 0xe0 ? 0xa0 : c == 0xf0 ? 0x90 : 0x80;
	unsigned char hi = c == 0xed ? 0x9f : c == 0xf4 ? 0x8f : 0xbf;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t k = 2; k < len; k++)
		if (s[k] < 0x80 || s[k] > 0xbf)
			return 0;
	return len;
}

/* A JSON string: escapes as RFC 8259 asks, and a byte that is not part
 * of valid UTF-8 (a command line's, a path's) as U+FFFD, so that the
 * text stays JSON every parser reads. */
void gb_jstr(struct gb *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	gb_put(b, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x80) {
			size_t len = utf8_len((const unsigned char *)s + i, n - i);
			if (len) {
				i += len - 1;
				continue;
			}
			gb_put(b, s + run, i - run);
			run = i + 1;
			gb_put(b, "\\ufffd", 6);
			continue;
		}
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		gb_put(b, s + run, i - run);
		run = i + 1;
		char e[6] = { '\\', (char)c, 0 };
		size_t el = 2;
		if (c == '\n')
			e[1] = 'n';
		else if (c == '\t')
			e[1] = 't';
		else if (c == '\r')
			e[1] = 'r';
		else if (c < 0x20) {
			memcpy(e, "\\u00", 4);
			e[4] = hex[c >> 4];
			e[5] = hex[c & 15];
			el = 6;
		}
		gb_put(b, e, el);
	}
	gb_put(b, s + run, n - run);
	gb_put(b, "\"", 1);
}

void gb_consume(struct gb *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
	} else {
		memmove(b->p, b->p + n, b->len - n);
		b->len -= n;
	}
	if (b->p)
		b->p[b->len] = '\0';
}

void gb_free(struct gb *b)
{
	free(b->p);
	memset(b, 0, sizeof(*b));
}
