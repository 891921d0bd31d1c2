/* core/base/real.c - the real-symbol table. dlsym may allocate (dlerror
 * state); that is fine while no malloc hook is in place, and later the malloc
 * hooks serve it from their bootstrap buffer. */
#include "core/base/real.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


struct gt_real gt_real;
int gt_real_resolving;
static void (*gt_real_named)(uintptr_t fn, const char *name);

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

void *gt_real_resolve(const char *name)
{
	__atomic_fetch_add(&gt_real_resolving, 1, __ATOMIC_SEQ_CST);
	void *p = dlsym(RTLD_NEXT, name);
	__atomic_fetch_sub(&gt_real_resolving, 1, __ATOMIC_SEQ_CST);

	if (!p)
		return (void *)enosys;
	void (*named)(uintptr_t, const char *) = __atomic_load_n(&gt_real_named, __ATOMIC_ACQUIRE);
	if (named)
		named((uintptr_t)p, display_name(name));
	return p;
}

void gt_real_init(void)
{
#define GT_REAL_INIT(name, ret, params)                                           \
	if (!gt_real.name)                                                        \
		gt_real.name = (__typeof__(gt_real.name))gt_real_resolve(#name);
	GT_REAL_FNS(GT_REAL_INIT)
#undef GT_REAL_INIT
}

void gt_real_set_named(void (*named)(uintptr_t fn, const char *name))
{
	__atomic_store_n(&gt_real_named, named, __ATOMIC_RELEASE);
#define GT_REAL_NAME(name, ret, params)                                           \
	if (__atomic_load_n(&gt_real.name, __ATOMIC_RELAXED) &&                 \
	    (void *)gt_real.name != (void *)enosys)                             \
		named((uintptr_t)gt_real.name, display_name(#name));
	GT_REAL_FNS(GT_REAL_NAME)
#undef GT_REAL_NAME
}
