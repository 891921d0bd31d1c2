/* core/unwind.c - stack capture: frame-record walks (bounds-checked,
 * trusted where libunwind's CFI shows them exact: GOTRACE_UNWIND=auto) and
 * libunwind, which is dlopened when the first trace starts. Any thread,
 * in_tracer > 0. The table the stacks go into is core/stack.c. */
#define UNW_LOCAL_ONLY

#include "core/record/stack.h"

#include <dlfcn.h>
#include <errno.h>
#include <libunwind.h>
#include <pthread.h>
#include <link.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <sys/auxv.h>

#include "core/base/arena.h"
#include "core/base/config.h"
#include "core/record/api.h"
#include "core/base/log.h"

static uintptr_t self_lo, self_hi;          /* our executable segment */
extern void *__libc_stack_end;              /* ld.so: the stack at _start */

/* The executable segment of an object: the one holding pc, or (pc 0) the
 * first one whose path contains name. */
struct text {
	uintptr_t pc;
	const char *name;
	uintptr_t lo, hi;
};

static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct text *t = arg;

	(void)size;
	if (t->name && (!info->dlpi_name || !strstr(info->dlpi_name, t->name)))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) &&
		    (t->name || (t->pc >= lo && t->pc < lo + ph->p_memsz))) {
			t->lo = lo;
			t->hi = lo + ph->p_memsz;
			return 1;
		}
	}
	return 0;
}

/* libunwind, loaded when the first trace starts (gt_stack_prepare; dlopen,
 * RTLD_LOCAL) like libdw. Linked in, it was in every traced program's
 * global scope, and it exports libgcc_s's names (_Unwind_RaiseException,
 * _Unwind_Resume, ...; backtrace too): C++ code that a C program dlopens
 * (a Python extension) then threw its exceptions through libunwind's copy
 * of them instead of libgcc_s's. Loaded local, it is only ours, and an
 * idle process maps two libraries fewer (libunwind, liblzma: ~0.15 ms per
 * exec). The names are libunwind.h's macros, expanded (_ULx86_64_step). */
#define UNW_STR_(x) #x
#define UNW_STR(x) UNW_STR_(x)
#define UNW_FNS(X)                              \
	X(backtrace, unw_backtrace)             \
	X(getcontext, unw_tdep_getcontext)      \
	X(init_local, unw_init_local)           \
	X(get_reg, unw_get_reg)                 \
	X(step, unw_step)                       \
	X(set_caching_policy, unw_set_caching_policy)
static struct {
#define UNW_FIELD(field, fn) __typeof__(fn) *field;
	UNW_FNS(UNW_FIELD)
#undef UNW_FIELD
	unw_addr_space_t *local_as;
} unw;   /* set before the first session is published, then read-only */

static int load_unw(void)
{
	void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);

	if (!h)
		return 0;
#define UNW_LOAD(field, fn) \
	if (!(unw.field = (__typeof__(fn) *)dlsym(h, UNW_STR(fn)))) return 0;
	UNW_FNS(UNW_LOAD)
#undef UNW_LOAD
	unw.local_as = dlsym(h, UNW_STR(unw_local_addr_space));
	return unw.local_as != NULL;
}

/* libunwind's first use sets it up for the whole process, with the pipe
 * it validates addresses through, in the fd table of the thread that makes
 * it. The service thread has a table of its own (core/fdtable.c), so that
 * must be a program thread: its first walk does it (once; a walk racing it
 * goes without frames). */
static uint32_t unw_state;   /* atomic: 0 not set up, 1 being set up, 2 ready */

