/* core/process/door.c - the endpoint of a program of one thread, without a thread.
 *
 * The first pthread_create of a process tells glibc it is threaded for
 * good (__libc_single_threaded, the stdio streams' lock flags): from then
 * on every getc/putc takes the stream's lock, every cancellable syscall
 * checks for cancellation. A one-thread program that putc()s ran 5.5x
 * slower with our service thread beside it, idle. So while no client has
 * come, a program of one thread gets a doorman instead: a task made by a
 * bare clone(), unknown to glibc, with an fd table of its own (a copy,
 * closed down to the listening sockets and the wake pair's loop end) and
 * every signal blocked. It polls; when a client connects it hands the
 * listeners to the wake pair as a parked service thread would (SCM_RIGHTS,
 * numbers as data) and arms the safe points. The first program call that
 * reaches a safe point (core/process/safe.c: a malloc or free not from inside
 * libc, a blocking call no signal handler makes) starts the service
 * thread, which takes the listeners back and serves the client: only then
 * is the program threaded. Where the program waits inside libc instead,
 * the doorman makes that wait a safe point (the kick, below), then ends.
 * A blocking call that may wait long starts the service thread before it
 * waits, client or not (the doorman hands over as for unshare), so no
 * client waits for a call we saw begin.
 *
 * The doorman runs on the main thread's TLS (clone without CLONE_SETTLS):
 * it must touch no TLS, errno included, so it calls no libc function; its
 * code here makes raw syscalls and atomics only, uninstrumented. x86-64
 * only; elsewhere, and under sanitizers or valgrind (which refuses such a
 * clone), the service thread starts at load as before. */
#include "core/process/door.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sched.h>
#include <stdio.h>
#include <ucontext.h>
#include <unistd.h>

#include "core/base/config.h"
#include "core/base/sys.h"
#include "core/process/kick.h"
#include "core/process/api.h"
#include "core/record/api.h"
#include "core/record/thread.h"
#include "core/base/real.h"


/* D_ARMING: a client came, the doorman is pointing the safe points at
 * core; no claim or stop until it is done (D_ARMED), or a program thread
 * could disarm first and the doorman arm after it, for good. */
enum { D_OFF, D_WAITING, D_ARMING, D_ARMED, D_HANDOVER, D_EXIT };

static uint32_t state;     /* atomic: D_* */
static int tid;            /* CLONE_CHILD_CLEARTID: 0 once its task is gone */
static int task;           /* its tid */
static unsigned handed;    /* atomic: fds in the wake pair for the service */
#if DOOR

static struct {
	int fd[3], n;      /* listeners, then the wake pair's loop end */
	void (*on_connect)(void);
} d;

/* clone(flags, stack) running fn(arg) on the new task, which then exits
 * (SYS_exit: this task only). Returns the tid or -errno. */
long gt_door_clone(unsigned long flags, void *stack_top, int *ctid, void (*fn)(void *), void *arg);
__asm__(".text\n"
	".globl gt_door_clone\n"
	".hidden gt_door_clone\n"
	".type gt_door_clone,@function\n"
	"gt_door_clone:\n"
	"\tand $-16, %rsi\n"
	"\tsub $16, %rsi\n"
	"\tmov %rcx, 8(%rsi)\n"
	"\tmov %r8, (%rsi)\n"
	"\tmov %rdx, %r10\n"
	"\txor %edx, %edx\n"
	"\txor %r8d, %r8d\n"
	"\tmov $56, %eax\n"
	"\tsyscall\n"
	"\ttest %rax, %rax\n"
	"\tjnz 1f\n"
	"\txor %ebp, %ebp\n"
	"\tpop %rdi\n"
	"\tpop %rax\n"
	"\tcall *%rax\n"
	"\tmov $60, %eax\n"
	"\txor %edi, %edi\n"
	"\tsyscall\n"
	"\thlt\n"
	"1:\tret\n"
	".size gt_door_clone, .-gt_door_clone\n");

#define STACK_SIZE (64u << 10)
static void *stack;   /* kept for the next doorman (after a stop) */

/* Close every fd but the n in keep (sorted here). */
static GT_RAW void raw_close_all_but(int *keep, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && keep[j - 1] > keep[j]; j--) {
			int t = keep[j];
			keep[j] = keep[j - 1];
			keep[j - 1] = t;
		}
	unsigned lo = 0;
	for (int i = 0; i < n; i++) {
		if ((unsigned)keep[i] > lo)
			gt_raw6(SYS_close_range, lo, (unsigned)keep[i] - 1, 0, 0, 0, 0);
		lo = (unsigned)keep[i] + 1;
	}
	gt_raw6(SYS_close_range, lo, ~0u, 0, 0, 0, 0);
}

