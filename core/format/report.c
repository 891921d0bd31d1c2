/* core/format/report.c - see report.h. */
#include "core/format/report.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/format/decode.h"
#include "core/format/events.h"
#include "core/base/log.h"
#include "core/format/order.h"
#include "core/base/real.h"

const char *const gt_cat_name[GT_CATS] = { "syscall", "net", "sync", "sleep" };

struct str {
	uint64_t id;
	const uint8_t *s;
	size_t len;
};

struct stk {
	uint64_t id;
	struct gt_frame f[2];   /* the innermost two */
	struct gt_frame outer;  /* the outermost: a start stack's routine */
	int n;
};

struct tables {
	struct str *strs;
	size_t nstrs;
	struct stk *stks;
	size_t nstks;
};

static int cmp_str(const void *a, const void *b)
{
	uint64_t x = ((const struct str *)a)->id, y = ((const struct str *)b)->id;
	return x < y ? -1 : x > y;
}

static int cmp_stk(const void *a, const void *b)
{
	uint64_t x = ((const struct stk *)a)->id, y = ((const struct stk *)b)->id;
	return x < y ? -1 : x > y;
}

static void name(const struct tables *t, uint64_t id, char *out, size_t size)
{
	struct str key = { .id = id }, *s = bsearch(&key, t->strs, t->nstrs, sizeof(key), cmp_str);

	if (s)
		snprintf(out, size, "%.*s", (int)(s->len < 300 ? s->len : 300), (const char *)s->s);
	else
		snprintf(out, size, "?");
}

static const struct stk *stack(const struct tables *t, uint64_t id)
{
	struct stk key = { .id = id };
	return bsearch(&key, t->stks, t->nstks, sizeof(key), cmp_stk);
}

static int tables(const struct gt_trace *tr, struct tables *t)
{
	struct gt_frame f[64];

	t->strs = gt_calloc(tr->nuntimed + 1, sizeof(*t->strs));
	t->stks = gt_calloc(tr->nuntimed + 1, sizeof(*t->stks));
	if (!t->strs || !t->stks)
		return -1;
	for (size_t i = 0; i < tr->nuntimed; i++) {
		struct gt_rec r;
		size_t off = 0;
		if (gt_decode(tr->untimed[i], tr->untimed_len[i], &off, &r) != 1)
			continue;
		if (r.type == GT_EV_String) {
			t->strs[t->nstrs++] = (struct str){ r.args[0], r.str, r.str_len };
		} else if (r.type == GT_EV_Stack) {
			struct stk *s = &t->stks[t->nstks];
			int n = gt_decode_stack(&r, &s->id, f, 64);
			if (n <= 0)
				continue;
			s->n = n;
			s->f[0] = f[0];
			s->f[1] = n > 1 ? f[1] : f[0];
			s->outer = f[n < 64 ? n - 1 : 63];
			t->nstks++;
		}
	}
	qsort(t->strs, t->nstrs, sizeof(*t->strs), cmp_str);
	qsort(t->stks, t->nstks, sizeof(*t->stks), cmp_stk);
	return 0;
}

/* Per goroutine, while the report is built: indexed by goroutine id (ids
 * count up from 1, so the table is dense; a lookup per event must not be
 * a search: a churn of 20,000 threads took 1.4 s that way). */
#define CAT_BEFORE (GT_CATS + 1)   /* a wait begun before the trace (GoWaiting) */
struct gs {
	uint64_t first, last, block_ts, block_stk;
	unsigned block_cat;   /* GT_CATS: none pending; else a GT_CAT_, or CAT_BEFORE */
	int used, ended, sysblk;   /* sysblk: the pending syscall blocked */
	uint64_t wait[GT_CATS], before;
	char name[128];
};

#define G_MAX (1u << 24)   /* ids beyond are not counted (a foreign trace) */

struct acc {
	struct gs *gs;
	size_t cap;
	struct gt_site *sites;
	size_t nsites, sites_cap;
};

