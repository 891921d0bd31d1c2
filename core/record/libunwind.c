/* core/record/libunwind.c - libunwind, dlopened when the first trace
 * starts, and where the code is: ours, an object's text. */
#define UNW_LOCAL_ONLY

#include "core/record/unwind.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <link.h>
#include <string.h>

#include "core/base/lock.h"
#include "core/record/api.h"
#include "core/record/stack.h"

uintptr_t gt_self_lo, gt_self_hi;   /* our executable segment */

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
	X(get_save_loc, unw_get_save_loc)       \
	X(set_caching_policy, unw_set_caching_policy)
static struct {
#define UNW_FIELD(field, fn) __typeof__(fn) *field;
	UNW_FNS(UNW_FIELD)
#undef UNW_FIELD
	unw_addr_space_t *local_as;
	/* From a signal's context (libunwind 1.3+; NULL in older ones). */
	int (*init_local2)(unw_cursor_t *, unw_context_t *, int);
} unw;   /* set before the first session is published, then read-only */

static int load_unw_(void)
{
	void *h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);

	if (!h)
		return 0;
#define UNW_LOAD(field, fn) \
	if (!(unw.field = (__typeof__(fn) *)dlsym(h, UNW_STR(fn)))) return 0;
	UNW_FNS(UNW_LOAD)
#undef UNW_LOAD
	unw.local_as = dlsym(h, UNW_STR(unw_local_addr_space));
	unw.init_local2 = (int (*)(unw_cursor_t *, unw_context_t *, int))dlsym(h,
		UNW_STR(unw_init_local2));
	return unw.local_as != NULL;
}

/* libunwind's first use sets it up for the whole process, with the pipe
 * it validates addresses through, in the fd table of the thread that makes
 * it. The service thread has a table of its own (core/process/fdtable.c), so that
 * must be a program thread: its first walk does it (once; a walk racing it
 * waits for it: unw_wait_ready). */
static uint32_t unw_state;   /* atomic: 0 not set up, 1 being set up, 2 ready */
/* A walk from a signal's context ran (libunwind's own set-up, its pipe
 * included, is done: gt_unw_walk_context). Atomic. */
static uint32_t unw_walked;

/* A walk that finds the set-up under way on another thread waits for it
 * (~150 us, once): going without frames, the first waits of threads that
 * met at a barrier lost all but their leaf, 1-15 of 16 in a sweep. A
 * thread inside the set-up itself (a handler's walk) does not wait. */
static int unw_wait_ready(void)
{
	for (int i = 0; i < 100; i++) {   /* at most ~0.1 s, then without frames */
		uint32_t st = __atomic_load_n(&unw_state, __ATOMIC_ACQUIRE);
		if (st != 1)
			return st == 2;
		gt_futex_wait(&unw_state, 1, 1000000);
	}
	return 0;
}

