/* core/write/writer.c - batches to file. Service thread only (no locks): the
 * output buffer, the string table and the defined-stack bitmap are its own.
 * On a write error the trace is abandoned (reported at stop) but batches are
 * still consumed, so program threads never wait for a dead file. */
#include "core/write/writer.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/base/arena.h"
#include "core/base/clock.h"
#include "core/record/buf.h"
#include "core/format/decode.h"
#include "core/record/emit.h"
#include "core/base/fdguard.h"
#include "core/base/log.h"
#include "core/format/repair.h"
#include "core/write/out122.h"
#include "core/write/symbol.h"
#include "core/base/config.h"
#include "core/base/real.h"

#define OUT_SIZE (1u << 20)
/* The largest cut trace repaired inside the program (its events are held in
 * memory meanwhile: ~90 bytes each, ~20 events a KiB: 8 MiB -> ~15 MB). */
#define REPAIR_MAX (8u << 20)
#define STALL_S 30          /* a FIFO reader that takes nothing this long ends the trace */

struct strent {
	uint64_t hash;
	const char *s;
	uint64_t id;
};

static struct {
	int fd;
	uint64_t sess;
	int err;
	uint8_t *out;
	size_t len;
	uint32_t max_defined;   /* highest id set in gt_stack_defined */
	struct strent *strs;
	size_t strcap, nstr;
	uint64_t next_str;
	uint64_t notes;         /* notes written (GT_STR_NOTES + n) */
	struct gt_writer_stats st;
} w = { .fd = -1 };
static char w_path[4096] GT_COLD_BSS;   /* the trace's, for messages */

static const char *const fixed_strings[GT_STR_FIXED_END] = {
	[GT_STR_WAIT] = "gotrace.wait",
	[GT_STR_MALLOC] = "malloc",
	[GT_STR_THREAD_NAME] = "thread.name",
	[GT_STR_PROCESS] = gt_process_desc,   /* core/write/describe.c */
};

void gt_writer_put(const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t off = 0;
	uint64_t stalled = 0;

	gt_fd_lock();   /* w.fd cannot move while we write to it */
	while (off < len && !w.err) {
		ssize_t n = gt_write(w.fd, p + off, len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			/* A FIFO (opened O_NONBLOCK) whose reader is behind: wait
			 * for it without fd_lock, which the program's dup2 and
			 * close of our fds take. A reader that reads nothing for
			 * STALL_S ends the trace: an exit must not wait for good. */
			if (++stalled > STALL_S * 10) {
				w.err = ETIMEDOUT;   /* said at the stop (gt_writer_close) */
				break;
			}
			unsigned depth = gt_fd_suspend();
			struct pollfd pfd = { .fd = w.fd, .events = POLLOUT };
			gt_poll(&pfd, 1, 100);
			gt_fd_resume(depth);
			continue;
		}
		stalled = 0;
		if (n <= 0) {   /* said at the stop (gt_writer_close), once */
			w.err = n < 0 ? errno : EIO;
			break;
		}
		off += (size_t)n;
	}
	gt_fd_unlock();
	w.st.bytes += off;
}

/* The output buffer to the file; in a 1.22 trace, its 1.19 records (the
 * strings and stacks defined) to the transcoder. */
static void flush(void)
{
	if (gt_out122_on() && !w.err && gt_out122_feed(w.out, w.len))
		w.err = ENOMEM;
	else if (!gt_out122_on())
		gt_writer_put(w.out, w.len);
	w.len = 0;
}

/* Room for n bytes in the output buffer. */
static uint8_t *need(size_t n)
{
	if (w.len + n > OUT_SIZE)
		flush();
	return w.out + w.len;
}

static void emit_raw(const void *p, size_t n)
{
	if (n > OUT_SIZE / 2) {
		flush();
		if (!w.err) {
			uint8_t *save = w.out;
			w.out = (uint8_t *)p;
			w.len = n;
			flush();
			w.out = save;
		}
		return;
	}
	memcpy(need(n), p, n);
	w.len += n;
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h | 1;
}

static int str_grow(void)
{
	size_t cap = w.strcap ? w.strcap * 2 : 4096;
	struct strent *n = gt_map(cap * sizeof(*n));

	if (!n)
		return -ENOMEM;
	for (size_t i = 0; i < w.strcap; i++) {
		if (!w.strs[i].hash)
			continue;
		size_t j = w.strs[i].hash & (cap - 1);
		while (n[j].hash)
			j = (j + 1) & (cap - 1);
		n[j] = w.strs[i];
	}
	if (w.strs)
		gt_unmap(w.strs, w.strcap * sizeof(*w.strs));
	w.strs = n;
	w.strcap = cap;
	return 0;
}

