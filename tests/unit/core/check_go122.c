/* check_go122.c - the Go 1.22 encoder byte for byte (the layouts of Go's
 * internal/trace/v2/event/go122/event.go), and the transcoder on small 1.19
 * sequences: one whole output byte for byte, the rest read back by a small
 * reader of the format below (docs/go122-trace-format.md). */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "core/format/encode.h"
#include "core/format/events.h"
#include "core/format/go122.h"
#include "tests/unit/check_main.h"

#define ck_bytes(p, n, ...)                                                    \
	do {                                                                   \
		const uint8_t e_[] = { __VA_ARGS__ };                          \
		ck_assert_int_eq((int)(n), (int)sizeof(e_));                   \
		ck_assert_mem_eq((p), e_, sizeof(e_));                         \
	} while (0)
#define NOTHREAD 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
#define FREQ_1E9 0x80, 0x94, 0xeb, 0xdc, 0x03

START_TEST(enc_events)
{
	uint8_t b[64], *e;

	e = gt_v2_put_event(b, GT_V2_GoStart, (const uint64_t[]){ 1, 4, 1 });
	ck_bytes(b, e - b, 0x10, 0x01, 0x04, 0x01);
	e = gt_v2_put_event(b, GT_V2_ProcStatus, (const uint64_t[]){ 0, 0, GT_V2_ProcIdle });
	ck_bytes(b, e - b, 0x0d, 0x00, 0x00, 0x02);
	e = gt_v2_put_event(b, GT_V2_GoStatus,
			    (const uint64_t[]){ 2, 1, GT_V2_NO_THREAD, GT_V2_GoRunnable });
	ck_bytes(b, e - b, 0x19, 0x02, 0x01, NOTHREAD, 0x01);
	e = gt_v2_put_event(b, GT_V2_GoCreate, (const uint64_t[]){ 30, 4, 5, 6 });
	ck_bytes(b, e - b, 0x0e, 0x1e, 0x04, 0x05, 0x06);
	e = gt_v2_put_event(b, GT_V2_GoSyscallBegin, (const uint64_t[]){ 0, 3, 11 });
	ck_bytes(b, e - b, 0x16, 0x00, 0x03, 0x0b);
	e = gt_v2_put_event(b, GT_V2_GoSyscallEndBlocked, (const uint64_t[]){ 1000 });
	ck_bytes(b, e - b, 0x18, 0xe8, 0x07);
	e = gt_v2_put_event(b, GT_V2_UserLog, (const uint64_t[]){ 1, 0, 30, 1ull << 62, 12 });
	ck_bytes(b, e - b, 0x2c, 0x01, 0x00, 0x1e, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		 0x80, 0x40, 0x0c);
	e = gt_v2_put_event(b, GT_V2_ProcsChange, (const uint64_t[]){ 0, 8, 0 });
	ck_bytes(b, e - b, 0x09, 0x00, 0x08, 0x00);
	e = gt_v2_put_event(b, GT_V2_HeapAlloc, (const uint64_t[]){ 5, 91792 });
	ck_bytes(b, e - b, 0x25, 0x05, 0x90, 0xcd, 0x05);
	e = gt_v2_put_event(b, GT_V2_GoBlock, (const uint64_t[]){ 1, 3, 13 });
	ck_bytes(b, e - b, 0x14, 0x01, 0x03, 0x0d);
	e = gt_v2_put_event(b, GT_V2_ProcStop, (const uint64_t[]){ 7 });
	ck_bytes(b, e - b, 0x0b, 0x07);
}
END_TEST

