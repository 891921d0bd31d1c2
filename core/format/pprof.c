/* core/format/pprof.c - profile.proto's wire format and gzip's stored
 * form (core/format/pprof.h). Pure code. */
#include "core/format/pprof.h"

#include <string.h>

#include "core/base/real.h"

void gt_pb_free(struct gt_pb *b)
{
	gt_free(b->p);
	memset(b, 0, sizeof(*b));
}

static int room(struct gt_pb *b, size_t n)
{
	if (b->err)
		return 0;
	if (b->len + n <= b->cap)
		return 1;
	size_t cap = b->cap ? b->cap : 256;
	while (cap < b->len + n)
		cap *= 2;
	uint8_t *p = gt_realloc(b->p, cap);
	if (!p) {
		b->err = 1;
		return 0;
	}
	b->p = p;
	b->cap = cap;
	return 1;
}

void gt_pb_raw(struct gt_pb *b, const void *s, size_t n)
{
	if (n && room(b, n)) {
		memcpy(b->p + b->len, s, n);
		b->len += n;
	}
}

static size_t uvarint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

static void put_uvarint(struct gt_pb *b, uint64_t v)
{
	uint8_t tmp[10];

	gt_pb_raw(b, tmp, uvarint(tmp, v));
}

static void tag(struct gt_pb *b, unsigned field, unsigned wire)
{
	put_uvarint(b, (uint64_t)field << 3 | wire);
}

void gt_pb_varint(struct gt_pb *b, unsigned field, uint64_t v)
{
	if (!v)
		return;
	tag(b, field, 0);
	put_uvarint(b, v);
}

void gt_pb_bytes(struct gt_pb *b, unsigned field, const void *s, size_t n)
{
	tag(b, field, 2);
	put_uvarint(b, n);
	gt_pb_raw(b, s, n);
}

size_t gt_pb_begin(struct gt_pb *b, unsigned field)
{
	tag(b, field, 2);
	return b->len;
}

void gt_pb_end(struct gt_pb *b, size_t mark)
{
	uint8_t tmp[10];

	if (b->err)
		return;
	size_t body = b->len - mark, k = uvarint(tmp, body);
	if (!room(b, k))
		return;
	memmove(b->p + mark + k, b->p + mark, body);
	memcpy(b->p + mark, tmp, k);
	b->len += k;
}

void gt_pb_packed(struct gt_pb *b, unsigned field, const uint64_t *v, size_t n)
{
	if (!n)
		return;
	size_t m = gt_pb_begin(b, field);
	for (size_t i = 0; i < n; i++)
		put_uvarint(b, v[i]);
	gt_pb_end(b, m);
}

/* ---- the string table */

static uint64_t hash(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
	return h | 1;   /* 0 marks an empty slot */
}

void gt_pprof_strings_init(struct gt_pprof_strings *t)
{
	memset(t, 0, sizeof(*t));
	gt_pprof_str(t, "");
}

static int grow(struct gt_pprof_strings *t)
{
	size_t cap = t->cap ? t->cap * 2 : 1024;
	__typeof__(t->slot) s = gt_calloc(cap, sizeof(*s));

	if (!s)
		return -1;
	for (size_t i = 0; i < t->cap; i++)
		if (t->slot[i].hash) {
			size_t j = t->slot[i].hash & (cap - 1);
			while (s[j].hash)
				j = (j + 1) & (cap - 1);
			s[j] = t->slot[i];
		}
	gt_free(t->slot);
	t->slot = s;
	t->cap = cap;
	return 0;
}

uint64_t gt_pprof_str(struct gt_pprof_strings *t, const char *s)
{
	size_t n = strlen(s);
	uint64_t h = hash(s, n);

	if ((t->n + 1) * 2 > t->cap && grow(t)) {
		t->err = 1;
		return 0;
	}
	size_t j = h & (t->cap - 1);
	for (; t->slot[j].hash; j = (j + 1) & (t->cap - 1))
		if (t->slot[j].hash == h && t->slot[j].len == n &&
		    !memcmp(t->text.p + t->slot[j].off, s, n))
			return t->slot[j].idx;
	gt_pb_bytes(&t->text, GT_PPROF_STRING, s, n);
	if (t->text.err) {
		t->err = 1;
		return 0;
	}
	t->slot[j].hash = h;
	t->slot[j].idx = t->n;
	t->slot[j].off = t->text.len - n;
	t->slot[j].len = n;
	return t->n++;
}

