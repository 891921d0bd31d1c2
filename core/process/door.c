/* core/door.c - the endpoint of a program of one thread, without a thread.
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
 * reaches a safe point (core/safe.c: a malloc or free not from inside
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
#include "core/process/api.h"
#include "core/record/api.h"
#include "core/record/thread.h"

#if defined(__x86_64__) && defined(__linux__) && !defined(__SANITIZE_THREAD__) && \
	!defined(__SANITIZE_ADDRESS__)
#define DOOR 1
#else
#define DOOR 0
#endif

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

static inline long raw6(long nr, long a, long b, long c, long e, long f, long g)
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
			raw6(SYS_close_range, lo, (unsigned)keep[i] - 1, 0, 0, 0, 0);
		lo = (unsigned)keep[i] + 1;
	}
	raw6(SYS_close_range, lo, ~0u, 0, 0, 0, 0);
}

/* The listeners to the wake pair: their numbers as data, the fds as
 * SCM_RIGHTS (core/fdtable.c's take_handed reads them). */
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
	long r = raw6(SYS_sendmsg, d.fd[k], (long)&m, MSG_DONTWAIT | MSG_NOSIGNAL, 0, 0, 0);
	if (r != (long)iov.iov_len)
		return -1;
	__atomic_store_n(&handed, (unsigned)k, __ATOMIC_RELEASE);
	return 0;
}

/* The kick. A client came (D_ARMED), but the program's one thread reaches
 * no safe point: it waits in a call made inside libc, which no hook sees
 * (fgets, getchar or fread on a pipe, socket or terminal: read; system,
 * pclose: wait4). So the doorman stays after arming and looks at the
 * thread (/proc/self/task/PID/syscall) 2 ms later, then 4, 8 ... 640 ms,
 * then every 640 ms, until a safe point claims the start. When the
 * thread waits in a call the kernel restarts after a SA_RESTART handler
 * (read or readv of anything but a file, directory or block device;
 * recvfrom, recvmsg, accept, accept4, wait4, waitid; open or openat,
 * which waits only for a FIFO's other end), and SIGURG is
 * neither blocked nor handled by the program, it installs a handler for
 * SIGURG (Go's choice: ignored by default, seldom used) and sends one to
 * the thread. The handler puts SIG_DFL back first, then checks that the
 * thread was stopped at that very call (its pc, stack pointer and first
 * argument): a thread waiting there holds no libc lock and has no malloc
 * half done, so it is a safe point (the handler look still applies: a
 * program's own handler waiting there is not). The call goes on as if no
 * signal came: the kernel restarts it, or, where it would have returned
 * EINTR (a socket with SO_RCVTIMEO), the handler does, and its time-out
 * starts again. A client of a program that computes without calls, or
 * waits in a call not listed, still waits for the next safe point. */
#define KICK_SIG SIGURG
#define KSA_RESTORER 0x04000000ul   /* the kernel's SA_RESTORER */
#define KICK_MAX_MS 640

struct ksa {   /* the kernel's struct sigaction */
	unsigned long handler, flags, restorer;
	uint64_t mask;
};

static struct {
	char sys[48], status[48];   /* /proc/self/task/PID/{syscall,status} */
	int pid;
	long nr;                    /* the call seen, its first argument, */
	uint64_t a1, sp, pc;        /* stack pointer and pc after it */
} k;

/* The kernel's return from a handler; the bytes of glibc's __restore_rt
 * (movq $15, %rax; syscall), which unwinders know as a signal frame. */
void gt_door_restorer(void);
__asm__(".text\n"
	".globl gt_door_restorer\n"
	".hidden gt_door_restorer\n"
	".type gt_door_restorer,@function\n"
	"gt_door_restorer:\n"
	"\t.byte 0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00\n"
	"\tsyscall\n"
	".size gt_door_restorer, .-gt_door_restorer\n");

/* On the program's thread, its signals blocked (sa_mask: all). */
static void kicked(int sig, siginfo_t *si, void *ctx)
{
	greg_t *g = ((ucontext_t *)ctx)->uc_mcontext.gregs;
	struct ksa dfl = { (unsigned long)SIG_DFL, 0, 0, 0 };
	int saved = errno;

	/* First: the handler look (gt_safe_in_handler) must not count ours. */
	raw6(SYS_rt_sigaction, sig, (long)&dfl, 0, 8, 0, 0);
	long nr = __atomic_load_n(&k.nr, __ATOMIC_ACQUIRE);
	if (si->si_code != SI_TKILL || si->si_pid != k.pid || nr < 0 ||
	    (uint64_t)g[REG_RSP] != k.sp || (uint64_t)g[REG_RDI] != k.a1)
		goto out;
	if ((uint64_t)g[REG_RIP] == k.pc && g[REG_RAX] == -EINTR) {
		g[REG_RIP] -= 2;   /* back to the syscall instruction */
		g[REG_RAX] = nr;
	} else if ((uint64_t)g[REG_RIP] != k.pc - 2 || g[REG_RAX] != nr) {
		goto out;   /* somewhere else by now: not known to be safe */
	}
	gt_service_safe_point(GT_SAFE_SIGNAL, 0, 0);
out:
	errno = saved;
}

