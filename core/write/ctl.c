/* core/write/ctl.c - trace start and stop, and a 1.22 trace's generations
 * (core/write/ctl.h). Service thread only:
 * it alone changes gt_trace_on, so sessions never overlap. Start writes the
 * snapshot of live threads on P 0 before publishing the session; stop
 * unpublishes it, then closes every thread under its lock and finishes the
 * file. */
#include "core/write/ctl.h"

#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "core/base/arena.h"
#include "core/record/bprof.h"
#include "core/record/buf.h"
#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/record/emit.h"
#include "core/format/events.h"
#include "core/record/heap.h"
#include "core/record/stack.h"
#include "core/write/symbol.h"
#include "core/write/symhint.h"
#include "core/base/urcu.h"
#include "core/base/log.h"
#include "core/record/thread.h"
#include "core/write/out122.h"
#include "core/write/writer.h"
#include "core/base/sys.h"


/* Told of each trace's start (after it is published) and stop (before the
 * threads are closed): core/process arms its fatal-signal handlers. */
static struct {
	void (*started)(void), (*stopped)(void);
} observer;

void gt_ctl_set_observer(void (*started)(void), void (*stopped)(void))
{
	observer.started = started;
	observer.stopped = stopped;
}

static void (*sampler)(void);   /* core/prof's drain, before a stop */

void gt_ctl_set_sampler(void (*drain)(void))
{
	sampler = drain;
}

/* The address space a trace needs at least (buffers: 2 regions of 1 MB,
 * the writer's 1 MB, the stack table's first pages, libdw when symbols
 * are read), checked under ulimit -v before a start. Measured: README. */
#define AS_MIN (32u << 20)

static uint64_t sess_counter;
static char cur_path[GT_PATH_MAX] GT_COLD_BSS;
static struct gt_thread ctl;       /* the control "thread" writing P 0 */
static struct gt_pslot ctl_ps;     /* P 0 */
static uint64_t sess_t0;           /* the trace's start: no sample before */
static uint64_t gen_t0;            /* a 1.22 trace's open generation: its start */
static uint64_t gen_retry;         /* a put-off cut: not again before this */
static void gen_report(void);

/* Room on the control P; when the pool is dry, the writer (us) drains. */
static int ctl_room(void)
{
	for (int i = 0; i < 3; i++) {
		if (gt_emit_room_locked(&ctl, 64) == 0)
			return 0;
		gt_writer_drain_until(gt_clock_now() + 100000000ull);   /* (threads may refill it) */
	}
	return -ENOMEM;
}

struct snap {
	uint64_t s;
	int err;
	int started;   /* P 0's ProcStart written */
};

/* P 0's ProcStart, one tick after the snapshot's first event: Go rebases
 * time to the first event, and a GoInSyscall at time 0 reads in Go 1.23's
 * viewer as "never ran" (go-trace-format.md 12.1, 2). */
static void ctl_start(struct snap *sn, uint64_t ts)
{
	gt_emit_put_locked(&ctl, ts, GT_EV_ProcStart, 1, (uint64_t)gt_gettid(), 0, 0);
	sn->started = 1;
}

static void declare(struct gt_thread *t, void *arg)
{
	struct snap *sn = arg;

	if (sn->err)
		return;
	gt_lock(&t->lock);
	if (t->state == GT_T_LIVE && !(t->flags & GT_TF_INTERNAL) && !t->sess) {
		uint32_t kind = t->tls ? __atomic_load_n(&t->tls->in_call, __ATOMIC_RELAXED) : 0;
		uint32_t ssid = gt_emit_start_sid(t);
		if (ctl_room()) {
			sn->err = ENOMEM;
		} else {
			uint64_t ts = gt_clock_now();
			gt_emit_put_locked(&ctl, ts, GT_EV_GoCreate, 3, t->goid, ssid, 0);
			if (!sn->started)
				ctl_start(sn, ++ts);
			t->decl = GT_DECL_RUNNABLE;
			if (kind == GT_OP_SYSCALL) {
				gt_emit_put_locked(&ctl, ts, GT_EV_GoInSyscall, 1, t->goid, 0, 0);
				t->decl = GT_DECL_SYSCALL;
				gt_out122_thread(t->goid, (uint64_t)t->tid);   /* its M in 1.22 */
			} else if (kind) {
				gt_emit_put_locked(&ctl, ts, GT_EV_GoWaiting, 1, t->goid, 0, 0);
				t->decl = GT_DECL_WAITING;
			}
			t->decl_sess = sn->s;
			t->decl_ts = ctl.last_ts;
		}
	}
	gt_unlock(&t->lock);
}

