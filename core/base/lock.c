/* core/base/lock.c - futex slow paths, raw syscalls: errno untouched
 * (callers run inside hooks). */
#include "core/base/lock.h"
#include "core/base/sys.h"

#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

void gt_futex_wait(uint32_t *word, uint32_t val, int64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;

	if (timeout_ns >= 0) {
		ts.tv_sec = timeout_ns / 1000000000;
		ts.tv_nsec = timeout_ns % 1000000000;
		tp = &ts;
	}
	gt_raw6(SYS_futex, (long)word, FUTEX_WAIT_PRIVATE, val, (long)tp, 0, 0);
}

void gt_futex_wake(uint32_t *word, int n)
{
	gt_raw6(SYS_futex, (long)word, FUTEX_WAKE_PRIVATE, n, 0, 0, 0);
}

static int (*orphaned)(void);

void gt_lock_slow(struct gt_lock *l)
{
	/* Spin a little: holders keep it for a few hundred ns at most. */
	for (int i = 0; i < 100; i++) {
		uint32_t z = 0;
		if (__atomic_load_n(&l->word, __ATOMIC_RELAXED) == 0 &&
		    __atomic_compare_exchange_n(&l->word, &z, 1, 0,
						__ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			return;
		__builtin_ia32_pause();
	}
	while (__atomic_exchange_n(&l->word, 2, __ATOMIC_ACQUIRE) != 0) {
		gt_futex_wait(&l->word, 2, 100 * 1000000);
		/* A raw fork's child (no fork handler of ours ran) got its
		 * copy of a lock held by a thread it does not have (the
		 * service thread's look at its record): no one will release
		 * it. It is this process's alone: take it. */
		if (orphaned && orphaned()) {
			__atomic_store_n(&l->word, 1, __ATOMIC_RELAXED);
			return;
		}
	}
}

void gt_lock_set_orphaned(int (*fn)(void))
{
	orphaned = fn;
}

void gt_unlock_slow(struct gt_lock *l)
{
	gt_futex_wake(&l->word, 1);
}