/* Values per event, timestamp included: len(Args) of Go's specs. */
START_TEST(enc_nargs)
{
	static const struct { unsigned type, n; } t[] = {
		{ GT_V2_ProcsChange, 3 }, { GT_V2_ProcStart, 3 }, { GT_V2_ProcStop, 1 },
		{ GT_V2_ProcSteal, 4 }, { GT_V2_ProcStatus, 3 }, { GT_V2_GoCreate, 4 },
		{ GT_V2_GoCreateSyscall, 2 }, { GT_V2_GoStart, 3 }, { GT_V2_GoDestroy, 1 },
		{ GT_V2_GoDestroySyscall, 1 }, { GT_V2_GoStop, 3 }, { GT_V2_GoBlock, 3 },
		{ GT_V2_GoUnblock, 4 }, { GT_V2_GoSyscallBegin, 3 }, { GT_V2_GoSyscallEnd, 1 },
		{ GT_V2_GoSyscallEndBlocked, 1 }, { GT_V2_GoStatus, 4 }, { GT_V2_HeapAlloc, 2 },
		{ GT_V2_HeapGoal, 2 }, { GT_V2_GoLabel, 2 }, { GT_V2_UserLog, 5 },
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		ck_assert_uint_eq(gt_v2_nargs[t[i].type], t[i].n);
	ck_assert_int_eq(GT_V2_UserLog, 44);
	ck_assert_int_eq(GT_V2_GoStatus, 25);
	ck_assert_int_eq(GT_V2_HeapAlloc, 37);
}
END_TEST

START_TEST(enc_batch_string_freq)
{
	struct gt_v2_buf o = { 0 };
	uint8_t b[2048], *e;

	ck_assert_int_eq(gt_v2_put_batch(&o, 1, 19598, 5000000000000ull,
					 (const uint8_t[]){ 0x10, 0x01, 0x04, 0x01 }, 4), 0);
	ck_bytes(o.p, o.len, 0x01, 0x01, 0x8e, 0x99, 0x01, 0x80, 0xa0, 0xe5, 0xb9, 0xc2, 0x91,
		 0x01, 0x04, 0x10, 0x01, 0x04, 0x01);
	o.len = 0;
	ck_assert_int_eq(gt_v2_put_frequency(&o, 3, 0, 1000000000), 0);
	ck_bytes(o.p, o.len, 0x01, 0x03, NOTHREAD, 0x00, 0x06, 0x08, FREQ_1E9);
	e = gt_v2_put_string(b, 1, "main", 4);
	ck_bytes(b, e - b, 0x05, 0x01, 0x04, 'm', 'a', 'i', 'n');
	char big[1500];
	memset(big, 'x', sizeof(big));
	e = gt_v2_put_string(b, 2, big, sizeof(big));   /* cut at MaxStringSize */
	ck_assert_int_eq(e - b, 1 + 1 + 2 + 1024);
	ck_bytes(b, 4, 0x05, 0x02, 0x80, 0x08);
	gt_v2_buf_free(&o);
}
END_TEST

/* ---- a reader of the output, for the tests ---- */

struct xev {
	uint64_t gen, m, ts;
	unsigned type;
	uint64_t a[5];
};

struct xout {
	struct xev ev[512];
	size_t nev;
	struct { uint64_t gen, id; char s[1100]; size_t len; } str[64];
	size_t nstr;
	struct { uint64_t gen, id, n, fr[130][4]; } stk[16];
	size_t nstk;
	uint64_t freq_gens[64];
	size_t nfreq;
	uint64_t last_gen;
};

static uint64_t uv(const uint8_t *b, size_t n, size_t *o)
{
	uint64_t x = 0;

	for (unsigned s = 0;; s += 7) {
		ck_assert_uint_lt(*o, n);
		uint8_t c = b[(*o)++];
		x |= (uint64_t)(c & 0x7f) << s;
		if (!(c & 0x80))
			return x;
	}
}

static void xparse(const struct gt_v2_buf *b, struct xout *x)
{
	size_t o = GT_V2_HEADER_LEN;

	memset(x, 0, sizeof(*x));
	ck_assert_uint_ge(b->len, GT_V2_HEADER_LEN);
	ck_assert_mem_eq(b->p, GT_V2_HEADER, GT_V2_HEADER_LEN);
	while (o < b->len) {
		ck_assert_int_eq(b->p[o++], GT_V2_EventBatch);
		uint64_t gen = uv(b->p, b->len, &o), m = uv(b->p, b->len, &o);
		uint64_t ts = uv(b->p, b->len, &o), size = uv(b->p, b->len, &o);
		size_t end = o + size;
		ck_assert_uint_le(end, b->len);
		ck_assert_uint_le(size, GT_V2_MAX_BATCH);
		ck_assert(gen == x->last_gen || gen == x->last_gen + 1);   /* in order */
		x->last_gen = gen;
		unsigned kind = b->p[o];
		if (kind == GT_V2_Frequency) {
			o++;
			ck_assert_uint_eq(uv(b->p, end, &o), 1000000000);
			x->freq_gens[x->nfreq++] = gen;
		} else if (kind == GT_V2_Strings) {
			for (o++; o < end; x->nstr++) {
				ck_assert_int_eq(b->p[o++], GT_V2_String);
				x->str[x->nstr].gen = gen;
				x->str[x->nstr].id = uv(b->p, end, &o);
				size_t len = (size_t)uv(b->p, end, &o);
				memcpy(x->str[x->nstr].s, b->p + o, len);
				x->str[x->nstr].len = len;
				o += len;
			}
		} else if (kind == GT_V2_Stacks) {
			for (o++; o < end; x->nstk++) {
				ck_assert_int_eq(b->p[o++], GT_V2_Stack);
				x->stk[x->nstk].gen = gen;
				x->stk[x->nstk].id = uv(b->p, end, &o);
				uint64_t n = x->stk[x->nstk].n = uv(b->p, end, &o);
				ck_assert_uint_le(n, GT_V2_MAX_FRAMES);
				for (uint64_t i = 0; i < n; i++)
					for (int j = 0; j < 4; j++)
						x->stk[x->nstk].fr[i][j] = uv(b->p, end, &o);
			}
		} else {
			uint64_t t = ts;
			while (o < end) {
				struct xev *e = &x->ev[x->nev++];
				e->type = b->p[o++];
				ck_assert_uint_lt(e->type, GT_V2_EV_COUNT);
				unsigned n = gt_v2_nargs[e->type];
				ck_assert_uint_gt(n, 0);
				t += uv(b->p, end, &o);
				for (unsigned i = 1; i < n; i++)
					e->a[i - 1] = uv(b->p, end, &o);
				e->gen = gen;
				e->m = m;
				e->ts = t;
			}
		}
		ck_assert_uint_eq(o, end);
	}
}

/* The events of M m in generation gen, in order: their types. */
static size_t types_of(const struct xout *x, uint64_t gen, uint64_t m, unsigned *t, size_t max)
{
	size_t k = 0;

	for (size_t i = 0; i < x->nev && k < max; i++)
		if (x->ev[i].gen == gen && x->ev[i].m == m)
			t[k++] = x->ev[i].type;
	return k;
}

static const struct xev *find(const struct xout *x, unsigned type, uint64_t a0, size_t nth)
{
	for (size_t i = 0; i < x->nev; i++)
		if (x->ev[i].type == type && x->ev[i].a[0] == a0 && nth-- == 0)
			return &x->ev[i];
	return NULL;
}

/* The text of string id (this generation's id) of generation gen. */
static const char *str_of(struct xout *x, uint64_t gen, uint64_t id)
{
	for (size_t i = 0; i < x->nstr; i++)
		if (x->str[i].gen == gen && x->str[i].id == id) {
			x->str[i].s[x->str[i].len] = '\0';
			return x->str[i].s;
		}
	return "";
}

static int has_text(struct xout *x, uint64_t gen, const char *s)
{
	for (size_t i = 0; i < x->nstr; i++)
		if (x->str[i].gen == gen && !strcmp(str_of(x, gen, x->str[i].id), s))
			return 1;
	return 0;
}

/* The innermost pc of stack id of generation gen (0: none). */
static uint64_t pc_of(const struct xout *x, uint64_t gen, uint64_t id)
{
	for (size_t i = 0; i < x->nstk; i++)
		if (x->stk[i].gen == gen && x->stk[i].id == id && x->stk[i].n)
			return x->stk[i].fr[0][0];
	return 0;
}

/* The nth event of a type whose reason (a[0]) reads s. */
static const struct xev *find_reason(struct xout *x, unsigned type, const char *s, size_t nth)
{
	for (size_t i = 0; i < x->nev; i++)
		if (x->ev[i].type == type && !strcmp(str_of(x, x->ev[i].gen, x->ev[i].a[0]), s) &&
		    nth-- == 0)
			return &x->ev[i];
	return NULL;
}

/* ---- feeding 1.19 events ---- */

static const uint8_t nargs19[64] = {
#define EV(name, type, args, stack) [type] = args,
	GT_EVENTS(EV)
#undef EV
};

struct feed {
	struct gt_v2 *st;
	struct gt_v2_buf out;
};

#define E(f, p, ts, type, ...)                                                         \
	ck_assert_int_eq(gt_v2_event((f)->st, (p), (ts), GT_EV_##type,                 \
				     (const uint64_t[]){ __VA_ARGS__ }, nargs19[GT_EV_##type], \
				     NULL, 0, &(f)->out), 0)

static void feed_init(struct feed *f, uint64_t gen_ticks, unsigned flags)
{
	struct gt_v2_opts o = { gen_ticks, flags };
	uint8_t b[256], *e = b;
	struct gt_frame fr = { 0x401000, 1, 2, 7 };

	memset(f, 0, sizeof(*f));
	f->st = gt_v2_new(&o);
	ck_assert_ptr_nonnull(f->st);
	e = gt_put_string(e, 1, "main", 4);
	e = gt_put_string(e, 2, "main.c", 6);
	for (uint64_t id = 1; id <= 9; id++) {
		fr.pc = 0x401000 + id;
		e = gt_put_stack(e, id, &fr, 1);
	}
	ck_assert_int_eq(gt_v2_untimed(f->st, b, (size_t)(e - b)), 0);
}

static void feed_end(struct feed *f, struct xout *x)
{
	ck_assert_int_eq(gt_v2_finish(f->st, &f->out), 0);
	xparse(&f->out, x);
}

static void feed_free(struct feed *f)
{
	gt_v2_free(f->st);
	gt_v2_buf_free(&f->out);
}

/* The writer's snapshot on P 0 (service thread 50, goroutine 1 declared
 * runnable), then the main thread 60 on P 1 runs it and ends. */
START_TEST(transcode_bytes)
{
	struct feed f;

	feed_init(&f, 0, 0);
	E(&f, 0, 100, GoCreate, 1, 1, 0);
	E(&f, 0, 101, ProcStart, 50);
	E(&f, 0, 102, Gomaxprocs, 2, 0);
	E(&f, 0, 103, ProcStop, 0);
	E(&f, 1, 200, ProcStart, 60);
	E(&f, 1, 200, GoStart, 1, 1);
	E(&f, 1, 300, GoEnd, 0);
	E(&f, 1, 300, ProcStop, 0);
	ck_assert_int_eq(gt_v2_finish(f.st, &f.out), 0);
	/* Every event a time of its own (101, 102, 103, ...): Go's reader
	 * may skip one of two Ms tied at its frontier's head. */
	ck_bytes(f.out.p, f.out.len,
		 'g', 'o', ' ', '1', '.', '2', '2', ' ', 't', 'r', 'a', 'c', 'e', 0, 0, 0,
		 /* M 50: P 0's status and start, the declared goroutine, its stop */
		 0x01, 0x01, 50, 101, 24,
		 0x0d, 0, 0, 2,   0x0a, 1, 0, 1,   0x19, 1, 1, NOTHREAD, 1,   0x0b, 1,
		 /* M 60: P 1 starts, goroutine 1 runs (GOMAXPROCS with it), ends */
		 0x01, 0x01, 60, 0xc8, 0x01, 20,
		 0x0d, 0, 1, 2,   0x0a, 1, 1, 1,   0x10, 1, 1, 1,   0x09, 1, 2, 0,
		 0x11, 97,   0x0b, 1,
		 /* the generation's frequency */
		 0x01, 0x01, NOTHREAD, 0xac, 0x02, 6, 0x08, FREQ_1E9);
	feed_free(&f);
}
END_TEST

/* A created thread with a blocking syscall: P handed off and taken back,
 * the end blocked, then the stacked block and stackless unblock that end
 * the syscall for Go 1.23's profile. */
static void syscall_thread(struct feed *f)
{
	E(f, 0, 100, GoCreate, 1, 1, 0);
	E(f, 0, 101, ProcStart, 50);
	E(f, 0, 102, Gomaxprocs, 2, 0);
	E(f, 0, 103, ProcStop, 0);
	E(f, 1, 200, ProcStart, 60);
	E(f, 1, 200, GoStart, 1, 1);
	E(f, 1, 210, GoCreate, 2, 5, 6);
	E(f, 2, 300, ProcStart, 70);
	E(f, 2, 300, GoStart, 2, 1);
	E(f, 2, 310, GoSysCall, 7);
	E(f, 2, 310, GoSysBlock, 0);
	E(f, 2, 310, ProcStop, 0);
	E(f, 2, 5000, ProcStart, 70);
	E(f, 2, 5000, GoSysExit, 2, 2, 0);
	E(f, 2, 5000, GoStart, 2, 3);
	E(f, 2, 6000, GoEnd, 0);
	E(f, 2, 6000, ProcStop, 0);
	E(f, 1, 7000, GoBlockSync, 8);
	E(f, 1, 7100, GoUnblock, 1, 2, 8);
	E(f, 1, 7100, GoStart, 1, 3);
	E(f, 1, 8000, GoEnd, 0);
	E(f, 1, 8000, ProcStop, 0);
}

START_TEST(transcode_syscall)
{
	static const unsigned want[] = {
		GT_V2_ProcStatus, GT_V2_ProcStart, GT_V2_GoStart, GT_V2_GoSyscallBegin,
		GT_V2_ProcStop, GT_V2_ProcStart, GT_V2_GoSyscallEndBlocked, GT_V2_GoStart,
		GT_V2_GoBlock, GT_V2_GoUnblock, GT_V2_GoStart, GT_V2_GoDestroy, GT_V2_ProcStop,
	};
	struct feed f;
	static struct xout x;
	unsigned t[32];

	feed_init(&f, 0, 0);
	syscall_thread(&f);
	feed_end(&f, &x);
	ck_assert_uint_eq(types_of(&x, 1, 70, t, 32), sizeof(want) / sizeof(want[0]));
	ck_assert_mem_eq(t, want, sizeof(want));
	const struct xev *e = find(&x, GT_V2_GoCreate, 2, 0);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(pc_of(&x, 1, e->a[1]), 0x401005);
	ck_assert_uint_eq(pc_of(&x, 1, e->a[2]), 0x401006);
	ck_assert_uint_lt(e->a[2], 5);   /* the generation's own ids, from 1 */
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_GoSyscallBegin, 2, 0));   /* P 2's seq 2 */
	ck_assert_uint_eq(pc_of(&x, 1, e->a[1]), 0x401007);
	ck_assert_uint_eq(e->ts, 310);
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_ProcStart, 2, 1));
	ck_assert_uint_eq(e->a[1], 3);
	/* The goroutine's seqs: start 1, start 2 after the syscall, unblock 3,
	 * start 4. */
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_GoUnblock, 2, 0));
	ck_assert_uint_eq(e->a[1], 3);
	ck_assert_uint_eq(e->a[2], 0);   /* stackless: no scheduling latency counted */
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_GoStart, 2, 2));
	ck_assert_uint_eq(e->a[1], 4);
	ck_assert_ptr_nonnull(e = find_reason(&x, GT_V2_GoBlock, "syscall", 0));
	ck_assert_uint_eq(pc_of(&x, 1, e->a[1]), 0x401007);
	ck_assert_uint_lt(e->ts, 5010);
	ck_assert_ptr_nonnull(e = find_reason(&x, GT_V2_GoBlock, "sync", 0));
	ck_assert_uint_eq(pc_of(&x, 1, e->a[1]), 0x401008);
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_GoUnblock, 1, 0));   /* a stacked unblock */
	ck_assert_uint_eq(pc_of(&x, 1, e->a[2]), 0x401008);
	ck_assert(has_text(&x, 1, "main"));
	ck_assert(has_text(&x, 1, "main.c"));
	ck_assert_uint_eq(x.nstk, 4);   /* 5, 6, 7, 8: only those named */
	ck_assert_uint_eq(x.stk[0].n, 1);
	ck_assert_str_eq(str_of(&x, 1, x.stk[0].fr[0][1]), "main");
	ck_assert_str_eq(str_of(&x, 1, x.stk[0].fr[0][2]), "main.c");
	ck_assert_uint_eq(x.stk[0].fr[0][3], 7);
	ck_assert_uint_eq(x.nstr, 4);   /* main, main.c, syscall, sync */
	ck_assert_uint_eq(x.nfreq, 1);
	/* Times never repeat, in the order written. */
	for (size_t i = 0; i < x.nev; i++)
		for (size_t j = i + 1; j < x.nev; j++)
			ck_assert_uint_ne(x.ev[i].ts, x.ev[j].ts);
	feed_free(&f);

	feed_init(&f, 0, GT_V2_NO_SYSCALL_FIX);
	syscall_thread(&f);
	feed_end(&f, &x);
	ck_assert_uint_eq(types_of(&x, 1, 70, t, 32), sizeof(want) / sizeof(want[0]) - 3);
	ck_assert_ptr_null(find_reason(&x, GT_V2_GoBlock, "syscall", 0));
	feed_free(&f);
}
END_TEST