static int snapshot(uint64_t s)
{
	struct snap sn = { s, 0, 0 };

	memset(&ctl, 0, sizeof(ctl));
	ctl_ps.id = 0;
	ctl.ps = &ctl_ps;
	ctl.sess = s;
	ctl.last_ts = ctl_ps.last_ts;
	if (ctl_room())
		return -ENOMEM;
	gt_thread_foreach(declare, &sn);
	if (sn.err || ctl_room())
		return -ENOMEM;
	if (!sn.started)
		ctl_start(&sn, gt_clock_now());
	/* The heap figure at start (the counter's first value). */
	uint64_t base = gt_heap_begin();
	gt_emit_put_locked(&ctl, gt_clock_now(), GT_EV_HeapAlloc, 1, base, 0, 0);
	gt_emit_put_locked(&ctl, gt_clock_now(), GT_EV_HeapGoal, 1, base, 0, 0);
	/* Gomaxprocs ends the snapshot (Go 1.23+ reads the GoCreates before
	 * it as "existed at start") and is needed by the MMU page. Twice:
	 * Go 1.23+'s converter takes the first as the snapshot's end and
	 * drops it, and its /mmu page fails without one. */
	for (int i = 0; i < 2; i++)
		gt_emit_put_locked(&ctl, gt_clock_now(), GT_EV_Gomaxprocs, 2,
				   (uint64_t)get_nprocs(), 0, 0);
	gt_emit_put_locked(&ctl, gt_clock_now(), GT_EV_ProcStop, 0, 0, 0, 0);
	ctl_ps.last_ts = ctl.last_ts;
	gt_buf_submit(ctl.chunk);
	ctl.chunk = NULL;
	return 0;
}

int gt_ctl_prepare(char *err, size_t errlen)
{
	if (!gt_urcu_load()) {
		gt_fmt(err, errlen, "liburcu (liburcu-bp.so.8, liburcu-cds.so.8) not loaded: "
		       "no tracing");
		return -1;
	}
	gt_stack_prepare();
	gt_heap_prepare();
	gt_sym_prepare();
	gt_clock_prepare();
	return 0;
}

/* The buffers' counts at the trace's start: its stop says on stderr how
 * often threads waited for the writer meanwhile (the cap reached). */
static struct gt_buf_stats start_bs;

uint64_t gt_ctl_start(const char *path, char *err, size_t errlen)
{
	if (__atomic_load_n(&gt_trace_on, __ATOMIC_RELAXED) || gt_writer_session()) {
		gt_fmt(err, errlen, "trace already in progress");
		return 0;
	}
	/* ulimit -v: a trace that would take the room the program needs is
	 * not started, before anything is loaded for it (liburcu aborts on a
	 * failed allocation; the program's own pthread_create would fail):
	 * buffers take a quarter of what is left, and a trace needs AS_MIN. */
	size_t room = gt_as_room();
	if (room < AS_MIN) {
		gt_fmt(err, errlen, "start %s: %zu MB of address space left under ulimit -v "
		       "(RLIMIT_AS): a trace needs %u MB", path, room >> 20, AS_MIN >> 20);
		return 0;
	}
	if (gt_ctl_prepare(err, errlen))
		return 0;
	gt_buf_limit(room);
	gt_symhint_start();
	uint64_t s = ++sess_counter;
	/* P 0's header batch starts at ts0, before any event of the trace. */
	if (gt_writer_open(path, s, gt_clock_now(), err, errlen))
		return 0;
	if (snapshot(s)) {
		gt_fmt(err, errlen, "start %s: %s", path, strerror(ENOMEM));
		gt_writer_close(err, 0);
		return 0;
	}
	gt_writer_drain();
	gt_buf_reserve();   /* the hooks' first chunks, their pages touched */
	gt_clock_tick();   /* the TSC's anchor, fresh for the hooks */
	gt_fmt(cur_path, sizeof(cur_path), "%s", path);
	gen_t0 = sess_t0 = gt_clock_now();
	gen_retry = 0;
	gt_buf_get_stats(&start_bs);   /* the waits for the writer, counted from here */
	/* Threads read this (acquire) before their clock: every event they
	 * write is later than the snapshot's. */
	__atomic_store_n(&gt_trace_on, s, __ATOMIC_RELEASE);
	gt_rec_update();
	if (observer.started)
		observer.started();
	return s;
}

/* Queue every thread's batch before any is closed: a close needs a chunk,
 * and with more threads than chunks they would all be held otherwise. */
