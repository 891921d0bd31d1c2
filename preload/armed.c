/* preload/armed.c - the safe points of a one-thread program whose endpoint
 * is kept by a doorman (core/process/door.c). Arming points some of gt_real's
 * functions at trampolines that first offer core the moment to start the
 * service thread (gt_service_safe_point), then go on to the real function;
 * disarming points them back. Idle hooks stay as they are: no check is
 * added to any of their paths.
 *
 * Two levels. From the doorman's start, the blocking calls are pre-armed:
 * one that may wait long (a read of a pipe, socket or terminal, a poll or
 * sleep of 100 ms or more or without end, accept, recv, wait, pause, ...)
 * starts the service thread before it waits, so a client never waits for
 * a call we saw begin. Once a client is waiting (the doorman armed), every
 * call here is a safe point, malloc and free included.
 *
 * malloc and free: their idle hooks tail-jump to gt_real, so the
 * trampoline's return address is the program's call site, which tells
 * calls from inside libc (pthread_create's own, dlopen's, stdio's) from
 * the program's. The blocking calls go through one thunk each that keeps
 * every argument register and passes core a pointer to them. x86-64 only,
 * like the doorman. */
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "core/process/api.h"
#include "preload/hook.h"

#if defined(__x86_64__) && defined(__linux__)

/* X(index, name, kind, wait): kind PLAIN for calls that are not
 * async-signal-safe (no handler may make them), SIGNAL for the rest. */
#define ARMED_FNS(X)                                                                      \
	X(0, pthread_mutex_lock, PLAIN, GT_W_NO) X(1, pthread_cond_wait, PLAIN, GT_W_YES) \
	X(2, pthread_cond_timedwait, PLAIN, GT_W_YES) X(3, read, SIGNAL, GT_W_FD)         \
	X(4, write, SIGNAL, GT_W_NO) X(5, readv, SIGNAL, GT_W_FD)                         \
	X(6, writev, SIGNAL, GT_W_NO) X(7, pread64, SIGNAL, GT_W_NO)                      \
	X(8, pwrite64, SIGNAL, GT_W_NO) X(9, poll, SIGNAL, GT_W_MS3)                      \
	X(10, ppoll, SIGNAL, GT_W_TS3) X(11, select, SIGNAL, GT_W_TV5)                    \
	X(12, pselect, SIGNAL, GT_W_TS5) X(13, epoll_wait, SIGNAL, GT_W_MS4)              \
	X(14, epoll_pwait, SIGNAL, GT_W_MS4) X(15, nanosleep, SIGNAL, GT_W_TS1)           \
	X(16, clock_nanosleep, SIGNAL, GT_W_ABS3) X(17, usleep, SIGNAL, GT_W_US1)         \
	X(18, sleep, SIGNAL, GT_W_S1) X(19, accept, SIGNAL, GT_W_YES)                     \
	X(20, accept4, SIGNAL, GT_W_YES) X(21, connect, SIGNAL, GT_W_YES)                 \
	X(22, recv, SIGNAL, GT_W_YES) X(23, recvfrom, SIGNAL, GT_W_YES)                   \
	X(24, recvmsg, SIGNAL, GT_W_YES) X(25, send, SIGNAL, GT_W_NO)                     \
	X(26, sendto, SIGNAL, GT_W_NO) X(27, sendmsg, SIGNAL, GT_W_NO)                    \
	X(28, open, SIGNAL, GT_W_NO) X(29, openat, SIGNAL, GT_W_NO)                       \
	X(30, close, SIGNAL, GT_W_NO) X(31, waitpid, SIGNAL, GT_W_WAIT3)                  \
	X(32, wait4, SIGNAL, GT_W_WAIT3) X(33, fsync, SIGNAL, GT_W_NO)                    \
	X(34, __read_chk, SIGNAL, GT_W_FD) X(35, __recv_chk, SIGNAL, GT_W_YES)            \
	X(36, __recvfrom_chk, SIGNAL, GT_W_YES) X(37, recvmmsg, SIGNAL, GT_W_YES)         \
	X(38, __poll_chk, SIGNAL, GT_W_MS3) X(39, __ppoll_chk, SIGNAL, GT_W_TS3)          \
	X(40, pause, SIGNAL, GT_W_YES) X(41, sigsuspend, SIGNAL, GT_W_YES)                \
	X(42, sigwait, SIGNAL, GT_W_YES) X(43, sigwaitinfo, SIGNAL, GT_W_YES)             \
	X(44, sigtimedwait, SIGNAL, GT_W_TS3) X(45, wait, SIGNAL, GT_W_YES)               \
	X(46, waitid, SIGNAL, GT_W_WAITID) X(47, sem_wait, SIGNAL, GT_W_YES)              \
	X(48, sem_timedwait, SIGNAL, GT_W_YES) X(49, flock, SIGNAL, GT_W_YES)             \
	X(50, pthread_cond_clockwait, PLAIN, GT_W_YES) X(51, wait3, SIGNAL, GT_W_WAIT2)
