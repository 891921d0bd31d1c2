/* core/record/op.c - the core side of the hooks' blocking calls: their
 * slow paths (begin, end, classified as net, sync, select or syscall).
 * Runs on program threads, inside hooks, maybe in signal handlers: errno
 * is saved, in_tracer is raised (nested hooks forward untouched), no
 * malloc, locks only for short appends. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/procfs.h"
#include "core/record/bprof.h"
#include "core/record/emit.h"
#include "core/record/fd.h"
#include "core/record/api.h"
#include "core/record/stack.h"
#include "core/record/thread.h"
#include "core/base/sys.h"

/* The session now recording (core/record/api.h); the service thread
 * (core/write/ctl.c) writes it, then gt_rec_update(). */
uint64_t gt_trace_on;


void gt_name_resolver(const char *(*name_of)(uintptr_t pc), uintptr_t (*real_of)(uintptr_t pc))
{
	gt_stack_set_namer(name_of, real_of);
}

/* The call in progress, for the stopper to write as an open-ended wait.
 * Owner only, without the lock: kind is stored last, with release. */
static void note_op(struct gt_thread *t, const struct gt_op *op, uint64_t s)
{
	__atomic_store_n(&t->op_kind, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&t->op_ck, op->ck, __ATOMIC_RELAXED);
	__atomic_store_n(&t->op_a0, op->a0, __ATOMIC_RELAXED);
	__atomic_store_n(&t->op_a1, op->a1, __ATOMIC_RELAXED);
	__atomic_store_n(&t->op_t0, op->t0, __ATOMIC_RELAXED);
	__atomic_store_n(&t->op_sess, s, __ATOMIC_RELAXED);
	__atomic_store_n(&t->op_kind, op->kind, __ATOMIC_RELEASE);
}

static int begin_locked(struct gt_thread *t, struct gt_op *op, uint64_t s)
{
	int r = gt_emit_enter_locked(t, s, op->t0);

	if (r == 0) {
		note_op(t, op, s);
		op->sess = s;
	}
	return r;
}

/* debug_stacks clears peek within its time limit (core/prof/stacks.c):
 * a request signal sent to this thread is taken here (sched_yield
 * returns through it), before the call it could interrupt. */
void gt_peek_wait(void)
{
	while (__atomic_load_n(&gt_tls.peek, __ATOMIC_ACQUIRE))
		gt_raw(SYS_sched_yield, 0, 0, 0);
}

static void begin_rest(struct gt_op *op, uint64_t s);

void gt_op_begin_slow(struct gt_op *op)
{
	struct gt_tls *tls = &gt_tls;
	/* gt_rec_on as read (acquire), before the clock: the session, and
	 * whether a block or mutex profile counts. */
	uint64_t s = op->sess & ~GT_REC_PROF;

	op->prof = (op->sess & GT_REC_PROF) != 0;
	op->sess = 0;
	/* The common case first: a registered thread in the session. Its
	 * steps touch no errno and call nothing a hook could be. */
	struct gt_thread *t = s ? tls->t : NULL;
	uint64_t t0;
	if (t && __atomic_load_n(&t->sess, __ATOMIC_RELAXED) == s && gt_clock_try_raw(&t0)) {
		op->t0 = t0;
		note_op(t, op, s);
		op->sess = s;
		return;
	}
	begin_rest(op, s);   /* (a tail call: this path saves no register) */
}

/* The rest of a begin: a thread to register or to enter the session, or
 * no TSC to read. */
static __attribute__((noinline)) void begin_rest(struct gt_op *op, uint64_t s)
{
	struct gt_tls *tls = &gt_tls;
	int saved = errno;
	tls->in_tracer++;
	struct gt_thread *t = s ? gt_thread_self() : NULL;
	if (t) {
		/* In the session already (without a TSC): no lock. Only the
		 * stopper changes t->sess behind our back, and then a stale
		 * answer costs nothing: op_sess will not match. The TSC's time
		 * then: this thread's events so far are at least as late as the
		 * start snapshot's, and the emitter keeps its times in order. */
		if (__atomic_load_n(&t->sess, __ATOMIC_RELAXED) == s) {
			op->t0 = gt_clock_fast();
			note_op(t, op, s);
			op->sess = s;
		} else {
			op->t0 = gt_clock_now();
			GT_LOCKED_RETRY(t, begin_locked(t, op, s));
		}
	} else if (op->prof) {   /* the profiles' clock (the trace's serves them too) */
		op->t0 = gt_clock_fast();
	}
	tls->in_tracer--;
	errno = saved;
}