static void flush_thread(struct gt_thread *t, void *arg)
{
	uint64_t s = *(uint64_t *)arg;
	int locked;

	if (__atomic_load_n(&t->sess, __ATOMIC_RELAXED) != s || (locked = gt_thread_lock_service(t, 1000000)) < 0)
		return;
	if (t->sess == s)
		gt_emit_flush_locked(t);
	if (locked)
		gt_unlock(&t->lock);
}

static void close_thread(struct gt_thread *t, void *arg)
{
	uint64_t s = *(uint64_t *)arg;
	int locked = gt_thread_lock_service(t, 1000000);

	if (locked < 0) {
		gt_log("thread %d busy at trace stop; its last events are lost", t->tid);
		return;
	}
	if (t->sess == s)
		gt_emit_close_locked(t, s, gt_clock_now());
	if (locked)
		gt_unlock(&t->lock);
}

/* ---- CPU samples (core/prof), on P 0 as Go's runtime writes them ---- */
int gt_ctl_cpu_sample(uint64_t at, uint64_t p, uint64_t goid, const uintptr_t *pc, unsigned n)
{
	uint64_t s = __atomic_load_n(&gt_trace_on, __ATOMIC_RELAXED);

	if (!s || at < sess_t0 || gt_writer_session() != s)
		return -1;
	if (!ctl.chunk) {
		ctl.sess = s;
		ctl.ps = &ctl_ps;
		ctl.last_ts = ctl_ps.last_ts;
	}
	uint32_t sid = gt_stack_intern(pc, n, GT_STK_EXACT);
	if (ctl_room())
		return -1;
	gt_emit_sample_locked(&ctl, gt_clock_now(), at, p, goid, sid);
	ctl_ps.last_ts = ctl.last_ts;
	return 0;
}

void gt_ctl_cpu_flush(void)
{
	if (ctl.chunk) {
		gt_buf_submit(ctl.chunk);
		ctl.chunk = NULL;
	}
}

/* The exact heap figure at the end, on P 0 (a counter needs no goroutine). */
static void final_heap(uint64_t s)
{
	uint64_t live, peak;

	gt_heap_end(s, &live, &peak);
	ctl.sess = s;
	ctl.ps = &ctl_ps;
	ctl.last_ts = ctl_ps.last_ts;
	if (ctl_room())
		return;
	uint64_t ts = gt_clock_now();
	gt_emit_put_locked(&ctl, ts, GT_EV_HeapAlloc, 1, live, 0, 0);
	gt_emit_put_locked(&ctl, ts, GT_EV_HeapGoal, 1, peak, 0, 0);
	ctl_ps.last_ts = ctl.last_ts;
	gt_buf_submit(ctl.chunk);
	ctl.chunk = NULL;
}

int gt_ctl_stop(char *err, size_t errlen)
{
	uint64_t s = __atomic_load_n(&gt_trace_on, __ATOMIC_RELAXED);
	struct gt_buf_stats bs0 = start_bs, bs1;

	if (!s) {
		gt_fmt(err, errlen, "trace not in progress");
		return -1;
	}
	if (sampler)   /* the CPU samples taken so far, into this trace */
		sampler();
	/* No thread enters any more; those inside write their group, and each
	 * is then closed under its lock (see gt_emit_enter_locked). */
	__atomic_store_n(&gt_trace_on, 0, __ATOMIC_SEQ_CST);
	gt_rec_update();
	if (observer.stopped)
		observer.stopped();
	gt_thread_foreach(flush_thread, &s);
	gt_thread_foreach(close_thread, &s);
	final_heap(s);
	/* Every stack defined (symbolised): then the notes. A 1.22 trace's
	 * generations are cut at a quarter of the cap meanwhile, as while
	 * tracing (the queue is at most the cap, and one generation held it
	 * whole: 84 MB of a 64 MB cap). */
	while (gt_writer_drain_until(UINT64_MAX - 1))
		if (gt_out122_on() && (gt_out122_pending() || gt_out122_cut(0))) {
			gt_writer_drain();
			break;
		}
	gt_symhint_report(gt_writer_note);
	int v2 = gt_out122_on();
	int r = gt_writer_close(err, errlen);
	if (v2 && gt_cfg.debug)
		gen_report();
	gt_buf_get_stats(&bs1);
	if (bs1.waits > bs0.waits)
		gt_log("threads waited %llu times (%llu ms in all) for the trace writer; "
		       "GOTRACE_BUFFER_MB raises the cap",
		       (unsigned long long)(bs1.waits - bs0.waits),
		       (unsigned long long)((bs1.wait_ns - bs0.wait_ns) / 1000000));
	gt_stack_log_stats();
	cur_path[0] = '\0';
	gt_buf_trim();
	return r;   /* its callers say err once on stderr (and in an RPC reply) */
}