static struct gs *g_of(struct acc *a, uint64_t g, uint64_t ts)
{
	if (g >= G_MAX)
		return NULL;
	if (g >= a->cap) {
		size_t cap = a->cap ? a->cap : 1024;
		while (cap <= g)
			cap *= 2;
		struct gs *n = gt_realloc(a->gs, cap * sizeof(*n));
		if (!n)
			return NULL;
		memset(n + a->cap, 0, (cap - a->cap) * sizeof(*n));
		a->gs = n;
		a->cap = cap;
	}
	struct gs *s = &a->gs[g];
	if (!s->used) {
		s->used = 1;
		s->first = s->last = ts;
		s->block_cat = GT_CATS;
	}
	return s;
}

static void add_site(struct acc *a, const struct tables *t, unsigned cat, uint64_t stk,
		     uint64_t ns)
{
	char call[128], fn[256], file[256];
	const struct stk *s = stack(t, stk);

	if (s) {
		name(t, s->f[0].func, call, sizeof(call));
		name(t, s->f[1].func, fn, sizeof(fn));
		name(t, s->f[1].file, file, sizeof(file));
	} else {
		snprintf(call, sizeof(call), "?");
		fn[0] = file[0] = '\0';
	}
	const char *base = strrchr(file, '/');
	char where[384];
	if (s && s->n > 1)
		snprintf(where, sizeof(where), "%s %s:%llu", fn, base ? base + 1 : file,
		       (unsigned long long)s->f[1].line);
	else
		snprintf(where, sizeof(where), "-");
	for (size_t i = 0; i < a->nsites; i++) {
		struct gt_site *x = &a->sites[i];
		if (x->cat == cat && !strcmp(x->call, call) && !strcmp(x->where, where)) {
			x->count++;
			x->total_ns += ns;
			x->max_ns = ns > x->max_ns ? ns : x->max_ns;
			return;
		}
	}
	if (a->nsites == a->sites_cap) {
		size_t cap = a->sites_cap ? a->sites_cap * 2 : 64;
		struct gt_site *n = gt_realloc(a->sites, cap * sizeof(*n));
		if (!n)
			return;
		a->sites = n;
		a->sites_cap = cap;
	}
	struct gt_site *x = &a->sites[a->nsites++];
	memset(x, 0, sizeof(*x));
	x->cat = cat;
	snprintf(x->call, sizeof(x->call), "%s", call);
	snprintf(x->where, sizeof(x->where), "%s", where);
	x->count = 1;
	x->total_ns = x->max_ns = ns;
}

static unsigned block_cat(unsigned type)
{
	switch (type) {
	case GT_EV_GoBlockNet: return GT_CAT_NET;
	case GT_EV_GoSleep: return GT_CAT_SLEEP;
	case GT_EV_GoBlockSend: case GT_EV_GoBlockRecv: case GT_EV_GoBlockSelect:
	case GT_EV_GoBlockSync: case GT_EV_GoBlockCond:
		return GT_CAT_SYNC;
	}
	return GT_CATS;
}

/* The process the trace is of (GT_STR_PROCESS: "pid 1234: ./app ..."),
 * when the writer defined it (older gotrace traces do not). */
static void process(struct gt_report *r, const struct tables *t)
{
	struct str key = { .id = GT_STR_PROCESS };
	const struct str *s = bsearch(&key, t->strs, t->nstrs, sizeof(key), cmp_str);

	if (s && s->len > 4 && s->len <= GT_PROCESS_MAX && !memcmp(s->s, "pid ", 4) &&
	    ((const char *)s->s)[4] >= '1' && ((const char *)s->s)[4] <= '9')
		snprintf(r->process, sizeof(r->process), "%.*s", (int)s->len, (const char *)s->s);
}