#define N_THUNKS 52
#define N_ALL (N_THUNKS + 2)   /* + malloc, free */

void *gt_armed_enter(unsigned i, const uint64_t *regs);

#define THUNK(i, name, kind, wait)                                             \
	void gt_armed_##name(void);                                           \
	__asm__(".text\n.p2align 4\n"                                         \
		".hidden gt_armed_" #name "\n"                                \
		".type gt_armed_" #name ",@function\n"                        \
		"gt_armed_" #name ":\n"                                       \
		"\tpush %rdi\n\tpush %rsi\n\tpush %rdx\n\tpush %rcx\n"        \
		"\tpush %r8\n\tpush %r9\n\tpush %rax\n"                       \
		"\tmov $" #i ", %edi\n"                                       \
		"\tmov %rsp, %rsi\n"                                          \
		"\tcall gt_armed_enter\n"                                     \
		"\tmov %rax, %r11\n"                                          \
		"\tpop %rax\n\tpop %r9\n\tpop %r8\n\tpop %rcx\n"              \
		"\tpop %rdx\n\tpop %rsi\n\tpop %rdi\n"                        \
		"\tjmp *%r11\n"                                               \
		".size gt_armed_" #name ", .-gt_armed_" #name "\n");
ARMED_FNS(THUNK)
#undef THUNK

static void *saved[N_ALL];   /* the real functions while armed */
static uint32_t client;      /* atomic: a client waits (the doorman armed) */

/* The reads of an fd (GT_W_FD), pre-armed: a file's read, which never
 * waits (the common case: st-syscalls' /dev/zero), goes on to the real
 * function from here, a tail jump, without the thunk's seven pushes and
 * its call (+sock 1.097 -> 1.05 plain, where idle without the endpoint
 * is 1.039); the rest through the thunk. */
#define FD_FAST(i, name, ret, params, args)                                                  \
	ret gt_armed_##name##_typed params __asm__("gt_armed_" #name);                       \
	static ret armed_##name params                                                       \
	{                                                                                    \
		if (__builtin_expect(!__atomic_load_n(&client, __ATOMIC_RELAXED) &&          \
				     (unsigned)fd < GT_FD_MAX &&                             \
				     __atomic_load_n(&gt_fd_kind[fd], __ATOMIC_RELAXED) ==   \
					     GT_FD_NOWAIT, 1))                               \
			return ((ret(*) params)__atomic_load_n(&saved[i], __ATOMIC_RELAXED)) args; \
		return gt_armed_##name##_typed args;                                         \
	}
FD_FAST(3, read, ssize_t, (int fd, void *b, size_t n), (fd, b, n))
FD_FAST(5, readv, ssize_t, (int fd, const struct iovec *v, int n), (fd, v, n))
FD_FAST(34, __read_chk, ssize_t, (int fd, void *b, size_t n, size_t m), (fd, b, n, m))
#undef FD_FAST

static void *armed_malloc(size_t n);
static void armed_free(void *p);

static void **const slot[N_ALL] = {
#define SLOT(i, name, kind, wait) [i] = (void **)&gt_real.name,
	ARMED_FNS(SLOT)
#undef SLOT
	[N_THUNKS] = (void **)&gt_real.malloc,
	[N_THUNKS + 1] = (void **)&gt_real.free,
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"   /* the reads' own, below */
static void *const tramp[N_ALL] = {
#define TRAMP(i, name, kind, wait) [i] = (void *)gt_armed_##name,
	ARMED_FNS(TRAMP)
#undef TRAMP
	[3] = (void *)armed_read,
	[5] = (void *)armed_readv,
	[34] = (void *)armed___read_chk,
	[N_THUNKS] = (void *)armed_malloc,
	[N_THUNKS + 1] = (void *)armed_free,
};
#pragma GCC diagnostic pop

static const uint8_t kinds[N_THUNKS] = {
#define KIND(i, name, kind, wait) [i] = GT_SAFE_##kind,
	ARMED_FNS(KIND)
#undef KIND
};

static const uint8_t waits[N_THUNKS] = {
#define WAIT(i, name, kind, wait) [i] = wait,
	ARMED_FNS(WAIT)
#undef WAIT
};

/* regs: rax r9 r8 rcx rdx rsi rdi, lowest address first. */
__attribute__((used)) void *gt_armed_enter(unsigned i, const uint64_t *regs)
{
	if (__atomic_load_n(&client, __ATOMIC_ACQUIRE)) {
		gt_service_safe_point(kinds[i], 0, 0);
	} else if (waits[i] != GT_W_NO && !gt_tls.in_tracer) {
		/* (a file's read, GT_W_FD, was answered before the thunk: FD_FAST) */
		const uint64_t a[6] = { regs[6], regs[5], regs[4], regs[3], regs[2], regs[1] };
		if (gt_safe_may_wait(waits[i], a))
			gt_service_safe_point(kinds[i], 0, 1);
	}
	return saved[i];
}

static __attribute__((noinline)) void *armed_malloc(size_t n)
{
	gt_service_safe_point(GT_SAFE_CALLER, (uintptr_t)__builtin_return_address(0), 0);
	return ((void *(*)(size_t))saved[N_THUNKS])(n);
}

static __attribute__((noinline)) void armed_free(void *p)
{
	gt_service_safe_point(GT_SAFE_CALLER, (uintptr_t)__builtin_return_address(0), 0);
	((void (*)(void *))saved[N_THUNKS + 1])(p);
}

/* Point slots [0, n) at their trampolines; with waits only, those of the
 * calls that may wait (the rest have nothing to check before a client
 * comes). On the doorman too (arm): atomics only. */
static GT_RAW void swap_in(int n, int waits_only)
{
	for (int i = 0; i < n; i++) {
		if (waits_only && waits[i] == GT_W_NO)
			continue;
		void *r = __atomic_load_n(slot[i], __ATOMIC_RELAXED);
		if (r && r != tramp[i]) {
			__atomic_store_n(&saved[i], r, __ATOMIC_RELAXED);
			__atomic_store_n(slot[i], tramp[i], __ATOMIC_RELEASE);
		}
	}
	if (n > N_THUNKS)
		gt_malloc_repath();   /* malloc and free jump through their slots' values */
}

static void prearm(void)   /* on the program's thread, at the doorman's start */
{
	swap_in(N_THUNKS, 1);
}

static GT_RAW void arm(void)   /* on the doorman: a client came */
{
	swap_in(N_ALL, 0);
	__atomic_store_n(&client, 1, __ATOMIC_RELEASE);
}

static void disarm(void)
{
	__atomic_store_n(&client, 0, __ATOMIC_RELAXED);
	for (int i = 0; i < N_ALL; i++) {
		void *t = tramp[i];
		__atomic_compare_exchange_n(slot[i], &t, saved[i], 0, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED);
	}
	gt_malloc_repath();
}

static const char *const names[N_THUNKS] = {
#define NAME(i, name, kind, wait) [i] = #name,
	ARMED_FNS(NAME)
#undef NAME
};

/* A call made through a trampoline shows the function's name; so does the
 * real one while its slot holds the trampoline (gt_real names it else).
 * Asked by the writer, for a frame no other name fits. */
static const char *name_of(uintptr_t pc)
{
	for (int i = 0; i < N_THUNKS; i++)
		if (pc == (uintptr_t)tramp[i] ||
		    pc == (uintptr_t)__atomic_load_n(&saved[i], __ATOMIC_RELAXED))
			return names[i];
	return NULL;
}

/* The real function behind a trampoline, or 0. */
static uintptr_t real_of(uintptr_t pc)
{
	for (int i = 0; i < N_THUNKS; i++)
		if (pc == (uintptr_t)tramp[i])
			return (uintptr_t)__atomic_load_n(&saved[i], __ATOMIC_RELAXED);
	return 0;
}

void gt_armed_init(void)
{
	gt_name_resolver(name_of, real_of);
	gt_service_set_arm(prearm, arm, disarm);
}

#else

void gt_armed_init(void)
{
}

#endif
