/* core/gotrace.h - the one header preload/ includes. A hook is: begin (one
 * inline check), the real call, end (one inline check); the slow paths live
 * in core. Every function here keeps errno and may run in a signal handler,
 * before main and in threads the tracer has not seen yet. */
#ifndef GT_GOTRACE_H
#define GT_GOTRACE_H

#include <stddef.h>
#include <stdint.h>

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

/* Code the doorman runs (core/door.c, preload/armed.c's arming): on the
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
	/* This thread's record (core/thread.h), NULL until registered. */
	struct gt_thread *t;
	/* Heap bytes this thread allocated minus freed since it last folded
	 * them into the global figure (core/heap.c), and for which session. */
	int64_t heap;
	uint64_t heap_sess;
	/* Set once the thread's exit handler ran: no more events, but its
	 * frees (later TLS destructors) still count. */
	uint32_t dead;
	/* Where the op of the call in progress lives (its stack address). */
	uintptr_t call_sp;
	/* Top of this thread's stack, for GOTRACE_UNWIND=fp (0: not known yet). */
	uintptr_t stack_hi;
	/* A tracer thread with an fd table of its own (core/service.c): its
	 * fds are out of the program's reach, fdguard leaves them alone. */
	uint32_t own_fds;
	/* libunwind runs on this thread (core/unwind.c): a pipe it opens, at
	 * set-up or again after the program closed the first one behind our
	 * back (a raw close), is made ours (the pipe2 hook). */
	uint32_t unw_setup;
	/* The frame-record verdicts this thread used last (core/unwind.c),
	 * valid while fpc_gen is the table's generation. */
	uint32_t fpc_gen;
	uint64_t fpc[32];
};

extern __thread struct gt_tls gt_tls __attribute__((tls_model("initial-exec")));

/* The session now recording, 0 when idle. Written by the service thread
 * (release) after the start snapshot; hooks read it (acquire) before they
 * read the clock, so their times follow the snapshot's. */
extern uint64_t gt_trace_on;

/* Kinds of blocking call and the trace events they become. */
enum gt_op_kind {
	GT_OP_NONE = 0,
	GT_OP_SYSCALL,  /* GoSysCall, GoSysBlock, GoSysExit, GoStart */
	GT_OP_NET,      /* GoBlockNet, GoUnblock, GoStart */
	GT_OP_SELECT,   /* GoBlockSelect ... */
	GT_OP_SYNC,     /* GoBlockSync ... */
	GT_OP_COND,     /* GoBlockCond ... */
	GT_OP_SLEEP,    /* GoSleep ... */
	GT_OP_KINDS
};

struct gt_op {
	uint64_t sess;  /* session seen at begin (0: idle) */
	uint64_t t0;    /* begin time when sess != 0 */
	uint32_t kind;  /* 0: this call is not recorded (nested/tracer) */
};

void gt_op_begin_slow(struct gt_op *op);
void gt_op_end_slow(struct gt_op *op, uintptr_t fn);

/* Before the real call. */
static inline void gt_op_begin(struct gt_op *op, unsigned kind)
{
	struct gt_tls *tls = &gt_tls;

	op->kind = 0;
	if (tls->in_tracer)
		return;
	/* In a call already: a signal handler's call (deeper on this stack, or
	 * on a distant sigaltstack) records nothing. A call shallower on the
	 * same stack means the old one was left by siglongjmp: it is over. */
	if (__builtin_expect(tls->in_call != 0, 0) &&
	    !((uintptr_t)op >= tls->call_sp && (uintptr_t)op - tls->call_sp < (8u << 20)))
		return;
	tls->call_sp = (uintptr_t)op;
	op->kind = kind;
	__atomic_store_n(&tls->in_call, kind, __ATOMIC_RELAXED);
	op->sess = __atomic_load_n(&gt_trace_on, __ATOMIC_ACQUIRE);
	if (__builtin_expect(op->sess != 0, 0))
		gt_op_begin_slow(op);
}

