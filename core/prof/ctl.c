/* core/prof/ctl.c - a CPU profile's start and stop (core/prof/prof.h),
 * SIGPROF's disposition around it, and the program's own sigaction calls
 * about SIGPROF (core/prof/api.h).
 *
 * The disposition: our handler is installed at the start only if the
 * program's is SIG_DFL or SIG_IGN (one of its own, a profiler's: refused),
 * and the program's is put back exactly at the end, after every timer is
 * deleted and SIG_IGN has been set for a moment: the kernel then drops the
 * SIGPROFs still pending (a thread that blocks the signal, one not yet
 * scheduled), which SIG_DFL would have turned into the process's death.
 * While ours is installed the program is shown its own; it may set
 * SIG_DFL or SIG_IGN (kept for the end) or a handler (sampling ends at
 * once, its handler goes in: the profile is the program's to take).
 *
 * Lock order: lock, then a thread record's lock (arming, disarming). */
#include "core/prof/prof.h"
#include "core/prof/api.h"
#include "core/prof/prof_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/fdguard.h"
#include "core/base/lock.h"
#include "core/base/log.h"
#include "core/base/real.h"
#include "core/base/sys.h"
#include "core/record/thread.h"

/* Taken by the service thread around start and stop, and by a program
 * thread around its sigaction(SIGPROF). */
static struct gt_lock lock = GT_LOCK_INIT;
static struct {
	uint64_t sess;          /* the profile in progress (service thread; atomic) */
	uint32_t counter;       /* ids handed out (service thread) */
	int holders;            /* [lock] who needs our handler (HOLD_*): SIGPROF's
				   while not 0 */
	struct sigaction saved; /* [lock] the program's, while ours is installed */
	int fd;                 /* the profile's file (service thread) */
	char path[GT_PATH_MAX];
	uint64_t t0, wall0, period;
	int taken;              /* [lock] the program took SIGPROF mid-profile */
} p = { .fd = -1 };

enum { HOLD_CPU = 1, HOLD_STACKS = 2 };

static int has_handler(const struct sigaction *a)
{
	return a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN;   /* sa_sigaction too */
}

/* Our handler in place for who (with lock): installed by the first holder
 * when the program's disposition is SIG_DFL or SIG_IGN. */
static int hold_locked(int who, char *err, size_t errlen)
{
	struct sigaction cur, ours = { .sa_sigaction = gt_prof_on_sigprof,
				       .sa_flags = SA_SIGINFO | SA_RESTART };

	if (p.holders) {
		p.holders |= who;
		return 0;
	}
	sigfillset(&ours.sa_mask);
	if (GT_REAL(sigaction)(SIGPROF, NULL, &cur) || has_handler(&cur)) {
		gt_fmt(err, errlen, "the program handles SIGPROF itself (a profiler of its own?); "
		       "gotrace does not take it");
		return -1;
	}
	p.saved = cur;
	gt_prof_foreign_dfl = cur.sa_handler == SIG_DFL;
	if (GT_REAL(sigaction)(SIGPROF, &ours, NULL)) {
		gt_fmt(err, errlen, "sigaction SIGPROF: %s", strerror(errno));
		return -1;
	}
	p.holders = who;
	return 0;
}

/* who no longer needs it; the last one puts the program's disposition
 * back (act: one it sets now instead), through SIG_IGN, which drops the
 * SIGPROFs still pending. With lock. */
static void release_locked(int who, const struct sigaction *act)
{
	struct sigaction ign = { .sa_handler = SIG_IGN };

	if (!(p.holders & who))
		return;
	p.holders &= ~who;
	if (p.holders && !act)
		return;
	p.holders = 0;
	GT_REAL(sigaction)(SIGPROF, &ign, NULL);
	GT_REAL(sigaction)(SIGPROF, act ? act : &p.saved, NULL);
}

int gt_prof_sig_hold(char *err, size_t errlen)
{
	gt_lock(&lock);
	int r = hold_locked(HOLD_STACKS, err, errlen);
	gt_unlock(&lock);
	return r;
}