/* The id of s in this trace, writing its EvString the first time. */
static uint64_t string_id(const char *s)
{
	if (!s || !*s)
		return 0;
	if ((w.nstr + 1) * 2 > w.strcap && str_grow())
		return 0;
	uint64_t h = str_hash(s);
	size_t j = h & (w.strcap - 1);
	for (; w.strs[j].hash; j = (j + 1) & (w.strcap - 1))
		if (w.strs[j].hash == h && strcmp(w.strs[j].s, s) == 0)
			return w.strs[j].id;
	size_t len = strlen(s);
	if (len > 1000000)
		len = 1000000;
	w.strs[j] = (struct strent){ h, s, w.next_str++ };
	w.nstr++;
	w.len = (size_t)(gt_put_string(need(gt_string_size(len)), w.strs[j].id, s, len) - w.out);
	w.st.strings++;
	return w.strs[j].id;
}

/* Outer frames that are libc's thread/process start-up, not the program. */
static int is_startup(const char *f)
{
	static const char *const cut[] = { "start_thread", "clone", "clone3", "__clone",
		"__clone3", "__libc_start_call_main", "__libc_start_main",
		"__libc_start_main_impl", "_start" };
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++)
		if (strcmp(f, cut[i]) == 0)
			return 1;
	return 0;
}

/* Frames of the function a start stack names (one frame, at its entry). */
static void start_frame(const struct gt_stack *e, struct gt_frame *f)
{
	struct gt_sym sym;
	uintptr_t pc = e->pc[0];
	const char *name = NULL;

	if (e->flags & GT_STK_MAIN) {
		pc = gt_sym_main();
		if (!pc) {
			pc = getauxval(AT_ENTRY);
			name = "main";
		}
	}
	gt_sym_lookup(pc, !(e->flags & GT_STK_RET), &sym);
	if (sym.entry && sym.entry != pc) {
		pc = sym.entry;
		gt_sym_lookup(pc, 1, &sym);
	}
	f->pc = pc ? pc : 1;
	f->func = string_id(name ? name : sym.func);
	f->file = string_id(sym.file);
	f->line = sym.line;
}

/* Append the frames at e->pc[i] (inlined calls expanded) to f[*k..max).
 * Inlined frames get their own pc (the inline depth in bits 48-55, above
 * any user address): Go's tools key locations by pc, and one pc must mean
 * one function. Returns 1 when the walk must stop (start-up code reached,
 * or the program's main shown). */
static int frames(const struct gt_stack *e, unsigned i, struct gt_frame *f, unsigned *k,
		  unsigned max)
{
	struct gt_sym sym[GT_SYM_INLINE_MAX];
	uintptr_t pc = e->pc[i];
	int fn = i == 0 && (e->flags & GT_STK_FN);
	const char *name = fn ? gt_stack_fn_name(pc) : NULL;
	int n = 1;

	if (name) {   /* the hooked libc function, named as the program called it */
		sym[0] = (struct gt_sym){ name, gt_sym_object(gt_stack_fn_real(pc)), 0, pc };
	} else if (fn) {
		gt_sym_frames(pc, 1, sym, 1);
	} else {
		n = gt_sym_frames(pc, i == 0 && (e->flags & GT_STK_EXACT), sym, GT_SYM_INLINE_MAX);
		if (i > 0 && is_startup(sym[n - 1].func))
			return 1;
	}
	for (int j = 0; j < n && *k < max; j++) {
		uint64_t depth = (uint64_t)(n - 1 - j);
		f[*k].pc = (pc ? pc : 1) | depth << 48;
		f[*k].func = string_id(sym[j].func);
		f[*k].file = string_id(sym[j].file);
		f[*k].line = sym[j].line;
		(*k)++;
	}
	/* The program's main is the outermost frame worth showing. */
	return strcmp(sym[n - 1].func, "main") == 0;
}