void gt_pprof_strings_free(struct gt_pprof_strings *t)
{
	gt_pb_free(&t->text);
	gt_free(t->slot);
	memset(t, 0, sizeof(*t));
}

/* ---- the messages */

void gt_pprof_value_type(struct gt_pb *b, unsigned field, uint64_t type, uint64_t unit)
{
	size_t m = gt_pb_begin(b, field);

	gt_pb_varint(b, 1, type);
	gt_pb_varint(b, 2, unit);
	gt_pb_end(b, m);
}

void gt_pprof_sample(struct gt_pb *b, const uint64_t *loc, size_t nloc, const int64_t *val,
		     size_t nval)
{
	size_t m = gt_pb_begin(b, GT_PPROF_SAMPLE);

	gt_pb_packed(b, 1, loc, nloc);
	gt_pb_packed(b, 2, (const uint64_t *)val, nval);
	gt_pb_end(b, m);
}

void gt_pprof_mapping(struct gt_pb *b, const struct gt_pprof_mapping *mp)
{
	size_t m = gt_pb_begin(b, GT_PPROF_MAPPING);

	gt_pb_varint(b, 1, mp->id);
	gt_pb_varint(b, 2, mp->start);
	gt_pb_varint(b, 3, mp->limit);
	gt_pb_varint(b, 4, mp->offset);
	gt_pb_varint(b, 5, mp->file);
	gt_pb_varint(b, 6, mp->build_id);
	for (unsigned f = 7; f <= 10; f++)
		gt_pb_varint(b, f, mp->symbolized != 0);
	gt_pb_end(b, m);
}

void gt_pprof_location(struct gt_pb *b, uint64_t id, uint64_t mapping, uint64_t address,
		       const struct gt_pprof_line *line, size_t nline)
{
	size_t m = gt_pb_begin(b, GT_PPROF_LOCATION);

	gt_pb_varint(b, 1, id);
	gt_pb_varint(b, 2, mapping);
	gt_pb_varint(b, 3, address);
	for (size_t i = 0; i < nline; i++) {
		size_t l = gt_pb_begin(b, 4);
		gt_pb_varint(b, 1, line[i].function);
		gt_pb_varint(b, 2, (uint64_t)line[i].line);
		gt_pb_end(b, l);
	}
	gt_pb_end(b, m);
}

void gt_pprof_function(struct gt_pb *b, uint64_t id, uint64_t name, uint64_t system_name,
		       uint64_t file, int64_t start_line)
{
	size_t m = gt_pb_begin(b, GT_PPROF_FUNCTION);

	gt_pb_varint(b, 1, id);
	gt_pb_varint(b, 2, name);
	gt_pb_varint(b, 3, system_name);
	gt_pb_varint(b, 4, file);
	gt_pb_varint(b, 5, (uint64_t)start_line);
	gt_pb_end(b, m);
}

/* ---- gzip */

uint32_t gt_crc32(uint32_t crc, const void *p, size_t n)
{
	const uint8_t *s = p;

	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= s[i];
		for (int k = 0; k < 8; k++)
			crc = crc >> 1 ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

static void le32(struct gt_pb *b, uint32_t v)
{
	uint8_t x[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	gt_pb_raw(b, x, 4);
}

void gt_gzip_stored(struct gt_pb *out, const void *in, size_t n)
{
	/* ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL=0 OS=255 (unknown), as Go's. */
	static const uint8_t head[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff };
	const uint8_t *s = in;
	size_t off = 0;

	gt_pb_raw(out, head, sizeof(head));
	do {
		size_t k = n - off > 65535 ? 65535 : n - off;
		uint8_t bh[5] = { off + k == n, (uint8_t)k, (uint8_t)(k >> 8), (uint8_t)~k,
				  (uint8_t)(~k >> 8) };
		gt_pb_raw(out, bh, sizeof(bh));
		gt_pb_raw(out, s + off, k);
		off += k;
	} while (off < n);
	le32(out, gt_crc32(0, in, n));
	le32(out, (uint32_t)n);
}
