/* preload/real.c - the real-symbol table. dlsym may allocate (dlerror
 * state); that is fine while no malloc hook is in place, and later the malloc
 * hooks serve it from their bootstrap buffer. */
#include "preload/real.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/gotrace.h"

struct gt_real gt_real;

void *gt_real_resolve(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		static const char msg[] = "gotrace: cannot find the real ";
		if (write(2, msg, sizeof(msg) - 1) < 0 || write(2, name, strlen(name)) < 0 ||
		    write(2, "\n", 1) < 0) {
		}
		abort();
	}
	gt_name_fn((uintptr_t)p, name);
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