/* Generations: each ends with its own stacks, strings and frequency; the
 * next starts with the status of every P and goroutine, where the reader
 * needs them (a running one on its M), and the seqs start again. */
START_TEST(transcode_generations)
{
	struct feed f;
	static struct xout x;

	feed_init(&f, 1000, 0);
	syscall_thread(&f);
	feed_end(&f, &x);
	ck_assert_uint_ge(x.last_gen, 4);   /* 100..., 1xxx, 5000, 6000, 7000, 8000 */
	ck_assert_uint_eq(x.nfreq, x.last_gen);
	for (size_t i = 0; i < x.nfreq; i++)
		ck_assert_uint_eq(x.freq_gens[i], i + 1);
	/* The generation of 5000: goroutine 2 was in its syscall on M 70
	 * (P 2 given up): its status on M 70; P 1 running goroutine 1 on M 60
	 * (both statuses there); P 0 idle (M 50, the first M, says so). */
	uint64_t g = 0;
	for (size_t i = 0; i < x.nev; i++)
		if (x.ev[i].type == GT_V2_GoSyscallEndBlocked)
			g = x.ev[i].gen;
	ck_assert_uint_gt(g, 1);
	int seen = 0;
	for (size_t i = 0; i < x.nev; i++) {
		const struct xev *e = &x.ev[i];
		if (e->gen != g || (e->type != GT_V2_GoStatus && e->type != GT_V2_ProcStatus))
			continue;
		if (e->type == GT_V2_GoStatus && e->a[0] == 2) {
			ck_assert_uint_eq(e->m, 70);
			ck_assert_uint_eq(e->a[1], 70);
			ck_assert_uint_eq(e->a[2], GT_V2_GoSyscall);
			seen |= 1;
		} else if (e->type == GT_V2_GoStatus && e->a[0] == 1) {
			ck_assert_uint_eq(e->m, 60);
			ck_assert_uint_eq(e->a[2], GT_V2_GoRunning);
			seen |= 2;
		} else if (e->type == GT_V2_ProcStatus && e->a[0] == 1) {
			ck_assert_uint_eq(e->m, 60);
			ck_assert_uint_eq(e->a[1], GT_V2_ProcRunning);
			seen |= 4;
		} else if (e->type == GT_V2_ProcStatus && e->a[0] == 0) {
			ck_assert_uint_eq(e->m, 50);
			ck_assert_uint_eq(e->a[1], GT_V2_ProcIdle);
			seen |= 8;
		}
	}
	ck_assert_int_eq(seen, 15);
	const struct xev *e = find(&x, GT_V2_ProcStart, 2, 1);
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->gen, g);
	ck_assert_uint_eq(e->a[1], 1);   /* P 2's seq again from 1 */
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_GoStart, 2, 1));
	ck_assert_uint_eq(e->a[1], 1);
	/* Each generation names its own strings: the sync reason where the
	 * block is. */
	ck_assert_ptr_nonnull(e = find_reason(&x, GT_V2_GoBlock, "sync", 0));
	ck_assert(has_text(&x, e->gen, "sync"));
	ck_assert(has_text(&x, e->gen, "main"));   /* its stack's function */
	ck_assert(!has_text(&x, 1, "sync"));
	/* GOMAXPROCS once per generation that ran a goroutine. */
	ck_assert_ptr_nonnull(find(&x, GT_V2_ProcsChange, 2, 1));
	feed_free(&f);
}
END_TEST

