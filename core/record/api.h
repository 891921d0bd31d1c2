/* core/record/api.h - what preload/ asks of the recording layer. A hook
 * is: begin (one inline check), the real call, end (one inline check); the
 * slow paths live in core/record. Every function here keeps errno and may
 * run in a signal handler, before main and in threads the tracer has not
 * seen yet. */
#ifndef GT_RECORD_API_H
#define GT_RECORD_API_H

#include <stddef.h>
#include <stdint.h>

#include "core/base/tls.h"
#include "core/base/visibility.h"

/* The session now recording, 0 when idle. Written by the service thread
 * (release) after the start snapshot; hooks read it (acquire) before they
 * read the clock, so their times follow the snapshot's. */
extern uint64_t gt_trace_on GT_HIDDEN;
/* The blocking calls' gate: gt_trace_on, with bit 63 set while a block or
 * mutex profile counts (core/record/bprof.h). Hooks of blocking calls read
 * it (acquire) instead of gt_trace_on: one load, whatever watches them. */
extern uint64_t gt_rec_on GT_HIDDEN;
#define GT_REC_PROF (1ull << 63)

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
	uint64_t t0;    /* begin time when sess != 0 or prof: ns, or the TSC
			   tagged GT_CLOCK_RAW (core/base/clock.h) */
	uint32_t kind;  /* 0: this call is not recorded (nested/tracer) */
	uint16_t prof;  /* a block or mutex profile counted at begin */
	uint16_t lock;  /* a lock's wait (the mutex profile's): gt_op_begin_as */
	uint32_t ck;    /* what its end classifies by, as the traced thunk's
			   (class | kind << 8, the first two arguments): for a
			   1.22 generation's cut. 0: its end keeps the kind, but
			   GT_OP_SELECT's (emit_block.c's cut_kind_of) */
	uint64_t a0, a1;
};

void gt_op_begin_slow(struct gt_op *op);
void gt_op_end_slow(struct gt_op *op, uintptr_t fn);
/* debug_stacks looks at this thread (tls->peek): wait until it is done. */
void gt_peek_wait(void);

/* Before the real call fn; lock: a lock's wait (the mutex profile's).
 * Inline in the hook, whose frame record (__builtin_frame_address) holds
 * the program's caller: debug_stacks walks the program's frames from it. */
#define gt_op_begin_as(op, kind, lock, fn) gt_op_begin_ck(op, kind, lock, fn, 0, 0, 0)
static inline __attribute__((always_inline)) void gt_op_begin_ck(struct gt_op *op, unsigned kind,
								 unsigned lock, uintptr_t fn,
								 uint32_t ck, uint64_t a0,
								 uint64_t a1)
{
	struct gt_tls *tls = &gt_tls;

	op->kind = 0;
	if (tls->in_tracer)
		return;
	/* In a call already: a signal handler's call (deeper on this stack, or
	 * on a distant sigaltstack) records nothing. A call as deep or
	 * shallower on the same stack means the old one was left by siglongjmp:
	 * it is over. (Hook frames, not ops, are compared: at one depth every
	 * hook's frame record is at the same address.) */
	uintptr_t fp = (uintptr_t)__builtin_frame_address(0);
	if (__builtin_expect(tls->in_call != 0, 0) &&
	    !(fp >= tls->call_fp && fp - tls->call_fp < (8u << 20)))
		return;
	tls->call_fp = fp;
	tls->call_fn = fn;
	op->kind = kind;
	op->prof = 0;
	op->lock = (uint16_t)lock;
	op->ck = ck;
	op->a0 = a0;
	op->a1 = a1;
	/* in_call, then peek: debug_stacks sets peek, then (membarrier) reads
	 * in_call; one of the two sees the other. */
	__atomic_store_n(&tls->in_call, kind, __ATOMIC_RELEASE);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (__builtin_expect(__atomic_load_n(&tls->peek, __ATOMIC_RELAXED) != 0, 0))
		gt_peek_wait();
	op->sess = __atomic_load_n(&gt_rec_on, __ATOMIC_ACQUIRE);
	if (__builtin_expect(op->sess != 0, 0))
		gt_op_begin_slow(op);
}