static GT_RAW long raw_read_file(const char *path, char *buf, long size)
{
	long fd = raw6(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0)
		return -1;
	long r = raw6(SYS_read, fd, (long)buf, size - 1, 0, 0, 0);
	raw6(SYS_close, fd, 0, 0, 0, 0, 0);
	if (r < 0)
		return -1;
	buf[r] = 0;
	return r;
}

static GT_RAW const char *hex(const char *s, uint64_t *v)
{
	*v = 0;
	while (*s == ' ')
		s++;
	if (s[0] == '0' && s[1] == 'x')
		s += 2;
	for (;; s++) {
		unsigned c = (unsigned char)*s, x;
		if (c >= '0' && c <= '9')
			x = c - '0';
		else if (c >= 'a' && c <= 'f')
			x = c - 'a' + 10;
		else
			return s;
		*v = *v << 4 | x;
	}
}

/* May a read of the program's fd wait (not a file, directory or block
 * device)? Its fd table is not ours: through /proc/self/fd, the leader's. */
static GT_RAW int fd_may_wait(uint64_t fd)
{
	static const char dir[] = "/proc/self/fd/";
	char path[40], digits[24];
	struct stat st;
	int n = 0, i = 0;

	if (fd > 1u << 30)
		return 0;
	for (; dir[i]; i++)   /* no string call: the doorman has no libc */
		path[i] = dir[i];
	do
		digits[n++] = (char)('0' + fd % 10);
	while ((fd /= 10));
	while (n)
		path[i++] = digits[--n];
	path[i] = 0;
	if (raw6(SYS_newfstatat, AT_FDCWD, (long)path, (long)&st, 0, 0, 0))
		return 0;
	return !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISBLK(st.st_mode);
}

/* Is KICK_SIG blocked on the thread? (unknown: yes) */
static GT_RAW int kick_blocked(void)
{
	char b[4096];   /* Groups: can be long; not found is "blocked" */
	uint64_t mask;

	if (raw_read_file(k.status, b, sizeof(b)) <= 0)
		return 1;
	for (const char *s = b; *s; s++)
		if (s[0] == '\n' && s[1] == 'S' && s[2] == 'i' && s[3] == 'g' && s[4] == 'B' &&
		    s[5] == 'l' && s[6] == 'k' && s[7] == ':') {
			const char *e = hex(s + 9, &mask);
			return e == s + 9 || (mask >> (KICK_SIG - 1) & 1);
		}
	return 1;
}

/* Our handler, if it is still installed, goes (a pending kick with it). */
static GT_RAW void kick_undo(void)
{
	struct ksa cur, dfl = { (unsigned long)SIG_DFL, 0, 0, 0 };

	if (raw6(SYS_rt_sigaction, KICK_SIG, 0, (long)&cur, 8, 0, 0) == 0 &&
	    cur.handler == (unsigned long)kicked)
		raw6(SYS_rt_sigaction, KICK_SIG, (long)&dfl, 0, 8, 0, 0);
}

/* The call the thread waits in, from /proc/self/task/PID/syscall: its
 * number, six arguments, stack pointer and pc. 0 when it waits in none
 * ("running", or "-1 sp pc"). The text goes to b. */
static GT_RAW int kick_call(char *b, long size, uint64_t *nr, uint64_t a[8])
{
	const char *s = b;

	if (raw_read_file(k.sys, b, size) <= 0 || *s < '0' || *s > '9')
		return 0;
	for (*nr = 0; *s >= '0' && *s <= '9'; s++)
		*nr = *nr * 10 + (uint64_t)(*s - '0');
	for (int i = 0; i < 8; i++) {
		const char *e = hex(s, &a[i]);
		if (e == s)
			return 0;
		s = e;
	}
	return 1;
}

static GT_RAW int same_text(const char *x, const char *y)
{
	while (*x && *x == *y)
		x++, y++;
	return *x == *y;
}