/* Does the end of this op need core (it began or ends while tracing)? */
static inline int gt_op_slow(const struct gt_op *op)
{
	return __builtin_expect((op->sess | __atomic_load_n(&gt_trace_on, __ATOMIC_RELAXED)) != 0, 0);
}

static inline void gt_op_done(struct gt_op *op)
{
	op->kind = 0;
	__atomic_store_n(&gt_tls.in_call, 0, __ATOMIC_RELAXED);
}

/* After the real call; fn = the real function's address (the innermost
 * frame of the recorded stack). */
static inline void gt_op_end(struct gt_op *op, uintptr_t fn)
{
	if (!op->kind)
		return;
	if (gt_op_slow(op))
		gt_op_end_slow(op, fn);
	gt_op_done(op);
}


/* Socket or not, per fd: decides net vs syscall (and poll/select/epoll)
 * events. Filled lazily (fstat) by core in the slow path only; preload
 * notes what it knows for free: close/dup2 forget, socket/accept set. */
#define GT_FD_MAX 65536
/* GT_FD_NOWAIT: no socket, and a read never waits (a regular file, a
 * memory device: preload/armed.c asks, for GOTRACE_LAZY's safe points). */
enum gt_fd_kind { GT_FD_UNKNOWN = 0, GT_FD_SOCKET, GT_FD_OTHER, GT_FD_EPOLL_NET, GT_FD_NOWAIT };
extern uint8_t gt_fd_kind[GT_FD_MAX];

static inline void gt_fd_note(int fd, unsigned kind)
{
	if ((unsigned)fd < GT_FD_MAX)
		__atomic_store_n(&gt_fd_kind[fd], (uint8_t)kind, __ATOMIC_RELAXED);
}

/* End variants that classify the call when (and only when) it is recorded. */
struct pollfd;
void gt_op_end_slow_fd(struct gt_op *op, uintptr_t fn, int fd);
void gt_op_end_slow_poll(struct gt_op *op, uintptr_t fn, const struct pollfd *p, unsigned long n);
void gt_op_end_slow_select(struct gt_op *op, uintptr_t fn, int nfds, const void *r,
			   const void *w, const void *e);
void gt_op_end_slow_epoll(struct gt_op *op, uintptr_t fn, int epfd);

#define GT_OP_END_WITH(op, call)          \
	do {                              \
		if ((op)->kind) {         \
			if (gt_op_slow(op)) \
				call;     \
			gt_op_done(op);   \
		}                         \
	} while (0)

/* epoll_ctl added fd to epfd: remember epoll sets that watch sockets. */
void gt_fd_epoll_add(int epfd, int fd);

/* Heap accounting, while tracing (core/heap.c). usable = the real
 * allocator's malloc_usable_size of the block. */
#define GT_HEAP_FOLD (64 << 10)

/* Set at trace start (before the session is published): the allocator we
 * forward to is glibc's, whose block sizes gt_glibc_usable reads. */
extern int gt_heap_glibc;

/* glibc's malloc_usable_size of a block in use, read from its chunk header
 * (malloc/malloc.c: the size word before the block, low bits flags, bit 1
 * IS_MMAPPED; usable = chunk size - 8, or - 16 for an mmapped chunk) with
 * no call and without glibc's look at the next chunk's header, which only
 * tells a block in use from a free one: a block malloc just returned, or
 * one the program passes to free or realloc, is in use. x86-64 layout (the
 * same in every glibc; no memory tagging there); hooks elsewhere call the
 * allocator's malloc_usable_size. */
#if defined(__x86_64__)
#define GT_GLIBC_USABLE 1
static inline size_t gt_glibc_usable(const void *p)
{
	size_t h = ((const size_t *)p)[-1];

	return (h & ~(size_t)7) - 8 - (h & 2) * 4;   /* - 16 when mmapped */
}
#else
#define GT_GLIBC_USABLE 0
#endif
void gt_heap_fold(int64_t v, uint64_t s, size_t big);