/* A trace started mid-run: the snapshot declares goroutines waiting or in
 * a syscall. One whose thread is known keeps its syscall (status on its
 * M, its return a blocked end); one whose thread is not shows waiting. */
static void midrun(struct feed *f)
{
	E(f, 0, 100, GoCreate, 1, 1, 0);
	E(f, 0, 101, ProcStart, 50);
	E(f, 0, 102, GoCreate, 2, 2, 0);
	E(f, 0, 102, GoInSyscall, 2);
	E(f, 0, 103, GoCreate, 3, 3, 0);
	E(f, 0, 103, GoWaiting, 3);
	E(f, 0, 104, Gomaxprocs, 2, 0);
	E(f, 0, 105, ProcStop, 0);
	E(f, 2, 500, ProcStart, 80);
	E(f, 2, 500, GoSysExit, 2, 2, 0);
	E(f, 2, 500, GoStart, 2, 3);
	E(f, 2, 600, GoEnd, 0);
	E(f, 2, 600, ProcStop, 0);
	E(f, 3, 700, ProcStart, 90);
	E(f, 3, 700, GoUnblock, 3, 2, 3);
	E(f, 3, 700, GoStart, 3, 3);
	E(f, 3, 800, GoEnd, 0);
	E(f, 3, 800, ProcStop, 0);
}

