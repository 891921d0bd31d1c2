/* core/record/thread_life.c - the core side of pthread_create, a thread's
 * start (our trampoline) and its names. Runs on program threads, inside
 * hooks: errno is saved, in_tracer is raised, no malloc. The registry the
 * records live in is core/record/thread.c. */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/record/emit.h"
#include "core/record/fd.h"
#include "core/record/api.h"
#include "core/record/stack.h"
#include "core/record/thread.h"
#include "core/base/sys.h"

static int ready;   /* set by gt_hook_ready() once init is done */

void gt_hook_ready(void)
{
	__atomic_store_n(&ready, 1, __ATOMIC_RELEASE);
}

/* The calling thread's name as the kernel has it (PR_GET_NAME, raw: prctl
 * is a hook): 1, or 0 with "" when it cannot say. */
static int comm(char name[16])
{
	int ok = gt_raw(SYS_prctl, PR_GET_NAME, (long)name, 0) == 0;

	name[ok ? 15 : 0] = '\0';
	return ok;
}

static int create_locked(struct gt_thread *t, struct gt_thread *c, uint64_t s,
			 uint32_t ssid, uint32_t sid)
{
	uint64_t ts = gt_clock_now();
	int r = gt_emit_enter_locked(t, s, ts);

	return r ? r : gt_emit_create_locked(t, c, ssid, sid, ts);
}

/* GoCreate in the creator's P, with the creator's stack. */
static void announce(struct gt_thread *c, uintptr_t create_fn)
{
	uint64_t s = __atomic_load_n(&gt_trace_on, __ATOMIC_ACQUIRE);
	uintptr_t pc[GT_STACK_MAX];

	if (!s)
		return;
	struct gt_thread *t = gt_thread_self();
	if (!t)
		return;
	unsigned n = gt_stack_capture(pc, gt_cfg.stack_depth, create_fn);
	uint32_t sid = gt_stack_intern(pc, n, create_fn ? GT_STK_FN : 0);
	uint32_t ssid = gt_emit_start_sid(c);
	GT_LOCKED_RETRY(t, create_locked(t, c, s, ssid, sid));
}

struct gt_thread *gt_thread_prepare(void *(*fn)(void *), void *arg, uintptr_t create_fn)
{
	struct gt_tls *tls = &gt_tls;

	if (!__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
		return NULL;
	int saved = errno;
	int internal = tls->in_tracer > 0;
	tls->in_tracer++;
	struct gt_thread *c = gt_thread_alloc();
	if (c) {
		c->fn = fn;
		c->arg = arg;
		c->start_pc = (uintptr_t)fn;
		comm(c->born);
		if (internal)
			c->flags = GT_TF_INTERNAL;
		else if (!tls->in_call)
			announce(c, create_fn);
	}
	tls->in_tracer--;
	errno = saved;
	return c;
}

void gt_thread_abort(struct gt_thread *c)
{
	int saved = errno;

	gt_tls.in_tracer++;
	gt_thread_free(c);
	gt_tls.in_tracer--;
	errno = saved;
}

static int start_locked(struct gt_thread *t)
{
	uint64_t s = __atomic_load_n(&gt_trace_on, __ATOMIC_ACQUIRE);

	return s ? gt_emit_enter_locked(t, s, gt_clock_now()) : 0;
}

void *gt_thread_start(void *rec)
{
	struct gt_thread *t = rec;
	struct gt_tls *tls = &gt_tls;
	void *(*fn)(void *) = t->fn;
	void *arg = t->arg;

	if (t->flags & GT_TF_INTERNAL) {
		tls->in_tracer = 1;   /* for good: a tracer thread is never traced */
		gt_thread_free(t);
		gt_thread_tracer_started();
	} else {
		int saved = errno;
		tls->in_tracer++;
		if (tls->t && tls->t != t)   /* a handler's hook adopted us first */
			gt_thread_retire(tls->t);
		gt_lock(&t->lock);
		t->tid = (int32_t)gt_gettid();
		t->tls = tls;
		t->self = (uintptr_t)pthread_self();
		t->state = GT_T_LIVE;
		char now[16];
		if (comm(now) && t->born[0] && strcmp(now, t->born) && !t->name[0])
			gt_thread_name_locked(t, now);   /* named before it ran */
		gt_unlock(&t->lock);
		tls->t = t;
		gt_thread_live(1);
		gt_thread_watch_exit(t);
		gt_stack_thread_init((uintptr_t)__builtin_frame_address(0) + 16);
		gt_thread_observe_start(t);   /* a CPU profile running: its timer */
		GT_LOCKED_RETRY(t, start_locked(t));
		tls->in_tracer--;
		errno = saved;
	}
	void *r = fn(arg);
	/* Not a tail call: stacks are cut at this frame. */
	__asm__ volatile("" ::: "memory");
	return r;
}

static int name_locked(struct gt_thread *t, uint64_t s, uint32_t sid, const char *name)
{
	uint64_t ts = gt_clock_now();
	int r = gt_emit_enter_locked(t, s, ts);

	return r ? r : gt_emit_log_locked(t, GT_STR_THREAD_NAME, sid, name, ts);
}

void gt_thread_set_name(uintptr_t self, const char *name, uintptr_t fn)
{
	struct gt_tls *tls = &gt_tls;
	uintptr_t pc[GT_STACK_MAX];

	if (!name || tls->in_tracer || !__atomic_load_n(&ready, __ATOMIC_ACQUIRE))
		return;
	int saved = errno;
	tls->in_tracer++;
	gt_thread_named(self, name);
	uint64_t s = __atomic_load_n(&gt_trace_on, __ATOMIC_ACQUIRE);
	struct gt_thread *t = s && !tls->in_call ? gt_thread_self() : NULL;
	/* Naming oneself while tracing: a "thread.name" log where it happened. */
	if (t && t->self == self) {
		unsigned n = gt_stack_capture(pc, gt_cfg.stack_depth, fn);
		uint32_t sid = gt_stack_intern(pc, n, fn ? GT_STK_FN : 0);
		GT_LOCKED_RETRY(t, name_locked(t, s, sid, name));
	}
	tls->in_tracer--;
	errno = saved;
}

int gt_emit_enter_try(struct gt_thread *t, uint64_t s)
{
	int r;

	if (!gt_trylock(&t->lock))
		return -EBUSY;
	r = gt_emit_enter_locked(t, s, gt_clock_now());
	gt_unlock(&t->lock);
	return r;
}