/* The listeners to the wake pair: their numbers as data, the fds as
 * SCM_RIGHTS (core/process/fdtable.c's take_handed reads them). */
static GT_RAW int raw_hand_over(void)
{
	int nums[2];
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} c;
	struct iovec iov;
	struct msghdr m;
	struct cmsghdr *h = &c.align;
	int k = d.n - 1;

	for (int i = 0; i < k; i++)
		nums[i] = d.fd[i];
	iov.iov_base = nums;
	iov.iov_len = (size_t)k * sizeof(int);
	m.msg_name = 0;
	m.msg_namelen = 0;
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	m.msg_control = c.buf;
	m.msg_controllen = CMSG_SPACE((size_t)k * sizeof(int));
	m.msg_flags = 0;
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN((size_t)k * sizeof(int));
	int *data = (int *)(void *)CMSG_DATA(h);
	for (int i = 0; i < k; i++)
		data[i] = d.fd[i];
	long r = gt_raw6(SYS_sendmsg, d.fd[k], (long)&m, MSG_DONTWAIT | MSG_NOSIGNAL, 0, 0, 0);
	if (r != (long)iov.iov_len)
		return -1;
	__atomic_store_n(&handed, (unsigned)k, __ATOMIC_RELEASE);
	return 0;
}

static GT_RAW void door_main(void *arg)
{
	int keep[3];
	struct pollfd p[3];

	(void)arg;
	/* ps -L, top -H: ours, not the program's (a literal: no libc). */
	static const char name[16] = "gotrace-door";
	gt_raw6(SYS_prctl, PR_SET_NAME, (long)name, 0, 0, 0, 0);
	keep[0] = d.fd[0];   /* not a loop: the compiler would call memcpy */
	keep[1] = d.fd[1];
	keep[2] = d.fd[2];
	raw_close_all_but(keep, d.n);
	for (;;) {
		for (int i = 0; i < d.n; i++) {
			p[i].fd = d.fd[i];
			p[i].events = POLLIN;
			p[i].revents = 0;
		}
		long r = gt_raw6(SYS_ppoll, (long)p, d.n, 0, 0, 8, 0);
		uint32_t s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);
		if (s == D_EXIT)
			break;
		if (s == D_HANDOVER) {
			raw_hand_over();
			break;
		}
		int client = 0;
		for (int i = 0; r > 0 && i < d.n - 1; i++)
			client |= p[i].revents != 0;
		if (client) {
			uint32_t w = D_WAITING;
			if (raw_hand_over() == 0 &&
			    __atomic_compare_exchange_n(&state, &w, D_ARMING, 0, __ATOMIC_ACQ_REL,
							__ATOMIC_ACQUIRE)) {
				d.on_connect();
				__atomic_store_n(&state, D_ARMED, __ATOMIC_RELEASE);
				gt_kick_loop(&state, D_ARMED);
			}
			break;
		}
		if (r > 0 && p[d.n - 1].revents) {   /* a wake-up byte, or the pair broke */
			char b[64];
			if (gt_raw6(SYS_recvfrom, d.fd[d.n - 1], (long)b, sizeof(b), MSG_DONTWAIT, 0, 0) <= 0 &&
			    (p[d.n - 1].revents & (POLLHUP | POLLERR)))
				break;
		} else if (r < 0 && r != -4 /* EINTR */) {
			break;
		}
	}
	gt_thread_tracer_add(-1);
}

int gt_door_possible(void)
{
	static int ok = -1;

	if (ok < 0)
		ok = !gt_cfg.valgrind && gt_syscall(SYS_close_range, ~0u, ~0u, 0) == 0;
	return ok;
}

