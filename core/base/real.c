/* core/base/real.c - the real-symbol table. dlsym may allocate (dlerror
 * state); that is fine while no malloc hook is in place, and later the malloc
 * hooks serve it from their bootstrap buffer. */
#include "core/base/real.h"

#include "core/base/config.h"
#include "core/base/elfsym.h"
#include "core/base/log.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


struct gt_real gt_real;
int gt_real_resolving;

/* For functions this libc lacks: the program cannot be calling them
 * through us unless it found them somewhere; fail like a missing syscall. */
static long enosys(void)
{
	errno = ENOSYS;
	return -1;
}

/* Stacks show what the program called, in the name it knows: the
 * fortified __read_chk is "read", __open_2 is "open", and syscall, whose
 * futex waits alone are recorded, says so. */
static const char *display_name(const char *name)
{
	static char names[64][32];
	static unsigned used;
	size_t n = strlen(name);

	if (strcmp(name, "syscall") == 0)
		return "syscall(SYS_futex)";   /* the only calls of it we record */
	if (strncmp(name, "__", 2) != 0)
		return name;
	name += 2;
	n -= 2;
	if (n > 4 && strcmp(name + n - 4, "_chk") == 0)
		n -= 4;
	else if (n > 2 && strcmp(name + n - 2, "_2") == 0)
		n -= 2;
	unsigned i = __atomic_fetch_add(&used, 1, __ATOMIC_RELAXED);
	if (i >= 64 || n >= 32)
		return name - 2;
	memcpy(names[i], name, n);
	names[i][n] = '\0';
	return names[i];
}

static void *next_dlsym(const char *name)
{
	__atomic_fetch_add(&gt_real_resolving, 1, __ATOMIC_SEQ_CST);
	void *p = dlsym(RTLD_NEXT, name);
	__atomic_fetch_sub(&gt_real_resolving, 1, __ATOMIC_SEQ_CST);
	return p;
}

/* fast: 1 the objects' tables first, 2 (GOTRACE_DEBUG) both, a
 * difference said on stderr and dlsym's answer taken. */
static void *resolve(const char *name, int fast)
{
	void *p = fast ? gt_elfsym_next(name) : NULL;

	if (p && fast > 1) {
		void *d = next_dlsym(name);
		if (d != p)
			gt_log("real: %s: the objects' hash tables say %p, dlsym %p", name, p, d);
		p = d;
	}
	if (!p)
		p = next_dlsym(name);

	return p ? p : (void *)enosys;
}

void *gt_real_resolve(const char *name)
{
	return resolve(name, 0);
}

/* The constructor's look-ups read the objects' tables (elfsym.c): ~320
 * instructions a name where dlsym takes ~1,100. Lazy ones, which may run
 * in any thread at any time, keep dlsym and its lock. */
void gt_real_init(void)
{
	int fast = gt_config_debug() ? 2 : 1;

	gt_elfsym_forget();
#define GT_REAL_INIT(name, ret, params)                                           \
	if (!gt_real.name)                                                        \
		gt_real.name = (__typeof__(gt_real.name))resolve(#name, fast);
	GT_REAL_FNS(GT_REAL_INIT)
#undef GT_REAL_INIT
}

char *gt_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = gt_malloc(n);

	return d ? memcpy(d, s, n) : NULL;
}

static void (*lib_free)(void *);

void gt_free_lib_prepare(void)
{
	if (__atomic_load_n(&lib_free, __ATOMIC_ACQUIRE))
		return;
	Dl_info a, b;
	void (*f)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "free");
	if (!f || (dladdr((void *)f, &a) && dladdr((void *)gt_free_lib, &b) &&
		   a.dli_fbase == b.dli_fbase))
		f = GT_REAL(free);   /* ours: its hook */
	__atomic_store_n(&lib_free, f, __ATOMIC_RELEASE);
}

void gt_free_lib(void *p)
{
	gt_free_lib_prepare();   /* (done already, but by a caller that forgot) */
	__atomic_load_n(&lib_free, __ATOMIC_ACQUIRE)(p);
}

/* Each entry's display name, made the first time a stack asks for it. */
enum { N_REAL = 0
#define GT_REAL_ONE(name, ret, params) +1
	GT_REAL_FNS(GT_REAL_ONE)
#undef GT_REAL_ONE
};
static const char *shown[N_REAL];

static const char *shown_name(unsigned i, const char *name)
{
	const char *s = __atomic_load_n(&shown[i], __ATOMIC_ACQUIRE);

	if (!s) {
		s = display_name(name);
		__atomic_store_n(&shown[i], s, __ATOMIC_RELEASE);
	}
	return s;
}

/* Stand-ins that took a slot for a while (gt_real_alias): named as the
 * function they stood for. */
static struct {
	uintptr_t fn, as;
} aliases[16];
static unsigned naliases;

void gt_real_alias(uintptr_t fn, uintptr_t as)
{
	unsigned n = __atomic_load_n(&naliases, __ATOMIC_ACQUIRE);

	for (unsigned i = 0; i < n; i++)
		if (aliases[i].fn == fn)
			return;
	if (n < sizeof(aliases) / sizeof(aliases[0])) {
		aliases[n].fn = fn;
		aliases[n].as = as;
		__atomic_store_n(&naliases, n + 1, __ATOMIC_RELEASE);
	}
}

const char *gt_real_name_of(uintptr_t fn)
{
	unsigned i = 0, n = __atomic_load_n(&naliases, __ATOMIC_ACQUIRE);

	if (!fn || fn == (uintptr_t)enosys)
		return NULL;
#define GT_REAL_FIND(name, ret, params)                                            \
	if ((uintptr_t)__atomic_load_n(&gt_real.name, __ATOMIC_RELAXED) == fn)      \
		return shown_name(i, #name);                                         \
	i++;
	GT_REAL_FNS(GT_REAL_FIND)
#undef GT_REAL_FIND
	for (unsigned k = 0; k < n; k++)
		if (aliases[k].fn == fn && aliases[k].as != fn)
			return gt_real_name_of(aliases[k].as);
	return NULL;
}
