/* rpc/cli/convert.c - `gotrace convert IN OUT`: a whole 1.19-format trace
 * into Go's 1.22 format (core/format/go122.h), read by Go 1.22 and later:
 * the file is decoded and its P streams merged as Go 1.19's parser does
 * (core/format/order.c), then fed event by event to the transcoder, which
 * cuts a generation every --gen seconds of trace time.
 * --file-order feeds the batches as the file holds them instead, in one
 * generation (what the writer would see if it transcoded while tracing:
 * docs/go122-trace-format.md 8). */
#include "rpc/cli/convert.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/format/decode.h"
#include "core/format/encode.h"
#include "core/format/events.h"
#include "core/format/go122.h"
#include "core/format/order.h"

struct conv {
	int fd;
	const char *out;
	struct gt_v2_buf buf;
	int err;
};

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* What the transcoder wrote, to the file (when there is enough of it). */
static void drain(struct conv *c, size_t min)
{
	size_t off = 0;

	if (c->buf.len < min || c->err)
		return;
	while (off < c->buf.len) {
		ssize_t n = write(c->fd, c->buf.p + off, c->buf.len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			c->err = n < 0 ? errno : EIO;
			break;
		}
		off += (size_t)n;
	}
	c->buf.len = 0;
}

/* Goroutine -> OS thread, from each P stream: the first goroutine a
 * ProcStart's next event names (lets the snapshot's syscalls keep their
 * thread, gt_v2_thread). */
static void hints(struct gt_v2 *st, const struct gt_trace *t)
{
	for (uint32_t p = 0; p < t->np; p++) {
		const struct gt_pstream *s = &t->ps[p];
		for (size_t i = 0; i + 1 < s->n; i++) {
			const struct gt_oev *e = &s->e[i], *x = &s->e[i + 1];
			if (e->type == GT_EV_ProcStart && x->nargs >= 1 &&
			    (x->type == GT_EV_GoSysExit || x->type == GT_EV_GoUnblock ||
			     x->type == GT_EV_GoStart || x->type == GT_EV_GoStartLabel))
				gt_v2_thread(st, x->args[0], e->args[0]);
		}
	}
}

/* The same, and the frequency, straight from the file (--file-order keeps
 * no copy of the trace: what the writer's memory would be). */
static void scan(struct gt_v2 *st, const uint8_t *b, size_t n)
{
	static uint64_t last[1u << 16];   /* per P: the tid of a ProcStart just read */
	struct gt_rec r;
	size_t off = 16;
	uint64_t p = 0;

	while (gt_decode(b, n, &off, &r) == 1) {
		if (r.type == GT_EV_Batch) {
			p = r.args[0];
			continue;
		}
		if (r.type == GT_EV_Frequency || r.type == GT_EV_String || r.type == GT_EV_Stack)
			continue;
		if (p >= sizeof(last) / sizeof(last[0]))
			continue;
		if (last[p] && r.nargs >= 2 &&
		    (r.type == GT_EV_GoSysExit || r.type == GT_EV_GoUnblock ||
		     r.type == GT_EV_GoStart || r.type == GT_EV_GoStartLabel))
			gt_v2_thread(st, r.args[1], last[p]);
		last[p] = r.type == GT_EV_ProcStart && r.nargs >= 2 ? r.args[1] : 0;
	}
}

static int merged(struct gt_v2 *st, struct gt_trace *t, struct conv *c, double *t_order)
{
	struct gt_oev **ev = NULL;
	char err[160];
	double t0 = now_s();

	if (gt_trace_order(t, &ev, err, sizeof(err)))
		fprintf(stderr, "gotrace: %s: %s: converting the %llu of %llu events before it\n",
			"the 1.19 trace does not order", err, (unsigned long long)t->merged,
			(unsigned long long)t->events);
	*t_order = now_s() - t0;
	if (!ev && t->merged)
		return -1;
	for (uint64_t i = 0; i < t->merged; i++) {
		const struct gt_oev *e = ev[i];
		if (gt_v2_event(st, e->p, e->ts, e->type, e->args, e->nargs, e->str, e->str_len,
				&c->buf))
			break;
		drain(c, 1u << 20);
	}
	free(ev);
	return 0;
}

/* The batches in file order, each with the records after it (its stacks,
 * the next batch's strings: the writer's order). */
static int file_order(struct gt_v2 *st, const uint8_t *b, size_t n, struct conv *c)
{
	struct gt_rec r;
	size_t off = 16, start = 16;
	int k;

	scan(st, b, n);
	while ((k = gt_decode(b, n, &off, &r)) == 1) {
		if (r.type == GT_EV_Frequency && r.args[0])
			gt_v2_untimed(st, b + r.off, r.size);
		if (r.type != GT_EV_Batch || r.off == start)
			continue;
		if (gt_v2_batch(st, b + start, r.off - start, &c->buf) == -1)
			return -1;
		start = r.off;
		drain(c, 1u << 20);
	}
	return gt_v2_batch(st, b + start, off - start, &c->buf) == -1 ? -1 : 0;
}