/* The writer's notes, in id order: a line each. */
static void notes(struct gt_report *r, const struct tables *t)
{
	size_t len = 0;

	for (size_t i = 0; i < t->nstrs; i++)
		if (t->strs[i].id >= GT_STR_NOTES)
			len += t->strs[i].len + 1;
	if (!len || !(r->notes = gt_malloc(len + 1)))
		return;
	len = 0;
	for (size_t i = 0; i < t->nstrs; i++)   /* sorted by id */
		if (t->strs[i].id >= GT_STR_NOTES) {
			memcpy(r->notes + len, t->strs[i].s, t->strs[i].len);
			len += t->strs[i].len;
			r->notes[len++] = '\n';
		}
	r->notes[len] = '\0';
}

static int cmp_site(const void *a, const void *b)
{
	uint64_t x = ((const struct gt_site *)a)->total_ns, y = ((const struct gt_site *)b)->total_ns;
	return x > y ? -1 : x < y;
}

static void build(struct gt_report *r, const struct gt_trace *tr, struct gt_oev **m,
		  const struct tables *t, struct acc *a)
{
	/* Go converts ticks to ns as ts * 1e9 / freq. */
	double k = tr->freq ? 1e9 / (double)tr->freq : 1;
	uint64_t t0 = tr->merged ? m[0]->ts : 0, tend = tr->merged ? m[tr->merged - 1]->ts : 0;

	r->duration_ns = (uint64_t)((double)(tend - t0) * k);
	for (size_t i = 0; i < tr->merged; i++) {
		const struct gt_oev *e = m[i];
		uint64_t g = e->g;
		struct gs *s;
		unsigned c;
		switch (e->type) {
		case GT_EV_GoCreate:
			if (!(s = g_of(a, e->args[0], e->ts)))
				continue;
			if (!s->name[0]) {
				const struct stk *st = stack(t, e->args[1]);
				if (st)
					name(t, st->outer.func, s->name, sizeof(s->name));
			}
			continue;
		case GT_EV_HeapAlloc:
			r->heap_final = e->args[0];
			r->heap_peak = e->args[0] > r->heap_peak ? e->args[0] : r->heap_peak;
			continue;
		case GT_EV_GoSysCall:
			if (g && (s = g_of(a, g, e->ts))) {
				s->block_cat = GT_CAT_SYSCALL;
				s->block_ts = e->ts;
				s->block_stk = e->args[0];
				s->sysblk = 0;
			}
			break;
		case GT_EV_GoSysBlock:
			if (g && (s = g_of(a, g, e->ts)) && s->block_cat == GT_CAT_SYSCALL)
				s->sysblk = 1;
			break;
		/* A thread in a call when the trace began: in a syscall (its
		 * thread's own), or waiting (the trace does not say on what). */
		case GT_EV_GoInSyscall:
		case GT_EV_GoWaiting:
			if ((s = g_of(a, e->args[0], e->ts))) {
				s->block_cat = e->type == GT_EV_GoWaiting ? CAT_BEFORE : GT_CAT_SYSCALL;
				s->block_ts = e->ts;
				s->block_stk = 0;
				s->sysblk = 1;
			}
			continue;
		case GT_EV_GoSysExit:
		case GT_EV_GoUnblock:
			if (!(s = g_of(a, e->args[0], e->ts)))
				continue;
			c = s->block_cat;
			uint64_t ns = (uint64_t)((double)(e->ts - s->block_ts) * k);
			if (c < GT_CATS && (c == GT_CAT_SYSCALL) == (e->type == GT_EV_GoSysExit)) {
				s->wait[c] += ns;   /* the thread's: every wait */
				if (s->block_stk) {   /* Go's profiles: those with a stack */
					r->count[c]++;
					r->total_ns[c] += ns;
					add_site(a, t, c, s->block_stk, ns);
				}
			} else if (c == CAT_BEFORE && e->type == GT_EV_GoUnblock) {
				s->before += ns;
			}
			s->block_cat = GT_CATS;
			s->last = e->ts;
			continue;
		case GT_EV_GoEnd:   /* its last event: the end of its lifetime */
			if (g && (s = g_of(a, g, e->ts)) && !s->ended) {
				s->last = e->ts;
				s->ended = 1;
			}
			continue;
		default:
			c = block_cat(e->type);
			if (c < GT_CATS && g && (s = g_of(a, g, e->ts))) {
				s->block_cat = c;
				s->block_ts = e->ts;
				s->block_stk = e->args[0];
			} else if (e->type != GT_EV_GoSysBlock && g && (s = g_of(a, g, e->ts)) &&
				   s->block_cat == GT_CAT_SYSCALL && e->type != GT_EV_ProcStop) {
				s->block_cat = GT_CATS;   /* a syscall that did not block */
			}
		}
		if (g && (s = g_of(a, g, e->ts)) && !s->ended)
			s->last = e->ts;
	}
	size_t used = 0;
	for (size_t g = 0; g < a->cap; g++)
		used += a->gs[g].used;
	r->threads = gt_calloc(used + 1, sizeof(*r->threads));
	for (size_t g = 0; r->threads && g < a->cap; g++) {
		struct gs *s = &a->gs[g];
		if (!s->used)
			continue;
		/* A wait still open at the trace's end is the thread's until
		 * then (Go's profiles leave it out: so do the totals). */
		uint64_t open = !s->ended && s->block_ts <= tend
					? (uint64_t)((double)(tend - s->block_ts) * k) : 0;
		if (s->block_cat == CAT_BEFORE)
			s->before += open;
		else if (s->block_cat < GT_CATS && (s->block_cat != GT_CAT_SYSCALL || s->sysblk))
			s->wait[s->block_cat] += open;
		struct gt_rthread *x = &r->threads[r->nthreads++];
		x->g = g;
		snprintf(x->name, sizeof(x->name), "%s", s->name[0] ? s->name : "?");
		x->life_ns = (uint64_t)((double)((s->ended ? s->last : tend) - s->first) * k);
		memcpy(x->wait_ns, s->wait, sizeof(x->wait_ns));
		x->before_ns = s->before;
	}
	qsort(a->sites, a->nsites, sizeof(*a->sites), cmp_site);
	r->sites = a->sites;
	r->nsites = a->nsites;
	a->sites = NULL;
}

