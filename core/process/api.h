/* core/process/api.h - what preload/ asks of the process layer: load,
 * exit, exec, fork's cousins (namespaces, long-lived servers), dlclose, and
 * a one-thread program's safe points. Every function keeps errno. */
#ifndef GT_PROCESS_API_H
#define GT_PROCESS_API_H

#include <stdint.h>

/* Library load (constructor) and the pieces of it preload/ provides. */
void gt_init(void);

/* Process exit (atexit, and _exit/_Exit, which skip atexit): finish the
 * trace and remove the endpoint. Idempotent. */
void gt_exit_prepare(void);
/* The same as registered (on_exit): in a vfork child, _exit(status). */
void gt_exit_on(int status, void *arg);

/* Before execve and friends: finish the trace in progress (the new image
 * starts fresh), unless the exec is sure to fail (nothing executable at
 * path; search = PATH lookup of the p variants): then the call returns to
 * the program and tracing goes on. dirfd/flags as execveat's. */
void gt_exec_prepare(int dirfd, const char *path, int search, int flags);
/* The process showed it is long-lived: it became a session leader (setsid,
 * daemon) or listens on a socket. A forked child without an endpoint gets
 * one now, and its own forked children get theirs at fork. */
void gt_service_long_lived(void);
/* unshare(flags) / setns(nstype) (is_setns) is about to run: if it wants a
 * process of one thread (a user or mount namespace) and the program has
 * one, the service thread leaves (the endpoint and any trace stay open).
 * Returns whether it did (1, or 2 for a one-thread program's doorman);
 * gt_ns_done(that) after the call starts it again. */
int gt_ns_prepare(int is_setns, long flags);
void gt_ns_done(int parked);
/* A one-thread program's endpoint (core/process/door.c). pre() runs when the
 * doorman starts: it points preload's blocking calls at a check that starts
 * the service thread before one that may wait long (gt_service_safe_point
 * with wait = 1). Once a client connects, the doorman calls on() (atomics
 * only: it runs without TLS), which makes every such call and the
 * program's malloc/free a safe point (wait = 0); off() points them all
 * back. Calls from inside libc (caller: the malloc's return address) and,
 * for async-signal-safe calls, calls a signal handler may be making are no
 * safe point: there the service thread's pthread_create waits for the
 * next call. */
void gt_service_set_arm(void (*pre)(void), void (*on)(void), void (*off)(void));
enum { GT_SAFE_CALLER, GT_SAFE_PLAIN, GT_SAFE_SIGNAL };
void gt_service_safe_point(int kind, uintptr_t caller, int wait);
/* A one-thread program's doorman gives way to the service thread now (a
 * safe point: neither call is a handler's). The program made a thread:
 * glibc is in its threaded ways for good, a doorman saves nothing, and a
 * server whose threads all wait in calls a handler could be making would
 * reach no safe point. Or it is about to install a seccomp filter or a
 * Landlock domain, which a thread made after it would inherit (a thread
 * from load does not): the service's own calls and trace files must not
 * be theirs to refuse. */
void gt_service_needed(void);
/* A one-thread program's streams take no lock while our service thread
 * runs (core/process/solo.c). gt_solo_file: the fopen family made stream
 * f (or NULL). gt_solo_end: a thread is about to be made (pthread_create,
 * thrd_create, or a glibc call that makes its own): every stream takes its
 * lock again, for good. */
void gt_solo_file(void *f);
void gt_solo_end(void);
/* dlclose is about to unmap a library: symbolise the stacks seen so far. */
void gt_service_sync(void);
/* After dlclose: the frame walk and the names forget its addresses. */
void gt_service_unloaded(void);
/* Safe points (core/process/safe.c). */
/* How long a call may wait, by its arguments (preload/armed.c's table):
 * never long (NO); by its fd, argument 1 (FD); by a time-out argument
 * (MS: int milliseconds, TS: struct timespec *, TV: struct timeval *, US:
 * microseconds, S: seconds; the digit is the argument, negative or null is
 * no end); by its options, without WNOHANG (the digit is the argument:
 * WAIT2 wait3, WAIT3 waitpid and wait4, WAITID waitid); always possibly
 * long (YES). An absolute time-out
 * (ABS3: clock_nanosleep) counts as long. */
enum { GT_W_NO, GT_W_FD, GT_W_YES, GT_W_MS3, GT_W_MS4, GT_W_TS1, GT_W_TS3, GT_W_TS5,
       GT_W_TV5, GT_W_US1, GT_W_S1, GT_W_ABS3, GT_W_WAIT2, GT_W_WAIT3, GT_W_WAITID };

/* A wait this long or longer is long: a client that comes during a
 * shorter one is answered at the call after it. */
#define GT_LONG_WAIT_NS 100000000ll

/* May a call of wait class cls with arguments a[0..5] wait long? Keeps
 * errno; reads the program's time-outs without ever faulting. */
int gt_safe_may_wait(unsigned cls, const uint64_t a[6]);

/* Fatal signals (core/process/fatal.c): a trace that a fatal signal ends is finished first. While
 * a trace runs, each signal whose default action ends the process and
 * whose disposition is SIG_DFL gets a handler of ours: it asks the service
 * thread to finish the trace (every thread's goroutine closed: Go
 * 1.19-1.22's viewer refuses a file with one still running), then puts
 * SIG_DFL back and raises the signal again, so the process dies as it
 * would have, by the same signal. The program never sees the handler: its
 * sigaction and signal calls (the hooks) report SIG_DFL where ours sits,
 * and any disposition it sets replaces ours. */
#include <signal.h>

typedef int (*gt_sigaction_fn)(int, const struct sigaction *, struct sigaction *);
typedef void (*(*gt_signal_fn)(int, void (*)(int)))(int);

/* The real sigaction, from the constructor (preload/). */
void gt_fatal_init(gt_sigaction_fn real);

/* The crashes among them: abort(), assert and faults. */
static inline int gt_fatal_crash(int sig)
{
	return sig == SIGABRT || sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL;
}

/* Could sig carry our handler? (a cheap test for the hooks; the one list
 * of the signals core/process/fatal.c arms: those whose default ends the
 * process, but SIGKILL and SIGSTOP's kind, which no handler sees, SIGTRAP
 * (a breakpoint's: a handler's return goes on past it) and SIGPROF (the
 * CPU profiler's: core/prof/sample.c's foreign() does the same for it).
 * The real-time signals too: SIGXCPU from RLIMIT_CPU or a queued signal
 * without a handler ended a run without its trace's last second and with
 * an empty CPU profile. */
#define GT_FATAL_SIG_MAX 64   /* the kernel's _NSIG - 1 */
static inline int gt_fatal_sig(int sig)
{
	switch (sig) {
	case SIGHUP: case SIGINT: case SIGQUIT: case SIGTERM: case SIGPIPE: case SIGALRM:
	case SIGUSR1: case SIGUSR2: case SIGXCPU: case SIGXFSZ: case SIGVTALRM: case SIGIO:
	case SIGPWR: case SIGSTKFLT: case SIGSYS:
		return 1;
	}
	if (sig >= 32)
		return sig <= GT_FATAL_SIG_MAX && sig >= SIGRTMIN && sig <= SIGRTMAX;
	return gt_fatal_crash(sig);
}

/* The program's sigaction(sig, act, old) / signal(sig, h) with
 * gt_fatal_sig(sig): real's result, with ours shown as SIG_DFL. */
int gt_fatal_sigaction(int sig, const struct sigaction *act, struct sigaction *old);
void (*gt_fatal_signal(int sig, void (*h)(int), gt_signal_fn real))(int);

#endif
