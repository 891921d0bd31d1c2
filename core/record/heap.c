/* core/record/heap.c - live heap bytes while a trace runs. Each thread adds the
 * usable size of what it allocates and frees into its TLS (no shared cache
 * line on the allocation path) and folds it into `live` every 64 KiB. A fold
 * that moves the figure by a step (~1%) writes HeapAlloc(live) and
 * HeapGoal(high-water mark) on the folding thread's P; the start snapshot
 * and the stop write exact figures. */
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/record/emit.h"
#include "core/record/api.h"
#include "core/record/heap.h"
#include "core/base/log.h"
#include "core/record/stack.h"
#include "core/record/thread.h"

static int64_t live;      /* atomic: bytes */
static int64_t peak;      /* atomic: max of live */
static int64_t shown;     /* atomic: the last figure written */

static int64_t step(int64_t v)
{
	int64_t s = (v < 0 ? -v : v) / 128;
	return s > (128 << 10) ? s : (128 << 10);
}

/* Is the allocator we forward to glibc's (so mallinfo2 describes it)?
 * Asked once (gt_heap_prepare): which malloc RTLD_NEXT finds is settled at
 * load, and dlsym/dladdr take the loader's lock (see gt_ctl_prepare). */
static int glibc_alloc = -1;

void gt_heap_prepare(void)
{
	Dl_info a, b;

	if (glibc_alloc >= 0)
		return;
	void *m = dlsym(RTLD_NEXT, "malloc");
	glibc_alloc = m && dladdr(m, &a) && dladdr((void *)mallinfo2, &b) &&
		      a.dli_fbase == b.dli_fbase;
}

int gt_heap_is_glibc(void)
{
	gt_heap_prepare();
	return glibc_alloc;
}

int gt_heap_glibc;

uint64_t gt_heap_begin(void)
{
	int64_t base = 0;

	gt_heap_prepare();
	int glibc = glibc_alloc;

	/* glibc before 2.34 checks blocks in libc itself under MALLOC_CHECK_
	 * (a trailing magic byte the usable size leaves out): ask it then. */
	__atomic_store_n(&gt_heap_glibc, glibc && !getenv("MALLOC_CHECK_"), __ATOMIC_RELAXED);
	if (glibc) {
		struct mallinfo2 mi = mallinfo2();
		base = (int64_t)(mi.uordblks + mi.hblkhd);
	}
	__atomic_store_n(&live, base, __ATOMIC_RELAXED);
	__atomic_store_n(&peak, base, __ATOMIC_RELAXED);
	__atomic_store_n(&shown, base, __ATOMIC_RELAXED);
	return (uint64_t)base;
}

static void add_residue(struct gt_thread *t, void *arg)
{
	int64_t *sum = arg;

	gt_lock(&t->lock);
	if (t->state == GT_T_LIVE && t->tls &&
	    __atomic_load_n(&t->tls->heap_sess, __ATOMIC_RELAXED) == (uint64_t)sum[1])
		sum[0] += __atomic_load_n(&t->tls->heap, __ATOMIC_RELAXED);
	gt_unlock(&t->lock);
}

void gt_heap_end(uint64_t s, uint64_t *l, uint64_t *p)
{
	int64_t sum[2] = { __atomic_load_n(&live, __ATOMIC_RELAXED), (int64_t)s };

	gt_thread_foreach(add_residue, sum);
	if (sum[0] < 0)
		sum[0] = 0;
	int64_t pk = __atomic_load_n(&peak, __ATOMIC_RELAXED);
	*l = (uint64_t)sum[0];
	*p = (uint64_t)(sum[0] > pk ? sum[0] : pk);
}

static int heap_locked(struct gt_thread *t, uint64_t s, int64_t l, int64_t pk, uint32_t sid,
		       const char *msg)
{
	uint64_t ts = gt_clock_now();
	int r = gt_emit_enter_locked(t, s, ts);

	if (!r && l >= 0)
		r = gt_emit_heap_locked(t, (uint64_t)l, (uint64_t)pk, ts);
	if (!r && msg)
		r = gt_emit_log_locked(t, GT_STR_MALLOC, sid, msg, ts);
	return r;
}

void gt_heap_fold(int64_t v, uint64_t s, size_t big)
{
	struct gt_tls *tls = &gt_tls;
	int64_t l = __atomic_add_fetch(&live, v, __ATOMIC_RELAXED);
	int64_t pk = __atomic_load_n(&peak, __ATOMIC_RELAXED);

	while (l > pk && !__atomic_compare_exchange_n(&peak, &pk, l, 1, __ATOMIC_RELAXED,
						       __ATOMIC_RELAXED))
		;
	if (pk < l)
		pk = l;
	int64_t last = __atomic_load_n(&shown, __ATOMIC_RELAXED);
	int show = (l - last >= step(last) || last - l >= step(last)) &&
		   __atomic_compare_exchange_n(&shown, &last, l, 0, __ATOMIC_RELAXED,
					       __ATOMIC_RELAXED);
	int log = big >= gt_cfg.malloc_log_bytes;
	/* Events need a running goroutine: not inside a recorded call (a
	 * signal handler), nor after the thread's exit handler. */
	if (!(show || log) || tls->in_call || tls->dead ||
	    __atomic_load_n(&gt_trace_on, __ATOMIC_ACQUIRE) != s)
		return;
	int saved = errno;
	char msg[48];
	uint32_t sid = 0;
	uintptr_t pc[GT_STACK_MAX];

	tls->in_tracer++;
	struct gt_thread *t = gt_thread_self();
	if (t) {
		if (log) {
			unsigned n = gt_stack_capture(pc, gt_cfg.stack_depth, 0);
			sid = gt_stack_intern(pc, n, 0);
			gt_fmt(msg, sizeof(msg), "%zu bytes", big);
		}
		GT_LOCKED_RETRY(t, heap_locked(t, s, show ? l : -1, pk, sid, log ? msg : NULL));
	}
	tls->in_tracer--;
	errno = saved;
}
