/* core/base/sys.h - raw system calls: no libc, no errno, no TLS. For the
 * calls the tracer makes where libc's wrapper would be a hook of ours
 * (syscall) or would touch errno, and for the doorman, which runs on the
 * main thread's TLS and may touch none (core/process/door.c). They return
 * the kernel's value: >= 0, or -errno. */
#ifndef GT_BASE_SYS_H
#define GT_BASE_SYS_H

#include <sys/syscall.h>

#include "core/base/real.h"

#if defined(__x86_64__) && defined(__linux__)
#define GT_RAW_SYSCALLS 1
static inline long gt_raw6(long nr, long a, long b, long c, long e, long f, long g)
{
	long r;
	register long r10 __asm__("r10") = e;
	register long r8 __asm__("r8") = f;
	register long r9 __asm__("r9") = g;

	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return r;
}
#else
#define GT_RAW_SYSCALLS 0
#include <errno.h>
/* Elsewhere libc's syscall(), errno kept, the result as the kernel's. */
static inline long gt_raw6(long nr, long a, long b, long c, long e, long f, long g)
{
	int saved = errno;
	long r = gt_syscall(nr, a, b, c, e, f, g);

	if (r == -1)
		r = -errno;
	errno = saved;
	return r;
}
#endif

static inline long gt_raw(long nr, long a, long b, long c)
{
	return gt_raw6(nr, a, b, c, 0, 0, 0);
}

static inline int gt_gettid(void)
{
	return (int)gt_raw6(SYS_gettid, 0, 0, 0, 0, 0, 0);
}

#endif