#define gt_op_begin(op, kind, fn) gt_op_begin_as(op, kind, 0, fn)

/* Hooks of blocking calls whose idle path is a thunk (preload/hook.h),
 * in the section gt_thunks: it calls the real function and goes on to
 * gt_op_ret_pop, or (gt_op_jump) jumps to it with gt_op_ret as its return
 * address (core/record/op.c). Either finds the program's return address
 * in the frame record at its sp. gt_op_thunk_init (at load) chooses. */
#if defined(__x86_64__) && defined(__linux__) && defined(__GNUC__) && !defined(__clang__)
#define GT_OP_THUNKS 1
void gt_op_ret(void) GT_HIDDEN;
void gt_op_ret_pop(void) GT_HIDDEN;
void gt_op_end_idle(void) GT_HIDDEN;
extern uint8_t gt_op_jump GT_HIDDEN;
extern const char __start_gt_thunks[] GT_HIDDEN, __stop_gt_thunks[] GT_HIDDEN;
void gt_op_thunk_init(void);
/* While tracing, a thunk whose hook's end is of one of these classes
 * (a recorded end classifies by the call's first arguments as the framed
 * body's END does) goes on to gt_op_traced (core/record/thunk.c), which
 * times the call in asm and leaves what is recorded to C. NONE: the
 * framed body, always. */
enum gt_thunk_cls { GT_THUNK_NONE, GT_THUNK_PLAIN, GT_THUNK_FD, GT_THUNK_POLL, GT_THUNK_EPOLL,
		    GT_THUNK_SELECT /* (a gt_op's ck only: select's framed body) */ };
void gt_op_traced(void) GT_HIDDEN;
/* The return address of gt_op_traced's call of the real function: the
 * thunk's frame record is GT_THUNK_FRAME bytes above its CFA. */
void gt_op_traced_ret(void) GT_HIDDEN;
#define GT_THUNK_FRAME 64
/* offsetof(struct gt_thread, sess), for the thunks (asserted in thunk.c). */
#define GT_THREAD_SESS 0x88
#endif

/* Does the end of this op need core (it began while tracing, or ends
 * while tracing or profiling: a wait a profile's end cut is not counted)? */
