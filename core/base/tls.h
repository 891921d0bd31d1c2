/* core/base/tls.h - the per-thread word every hook reads first, and the
 * attributes code that runs inside other people's processes needs. */
#ifndef GT_BASE_TLS_H
#define GT_BASE_TLS_H

#include <stddef.h>
#include <stdint.h>

/* The fds per-fd tables cover (fd kinds, our own fds). */
#define GT_FD_MAX 65536

#define GT_EXPORT __attribute__((visibility("default")))

/* For large zeroed arrays, of which start-up touches a page at most. The
 * x86-64 linker scripts place .lbss after .bss, so the small variables
 * start-up touches share two or three pages instead of lying between the
 * arrays, a page each: every process that loads us pays a fault per page
 * touched, 10-30 us apiece in some VMs (README, "What it costs"). */
#if defined(__x86_64__) && defined(__ELF__)
#define GT_COLD_BSS __attribute__((section(".lbss.gotrace")))
#else
#define GT_COLD_BSS
#endif

/* Code the doorman runs (core/process/door.c, preload/armed.c's arming): on the
 * main thread's TLS, so no TLS (no stack protector's canary, no errno), no
 * libc, no instrumentation. */
#if defined(__has_attribute)
#if __has_attribute(no_stack_protector)
#define GT_NO_SSP __attribute__((no_stack_protector))
#endif
#endif
#ifndef GT_NO_SSP
#define GT_NO_SSP
#endif
#define GT_RAW __attribute__((noinline, no_instrument_function, no_sanitize("undefined"))) GT_NO_SSP

/* Per-thread word every hook reads first (initial-exec TLS: no allocation,
 * no lock, usable in signal handlers). */
struct gt_tls {
	/* > 0 while tracer code runs on this thread, or forever on the
	 * tracer's own threads: hooks then forward untouched. */
	uint32_t in_tracer;
	/* The kind (enum gt_op_kind) of the hooked blocking call this thread is
	 * in, 0 when none. Owner-written; read racily by the trace-start
	 * snapshot to declare the thread waiting or in a syscall. While set,
	 * nested hooks (signal handlers) record no events. */
	uint32_t in_call;
	/* Set by debug_stacks (core/prof/stacks.c) while it looks at this
	 * thread: a hook entering a call waits until it is clear
	 * (gt_peek_wait), so that no request signal lands in a call it would
	 * interrupt (poll, nanosleep: EINTR). */
	uint32_t peek;
	/* This thread's record (core/record/thread.h), NULL until registered. */
	struct gt_thread *t;
	/* Heap bytes this thread allocated minus freed since it last folded
	 * them into the global figure (core/record/heap.c), and for which session. */
	int64_t heap;
	uint64_t heap_sess;
	/* Set once the thread's exit handler ran: no more events, but its
	 * frees (later TLS destructors) still count. */
	uint32_t dead;
	/* The hook of the call in progress: its frame record (on the stack;
	 * the program's frames above it) and the real function it forwards to. */
	uintptr_t call_fp, call_fn;
	/* Top of this thread's stack, for GOTRACE_UNWIND=fp (0: not known yet). */
	uintptr_t stack_hi;
	/* The sigaltstack this thread set through sigaltstack(3) ([lo, hi);
	 * 0, 0: none): a signal handler there may have a few KB of stack. */
	uintptr_t alt_lo, alt_hi;
	/* A tracer thread with an fd table of its own (core/process/fdtable.c): its
	 * fds are out of the program's reach, fdguard leaves them alone. */
	uint32_t own_fds;
	/* libunwind runs on this thread (core/record/unwind.c): a pipe it opens, at
	 * set-up or again after the program closed the first one behind our
	 * back (a raw close), is made ours (the pipe2 hook). */
	uint32_t unw_setup;
	/* The frame-record verdicts this thread used last (core/record/unwind.c),
	 * valid while fpc_gen is the table's generation. */
	uint32_t fpc_gen;
	uint64_t fpc[32];
	/* The heap profile (core/record/hprof.c): bytes to allocate before
	 * the next sample, drawn for rate generation hp_gen. */
	int64_t hp_left;
	uint32_t hp_gen;
	/* 1 once this thread registered with liburcu-bp (core/base/urcu.h);
	 * urcu_fork: its fork prepare handler holds gt_urcu_fork_lock. */
	uint32_t urcu_reg, urcu_fork;
	uint32_t buf_fork;   /* its fork holds the trace buffers' pool lock */
};

extern __thread struct gt_tls gt_tls __attribute__((tls_model("initial-exec")));

#endif
