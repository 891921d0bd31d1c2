/* preload/sync.c - pthread waits and raw futex waits. While tracing, a lock
 * is first tried: only a contended lock is a wait (trylock-then-lock returns
 * what lock alone would, for every mutex type). Condition variables are
 * cond waits, the rest sync waits. */
#include <errno.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdarg.h>
#include <sys/syscall.h>

#include "core/base/fdguard.h"
#include "preload/hook.h"

#define SYNC GT_OP_SYNC

/* A trace runs, or a block or mutex profile counts. */
static inline int tracing(void)
{
	return __atomic_load_n(&gt_rec_on, __ATOMIC_RELAXED) != 0;
}

/* Lock with a try first while tracing; TRY(m) gives 0 or EBUSY. Idle, a
 * lock goes straight to libc: lock storms take a lock in tens of ns, and
 * noting the call (for a trace that might start meanwhile) would cost a
 * tenth of that. A thread waiting on a lock when a trace starts shows as
 * runnable until it has the lock.
 *
 * Three functions, so that each path pays only for itself: the hook (a
 * check, a look at the lock word, a tail jump to libc), _traced (the try,
 * without a frame) and _wait (the recorded wait, with its frame; _traced
 * reaches it by a tail jump, so the frame-pointer walk goes from it straight
 * to the program's caller).
 *
 * FREE(m) says the lock looks free: then the hook calls libc's lock at once,
 * as when idle (glibc's trylock costs 3 ns more than its lock, a fifth of an
 * uncontended lock and unlock). A mutex's lock word is 0 exactly when
 * nobody holds it and nobody waits, for every type (normal, recursive,
 * error-checking, robust and PI ones hold the owner's tid there). A lock
 * taken by another thread between that look and libc's own atomic (a few
 * instructions) is a wait we do not record; a lock seen held always goes
 * through the try, so every wait behind a holder is recorded. Read-write
 * locks' words say less (readers share): they are always tried. */
static inline int mutex_free(pthread_mutex_t *m)
{
	return __atomic_load_n(&m->__data.__lock, __ATOMIC_RELAXED) == 0;
}

static inline int rwlock_free(pthread_rwlock_t *m)
{
	(void)m;
	return 0;
}

/* The checks glibc makes before it would take the lock or count (the try
 * skipped them: a bad time or clock took a free lock, EINVAL plain): a
 * clock its timed waits take, a time's nanoseconds. Where the call reads
 * the time up front (rwlocks, semaphores), so do we; a mutex reads it only
 * when it waits. 1: let the call itself answer. */
static inline int bad_clock(clockid_t c)
{
	return c != CLOCK_REALTIME && c != CLOCK_MONOTONIC;
}

static inline int bad_time(gt_ts t)   /* (rwlocks take NULL: no time-out) */
{
	return t && (t->tv_nsec < 0 || t->tv_nsec >= 1000000000);
}

#define GT_HOOK_LOCK(name, try_, free_, params, args) \
	GT_HOOK_LOCK_IF(name, try_, free_, params, args, 0)
#define GT_HOOK_LOCK_IF(name, try_, free_, params, args, bad_)               \
	static __attribute__((noinline)) int name##_wait params              \
	{                                                                    \
		struct gt_op op;                                             \
		int (*real_) params = GT_REAL(name);                         \
		gt_op_begin_as(&op, SYNC, 1, (uintptr_t)real_);              \
		int r_ = real_ args;                                         \
		gt_op_end(&op, (uintptr_t)real_);                            \
		return r_;                                                   \
	}                                                                    \
	static GT_IDLE_FAST __attribute__((noinline)) int name##_traced params \
	{                                                                    \
		if (!tracing() || (bad_))   /* (or libc was not resolved) */ \
			return GT_REAL(name) args;                           \
		int t_ = GT_REAL(try_)(m);                                   \
		if (__builtin_expect(t_ != EBUSY, 1))                        \
			return t_;                                           \
		return name##_wait args;                                     \
	}                                                                    \
	GT_IDLE_FAST GT_EXPORT int name params                               \
	{                                                                    \
		int (*r_) params = __atomic_load_n(&gt_real.name, __ATOMIC_RELAXED); \
		if (__builtin_expect(r_ && (!tracing() || free_(m)), 1))    \
			return r_ args;                                      \
		return name##_traced args;                                   \
	}

