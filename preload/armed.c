/* preload/armed.c - the safe points of a one-thread program whose endpoint
 * has a client waiting (core/door.c). Arming points some of gt_real's
 * functions at trampolines that first offer core the moment to start the
 * service thread (gt_service_safe_point), then go on to the real function;
 * disarming points them back. Idle hooks stay as they are: no check is
 * added to any path, armed or not.
 *
 * malloc and free: their idle hooks tail-jump to gt_real, so the
 * trampoline's return address is the program's call site, which tells
 * calls from inside libc (pthread_create's own, dlopen's, stdio's) from
 * the program's. The blocking calls go through one stub each that keeps
 * every argument register. x86-64 only, like the doorman. */
#include <stdint.h>

#include "core/gotrace.h"
#include "preload/real.h"

#if defined(__x86_64__) && defined(__linux__)

#define ARMED_FNS(X)                                                         \
	X(0, pthread_mutex_lock) X(1, pthread_cond_wait) X(2, pthread_cond_timedwait) \
	X(3, read) X(4, write) X(5, readv) X(6, writev) X(7, pread64)            \
	X(8, pwrite64) X(9, poll) X(10, ppoll) X(11, select) X(12, pselect)      \
	X(13, epoll_wait) X(14, epoll_pwait) X(15, nanosleep)                    \
	X(16, clock_nanosleep) X(17, usleep) X(18, sleep) X(19, accept)          \
	X(20, accept4) X(21, connect) X(22, recv) X(23, recvfrom) X(24, recvmsg) \
	X(25, send) X(26, sendto) X(27, sendmsg) X(28, open) X(29, openat)      \
	X(30, close) X(31, waitpid) X(32, wait4) X(33, fsync)
#define N_PLAIN 3   /* the first ones: not async-signal-safe */
#define N_STUBS 34
#define N_ALL (N_STUBS + 2)   /* + malloc, free */


void *gt_armed_enter(unsigned i);

#define STUB(i, name)                                                         \
	void gt_armed_##name(void);                                           \
	__asm__(".text\n.p2align 4\n"                                         \
		".hidden gt_armed_" #name "\n"                                \
		".type gt_armed_" #name ",@function\n"                        \
		"gt_armed_" #name ":\n"                                       \
		"\tpush %rdi\n\tpush %rsi\n\tpush %rdx\n\tpush %rcx\n"        \
		"\tpush %r8\n\tpush %r9\n\tpush %rax\n"                       \
		"\tmov $" #i ", %edi\n"                                       \
		"\tcall gt_armed_enter\n"                                     \
		"\tmov %rax, %r11\n"                                          \
		"\tpop %rax\n\tpop %r9\n\tpop %r8\n\tpop %rcx\n"              \
		"\tpop %rdx\n\tpop %rsi\n\tpop %rdi\n"                        \
		"\tjmp *%r11\n"                                               \
		".size gt_armed_" #name ", .-gt_armed_" #name "\n");
ARMED_FNS(STUB)
#undef STUB

static void *saved[N_ALL];   /* the real functions while armed */

static void *armed_malloc(size_t n);
static void armed_free(void *p);

static void **const slot[N_ALL] = {
#define SLOT(i, name) [i] = (void **)&gt_real.name,
	ARMED_FNS(SLOT)
#undef SLOT
	[N_STUBS] = (void **)&gt_real.malloc,
	[N_STUBS + 1] = (void **)&gt_real.free,
};

static void *const tramp[N_ALL] = {
#define TRAMP(i, name) [i] = (void *)gt_armed_##name,
	ARMED_FNS(TRAMP)
#undef TRAMP
	[N_STUBS] = (void *)armed_malloc,
	[N_STUBS + 1] = (void *)armed_free,
};

__attribute__((used)) void *gt_armed_enter(unsigned i)
{
	gt_service_safe_point(i < N_PLAIN ? GT_SAFE_PLAIN : GT_SAFE_SIGNAL, 0);
	return saved[i];
}

static __attribute__((noinline)) void *armed_malloc(size_t n)
{
	gt_service_safe_point(GT_SAFE_CALLER, (uintptr_t)__builtin_return_address(0));
	return ((void *(*)(size_t))saved[N_STUBS])(n);
}

static __attribute__((noinline)) void armed_free(void *p)
{
	gt_service_safe_point(GT_SAFE_CALLER, (uintptr_t)__builtin_return_address(0));
	((void (*)(void *))saved[N_STUBS + 1])(p);
}

static GT_RAW void arm(void)  /* on the doorman: atomics only */
{
	for (int i = 0; i < N_ALL; i++) {
		void *r = __atomic_load_n(slot[i], __ATOMIC_RELAXED);
		if (r && r != tramp[i]) {
			__atomic_store_n(&saved[i], r, __ATOMIC_RELAXED);
			__atomic_store_n(slot[i], tramp[i], __ATOMIC_RELEASE);
		}
	}
}

static void disarm(void)
{
	for (int i = 0; i < N_ALL; i++) {
		void *t = tramp[i];
		__atomic_compare_exchange_n(slot[i], &t, saved[i], 0, __ATOMIC_RELEASE,
					    __ATOMIC_RELAXED);
	}
}

void gt_armed_init(void)
{
	gt_service_set_arm(arm, disarm);
}

#else

void gt_armed_init(void)
{
}

#endif
