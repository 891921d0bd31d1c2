/* core/format/go122_enc.c - the Go 1.22 encoder: single events, batches,
 * strings, the frequency batch (go122.h). Pure functions, but for the
 * buffer's growth (gt_realloc). */
#include "core/format/go122.h"

#include <string.h>

#include "core/base/real.h"
#include "core/format/encode.h"

/* internal/trace/v2/event/go122/event.go specs: len(Args), timestamp
 * included, of the timed events we may write. */
const uint8_t gt_v2_nargs[GT_V2_EV_COUNT] = {
	[GT_V2_ProcsChange] = 3,
	[GT_V2_ProcStart] = 3,
	[GT_V2_ProcStop] = 1,
	[GT_V2_ProcSteal] = 4,
	[GT_V2_ProcStatus] = 3,
	[GT_V2_GoCreate] = 4,
	[GT_V2_GoCreateSyscall] = 2,
	[GT_V2_GoStart] = 3,
	[GT_V2_GoDestroy] = 1,
	[GT_V2_GoDestroySyscall] = 1,
	[GT_V2_GoStop] = 3,
	[GT_V2_GoBlock] = 3,
	[GT_V2_GoUnblock] = 4,
	[GT_V2_GoSyscallBegin] = 3,
	[GT_V2_GoSyscallEnd] = 1,
	[GT_V2_GoSyscallEndBlocked] = 1,
	[GT_V2_GoStatus] = 4,
	[GT_V2_HeapAlloc] = 2,
	[GT_V2_HeapGoal] = 2,
	[GT_V2_GoLabel] = 2,
	[GT_V2_UserLog] = 5,
};

uint8_t *gt_v2_buf_room(struct gt_v2_buf *b, size_t n)
{
	if (b->oom)
		return NULL;
	if (b->cap - b->len < n) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap - b->len < n)
			cap *= 2;
		uint8_t *p = gt_realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return NULL;
		}
		b->p = p;
		b->cap = cap;
	}
	return b->p + b->len;
}

void gt_v2_buf_free(struct gt_v2_buf *b)
{
	gt_free(b->p);
	memset(b, 0, sizeof(*b));
}

uint8_t *gt_v2_put_event(uint8_t *p, unsigned type, const uint64_t *v)
{
	unsigned n = type < GT_V2_EV_COUNT ? gt_v2_nargs[type] : 0;

	*p++ = (uint8_t)type;
	for (unsigned i = 0; i < n; i++)
		p = gt_put_uvarint(p, v[i]);
	return p;
}

int gt_v2_put_batch(struct gt_v2_buf *out, uint64_t gen, uint64_t m, uint64_t ts,
		    const uint8_t *data, size_t len)
{
	uint8_t *p = gt_v2_buf_room(out, 1 + 4 * 10 + len), *q = p;

	if (!p)
		return -1;
	*q++ = GT_V2_EventBatch;
	q = gt_put_uvarint(q, gen);
	q = gt_put_uvarint(q, m);
	q = gt_put_uvarint(q, ts);
	q = gt_put_uvarint(q, len);
	memcpy(q, data, len);
	out->len += (size_t)(q - p) + len;
	return 0;
}

uint8_t *gt_v2_put_string(uint8_t *p, uint64_t id, const void *s, size_t len)
{
	if (len > GT_V2_MAX_STRING)
		len = GT_V2_MAX_STRING;
	*p++ = GT_V2_String;
	p = gt_put_uvarint(p, id);
	p = gt_put_uvarint(p, len);
	memcpy(p, s, len);
	return p + len;
}

int gt_v2_put_frequency(struct gt_v2_buf *out, uint64_t gen, uint64_t ts, uint64_t hz)
{
	uint8_t data[11], *q = data;

	*q++ = GT_V2_Frequency;
	q = gt_put_uvarint(q, hz);
	return gt_v2_put_batch(out, gen, GT_V2_NO_THREAD, ts, data, (size_t)(q - data));
}

/* ---- tables ---- */

static size_t slot(const struct gt_v2_tab *t, uint64_t id)
{
	size_t j = (size_t)((id * 0x9e3779b97f4a7c15ull) >> 20) & (t->cap - 1);

	while (t->e[j].id && t->e[j].id != id)
		j = (j + 1) & (t->cap - 1);
	return j;
}