static void define_stack(uint32_t id)
{
	const struct gt_stack *e = gt_stack_get(id);
	struct gt_frame f[GT_STACK_MAX * 2];
	uint8_t rec[16 + 40 * GT_STACK_MAX * 2];
	unsigned k = 0;

	if (!e)
		return;
	if (e->flags & GT_STK_START) {
		start_frame(e, &f[0]);
		k = 1;
	} else {
		for (unsigned i = 0; i < e->n && k < GT_STACK_MAX * 2; i++)
			if (frames(e, i, f, &k, GT_STACK_MAX * 2))
				break;
	}
	if (k == 0) {
		f[0] = (struct gt_frame){ 1, string_id("?"), 0, 0 };
		k = 1;
	}
	uint8_t *end;
	while (!(end = gt_put_stack(rec, id, f, k)) && k > 1)
		k--;   /* payload over 2048 bytes: drop outer frames */
	if (end) {
		emit_raw(rec, (size_t)(end - rec));
		w.st.stacks++;
	}
}

static void define_once(uint64_t id, void *arg)
{
	(void)arg;
	uint64_t *d = gt_stack_defined;

	if (id >= GT_DEFINED_BITS || (d[id / 64] >> (id % 64) & 1))
		return;
	__atomic_store_n(&d[id / 64], d[id / 64] | 1ull << (id % 64), __ATOMIC_RELAXED);
	if (id > w.max_defined)
		w.max_defined = (uint32_t)id;
	define_stack((uint32_t)id);
}

/* The stacks its thread noted as maybe not defined, or all the batch's. */
static void define_stacks_of(const struct gt_chunk *c)
{
	if (c->nstk > GT_CHUNK_STKS)
		gt_scan_stacks(c->data, c->len, define_once, NULL);
	for (uint32_t i = 0; i < c->nstk && i < GT_CHUNK_STKS; i++)
		define_once(c->stk[i], NULL);
}

void gt_writer_chunk(struct gt_chunk *c)
{
	uint32_t len = __atomic_load_n(&c->len, __ATOMIC_ACQUIRE);

	if (w.fd >= 0 && c->sess == w.sess && len) {
		if (!w.err)
			define_stacks_of(c);
		if (!gt_out122_on())
			emit_raw(c->data, len);
		else if ((flush(), !w.err) && gt_out122_feed(c->data, len))
			w.err = ENOMEM;
		w.st.batches++;
	}
	gt_buf_put(c);
}

int gt_writer_drain_until(uint64_t deadline)
{
	struct gt_chunk *c;
	unsigned n = 0;

	while ((++n % 16 || (gt_clock_now() < deadline && (deadline == UINT64_MAX ||
			    gt_out122_held() < gt_cfg.buffer_bytes / 4))) && (c = gt_buf_take()))
		gt_writer_chunk(c);   /* (a 1.22 generation grown to its cap: the loop cuts it) */
	if (w.fd >= 0 && w.len)   /* close behind: a kill loses batches, not 1 MB of ours */
		flush();
	return n % 16 == 0;   /* (stopped by the time, maybe with more queued) */
}

int gt_writer_open(const char *path, uint64_t sess, uint64_t ts0, char *err, size_t errlen)
{
	if (!w.out && !(w.out = gt_map(OUT_SIZE))) {
		gt_fmt(err, errlen, "open %s: %s", path, strerror(ENOMEM));
		return -1;
	}
	if (!gt_stack_defined) {
		uint64_t *d = gt_map(GT_DEFINED_BITS / 8);
		if (!d) {
			gt_fmt(err, errlen, "open %s: %s", path, strerror(ENOMEM));
			return -1;
		}
		__atomic_store_n(&gt_stack_defined, d, __ATOMIC_RELEASE);
	}
	int fd = gt_fd_open_out(path, err, errlen);   /* FIFO: flush() waits */
	if (fd < 0)
		return -1;
	if (gt_cfg.format == GT_FORMAT_GO122 && gt_out122_open()) {
		gt_close(fd);
		gt_fmt(err, errlen, "open %s: %s", path, strerror(ENOMEM));
		return -1;
	}
	w.fd = fd;
	gt_fd_adopt(&w.fd);   /* survives a program closing every fd */
	w.sess = sess;
	w.err = 0;
	w.len = 0;
	memset(&w.st, 0, sizeof(w.st));
	gt_fmt(w_path, sizeof(w_path), "%s", path);
	/* Word by word: a thread still writing the last trace's batches (it
	 * has not seen the stop yet) may read them; what it reads there does
	 * not matter, those batches are dropped. */
	for (uint32_t i = 0; i <= w.max_defined / 64; i++)
		__atomic_store_n(&gt_stack_defined[i], 0, __ATOMIC_RELAXED);
	w.max_defined = 0;
	if (w.strs)
		memset(w.strs, 0, w.strcap * sizeof(*w.strs));
	w.nstr = 0;
	w.next_str = 1;
	w.notes = 0;
	/* Header, then a batch of P 0 holding the untimed records: Go 1.23+
	 * reads nothing that comes before the first batch. */
	if (!gt_out122_on())   /* the transcoder writes its own */
		emit_raw(GT_TRACE_HEADER, GT_TRACE_HEADER_LEN);
	uint8_t *p = need(32), *q = p;
	q = gt_put_batch(q, 0, ts0);
	q = gt_put_frequency(q, GT_FREQUENCY);
	w.len += (size_t)(q - p);
	gt_describe_process();
	for (unsigned i = 1; i < GT_STR_FIXED_END; i++)
		string_id(fixed_strings[i]);
	return 0;
}

