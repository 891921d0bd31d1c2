/* core/record/thunk.c - a blocking call while tracing, timed in asm.
 *
 * Most calls a trace sees are short (a read of data already there, a
 * write to a pipe with room): they only ask how long they took and are
 * not recorded (GOTRACE_BLOCK_NS). Through the framed C body that asking
 * cost ~130 instructions a call (begin, gt_op_begin_slow, end_fast and
 * their frames: callgrind) around two rdtsc. Here it is the idle thunk's
 * marks plus: the thread and session checks, two rdtsc, the in-progress
 * record the stopper reads (note_op's four stores), the first two
 * arguments kept in TLS, and a compare with the threshold in ticks
 * (gt_clock_thr). A call that reaches the threshold, a changed session
 * or a TSC read behind the start goes to gt_op_end_thunk, which ends it
 * as the framed body would (the same gt_op_end_slow_* by its class).
 *
 * Entered by a jump from a hook's thunk (preload/hook.h) while tracing,
 * once the thunk made its checks (anything else went to the framed body:
 * no thread record, another session, a profile counting, no rate yet,
 * debug_stacks looking) and its marks: rsp at its frame record, the real
 * function in r10, r11 the TLS offset, the session and class in TLS, the
 * argument registers untouched. With in_call set first, a signal
 * handler's hooked calls take the framed body, which records nothing
 * nested and touches none of the call_* slots used here but call_fn (and
 * the real function is called through r10, not call_fn). It lives in the
 * section gt_thunks: its call of the real function is, like a thunk's,
 * the only return address there, with the frame record at the callee's
 * CFA (gt_thunk_step). x86-64 and GCC only, as the thunks. */
#include "core/record/api.h"

#ifdef GT_OP_THUNKS
#include <stddef.h>

#include "core/base/clock.h"
#include "core/record/thread.h"

__attribute__((naked, used, section("gt_thunks"))) void gt_op_traced(void)
{
	__asm__ volatile(
		".cfi_def_cfa_offset 16\n\t"
		".cfi_offset %%rbp, -16\n\t"
		"movq %%rdi, %%fs:%c[a0](%%r11)\n\t"
		"movq %%rsi, %%fs:%c[a1](%%r11)\n\t"
		"movq %%rdx, %%fs:%c[a2](%%r11)\n\t"
		/* the start, and the call in progress for the stopper (kind
		 * last: note_op's order) */
		"movq %%fs:%c[t](%%r11), %%rax\n\t"
		"movl $0, %c[okind](%%rax)\n\t"
		"rdtsc\n\t"
		"shlq $32, %%rdx\n\t"
		"orq %%rdx, %%rax\n\t"
		"btsq $63, %%rax\n\t"
		"movq %%rax, %%fs:%c[t0](%%r11)\n\t"
		"movq %%fs:%c[t](%%r11), %%rdx\n\t"
		"movq %%rax, %c[ot0](%%rdx)\n\t"
		"movq %%fs:%c[sess](%%r11), %%rax\n\t"
		"movq %%rax, %c[osess](%%rdx)\n\t"
		"movl %%fs:%c[call](%%r11), %%eax\n\t"
		"movl %%eax, %c[okind](%%rdx)\n\t"
		"movq %%fs:%c[a2](%%r11), %%rdx\n\t"
		"call *%%r10\n\t"
		"jmp gt_op_ret_traced\n"
		:
		: [t] "i"(offsetof(struct gt_tls, t)), [a0] "i"(offsetof(struct gt_tls, call_a[0])),
		  [a1] "i"(offsetof(struct gt_tls, call_a[1])),
		  [a2] "i"(offsetof(struct gt_tls, call_a[2])),
		  [sess] "i"(offsetof(struct gt_tls, call_sess)),
		  [t0] "i"(offsetof(struct gt_tls, call_t0)),
		  [call] "i"(offsetof(struct gt_tls, in_call)),
		  [okind] "i"(offsetof(struct gt_thread, op_kind)),
		  [ot0] "i"(offsetof(struct gt_thread, op_t0)),
		  [osess] "i"(offsetof(struct gt_thread, op_sess)));
}

