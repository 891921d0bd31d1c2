/* core/record/stack.h - stack capture (core/record/unwind.c: frame records, libunwind)
 * and the stack table (core/record/stack.c): raw pc arrays interned in a liburcu
 * RCU lock-free hash table (cds_lfht) and numbered once per process. Ids are global and stable, so the writer defines
 * in each trace the ones its events use. */
#ifndef GT_STACK_H
#define GT_STACK_H

#include <stdint.h>
#include <urcu/rculfhash.h>

#include "core/base/visibility.h"

#define GT_STACK_MAX 64

enum gt_stk_flag {
	GT_STK_FN = 1,     /* pc[0] is the address of the hooked libc function */
	GT_STK_START = 2,  /* one frame: a thread's start routine */
	GT_STK_MAIN = 4,   /* one frame: the main thread (writer resolves `main`) */
	GT_STK_RET = 8,    /* with START: pc is a return address inside it */
	GT_STK_EXACT = 16, /* pc[0] is an interrupted instruction (a CPU sample's) */
};

struct gt_stack {
	struct cds_lfht_node node;
	uint64_t hash;
	uint32_t id;
	uint16_t n;
	uint16_t flags;
	uintptr_t pc[];
};

/* Once, at load: where our own code is. 0 or -errno. */
int gt_stack_init(void);
/* Before the first trace (service thread): loads libunwind, readies the
 * auto walk. */
void gt_stack_prepare(void);
/* Service thread, each loop: grow the stack table as stacks are added
 * (on a thread of its own, joined here when done). */
void gt_stack_grow(void);
/* Join a resize thread that is done (waiting up to wait_ms for one that
 * runs) and count it out once its task is gone: 1 if none is left. One
 * caller at a time (the service thread, or gt_ns_prepare with it parked). */
int gt_stack_reap(int wait_ms);
/* The size it was last grown to (tests). */
unsigned long gt_stack_buckets(void);
/* fork: no resize runs across it; the child has no resize thread. */
void gt_stack_before_fork(void);
void gt_stack_after_fork(int child);

/* Capture the caller's stack into pc[0..max): frames of libgotrace itself are
 * skipped, the walk stops at our thread trampoline, and fn (when non-zero)
 * becomes frame 0. Returns the number of frames. Call with in_tracer > 0. */
unsigned gt_stack_capture(uintptr_t *pc, unsigned max, uintptr_t fn);
/* The id (gt_stack_intern) of that stack with flags: the same as capture
 * then intern, faster when it is the thread's last one. 0: none. */
uint32_t gt_stack_capture_id(uintptr_t fn, unsigned max, unsigned flags);
/* The same id for another thread, in the hooked call its TLS describes
 * (call_fp, call_fn), walked from outside by the frame walk's known
 * verdicts alone: 0 when they do not give it exact (or under TSan). The
 * caller holds the thread in that call (its record's lock, and the call
 * long past the threshold: its end waits for the lock). */
struct gt_tls;
uint32_t gt_stack_capture_of(const struct gt_tls *tls, unsigned max);
/* Set once at load (core/process/init.c): the walk gt_stack_capture_of
 * takes where the verdicts do not know a frame: prof's libunwind from
 * outside (the frame record at fp, the stack up to hi). */
void gt_stack_set_peeker(int (*walk)(uintptr_t fp, uintptr_t hi, uintptr_t *pc, int max));

/* The same from a signal's context (ucontext: the handler's third
 * argument), for the CPU profiler's SIGPROF handler: pc[0] is the
 * interrupted instruction, the others return addresses; frames of ours
 * are kept (time spent in the tracer is the program's too), the walk ends
 * at our thread trampoline. Frame records where the verdicts show them
 * exact, else libunwind from the context, else (GOTRACE_UNWIND=fp, or
 * libunwind busy on this thread, or the pc in the dynamic loader) the
 * records as they are. outside: the signal interrupted no tracer code
 * (in_tracer was 0), so libunwind's one-time set-up may run here.
 * Async-signal-safe; in_tracer > 0. */