static int unw_ready(void)
{
	uint32_t z = 0;

	if (__builtin_expect(__atomic_load_n(&unw_state, __ATOMIC_ACQUIRE) == 2, 1))
		return 1;
	if (!unw.backtrace || gt_tls.own_fds)
		return 0;
	if (!__atomic_compare_exchange_n(&unw_state, &z, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return !gt_tls.unw_setup && unw_wait_ready();
	/* Per-thread caches: no lock (and no sigprocmask) per lookup. */
	gt_tls.unw_setup = 1;
	unw.set_caching_policy(*unw.local_as, UNW_CACHE_PER_THREAD);
	gt_tls.unw_setup = 0;
	__atomic_store_n(&unw_state, 2, __ATOMIC_RELEASE);
	gt_futex_wake(&unw_state, 1 << 30);
	return 1;
}

void gt_stack_signal_settle(void)
{
	uint32_t z = 0;

	/* After a signal walk libunwind's own set-up is done (no pipe is
	 * opened in this thread's table of its own): the caching policy, not
	 * a handler's to set, may be set from here. */
	if (!__atomic_load_n(&unw_walked, __ATOMIC_ACQUIRE) ||
	    !__atomic_compare_exchange_n(&unw_state, &z, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
		return;
	unw.set_caching_policy(*unw.local_as, UNW_CACHE_PER_THREAD);
	__atomic_store_n(&unw_state, 2, __ATOMIC_RELEASE);
	gt_futex_wake(&unw_state, 1 << 30);
}

/* unw_backtrace, or no frames while libunwind is not loaded (or ready). */
int gt_unw_backtrace(void **buf, int max)
{
	if (!unw_ready())
		return 0;
	gt_tls.unw_setup = 1;   /* a pipe it reopens is ours (the pipe2 hook) */
	int n = unw.backtrace(buf, max);
	gt_tls.unw_setup = 0;
	return n;
}

int gt_unw_load(void)
{
	if (load_unw_())
		return 1;
	memset(&unw, 0, sizeof(unw));
	return 0;
}

/* How the frame at ip (sp, bp before libunwind's step; ip2, sp2, bp2 its
 * caller's after it, c the cursor there) finds its caller: 1 its frame
 * record at bp; GT_FPV_RULE(off, k) the caller's sp (the CFA) at sp + 8 *
 * off with the return address just below it, and the caller's rbp saved
 * at CFA - 8 * k (k 0: left as it was); 0 neither (a frame that realigns
 * its stack, or a big one). The reads are inside the frame. */
static int frame_kind(unw_cursor_t *c, unw_word_t sp, unw_word_t bp, unw_word_t ip2,
		      unw_word_t sp2, unw_word_t bp2)
{
	if (sp2 == bp + 16 && ((const uintptr_t *)bp)[0] == bp2 && ((const uintptr_t *)bp)[1] == ip2)
		return 1;
	unw_word_t d = sp2 - sp;
	if (sp2 <= sp || (d & 7) || d / 8 > GT_FPV_OFF_MAX || ((const uintptr_t *)sp2)[-1] != ip2)
		return 0;
	unw_save_loc_t loc;
	unsigned k = 0;
	if (unw.get_save_loc(c, UNW_X86_64_RBP, &loc) == 0 && loc.type == UNW_SLT_MEMORY &&
	    loc.u.addr >= sp && loc.u.addr < sp2) {
		k = (unsigned)((sp2 - loc.u.addr) / 8);
		if ((sp2 - loc.u.addr) & 7 || k > GT_FPV_K_MAX || *(const uintptr_t *)loc.u.addr != bp2)
			return 0;
	} else if (bp2 != bp) {
		return 0;
	}
	return GT_FPV_RULE(d / 8, k);
}

/* libunwind's CFI walk from here: the program's return addresses into
 * pcs, and in good how each frame finds its caller (frame_kind: its frame
 * record, where the caller's sp is rbp + 16 and [rbp], [rbp + 8] hold the
 * caller's rbp and pc; or a rule from its sp). *whole: the walk reached the outermost frame. Their count, or -1
 * when libunwind is not ready. */
__attribute__((noinline)) int gt_unw_walk(uintptr_t *pcs, int *good, int max, int *whole)
{
	unw_context_t uc;
	unw_cursor_t c;
	unw_word_t ip, sp, bp;
	int m = 0;

	*whole = 0;
	if (!unw_ready())
		return -1;
	gt_tls.unw_setup = 1;   /* busy: a SIGPROF handler does not walk too */
	if (unw.getcontext(&uc) == 0 && unw.init_local(&c, &uc) == 0 &&
	    unw.get_reg(&c, UNW_REG_IP, &ip) == 0 && unw.get_reg(&c, UNW_REG_SP, &sp) == 0 &&
	    unw.get_reg(&c, UNW_X86_64_RBP, &bp) == 0) {
		int prog = 0;
		while (m < max) {
			int r = unw.step(&c);
			unw_word_t ip2, sp2, bp2;
			if (r <= 0) {
				*whole = r == 0;   /* the outermost frame reached */
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
				good[m++] = frame_kind(&c, sp, bp, ip2, sp2, bp2);
			} else if (prog) {
				break;   /* our trampoline */
			}
			ip = ip2;
			sp = sp2;
			bp = bp2;
		}
	}
	gt_tls.unw_setup = 0;
	return m;
}

/* How the interrupted frame at ip (sp, bp) finds its caller, from the
 * caller's registers libunwind's step found (ip2, sp2, bp2): its own frame
 * record at bp, or a rule from its sp (frame_kind: a leaf without a frame
 * is the rule of offset 8). */
static int leaf_kind(unw_cursor_t *c, unw_word_t sp, unw_word_t bp, unw_word_t ip2,
		     unw_word_t sp2, unw_word_t bp2)
{
	int k = frame_kind(c, sp, bp, ip2, sp2, bp2);

	return k == 1 ? GT_LEAF_RECORD : k >= 3 ? k : GT_LEAF_OTHER;
}

int gt_unw_walk_context(void *uctx, uintptr_t top, uintptr_t *pcs, int *good, int max,
			int *whole, int *leaf, int may_setup)
{
	unw_cursor_t c;
	unw_word_t ip, sp, bp;
	int m = 0;

	*whole = 0;
	*leaf = GT_LEAF_UNKNOWN;
	/* unw_init_local2 and unw_step are documented safe in a signal
	 * handler, the caching policy's change is not: a handler walks with
	 * whatever cache is set (the global one, whose lock libunwind takes
	 * with signals blocked, until a hook's walk sets per-thread caches).
	 * The first walk anywhere runs libunwind's own set-up, which opens its
	 * pipe: only where may_setup says this handler may. */
	if (!unw.init_local2 || !unw.backtrace || gt_tls.unw_setup ||
	    (__atomic_load_n(&unw_state, __ATOMIC_ACQUIRE) != 2 &&
	     !__atomic_load_n(&unw_walked, __ATOMIC_ACQUIRE) && !may_setup))
		return -1;
	gt_tls.unw_setup = 1;
	if (unw.init_local2(&c, (unw_context_t *)uctx, UNW_INIT_SIGNAL_FRAME) == 0 &&
	    unw.get_reg(&c, UNW_REG_IP, &ip) == 0 && unw.get_reg(&c, UNW_REG_SP, &sp) == 0 &&
	    unw.get_reg(&c, UNW_X86_64_RBP, &bp) == 0) {
		while (m < max) {
			/* Our thread trampoline (its rbp is the stack's top - 16):
			 * the program's stack ends below it. */
			if (m && top && bp == top - 16 && gt_stack_is_self(ip))
				break;
			int r = unw.step(&c);
			unw_word_t ip2, sp2, bp2;
			if (r <= 0) {
				*whole = r == 0;
				pcs[m] = ip;
				good[m++] = 0;
				break;
			}
			if (unw.get_reg(&c, UNW_REG_IP, &ip2) || unw.get_reg(&c, UNW_REG_SP, &sp2) ||
			    unw.get_reg(&c, UNW_X86_64_RBP, &bp2))
				break;
			if (m == 0) {
				*leaf = leaf_kind(&c, sp, bp, ip2, sp2, bp2);
				good[m] = 0;
			} else {
				good[m] = frame_kind(&c, sp, bp, ip2, sp2, bp2);
			}
			pcs[m++] = ip;
			ip = ip2;
			sp = sp2;
			bp = bp2;
		}
	}
	gt_tls.unw_setup = 0;
	__atomic_store_n(&unw_walked, 1, __ATOMIC_RELEASE);
	return m;
}

void gt_stack_text(uintptr_t pc, const char *name, uintptr_t *lo, uintptr_t *hi)
{
	struct text t = { pc, name, 0, 0 };

	dl_iterate_phdr(find_text, &t);
	*lo = t.lo;
	*hi = t.hi;
}

int gt_stack_init(void)
{
	gt_stack_text((uintptr_t)gt_stack_init, NULL, &gt_self_lo, &gt_self_hi);
	return 0;
}

