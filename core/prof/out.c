/* core/prof/out.c - a profile (CPU, block, mutex) as pprof reads it: profile.proto
 * (core/format/pprof.c) with the samples' stacks symbolised here (function,
 * file:line, inlined calls as lines of one location: core/write/symbol.c),
 * the loaded objects as mappings with their build ids, gzip'd as Go's
 * runtime/pprof does (zlib at its best speed: a copy linked in, hidden,
 * whose calls of its own functions no program's zlib can take over; on
 * its failure, gzip's stored form), then written out. Service thread. */
#include "core/prof/prof_int.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "core/base/fdguard.h"
#include "core/base/log.h"
#include "core/base/real.h"
#include "core/format/pprof.h"
#include "core/record/stack.h"
#include "core/write/symbol.h"

#define STALL_S 30   /* a FIFO's reader that takes nothing this long ends the write */

/* A location: one address (the interrupted pc, or a return address - 1:
 * the call), all the functions inlined there. */
enum { LOC_CUT = 1, LOC_LAST = 2 };
struct loc {
	uint64_t addr;      /* 0: empty slot */
	uint64_t id;
	unsigned flags;     /* LOC_CUT: start-up code (the stack ends before it);
			       LOC_LAST: the program's main (it ends after) */
};

struct fn {
	uint64_t name, file, id;   /* name 0: empty slot */
};

struct build {
	struct gt_pprof_strings st;
	struct gt_pb locs, fns;
	struct loc *loc;
	size_t loc_cap, nloc;
	struct fn *fn;
	size_t fn_cap, nfn;
	struct gt_prof_map *maps;
	size_t nmaps;
	int err;
};

static int startup(const char *f)
{
	static const char *const cut[] = { "start_thread", "clone", "clone3", "__clone",
		"__clone3", "__libc_start_call_main", "__libc_start_main",
		"__libc_start_main_impl", "_start", "gt_thread_start" };

	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++)
		if (!strcmp(f, cut[i]))
			return 1;
	return 0;
}

/* Double an open-addressing table of n-byte slots keyed by their first
 * word (0: empty) when it is half full. */