int gt_report_read(const char *path, struct gt_report *r, char *err, size_t errlen)
{
	struct stat sb;
	struct gt_trace tr;
	struct gt_oev **m = NULL;
	struct tables t = { 0 };
	struct acc a = { 0 };
	char oerr[160];

	memset(r, 0, sizeof(*r));
	int fd = gt_open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) || !sb.st_size) {
		snprintf(err, errlen, "open %s: %s", path, fd < 0 ? strerror(errno) : "empty");
		if (fd >= 0)
			gt_close(fd);
		return -1;
	}
	const uint8_t *b = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	gt_close(fd);
	if (b == MAP_FAILED) {
		snprintf(err, errlen, "read %s: %s", path, strerror(errno));
		return -1;
	}
	int ret = -1;
	if (gt_trace_load(b, (size_t)sb.st_size, &tr, oerr, sizeof(oerr))) {
		snprintf(err, errlen, "%s: %s", path, oerr);
	} else {
		r->ordered = gt_trace_order(&tr, &m, oerr, sizeof(oerr)) == 0;
		if (tables(&tr, &t) == 0) {
			build(r, &tr, m, &t, &a);
			process(r, &t);
			notes(r, &t);
			ret = 0;
		} else {
			snprintf(err, errlen, "%s: out of memory", path);
		}
		gt_free(m);
		gt_trace_free(&tr);
	}
	gt_free(t.strs);
	gt_free(t.stks);
	gt_free(a.gs);
	gt_free(a.sites);
	munmap((void *)b, (size_t)sb.st_size);
	return ret;
}

void gt_report_free(struct gt_report *r)
{
	gt_free(r->notes);
	gt_free(r->sites);
	gt_free(r->threads);
	memset(r, 0, sizeof(*r));
}