static int end_locked(struct gt_thread *t, struct gt_op *op, uint64_t t1, uint32_t sid, int block,
		      uint64_t raw0)
{
	int r = 0;

	if (op->sess && t->sess == op->sess) {
		if (t->cut_kind) {
			/* A generation's cut wrote this wait's start: its end.
			 * Or that of an earlier call it saw, which ended in the
			 * thunk's short path while the cut looked: no later
			 * than this call's start. */
			int mine = t->cut_t0 == raw0;
			if ((r = gt_emit_uncut_locked(t, mine ? t1 : op->t0, sid)) || mine) {
				if (r != -EAGAIN)
					__atomic_store_n(&t->op_kind, 0, __ATOMIC_RELAXED);
				return r;
			}
		}
		if (block)
			r = gt_emit_block_locked(t, op->kind, op->t0, t1, sid);
		if (r != -EAGAIN)
			__atomic_store_n(&t->op_kind, 0, __ATOMIC_RELAXED);
		return r;
	}
	/* The trace started while we were in the call. Read the clock after
	 * the flag: our events must follow the start snapshot's. */
	uint64_t s = __atomic_load_n(&gt_trace_on, __ATOMIC_ACQUIRE);
	return s ? gt_emit_enter_locked(t, s, gt_clock_now()) : 0;
}

/* The common end, before end_common: a call too short to record, in the
 * session, no profile counting: no lock, no errno, no call (and, apart
 * from end_common, no registers to save). 0: done. Else end_common's t1:
 * the TSC as read here (tagged GT_CLOCK_RAW) for a call to record, or 1
 * (nothing read: end_common reads the clock its own way). */
static inline uint64_t end_fast(struct gt_op *op)
{
	struct gt_thread *t = gt_tls.t;

	if (op->prof || !op->sess || !t || __atomic_load_n(&t->sess, __ATOMIC_RELAXED) != op->sess ||
	    !(op->t0 & GT_CLOCK_RAW))
		return 1;
	uint64_t now = gt_clock_raw_now();
	if (gt_clock_raw_between(op->t0, now) >= gt_cfg.block_ns)
		return now;
	__atomic_store_n(&t->op_kind, 0, __ATOMIC_RELAXED);
	return 0;
}

/* The rest of an end: record the call if it waited long enough. classify
 * refines the kind (socket or not...) only for calls that are recorded. */
static __attribute__((noinline)) void end_common(struct gt_op *op, uintptr_t fn,
						 unsigned (*classify)(const void *), const void *ctx,
						 uint64_t t1)
{
	uint32_t sid = 0;
	uint64_t raw0 = op->t0;   /* as the thread record has it (op_t0) */
	int saved = errno;

	gt_tls.in_tracer++;   /* (not through a pointer: GCC 12's UBSan null
				 * check of &gt_tls read stale flags here) */
	/* The end as end_fast read it, or now. A recorded call ends at the
	 * TSC's time too: clock_gettime here was a sixth of an event's cost.
	 * Its thread's later events are clamped to it, and a thread it
	 * creates starts after its GoCreate (decl_ts), so a TSC time a
	 * little ahead of the clock breaks no order. Both ends by one look
	 * at the anchor; else the start before now: the anchor may move. */
	if (t1 & GT_CLOCK_RAW) {   /* (end_fast read it: the call began traced) */
		gt_clock_ns_of2(&op->t0, &t1);
	} else {
		if (op->sess || op->prof)   /* (else no t0: the call began untraced) */
			op->t0 = gt_clock_ns_of(op->t0);
		t1 = gt_clock_fast();
	}
	if (op->prof) {   /* the block and mutex profiles' part */
		uint64_t w[2 * GT_BPROFS];
		unsigned which = gt_bprof_pick(op->lock, t1 > op->t0 ? t1 - op->t0 : 0, w);
		if (which) {
			sid = gt_stack_capture_id(fn, gt_cfg.stack_depth, fn ? GT_STK_FN : 0);
			gt_bprof_add(which, sid, w);
		}
	}
	struct gt_thread *t = gt_thread_self();
	if (t) {
		/* (The TSC's time may read a little behind the begin's, after a
		 * look moved the anchor: a duration of 0.) */
		int block = op->sess && (t1 > op->t0 ? t1 - op->t0 : 0) >= gt_cfg.block_ns;
		if (block && op->t0 > t1)
			op->t0 = t1;
		if (!block && op->sess && __atomic_load_n(&t->sess, __ATOMIC_RELAXED) == op->sess &&
		    !__atomic_load_n(&t->cut_kind, __ATOMIC_RELAXED)) {
			/* Too short to record, in the session: no lock. */
			__atomic_store_n(&t->op_kind, 0, __ATOMIC_RELAXED);
			goto out;
		}
		if (block) {
			if (classify)
				op->kind = classify(ctx);
			if (!sid)
				sid = gt_stack_capture_id(fn, gt_cfg.stack_depth, fn ? GT_STK_FN : 0);
		}
		GT_LOCKED_RETRY(t, end_locked(t, op, t1, sid, block, raw0));
	}
out:
	gt_tls.in_tracer--;
	errno = saved;
}