GT_HOOK_LOCK(pthread_mutex_lock, pthread_mutex_trylock, mutex_free, (pthread_mutex_t *m), (m))
GT_HOOK_LOCK(pthread_mutex_timedlock, pthread_mutex_trylock, mutex_free,
	     (pthread_mutex_t *m, gt_ts t), (m, t))
GT_HOOK_LOCK_IF(pthread_mutex_clocklock, pthread_mutex_trylock, mutex_free,
		(pthread_mutex_t *m, clockid_t c, gt_ts t), (m, c, t), bad_clock(c))
GT_HOOK_LOCK(pthread_rwlock_rdlock, pthread_rwlock_tryrdlock, rwlock_free, (pthread_rwlock_t *m), (m))
GT_HOOK_LOCK(pthread_rwlock_wrlock, pthread_rwlock_trywrlock, rwlock_free, (pthread_rwlock_t *m), (m))
GT_HOOK_LOCK_IF(pthread_rwlock_timedrdlock, pthread_rwlock_tryrdlock, rwlock_free,
		(pthread_rwlock_t *m, gt_ts t), (m, t), bad_time(t))
GT_HOOK_LOCK_IF(pthread_rwlock_timedwrlock, pthread_rwlock_trywrlock, rwlock_free,
		(pthread_rwlock_t *m, gt_ts t), (m, t), bad_time(t))
GT_HOOK_LOCK_IF(pthread_rwlock_clockrdlock, pthread_rwlock_tryrdlock, rwlock_free,
		(pthread_rwlock_t *m, clockid_t c, gt_ts t), (m, c, t), bad_clock(c) || bad_time(t))
GT_HOOK_LOCK_IF(pthread_rwlock_clockwrlock, pthread_rwlock_trywrlock, rwlock_free,
		(pthread_rwlock_t *m, clockid_t c, gt_ts t), (m, c, t), bad_clock(c) || bad_time(t))

GT_HOOK_OP(int, pthread_cond_wait, (pthread_cond_t *c, pthread_mutex_t *m), (c, m), GT_OP_COND,
	   GT_END_PLAIN)
GT_HOOK_OP(int, pthread_cond_timedwait, (pthread_cond_t *c, pthread_mutex_t *m, gt_ts t),
	   (c, m, t), GT_OP_COND, GT_END_PLAIN)
GT_HOOK_OP(int, pthread_cond_clockwait,
	   (pthread_cond_t *c, pthread_mutex_t *m, clockid_t k, gt_ts t), (c, m, k, t),
	   GT_OP_COND, GT_END_PLAIN)

/* Semaphores: a wait is marked as a condition variable's is (a thread in
 * sem_wait when a trace starts shows as waiting; debug_stacks names the
 * call), and while tracing first tried: a sem_wait that takes a count at
 * once is no wait. sem_trywait reports EAGAIN in errno (not a return
 * value). */
#define GT_HOOK_SEM(name, params, args, bad_, cancel_)                       \
	static __attribute__((noinline, used)) int gt_framed_##name params  \
	{                                                                    \
		struct gt_op op;                                             \
		int (*real_) params = GT_REAL(name);                         \
		if (tracing() && !(bad_)) {                                  \
			int e_ = errno;                                      \
			if (cancel_)   /* glibc's first there: a cancel point */ \
				pthread_testcancel();                        \
			if (GT_REAL(sem_trywait)(s) == 0)                    \
				return 0;                                    \
			if (errno != EAGAIN)                                 \
				return -1;                                   \
			errno = e_;                                          \
		}                                                            \
		gt_op_begin(&op, SYNC, (uintptr_t)real_);                    \
		int r_ = real_ args;                                         \
		gt_op_end(&op, (uintptr_t)real_);                            \
		return r_;                                                   \
	}                                                                    \
	GT_HOOK_THUNK(int, name, params, SYNC, GT_THUNK_NONE)

GT_HOOK_SEM(sem_wait, (sem_t *s), (s), 0, 1)
GT_HOOK_SEM(sem_timedwait, (sem_t *s, gt_ts t), (s, t), !t || bad_time(t), 1)
GT_HOOK_SEM(sem_clockwait, (sem_t *s, clockid_t c, gt_ts t), (s, c, t),
	    bad_clock(c) || !t || bad_time(t), 0)

