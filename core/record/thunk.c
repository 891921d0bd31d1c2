/* core/record/thunk.c - a blocking call while tracing, timed in asm.
 *
 * Most calls a trace sees are short (a read of data already there, a
 * write to a pipe with room): they only ask how long they took and are
 * not recorded (GOTRACE_BLOCK_NS). Through the framed C body that asking
 * cost ~130 instructions a call (begin, gt_op_begin_slow, end_fast and
 * their frames: callgrind) around two rdtsc. Here it is the idle thunk's
 * marks plus: the thread and session checks, two rdtsc, the in-progress
 * record the stopper reads (note_op's four stores), the call's state in
 * a frame below the thunk's record, and a compare with the threshold in
 * ticks (gt_clock_thr). A call that reaches the threshold, a changed
 * session or a TSC read behind the start goes to gt_op_end_thunk, which
 * ends it as the framed body would (the same gt_op_end_slow_* by its
 * class).
 *
 * The state is the call's own, on its stack, never in TLS: a signal
 * handler on a sigaltstack just above the thread's stack passes the
 * framed body's "the old call was left by siglongjmp" test, takes the
 * marks over and clears in_call, and its later hooked calls come here
 * too while the interrupted one is in progress (with the state in TLS
 * they replaced its third argument and its result: a sweep's read of 8
 * bytes returned 4096).
 *
 * Entered by a jump from a hook's thunk (preload/hook.h) while tracing,
 * once the thunk made its checks (anything else went to the framed body:
 * no thread record, another session, a profile counting, no rate yet,
 * debug_stacks looking) and its marks: rsp at its frame record, the real
 * function in r10, r11 the TLS offset, eax the class | kind << 8, the
 * argument registers untouched. It lives in the section gt_thunks: its
 * call of the real function is the only return address there besides
 * the thunks', with the frame record GT_THUNK_FRAME bytes above the
 * callee's CFA (gt_thunk_step: gt_op_traced_ret). x86-64 and GCC only,
 * as the thunks. */
#include <errno.h>

#include "core/record/api.h"

#ifdef GT_OP_THUNKS
#include <stddef.h>

#include "core/base/clock.h"
#include "core/record/thread.h"

/* The call's state, at rsp from the real function's call on. */
struct thunk_frame {
	uint64_t t0;     /* raw TSC */
	uint64_t sess;
	uint64_t a[2];   /* rdi, rsi: what the end classifies by */
	uintptr_t fn;
	uint32_t ck, pad0;   /* class | kind << 8, as the thunk passed them */
	uint64_t res;    /* rax across the end */
	uint64_t pad;
};
_Static_assert(sizeof(struct thunk_frame) == GT_THUNK_FRAME, "GT_THUNK_FRAME");
_Static_assert(offsetof(struct thunk_frame, ck) == 40 && offsetof(struct thunk_frame, res) == 48,
	       "the asm's offsets");

__attribute__((naked, used, section("gt_thunks"))) void gt_op_traced(void)
{
	__asm__ volatile(
		".cfi_def_cfa_offset 16\n\t"
		".cfi_offset %%rbp, -16\n\t"
		"subq %[fsz], %%rsp\n\t"
		".cfi_adjust_cfa_offset %c[fsz]\n\t"
		"movq %%rax, 40(%%rsp)\n\t"   /* class | kind << 8 */
		"movq %%r10, 32(%%rsp)\n\t"   /* fn */
		"movq %%rdi, 16(%%rsp)\n\t"
		"movq %%rsi, 24(%%rsp)\n\t"
		"movq %%rdx, 8(%%rsp)\n\t"    /* (rdx across the rdtsc) */
		/* the start, and the call in progress for the stopper (kind
		 * last: note_op's order) */
		"movq %%fs:%c[t](%%r11), %%r10\n\t"
		"movl $0, %c[okind](%%r10)\n\t"
		"movl 40(%%rsp), %%r11d\n\t"   /* what a cut classifies by */
		"movl %%r11d, %c[ock](%%r10)\n\t"
		"movq %%rdi, %c[oa0](%%r10)\n\t"
		"movq %%rsi, %c[oa1](%%r10)\n\t"
		"rdtsc\n\t"
		"shlq $32, %%rdx\n\t"
		"orq %%rdx, %%rax\n\t"
		"btsq $63, %%rax\n\t"
		"movq %%rax, 0(%%rsp)\n\t"
		"movq %%rax, %c[ot0](%%r10)\n\t"
		"movq %c[tsess](%%r10), %%rax\n\t"
		"movq 8(%%rsp), %%rdx\n\t"
		"movq %%rax, 8(%%rsp)\n\t"
		"movq %%rax, %c[osess](%%r10)\n\t"
		"movzbl 41(%%rsp), %%eax\n\t"
		"movl %%eax, %c[okind](%%r10)\n\t"
		"call *32(%%rsp)\n"
		".globl gt_op_traced_ret\n"
		".hidden gt_op_traced_ret\n"
		"gt_op_traced_ret:\n\t"
		"jmp gt_op_ret_traced\n"
		:
		: [fsz] "i"(GT_THUNK_FRAME), [t] "i"(offsetof(struct gt_tls, t)),
		  [tsess] "i"(offsetof(struct gt_thread, sess)),
		  [okind] "i"(offsetof(struct gt_thread, op_kind)),
		  [ot0] "i"(offsetof(struct gt_thread, op_t0)),
		  [osess] "i"(offsetof(struct gt_thread, op_sess)),
		  [ock] "i"(offsetof(struct gt_thread, op_ck)),
		  [oa0] "i"(offsetof(struct gt_thread, op_a0)),
		  [oa1] "i"(offsetof(struct gt_thread, op_a1)));
}