void gt_op_end_slow(struct gt_op *op, uintptr_t fn)
{
	uint64_t t1 = end_fast(op);

	if (!t1)
		return;
	end_common(op, fn, NULL, NULL, t1);
}

static unsigned cls_fd(const void *ctx)
{
	return gt_fd_classify(*(const int *)ctx);
}

void gt_op_end_slow_fd(struct gt_op *op, uintptr_t fn, int fd)
{
	uint64_t t1 = end_fast(op);

	if (!t1)
		return;
	end_common(op, fn, cls_fd, &fd, t1);
}

struct poll_ctx {
	const struct pollfd *p;
	unsigned long n;
};

static unsigned cls_poll(const void *ctx)
{
	const struct poll_ctx *c = ctx;
	return gt_fd_classify_poll(c->p, c->n);
}

void gt_op_end_slow_poll(struct gt_op *op, uintptr_t fn, const struct pollfd *p, unsigned long n)
{
	uint64_t t1 = end_fast(op);

	if (!t1)
		return;
	struct poll_ctx c = { p, n };
	end_common(op, fn, cls_poll, &c, t1);
}

struct select_ctx {
	int nfds;
	const void *r, *w, *e;
};

static unsigned cls_select(const void *ctx)
{
	const struct select_ctx *c = ctx;
	return gt_fd_classify_select(c->nfds, c->r, c->w, c->e);
}

void gt_op_end_slow_select(struct gt_op *op, uintptr_t fn, int nfds, const void *r,
			   const void *w, const void *e)
{
	uint64_t t1 = end_fast(op);

	if (!t1)
		return;
	struct select_ctx c = { nfds, r, w, e };
	end_common(op, fn, cls_select, &c, t1);
}

static unsigned cls_epoll(const void *ctx)
{
	return gt_fd_classify_epoll(*(const int *)ctx);
}

void gt_op_end_slow_epoll(struct gt_op *op, uintptr_t fn, int epfd)
{
	uint64_t t1 = end_fast(op);

	if (!t1)
		return;
	end_common(op, fn, cls_epoll, &epfd, t1);
}

#ifdef GT_OP_THUNKS
/* The end of a call an idle thunk began (preload/hook.h), at gt_op_ret,
 * once a trace or profile runs: nothing was read at its begin, so it is
 * what gt_op_end makes of a call that began idle (the trace's enter if
 * the start snapshot declared the thread in it). */
__attribute__((used)) void gt_op_end_idle(void)
{
	struct gt_op op = { 0 };

	op.kind = gt_tls.in_call;
	gt_op_end_slow(&op, gt_tls.call_fn);
}

/* A trace or profile began during the call: gt_op_end_idle, with rbp at
 * the thunk's frame record (a walk from there reaches the program's frame),
 * rax (the result) kept; then back to 2b. */
#define GT_OP_RET_SLOW                                \
	"1:\tmovq %%rsp, %%rbp\n\t"                    \
	"pushq %%rax\n\t"                               \
	".cfi_adjust_cfa_offset 8\n\t"                  \
	"subq $8, %%rsp\n\t"                            \
	".cfi_adjust_cfa_offset 8\n\t"                  \
	"call gt_op_end_idle\n\t"                       \
	"addq $8, %%rsp\n\t"                            \
	".cfi_adjust_cfa_offset -8\n\t"                 \
	"popq %%rax\n\t"                                \
	".cfi_adjust_cfa_offset -8\n\t"                 \
	"movq (%%rsp), %%rbp\n\t"                       \
	"jmp 2b\n"

