/* core/prof/sample.c - the program threads' side of a CPU profile: each
 * thread's CPU-time timer and SIGPROF's handler, which captures the
 * interrupted stack into the thread's ring (core/prof/prof_int.h). The
 * handler runs on the interrupted thread with every signal blocked: no
 * lock, no allocation, errno kept. */
#include "core/prof/prof_int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/base/arena.h"
#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/lock.h"
#include "core/base/log.h"
#include "core/base/procfs.h"
#include "core/base/mix.h"
#include "core/base/real.h"
#include "core/base/sys.h"
#include "core/record/api.h"
#include "core/record/emit.h"
#include "core/record/thread.h"

uint32_t gt_prof_sampling;
volatile sig_atomic_t gt_prof_foreign_dfl;
uint64_t gt_prof_handler_ns, gt_prof_handler_runs, gt_prof_handler_max;   /* atomic; GOTRACE_DEBUG */

/* A SIGPROF that is not a timer's (kill, tgkill, setitimer's ITIMER_PROF
 * run by someone else): what the program's own disposition would have
 * done. SIG_DFL ends the process by the signal, as without us. */
static int (*dying)(int sig);

void gt_prof_set_dying(int (*finish)(int sig))
{
	dying = finish;
}

static void foreign(int sig)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t one;

	if (!gt_prof_foreign_dfl)
		return;
	/* The profile and trace first: kill -PROF left the profile empty. */
	int raised = dying ? dying(sig) : 0;
	GT_REAL(sigaction)(sig, &dfl, NULL);
	sigemptyset(&one);
	sigaddset(&one, sig);
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	gt_raw(SYS_tgkill, (long)getpid(), (long)gt_gettid(), (long)sig);
	gt_tls.in_tracer -= raised;   /* (not reached when the signal ends us) */
}

int gt_prof_signal_ours(const siginfo_t *si)
{
	struct gt_thread *t = gt_tls.t;

	if (si->si_signo != SIGPROF)
		return 0;
	if (si->si_code == SI_QUEUE)
		return gt_stacks_signal_ours(si);
	return si->si_code == SI_TIMER && t && t->prof && si->si_value.sival_ptr == t->prof;
}

