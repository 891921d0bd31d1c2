/* preload/hook.h - how a hook is written: the real function from
 * core/base/real.h, the recording calls from core/record/api.h. */
#ifndef GT_PRELOAD_HOOK_H
#define GT_PRELOAD_HOOK_H

#include <stddef.h>

#include "core/base/real.h"
#include "core/process/api.h"
#include "core/record/api.h"

/* The safe points of a one-thread program's endpoint (preload/armed.c). */
void gt_armed_init(void);
/* The malloc hooks' fast idle path from now on, if no bootstrap block is
 * out (preload/malloc.c). */
void gt_malloc_ready(void);
/* The malloc and free hooks' paths again, after a change of the gate or of
 * gt_real.malloc or gt_real.free (armed.c). */
void gt_malloc_repath(void);

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
 * exit handler clears what the begin set. Use it as is where END does more
 * than record (accept's fd note) or the function takes its arguments on
 * the stack (more than six); GT_HOOK_OP else. */
#define GT_HOOK_OP_FRAMED(ret, name, params, args, kind, END) \
	GT_EXPORT GT_HOOK_BODY(ret, name, name, params, args, kind, END)
#define GT_HOOK_BODY(ret, fname, name, params, args, kind, END) \
	GT_HOOK_BODY_CK(ret, fname, name, params, args, kind, END, 0, (0, 0))
/* With what the traced thunk passes on for a cut (gt_op_begin_ck): its
 * class and kind, the first two arguments (the end classifies by them). */
#define GT_HOOK_BODY_CK(ret, fname, name, params, args, kind, END, cls, a01)          \
	ret fname params                                                              \
	{                                                                             \
		struct gt_op op;                                                      \
		ret(*real_) params = GT_REAL(name);                                   \
		gt_op_begin_ck(&op, kind, 0, (uintptr_t)real_, (cls) ? (cls) | (kind) << 8 : 0, \
			       GT_A01 a01);                                           \
		ret r_ = real_ args;                                                  \
		END;                                                                  \
		return r_;                                                            \
	}
#define GT_A01(...) GT_A01_(0, ##__VA_ARGS__, 0, 0)
#define GT_A01_(z, a, b, ...) (uint64_t)(uintptr_t)(a), (uint64_t)(uintptr_t)(b)

#ifdef GT_OP_THUNKS
/* The same, whose idle path is a thunk in asm, in two forms chosen at load
 * (gt_op_thunk_init: gt_op_jump). Both set the marks (in_call, call_fn,
 * call_fp) as gt_op_begin does and make a frame record below the
 * program's return address (its rbp, that address: what debug_stacks and
 * the trace-start snapshot read).
 * - call: the thunk calls the real function and goes on to gt_op_ret_pop,
 *   which clears the marks and returns. Where the return predictor keeps
 *   its entries across a system call (Intel here), both returns are
 *   predicted: st-syscalls 1.039 plain, the C hook's 1.049, the jump's
 *   1.095 (21 interleaved rounds, pinned).
 * - jump: the thunk puts gt_op_ret as the real function's return address
 *   and jumps to it; gt_op_ret clears the marks and reaches the program by
 *   an indirect jump, which the branch predictor knows. Where the kernel
 *   clears the return predictor at each system call (AMD's SRSO
 *   mitigation) a second return after it is mispredicted: ~17 ns a call,
 *   the C hook 1.065 there, this thunk 1.02.
 * Either way gt_op_end_idle is called if a trace or profile began during
 * the call. Every other case (recording, a profile counting, tracer code,
 * a nested call, debug_stacks looking, no real function yet) takes the
 * framed body. The stack keeps 16-byte alignment; the thunk's and
 * gt_op_ret's unwind tables describe the frame, so unwinders (a
 * cancellation, a C++ exception, gdb, perf, libunwind) walk through it;
 * our frame walk steps over it (gt_thunk_step, core/record/unwind.h). The
 * in_tracer and in_call checks are two 4-byte loads: one 8-byte load over
 * the 4-byte store that cleared in_call stalled (a failed store
 * forwarding: 1.069 where it is 1.039). */
#define GT_NARG(...) GT_NARG_(__VA_ARGS__, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define GT_NARG_(a1, a2, a3, a4, a5, a6, a7, a8, a9, n, ...) n
#define GT_HOOK_OP(ret, name, params, args, kind, END)                                       \
	static __attribute__((noinline, used))                                               \
	GT_HOOK_BODY_CK(ret, gt_framed_##name, name, params, args, kind, END, GT_TCLS_##END, args) \
	GT_HOOK_THUNK(ret, name, params, kind, GT_TCLS_##END)
/* The class of an END (enum gt_thunk_cls): what a recorded end of the
 * traced thunk's call classifies by. */
#define GT_TCLS_GT_END_PLAIN GT_THUNK_PLAIN
#define GT_TCLS_GT_END_FD(fd) GT_THUNK_FD
#define GT_TCLS_END_POLL(p, n) GT_THUNK_POLL
#define GT_TCLS_END_EPOLL(ep) GT_THUNK_EPOLL
/* The thunk alone, for a hook whose framed body (gt_framed_NAME, static,
 * noinline, used) is written out: it begins with gt_op_begin and calls
 * GT_REAL(name) as GT_HOOK_BODY does. While tracing, a thunk of class
 * cls (not GT_THUNK_NONE) makes the same checks and marks, then those of
 * a traced call (a registered thread in the session now on, no profile
 * counting, the TSC's rate known; failing one, the marks are undone and
 * the framed body called, as for peek), and goes on to gt_op_traced
 * (core/record/thunk.c) with the real function in r10 and the class and
 * kind in eax. Neither form reads the real function
 * back from TLS after the marks: a signal handler's hooked call may have
 * taken them over (see core/record/thunk.c). */
#define GT_HOOK_THUNK(ret, name, params, kind, cls)                                         \
	_Static_assert(GT_NARG params <= 6, #name ": arguments on the stack: GT_HOOK_OP_FRAMED"); \
	_Pragma("GCC diagnostic push")                                                       \
	_Pragma("GCC diagnostic ignored \"-Wunused-parameter\"")                              \
	GT_EXPORT __attribute__((naked, section("gt_thunks"))) ret name params               \
	{                                                                                    \
		__asm__ volatile(                                                            \
			/* a hook without a traced path: its framed body at once */          \
			".if %c[klass] == 0\n\t"                                            \
			"cmpq $0, gt_rec_on(%%rip)\n\t"                                     \
			"jne gt_framed_" #name "\n\t"                                       \
			".endif\n\t"                                                        \
			"movq gt_real+%c[real](%%rip), %%r10\n\t"                            \
			"testq %%r10, %%r10\n\t"                                             \
			"je gt_framed_" #name "\n\t"                                        \
			"movq gt_tls@gottpoff(%%rip), %%r11\n\t"                             \
			/* in_tracer and in_call: two loads, as wide as the stores */        \
			"cmpl $0, %%fs:%c[tracer](%%r11)\n\t"                                \
			"jne gt_framed_" #name "\n\t"                                       \
			"cmpl $0, %%fs:%c[call](%%r11)\n\t"                                  \
			"jne gt_framed_" #name "\n\t"                                       \
			"subq $8, %%rsp\n\t"                                                 \
			".cfi_adjust_cfa_offset 8\n\t"                                       \
			"movq %%rbp, (%%rsp)\n\t"                                            \
			".cfi_offset %%rbp, -16\n\t"                                         \
			"movq %%r10, %%fs:%c[fn](%%r11)\n\t"                                 \
			"movq %%rsp, %%fs:%c[fp](%%r11)\n\t"                                 \
			"movl %[k], %%fs:%c[call](%%r11)\n\t"                             \
			/* debug_stacks' peek: see gt_op_begin_as */                        \
			"cmpl $0, %%fs:%c[peek](%%r11)\n\t"                                  \
			"jne 1f\n\t"                                                         \
			/* marked (nested hooks leave TLS alone from here): tracing? */      \
			".if %c[klass]\n\t"                                                 \
			"cmpq $0, gt_rec_on(%%rip)\n\t"                                     \
			"jne 5f\n\t"                                                        \
			".endif\n\t"                                                        \
			"cmpb $0, gt_op_jump(%%rip)\n\t"                                     \
			"jne 2f\n\t"                                                         \
			"call *%%r10\n\t"                                                    \
			"jmp gt_op_ret_pop\n"                                                \
			"2:\tleaq gt_op_ret(%%rip), %%r11\n\t"                               \
			"pushq %%r11\n\t"                                                    \
			".cfi_adjust_cfa_offset 8\n\t"                                       \
			"jmp *%%r10\n\t"                                                     \
			".cfi_adjust_cfa_offset -8\n"                                         \
			"1:\taddq $8, %%rsp\n\t"                                             \
			".cfi_adjust_cfa_offset -8\n\t"                                      \
			".cfi_restore %%rbp\n\t"                                              \
			"jmp gt_framed_" #name "\n"                                           \
			".if %c[klass]\n"                                                      \
			/* a thread in the session now on (no profile bit), a rate;    \
			 * else the framed body, the marks undone as for peek */         \
			"5:\t.cfi_adjust_cfa_offset 8\n\t"                                   \
			".cfi_offset %%rbp, -16\n\t"                                         \
			"movq %%fs:%c[t](%%r11), %%rax\n\t"                                  \
			"testq %%rax, %%rax\n\t"                                             \
			"je 1b\n\t"                                                         \
			"movq %c[tsess](%%rax), %%rax\n\t"                                   \
			"testq %%rax, %%rax\n\t"                                             \
			"je 1b\n\t"                                                         \
			"cmpq gt_rec_on(%%rip), %%rax\n\t"                                   \
			"jne 1b\n\t"                                                         \
			"cmpq $0, gt_clock_thr(%%rip)\n\t"                                   \
			"je 1b\n\t"                                                         \
			"movl %[ck], %%eax\n\t"                                               \
			"jmp gt_op_traced\n"                                                  \
			".endif\n"                                                           \
			:                                                                    \
			: [real] "i"(offsetof(struct gt_real, name)),                        \
			  [tracer] "i"(offsetof(struct gt_tls, in_tracer)),                  \
			  [call] "i"(offsetof(struct gt_tls, in_call)),                      \
			  [peek] "i"(offsetof(struct gt_tls, peek)),                         \
			  [fn] "i"(offsetof(struct gt_tls, call_fn)),                        \
			  [fp] "i"(offsetof(struct gt_tls, call_fp)), [k] "i"(kind),         \
			  [klass] "i"(cls), [ck] "i"((cls) | (kind) << 8),                  \
			  [t] "i"(offsetof(struct gt_tls, t)), [tsess] "i"(GT_THREAD_SESS));  \
	}                                                                                    \
	_Pragma("GCC diagnostic pop")
_Static_assert(offsetof(struct gt_tls, in_call) == offsetof(struct gt_tls, in_tracer) + 4,
	       "the thunk reads in_tracer and in_call as one word");
#else
#define GT_HOOK_OP GT_HOOK_OP_FRAMED
#define GT_HOOK_THUNK(ret, name, params, kind, cls) \
	GT_EXPORT ret name params __attribute__((alias("gt_framed_" #name)));
#endif
#define GT_END_PLAIN gt_op_end(&op, (uintptr_t)real_)
#define GT_END_FD(fd) GT_OP_END_WITH(&op, gt_op_end_slow_fd(&op, (uintptr_t)real_, fd))

#endif