START_TEST(transcode_midrun)
{
	struct feed f;
	static struct xout x;
	const struct xev *e;

	feed_init(&f, 0, 0);
	ck_assert_int_eq(gt_v2_thread(f.st, 2, 80), 0);
	midrun(&f);
	feed_end(&f, &x);
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_GoStatus, 2, 0));
	ck_assert_uint_eq(e->m, 80);
	ck_assert_uint_eq(e->a[1], 80);
	ck_assert_uint_eq(e->a[2], GT_V2_GoSyscall);
	ck_assert_uint_ge(e->ts, 104);   /* Gomaxprocs ends the snapshot */
	ck_assert_uint_lt(e->ts, 110);
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_GoStatus, 3, 0));
	ck_assert_uint_eq(e->m, 50);
	ck_assert_uint_eq(e->a[2], GT_V2_GoWaiting);
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_GoStatus, 1, 0));
	ck_assert_uint_eq(e->a[2], GT_V2_GoRunnable);
	unsigned t[16];
	static const unsigned want[] = { GT_V2_GoStatus, GT_V2_ProcStatus, GT_V2_ProcStart,
					 GT_V2_GoSyscallEndBlocked, GT_V2_GoStart,
					 GT_V2_ProcsChange, GT_V2_GoDestroy, GT_V2_ProcStop };
	ck_assert_uint_eq(types_of(&x, 1, 80, t, 16), 8);
	ck_assert_mem_eq(t, want, sizeof(want));
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_GoUnblock, 3, 0));
	ck_assert_uint_eq(e->a[1], 1);
	ck_assert_uint_eq(pc_of(&x, 1, e->a[2]), 0x401003);
	feed_free(&f);

	feed_init(&f, 0, 0);   /* no thread known for goroutine 2 */
	midrun(&f);
	feed_end(&f, &x);
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_GoStatus, 2, 0));
	ck_assert_uint_eq(e->a[2], GT_V2_GoWaiting);
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_GoUnblock, 2, 0));
	ck_assert_uint_eq(e->m, 80);
	ck_assert_ptr_null(find(&x, GT_V2_GoSyscallEndBlocked, 0, 0));
	struct gt_v2_stats s;
	gt_v2_get_stats(f.st, &s);
	ck_assert_uint_eq(s.dropped, 0);
	feed_free(&f);
}
END_TEST