static inline int gt_op_slow(const struct gt_op *op)
{
	return __builtin_expect((op->sess | __atomic_load_n(&gt_rec_on, __ATOMIC_RELAXED)) != 0, 0);
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


#include "core/base/fdkind.h"

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

/* The malloc hooks' gate: gt_trace_on, bit 63 set while the heap profile
 * samples (core/record/hprof.h), bit 62 while bootstrap blocks may be out
 * (preload/malloc.c): 0 is idle, the hooks' one-load path. */
extern uint64_t gt_heap_on GT_HIDDEN;
#define GT_HEAP_SAMPLING (1ull << 63)
#define GT_HEAP_BOOT (1ull << 62)
/* The heap profile's part of a hook (the gate's bit 63 set), inline: p
 * (n bytes asked) was allocated: the thread's countdown to its next
 * sample; p is about to be freed (before the real free: its address may
 * be handed out again at once): a look at the filter of sampled blocks'
 * addresses: a bit per address hash, set while a sampled block may be
 * there. The slow paths do nothing when in_tracer. */
#define GT_HPROF_BITS 15   /* the filter: 1 << 15 bits, 4 KiB, stays in L1 */
extern uint64_t gt_hprof_bits[(1u << GT_HPROF_BITS) / 64] GT_HIDDEN;
extern uint32_t gt_hprof_gen GT_HIDDEN;      /* bumped at each rate set */
void gt_hprof_alloc_slow(void *p, size_t n);
/* fn is called after each change of gt_heap_on by core (the malloc hooks
 * derive their paths from it). */
void gt_hprof_on_gate(void (*fn)(void));
void gt_hprof_free_slow(void *p);
/* realloc's: p's record out of the table before the call (its address may
 * be another thread's at once), then dropped (freed: the call moved or
 * freed p) or put back (it failed: p is still the program's). */
uint32_t gt_hprof_unlink(void *p);
void gt_hprof_unlinked(void *p, uint32_t i, int freed);

/* The filter's bit for a block's address: the top bits of its low 32
 * bits times 2^32 / phi (Fibonacci hashing: every bit of the address
 * below 32 moves them, the 16-byte alignment's zeros included). Two
 * instructions, where a shift-and-fold took five. */
static inline uint32_t gt_hprof_slot(uintptr_t p)
{
	return (uint32_t)p * 0x9e3779b1u >> (32 - GT_HPROF_BITS);
}

/* The countdown alone, before the real call: 0 when this allocation of n
 * bytes is to be sampled (then gt_hprof_alloc_slow once it has its
 * address), 1 when not. A new thread's countdown is 0: its first
 * allocation goes to the slow path, which draws its first distance. The
 * rate is set once (off to on); were it set again, each thread would take
 * it up at its next sample (the slow path compares gt_hprof_gen). */
static inline int gt_hprof_skip(size_t n)
{
	return (gt_tls.hp_left -= (int64_t)n) >= 0;
}

static inline void gt_hprof_alloc(void *p, size_t n)
{
	if (__builtin_expect(!gt_hprof_skip(n), 0))
		gt_hprof_alloc_slow(p, n);
}

static inline int gt_hprof_maybe(const void *p)
{
	uint32_t b = gt_hprof_slot((uintptr_t)p);

	return (__atomic_load_n(&gt_hprof_bits[b >> 6], __ATOMIC_RELAXED) >> (b & 63)) & 1;
}

static inline void gt_hprof_free(void *p)
{
	if (__builtin_expect(gt_hprof_maybe(p), 0))
		gt_hprof_free_slow(p);
}

/* Heap accounting, while tracing (core/record/heap.c). usable = the real
 * allocator's malloc_usable_size of the block. */
#define GT_HEAP_FOLD (64 << 10)

/* Set at trace start (before the session is published): the allocator we
 * forward to is glibc's, whose block sizes gt_glibc_usable reads. */
extern int gt_heap_glibc GT_HIDDEN;

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
	/* Through an integer: the header is outside the object the compiler
	 * sees malloc return, and -Warray-bounds (-O3) would say so. */
	size_t h = *(const size_t *)((uintptr_t)p - sizeof(size_t));

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

/* Names for code of preload/'s own that stacks show (the trampolines of
 * preload/armed.c): name_of(pc) gives a function's name or NULL, real_of(pc)
 * the real function it stands for (whose object stacks show) or 0, asked
 * when a trace or profile is written. gt_real's functions are named by
 * core/base/real.c ("read", not "__libc_read"). Registered once at load. */
void gt_name_resolver(const char *(*name_of)(uintptr_t pc), uintptr_t (*real_of)(uintptr_t pc));

/* pthread_create: returns the record to pass to the real pthread_create
 * with gt_thread_start as start routine, or NULL: call the real one as is.
 * create_fn = the real pthread_create (creator stack's innermost frame). */
struct gt_thread *gt_thread_prepare(void *(*fn)(void *), void *arg, uintptr_t create_fn);
void *gt_thread_start(void *rec);
/* The real pthread_create failed: take the record back. */
void gt_thread_abort(struct gt_thread *rec);

/* pthread_setname_np / prctl(PR_SET_NAME) succeeded: self = the named
 * thread's pthread_t, fn = the real function. */
void gt_thread_set_name(uintptr_t self, const char *name, uintptr_t fn);

/* After dlclose: code may be mapped at the unloaded library's addresses
 * later; the frame-record walk forgets what it knew of them. */
void gt_stack_forget_code(void);

#endif