/* A call gt_op_traced began that reached the threshold (or whose session
 * changed, or whose TSC read went back): its end as the framed body's.
 * errno is kept by the gt_op_end_slow_* (they save it). */
__attribute__((used)) void gt_op_end_thunk(const struct thunk_frame *f)
{
	struct gt_op op = { 0 };

	op.kind = f->ck >> 8 & 0xff;
	op.sess = f->sess;
	op.t0 = f->t0;
	switch (f->ck & 0xff) {
	case GT_THUNK_FD: gt_op_end_slow_fd(&op, f->fn, (int)f->a[0]); break;
	case GT_THUNK_POLL:   /* (read only if the kernel read it, as END_POLL; an int) */
		gt_op_end_slow_poll(&op, f->fn, (int)f->res >= 0 || errno == EINTR ?
					(const struct pollfd *)f->a[0] : NULL, (unsigned long)f->a[1]);
		break;
	case GT_THUNK_EPOLL: gt_op_end_slow_epoll(&op, f->fn, (int)f->a[0]); break;
	default: gt_op_end_slow(&op, f->fn); break;
	}
}

/* The real function returned here, rsp at the call's state: short enough,
 * in the same session, the record is cleared and the program reached as
 * gt_op_ret_pop does; else gt_op_end_thunk first, with rbp at the frame
 * record (a walk from there reaches the program's frame: GT_OP_RET_SLOW's
 * way). rax (the result) is kept in the state across the rdtsc and the
 * call. */
__attribute__((naked, used)) void gt_op_ret_traced(void)
{
	__asm__ volatile(".cfi_def_cfa_offset %c[cfa]\n\t"
			 ".cfi_offset %%rbp, -16\n\t"
			 "movq %%rax, 48(%%rsp)\n\t"
			 "rdtsc\n\t"
			 "shlq $32, %%rdx\n\t"
			 "orq %%rdx, %%rax\n\t"
			 "movq 0(%%rsp), %%rdx\n\t"
			 "btrq $63, %%rdx\n\t"
			 "subq %%rdx, %%rax\n\t"
			 "jb 1f\n\t"
			 "cmpq gt_clock_thr(%%rip), %%rax\n\t"
			 "jae 1f\n\t"
			 "movq gt_tls@gottpoff(%%rip), %%r11\n\t"
			 "movq %%fs:%c[t](%%r11), %%rdx\n\t"
			 "movq %c[tsess](%%rdx), %%rax\n\t"
			 "cmpq 8(%%rsp), %%rax\n\t"
			 "jne 1f\n\t"
			 "movl $0, %c[okind](%%rdx)\n"
			 "2:\tmovq gt_tls@gottpoff(%%rip), %%r11\n\t"
			 "movq 48(%%rsp), %%rax\n\t"
			 "movl $0, %%fs:%c[call](%%r11)\n\t"
			 "addq %[pop], %%rsp\n\t"
			 ".cfi_remember_state\n\t"
			 ".cfi_def_cfa_offset 8\n\t"
			 ".cfi_restore %%rbp\n\t"
			 "ret\n"
			 ".cfi_restore_state\n"
			 "1:\tmovq %%rsp, %%rdi\n\t"
			 "leaq %c[fsz](%%rsp), %%rbp\n\t"
			 "call gt_op_end_thunk\n\t"
			 "movq %c[fsz](%%rsp), %%rbp\n\t"
			 "jmp 2b\n"
			 :
			 : [cfa] "i"(GT_THUNK_FRAME + 16), [fsz] "i"(GT_THUNK_FRAME),
			   [pop] "i"(GT_THUNK_FRAME + 8), [t] "i"(offsetof(struct gt_tls, t)),
			   [call] "i"(offsetof(struct gt_tls, in_call)),
			   [tsess] "i"(offsetof(struct gt_thread, sess)),
			   [okind] "i"(offsetof(struct gt_thread, op_kind)));
}

_Static_assert(offsetof(struct gt_thread, sess) == GT_THREAD_SESS, "GT_THREAD_SESS");
_Static_assert(sizeof(((struct gt_thread *)0)->op_kind) == 4, "op_kind: movl");
_Static_assert(sizeof(((struct gt_thread *)0)->op_ck) == 4, "op_ck: movl");
_Static_assert(sizeof(((struct gt_thread *)0)->sess) == 8, "sess: movq");
#endif