/* The system's reason as Go's errors give it: "input/output error", as
 * geth's messages read (the endpoint lower-cases only a last reason). */
static const char *go_err(int e, char buf[64])
{
	gt_fmt(buf, 64, "%s", strerror(e));
	if (buf[0] >= 'A' && buf[0] <= 'Z' && buf[1] >= 'a' && buf[1] <= 'z')
		buf[0] = (char)(buf[0] - 'A' + 'a');
	return buf;
}

int gt_writer_close(char *err, size_t errlen)
{
	char eb[64];

	if (w.fd < 0)
		return 0;
	gt_writer_drain();
	flush();
	int v2 = gt_out122_on();
	uint64_t whole = v2 ? gt_out122_finish() : 0;
	struct stat st;
	struct gt_repair_stats rs;
	char rerr[256];
	int repaired = 0;
	gt_fd_lock();
	int removed = fstat(w.fd, &st) == 0 && st.st_nlink == 0;
	/* A write failed (a full disk): the file ends mid-record, and what it
	 * holds does not order without the batches that never reached it.
	 * Made into what Go reads, where it is (no new space needed). */
	if (w.err && !removed && S_ISREG(st.st_mode) && v2) {   /* its last whole generation */
		repaired = ftruncate(w.fd, (off_t)whole) == 0;
		rs = (struct gt_repair_stats){ .kept = whole, .events = (uint64_t)st.st_size };
	} else if (w.err && !removed && S_ISREG(st.st_mode)) {
		repaired = gt_repair_in_place(w.fd, w_path, REPAIR_MAX, &rs, rerr, sizeof(rerr)) == 0;
		if (!repaired)
			gt_log("%s", rerr);
	}
	gt_fd_unlock();
	gt_fd_release(&w.fd);
	if (gt_close(w.fd) && !w.err && errno != EINTR)
		w.err = errno;
	w.fd = -1;
	w.sess = 0;
	if (w.err && repaired) {
		gt_fmt(err, errlen, v2 ? "write %s: %s: the trace ends at its last whole generation "
		       "(%llu of %llu bytes), Go reads it" : "write %s: %s: the trace ends there, "
		       "repaired: %llu of %llu events kept, Go reads it", w_path, go_err(w.err, eb),
		       (unsigned long long)rs.kept, (unsigned long long)rs.events);
		return -1;
	}
	if (w.err == ETIMEDOUT && !S_ISREG(st.st_mode)) {
		gt_fmt(err, errlen, "write %s: its reader took nothing for %d s: the trace ends "
		       "there", w_path, STALL_S);
		return -1;
	}
	if (w.err) {
		gt_fmt(err, errlen, "write %s: %s: the trace ends there", w_path, go_err(w.err, eb));
		return -1;
	}
	if (removed) {
		gt_fmt(err, errlen, "write %s: the file was removed while the trace was written",
		       w_path);
		return -1;
	}
	return 0;
}

void gt_writer_note(const char *fmt, ...)
{
	char text[GT_NOTE_MAX + 1];
	va_list ap;

	if (w.fd < 0 || gt_out122_on())   /* the 1.22 format has no place for them */
		return;
	va_start(ap, fmt);
	size_t len = gt_vfmt(text, sizeof(text), fmt, ap);
	va_end(ap);
	w.len = (size_t)(gt_put_string(need(gt_string_size(len)), GT_STR_NOTES + w.notes++,
				       text, len) - w.out);
}

uint64_t gt_writer_session(void)
{
	return w.fd >= 0 ? w.sess : 0;
}

int gt_writer_error(void)
{
	return w.err;
}

void gt_writer_get_stats(struct gt_writer_stats *s)
{
	*s = w.st;
}

void gt_writer_after_fork_child(int close_fd)
{
	if (w.fd >= 0 && close_fd)
		gt_close(w.fd);
	w.fd = -1;
	w.sess = 0;
	w.len = 0;
	gt_out122_forget();
}