static struct gt_v2_ent *entry(struct gt_v2_tab *t, uint64_t id)
{
	if ((t->n + 1) * 2 > t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		struct gt_v2_ent *e = gt_calloc(cap, sizeof(*e)), *old = t->e;
		size_t ocap = t->cap;
		if (!e)
			return NULL;
		t->e = e;
		t->cap = cap;
		for (size_t i = 0; i < ocap; i++)
			if (old[i].id)
				t->e[slot(t, old[i].id)] = old[i];
		gt_free(old);
	}
	size_t j = slot(t, id);
	if (!t->e[j].id) {
		memset(&t->e[j], 0, sizeof(t->e[j]));
		t->e[j].id = id;
		t->n++;
	}
	return &t->e[j];
}

int gt_v2_tab_put(struct gt_v2_tab *t, uint64_t id, const void *p, size_t len)
{
	if (!id || len > UINT32_MAX)
		return 0;
	struct gt_v2_ent *e = entry(t, id);
	uint8_t *d = e ? gt_v2_buf_room(&t->data, len) : NULL;
	if (!d)
		return -1;
	memcpy(d, p, len);
	e->off = t->data.len;
	e->len = (uint32_t)len;
	e->defined = 1;
	t->data.len += len;
	return 0;
}

uint64_t gt_v2_tab_ref(struct gt_v2_tab *t, uint64_t id, uint64_t gen)
{
	if (!id)
		return 0;
	struct gt_v2_ent *e = t->cap ? &t->e[slot(t, id)] : NULL;
	if (e && e->id == id && e->gen == gen)
		return e->gid;   /* the common case: named already in this generation */
	if (!(e = entry(t, id)))
		return 0;
	if (e->gen == gen)
		return e->gid;
	if (t->nrefs == t->refcap) {
		size_t cap = t->refcap ? t->refcap * 2 : 256;
		uint64_t *r = gt_realloc(t->refs, cap * sizeof(*r));
		if (!r)
			return 0;
		t->refs = r;
		t->refcap = cap;
	}
	e->gen = gen;
	e->gid = ++t->next;
	t->refs[t->nrefs++] = id;
	return e->gid;
}

const struct gt_v2_ent *gt_v2_tab_get(const struct gt_v2_tab *t, uint64_t id)
{
	if (!t->cap || !id)
		return NULL;
	const struct gt_v2_ent *e = &t->e[slot(t, id)];
	return e->id == id ? e : NULL;
}

void gt_v2_tab_free(struct gt_v2_tab *t)
{
	gt_free(t->e);
	gt_free(t->refs);
	gt_v2_buf_free(&t->data);
	memset(t, 0, sizeof(*t));
}

/* ---- reading a file's batches back (repair) ---- */

int gt_v2_header_minor(const void *b, size_t n)
{
	const char *s = b;
	int minor = 0;

	if (n < GT_V2_HEADER_LEN || memcmp(s, "go 1.", 5))
		return 0;
	for (size_t i = 5; i < 8 && s[i] >= '0' && s[i] <= '9'; i++)
		minor = minor * 10 + (s[i] - '0');
	return minor >= 22 && !memcmp(s + 7, " trace\0\0\0", 9) ? minor : 0;
}

size_t gt_v2_whole_end(const uint8_t *b, size_t n, uint64_t *gens)
{
	size_t o = GT_V2_HEADER_LEN, whole = 0;
	uint64_t cur = 0, done = 0;
	int freq = 0;

	while (o < n && b[o] == GT_V2_EventBatch) {
		size_t start = o++;
		uint64_t gen, m, ts, size;
		if (gt_get_uvarint(b, n, &o, &gen) || gt_get_uvarint(b, n, &o, &m) || gt_get_uvarint(b, n, &o, &ts) ||
		    gt_get_uvarint(b, n, &o, &size) || size > GT_V2_MAX_BATCH || size > n - o)
			break;
		if (gen != cur) {
			if (gen != cur + 1)   /* "generations out of order" */
				break;
			if (freq) {   /* the one before was whole: it had its frequency */
				whole = start;
				done = cur;
			}
			cur = gen;
			freq = 0;
		}
		o += (size_t)size;
		if (size && b[o - size] == GT_V2_Frequency) {
			/* gotrace writes it last in each generation */
			freq = 1;
			whole = o;
			done = cur;
		}
	}
	if (gens)
		*gens = done;
	return whole;
}
