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

#define GT_URCU_FNS(X)                                                       \
	X(urcu_bp_read_lock) X(urcu_bp_read_unlock)                          \
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

#endif