static int rehash(void **tab, size_t *cap, size_t used, size_t size)
{
	if ((used + 1) * 2 <= *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 1024;
	char *t = gt_calloc(ncap, size), *o = *tab;
	if (!t)
		return -1;
	for (size_t i = 0; i < *cap; i++) {
		uint64_t k;
		memcpy(&k, o + i * size, sizeof(k));
		if (!k)
			continue;
		size_t j = (k * 0x9e3779b97f4a7c15ull >> 20) & (ncap - 1);
		for (;; j = (j + 1) & (ncap - 1)) {
			uint64_t e;
			memcpy(&e, t + j * size, sizeof(e));
			if (!e)
				break;
		}
		memcpy(t + j * size, o + i * size, size);
	}
	gt_free(o);
	*tab = t;
	*cap = ncap;
	return 0;
}

static uint64_t function_id(struct build *b, const struct gt_sym *s)
{
	uint64_t name = gt_pprof_str(&b->st, s->func), file = gt_pprof_str(&b->st, s->file);

	if (rehash((void **)&b->fn, &b->fn_cap, b->nfn, sizeof(*b->fn))) {
		b->err = 1;
		return 0;
	}
	size_t j = (name * 0x9e3779b97f4a7c15ull >> 20) & (b->fn_cap - 1);   /* rehash's */
	for (; b->fn[j].name; j = (j + 1) & (b->fn_cap - 1))
		if (b->fn[j].name == name && b->fn[j].file == file)
			return b->fn[j].id;
	b->fn[j] = (struct fn){ name, file, ++b->nfn };
	gt_pprof_function(&b->fns, b->nfn, name, name, file, 0);
	return b->nfn;
}

static uint64_t mapping_of(const struct build *b, uint64_t addr)
{
	for (size_t i = 0; i < b->nmaps; i++)
		if (addr >= b->maps[i].start && addr < b->maps[i].limit)
			return i + 1;
	return 0;
}

/* pc: an interrupted pc (exact) or a return address, whose location is
 * the call's (pc - 1) but named as symbol.c names it (a signal
 * trampoline's first byte by its own symbol). */
static struct loc *location(struct build *b, uint64_t pc, int exact, const char *name)
{
	struct gt_sym sym[GT_SYM_INLINE_MAX];
	struct gt_pprof_line line[GT_SYM_INLINE_MAX];
	uint64_t addr = exact ? pc : pc - 1;

	if (rehash((void **)&b->loc, &b->loc_cap, b->nloc, sizeof(*b->loc))) {
		b->err = 1;
		return NULL;
	}
	size_t j = (addr * 0x9e3779b97f4a7c15ull >> 20) & (b->loc_cap - 1);
	for (; b->loc[j].addr; j = (j + 1) & (b->loc_cap - 1))
		if (b->loc[j].addr == addr)
			return &b->loc[j];
	struct loc *l = &b->loc[j];
	int n = gt_sym_frames((uintptr_t)pc, exact, sym, GT_SYM_INLINE_MAX);
	if (name) {   /* a hooked function: one frame, the name the program called */
		sym[0].func = name;
		sym[0].file = "";
		sym[0].line = 0;
		n = 1;
	}
	*l = (struct loc){ addr, ++b->nloc, 0 };
	for (int i = 0; i < n; i++)
		line[i] = (struct gt_pprof_line){ function_id(b, &sym[i]), sym[i].line };
	gt_pprof_location(&b->locs, l->id, mapping_of(b, addr), addr, line, (size_t)n);
	if (startup(sym[n - 1].func))
		l->flags |= LOC_CUT;
	if (!strcmp(sym[n - 1].func, "main"))
		l->flags |= LOC_LAST;
	return l;
}

/* One sample: its locations innermost first. Frames of ours below the
 * program's (the hooks it called through) are left out: a hook has the
 * libc function's name, and the program called that. Ours at the top
 * stay (time in the tracer). */
static void sample(struct build *b, struct gt_pb *out, const struct gt_prof_sample *s,
		   unsigned nval)
{
	uint64_t ids[GT_STACK_MAX];
	size_t k = 0;
	int program = 0;

	for (unsigned i = 0; i < s->n && i < GT_STACK_MAX; i++) {
		uintptr_t pc = s->pc[i];
		int self = gt_stack_is_self(pc), fn = i == 0 && (s->flags & GT_STK_FN);
		if (self && program)
			continue;
		program |= !self;
		int exact = i == 0 && (s->flags & (GT_STK_EXACT | GT_STK_FN));
		struct loc *l = location(b, pc, exact, fn ? gt_stack_fn_name(pc) : NULL);
		if (!l)
			return;
		if (i && (l->flags & LOC_CUT))
			break;
		ids[k++] = l->id;
		if (l->flags & LOC_LAST)
			break;
	}
	gt_pprof_sample(out, ids, k, s->val, nval);
}

/* ---- gzip */

/* zlib's allocations from gt_malloc, as ours: never the program's malloc
 * (a hook, or an allocator of its own). */
static voidpf z_alloc(voidpf opaque, uInt n, uInt m)
{
	(void)opaque;
	return gt_calloc(n, m);
}

static void z_free(voidpf opaque, voidpf p)
{
	(void)opaque;
	gt_free(p);
}

static void gzip(const struct gt_pb *in, struct gt_pb *out)
{
	z_stream s;

	memset(&s, 0, sizeof(s));
	s.zalloc = z_alloc;
	s.zfree = z_free;
	if (deflateInit2(&s, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK) {
		size_t cap = deflateBound(&s, (uLong)in->len) + 64;
		out->p = gt_malloc(cap);
		int r = Z_STREAM_ERROR;
		if (out->p) {
			s.next_in = in->p;
			s.avail_in = (uInt)in->len;
			s.next_out = out->p;
			s.avail_out = (uInt)cap;
			r = deflate(&s, Z_FINISH);
		}
		deflateEnd(&s);
		if (r == Z_STREAM_END) {
			out->len = s.total_out;
			out->cap = cap;
			return;
		}
		gt_pb_free(out);
	}
	gt_gzip_stored(out, in->p, in->len);
}

/* ---- the file */

static int write_all(int fd, const char *path, const uint8_t *p, size_t n, char *err,
		     size_t errlen)
{
	size_t off = 0;
	int stalled = 0, e = 0;

	gt_fd_lock();   /* the fd cannot move while we write to it */
	while (off < n) {
		ssize_t w = gt_write(fd, p + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN && ++stalled <= STALL_S * 10) {
			/* A FIFO whose reader is behind: wait without fd_lock. */
			unsigned depth = gt_fd_suspend();
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };
			gt_poll(&pfd, 1, 100);
			gt_fd_resume(depth);
			continue;
		}
		if (w <= 0) {
			e = w < 0 ? (errno == EAGAIN ? ETIMEDOUT : errno) : EIO;
			break;
		}
		stalled = 0;
		off += (size_t)w;
	}
	gt_fd_unlock();
	if (e)
		gt_fmt(err, errlen, "write %s: %s", path, strerror(e));
	return e ? -1 : 0;
}

int gt_prof_write_path(const char *path, struct gt_prof_spec *m, char *err, size_t errlen)
{
	struct timespec now;
	int fd = gt_fd_open_out(path, err, errlen);

	if (fd < 0)
		return -1;
	gt_fd_adopt(&fd);   /* a program closing every fd meanwhile leaves it */
	clock_gettime(CLOCK_REALTIME, &now);
	m->time_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	int r = gt_prof_write(fd, path, m, err, errlen);
	gt_fd_release(&fd);
	gt_close(fd);
	return r;
}

int gt_prof_write(int fd, const char *path, const struct gt_prof_spec *m, char *err,
		  size_t errlen)
{
	struct build b;
	struct gt_pb head = { 0 }, all = { 0 }, gz = { 0 };
	struct gt_prof_sample s;

	memset(&b, 0, sizeof(b));
	gt_pprof_strings_init(&b.st);
	gt_sym_prepare();
	b.nmaps = gt_prof_maps(&b.maps);
	unsigned nval = m->nval ? m->nval : 2;
	/* every string before the table is written out */
	uint64_t ptype = gt_pprof_str(&b.st, m->period_type), punit = gt_pprof_str(&b.st, m->period_unit);
	for (unsigned t = 0; t < nval; t++)
		gt_pprof_value_type(&head, GT_PPROF_SAMPLE_TYPE, gt_pprof_str(&b.st, m->type[t]),
				    gt_pprof_str(&b.st, m->unit[t]));
	for (size_t i = 0; m->next(m->ctx, i, &s); i++)
		sample(&b, &head, &s, nval);
	for (size_t i = 0; i < b.nmaps; i++) {
		struct gt_pprof_mapping mp = { i + 1, b.maps[i].start, b.maps[i].limit,
			b.maps[i].offset, gt_pprof_str(&b.st, b.maps[i].file),
			gt_pprof_str(&b.st, b.maps[i].build_id), 1 };
		gt_pprof_mapping(&head, &mp);
	}
	gt_pb_raw(&all, head.p, head.len);
	gt_pb_raw(&all, b.locs.p, b.locs.len);
	gt_pb_raw(&all, b.fns.p, b.fns.len);
	gt_pb_raw(&all, b.st.text.p, b.st.text.len);
	gt_pb_varint(&all, GT_PPROF_TIME_NANOS, m->time_ns);
	gt_pb_varint(&all, GT_PPROF_DURATION_NANOS, m->duration_ns);
	gt_pprof_value_type(&all, GT_PPROF_PERIOD_TYPE, ptype, punit);
	gt_pb_varint(&all, GT_PPROF_PERIOD, m->period);
	int r = -1;
	if (b.err || b.st.err || head.err || b.locs.err || b.fns.err || all.err) {
		gt_fmt(err, errlen, "write %s: %s", path, strerror(ENOMEM));
	} else {
		gzip(&all, &gz);
		if (gz.err)
			gt_fmt(err, errlen, "write %s: %s", path, strerror(ENOMEM));
		else
			r = write_all(fd, path, gz.p, gz.len, err, errlen);
	}
	gt_pb_free(&gz);
	gt_pb_free(&all);
	gt_pb_free(&head);
	gt_pb_free(&b.locs);
	gt_pb_free(&b.fns);
	gt_free(b.loc);
	gt_free(b.fn);
	gt_pprof_strings_free(&b.st);
	gt_prof_maps_free(b.maps, b.nmaps);
	return r;
}
