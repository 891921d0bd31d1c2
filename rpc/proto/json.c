/* rpc/proto/json.c - strict JSON parser (see json.h; the writer is jsonout.c). Recursion is
 * bounded by GJ_MAX_DEPTH, tokens by GJ_MAX_TOKENS: hostile input costs at
 * most linear time and bounded memory. */
#include "rpc/proto/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct pstate {
	struct gj_doc *d;
	const char *s;
	size_t n, i;
	const char *why;
};

static void ws(struct pstate *p)
{
	while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
			       p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

static int fail(struct pstate *p, const char *why)
{
	if (!p->why)
		p->why = p->i >= p->n ? "unexpected end of input" : why;
	return -1;
}

static long tok_new(struct pstate *p, int type)
{
	struct gj_doc *d = p->d;

	if (d->n == d->cap) {
		uint32_t cap = d->cap ? d->cap * 2 : 16;
		if (cap > GJ_MAX_TOKENS)
			return fail(p, "too many values");
		struct gj_tok *t = realloc(d->t, cap * sizeof(*t));
		if (!t)
			return fail(p, "out of memory");
		d->t = t;
		d->cap = cap;
	}
	struct gj_tok *t = &d->t[d->n];
	memset(t, 0, sizeof(*t));
	t->type = (uint8_t)type;
	t->start = (uint32_t)p->i;
	return d->n++;
}

static int lit(struct pstate *p, const char *w, int type)
{
	size_t l = strlen(w);

	if (p->n - p->i < l || memcmp(p->s + p->i, w, l))
		return fail(p, "invalid literal");
	if (tok_new(p, type) < 0)
		return -1;
	p->i += l;
	return 0;
}

static int hex4(const char *s)
{
	int v = 0;

	for (int k = 0; k < 4; k++) {
		char c = s[k];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

static int string(struct pstate *p)
{
	if (tok_new(p, GJ_STR) < 0)
		return -1;
	p->i++;   /* the opening quote */
	while (p->i < p->n) {
		unsigned char c = (unsigned char)p->s[p->i];
		if (c == '"') {
			p->i++;
			return 0;
		}
		if (c < 0x20)
			return fail(p, "control character in string");
		if (c == '\\') {
			if (p->i + 1 >= p->n)
				break;
			c = (unsigned char)p->s[p->i + 1];
			if (c == 'u') {
				if (p->n - p->i < 6 || hex4(p->s + p->i + 2) < 0)
					return fail(p, "invalid \\u escape");
				p->i += 6;
				continue;
			}
			if (!strchr("\"\\/bfnrt", c) || !c)
				return fail(p, "invalid escape");
			p->i += 2;
			continue;
		}
		p->i++;
	}
	return fail(p, "unterminated string");
}

static int digits(struct pstate *p)
{
	size_t i0 = p->i;

	while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
		p->i++;
	return p->i > i0 ? 0 : fail(p, "invalid number");
}

static int number(struct pstate *p)
{
	if (tok_new(p, GJ_NUM) < 0)
		return -1;
	if (p->s[p->i] == '-')
		p->i++;
	if (p->i < p->n && p->s[p->i] == '0')
		p->i++;
	else if (digits(p))
		return -1;
	if (p->i < p->n && p->s[p->i] == '.') {
		p->i++;
		if (digits(p))
			return -1;
	}
	if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		p->i++;
		if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		if (digits(p))
			return -1;
	}
	return 0;
}

static int value(struct pstate *p, int depth);

static int container(struct pstate *p, int depth, int obj)
{
	char close = obj ? '}' : ']';
	long me = tok_new(p, obj ? GJ_OBJ : GJ_ARR);

	if (me < 0)
		return -1;
	if (depth >= GJ_MAX_DEPTH)
		return fail(p, "nested too deeply");
	p->i++;
	ws(p);
	if (p->i < p->n && p->s[p->i] == close) {
		p->i++;
		return 0;
	}
	for (;;) {
		ws(p);
		if (obj) {
			if (p->i >= p->n || p->s[p->i] != '"')
				return fail(p, "expected a string key");
			uint32_t key = p->d->n;
			if (string(p))
				return -1;
			p->d->t[key].end = (uint32_t)p->i;
			p->d->t[key].next = p->d->n;
			ws(p);
			if (p->i >= p->n || p->s[p->i] != ':')
				return fail(p, "expected ':'");
			p->i++;
		}
		if (value(p, depth + 1))
			return -1;
		p->d->t[me].size++;
		ws(p);
		if (p->i < p->n && p->s[p->i] == ',') {
			p->i++;
			continue;
		}
		if (p->i < p->n && p->s[p->i] == close) {
			p->i++;
			return 0;
		}
		return fail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
	}
}

static int value(struct pstate *p, int depth)
{
	long me = p->d->n;
	int r;

	ws(p);
	if (p->i >= p->n)
		return fail(p, "unexpected end of input");
	switch (p->s[p->i]) {
	case '{': r = container(p, depth, 1); break;
	case '[': r = container(p, depth, 0); break;
	case '"': r = string(p); break;
	case 't': r = lit(p, "true", GJ_TRUE); break;
	case 'f': r = lit(p, "false", GJ_FALSE); break;
	case 'n': r = lit(p, "null", GJ_NULL); break;
	default:
		if (p->s[p->i] == '-' || (p->s[p->i] >= '0' && p->s[p->i] <= '9'))
			r = number(p);
		else
			r = fail(p, "invalid character");
	}
	if (r)
		return -1;
	p->d->t[me].end = (uint32_t)p->i;
	p->d->t[me].next = p->d->n;
	return 0;
}

int gj_parse(struct gj_doc *d, const char *s, size_t n, char *err, size_t errlen)
{
	struct pstate p = { d, s, n, 0, NULL };

	memset(d, 0, sizeof(*d));
	d->s = s;
	if (n >= UINT32_MAX) {
		snprintf(err, errlen, "input too large");
		return -1;
	}
	if (value(&p, 0) == 0) {
		ws(&p);
		if (p.i == n)
			return 0;
		p.why = "data after the value";
	}
	snprintf(err, errlen, "%s at offset %zu", p.why, p.i);
	return -1;
}

void gj_free(struct gj_doc *d)
{
	free(d->t);
	d->t = NULL;
	d->n = d->cap = 0;
}

long gj_frame_at(const char *s, size_t n, int eof, struct gj_scan *st)
{
	size_t i = st->pos;

	if (!st->kind) {   /* the value's first byte, after whitespace */
		while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
			i++;
		if (i == n)
			return -1;
		st->start = i;
		st->kind = s[i] == '{' || s[i] == '[' || s[i] == '"' ? 2 : 1;
	}
	if (st->kind == 1) {
		/* A scalar (or garbage): it runs to the next delimiter; a stray
		 * delimiter is a bad value of one byte. */
		size_t j = st->start;
		while (i < n && !(s[i] && strchr(" \t\r\n{}[]\",:", s[i])))
			i++;
		if (i == n && !eof) {
			st->pos = i;
			return 0;
		}
		*st = (struct gj_scan){ 0 };
		return (long)(i > j ? i : j + 1);
	}
	for (; i < n; i++) {
		char c = s[i];
		if (st->str) {
			if (st->esc)
				st->esc = 0;
			else if (c == '\\')
				st->esc = 1;
			else if (c == '"' && (st->str = 0, st->depth == 0))
				break;
		} else if (c == '"') {
			st->str = 1;
		} else if (c == '{' || c == '[') {
			st->depth++;
		} else if ((c == '}' || c == ']') && --st->depth <= 0) {
			break;
		}
	}
	if (i == n) {
		st->pos = n;
		return 0;
	}
	*st = (struct gj_scan){ 0 };
	return (long)i + 1;
}

long gj_frame(const char *s, size_t n, int eof)
{
	struct gj_scan st = { 0 };

	return gj_frame_at(s, n, eof, &st);
}

int gj_get(const struct gj_doc *d, int obj, const char *key)
{
	if (obj < 0 || d->t[obj].type != GJ_OBJ)
		return -1;
	uint32_t k = (uint32_t)obj + 1;
	/* As Go's encoding/json (geth) fills a struct: a key in any case
	 * ("ID", "Method"), and the last of a key given twice. */
	int found = -1;
	char buf[64];
	for (uint32_t m = 0; m < d->t[obj].size; m++) {
		uint32_t v = k + 1;
		if (gj_str(d, (int)k, buf, sizeof(buf)) >= 0 && !strcasecmp(buf, key))
			found = (int)v;
		k = d->t[v].next;
	}
	return found;
}

static size_t utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

long gj_str(const struct gj_doc *d, int i, char *out, size_t cap)
{
	const struct gj_tok *t = &d->t[i];
	const char *s = d->s;
	size_t o = 0;

	if (t->type != GJ_STR || cap == 0)
		return -1;
	for (uint32_t k = t->start + 1; k + 1 < t->end;) {
		char tmp[4];
		size_t l = 1;
		if (s[k] != '\\') {
			tmp[0] = s[k++];
		} else {
			char e = s[k + 1];
			k += 2;
			switch (e) {
			case 'b': tmp[0] = '\b'; break;
			case 'f': tmp[0] = '\f'; break;
			case 'n': tmp[0] = '\n'; break;
			case 'r': tmp[0] = '\r'; break;
			case 't': tmp[0] = '\t'; break;
			case 'u': {
				unsigned cp = (unsigned)hex4(s + k);
				k += 4;
				if (cp >= 0xd800 && cp < 0xdc00 && k + 6 <= t->end - 1 &&
				    s[k] == '\\' && s[k + 1] == 'u') {
					int lo = hex4(s + k + 2);
					if (lo >= 0xdc00 && lo < 0xe000) {
						cp = 0x10000 + ((cp - 0xd800) << 10) + (unsigned)(lo - 0xdc00);
						k += 6;
					}
				}
				if (cp >= 0xd800 && cp < 0xe000)
					cp = 0xfffd;   /* lone surrogate, as Go does */
				if (cp == 0)
					return -1;
				l = utf8(tmp, cp);
				break;
			}
			default: tmp[0] = e;
			}
		}
		if (o + l >= cap)
			return -1;
		memcpy(out + o, tmp, l);
		o += l;
	}
	out[o] = '\0';
	return (long)o;
}

int gj_streq(const struct gj_doc *d, int i, const char *lit)
{
	char buf[256];
	long l = gj_str(d, i, buf, sizeof(buf));

	return l >= 0 && strcmp(buf, lit) == 0;
}

int gj_uint(const struct gj_doc *d, int i, uint64_t *v)
{
	const struct gj_tok *t = &d->t[i];
	uint64_t x = 0;

	if (t->type != GJ_NUM)
		return -1;
	for (uint32_t k = t->start; k < t->end; k++) {
		char c = d->s[k];
		if (c < '0' || c > '9' || x > (UINT64_MAX - (uint64_t)(c - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(c - '0');
	}
	*v = x;
	return 0;
}
