/* core/format/repair.c - keep the longest prefix of each P's events that Go 1.19
 * can order (core/format/order.c), re-encode it, then end every goroutine still
 * running and every P still started, so that the viewer opens the file.
 * Lost: what the threads had not handed to the writer when the process
 * died (at most about a second), and what no longer orders without it. */
#include "core/format/repair.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/format/encode.h"
#include "core/format/go122.h"
#include "core/base/log.h"
#include "core/format/order.h"
#include "core/base/real.h"

struct out {
	uint8_t *b;
	size_t n, cap;
	int err;
};

static uint8_t *room(struct out *o, size_t n)
{
	if (o->n + n > o->cap) {
		size_t cap = (o->cap + n) * 2;
		uint8_t *b = gt_realloc(o->b, cap);
		if (!b) {
			o->err = ENOMEM;
			o->n = 0;
			return o->b;
		}
		o->b = b;
		o->cap = cap;
	}
	return o->b + o->n;
}

static void put(struct out *o, uint8_t *end)
{
	if (!o->err)
		o->n = (size_t)(end - o->b);
}

static void ev(struct out *o, uint64_t *last, uint64_t ts, unsigned type, const uint64_t *a,
	       unsigned n, const uint8_t *str, size_t str_len)
{
	uint64_t v[8];

	v[0] = ts - *last;
	if (n)
		memcpy(v + 1, a, n * sizeof(*a));
	*last = ts;
	uint8_t *p = room(o, GT_EVENT_MAX(n + 1) + 10 + str_len);
	if (type == 48 && n == 3)   /* UserLog carries its message */
		put(o, gt_put_userlog(p, v, str, str_len));
	else
		put(o, gt_put_event(p, type, v, n + 1));
}

static int defined(const struct gt_trace *t, uint64_t id)
{
	for (size_t i = 0; i < t->nstack_ids; i++)
		if (t->stack_ids[i] == id)
			return 1;
	return 0;
}

/* A placeholder for the new-goroutine stack of a GoCreate whose definition
 * was lost: the 1.19 tool refuses to start without one. */
static void placeholder_stacks(struct out *o, struct gt_trace *t, uint64_t name_id)
{
	for (uint32_t p = 0; p < t->np; p++)
		for (size_t i = 0; i < t->ps[p].kept; i++) {
			const struct gt_oev *e = &t->ps[p].e[i];
			if (e->type != 13 || defined(t, e->args[1]))
				continue;
			struct gt_frame f = { e->args[1] | 1, name_id, 0, 0 };
			put(o, gt_put_stack(room(o, 64), e->args[1], &f, 1));
			uint64_t *ids = gt_realloc(t->stack_ids, (t->nstack_ids + 1) * sizeof(*ids));
			if (ids) {   /* defined now: once per id */
				t->stack_ids = ids;
				ids[t->nstack_ids++] = e->args[1];
			}
		}
}

struct pend {
	int running;
	uint64_t g;
};