int gt_door_start(const int *lfd, int n, int wake_r, void (*on_connect)(void))
{
	sigset_t all, old;

	if (!gt_door_possible() || n < 1 || n > 2 || __atomic_load_n(&tid, __ATOMIC_ACQUIRE))
		return -EINVAL;
	if (!stack) {
		void *s = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (s == MAP_FAILED)
			return -ENOMEM;
		stack = s;
	}
	for (int i = 0; i < n; i++)
		d.fd[i] = lfd[i];
	d.fd[n] = wake_r;
	d.n = n + 1;
	d.on_connect = on_connect;
	gt_kick_setup(getpid());
	__atomic_store_n(&handed, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&state, D_WAITING, __ATOMIC_RELEASE);
	/* Nonzero until the kernel clears it at the task's end (whenever that
	 * is: before clone returns here, even). */
	__atomic_store_n(&tid, -1, __ATOMIC_RELEASE);
	gt_thread_tracer_add(1);
	/* Blocked from its first instruction: no handler of the program's ever
	 * runs on it (it would find the main thread's TLS). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	long r = gt_door_clone(CLONE_VM | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM |
			       CLONE_CHILD_CLEARTID,
			       (char *)stack + STACK_SIZE, &tid, door_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		gt_thread_tracer_add(-1);
		__atomic_store_n(&tid, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&state, D_OFF, __ATOMIC_RELEASE);
		return (int)r;
	}
	task = (int)r;
	return 0;
}

#else   /* !DOOR */

int gt_door_possible(void)
{
	return 0;
}

int gt_door_start(const int *lfd, int n, int wake_r, void (*on_connect)(void))
{
	(void)lfd, (void)n, (void)wake_r, (void)on_connect;
	return -ENOSYS;
}

#endif

/* The doorman waits in gt_kick_loop while D_ARMED: a change wakes it. */
static void armed_over(void)
{
	gt_syscall(SYS_futex, &state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

int gt_door_claim(void)
{
	uint32_t w = D_ARMED;

	if (!__atomic_compare_exchange_n(&state, &w, D_OFF, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return 0;
	armed_over();
	return 1;
}

int gt_door_pending(void)
{
	uint32_t s = __atomic_load_n(&state, __ATOMIC_ACQUIRE);

	return s == D_WAITING || s == D_ARMING || s == D_ARMED;
}

unsigned gt_door_take_handed(void)
{
	return __atomic_exchange_n(&handed, 0, __ATOMIC_ACQ_REL);
}

/* Wait until the doorman's task is gone; the state goes back to D_OFF.
 * Returns whether it handed fds over. */
static int wait_gone(void)
{
	int t, r = 0;

	while ((t = __atomic_load_n(&tid, __ATOMIC_ACQUIRE)) != 0)
		gt_syscall(SYS_futex, &tid, FUTEX_WAIT, t, NULL, NULL, 0);
	/* The kernel clears tid as the task lets go of its memory, a little
	 * before it leaves the thread group, which unshare counts (as
	 * gt_thread_tracer_join waits for a pthread's). */
	for (int i = 0; task && i < 100000 && gt_syscall(SYS_tgkill, getpid(), task, 0) == 0; i++)
		sched_yield();
	task = 0;
	if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) == D_HANDOVER)
		r = __atomic_load_n(&handed, __ATOMIC_ACQUIRE) != 0;
	__atomic_store_n(&state, D_OFF, __ATOMIC_RELEASE);
	return r;
}

int gt_door_hand_over(int wake_w)
{
	char one = 1;

	for (;;) {
		uint32_t s = __atomic_load_n(&state, __ATOMIC_ACQUIRE), w = D_WAITING;
		if (s == D_ARMING) {   /* a moment */
			sched_yield();
			continue;
		}
		if (s == D_ARMED)
			return gt_door_claim();
		if (s != D_WAITING)
			return 0;   /* another thread has it, or it is over */
		if (__atomic_compare_exchange_n(&state, &w, D_HANDOVER, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_ACQUIRE))
			break;
	}
	(void)!gt_write(wake_w, &one, 1);
	wait_gone();
	return 1;
}

int gt_door_stop(int handover, int wake_w)
{
	uint32_t w;
	int r = 0;

	do {   /* an arming doorman is done in a moment: wait for it */
		w = D_WAITING;
		if (__atomic_compare_exchange_n(&state, &w, handover ? D_HANDOVER : D_EXIT, 0,
						__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			break;
	} while (w == D_ARMING && (sched_yield(), 1));
	if (w == D_WAITING) {
		char one = 1;
		if (wake_w < 0)
			return 0;   /* exit: it never arms now, and dies with us */
		(void)!gt_write(wake_w, &one, 1);
	} else if (w == D_ARMED) {   /* it handed its fds over, and ends now */
		__atomic_store_n(&state, D_OFF, __ATOMIC_RELEASE);
		armed_over();
		r = 1;
		if (wake_w < 0)
			return r;
	}
	return wait_gone() || r;
}

void gt_door_after_fork_child(void)
{
#if DOOR
	gt_kick_undo();   /* forked in the moment a kick was under way */
#endif
	__atomic_store_n(&state, D_OFF, __ATOMIC_RELAXED);
	__atomic_store_n(&tid, 0, __ATOMIC_RELAXED);
	task = 0;
	__atomic_store_n(&handed, 0, __ATOMIC_RELAXED);
}