void gt_prof_on_sigprof(int sig, siginfo_t *si, void *uc)
{
	struct gt_tls *tls = &gt_tls;
	int saved = errno;

	if (si->si_code == SI_QUEUE && gt_stacks_on_signal(si, uc)) {
		errno = saved;
		return;
	}
	if (si->si_code != SI_TIMER) {
		foreign(sig);
		errno = saved;
		return;
	}
	/* Ours (the program has no timer of its own on a signal it does not
	 * handle): this thread's, or one deleted with its signal queued. */
	struct gt_thread *t = tls->t;
	struct gt_prof_thread *pt = t && !tls->dead ? t->prof : NULL;
	uint32_t s = __atomic_load_n(&gt_prof_sampling, __ATOMIC_ACQUIRE);
	if (!pt || pt != si->si_value.sival_ptr || !s) {
		errno = saved;
		return;
	}
	uintptr_t pc[GT_STACK_MAX];
	int outside = tls->in_tracer == 0;
	uint64_t t0 = gt_cfg.debug ? gt_clock_now() : 0;
	tls->in_tracer++;
	unsigned n = gt_stack_capture_signal(uc, pc, gt_cfg.stack_depth, outside);
	tls->in_tracer--;
	if (t0) {
		uint64_t d = gt_clock_now() - t0, m = __atomic_load_n(&gt_prof_handler_max, __ATOMIC_RELAXED);
		__atomic_fetch_add(&gt_prof_handler_ns, d, __ATOMIC_RELAXED);
		__atomic_fetch_add(&gt_prof_handler_runs, 1, __ATOMIC_RELAXED);
		while (d > m && !__atomic_compare_exchange_n(&gt_prof_handler_max, &m, d, 0,
							     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			;
	}
	/* The timer's expirations since its last signal count too (a thread
	 * that blocked SIGPROF, a late delivery): the sample weighs them. */
	uint32_t weight = 1 + (si->si_overrun > 0 ? (uint32_t)si->si_overrun : 0);
	if (__atomic_load_n(&pt->missed, __ATOMIC_RELAXED))
		weight += __atomic_exchange_n(&pt->missed, 0, __ATOMIC_RELAXED);
	if (weight > 0xffffff)
		weight = 0xffffff;
	__atomic_store_n(&pt->seen, pt->seen + weight, __ATOMIC_RELAXED);
	uint32_t head = pt->head, tail = __atomic_load_n(&pt->tail, __ATOMIC_ACQUIRE);
	if (n == 0 || pt->mask + 1 - (head - tail) < PROF_WORDS(n)) {
		__atomic_fetch_add(&pt->lost, 1, __ATOMIC_RELAXED);
		errno = saved;
		return;
	}
	/* A trace in progress that this thread has not entered (it computes,
	 * calling nothing we hook) is entered here: the goroutine runs from
	 * now, on a P, and the sample is drawn on it. The program's code was
	 * interrupted, not ours, so no lock of ours is held on this thread. */
	uint64_t ts = __atomic_load_n(&gt_trace_on, __ATOMIC_ACQUIRE);
	if (ts && outside && __atomic_load_n(&t->sess, __ATOMIC_RELAXED) != ts) {
		tls->in_tracer++;
		gt_emit_enter_try(t, ts);
		tls->in_tracer--;
	}
	/* The P is the trace's (core/record/thread.h: t->ps, ours to read on
	 * the thread; the service thread changes it only under the lock at a
	 * stop, when the sample may name the P just given back). */
	struct gt_pslot *ps = __atomic_load_n(&t->ps, __ATOMIC_RELAXED);
	uint64_t p = ps && __atomic_load_n(&t->sess, __ATOMIC_RELAXED) ? ps->id : ~0ull;
	pt->w[head & pt->mask] = PROF_HDR(s, weight, n);
	pt->w[(head + 1) & pt->mask] = gt_clock_now();
	/* with the goroutine the record has now: drained later, the record
	 * may be the next thread's (Go 1.19 refused a sample of a goroutine
	 * not created yet: "g 7 already exists" at its GoCreate) */
	pt->w[(head + 2) & pt->mask] =   /* (its goroutine ending, the GoEnd after: none) */
		PROF_PG(p, __atomic_load_n(&t->state, __ATOMIC_RELAXED) == GT_T_LIVE ? t->goid : 0);
	for (unsigned i = 0; i < n; i++)
		pt->w[(head + 3 + i) & pt->mask] = pc[i];
	__atomic_store_n(&pt->head, head + PROF_WORDS(n), __ATOMIC_RELEASE);
	errno = saved;
}

/* Ring words: room for 1/4 s of the deepest samples at GOTRACE_CPU_HZ,
 * a power of two; the service thread drains every GT_PROF_DRAIN_MS. */
static uint32_t ring_words(void)
{
	uint64_t want = (uint64_t)gt_cfg.cpu_hz * PROF_WORDS(GT_STACK_MAX) / 4;
	uint32_t w = 1024;

	while (w < want && w < (1u << 20))
		w <<= 1;
	return w;
}

/* A timer's phase: its first expiry at a uniform point of its first
 * period, (0, period]. At phase 0, as every timer starts, a thread got
 * floor(CPU / period) samples: half a period short on average, a third
 * of the CPU time of threads of 30 ms each (issue 25). At a random phase
 * the expected count is CPU / period exactly. */
static uint64_t phase(uint64_t period_ns, uint32_t salt)
{
	return gt_mix64(gt_clock_now() ^ (uint64_t)salt << 32 ^ 0x9e3779b97f4a7c15ull) % period_ns + 1;
}

/* The thread's own CPU time (ns), or 0. */
static uint64_t thread_cpu_ns(clockid_t clk)
{
	struct timespec ts;

	if (gt_raw(SYS_clock_gettime, (long)clk, (long)&ts, 0))
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The expirations a timer of this phase would have seen in u ns of CPU
 * time, and how far its next one is. */
static uint64_t crossed(uint64_t u, uint64_t phi, uint64_t period_ns, uint64_t *next)
{
	uint64_t m = u < phi ? 0 : (u - phi) / period_ns + 1;

	*next = phi + m * period_ns - u;
	return m;
}

int gt_prof_arm_locked(struct gt_thread *t, uint64_t period_ns, int late)
{
	struct gt_prof_thread *pt = t->prof;

	if (!pt) {
		uint32_t words = ring_words();
		pt = gt_map(sizeof(*pt) + (size_t)words * sizeof(uint64_t));
		if (!pt)
			return -ENOMEM;
		pt->mask = words - 1;
		__atomic_store_n(&t->prof, pt, __ATOMIC_RELEASE);
	}
	if (pt->armed && pt->tid == t->tid)
		return 0;
	if (pt->armed)   /* a timer left by the record's last thread */
		gt_prof_disarm_locked(t);
	/* The thread's CPU clock (glibc's pthread_getcpuclockid of its tid:
	 * CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD), the signal to that thread. */
	clockid_t clk = (clockid_t)(~(unsigned)t->tid << 3 | 6);
	struct sigevent sev = { 0 };
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGPROF;
	sev.sigev_value.sival_ptr = pt;
	sev._sigev_un._tid = t->tid;
	int id = -1;
	/* A thread that blocks SIGPROF gets no timer: its signals would wait
	 * for it, and a thread that takes its signals by sigwait (tini's
	 * way: all blocked, sigtimedwait on a full set) took ours, 38-52 a
	 * second. Its CPU time is drawn at the end as a timer's would have
	 * been (gt_prof_masked_thread). */
	int masked = gt_prof_sigprof_blocked(t->tid);
	long r = masked ? 0 : gt_raw(SYS_timer_create, (long)clk, (long)&sev, (long)&id);
	if (r < 0)
		return (int)r;
	/* Armed late, the timer expires where one armed at the thread's start
	 * would have, at the same random phase; the expirations that one
	 * would have seen meanwhile weigh on its first sample. */
	uint64_t phi = phase(period_ns, (uint32_t)t->tid), first = phi, m = 0;
	if (late)
		m = crossed(thread_cpu_ns(clk), phi, period_ns, &first);
	pt->base = late ? 0 : thread_cpu_ns(clk);
	pt->phase = phi;
	__atomic_store_n(&pt->seen, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&pt->missed, (uint32_t)(m < 0xffff ? m : 0xffff), __ATOMIC_RELAXED);
	struct itimerspec its = {
		.it_interval = { (time_t)(period_ns / 1000000000), (long)(period_ns % 1000000000) },
		.it_value = { (time_t)(first / 1000000000), (long)(first % 1000000000) },
	};
	r = masked ? 0 : gt_raw(SYS_timer_settime, id, 0, (long)&its);
	if (r < 0) {
		gt_raw(SYS_timer_delete, id, 0, 0);
		return (int)r;
	}
	pt->timer = id;
	pt->tid = t->tid;
	pt->armed = 1;
	return 0;
}

void gt_prof_disarm_locked(struct gt_thread *t)
{
	struct gt_prof_thread *pt = t->prof;

	if (!pt || !pt->armed)
		return;
	if (pt->timer >= 0)
		gt_raw(SYS_timer_delete, pt->timer, 0, 0);
	pt->armed = 0;
}

/* ---- threads that end without a timer's sample */

#define SHORT_MAX GT_PROF_SHORT_MAX
static struct gt_lock short_lock = GT_LOCK_INIT;
static struct gt_prof_short shorts[SHORT_MAX];
static unsigned nshorts;
static uint64_t shorts_lost;

/* Where a never-armed thread's CPU time is drawn (named by gt_prof_start:
 * the address of this function, a frame of ours on top). */
__attribute__((noinline)) void gt_prof_short_thread(void)
{
	__asm__ volatile("");
}

__attribute__((noinline)) void gt_prof_masked_thread(void)
{
	__asm__ volatile("" ::: "memory");
}

/* /proc/self/task/<tid>/<what> into buf (NUL-terminated; "" when none). */
static void task_file(int tid, const char *what, char *buf, size_t size)
{
	char path[64];

	gt_fmt(path, sizeof(path), "/proc/self/task/%d/%s", tid, what);
	if (gt_raw_read_file(path, buf, (long)size) < 0)
		buf[0] = '\0';
}

int gt_prof_sigprof_blocked(int tid)
{
	uint64_t set = 0;
	char buf[2048];

	if (!tid) {
		if (gt_raw6(SYS_rt_sigprocmask, SIG_BLOCK, 0, (long)&set, 8, 0, 0))
			return 0;
		return (set >> (SIGPROF - 1)) & 1;
	}
	/* In sigtimedwait a thread's mask reads without the signals it waits
	 * for, which it blocks the rest of the time: it takes them there
	 * (tini's loop: all blocked, a full set waited for), ours too. So
	 * blocked, or in sigtimedwait, in either of two looks (a loop of
	 * both is seen at least once as one or the other). */
	for (int look = 0; look < 2; look++) {
		task_file(tid, "status", buf, sizeof(buf));
		const char *b = strstr(buf, "\nSigBlk:");
		if (!b)
			return 0;   /* (gone) */
		set = strtoull(b + 8, NULL, 16);
		if ((set >> (SIGPROF - 1)) & 1)
			return 1;
		task_file(tid, "syscall", buf, 32);
		if (strtol(buf, NULL, 10) == SYS_rt_sigtimedwait)
			return 1;
	}
	return 0;
}

uint32_t gt_prof_unarmed_weight(uint64_t period_ns, uint64_t life_ns)
{
	uint64_t next, phi = phase(period_ns, (uint32_t)life_ns);

	if (life_ns < phi)
		return 0;   /* its CPU time is less than its life */
	uint64_t m = crossed(thread_cpu_ns(CLOCK_THREAD_CPUTIME_ID), phi, period_ns, &next);

	return (uint32_t)(m < 0xffffff ? m : 0xffffff);
}

uint32_t gt_prof_unseen_weight(struct gt_thread *t, uint64_t period_ns, int own)
{
	struct gt_prof_thread *pt = t->prof;
	clockid_t clk = own ? CLOCK_THREAD_CPUTIME_ID : (clockid_t)(~(unsigned)t->tid << 3 | 6);
	uint64_t next, c = thread_cpu_ns(clk);
	uint64_t due = c > pt->base ? crossed(c - pt->base, pt->phase, period_ns, &next) : 0;
	uint32_t seen = __atomic_load_n(&pt->seen, __ATOMIC_RELAXED);

	return due > seen ? (uint32_t)(due - seen < 0xffffff ? due - seen : 0xffffff) : 0;
}

void gt_prof_short_add(uint32_t sess, uintptr_t marker, uintptr_t fn, uint32_t weight)
{
	gt_lock(&short_lock);
	unsigned i = 0;
	while (i < nshorts && (shorts[i].sess != sess || shorts[i].fn != fn ||
			       shorts[i].marker != marker))
		i++;
	if (i == nshorts && nshorts < SHORT_MAX)
		shorts[nshorts++] = (struct gt_prof_short){ fn, marker, sess, 0 };
	if (i < nshorts)
		shorts[i].weight += weight;
	else
		shorts_lost += weight;   /* 64 start routines within a drain */
	gt_unlock(&short_lock);
}

void gt_prof_short_after_fork_child(void)
{
	short_lock = (struct gt_lock)GT_LOCK_INIT;   /* another thread may have held it */
	nshorts = 0;
	shorts_lost = 0;
}

unsigned gt_prof_short_take(struct gt_prof_short *out, uint64_t *lost)
{
	gt_lock(&short_lock);
	unsigned n = nshorts;
	for (unsigned i = 0; i < n; i++)
		out[i] = shorts[i];
	nshorts = 0;
	*lost = shorts_lost;
	shorts_lost = 0;
	gt_unlock(&short_lock);
	return n;
}