static uint64_t build(struct out *o, struct gt_trace *t, struct gt_oev **m)
{
	uint64_t t0 = UINT64_MAX, t_end = 0, closed = 0;
	struct pend *pp = gt_calloc(t->np + 1, sizeof(*pp));

	for (size_t i = 0; i < t->merged; i++) {
		const struct gt_oev *e = m[i];
		t0 = e->ts < t0 ? e->ts : t0;
		t_end = e->ts > t_end ? e->ts : t_end;
		switch (e->type) {
		case 5: pp[e->p].running = 1; break;                     /* ProcStart */
		case 6: pp[e->p].running = 0; break;                     /* ProcStop */
		case 14: case 41: pp[e->p].g = e->args[0]; break;        /* GoStart */
		case 15: case 16: case 17: case 18: case 19: case 20: case 22: case 23:
		case 24: case 25: case 26: case 27: case 30: pp[e->p].g = 0; break;
		}
	}
	if (t0 == UINT64_MAX)
		t0 = t_end = 0;
	memcpy(room(o, 16), GT_TRACE_HEADER, 16);
	o->n += 16;
	put(o, gt_put_batch(room(o, 32), 0, t0));
	put(o, gt_put_frequency(room(o, 16), t->freq ? t->freq : GT_FREQUENCY));
	for (size_t i = 0; i < t->nuntimed; i++) {
		memcpy(room(o, t->untimed_len[i]), t->untimed[i], t->untimed_len[i]);
		o->n += o->err ? 0 : t->untimed_len[i];
	}
	uint64_t name_id = (1ull << 40) | 7;
	put(o, gt_put_string(room(o, 40), name_id, "unknown (lost)", 14));
	placeholder_stacks(o, t, name_id);
	uint64_t last = t0;
	if (!t->have_gomaxprocs)   /* twice: Go 1.23+ drops the first (core/write/ctl.c) */
		for (int i = 0; i < 2; i++)
			ev(o, &last, t0, 4, (uint64_t[]){ 1, 0 }, 2, NULL, 0);
	for (uint32_t p = 0; p < t->np; p++) {
		struct gt_pstream *s = &t->ps[p];
		if (!s->kept)
			continue;
		last = s->e[0].ts;
		put(o, gt_put_batch(room(o, 32), p, last));
		for (size_t i = 0; i < s->kept; i++)
			ev(o, &last, s->e[i].ts, s->e[i].type, s->e[i].args, s->e[i].nargs,
			   s->e[i].str, s->e[i].str_len);
		if (pp[p].g) {   /* still running: descheduled at the end */
			ev(o, &last, t_end, 17, (uint64_t[]){ 0 }, 1, NULL, 0);
			closed++;
		}
		if (pp[p].running)   /* tidy for the Threads counter; not needed */
			ev(o, &last, t_end, 6, NULL, 0, NULL, 0);
	}
	gt_free(pp);
	return closed;
}

static int write_file(const char *path, const struct out *o, char *err, size_t errlen)
{
	char tmp[4200];

	gt_fmt(tmp, sizeof(tmp), "%s.repair-tmp", path);
	int fd = gt_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		gt_fmt(err, errlen, "open %s: %s", tmp, strerror(errno));
		return -1;
	}
	size_t off = 0;
	while (off < o->n) {
		ssize_t w = gt_write(fd, o->b + off, o->n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			gt_fmt(err, errlen, "write %s: %s", tmp, strerror(w < 0 ? errno : EIO));
			gt_close(fd);
			unlink(tmp);
			return -1;
		}
		off += (size_t)w;
	}
	if (gt_close(fd) || rename(tmp, path)) {
		gt_fmt(err, errlen, "write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* The repaired form of the n bytes at b, into o (caller frees o->b). */
static int repair_buf(const uint8_t *b, size_t n, const char *name, struct out *o,
		      struct gt_repair_stats *st, char *err, size_t errlen)
{
	struct gt_trace t;
	struct gt_oev **m = NULL;
	char oerr[128];

	if (gt_trace_load(b, n, &t, err, errlen)) {
		gt_fmt(oerr, sizeof(oerr), "%s", err);
		gt_fmt(err, errlen, "%s: %s", name, oerr);
		return -1;
	}
	int ordered = gt_trace_order(&t, &m, oerr, sizeof(oerr)) == 0;
	st->valid_bytes = t.valid_end;
	st->events = t.events;
	st->kept = t.merged;
	st->closed = build(o, &t, m);
	st->was_valid = ordered && t.valid_end == n && !st->closed && t.freq && t.have_gomaxprocs;
	gt_free(m);
	gt_trace_free(&t);
	if (o->err) {
		gt_fmt(err, errlen, "repair %s: %s", name, strerror(o->err));
		return -1;
	}
	return 0;
}

int gt_repair(const char *in, const char *outp, struct gt_repair_stats *st, char *err,
	      size_t errlen)
{
	struct stat sb;
	struct out o = { 0 };
	int r = -1;

	memset(st, 0, sizeof(*st));
	int fd = gt_open(in, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb)) {
		gt_fmt(err, errlen, "open %s: %s", in, strerror(errno));
		if (fd >= 0)
			gt_close(fd);
		return -1;
	}
	st->bytes = (uint64_t)sb.st_size;
	const uint8_t *b = sb.st_size ? mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0)
				      : MAP_FAILED;
	gt_close(fd);
	if (b == MAP_FAILED) {
		gt_fmt(err, errlen, "%s: empty or unreadable: nothing was written before it ended", in);
		return -1;
	}
	if (gt_v2_header_minor(b, (size_t)sb.st_size)) {
		o.n = gt_v2_whole_end(b, (size_t)sb.st_size, &st->generations);
		o.b = (uint8_t *)b;
		st->v2 = 1;
		st->valid_bytes = o.n;
		st->was_valid = o.n == (size_t)sb.st_size;
		if (!o.n)
			gt_fmt(err, errlen, "%s: a Go 1.22-format trace without one whole "
			       "generation: nothing Go can read", in);
		else if (st->was_valid && !strcmp(in, outp))
			r = 0;
		else
			r = write_file(outp, &o, err, errlen);
		o.b = NULL;
	} else if (repair_buf(b, (size_t)sb.st_size, in, &o, st, err, errlen) == 0) {
		/* (a whole trace repaired in place: left as it is) */
		r = st->was_valid && !strcmp(in, outp) ? 0 : write_file(outp, &o, err, errlen);
	}
	munmap((void *)b, (size_t)sb.st_size);
	gt_free(o.b);
	return r;
}