int gt_prof_sig_send(int tid, siginfo_t *si)
{
	gt_lock(&lock);
	/* Under the lock: the program's sigaction waits, and its handler,
	 * once in, finds ours dropped by the SIG_IGN before it. */
	int r = !(p.holders & HOLD_STACKS) ? -3
		: gt_raw6(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGPROF, (long)si, 0, 0) ? -1 : 0;
	gt_unlock(&lock);
	return r;
}

void gt_prof_sig_release(void)
{
	gt_lock(&lock);
	release_locked(HOLD_STACKS, NULL);
	gt_unlock(&lock);
}

/* A thread that starts while a profile samples does not arm its own timer:
 * the service thread arms it at its next tick (GT_PROF_TICK_MS), if it
 * still runs then. Most threads of a program that makes many live less
 * than that, and a thread's timer would not fire before a whole period of
 * its CPU time anyway: arming on the thread cost it three system calls,
 * 3.7 us, a fifth of a short thread's life. arm_pending: some thread
 * waits for its timer (seq_cst with the records' prof_new). */
static uint32_t arm_pending;

void gt_prof_thread_started(struct gt_thread *t)
{
	uint32_t s = __atomic_load_n(&gt_prof_sampling, __ATOMIC_ACQUIRE);

	if (!s)
		return;
	t->prof_t0 = gt_clock_now();
	__atomic_store_n(&t->prof_new, s, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&arm_pending, __ATOMIC_SEQ_CST))
		__atomic_store_n(&arm_pending, 1, __ATOMIC_SEQ_CST);
}

/* A pass over the records for profile s: at its start, every live thread
 * (late 0); at a tick, those started since (late 1: prof_new marks them,
 * and a record whose owner holds its lock waits for the next tick). */
struct arm_scan {
	uint32_t s;
	int late, busy, failed;
};

static void arm_one(struct gt_thread *t, void *arg)
{
	struct arm_scan *a = arg;

	if (a->late && __atomic_load_n(&t->prof_new, __ATOMIC_SEQ_CST) != a->s)
		return;
	int locked = gt_thread_lock_service(t, a->late ? 100 : 1000000);
	if (locked < 0 && a->late)
		a->busy = 1;
	if (locked <= 0)
		return;   /* stuck for good (or, at the start, past a second): not sampled */
	/* Read again under the lock, as gt_prof_thread_started did before:
	 * an end that cleared it disarms this record after us. */
	if (t->state == GT_T_LIVE && !(t->flags & GT_TF_INTERNAL) &&
	    __atomic_load_n(&gt_prof_sampling, __ATOMIC_SEQ_CST) == a->s &&
	    gt_prof_arm_locked(t, p.period, a->late) < 0)
		a->failed++;
	if (a->late)
		__atomic_store_n(&t->prof_new, 0, __ATOMIC_RELAXED);
	gt_unlock(&t->lock);
}

static void arm_all(uint32_t s, int late)
{
	struct arm_scan a = { s, late, 0, 0 };

	gt_thread_foreach(arm_one, &a);
	if (a.busy)
		__atomic_store_n(&arm_pending, 1, __ATOMIC_SEQ_CST);
	if (a.failed)
		gt_log("CPU profile: no timer for %d thread(s); they are not sampled", a.failed);
}

/* arg: the profile's session when it ends (its samples to be written), or
 * NULL. A thread that blocked SIGPROF has its unsampled CPU time drawn. */