/* A thread announcing itself (GoCreate on its P before ProcStart); a log
 * line (its message a string of the generation); the writer's last heap
 * figure on the stopped P 0; an event the reader would refuse. */
START_TEST(transcode_misc)
{
	struct feed f;
	static struct xout x;
	const struct xev *e;
	uint64_t log[3] = { 0, 1, 9 };

	feed_init(&f, 0, 0);
	E(&f, 0, 100, ProcStart, 50);
	E(&f, 0, 101, Gomaxprocs, 4, 0);
	E(&f, 0, 102, ProcStop, 0);
	E(&f, 1, 200, GoCreate, 7, 4, 0);
	E(&f, 1, 201, ProcStart, 60);
	E(&f, 1, 201, GoStartLabel, 7, 1, 2);
	ck_assert_int_eq(gt_v2_event(f.st, 1, 250, GT_EV_UserLog, log, 3,
				     (const uint8_t *)"hello", 5, &f.out), 0);
	E(&f, 1, 300, GoStart, 99, 1);   /* no such goroutine: dropped */
	E(&f, 1, 400, GoEnd, 0);
	E(&f, 1, 400, ProcStop, 0);
	E(&f, 0, 500, HeapAlloc, 1000);
	feed_end(&f, &x);
	unsigned t[16];
	static const unsigned want[] = { GT_V2_ProcStatus, GT_V2_ProcStart, GT_V2_GoCreate,
					 GT_V2_GoStart, GT_V2_GoLabel, GT_V2_ProcsChange,
					 GT_V2_UserLog, GT_V2_GoDestroy, GT_V2_ProcStop };
	ck_assert_uint_eq(types_of(&x, 1, 60, t, 16), sizeof(want) / sizeof(want[0]));
	ck_assert_mem_eq(t, want, sizeof(want));
	ck_assert_ptr_nonnull(e = find_reason(&x, GT_V2_GoLabel, "main.c", 0));
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_UserLog, 0, 0));
	ck_assert_str_eq(str_of(&x, 1, e->a[1]), "main");
	ck_assert_str_eq(str_of(&x, 1, e->a[2]), "hello");
	ck_assert_uint_eq(pc_of(&x, 1, e->a[3]), 0x401009);
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_ProcsChange, 4, 0));
	ck_assert_uint_eq(e->m, 60);
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_HeapAlloc, 1000, 0));
	ck_assert_uint_eq(e->m, 50);
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_ProcStart, 0, 1));   /* P 0 again, for it */
	ck_assert_uint_eq(e->a[1], 2);
	struct gt_v2_stats s;
	gt_v2_get_stats(f.st, &s);
	ck_assert_uint_eq(s.dropped, 1);
	feed_free(&f);
}
END_TEST

/* A 1.19 stack record of 200 frames (1.19 allows up to 1000; 1.22 128). */
static size_t big_stack(uint8_t *s, uint64_t id)
{
	uint8_t payload[9000], *q = payload;

	q = gt_put_uvarint(q, id);
	q = gt_put_uvarint(q, 200);
	for (uint64_t i = 0; i < 200; i++) {
		q = gt_put_uvarint(q, 0x500000 + i);
		q = gt_put_uvarint(q, 1);
		q = gt_put_uvarint(q, 2);
		q = gt_put_uvarint(q, i);
	}
	s[0] = GT_EV_Stack | 3 << 6;
	uint8_t *t = gt_put_uvarint(s + 1, (uint64_t)(q - payload));
	memcpy(t, payload, (size_t)(q - payload));
	return (size_t)(t - s) + (size_t)(q - payload);
}

/* gt_v2_batch reads a 1.19 batch as the writer receives it (strings
 * inline): the same output as its events one by one. */