int gt_repair_in_place(int fd, const char *name, size_t max_bytes, struct gt_repair_stats *st,
		       char *err, size_t errlen)
{
	struct stat sb;
	struct out o = { 0 };
	int r = -1;

	memset(st, 0, sizeof(*st));
	if (fstat(fd, &sb) || !S_ISREG(sb.st_mode) || !sb.st_size) {
		gt_fmt(err, errlen, "%s: not a regular file with data", name);
		return -1;
	}
	st->bytes = (uint64_t)sb.st_size;
	if ((uint64_t)sb.st_size > max_bytes) {
		gt_fmt(err, errlen, "%s: %llu MB, too big to repair inside the program: "
		       "run gotrace repair %s", name, (unsigned long long)(sb.st_size >> 20), name);
		return -1;
	}
	/* fd is the writer's, write-only: read through a second open of it
	 * (this thread's table: the service thread may have its own). */
	char self[64];
	gt_fmt(self, sizeof(self), "/proc/thread-self/fd/%d", fd);
	int rfd = gt_open(self, O_RDONLY | O_CLOEXEC);
	const uint8_t *b = rfd < 0 ? MAP_FAILED
				   : mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, rfd, 0);
	if (b == MAP_FAILED) {
		gt_fmt(err, errlen, "read %s again to repair it: %s", name, strerror(errno));
		if (rfd >= 0)
			gt_close(rfd);
		return -1;
	}
	gt_close(rfd);
	/* The repaired form is usually smaller (each P's batches merge), but
	 * closing events and placeholder stacks can make it larger: then a
	 * shorter prefix is repaired (the loader stops cleanly at a cut), an
	 * eighth less each time. */
	size_t n = (size_t)sb.st_size;
	int ok = -1;
	for (int tries = 0; tries < 16 && n > 16; tries++, n -= n / 8) {
		gt_free(o.b);
		memset(&o, 0, sizeof(o));
		ok = repair_buf(b, n, name, &o, st, err, errlen);
		if (ok || o.n <= (size_t)sb.st_size)
			break;
	}
	st->bytes = (uint64_t)sb.st_size;
	if (ok == 0) {
		if (o.n > (size_t)sb.st_size) {   /* would need new blocks */
			gt_fmt(err, errlen, "%s: the repaired trace does not fit: run gotrace "
			       "repair %s once there is room", name, name);
		} else {
			/* Over blocks the file has: no new space needed. */
			size_t off = 0;
			while (off < o.n) {
				ssize_t k = gt_pwrite(fd, o.b + off, o.n - off, (off_t)off);
				if (k < 0 && errno == EINTR)
					continue;
				if (k <= 0)
					break;
				off += (size_t)k;
			}
			if (off < o.n || ftruncate(fd, (off_t)o.n))
				gt_fmt(err, errlen, "repair %s: %s", name, strerror(errno));
			else
				r = 0;
		}
	}
	munmap((void *)b, (size_t)sb.st_size);
	gt_free(o.b);
	return r;
}
