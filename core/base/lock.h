/* core/base/lock.h - a small futex mutex for tracer state. It never calls the
 * pthread functions libgotrace hooks, is async-signal-safe to release, and
 * is visible to TSan through its atomics. Word: 0 free, 1 held, 2 held with
 * waiters. Not recursive. */
#ifndef GT_LOCK_H
#define GT_LOCK_H

#include <stdint.h>

struct gt_lock {
	uint32_t word;
};

#define GT_LOCK_INIT { 0 }

void gt_lock_slow(struct gt_lock *l);
/* Set once at load (core/process/init.c: record's gt_buf_orphaned): is
 * this a raw fork's child, whose held copies of locks nobody releases?
 * A wait for a lock checks it every 100 ms, and takes the lock if so. */
void gt_lock_set_orphaned(int (*fn)(void));
void gt_unlock_slow(struct gt_lock *l);
void gt_futex_wait(uint32_t *word, uint32_t val, int64_t timeout_ns);
void gt_futex_wake(uint32_t *word, int n);

static inline void gt_lock(struct gt_lock *l)
{
	uint32_t z = 0;

	if (!__atomic_compare_exchange_n(&l->word, &z, 1, 0, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		gt_lock_slow(l);
}

static inline int gt_trylock(struct gt_lock *l)
{
	uint32_t z = 0;

	return __atomic_compare_exchange_n(&l->word, &z, 1, 0, __ATOMIC_ACQUIRE,
					   __ATOMIC_RELAXED);
}

static inline void gt_unlock(struct gt_lock *l)
{
	if (__atomic_exchange_n(&l->word, 0, __ATOMIC_RELEASE) == 2)
		gt_unlock_slow(l);
}

#endif
