/* rpc/proto/filter.c - debug_stacks' filter, as geth's: a boolean
 * expression of words (runs of [:/.A-Za-z0-9_-]) joined by &&, || and !,
 * with parentheses; a word is true of a stack block that contains it. geth
 * rewrites the expression for go-bexpr, which has no parenthesised "!";
 * this reads any such expression. */
#include "rpc/proto/filter.h"

#include <stdio.h>
#include <string.h>

struct ev {
	const char *s;        /* the expression, at the next token */
	const char *block;    /* the text a word is looked for in */
	size_t len;
	char *err;
	size_t errlen;
	int bad, depth;
};

static int word_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == ':' || c == '/' || c == '.' || c == '_' || c == '-';
}

static void skip(struct ev *e)
{
	while (*e->s == ' ' || *e->s == '\t')
		e->s++;
}

static void fail(struct ev *e, const char *what)
{
	if (!e->bad && *e->s)
		snprintf(e->err, e->errlen, "invalid filter: %s at \"%.20s\"", what, e->s);
	else if (!e->bad)
		snprintf(e->err, e->errlen, "invalid filter: %s at its end", what);
	e->bad = 1;
}

static int contains(const struct ev *e, const char *w, size_t n)
{
	if (n > e->len)
		return 0;
	for (size_t i = 0; i + n <= e->len; i++)
		if (e->block[i] == w[0] && !memcmp(e->block + i, w, n))
			return 1;
	return 0;
}

static int or_expr(struct ev *e);

static int unary(struct ev *e)
{
	skip(e);
	if (e->bad)
		return 0;
	if (*e->s == '!') {
		e->s++;
		return !unary(e);
	}
	if (*e->s == '(') {
		if (++e->depth > 100) {
			fail(e, "too deeply nested");
			return 0;
		}
		e->s++;
		int v = or_expr(e);
		skip(e);
		if (*e->s != ')') {
			fail(e, "expected )");
			return 0;
		}
		e->s++;
		e->depth--;
		return v;
	}
	const char *w = e->s;
	while (word_char(*e->s))
		e->s++;
	if (e->s == w) {
		fail(e, "expected a word");
		return 0;
	}
	return contains(e, w, (size_t)(e->s - w));
}

static int and_expr(struct ev *e)
{
	int v = unary(e);

	for (skip(e); !e->bad && e->s[0] == '&' && e->s[1] == '&'; skip(e)) {
		e->s += 2;
		v &= unary(e);
	}
	return v;
}

static int or_expr(struct ev *e)
{
	int v = and_expr(e);

	for (skip(e); !e->bad && e->s[0] == '|' && e->s[1] == '|'; skip(e)) {
		e->s += 2;
		v |= and_expr(e);
	}
	return v;
}

static int eval(const char *expr, const char *block, size_t len, char *err, size_t errlen)
{
	struct ev e = { expr, block, len, err, errlen, 0, 0 };
	int v = or_expr(&e);

	skip(&e);
	if (!e.bad && *e.s)
		fail(&e, "unexpected text");
	return e.bad ? -1 : v;
}

int rpc_filter_check(const char *expr, char *err, size_t errlen)
{
	return eval(expr, "", 0, err, errlen) < 0 ? -1 : 0;
}

int rpc_filter_stacks(const char *expr, const char *dump, size_t n, struct gb *out, char *err,
		      size_t errlen)
{
	if (rpc_filter_check(expr, err, errlen))
		return -1;
	/* Blocks are separated by an empty line, as geth splits Go's dump. */
	for (size_t i = 0; i < n;) {
		const char *end = dump + i;
		size_t k = i;
		while (k < n && !(dump[k] == '\n' && k + 1 < n && dump[k + 1] == '\n'))
			k++;
		end = dump + k;
		size_t len = (size_t)(end - (dump + i));
		if (len && eval(expr, dump + i, len, err, errlen) > 0) {
			gb_put(out, dump + i, len);
			gb_puts(out, "\n\n");
		}
		i = k + 2;
	}
	return 0;
}