GT_HOOK_OP(int, pthread_barrier_wait, (pthread_barrier_t *b), (b), SYNC, GT_END_PLAIN)
GT_HOOK_OP(int, pthread_join, (pthread_t t, void **r), (t, r), SYNC, GT_END_PLAIN)
GT_HOOK_OP(int, pthread_timedjoin_np, (pthread_t t, void **r, gt_ts ts), (t, r, ts), SYNC,
	   GT_END_PLAIN)
GT_HOOK_OP(int, pthread_clockjoin_np, (pthread_t t, void **r, clockid_t c, gt_ts ts),
	   (t, r, c, ts), SYNC, GT_END_PLAIN)

/* Raw futex waits through libc's syscall(): Rust's std (Mutex, Condvar,
 * RwLock, thread::park, Once), abseil, folly and libc++'s atomic waits call
 * syscall(SYS_futex, ...) themselves, below any pthread function. A wait
 * (FUTEX_WAIT*, FUTEX_LOCK_PI*, futex_waitv) is a sync wait; every other
 * call, futex or not, goes to libc untouched. glibc's syscall() takes six
 * arguments after the number and reads them all (the seventh word from the
 * stack): so do we. */
static int futex_waits(long nr, long op)
{
	if (nr == SYS_futex) {
		switch (op & FUTEX_CMD_MASK) {
		case FUTEX_WAIT:
		case FUTEX_WAIT_BITSET:
		case FUTEX_LOCK_PI:
		case FUTEX_WAIT_REQUEUE_PI:
#ifdef FUTEX_LOCK_PI2
		case FUTEX_LOCK_PI2:
#endif
			return 1;
		}
		return 0;
	}
#ifdef SYS_futex_waitv
	return nr == SYS_futex_waitv;
#else
	return 0;
#endif
}

static int raw_close_range(unsigned lo, unsigned hi, int flags)
{
	return (int)GT_REAL(syscall)(SYS_close_range, lo, hi, flags);
}

GT_EXPORT long syscall(long nr, ...)
{
	long (*real_)(long, ...) = GT_REAL(syscall);
	struct gt_op op;
	va_list ap;

	va_start(ap, nr);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
	long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	if (__builtin_expect(nr == SYS_unshare || nr == SYS_setns, 0)) {
		int parked = gt_ns_prepare(nr == SYS_setns, nr == SYS_setns ? b : a);
		long r = real_(nr, a, b, c, d, e, f);
		gt_ns_done(parked);
		return r;
	}
	/* Filters that bind the threads made after them (gt_service_needed). */
	if (__builtin_expect(nr == SYS_seccomp, 0) && a != SECCOMP_GET_ACTION_AVAIL &&
	    a != SECCOMP_GET_NOTIF_SIZES)
		gt_service_needed();
#ifdef SYS_landlock_restrict_self
	if (__builtin_expect(nr == SYS_landlock_restrict_self, 0))
		gt_service_needed();
#endif
	/* The raw ways to close or replace fds (code from before glibc 2.34
	 * has no close_range()): around ours, as the libc hooks do. */
	if (__builtin_expect(nr == SYS_close_range, 0))
		return gt_fd_guard_close_range((unsigned)a, (unsigned)b, (int)c, raw_close_range);
	if (__builtin_expect((nr == SYS_close || nr == SYS_dup2 || nr == SYS_dup3) &&
			     gt_fd_ours((int)(nr == SYS_close ? a : b)), 0) && !gt_tls.in_tracer) {
		if (nr == SYS_close)
			return 0;   /* as close(): ours is not the program's to close */
		gt_fd_guard_target((int)b);
	}
	if (__builtin_expect(nr == SYS_close || nr == SYS_dup2 || nr == SYS_dup3, 0)) {
		long r = real_(nr, a, b, c, d, e, f);
		gt_fd_note_call((int)(nr == SYS_close ? a : b), GT_FD_UNKNOWN);   /* as close() */
		return r;
	}
	if (__builtin_expect(!futex_waits(nr, b), 1))
		return real_(nr, a, b, c, d, e, f);
	gt_op_begin_as(&op, SYNC, 1, (uintptr_t)real_);   /* a futex-based lock's wait (Rust's Mutex...) */
	long r_ = real_(nr, a, b, c, d, e, f);
	gt_op_end(&op, (uintptr_t)real_);
	return r_;
}
