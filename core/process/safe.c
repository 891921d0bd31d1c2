/* core/process/safe.c - safe points and long waits of a one-thread program whose
 * service thread starts late (GOTRACE_LAZY, core/process/door.c). The service
 * thread's pthread_create takes libc's locks (malloc's, the loader's);
 * where the program's own thread may hold one of them (inside libc, or in
 * a signal handler that interrupted it) it must wait for another call. */
#include "core/process/safe.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/process/api.h"
#include "core/record/api.h"
#include "core/record/stack.h"
#include "core/base/real.h"
#include "core/base/sys.h"

extern void *__tls_get_addr(void *);   /* ld.so's */
extern void *__libc_stack_end;         /* ld.so's: the main thread's first frame */

static uintptr_t libc_text[2][2];   /* libc's and ld.so's code */

void gt_safe_init(void)
{
	gt_stack_text(0, "/libc.so", &libc_text[0][0], &libc_text[0][1]);
	gt_stack_text((uintptr_t)__tls_get_addr, NULL, &libc_text[1][0], &libc_text[1][1]);
}

int gt_safe_in_libc(uintptr_t pc)
{
	for (int k = 0; k < 2; k++)
		if (pc >= libc_text[k][0] && pc < libc_text[k][1])
			return 1;
	return 0;
}

/* The main thread's stack from lo (an address in the caller's frame) to
 * its top, when lo is on it: else 0. Within 8 MiB of the top nothing but
 * the stack is mapped (the kernel keeps at least 128 MiB free below it). */
#define STACK_LOOK (8u << 20)

static uintptr_t main_stack_top(uintptr_t lo)
{
	uintptr_t hi = (uintptr_t)__libc_stack_end;

	return lo < hi && hi - lo <= STACK_LOOK ? hi : 0;
}

/* Read n bytes at src through the kernel: the count it could, or -1, for
 * memory that is not there, where a plain load would fault. */
static ssize_t peek(void *dst, uintptr_t src, size_t n)
{
	struct iovec local = { dst, n }, remote = { (void *)src, n };

	return process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
}

/* Copy n bytes of the program's at src: straight from the main thread's
 * live stack (where time-outs mostly are), else through process_vm_readv,
 * which fails where the program's own call would get EFAULT. */
static int read_user(void *dst, uintptr_t src, size_t n)
{
	uintptr_t here = (uintptr_t)__builtin_frame_address(0), hi = main_stack_top(here);

	if (hi && src >= here && src + n <= hi && src + n > src) {
		memcpy(dst, (const void *)src, n);
		return 0;
	}
	return peek(dst, src, n) == (ssize_t)n ? 0 : -1;
}

static int long_ts(uintptr_t p)
{
	struct timespec t;

	if (!p)
		return 1;
	if (read_user(&t, p, sizeof(t)))
		return 0;   /* EFAULT for the call: it will not wait */
	return t.tv_sec < 0 || t.tv_sec > GT_LONG_WAIT_NS / 1000000000 ||   /* no overflow below */
	       (long long)t.tv_sec * 1000000000 + t.tv_nsec >= GT_LONG_WAIT_NS;
}

static int long_tv(uintptr_t p)
{
	struct timeval t;

	if (!p)
		return 1;
	if (read_user(&t, p, sizeof(t)))
		return 0;
	return t.tv_sec < 0 || t.tv_sec > GT_LONG_WAIT_NS / 1000000000 ||
	       (long long)t.tv_sec * 1000000 + t.tv_usec >= GT_LONG_WAIT_NS / 1000;
}

/* Can a read of fd wait? Not for a regular file, a directory, a block
 * device or a memory device that never blocks (null, zero, full, random,
 * urandom); a pipe, socket, terminal or other device can. Asked once per
 * fd: gt_fd_kind keeps GT_FD_NOWAIT until the fd is closed or replaced
 * through our hooks (a libc-internal close is not seen: a stale answer
 * only lets a read of that fd go by without starting the thread). */
static int fd_waits(int fd)
{
	struct stat st;

	if ((unsigned)fd >= GT_FD_MAX)
		return 1;
	unsigned k = __atomic_load_n(&gt_fd_kind[fd], __ATOMIC_RELAXED);
	if (k == GT_FD_NOWAIT)
		return 0;
	if (k == GT_FD_SOCKET || k == GT_FD_EPOLL_NET)
		return 1;
	if (fstat(fd, &st))
		return 1;
	unsigned mi = S_ISCHR(st.st_mode) && major(st.st_rdev) == 1 ? minor(st.st_rdev) : 0;
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode) || mi == 3 ||
	    mi == 5 || mi == 7 || mi == 8 || mi == 9) {
		gt_fd_note(fd, GT_FD_NOWAIT);
		return 0;
	}
	return 1;
}