static void disarm_one(struct gt_thread *t, void *arg)
{
	const uint32_t *sess = arg;
	uint32_t w = 0;

	if (!__atomic_load_n(&t->prof, __ATOMIC_ACQUIRE))
		return;   /* never profiled */
	/* Its timer goes even when the lock does not come: left, it would
	 * send SIGPROF once SIG_DFL is back. Arming and disarming need the
	 * lock, which its stuck owner holds elsewhere. */
	int locked = gt_thread_lock_service(t, 1000000);
	struct gt_prof_thread *pt = t->prof;
	if (sess && locked > 0 && pt->armed && pt->tid == t->tid && t->state == GT_T_LIVE)
		w = gt_prof_unseen_weight(t, p.period, 0);
	/* Masked when armed (no timer): known without a look, which a thread
	 * in and out of sigtimedwait (its mask then reads without SIGPROF)
	 * could miss: 0 drawn in 2 CI runs of ~20 (test_cpu SigwaitLoop). */
	int masked = pt->armed && pt->timer < 0;
	gt_prof_disarm_locked(t);
	if (locked > 0)
		gt_unlock(&t->lock);
	/* (the last period of any thread goes unseen: only more, masked, counts) */
	if (w > 1 && (masked || gt_prof_sigprof_blocked(t->tid)))
		gt_prof_short_add(*sess, (uintptr_t)gt_prof_masked_thread, t->start_pc, w);
}

/* Sampling ends: no thread arms a timer from now on, every timer is
 * deleted, the pending signals dropped, the program's disposition back
 * (act: one it sets now instead). With lock held. */
static void end_sampling_locked(const struct sigaction *act, uint32_t sess)
{
	__atomic_store_n(&gt_prof_sampling, 0, __ATOMIC_SEQ_CST);
	gt_thread_foreach(disarm_one, sess ? &sess : NULL);
	release_locked(act ? p.holders : HOLD_CPU, act);
}

/* Its timer goes; what no sample of it weighed is drawn under its start
 * routine: the expirations of its CPU time that no signal brought (the
 * kernel checks CPU timers at its tick: up to 4 ms of a thread's last CPU
 * time), or, never armed in this profile (it lived less than the service
 * thread's tick), those a timer would have seen. One system call (its CPU
 * time) while a profile samples; none for a thread whose whole life was
 * shorter than the random phase (most of a thread churn's). Before, threads of 3-8 ms each
 * were absent from the profile: 20 ms of samples for 2.4 s of CPU time. */
void gt_prof_thread_exiting(struct gt_thread *t)
{
	uint32_t s = __atomic_load_n(&gt_prof_sampling, __ATOMIC_SEQ_CST), w = 0;

	if (!t->prof && !s)
		return;
	gt_lock(&t->lock);
	struct gt_prof_thread *pt = t->prof;
	if (s && pt && pt->armed && pt->tid == t->tid)
		w = gt_prof_unseen_weight(t, p.period, 1);
	else if (s && __atomic_load_n(&t->prof_new, __ATOMIC_SEQ_CST) == s)
		w = gt_prof_unarmed_weight(p.period, gt_clock_now() - t->prof_t0);
	__atomic_store_n(&t->prof_new, 0, __ATOMIC_RELAXED);
	gt_prof_disarm_locked(t);
	gt_unlock(&t->lock);
	if (w)
		gt_prof_short_add(s, (uintptr_t)(w > 1 && gt_prof_sigprof_blocked(0)
						 ? gt_prof_masked_thread : gt_prof_short_thread),
				  t->start_pc, w);
}

/* The aggregate's stack i as a sample: count, and count x period ns. */
static int cpu_sample(void *ctx, size_t i, struct gt_prof_sample *s)
{
	struct gt_prof_stack st;
	uint64_t period = *(const uint64_t *)ctx;

	if (!gt_prof_agg_get(i, &st))
		return 0;
	*s = (struct gt_prof_sample){ st.pc, st.n,
				      st.pc[0] == (uintptr_t)gt_prof_short_thread ||
						      st.pc[0] == (uintptr_t)gt_prof_masked_thread
					      ? GT_STK_FN : GT_STK_EXACT,
				      { (int64_t)st.count, (int64_t)(st.count * period) } };
	return 1;
}

uint64_t gt_prof_session(void)
{
	return __atomic_load_n(&p.sess, __ATOMIC_RELAXED);
}