/* Where the real function returns when the thunk jumped to it (gt_op_jump):
 * rsp at the thunk's frame record, [rsp] the program's rbp, [rsp+8] its
 * return address. The unwind table says so from the byte before (a return
 * address's own), so that a walk from inside the real function reaches
 * the program. The program is reached by an indirect jump: the return
 * predictor lost its entries in the system call, the branch predictor
 * knows the call site. rax (the result) and errno are kept. */
__attribute__((naked, used)) void gt_op_ret_frame(void)
{
	__asm__ volatile(".cfi_def_cfa_offset 16\n\t"
			 ".cfi_offset %%rbp, -16\n\t"
			 "nop\n"
			 ".globl gt_op_ret\n"
			 ".hidden gt_op_ret\n"
			 ".type gt_op_ret, @function\n"
			 "gt_op_ret:\n\t"
			 "cmpq $0, gt_rec_on(%%rip)\n\t"
			 "jne 1f\n"
			 "2:\tmovq gt_tls@gottpoff(%%rip), %%r11\n\t"
			 "movl $0, %%fs:%c[call](%%r11)\n\t"
			 "movq 8(%%rsp), %%r11\n\t"
			 "addq $16, %%rsp\n\t"
			 ".cfi_remember_state\n\t"
			 ".cfi_def_cfa_offset 0\n\t"
			 ".cfi_register %%rip, %%r11\n\t"
			 ".cfi_restore %%rbp\n\t"
			 "jmp *%%r11\n"
			 ".cfi_restore_state\n"
			 GT_OP_RET_SLOW
			 :
			 : [call] "i"(offsetof(struct gt_tls, in_call)));
}

/* Where the thunk goes once the real function it called returned (not
 * gt_op_jump): the same frame, left by a return, which the return
 * predictor expects (it kept the program's call across the system call). */
__attribute__((naked, used)) void gt_op_ret_pop(void)
{
	__asm__ volatile(".cfi_def_cfa_offset 16\n\t"
			 ".cfi_offset %%rbp, -16\n\t"
			 "cmpq $0, gt_rec_on(%%rip)\n\t"
			 "jne 1f\n"
			 "2:\tmovq gt_tls@gottpoff(%%rip), %%r11\n\t"
			 "movl $0, %%fs:%c[call](%%r11)\n\t"
			 "addq $8, %%rsp\n\t"
			 ".cfi_remember_state\n\t"
			 ".cfi_def_cfa_offset 8\n\t"
			 ".cfi_restore %%rbp\n\t"
			 "ret\n"
			 ".cfi_restore_state\n"
			 GT_OP_RET_SLOW
			 :
			 : [call] "i"(offsetof(struct gt_tls, in_call)));
}
#undef GT_OP_RET_SLOW

/* The thunks' section, never empty (a binary of core without preload/, the
 * unit tests, has no thunk): the walk's bounds of it are defined. */
__asm__(".pushsection gt_thunks,\"ax\",@progbits\n\tint3\n\t.popsection");

/* 1: the thunks jump (GOTRACE_HOOK_RETURN=jump, or auto where the kernel
 * clears the return predictor at each system call: AMD's SRSO mitigation,
 * Safe RET or IBPB on entry, as spec_rstack_overflow reports it); 0: they
 * call, as until gt_op_thunk_init. */
uint8_t gt_op_jump;

void gt_op_thunk_init(void)
{
	char b[128];
	int j = gt_cfg.hook_return == GT_HOOK_RETURN_JUMP;

	if (gt_cfg.hook_return == GT_HOOK_RETURN_AUTO &&
	    gt_raw_read_file("/sys/devices/system/cpu/vulnerabilities/spec_rstack_overflow", b,
			     sizeof(b)) > 0)
		j = strstr(b, "Safe RET") || !strncmp(b, "Mitigation: IBPB\n", 17);
	__atomic_store_n(&gt_op_jump, (uint8_t)j, __ATOMIC_RELAXED);
}
#endif