int gt_safe_may_wait(unsigned cls, const uint64_t a[6])
{
	int saved = errno, r = 0;

	switch (cls) {
	case GT_W_YES: r = 1; break;
	case GT_W_FD: r = fd_waits((int)a[0]); break;
	case GT_W_MS3: r = (int)a[2] < 0 || (int)a[2] >= GT_LONG_WAIT_NS / 1000000; break;
	case GT_W_MS4: r = (int)a[3] < 0 || (int)a[3] >= GT_LONG_WAIT_NS / 1000000; break;
	case GT_W_TS1: r = long_ts(a[0]); break;
	case GT_W_TS3: r = long_ts(a[2]); break;
	case GT_W_TS5: r = long_ts(a[4]); break;
	case GT_W_TV5: r = long_tv(a[4]); break;
	case GT_W_US1: r = (unsigned)a[0] >= GT_LONG_WAIT_NS / 1000; break;
	case GT_W_S1: r = (unsigned)a[0] != 0; break;
	case GT_W_ABS3: r = ((int)a[1] & TIMER_ABSTIME) || long_ts(a[2]); break;
	case GT_W_WAIT2: r = !((int)a[1] & WNOHANG); break;
	case GT_W_WAIT3: r = !((int)a[2] & WNOHANG); break;
	case GT_W_WAITID: r = !((int)a[3] & WNOHANG); break;
	}
	errno = saved;
	return r;
}

/* Is there a signal frame at a, the kernel's rt_sigframe on x86-64: the
 * handler's return address, then the kernel's ucontext, whose first 296
 * bytes are glibc's ucontext_t's? The kernel writes uc_flags (UC_FP_XSTATE,
 * UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS: at most 7), a null uc_link, the
 * sigaltstack's flags, and the interrupted rsp, which lies above the frame
 * on the stack, with the fpstate (if any) between the two. A struct
 * sigaction the program keeps on its stack (an old action to restore)
 * holds the restorer too, and fails these. (The siginfo after the
 * ucontext is written only for SA_SIGINFO handlers: not a test.) */
#define FRAME(field) ((8 + offsetof(ucontext_t, field)) / 8)
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1u << 31)   /* the kernel's; glibc names it from 2.3x on */
#endif
_Static_assert(FRAME(uc_mcontext.gregs[REG_RSP]) == 21 && FRAME(uc_mcontext.fpregs) == 29,
	       "x86-64 sigcontext layout");

static int sigframe_at(uintptr_t a, uintptr_t hi)
{
	static uint64_t f[FRAME(uc_mcontext.fpregs) + 1];

	if (a + sizeof(f) > hi)
		return 0;   /* no room for one below the top */
	if (peek(f, a, sizeof(f)) != (ssize_t)sizeof(f))
		return 1;
	uint64_t rsp = f[FRAME(uc_mcontext.gregs[REG_RSP])], fp = f[FRAME(uc_mcontext.fpregs)];
	uint32_t ss_flags = (uint32_t)f[FRAME(uc_stack.ss_flags)];
	return f[FRAME(uc_flags)] <= 7 && f[FRAME(uc_link)] == 0 &&
	       !(ss_flags & ~(uint32_t)(SS_ONSTACK | SS_DISABLE | SS_AUTODISARM)) && rsp > a &&
	       rsp <= hi && (fp == 0 || (fp > a && fp < rsp));
}

/* May a signal handler of the program's be running here? No when it has
 * none installed (glibc's own two aside). Else yes on a sigaltstack, off
 * the main thread's stack (another thread, a coroutine's stack), or when
 * a signal frame is on the stack between here and its top: found by the
 * handler's sa_restorer, which the kernel puts at the frame's start (where
 * the handler returns to), then checked (sigframe_at). The restorers are
 * kept off the stack, which is read through process_vm_readv: a page that
 * is not there ends the look, never the program. */
#define SA_RESTORER_FLAG 0x04000000ul   /* the kernel's SA_RESTORER */
static uintptr_t restorers[4];
static uintptr_t stack_page[512] GT_COLD_BSS;

int gt_safe_in_handler(void)
{
	struct { unsigned long handler, flags, restorer, mask; } ka;
	int n = 0;

	for (int sig = 1; sig <= 64; sig++) {
		if (sig == 32 || sig == 33 || sig == SIGKILL || sig == SIGSTOP)
			continue;
		if (gt_syscall(SYS_rt_sigaction, sig, NULL, &ka, 8) || ka.handler == (unsigned long)SIG_DFL ||
		    ka.handler == (unsigned long)SIG_IGN)
			continue;
		if (!(ka.flags & SA_RESTORER_FLAG))
			return 1;
		int k = 0;
		while (k < n && restorers[k] != ka.restorer)
			k++;
		if (k == n) {
			if (n == 4)
				return 1;
			restorers[n++] = ka.restorer;
		}
	}
	if (!n)
		return 0;
	stack_t ss;
	uintptr_t lo = (uintptr_t)__builtin_frame_address(0), hi = main_stack_top(lo);
	if (!hi || gettid() != getpid() || gt_raw(SYS_sigaltstack, 0, (long)&ss, 0) || (ss.ss_flags & SS_ONSTACK))
		return 1;
	while (lo < hi) {
		size_t len = hi - lo < sizeof(stack_page) ? hi - lo : sizeof(stack_page);
		ssize_t got = peek(stack_page, lo, len);
		if (got <= 0)
			return 1;
		for (size_t i = 0; i < (size_t)got / sizeof(uintptr_t); i++)
			for (int k = 0; k < n; k++)
				if (stack_page[i] == restorers[k] &&
				    sigframe_at(lo + i * sizeof(uintptr_t), hi))
					return 1;
		if ((size_t)got < len)
			break;
		lo += len;
	}
	return 0;
}
