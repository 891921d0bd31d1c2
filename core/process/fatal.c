/* core/process/fatal.c - see the fatal-signal part of core/process/api.h. */
#include "core/process/fatal.h"
#include "core/process/api.h"

#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/record/api.h"
#include "core/base/lock.h"
#include "core/process/request.h"
#include "core/process/state.h"
#include "core/record/thread.h"
#include "core/base/sys.h"

#define STOP_NS (10ll * 1000000000)   /* the trace's finish may take this long */
/* After a crash less: the writer may need what the crashed thread held
 * (a malloc arena's lock), and a crash that waits looks hung. */
#define CRASH_STOP_NS (3ll * 1000000000)

/* A fault the faulting instruction raises again when the handler returns
 * (the kernel's own SIGSEGV, SIGBUS, SIGFPE, SIGILL): with SIG_DFL back,
 * returning dies of it exactly as without us, the same siginfo and the
 * same core. A sent one (kill, raise, abort: si_code <= 0) and a machine
 * check that needs no action must be raised again instead. */
static int refaults(int sig, const siginfo_t *si)
{
	return gt_fatal_crash(sig) && sig != SIGABRT && si && si->si_code > 0 &&
	       !(sig == SIGBUS && si->si_code == BUS_MCEERR_AO);
}

static gt_sigaction_fn real_sigaction;
/* The program's calls and ours take it around each change, so that a
 * disposition the program sets is never undone by our disarm. */
static struct gt_lock lock = GT_LOCK_INIT;
static uint64_t ours;   /* [lock] (the handler reads it): BIT(sig), our handler is set */
/* [lock] What the program reads back for a signal carrying ours: the
 * kernel's SIG_DFL before ours, or the SIG_DFL the program set since, its
 * flags and mask as the kernel keeps them (glibc adds SA_RESTORER). */
static struct sigaction shown[GT_FATAL_SIG_MAX + 1];
static void (*restorer)(void);   /* [lock] glibc's, as the kernel has it */
#ifndef SA_RESTORER
#define SA_RESTORER 0x04000000   /* (the kernel's; glibc's headers keep it) */
#endif
#define BIT(sig) (1ull << ((sig) - 1))

void gt_fatal_init(gt_sigaction_fn real)
{
	real_sigaction = real;
}

int gt_fatal_finish(int sig)
{
	struct gt_tls *tls = &gt_tls;
	/* A vfork child shares our memory (not our dispositions): it changes
	 * nothing of ours, not even this thread's in_tracer, which it would
	 * leave raised in its parent (whose hooks then all stood aside). */
	int mine = gt_proc.pid == getpid();

	/* Interrupted inside tracer code, this thread may hold its own record
	 * lock: the stop must not wait for it (as an exit from a handler). */
	if (mine && tls->in_tracer && tls->t)
		__atomic_store_n(&tls->t->abandoned, 1, __ATOMIC_RELEASE);
	tls->in_tracer += mine;
	if (mine)
		gt_request_stop_for_signal(gt_fatal_crash(sig) ? CRASH_STOP_NS : STOP_NS);
	return mine;
}

static void on_fatal(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	struct gt_tls *tls = &gt_tls;
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t one;

	(void)uc;
	int mine = gt_fatal_finish(sig);
	/* Die as the program would have: SIG_DFL, the signal again. No lock:
	 * the interrupted code may hold it; ours is only read below. */
	real_sigaction(sig, &dfl, NULL);
	if (mine)
		__atomic_and_fetch(&ours, ~(BIT(sig)), __ATOMIC_RELAXED);
	if (refaults(sig, si)) {
		tls->in_tracer -= mine;
		errno = saved;
		return;
	}
	sigemptyset(&one);
	sigaddset(&one, sig);
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	gt_syscall(SYS_tgkill, (long)getpid(), (long)gt_gettid(), (long)sig);
	tls->in_tracer -= mine;   /* not reached when the signal ends the process */
	errno = saved;
}

/* Our disposition: on_fatal, every signal blocked while it runs. */
static void ours_act(struct sigaction *act)
{
	*act = (struct sigaction){ .sa_sigaction = on_fatal, .sa_flags = SA_SIGINFO };
	sigfillset(&act->sa_mask);
}

/* Is a the kernel's disposition with our handler? (Whatever the bit says:
 * glibc's own calls, system()'s __sigaction, sigignore, a raw syscall, set
 * and restore dispositions without our hooks.) */
static int is_ours(const struct sigaction *a)
{
	return (a->sa_flags & SA_SIGINFO) && a->sa_sigaction == on_fatal;
}