/* A call gt_op_traced began that reached the threshold (or whose session
 * changed, or whose TSC read went back): its end as the framed body's.
 * errno is kept by the gt_op_end_slow_* (they save it). */
__attribute__((used)) void gt_op_end_thunk(void)
{
	struct gt_tls *tls = &gt_tls;
	struct gt_op op = { 0 };
	const uint64_t *a = tls->call_a;
	uintptr_t fn = tls->call_fn;

	op.kind = tls->in_call;
	op.sess = tls->call_sess;
	op.t0 = tls->call_t0;
	switch (tls->call_cls) {
	case GT_THUNK_FD: gt_op_end_slow_fd(&op, fn, (int)a[0]); break;
	case GT_THUNK_POLL:
		gt_op_end_slow_poll(&op, fn, (const struct pollfd *)a[0], (unsigned long)a[1]);
		break;
	case GT_THUNK_EPOLL: gt_op_end_slow_epoll(&op, fn, (int)a[0]); break;
	default: gt_op_end_slow(&op, fn); break;
	}
}

/* The real function returned here, rsp at the frame record: short enough,
 * in the same session, the record is cleared and the program reached as
 * gt_op_ret_pop does; else gt_op_end_thunk first, with rbp at the record
 * (a walk from there reaches the program's frame: GT_OP_RET_SLOW's way).
 * rax (the result) is kept in TLS across the rdtsc and the call. */
__attribute__((naked, used)) void gt_op_ret_traced(void)
{
	__asm__ volatile(".cfi_def_cfa_offset 16\n\t"
			 ".cfi_offset %%rbp, -16\n\t"
			 "movq gt_tls@gottpoff(%%rip), %%r11\n\t"
			 "movq %%rax, %%fs:%c[res](%%r11)\n\t"
			 "rdtsc\n\t"
			 "shlq $32, %%rdx\n\t"
			 "orq %%rdx, %%rax\n\t"
			 "movq %%fs:%c[t0](%%r11), %%rdx\n\t"
			 "btrq $63, %%rdx\n\t"
			 "subq %%rdx, %%rax\n\t"
			 "jb 1f\n\t"
			 "cmpq gt_clock_thr(%%rip), %%rax\n\t"
			 "jae 1f\n\t"
			 "movq %%fs:%c[t](%%r11), %%rdx\n\t"
			 "movq %c[tsess](%%rdx), %%rax\n\t"
			 "cmpq %%fs:%c[sess](%%r11), %%rax\n\t"
			 "jne 1f\n\t"
			 "movl $0, %c[okind](%%rdx)\n"
			 "2:\tmovq %%fs:%c[res](%%r11), %%rax\n\t"
			 "movl $0, %%fs:%c[call](%%r11)\n\t"
			 "addq $8, %%rsp\n\t"
			 ".cfi_remember_state\n\t"
			 ".cfi_def_cfa_offset 8\n\t"
			 ".cfi_restore %%rbp\n\t"
			 "ret\n"
			 ".cfi_restore_state\n"
			 "1:\tmovq %%rsp, %%rbp\n\t"
			 "call gt_op_end_thunk\n\t"
			 "movq gt_tls@gottpoff(%%rip), %%r11\n\t"
			 "movq (%%rsp), %%rbp\n\t"
			 "jmp 2b\n"
			 :
			 : [t] "i"(offsetof(struct gt_tls, t)),
			   [sess] "i"(offsetof(struct gt_tls, call_sess)),
			   [t0] "i"(offsetof(struct gt_tls, call_t0)),
			   [res] "i"(offsetof(struct gt_tls, call_res)),
			   [call] "i"(offsetof(struct gt_tls, in_call)),
			   [tsess] "i"(offsetof(struct gt_thread, sess)),
			   [okind] "i"(offsetof(struct gt_thread, op_kind)));
}

_Static_assert(offsetof(struct gt_thread, sess) == GT_THREAD_SESS, "GT_THREAD_SESS");
_Static_assert(sizeof(((struct gt_thread *)0)->op_kind) == 4, "op_kind: movl");
_Static_assert(sizeof(((struct gt_thread *)0)->sess) == 8, "sess: movq");
#endif