static int unw_ready(void)
{
	uint32_t z = 0;

	if (__builtin_expect(__atomic_load_n(&unw_state, __ATOMIC_ACQUIRE) == 2, 1))
		return 1;
	if (!unw.backtrace || gt_tls.own_fds ||
	    !__atomic_compare_exchange_n(&unw_state, &z, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return 0;
	/* Per-thread caches: no lock (and no sigprocmask) per lookup. */
	gt_tls.unw_setup = 1;
	unw.set_caching_policy(*unw.local_as, UNW_CACHE_PER_THREAD);
	gt_tls.unw_setup = 0;
	__atomic_store_n(&unw_state, 2, __ATOMIC_RELEASE);
	return 1;
}

/* unw_backtrace, or no frames while libunwind is not loaded (or ready). */
static int unw_bt(void **buf, int max)
{
	if (!unw_ready())
		return 0;
	gt_tls.unw_setup = 1;   /* a pipe it reopens is ours (the pipe2 hook) */
	int n = unw.backtrace(buf, max);
	gt_tls.unw_setup = 0;
	return n;
}

/* Frame-pointer walks. Bounds-checked: each frame lies above the last and
 * below the top of this thread's stack, so a frame without a frame pointer
 * (rbp holding anything) ends the walk instead of a read of unmapped
 * memory. The top: our thread trampoline's frame (the stack ends there for
 * us); on the main thread where _start found the stack (auto) or the
 * stack's end from pthread_getattr_np (fp, and TSan's test threads, which
 * we did not start). */
void gt_stack_thread_init(uintptr_t top)
{
	struct gt_tls *tls = &gt_tls;
	pthread_attr_t a;
	void *lo;
	size_t size;

#if !defined(__SANITIZE_THREAD__)
	if (gt_cfg.unwind == GT_UNWIND_LIBUNWIND)
		return;
#endif
	if (tls->stack_hi)
		return;
	/* auto, main thread: everything is below where _start found the stack
	 * (the walk ends before, in libc's start-up code). */
	if (!top && gt_cfg.unwind == GT_UNWIND_AUTO) {
		if (getpid() == (pid_t)syscall(SYS_gettid))
			tls->stack_hi = (uintptr_t)__libc_stack_end;
		return;
	}
	if (top) {
		tls->stack_hi = top;
		return;
	}
	if (pthread_getattr_np(pthread_self(), &a))
		return;
	if (pthread_attr_getstack(&a, &lo, &size) == 0)
		tls->stack_hi = (uintptr_t)lo + size;
	pthread_attr_destroy(&a);
}

static uintptr_t stack_top(void)
{
#if defined(__SANITIZE_THREAD__)
	if (!gt_tls.stack_hi)
		gt_stack_thread_init(0);   /* test threads: never in a signal handler */
#endif
	return gt_tls.stack_hi;   /* 0 for threads met outside our trampoline */
}

/* GOTRACE_UNWIND=fp (TSan builds always, as libunwind's per-thread cache
 * destructor crashes TSan's runtime at thread exit): frame records only. */
static int fp_backtrace(void **buf, int max)
{
	uintptr_t *fp = __builtin_frame_address(0);
	uintptr_t hi = stack_top();
	int n = 0;

	if (!hi)
		return unw_bt(buf, max);
	while (n < max && fp && (uintptr_t)(fp + 2) <= hi) {
		uintptr_t *next = (uintptr_t *)fp[0];
		uintptr_t ret = fp[1];
		if (!ret)
			break;
		buf[n++] = (void *)ret;
		if (next <= fp || (uintptr_t)next & 7)
			break;
		fp = next;
	}
	return n;
}

/* GOTRACE_UNWIND=auto (the default): frame records where they are exact,
 * libunwind elsewhere. Whether a frame keeps its record is a property of
 * the code at its return address: a function built with frame pointers has
 * CFA = rbp + 16 at every call it makes, one built without does not (and
 * the record rbp points to then is an ancestor's, or garbage). libunwind's
 * CFI steps tell, once per return address: the frame keeps its record when
 * the caller's sp is rbp + 16 and [rbp], [rbp + 8] hold the caller's rbp
 * and pc. A walk uses the records only when every program frame it steps
 * through is known to keep one and it ends at our thread trampoline;
 * otherwise the stack is libunwind's (learning any address not known yet
 * first). Addresses are kept in an insert-only table (pc | verdict, CAS
 * into empty slots); when it is full, unknown addresses stay unknown. The
 * table is emptied after every dlclose, so that code mapped later at the
 * same addresses is learned afresh; code without CFI (a JIT's) is never
 * vouched for. The walk stays bounds-checked (each record above the last,
 * below the trampoline's, or on the main thread below where _start found
 * the stack). The main thread's stacks end in libc's start-up code, which
 * keeps no records: main's return address into it is learned as an end
 * (the frames from there down are libc's, then _start's). */
#define FPV_BITS 16
#define FPV_PROBES 16
#define FPV_GOOD (1ull << 63)
#define FPV_BAD (1ull << 62)
#define FPV_END (FPV_GOOD | FPV_BAD)   /* libc's start-up code: the stack ends */
#define FPV_PC (FPV_BAD - 1)

static uint64_t *fpv;        /* 1 << FPV_BITS entries, mapped at the first trace */
static uintptr_t libc_lo, libc_hi, entry;   /* libc's code; the program's _start */
static int fpv_full;         /* atomic */
static uint32_t fpv_gen;     /* atomic: bumped when the table is emptied */
static uint64_t n_fp, n_unw, n_learn;   /* atomic; counted with GOTRACE_DEBUG */

static inline uint64_t *fpv_at(uintptr_t pc, unsigned i)
{
	uint64_t h = ((uint64_t)pc * 0x9e3779b97f4a7c15ull) >> (64 - FPV_BITS);

	return &fpv[(h + i) & ((1u << FPV_BITS) - 1)];
}

/* 1: keeps its record at this return address; 2: libc's start-up code
 * (the main thread's stack ends there); -1: neither; 0: unknown. */
static inline int fpv_get(uintptr_t pc)
{
	for (unsigned i = 0; i < FPV_PROBES; i++) {
		uint64_t v = __atomic_load_n(fpv_at(pc, i), __ATOMIC_RELAXED);
		if (!v)
			return 0;
		if ((v & FPV_PC) == pc)
			return (v & FPV_END) == FPV_END ? 2 : v & FPV_GOOD ? 1 : -1;
	}
	return 0;
}

/* fpv_get through this thread's cache of the addresses it last found to
 * keep their records (the bare pc; other verdicts are rarer: one per walk
 * at most, the main thread's end). A walk in a loop then reads one line
 * of TLS per frame instead of a line of the 512 KB table (after a syscall
 * each was a cache and TLB miss: ~40 ns a 10-frame walk on a VM). */
static inline int fpv_get_cached(struct gt_tls *tls, uintptr_t pc)
{
	uint64_t *e = &tls->fpc[((uint64_t)pc * 0x9e3779b97f4a7c15ull) >> 59];

	if (*e == pc)
		return 1;
	int r = fpv_get(pc);
	if (r == 1)
		*e = pc;
	return r;
}

static void fpv_put(uintptr_t pc, int verdict)
{
	uint64_t want = (uint64_t)pc | (verdict == 2 ? FPV_END : verdict > 0 ? FPV_GOOD : FPV_BAD);

	if (!pc || ((uint64_t)pc & ~FPV_PC))
		return;
	for (unsigned i = 0; i < FPV_PROBES; i++) {
		uint64_t v = 0;
		if (__atomic_compare_exchange_n(fpv_at(pc, i), &v, want, 0, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED) || (v & FPV_PC) == pc)
			return;
	}
	__atomic_store_n(&fpv_full, 1, __ATOMIC_RELAXED);
}

static inline void count(uint64_t *c)
{
	if (__builtin_expect(gt_cfg.debug != 0, 0))
		__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* Give every return address of this stack its verdict, then return the
 * stack from libunwind. The two reads are below the caller's sp, inside
 * the frame libunwind just stepped out of: mapped. (TSan builds walk
 * frame records only: unused there.) */
static __attribute__((noinline, unused)) int learn(void **buf, int max, uintptr_t pc)
{
	unw_context_t uc;
	unw_cursor_t c;
	unw_word_t ip, bp;

	uintptr_t pcs[GT_STACK_MAX + 24];
	int good[GT_STACK_MAX + 24], m = 0, whole = 0;

	count(&n_learn);
	if (!unw_ready())
		return 0;
	if (max > GT_STACK_MAX + 24)
		max = GT_STACK_MAX + 24;
	if (unw.getcontext(&uc) == 0 && unw.init_local(&c, &uc) == 0 &&
	    unw.get_reg(&c, UNW_REG_IP, &ip) == 0 && unw.get_reg(&c, UNW_X86_64_RBP, &bp) == 0) {
		int prog = 0;
		while (m < max) {
			int r = unw.step(&c);
			unw_word_t ip2, sp2, bp2;
			if (r <= 0) {
				whole = r == 0;   /* the outermost frame reached */
				if (!gt_stack_is_self(ip) && m < max) {
					pcs[m] = ip;
					good[m++] = 0;
				}
				break;
			}
			if (unw.get_reg(&c, UNW_REG_IP, &ip2) || unw.get_reg(&c, UNW_REG_SP, &sp2) ||
			    unw.get_reg(&c, UNW_X86_64_RBP, &bp2))
				break;
			if (!gt_stack_is_self(ip)) {
				prog = 1;
				pcs[m] = ip;
				good[m++] = sp2 == bp + 16 && ((const uintptr_t *)bp)[0] == bp2 &&
					    ((const uintptr_t *)bp)[1] == ip2;
			} else if (prog) {
				break;   /* our trampoline */
			}
			ip = ip2;
			bp = bp2;
		}
	}
	/* The main thread's stack ends in libc's start-up code: frames in libc
	 * down to one in the program's _start. The first of them (main's
	 * return address) ends a walk: libunwind would add the rest, which
	 * the trace omits (start-up frames are cut when stacks are named). */
	if (whole && m >= 2 && pcs[m - 1] >= entry && pcs[m - 1] < entry + 64) {
		int j = m - 2;
		while (j >= 0 && pcs[j] >= libc_lo && pcs[j] < libc_hi)
			j--;
		if (j < m - 2 && j >= 0)
			good[j + 1] = 2;
	}
	for (int k = 0; k < m; k++)
		fpv_put(pcs[k], good[k]);
	/* An address libunwind did not reach (code without CFI: a JIT's) is
	 * one we cannot vouch for; saying so once keeps it from being learned
	 * again on every walk. */
	if (!fpv_get(pc))
		fpv_put(pc, 0);
	return unw_bt(buf, max);
}

void gt_stack_forget_code(void)
{
	uint64_t *t = __atomic_load_n(&fpv, __ATOMIC_RELAXED);

	if (t)
		for (unsigned i = 0; i < 1u << FPV_BITS; i++)
			__atomic_store_n(&t[i], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&fpv_full, 0, __ATOMIC_RELAXED);
	__atomic_fetch_add(&fpv_gen, 1, __ATOMIC_RELEASE);   /* and every thread's cache */
}

/* The frame-record walk of GOTRACE_UNWIND=auto: the program's frames into
 * pc (ours skipped; our thread trampoline, or on the main thread libc's
 * start-up code, ends it), their count. -1 when the records are not known
 * to be exact: *unknown is then the first address without a verdict yet
 * (0: one known not to keep its record, or no walk). */
static __attribute__((unused)) int fp_walk(uintptr_t *pc, unsigned max, uintptr_t *unknown)
{
	struct gt_tls *tls = &gt_tls;
	uintptr_t *fp = __builtin_frame_address(0);
	uintptr_t hi = tls->stack_hi;
	unsigned n = 0;

	*unknown = 0;
	if (!hi || !fpv)
		return -1;
	uint32_t gen = __atomic_load_n(&fpv_gen, __ATOMIC_ACQUIRE);
	if (tls->fpc_gen != gen) {
		memset(tls->fpc, 0, sizeof(tls->fpc));
		tls->fpc_gen = gen;
	}
	while (n < max && (uintptr_t)(fp + 2) <= hi) {
		uintptr_t *next = (uintptr_t *)fp[0];
		uintptr_t ret = fp[1];
		if (!ret)
			return -1;
		if (gt_stack_is_self(ret)) {
			if (n) {
				count(&n_fp);
				return (int)n;   /* our thread trampoline: the stack ends */
			}
		} else {
			int v = fpv_get_cached(tls, ret);
			if (v != 1) {
				if (v == 2) {
					pc[n++] = ret;
					count(&n_fp);
					return (int)n;   /* libc's start-up code: the main thread's end */
				}
				if (v == 0)
					*unknown = ret;
				return -1;
			}
			pc[n++] = ret;
		}
		if (next <= fp || (uintptr_t)next & 7)
			return -1;
		fp = next;
	}
	if (n == max) {
		count(&n_fp);
		return (int)n;   /* as deep as asked */
	}
	return -1;
}

/* GOTRACE_UNWIND=fp or libunwind; auto when fp_walk could not: libunwind,
 * learning the address fp_walk did not know first. */
static int backtrace_(void **buf, int max, uintptr_t unknown)
{
#if defined(__SANITIZE_THREAD__)
	(void)unknown;
	return fp_backtrace(buf, max);
#else
	if (gt_cfg.unwind == GT_UNWIND_AUTO) {
		count(&n_unw);
		if (unknown && !__atomic_load_n(&fpv_full, __ATOMIC_RELAXED))
			return learn(buf, max, unknown);
	}
	return gt_cfg.unwind == GT_UNWIND_FP ? fp_backtrace(buf, max) : unw_bt(buf, max);
#endif
}

void gt_stack_log_stats(void)
{
	if (gt_cfg.debug)
		gt_log("unwind: %llu frame-record walks, %llu libunwind, %llu learned",
		       (unsigned long long)__atomic_load_n(&n_fp, __ATOMIC_RELAXED),
		       (unsigned long long)__atomic_load_n(&n_unw, __ATOMIC_RELAXED),
		       (unsigned long long)__atomic_load_n(&n_learn, __ATOMIC_RELAXED));
}

void gt_stack_text(uintptr_t pc, const char *name, uintptr_t *lo, uintptr_t *hi)
{
	struct text t = { pc, name, 0, 0 };

	dl_iterate_phdr(find_text, &t);
	*lo = t.lo;
	*hi = t.hi;
}

int gt_stack_is_self(uintptr_t pc)
{
	return pc >= self_lo && pc < self_hi;
}

int gt_stack_init(void)
{
	gt_stack_text((uintptr_t)gt_stack_init, NULL, &self_lo, &self_hi);
	return 0;
}

/* Loaded when the first trace starts (before the session is published),
 * not at load: idle processes never pay for it. libunwind's own set-up
 * (~150 us) is the first program thread's walk (unw_ready): here, when
 * this is one (GOTRACE_FILE at load), else in that thread's first hook. */
void gt_stack_prepare(void)
{
	static int done;
	uintptr_t warm[8];

	if (done)
		return;
	done = 1;
	if (!load_unw()) {
		memset(&unw, 0, sizeof(unw));
		/* auto walks frame records alone then; libunwind: no stacks */
		gt_log("libunwind.so.8 not loaded: stacks %s",
		       gt_cfg.unwind == GT_UNWIND_LIBUNWIND ? "are empty" : "from frame records only");
		if (gt_cfg.unwind == GT_UNWIND_AUTO)
			gt_cfg.unwind = GT_UNWIND_FP;
	}
	if (gt_cfg.unwind == GT_UNWIND_AUTO) {
		gt_stack_text(0, "/libc.so", &libc_lo, &libc_hi);   /* the start-up frames' object */
		entry = (uintptr_t)getauxval(AT_ENTRY);
		fpv = gt_map(sizeof(*fpv) << FPV_BITS);   /* NULL: libunwind only */
	}
	gt_stack_capture(warm, 8, 0);
}

unsigned gt_stack_capture(uintptr_t *pc, unsigned max, uintptr_t fn)
{
	void *buf[GT_STACK_MAX + 24];
	unsigned k = 0;

	if (fn && k < max)
		pc[k++] = fn;
	uintptr_t unknown = 0;
#if !defined(__SANITIZE_THREAD__)
	/* The common case: frame records, straight into pc. */
	if (gt_cfg.unwind == GT_UNWIND_AUTO) {
		int m = fp_walk(pc + k, max - k, &unknown);
		if (m >= 0)
			return k + (unsigned)m;
	}
#endif
	int n = backtrace_(buf, GT_STACK_MAX + 24, unknown);
	int i = 0;

	/* Skip libunwind's own frames, then ours (core + the hook). */
	while (i < n && !gt_stack_is_self((uintptr_t)buf[i]))
		i++;
	while (i < n && gt_stack_is_self((uintptr_t)buf[i]))
		i++;
	/* Stop at our thread trampoline: what is beyond is libc's start code. */
	for (; i < n && k < max; i++) {
		if (gt_stack_is_self((uintptr_t)buf[i]))
			break;
		pc[k++] = (uintptr_t)buf[i];
	}
	return k;
}
