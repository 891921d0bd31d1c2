/* core/process/kick.c - the doorman's kick (core/process/door.c): a
 * program that waits inside libc is made to reach a safe point. */
#include "core/process/kick.h"

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
#include "core/base/procfs.h"
#include "core/base/sys.h"
#include "core/process/kick.h"
#include "core/process/api.h"
#include "core/record/api.h"
#include "core/record/thread.h"
#include "core/base/real.h"


#if DOOR

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
	gt_raw6(SYS_rt_sigaction, sig, (long)&dfl, 0, 8, 0, 0);
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
	if (gt_raw6(SYS_newfstatat, AT_FDCWD, (long)path, (long)&st, 0, 0, 0))
		return 0;
	return !S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode) && !S_ISBLK(st.st_mode);
}

/* Is KICK_SIG blocked on the thread? (unknown: yes) */
static GT_RAW int kick_blocked(void)
{
	char b[4096];   /* Groups: can be long; not found is "blocked" */
	uint64_t mask;

	if (gt_raw_read_file(k.status, b, sizeof(b)) <= 0)
		return 1;
	for (const char *s = b; *s; s++)
		if (s[0] == '\n' && s[1] == 'S' && s[2] == 'i' && s[3] == 'g' && s[4] == 'B' &&
		    s[5] == 'l' && s[6] == 'k' && s[7] == ':') {
			const char *e = gt_scan_hex(s + 9, &mask);
			return e == s + 9 || (mask >> (KICK_SIG - 1) & 1);
		}
	return 1;
}

/* Our handler, if it is still installed, goes (a pending kick with it). */
static GT_RAW void kick_undo(void)
{
	struct ksa cur, dfl = { (unsigned long)SIG_DFL, 0, 0, 0 };

	if (gt_raw6(SYS_rt_sigaction, KICK_SIG, 0, (long)&cur, 8, 0, 0) == 0 &&
	    cur.handler == (unsigned long)kicked)
		gt_raw6(SYS_rt_sigaction, KICK_SIG, (long)&dfl, 0, 8, 0, 0);
}

/* The call the thread waits in (core/base/procfs.h); the text goes to b. */
static GT_RAW int kick_call(char *b, long size, uint64_t *nr, uint64_t a[8])
{
	return gt_proc_syscall(k.sys, b, size, nr, a);
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

	if (kick_blocked() || gt_raw6(SYS_rt_sigaction, KICK_SIG, 0, (long)&old, 8, 0, 0) ||
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
	if (gt_raw_read_file(k.sys, again, sizeof(again)) <= 0 || !same_text(b, again))
		return;
	k.a1 = a[0];
	k.sp = a[6];
	k.pc = a[7];
	__atomic_store_n(&k.nr, (long)nr, __ATOMIC_RELEASE);
	if (gt_raw6(SYS_rt_sigaction, KICK_SIG, (long)&act, 0, 8, 0, 0) == 0)
		gt_raw6(SYS_tgkill, k.pid, k.pid, KICK_SIG, 0, 0, 0);
}

void gt_kick_setup(int pid)
{
	k.pid = pid;
	k.nr = -1;
	snprintf(k.sys, sizeof(k.sys), "/proc/self/task/%d/syscall", k.pid);
	snprintf(k.status, sizeof(k.status), "/proc/self/task/%d/status", k.pid);
}

GT_RAW void gt_kick_undo(void)
{
	kick_undo();
}

GT_RAW void gt_kick_loop(uint32_t *state, uint32_t armed)
{
	long ms = 2;

	for (;;) {
		struct timespec ts = { ms / 1000, ms % 1000 * 1000000 };
		gt_raw6(SYS_futex, (long)state, FUTEX_WAIT_PRIVATE, armed, (long)&ts, 0, 0);
		if (__atomic_load_n(state, __ATOMIC_ACQUIRE) != armed)
			break;
		kick_undo();   /* undelivered: blocked after all, or held up */
		kick_look();
		if (ms < KICK_MAX_MS)
			ms *= 2;
	}
	__atomic_store_n(&k.nr, -1, __ATOMIC_RELEASE);
	kick_undo();
}

#endif