static int open_file(const char *path, char *err, size_t errlen)
{
	/* As the trace's (core/write/writer.c): a FIFO without a reader fails
	 * at once; the open runs without fd_lock (a hung network filesystem). */
	int fd = gt_fd_open_out(path, err, errlen);
	if (fd < 0)
		return -1;
	p.fd = fd;
	gt_fd_adopt(&p.fd);   /* survives a program closing every fd */
	return 0;
}

static void close_file(void)
{
	gt_fd_release(&p.fd);
	gt_close(p.fd);
	p.fd = -1;
}

uint64_t gt_prof_start(const char *path, char *err, size_t errlen)
{
	struct timespec wall;

	if (p.sess) {
		gt_fmt(err, errlen, "CPU profiling already in progress");
		return 0;
	}
	/* geth's order: the file first (created or truncated even when the
	 * start then fails, as os.Create before pprof.StartCPUProfile). */
	if (open_file(path, err, errlen))
		return 0;
	gt_stack_prepare_signal();
	gt_lock(&lock);
	char why[160];
	if (hold_locked(HOLD_CPU, why, sizeof(why))) {
		gt_unlock(&lock);
		close_file();
		gt_fmt(err, errlen, "cpu profiling already in use: %s", why);
		return 0;
	}
	p.taken = 0;
	p.period = 1000000000ull / gt_cfg.cpu_hz;
	uint64_t s = ++p.counter;
	if (!s)
		s = ++p.counter;   /* 0 is none; ids are 32 bits in the rings */
	gt_prof_agg_reset();
	gt_prof_agg_drain(0);   /* what a late signal of an older profile left */
	static int named;
	if (!named++) {
		gt_stack_name_fn((uintptr_t)gt_prof_short_thread, "gotrace._ShortThread");
		gt_stack_name_fn((uintptr_t)gt_prof_masked_thread, "gotrace._SIGPROFBlocked");
	}
	clock_gettime(CLOCK_REALTIME, &wall);
	p.wall0 = (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec;
	p.t0 = gt_clock_now();
	__atomic_store_n(&gt_prof_sampling, (uint32_t)s, __ATOMIC_SEQ_CST);
	gt_unlock(&lock);
	arm_all((uint32_t)s, 0);
	gt_fmt(p.path, sizeof(p.path), "%s", path);
	__atomic_store_n(&p.sess, s, __ATOMIC_RELAXED);
	return s;
}

int gt_prof_stop(char *err, size_t errlen)
{
	if (!p.sess) {
		gt_fmt(err, errlen, "CPU profiling not in progress");
		return -1;
	}
	uint32_t s = (uint32_t)p.sess;
	gt_lock(&lock);
	end_sampling_locked(NULL, s);
	gt_unlock(&lock);
	struct gt_prof_spec m = { { "samples", "cpu" }, { "count", "nanoseconds" }, "cpu",
				  "nanoseconds", p.period, p.wall0, gt_clock_now() - p.t0,
				  cpu_sample, &p.period, 2 };
	gt_prof_agg_drain(s);
	uint64_t lost = gt_prof_agg_lost(), w0 = gt_clock_now();
	int r = gt_prof_write(p.fd, p.path, &m, err, errlen);
	w0 = gt_clock_now() - w0;
	close_file();
	if (lost)
		gt_log("CPU profile %s: %llu samples lost (a thread's ring was full)", p.path,
		       (unsigned long long)lost);
	if (gt_cfg.debug) {
		uint64_t w[3];
		gt_stack_signal_counts(w);
		uint64_t runs = __atomic_load_n(&gt_prof_handler_runs, __ATOMIC_RELAXED);
		gt_log("CPU profile: %llu samples, written in %llu ms; walks so far: %llu frame "
		       "records, %llu libunwind, %llu records unchecked, %llu ns each (at most %llu)",
		       (unsigned long long)gt_prof_agg_samples(), (unsigned long long)(w0 / 1000000),
		       (unsigned long long)w[0], (unsigned long long)w[1], (unsigned long long)w[2],
		       (unsigned long long)(runs ? __atomic_load_n(&gt_prof_handler_ns,
							    __ATOMIC_RELAXED) / runs : 0),
		       (unsigned long long)__atomic_load_n(&gt_prof_handler_max, __ATOMIC_RELAXED));
	}
	gt_prof_agg_reset();
	__atomic_store_n(&p.sess, 0, __ATOMIC_RELAXED);
	p.path[0] = '\0';
	return r;
}

void gt_prof_drain(void)
{
	static uint64_t last;
	uint32_t s = __atomic_load_n(&gt_prof_sampling, __ATOMIC_ACQUIRE);

	if (!s)
		return;
	if (__atomic_exchange_n(&arm_pending, 0, __ATOMIC_SEQ_CST))
		arm_all(s, 1);   /* the threads started since the last tick */
	uint64_t now = gt_clock_now();
	if (now - last >= GT_PROF_DRAIN_MS * 1000000ull) {
		last = now;
		gt_prof_agg_drain(s);
		gt_stack_signal_settle();
	}
}

int gt_prof_sigaction(const struct sigaction *act, struct sigaction *old)
{
	int saved = errno;

	gt_lock(&lock);
	errno = saved;
	if (!p.holders) {
		int r = GT_REAL(sigaction)(SIGPROF, act, old);
		saved = errno;
		gt_unlock(&lock);
		errno = saved;
		return r;
	}
	struct sigaction prev = p.saved;
	if (act && has_handler(act)) {
		/* The program takes SIGPROF (its own profiler starts): ours ends
		 * here, the profile keeps what it has; a debug_stacks in
		 * progress samples no more running threads. */
		int cpu = p.holders & HOLD_CPU;
		end_sampling_locked(act, 0);
		p.taken = cpu;
		if (cpu)
			gt_log("the program installed a SIGPROF handler: the CPU profile %s stops "
			       "sampling here (it is written at its stop)", p.path);
	} else if (act) {
		/* As the kernel would keep it (glibc adds its restorer): ours,
		 * set through glibc too, has it. */
		struct sigaction cur;
		p.saved = *act;
		if (GT_REAL(sigaction)(SIGPROF, NULL, &cur) == 0 && (cur.sa_flags & 0x04000000)) {
			p.saved.sa_flags |= 0x04000000;   /* SA_RESTORER */
			p.saved.sa_restorer = cur.sa_restorer;
		}
		gt_prof_foreign_dfl = act->sa_handler == SIG_DFL;
	}
	if (old)
		*old = prev;
	gt_unlock(&lock);
	errno = saved;
	return 0;
}

sighandler_t gt_prof_signal(sighandler_t h)
{
	/* glibc's signal(): BSD semantics (the call restarts, the signal is
	 * blocked in its handler). */
	struct sigaction act = { .sa_handler = h, .sa_flags = SA_RESTART }, old;

	sigemptyset(&act.sa_mask);
	sigaddset(&act.sa_mask, SIGPROF);
	if (h == SIG_ERR) {
		errno = EINVAL;
		return SIG_ERR;
	}
	if (gt_prof_sigaction(&act, &old))
		return SIG_ERR;
	return old.sa_handler;
}

static void forget_timer(struct gt_thread *t, void *arg)
{
	(void)arg;
	if (t->prof)
		t->prof->armed = 0;
}

void gt_prof_after_fork_child(int close_fd)
{
	/* The child has none of the parent's timers; its pending signals are
	 * none; our handler is its copy of the parent's disposition. */
	lock.word = 0;
	gt_prof_short_after_fork_child();
	gt_thread_foreach(forget_timer, NULL);
	__atomic_store_n(&gt_prof_sampling, 0, __ATOMIC_RELAXED);
	if (p.holders)
		GT_REAL(sigaction)(SIGPROF, &p.saved, NULL);
	p.holders = 0;
	if (p.fd >= 0 && close_fd)
		gt_close(p.fd);
	p.fd = -1;
	p.sess = 0;
	p.path[0] = '\0';
}