static inline void gt_heap_add(int64_t d, uint64_t s, size_t req)
{
	struct gt_tls *tls = &gt_tls;

	if (__builtin_expect(tls->heap_sess != s, 0)) {
		tls->heap_sess = s;
		tls->heap = 0;
	}
	int64_t v = tls->heap + d;
	if (__builtin_expect(v >= GT_HEAP_FOLD || v <= -GT_HEAP_FOLD, 0)) {
		tls->heap = 0;
		gt_heap_fold(v, s, req);
	} else {
		tls->heap = v;
	}
}

/* Library load (constructor) and the pieces of it preload/ provides. */
void gt_init(void);

/* Name the real functions the hooks forward to, so stacks show "read", not
 * "__libc_read". Called by preload/ once per resolved function. */
void gt_name_fn(uintptr_t real, const char *name);

/* pthread_create: returns the record to pass to the real pthread_create
 * with gt_thread_start as start routine, or NULL: call the real one as is.
 * create_fn = the real pthread_create (creator stack's innermost frame). */
struct gt_thread *gt_thread_prepare(void *(*fn)(void *), void *arg, uintptr_t create_fn);
void *gt_thread_start(void *rec);
/* The real pthread_create failed: take the record back. */
void gt_thread_abort(struct gt_thread *rec);

/* Process exit (atexit, and _exit/_Exit, which skip atexit): finish the
 * trace and remove the endpoint. Idempotent. */
void gt_exit_prepare(void);

/* pthread_setname_np / prctl(PR_SET_NAME) succeeded: self = the named
 * thread's pthread_t, fn = the real function. */
void gt_thread_set_name(uintptr_t self, const char *name, uintptr_t fn);

/* Before execve and friends: finish the trace in progress (the new image
 * starts fresh), unless the exec is sure to fail (nothing executable at
 * path; search = PATH lookup of the p variants): then the call returns to
 * the program and tracing goes on. dirfd/flags as execveat's. */
void gt_exec_prepare(int dirfd, const char *path, int search, int flags);
/* The process showed it is long-lived: it became a session leader (setsid,
 * daemon) or listens on a socket. A forked child without an endpoint gets
 * one now, and its own forked children get theirs at fork. */
void gt_service_long_lived(void);
/* unshare(flags) / setns(nstype) (is_setns) is about to run: if it wants a
 * process of one thread (a user or mount namespace) and the program has
 * one, the service thread leaves (the endpoint and any trace stay open).
 * Returns whether it did (1, or 2 for a one-thread program's doorman);
 * gt_ns_done(that) after the call starts it again. */
int gt_ns_prepare(int is_setns, long flags);
void gt_ns_done(int parked);
/* A one-thread program's endpoint (core/door.c). pre() runs when the
 * doorman starts: it points preload's blocking calls at a check that starts
 * the service thread before one that may wait long (gt_service_safe_point
 * with wait = 1). Once a client connects, the doorman calls on() (atomics
 * only: it runs without TLS), which makes every such call and the
 * program's malloc/free a safe point (wait = 0); off() points them all
 * back. Calls from inside libc (caller: the malloc's return address) and,
 * for async-signal-safe calls, calls a signal handler may be making are no
 * safe point: there the service thread's pthread_create waits for the
 * next call. */
void gt_service_set_arm(void (*pre)(void), void (*on)(void), void (*off)(void));
enum { GT_SAFE_CALLER, GT_SAFE_PLAIN, GT_SAFE_SIGNAL };
void gt_service_safe_point(int kind, uintptr_t caller, int wait);
/* A one-thread program's doorman gives way to the service thread now (a
 * safe point: neither call is a handler's). The program made a thread:
 * glibc is in its threaded ways for good, a doorman saves nothing, and a
 * server whose threads all wait in calls a handler could be making would
 * reach no safe point. Or it is about to install a seccomp filter or a
 * Landlock domain, which a thread made after it would inherit (a thread
 * from load does not): the service's own calls and trace files must not
 * be theirs to refuse. */
void gt_service_needed(void);
/* dlclose is about to unmap a library: symbolise the stacks seen so far. */
void gt_service_sync(void);
/* After dlclose: code may be mapped at the unloaded library's addresses
 * later; the frame-record walk forgets what it knew of them. */
void gt_stack_forget_code(void);

#endif