static GT_RAW void kick_look(void)
{
	char b[256], again[256];
	uint64_t nr, a[8];
	struct ksa old, act = { (unsigned long)kicked, SA_SIGINFO | SA_RESTART | KSA_RESTORER,
				(unsigned long)gt_door_restorer, ~0ull };

	if (kick_blocked() || raw6(SYS_rt_sigaction, KICK_SIG, 0, (long)&old, 8, 0, 0) ||
	    old.handler != (unsigned long)SIG_DFL)
		return;   /* the program's signal: not ours to take */
	if (!kick_call(b, sizeof(b), &nr, a))
		return;
	switch (nr) {
	case SYS_read:
	case SYS_readv:
		if (!fd_may_wait(a[0]))
			return;
		break;
	case SYS_recvfrom:
	case SYS_recvmsg:
	case SYS_accept:
	case SYS_accept4:
	case SYS_wait4:
	case SYS_waitid:
	case SYS_open:     /* of a FIFO, waiting for the other end */
	case SYS_openat:
		break;
	default:
		return;
	}
	/* Still in it, a moment before the signal: a call that returned in
	 * between and a next one that a handler would end with EINTR (poll,
	 * nanosleep) are a few microseconds' chance, not the looks'. */
	if (raw_read_file(k.sys, again, sizeof(again)) <= 0 || !same_text(b, again))
		return;
	k.a1 = a[0];
	k.sp = a[6];
	k.pc = a[7];
	__atomic_store_n(&k.nr, (long)nr, __ATOMIC_RELEASE);
	if (raw6(SYS_rt_sigaction, KICK_SIG, (long)&act, 0, 8, 0, 0) == 0)
		raw6(SYS_tgkill, k.pid, k.pid, KICK_SIG, 0, 0, 0);
}

/* Armed: look and kick until the state leaves D_ARMED (a claim, a stop:
 * each wakes the futex). */
static GT_RAW void kick_loop(void)
{
	long ms = 2;

	for (;;) {
		struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };
		raw6(SYS_futex, (long)&state, FUTEX_WAIT_PRIVATE, D_ARMED, (long)&ts, 0, 0);
		if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) != D_ARMED)
			break;
		kick_undo();   /* undelivered: blocked after all, or held up */
		kick_look();
		if (ms < KICK_MAX_MS)
			ms *= 2;
	}
	__atomic_store_n(&k.nr, -1, __ATOMIC_RELEASE);
	kick_undo();
}

static GT_RAW void door_main(void *arg)
{
	int keep[3];
	struct pollfd p[3];

	(void)arg;
	/* ps -L, top -H: ours, not the program's (a literal: no libc). */
	static const char name[16] = "gotrace-door";
	raw6(SYS_prctl, PR_SET_NAME, (long)name, 0, 0, 0, 0);
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
		long r = raw6(SYS_ppoll, (long)p, d.n, 0, 0, 8, 0);
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
				kick_loop();
			}
			break;
		}
		if (r > 0 && p[d.n - 1].revents) {   /* a wake-up byte, or the pair broke */
			char b[64];
			if (raw6(SYS_recvfrom, d.fd[d.n - 1], (long)b, sizeof(b), MSG_DONTWAIT, 0, 0) <= 0 &&
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
		ok = !gt_cfg.valgrind && syscall(SYS_close_range, ~0u, ~0u, 0) == 0;
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
	k.pid = getpid();
	k.nr = -1;
	snprintf(k.sys, sizeof(k.sys), "/proc/self/task/%d/syscall", k.pid);
	snprintf(k.status, sizeof(k.status), "/proc/self/task/%d/status", k.pid);
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

/* The doorman waits in kick_loop while D_ARMED: a change wakes it. */
static void armed_over(void)
{
	syscall(SYS_futex, &state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
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
		syscall(SYS_futex, &tid, FUTEX_WAIT, t, NULL, NULL, 0);
	/* The kernel clears tid as the task lets go of its memory, a little
	 * before it leaves the thread group, which unshare counts (as
	 * gt_thread_tracer_join waits for a pthread's). */
	for (int i = 0; task && i < 100000 && syscall(SYS_tgkill, getpid(), task, 0) == 0; i++)
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
	(void)!write(wake_w, &one, 1);
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
		(void)!write(wake_w, &one, 1);
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
	kick_undo();   /* forked in the moment a kick was under way */
#endif
	__atomic_store_n(&state, D_OFF, __ATOMIC_RELAXED);
	__atomic_store_n(&tid, 0, __ATOMIC_RELAXED);
	task = 0;
	__atomic_store_n(&handed, 0, __ATOMIC_RELAXED);
}
