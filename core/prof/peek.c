/* core/prof/peek.c - another thread's frames, walked from outside it by
 * libunwind's generic unwinder (libunwind-x86_64.so.8: the remote-capable
 * build of the same package) over our own address space. What it knows of
 * the thread: a pc, an sp, and a bp when known (the frame record of the
 * hook the thread waits in). Memory inside the thread's stack, held still
 * by the caller, is read directly; anything else (a guess libunwind makes
 * from a register we could not give it, the objects' unwind tables)
 * through process_vm_readv, so that no address faults. libunwind's own
 * local walk reads through plain loads: one wrong guess there would kill
 * the program. Service thread. */
#include "core/prof/prof_int.h"

#include <dlfcn.h>
#include <libunwind.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "core/base/sys.h"

#define UNW_STR_(x) #x
#define UNW_STR(x) UNW_STR_(x)
#define UNW_FNS(X)                                      \
	X(create_addr_space, unw_create_addr_space)     \
	X(get_accessors, unw_get_accessors)             \
	X(init_remote, unw_init_remote)                 \
	X(get_reg, unw_get_reg)                         \
	X(step, unw_step)                               \
	X(set_caching_policy, unw_set_caching_policy)   \
	X(flush_cache, unw_flush_cache)
static struct {
#define UNW_FIELD(field, fn) __typeof__(fn) *field;
	UNW_FNS(UNW_FIELD)
#undef UNW_FIELD
	unw_addr_space_t as;
	int state;   /* 0 not tried, 1 ready, -1 unavailable */
} u;

struct peer {
	uintptr_t ip, sp, bp;
	int bp_known;
	uintptr_t lo, hi;   /* read directly: the thread's stack, held */
	pid_t pid;
};

static int p_access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write,
			void *arg)
{
	struct peer *w = arg;

	(void)as;
	if (write)
		return -UNW_EINVAL;
	/* (lo = hi = 0: no stack is held, every read is the kernel's; at
	 * hi 0, hi - 8 wrapped and read the whole address space directly) */
	if (w->hi > w->lo && addr >= w->lo && addr <= w->hi - sizeof(*val) && !(addr & 7)) {
		*val = *(const unw_word_t *)addr;
		return 0;
	}
	struct iovec l = { val, sizeof(*val) }, r = { (void *)addr, sizeof(*val) };
	if (gt_raw6(SYS_process_vm_readv, w->pid, (long)&l, 1, (long)&r, 1, 0) == sizeof(*val))
		return 0;
	return -UNW_EINVAL;
}

static int p_access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write,
			void *arg)
{
	struct peer *w = arg;

	(void)as;
	if (write)
		return -UNW_EREADONLYREG;
	switch (reg) {
	case UNW_X86_64_RIP: *val = w->ip; return 0;
	case UNW_X86_64_RSP: *val = w->sp; return 0;
	case UNW_X86_64_RBP:
		if (!w->bp_known)
			return -UNW_EBADREG;
		*val = w->bp;
		return 0;
	default:
		return -UNW_EBADREG;   /* not known: the walk ends where it is needed */
	}
}

static int p_access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			  void *arg)
{
	(void)as, (void)reg, (void)val, (void)write, (void)arg;
	return -UNW_EBADREG;
}

static int p_resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	(void)as, (void)c, (void)arg;
	return -UNW_EINVAL;
}

static int p_get_proc_name(unw_addr_space_t as, unw_word_t ip, char *buf, size_t len,
			   unw_word_t *off, void *arg)
{
	(void)as, (void)ip, (void)buf, (void)len, (void)off, (void)arg;
	return -UNW_ENOINFO;   /* names are ours to find (core/write/symbol.c) */
}

static int load(void)
{
	void *h = dlopen("libunwind-x86_64.so.8", RTLD_NOW | RTLD_LOCAL);

	if (!h)
		return -1;
#define UNW_LOAD(field, fn) \
	if (!(u.field = (__typeof__(fn) *)dlsym(h, UNW_STR(fn)))) return -1;
	UNW_FNS(UNW_LOAD)
#undef UNW_LOAD
	unw_addr_space_t *local = dlsym(h, UNW_STR(unw_local_addr_space));
	if (!local)
		return -1;
	/* The local unwinder's way of finding an object's unwind table
	 * (dl_iterate_phdr: our own process), our ways of reading. */
	unw_accessors_t acc = *u.get_accessors(*local);
	acc.access_mem = p_access_mem;
	acc.access_reg = p_access_reg;
	acc.access_fpreg = p_access_fpreg;
	acc.resume = p_resume;
	acc.get_proc_name = p_get_proc_name;
	u.as = u.create_addr_space(&acc, 0);
	if (!u.as)
		return -1;
	u.set_caching_policy(u.as, UNW_CACHE_GLOBAL);
	return 0;
}

int gt_peek_ready(void)
{
	if (!u.state)
		u.state = load() ? -1 : 1;
	return u.state > 0;
}

void gt_peek_forget(void)
{
	if (u.state > 0)
		u.flush_cache(u.as, 0, 0);   /* objects loaded or unloaded since */
}

int gt_peek_walk(uintptr_t ip, uintptr_t sp, uintptr_t bp, int bp_known, uintptr_t lo,
		 uintptr_t hi, uintptr_t *pc, int max)
{
	struct peer w = { ip, sp, bp, bp_known, lo, hi, getpid() };
	unw_cursor_t c;
	unw_word_t x;
	int m = 0;

	if (!gt_peek_ready() || u.init_remote(&c, u.as, &w) < 0)
		return 0;
	while (m < max && u.get_reg(&c, UNW_REG_IP, &x) == 0 && x) {
		pc[m++] = x;
		if (u.step(&c) <= 0)
			break;
	}
	return m;
}

int gt_prof_peek_record(uintptr_t fp, uintptr_t hi, uintptr_t *pc, int max)
{
	const uintptr_t *f = (const uintptr_t *)fp;

	return gt_peek_walk(f[1], fp + 16, f[0], 1, fp, hi, pc, max);
}