uint64_t gt_ctl_session(void)
{
	return __atomic_load_n(&gt_trace_on, __ATOMIC_RELAXED);
}

const char *gt_ctl_path(void)
{
	return cur_path;
}

static void flush_idle(struct gt_thread *t, void *arg)
{
	uint64_t s = *(uint64_t *)arg;

	if (!gt_trylock(&t->lock))
		return;
	if (t->state == GT_T_LIVE && t->sess == s)
		gt_emit_flush_locked(t);
	gt_unlock(&t->lock);
}

void gt_ctl_flush_idle(void)
{
	uint64_t s = __atomic_load_n(&gt_trace_on, __ATOMIC_RELAXED);

	if (s)
		gt_thread_foreach(flush_idle, &s);
}

/* ---- generations of a 1.22 trace (GOTRACE_FORMAT=go1.22) ----
 * Every GOTRACE_GEN_MS, or sooner when the open generation holds a quarter
 * of GOTRACE_BUFFER_MB: every thread's batch is queued under its lock,
 * with the start of a wait it is in (gt_emit_cut_locked) (as
 * the stop's flush_thread; a lock held long, by a thread stuck in a signal
 * handler, is skipped: its events go to the next generation), the queue is
 * written (transcoded), and the generation ends, written whole. Go's reader
 * needs a goroutine's creation in the generation of its first start; a
 * child whose parent's GoCreate was still in the parent's new batch (the
 * parent wrote it after its flush) is waited for: the threads are flushed
 * again (twice at most), else the cut is put off to the next tick. */
static void cut_thread(struct gt_thread *t, void *arg)
{
	uint64_t s = *(uint64_t *)arg;
	int locked;

	if (__atomic_load_n(&t->sess, __ATOMIC_RELAXED) != s || (locked = gt_thread_lock_service(t, 2000)) < 0)
		return;
	if (t->sess == s) {
		if (locked)   /* (not an abandoned record's) */
			gt_emit_cut_locked(t, s);
		gt_emit_flush_locked(t);
	}
	if (locked)
		gt_unlock(&t->lock);
}

static uint64_t gen_ns(void)
{
	return (uint64_t)gt_cfg.gen_ms * 1000000ull;
}

void gt_ctl_generation(void)
{
	uint64_t s = __atomic_load_n(&gt_trace_on, __ATOMIC_RELAXED);
	uint64_t t0 = gt_clock_now();

	if (!s || !gt_out122_on() || gt_writer_session() != s || t0 < gen_retry ||
	    (t0 - gen_t0 < gen_ns() && gt_out122_held() < gt_cfg.buffer_bytes / 4))
		return;
	gt_ctl_cpu_flush();
	for (int i = 0; i < 3; i++) {
		gt_thread_foreach(cut_thread, &s);
		/* Bounded: batches queued meanwhile go to the next generation. */
		gt_writer_drain_until(gt_clock_now() + 100000000ull);
		if (!gt_out122_pending())
			break;
	}
	if (gt_out122_pending()) {
		gt_out122_postponed();
		gen_retry = gt_clock_now() + 10000000ull;   /* 10 ms: the parent runs meanwhile */
		return;
	}
	gt_out122_cut(gt_clock_now() - t0);
	gen_t0 = t0;
}

int gt_ctl_poll_ms(int timeout)
{
	if (!gt_out122_on() || !__atomic_load_n(&gt_trace_on, __ATOMIC_RELAXED))
		return timeout;
	uint64_t now = gt_clock_now(), due = gen_t0 + gen_ns();
	if (due < gen_retry)
		due = gen_retry;
	int ms = due > now ? (int)((due - now) / 1000000u) + 1 : 0;
	return timeout < 0 || ms < timeout ? ms : timeout;
}

static void gen_report(void)
{
	struct gt_out122_stats g;

	gt_out122_get_stats(&g);
	gt_log("go1.22 trace: %llu generations (largest %llu KB), %llu events in, %llu out, "
	       "%llu dropped; cuts: %llu us in all, %llu us at most, %llu put off",
	       (unsigned long long)g.generations, (unsigned long long)(g.max_gen_bytes >> 10),
	       (unsigned long long)g.events_in, (unsigned long long)g.events_out,
	       (unsigned long long)g.dropped, (unsigned long long)(g.cut_ns / 1000),
	       (unsigned long long)(g.max_cut_ns / 1000),
	       (unsigned long long)g.postponed);
}
