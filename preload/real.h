/* preload/real.h - the real libc functions the hooks forward to. Resolved
 * with dlsym(RTLD_NEXT) in the constructor, lazily by a hook that runs
 * first (before main, in another library's constructor). */
#ifndef GT_REAL_H
#define GT_REAL_H

#include <pthread.h>
#include <stdint.h>

/* X(name, return type, (params)) */
#define GT_REAL_FNS(X)                                                             \
	X(pthread_create, int, (pthread_t *, const pthread_attr_t *, void *(*)(void *), void *)) \
	X(execve, int, (const char *, char *const[], char *const[]))              \
	X(execv, int, (const char *, char *const[]))                              \
	X(execvp, int, (const char *, char *const[]))                             \
	X(execvpe, int, (const char *, char *const[], char *const[]))             \
	X(fexecve, int, (int, char *const[], char *const[]))                      \
	X(execveat, int, (int, const char *, char *const[], char *const[], int))

struct gt_real {
#define GT_REAL_FIELD(name, ret, params) ret(*name) params;
	GT_REAL_FNS(GT_REAL_FIELD)
#undef GT_REAL_FIELD
};

extern struct gt_real gt_real;

/* Resolve one function; aborts with a message if libc lacks it (a hook
 * cannot run without its real function). */
void *gt_real_resolve(const char *name);
void gt_real_init(void);

static inline void *gt_real_get(void **slot, const char *name)
{
	void *p = __atomic_load_n(slot, __ATOMIC_RELAXED);

	if (__builtin_expect(p == NULL, 0)) {
		p = gt_real_resolve(name);
		__atomic_store_n(slot, p, __ATOMIC_RELAXED);
	}
	return p;
}

#define GT_REAL(name) ((__typeof__(gt_real.name))gt_real_get((void **)&gt_real.name, #name))

#endif