unsigned gt_stack_capture_signal(void *ucontext, uintptr_t *pc, unsigned max, int outside);
/* Before the first profile (service thread): gt_stack_prepare, and the
 * table of interrupted pcs' verdicts. */
void gt_stack_prepare_signal(void);
/* Service thread, while a profile runs: once a signal walk has set
 * libunwind up, give its walks per-thread caches (no lock, no sigprocmask
 * per lookup; setting that is no handler's to do). */
void gt_stack_signal_settle(void);
/* GOTRACE_DEBUG: the signal walks so far: by frame records, by libunwind,
 * by the records as they are (libunwind not usable there). */
void gt_stack_signal_counts(uint64_t out[3]);

/* The table exists from now on (service thread or start-up, before a
 * hook that cannot load liburcu itself, malloc's, interns). 0, or -1. */
int gt_stack_table_ready(void);

/* The id of this pc array (+flags), adding it when new. 0 when the table is
 * full (the event then has no stack). Any thread, in_tracer > 0. */
uint32_t gt_stack_intern(const uintptr_t *pc, unsigned n, unsigned flags);

/* The stack with this id, NULL if none. Any thread; the result is immutable. */
const struct gt_stack *gt_stack_get(uint32_t id);

/* Number of ids handed out so far (ids are 1..count). */
uint32_t gt_stack_count(void);

/* Names of FN frames (the real functions the hooks forward to, "read",
 * not "__libc_read"; our own markers such as gotrace._ShortThread): the
 * writer names them with gt_stack_fn_name. gt_real's functions are named
 * by core/base/real.c, preload's trampolines by the namer it registers,
 * any other address by gt_stack_name_fn. */
void gt_stack_name_fn(uintptr_t real, const char *name);
void gt_stack_set_namer(const char *(*name_of)(uintptr_t pc), uintptr_t (*real_of)(uintptr_t pc));
/* The function an FN frame's pc stands for: the real one behind a
 * trampoline of preload's (whose object a stack shows), else pc. */
uintptr_t gt_stack_fn_real(uintptr_t pc);
const char *gt_stack_fn_name(uintptr_t real);

/* Is pc inside libgotrace's own code? */
extern GT_HIDDEN uintptr_t gt_self_lo, gt_self_hi;
static inline int gt_stack_is_self(uintptr_t pc)
{
	return pc >= gt_self_lo && pc < gt_self_hi;
}
/* The executable segment [lo, hi) of the loaded object holding pc, or (pc
 * 0) of the first whose path contains name; 0, 0 when none. */
void gt_stack_text(uintptr_t pc, const char *name, uintptr_t *lo, uintptr_t *hi);

/* Note this thread's stack top for the frame-pointer walks: top = our
 * trampoline's frame + 16 (the stack ends there for us), or 0 on the main
 * thread (where _start found the stack; with GOTRACE_UNWIND=fp, the
 * stack's end from pthread_getattr_np). On the thread itself, at its start
 * (not in a signal handler). */
void gt_stack_thread_init(uintptr_t top);

/* GOTRACE_DEBUG: how the stacks were walked, on stderr. */
void gt_stack_log_stats(void);

/* Stacks the trace being written defines, a bit per id (NULL before the
 * first trace). Only the writer (core/write/writer.c) sets bits, and clears them when it opens a
 * trace, before the session is published; program threads read them as they
 * write a stack id, and mark a batch (gt_chunk.stacks) when the id may be
 * new, so that the writer looks for stacks to define only in marked batches.
 * A bit read as set means the definition is already in this trace's output. */
#define GT_DEFINED_BITS (4u << 20)   /* = the stack table's id space */
extern uint64_t *gt_stack_defined;

static inline int gt_stack_known(uint64_t id)
{
	const uint64_t *d = __atomic_load_n(&gt_stack_defined, __ATOMIC_ACQUIRE);

	if (id == 0 || id >= GT_DEFINED_BITS)
		return 1;   /* no stack, or one the writer never defines */
	return d && (__atomic_load_n(&d[id / 64], __ATOMIC_RELAXED) >> (id % 64) & 1);
}

#endif