int gt_cmd_convert(int argc, char **argv, int (*usage)(const char *))
{
	struct gt_v2_opts o = { 1000000000ull, 0 };
	const char *in = NULL, *out = NULL;
	int verbose = 0, forder = 0;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--gen") && i + 1 < argc) {
			char *end;
			double s = strtod(argv[++i], &end);
			if (*end || s < 0)
				return usage("--gen needs seconds (0: one generation)");
			o.gen_ticks = (uint64_t)(s * 1e9);
		} else if (!strcmp(argv[i], "--no-syscall-fix")) {
			o.flags |= GT_V2_NO_SYSCALL_FIX;
		} else if (!strcmp(argv[i], "--file-order")) {
			forder = 1;
		} else if (!strcmp(argv[i], "-v")) {
			verbose = 1;
		} else if (!in) {
			in = argv[i];
		} else if (!out) {
			out = argv[i];
		} else {
			return usage("convert needs IN OUT");
		}
	}
	if (!in || !out)
		return usage("convert needs IN OUT");
	if (forder) {   /* one generation: a cut needs every thread flushed first */
		o.flags |= GT_V2_ARRIVAL;
		o.gen_ticks = 0;
	}

	int fd = open(in, O_RDONLY | O_CLOEXEC);
	struct stat sb;
	if (fd < 0 || fstat(fd, &sb) || sb.st_size < 16) {
		fprintf(stderr, "gotrace: %s: %s\n", in, fd < 0 ? strerror(errno) : "not a trace");
		if (fd >= 0)
			close(fd);
		return 1;
	}
	const uint8_t *b = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (b == MAP_FAILED) {
		fprintf(stderr, "gotrace: read %s: %s\n", in, strerror(errno));
		return 1;
	}
	double t0 = now_s(), t_order = 0;
	struct gt_trace t;
	char err[160] = "not a Go 1.19 trace";
	memset(&t, 0, sizeof(t));
	if (memcmp(b, GT_TRACE_HEADER, GT_TRACE_HEADER_LEN) ||
	    (!forder && gt_trace_load(b, (size_t)sb.st_size, &t, err, sizeof(err)))) {
		fprintf(stderr, "gotrace: %s: %s\n", in, err);
		munmap((void *)b, (size_t)sb.st_size);
		return 1;
	}
	double t_load = now_s() - t0;
	struct conv c = { .out = out };
	c.fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	struct gt_v2 *st = gt_v2_new(&o);
	int r = -1;
	double t1 = now_s();
	if (c.fd < 0) {
		fprintf(stderr, "gotrace: open %s: %s\n", out, strerror(errno));
	} else if (st) {
		if (forder) {
			r = file_order(st, b, (size_t)sb.st_size, &c);
		} else {
			uint8_t fr[16];
			gt_v2_untimed(st, fr, (size_t)(gt_put_frequency(fr, t.freq ? t.freq :
								   GT_FREQUENCY) - fr));
			hints(st, &t);
			for (size_t i = 0; i < t.nuntimed; i++)
				gt_v2_untimed(st, t.untimed[i], t.untimed_len[i]);
			r = merged(st, &t, &c, &t_order);
		}
		if (!r)
			r = gt_v2_finish(st, &c.buf);
		drain(&c, 0);
	}
	double t_conv = now_s() - t1 - t_order;
	struct gt_v2_stats s = { 0 };
	int oom = c.buf.oom;
	if (st)
		gt_v2_get_stats(st, &s);
	if (r || oom)
		fprintf(stderr, "gotrace: convert %s: out of memory\n", in);
	else if (c.err)
		fprintf(stderr, "gotrace: write %s: %s\n", out, strerror(c.err));
	else
		fprintf(stderr, "gotrace: %s: %llu events in %llu generations (Go 1.22 format, "
			"%llu bytes)\n", out, (unsigned long long)s.events_out,
			(unsigned long long)s.generations, (unsigned long long)s.bytes);
	if (s.dropped)
		fprintf(stderr, "gotrace: %llu of %llu events dropped: Go 1.22's reader would "
			"not take them\n", (unsigned long long)s.dropped,
			(unsigned long long)s.events_in);
	if (verbose)
		fprintf(stderr, "gotrace: load %.3f s, order %.3f s, transcode %.3f s: %.0f ns per "
			"1.19 event (%llu in)\n", t_load, t_order, t_conv,
			s.events_in ? t_conv * 1e9 / (double)s.events_in : 0.0,
			(unsigned long long)s.events_in);
	gt_v2_free(st);
	gt_v2_buf_free(&c.buf);
	gt_trace_free(&t);
	munmap((void *)b, (size_t)sb.st_size);
	if (c.fd >= 0 && close(c.fd) && !c.err)
		c.err = errno;
	return r || c.err || oom ? 1 : 0;
}
