/* preload/hook.h - how a hook is written: the real function from
 * core/base/real.h, the recording calls from core/record/api.h. */
#ifndef GT_PRELOAD_HOOK_H
#define GT_PRELOAD_HOOK_H

#include "core/base/real.h"
#include "core/process/api.h"
#include "core/record/api.h"

/* The safe points of a one-thread program's endpoint (preload/armed.c). */
void gt_armed_init(void);
/* The malloc hooks' fast idle path from now on, if no bootstrap block is
 * out (preload/malloc.c). */
void gt_malloc_ready(void);

/* A hook whose idle path is one check and a tail jump to libc (locks: tens
 * of ns each): no frame of its own, the traced path in a separate function
 * (which keeps its frame pointer for stacks). */
#if defined(__clang__)
#define GT_IDLE_FAST   /* clang has no per-function optimize attribute */
#else
#define GT_IDLE_FAST __attribute__((optimize("omit-frame-pointer")))
#endif

/* The body of a hook that records its call as a blocking op: begin, real
 * call, end (END may classify with fd/poll/select info). A cancellation
 * unwinding out of the call skips the end; the thread then exits, and its
 * exit handler clears what the begin set. */
#define GT_HOOK_OP(ret, name, params, args, kind, END)    \
	GT_EXPORT ret name params                         \
	{                                                 \
		struct gt_op op;                          \
		ret(*real_) params = GT_REAL(name);       \
		gt_op_begin(&op, kind, (uintptr_t)real_); \
		ret r_ = real_ args;                      \
		END;                                      \
		return r_;                                \
	}
#define GT_END_PLAIN gt_op_end(&op, (uintptr_t)real_)
#define GT_END_FD(fd) GT_OP_END_WITH(&op, gt_op_end_slow_fd(&op, (uintptr_t)real_, fd))

#endif