START_TEST(transcode_batch)
{
	static uint8_t stk[10000];
	uint8_t b[512], *e = b, str[32];
	size_t nstk = big_stack(stk, 9);
	size_t nstr = (size_t)(gt_put_string(str, 1ull << 32, "worker", 6) - str);
	struct feed f, g;
	uint64_t ts = 1000;
	static struct xout x, y;

	e = gt_put_batch(e, 1, ts);
	e = gt_put_event(e, GT_EV_ProcStart, (const uint64_t[]){ 0, 60 }, 2);
	e = gt_put_event(e, GT_EV_GoStart, (const uint64_t[]){ 0, 1, 1 }, 3);
	memcpy(e, str, nstr);
	e += nstr;
	e = gt_put_event(e, GT_EV_GoBlockNet, (const uint64_t[]){ 10, 9 }, 2);
	e = gt_put_event(e, GT_EV_GoUnblock, (const uint64_t[]){ 50, 1, 2, 9 }, 4);
	e = gt_put_event(e, GT_EV_GoStartLabel, (const uint64_t[]){ 0, 1, 3, 1ull << 32 }, 4);
	e = gt_put_event(e, GT_EV_GoEnd, (const uint64_t[]){ 5 }, 1);
	e = gt_put_event(e, GT_EV_ProcStop, (const uint64_t[]){ 0 }, 1);

	feed_init(&f, 0, 0);
	ck_assert_int_eq(gt_v2_untimed(f.st, stk, nstk), 0);
	E(&f, 0, 900, GoCreate, 1, 1, 0);
	E(&f, 0, 901, Gomaxprocs, 2, 0);
	ck_assert_int_eq(gt_v2_batch(f.st, b, (size_t)(e - b), &f.out), 0);
	feed_end(&f, &x);

	feed_init(&g, 0, 0);
	ck_assert_int_eq(gt_v2_untimed(g.st, stk, nstk), 0);
	E(&g, 0, 900, GoCreate, 1, 1, 0);
	E(&g, 0, 901, Gomaxprocs, 2, 0);
	ck_assert_int_eq(gt_v2_untimed(g.st, str, nstr), 0);
	E(&g, 1, ts, ProcStart, 60);
	E(&g, 1, ts, GoStart, 1, 1);
	E(&g, 1, ts + 10, GoBlockNet, 9);
	E(&g, 1, ts + 60, GoUnblock, 1, 2, 9);
	E(&g, 1, ts + 60, GoStartLabel, 1, 3, 1ull << 32);
	E(&g, 1, ts + 65, GoEnd, 0);
	E(&g, 1, ts + 65, ProcStop, 0);
	feed_end(&g, &y);

	ck_assert_uint_eq(f.out.len, g.out.len);
	ck_assert_mem_eq(f.out.p, g.out.p, f.out.len);
	ck_assert(has_text(&x, 1, "worker"));
	int found = 0;
	for (size_t i = 0; i < x.nstk; i++)
		if (x.stk[i].fr[0][0] == 0x500000) {
			ck_assert_uint_eq(x.stk[i].n, GT_V2_MAX_FRAMES);
			ck_assert_uint_eq(x.stk[i].fr[127][0], 0x500000 + 127);
			found = 1;
		}
	ck_assert(found);
	/* An event before any batch header. */
	ck_assert_int_eq(gt_v2_batch(f.st, (const uint8_t[]){ 0x0e, 0x01, 0x02, 0x03 }, 4,
				     &f.out), -2);
	feed_free(&f);
	feed_free(&g);
}
END_TEST

/* Batches as the writer receives them: a child thread's batch before its
 * creator's (whose GoCreate still sat in its buffer). GT_V2_ARRIVAL takes
 * the child's first start as a creation to come; Go's reader puts the
 * GoCreate first by the sequence numbers. Without it the child is lost. */
static void arrival(struct feed *f)
{
	E(f, 0, 100, GoCreate, 1, 1, 0);
	E(f, 0, 101, ProcStart, 50);
	E(f, 0, 102, Gomaxprocs, 2, 0);
	E(f, 0, 103, ProcStop, 0);
	E(f, 2, 300, ProcStart, 70);   /* the child's batch arrives first */
	E(f, 2, 300, GoStart, 2, 1);
	E(f, 2, 400, GoBlockSync, 5);
	E(f, 2, 450, GoUnblock, 2, 2, 5);
	E(f, 2, 450, GoStart, 2, 3);
	E(f, 2, 500, GoEnd, 0);
	E(f, 2, 500, ProcStop, 0);
	E(f, 1, 200, ProcStart, 60);   /* then its creator's */
	E(f, 1, 200, GoStart, 1, 1);
	E(f, 1, 250, GoCreate, 2, 6, 7);
	E(f, 1, 600, GoEnd, 0);
	E(f, 1, 600, ProcStop, 0);
}

START_TEST(transcode_arrival)
{
	struct feed f;
	static struct xout x;
	struct gt_v2_stats s;
	const struct xev *e;

	feed_init(&f, 0, GT_V2_ARRIVAL);
	arrival(&f);
	feed_end(&f, &x);
	gt_v2_get_stats(f.st, &s);
	ck_assert_uint_eq(s.dropped, 0);
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_GoCreate, 2, 0));
	ck_assert_uint_eq(e->m, 60);
	ck_assert_uint_eq(e->ts, 250);   /* times as they were: no +1 ns in this mode */
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_GoStart, 2, 0));
	ck_assert_uint_eq(e->m, 70);
	ck_assert_uint_eq(e->a[1], 1);
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_GoUnblock, 2, 0));
	ck_assert_uint_eq(e->a[1], 2);
	ck_assert_ptr_nonnull(e = find(&x, GT_V2_GoStart, 2, 1));
	ck_assert_uint_eq(e->a[1], 3);
	feed_free(&f);

	feed_init(&f, 0, 0);
	arrival(&f);
	feed_end(&f, &x);
	gt_v2_get_stats(f.st, &s);
	ck_assert_uint_eq(s.dropped, 5);   /* GoStart, block, unblock, start, end */
	feed_free(&f);
}
END_TEST