void gt_fatal_arm(void)
{
	struct sigaction cur, act;

	if (!real_sigaction)
		return;
	ours_act(&act);
	for (int sig = 1; sig <= GT_FATAL_SIG_MAX; sig++) {
		if (!gt_fatal_sig(sig))
			continue;
		gt_lock(&lock);
		if (!(ours & BIT(sig)) && real_sigaction(sig, NULL, &cur) == 0 && is_ours(&cur)) {
			/* ours, put back by a call that saved it (system()'s) */
			__atomic_or_fetch(&ours, BIT(sig), __ATOMIC_RELAXED);
		} else if (!(ours & BIT(sig)) && real_sigaction(sig, NULL, &cur) == 0 &&
		    !(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == SIG_DFL &&
		    real_sigaction(sig, &act, NULL) == 0) {
			__atomic_or_fetch(&ours, BIT(sig), __ATOMIC_RELAXED);
			shown[sig] = cur;
			if (!restorer && real_sigaction(sig, NULL, &cur) == 0)
				restorer = cur.sa_restorer;
		}
		gt_unlock(&lock);
	}
}

void gt_fatal_disarm(void)
{
	for (int sig = 1; sig <= GT_FATAL_SIG_MAX; sig++) {
		gt_lock(&lock);
		struct sigaction cur;
		if ((ours & BIT(sig)) && real_sigaction(sig, NULL, &cur) == 0 && is_ours(&cur))
			real_sigaction(sig, &shown[sig], NULL);   /* its SIG_DFL, as it was */
		__atomic_and_fetch(&ours, ~(BIT(sig)), __ATOMIC_RELAXED);
		gt_unlock(&lock);
	}
}

/* The program's SIG_DFL, kept to read back as the kernel would keep it:
 * flags it knows (glibc's SA_RESTORER and restorer added), the mask but
 * SIGKILL and SIGSTOP. */
static void keep_shown(int sig, const struct sigaction *act)
{
	shown[sig] = *act;
	shown[sig].sa_flags &= SA_NOCLDSTOP | SA_NOCLDWAIT | SA_SIGINFO | SA_ONSTACK | SA_RESTART |
			       SA_NODEFER | SA_RESETHAND | 0x800 /* SA_EXPOSE_TAGBITS */;
	shown[sig].sa_flags |= SA_RESTORER;
	shown[sig].sa_restorer = restorer;
	sigdelset(&shown[sig].sa_mask, SIGKILL);
	sigdelset(&shown[sig].sa_mask, SIGSTOP);
}

/* SIG_DFL set by the program while there is exit work: ours stays (or
 * comes back, after a handler of its own), shown as SIG_DFL. What the
 * program asked for is what it sees, and a crash after it (Rust's guard
 * handler, a JIT's fault handler, faulthandler's, each handing the signal
 * back this way) still finishes the trace. 1: done (r set); 0: not such.
 * act is the caller's copy (old may be the program's act). */
static int keep_ours(int sig, const struct sigaction *act, struct sigaction *old, int *r)
{
	struct sigaction cur, mine;

	if (!act || act->sa_handler != SIG_DFL || gt_proc.pid != getpid() || !gt_exit_work())
		return 0;
	if (real_sigaction(sig, NULL, &cur) == 0 && is_ours(&cur)) {
		*r = 0;
		cur = shown[sig];
	} else {
		ours_act(&mine);
		if ((*r = real_sigaction(sig, &mine, &cur)))
			return 1;
	}
	__atomic_or_fetch(&ours, BIT(sig), __ATOMIC_RELAXED);
	keep_shown(sig, act);
	if (old)
		*old = cur;
	return 1;
}

int gt_fatal_sigaction(int sig, const struct sigaction *act_in, struct sigaction *old)
{
	int saved = errno, r;
	struct sigaction act, prev;

	if (act_in)
		act = *act_in;   /* (old may be the same struct) */
	gt_lock(&lock);
	errno = saved;
	if (keep_ours(sig, act_in ? &act : NULL, old, &r)) {
		saved = r ? errno : saved;
		gt_unlock(&lock);
		errno = saved;
		return r;
	}
	r = real_sigaction(sig, act_in ? &act : NULL, &prev);
	saved = errno;
	if (r == 0) {
		if (is_ours(&prev))
			prev = shown[sig];
		if (act_in || !is_ours(&prev))   /* the program's replaces ours, or did */
			__atomic_and_fetch(&ours, ~(BIT(sig)), __ATOMIC_RELAXED);
		if (old)
			*old = prev;
	}
	gt_unlock(&lock);
	errno = saved;
	return r;
}

void (*gt_fatal_signal(int sig, void (*h)(int), gt_signal_fn real))(int)
{
	int saved = errno, kr;
	/* signal()'s SIG_DFL as glibc sets it: restarting, sig blocked */
	struct sigaction dfl = { .sa_handler = SIG_DFL, .sa_flags = SA_RESTART }, was;

	sigemptyset(&dfl.sa_mask);
	sigaddset(&dfl.sa_mask, sig);
	gt_lock(&lock);
	errno = saved;
	if (h == SIG_DFL && keep_ours(sig, &dfl, &was, &kr)) {
		saved = kr ? errno : saved;
		gt_unlock(&lock);
		errno = saved;
		return kr ? SIG_ERR : was.sa_handler;
	}
	void (*r)(int) = real(sig, h);
	saved = errno;
	if (r != SIG_ERR) {
		if ((uintptr_t)r == (uintptr_t)on_fatal)
			r = shown[sig].sa_handler;
		__atomic_and_fetch(&ours, ~(BIT(sig)), __ATOMIC_RELAXED);
	}
	gt_unlock(&lock);
	errno = saved;
	return r;
}
