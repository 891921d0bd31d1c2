/* core/base/urcu.h - liburcu (the urcu-bp flavour, the lock-free hash table,
 * the wait-free queue), loaded when the first trace starts: dlopen with
 * RTLD_LOCAL, like libunwind and libdw. An idle process maps three
 * libraries fewer (~0.2 ms per exec), and none of liburcu's unversioned
 * names enter the program's symbol scope. Calls go through gt_urcu, which
 * is set before the first session is published and read-only after. */
#ifndef GT_URCU_H
#define GT_URCU_H

#include <urcu-bp.h>   /* the flavour, before the hash table header */
#include <urcu/rculfhash.h>
#include <urcu/wfcqueue.h>

#include "core/base/lock.h"
#include "core/base/tls.h"

/* liburcu-bp registers a thread at its first read lock (static/urcu-bp.h,
 * _LGPL_SOURCE only): exported, called here before it (gt_urcu_register). */
void urcu_bp_register(void);

#define GT_URCU_FNS(X)                                                       \
	X(urcu_bp_read_lock) X(urcu_bp_read_unlock) X(urcu_bp_register)      \
	X(urcu_bp_before_fork) X(urcu_bp_after_fork_parent)                  \
	X(urcu_bp_after_fork_child) X(urcu_bp_call_rcu_before_fork)          \
	X(urcu_bp_call_rcu_after_fork_parent)                                \
	X(urcu_bp_call_rcu_after_fork_child)                                 \
	X(_cds_lfht_new) X(cds_lfht_lookup) X(cds_lfht_add_unique)           \
	X(cds_lfht_resize)                                                   \
	X(__cds_wfcq_init) X(cds_wfcq_node_init) X(cds_wfcq_enqueue)         \
	X(__cds_wfcq_dequeue_blocking)

struct gt_urcu {
#define GT_URCU_FIELD(f) __typeof__(f) *f;
	GT_URCU_FNS(GT_URCU_FIELD)
#undef GT_URCU_FIELD
	const struct rcu_flavor_struct *flavor;
	/* The hash table's bucket memory by orders, allocated as it grows: the
	 * default for a large maximum reserves it all up front (64 MB for 2^22
	 * buckets) and aborts when it cannot (ulimit -v). */
	const struct cds_lfht_mm_type *mm_order;
	int ok;   /* atomic: everything above is set */
};
extern struct gt_urcu gt_urcu;

/* Load it (once; later calls return at once): 1 when it is there. Not from
 * a hook: the service thread at trace start, or a test. */
int gt_urcu_load(void);

static inline int gt_urcu_ready(void)
{
	return __atomic_load_n(&gt_urcu.ok, __ATOMIC_ACQUIRE);
}

/* liburcu-bp takes a lock of its own (init_lock) in its constructor (with
 * the membarrier registration: 10-13 ms in a process of several threads),
 * when a thread registers (at its first read lock) and when a registered
 * thread exits; its fork handlers do not take it. A fork while another
 * thread held it left the child a lock nobody releases, which its exit
 * (liburcu-bp's destructor) waited on forever: a shell's subshell, with
 * the shell waiting for it, when a trace started over the endpoint.
 * gt_urcu_fork_lock is held around the first two (the load, and each
 * thread's registration, made explicit here), and by the fork prepare
 * handler across fork (core/process/fork.c). A thread's exit stays
 * outside it: a few instructions under the lock, with no system call. */
extern struct gt_lock gt_urcu_fork_lock;
void gt_urcu_register(void);
/* The fork prepare handler's take of it: 1 held; 0 after 2 s without
 * (a fork from inside a dlopen, whose loader lock our load waits for:
 * the fork goes on as before this lock). */
int gt_urcu_fork_hold(void);

/* The read lock, the thread registered first. */
static inline void gt_urcu_read_lock(void)
{
	if (__builtin_expect(!gt_tls.urcu_reg, 0))
		gt_urcu_register();
	gt_urcu.urcu_bp_read_lock();
}

#endif