/* The writer's cut (in-process, arrival order): a child's start before its
 * creation leaves a creation to come, which a generation must not end
 * without (gt_v2_pending); once it came, the cut is whole and the next
 * generation opens with the statuses. The file so far ends at a whole
 * generation (gt_v2_whole_end), and a cut inside one is cut back. */
START_TEST(transcode_pending_whole)
{
	struct feed f;
	uint64_t gens = 9;

	feed_init(&f, 0, GT_V2_ARRIVAL);
	E(&f, 0, 100, GoCreate, 1, 1, 0);
	E(&f, 0, 101, ProcStart, 50);
	E(&f, 0, 102, Gomaxprocs, 2, 0);
	E(&f, 0, 103, ProcStop, 0);
	E(&f, 2, 300, ProcStart, 70);   /* the child first */
	E(&f, 2, 300, GoStart, 2, 1);
	ck_assert_uint_eq(gt_v2_pending(f.st), 1);
	E(&f, 1, 200, ProcStart, 60);
	E(&f, 1, 200, GoStart, 1, 1);
	E(&f, 1, 250, GoCreate, 2, 6, 7);
	ck_assert_uint_eq(gt_v2_pending(f.st), 0);
	ck_assert_int_eq(gt_v2_generation_end(f.st, &f.out), 0);
	size_t g1 = f.out.len;
	ck_assert_uint_eq(gt_v2_whole_end(f.out.p, g1, &gens), g1);
	ck_assert_uint_eq(gens, 1);
	E(&f, 2, 500, GoEnd, 0);
	E(&f, 2, 500, ProcStop, 0);
	ck_assert_int_eq(gt_v2_finish(f.st, &f.out), 0);
	ck_assert_uint_eq(gt_v2_whole_end(f.out.p, f.out.len, &gens), f.out.len);
	ck_assert_uint_eq(gens, 2);
	for (size_t n = g1; n < f.out.len; n++) {   /* generation 2 cut anywhere */
		ck_assert_uint_eq(gt_v2_whole_end(f.out.p, n, &gens), g1);
		ck_assert_uint_eq(gens, 1);
	}
	ck_assert_uint_eq(gt_v2_whole_end(f.out.p, g1 - 1, &gens), 0);
	ck_assert_int_eq(gt_v2_header_minor(f.out.p, f.out.len), 22);
	ck_assert_int_eq(gt_v2_header_minor("go 1.19 trace\0\0\0", 16), 0);
	ck_assert_int_eq(gt_v2_header_minor("go 1.25 trace\0\0\0", 16), 25);
	ck_assert_int_eq(gt_v2_header_minor("go 1.22 trace", 13), 0);
	feed_free(&f);
}
END_TEST

/* A trace without Gomaxprocs (Go's snapshot end): the snapshot ends when a
 * goroutine runs; a later GoCreate is a creation, not a declaration. */
START_TEST(transcode_no_gomaxprocs)
{
	struct feed f;
	static struct xout x;
	struct gt_v2_stats s;

	feed_init(&f, 0, 0);
	E(&f, 0, 100, GoCreate, 1, 1, 0);
	E(&f, 0, 101, ProcStart, 50);
	E(&f, 0, 102, ProcStop, 0);
	E(&f, 1, 200, ProcStart, 60);
	E(&f, 1, 200, GoStart, 1, 1);
	E(&f, 1, 210, GoCreate, 2, 5, 6);
	E(&f, 2, 300, ProcStart, 70);
	E(&f, 2, 300, GoStart, 2, 1);
	E(&f, 2, 400, GoEnd, 0);
	E(&f, 2, 400, ProcStop, 0);
	feed_end(&f, &x);
	gt_v2_get_stats(f.st, &s);
	ck_assert_uint_eq(s.dropped, 0);
	ck_assert_ptr_nonnull(find(&x, GT_V2_GoStatus, 1, 0));
	ck_assert_ptr_nonnull(find(&x, GT_V2_GoCreate, 2, 0));
	ck_assert_ptr_null(find(&x, GT_V2_GoStatus, 2, 0));
	ck_assert_ptr_null(find(&x, GT_V2_ProcsChange, 0, 0));
	feed_free(&f);
}
END_TEST

/* No event at all: still a file Go reads (one generation, its frequency). */
START_TEST(transcode_empty)
{
	struct feed f;

	feed_init(&f, 0, 0);
	ck_assert_int_eq(gt_v2_finish(f.st, &f.out), 0);
	ck_bytes(f.out.p, f.out.len, 'g', 'o', ' ', '1', '.', '2', '2', ' ', 't', 'r', 'a', 'c',
		 'e', 0, 0, 0, 0x01, 0x01, NOTHREAD, 0x00, 6, 0x08, FREQ_1E9);
	feed_free(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("go122");
	TCase *tc = tcase_create("go122");

	tcase_add_test(tc, enc_events);
	tcase_add_test(tc, enc_nargs);
	tcase_add_test(tc, enc_batch_string_freq);
	tcase_add_test(tc, transcode_bytes);
	tcase_add_test(tc, transcode_syscall);
	tcase_add_test(tc, transcode_generations);
	tcase_add_test(tc, transcode_midrun);
	tcase_add_test(tc, transcode_misc);
	tcase_add_test(tc, transcode_batch);
	tcase_add_test(tc, transcode_arrival);
	tcase_add_test(tc, transcode_no_gomaxprocs);
	tcase_add_test(tc, transcode_pending_whole);
	tcase_add_test(tc, transcode_empty);
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
