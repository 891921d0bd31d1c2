/* core/prof/stacks.c - debug_stacks: every program thread's state and
 * stack, in the layout of Go's goroutine dump (debug=2), undisturbed:
 * - a thread in a call we hook is read from outside: the hook's frame
 *   record gives pc, sp and bp, libunwind walks from there (peek.c); a
 *   walk the thread left the call during is done again (its stack stays
 *   mapped: its exit waits for its record's lock, ours);
 * - a running thread, or one in a futex wait (restarted after a handler,
 *   unseen), takes a SIGPROF sent to it alone (our cookie) whose handler
 *   walks its own stack; a hook entering a call meanwhile waits for that
 *   signal first, so no call of ours is interrupted (EINTR);
 * - a thread asleep in another system call is not signalled: its state
 *   and the walk from the pc and sp /proc/self/task/TID/syscall shows.
 * Service thread. */
#include "core/prof/prof.h"
#include "core/prof/prof_int.h"

#include <linux/futex.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/fdguard.h"
#include "core/base/log.h"
#include "core/base/procfs.h"
#include "core/base/real.h"
#include "core/base/sys.h"
#include "core/record/stack.h"
#include "core/record/thread.h"
#include "core/write/ctl.h"
#include "core/write/symbol.h"

#define WAIT_NS (200 * 1000000ull)   /* for a thread's answer to its signal */
#define DEPTH 64

/* The request the SIGPROF handler answers: one thread at a time. */
static struct {
	int32_t tid;      /* the thread asked, 0: none (atomic) */
	uint32_t done;    /* answered (release) */
	unsigned n;
	uintptr_t pc[DEPTH];
} req;
static const char cookie[] = "gotrace stacks";   /* si_value of our signals */

int gt_stacks_signal_ours(const siginfo_t *si)
{
	return si->si_code == SI_QUEUE && si->si_value.sival_ptr == (void *)cookie &&
	       si->si_pid == getpid();
}

int gt_stacks_on_signal(const siginfo_t *si, void *uc)
{
	if (!gt_stacks_signal_ours(si))
		return 0;
	struct gt_tls *tls = &gt_tls;
	if (__atomic_load_n(&req.tid, __ATOMIC_ACQUIRE) != gt_gettid() ||
	    __atomic_load_n(&req.done, __ATOMIC_RELAXED))
		return 1;   /* late: its request gave up */
	int outside = tls->in_tracer == 0;
	tls->in_tracer++;
	req.n = gt_stack_capture_signal(uc, req.pc, DEPTH, outside);
	tls->in_tracer--;
	__atomic_store_n(&req.done, 1, __ATOMIC_RELEASE);
	return 1;
}

/* The text, grown with gt_realloc. */
struct text {
	char *p;
	size_t len, cap;
	int oom;
};

static void put(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;

	for (int k = 0; k < 2 && !t->oom; k++) {
		va_start(ap, fmt);
		int n = vsnprintf(t->p ? t->p + t->len : NULL, t->p ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (t->p && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = (t->cap ? t->cap : 4096);
		while (cap <= t->len + (size_t)n)
			cap *= 2;
		char *q = gt_realloc(t->p, cap);
		if (!q) {
			t->oom = 1;
			return;
		}
		t->p = q;
		t->cap = cap;
	}
}

/* A full barrier on every thread of the process, so that a peek set here
 * and a call's in_call set there see each other (liburcu's membarrier
 * flavour; the hooks pay no fence). 0: none to be had. */
static int barrier(void)
{
	static int cmd = -1;

	if (cmd < 0) {
		cmd = 0;
		long q = gt_raw(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
		if (q > 0 && (q & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
		    gt_raw(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
			cmd = MEMBARRIER_CMD_PRIVATE_EXPEDITED;
		else if (q > 0 && (q & MEMBARRIER_CMD_GLOBAL))
			cmd = MEMBARRIER_CMD_GLOBAL;
	}
	return cmd && gt_raw(SYS_membarrier, cmd, 0, 0) == 0;
}

static ssize_t read_proc(int tid, const char *what, char *buf, size_t cap)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/task/%d/%s", tid, what);
	return gt_raw_read_file(path, buf, (long)cap);
}

/* When a thread last got the CPU, in ms of the scheduler's clock
 * (/proc/.../sched's se.exec_start, CONFIG_SCHED_DEBUG kernels): -1 when
 * not known. A thread asleep since has been waiting that long. */
static double ran_at(int tid)
{
	char buf[1024];
	const char *k = "se.exec_start";

	if (read_proc(tid, "sched", buf, sizeof(buf)) <= 0)
		return -1;
	char *p = strstr(buf, k), *colon = p ? strchr(p, ':') : NULL;
	return colon ? strtod(colon + 1, NULL) : -1;
}

/* se.exec_start is each CPU's own clock, and those drift apart by their
 * steal and interrupt time (9.4 s between this VM's two): a thread's last
 * run is compared with now on its CPU, read by running there a moment
 * (our affinity, put back after the dump); -1 where we may not run. */
#define CLOCKS 64
static struct {
	int n, moved;
	int cpu[CLOCKS];
	double now[CLOCKS];
	cpu_set_t saved;
} clocks;

static double now_on(int cpu)
{
	for (int i = 0; i < clocks.n; i++)
		if (clocks.cpu[i] == cpu)
			return clocks.now[i];
	if (cpu < 0 || cpu >= CPU_SETSIZE || clocks.n == CLOCKS ||
	    (!clocks.moved && sched_getaffinity(0, sizeof(clocks.saved), &clocks.saved)))
		return -1;
	clocks.moved = 1;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(cpu, &one);
	double v = sched_setaffinity(0, sizeof(one), &one) == 0 ? ran_at(gt_gettid()) : -1;
	clocks.cpu[clocks.n] = cpu;
	clocks.now[clocks.n++] = v;
	return v;
}

static void clocks_done(void)
{
	if (clocks.moved)
		sched_setaffinity(0, sizeof(clocks.saved), &clocks.saved);
	clocks.n = clocks.moved = 0;
}

/* The CPU a thread last ran on (/proc's stat, field 39), or -1. */
static int last_cpu(int tid)
{
	char buf[512], *p = read_proc(tid, "stat", buf, sizeof(buf)) > 0 ? strrchr(buf, ')') : NULL;

	for (int f = 2; p && f < 39; f++)
		p = strchr(p + 1, ' ');
	return p ? atoi(p + 1) : -1;
}

/* The kernel's state letter and the name (comm) of a thread: 0 when gone. */
static char proc_state(int tid, char *comm, size_t cap)
{
	char buf[512];

	if (read_proc(tid, "stat", buf, sizeof(buf)) <= 0)
		return 0;
	char *l = strchr(buf, '('), *r = strrchr(buf, ')');
	if (!l || !r || r[1] != ' ')
		return 0;
	snprintf(comm, cap, "%.*s", (int)(r - l - 1), l + 1);
	return r[2];
}

/* The system call a thread sleeps in (its number), its first argument
 * after the address (a futex's op), sp and pc: -1 when it runs or is in
 * none. */
static long proc_syscall(int tid, uintptr_t *sp, uintptr_t *pc, unsigned long *a1)
{
	char path[64], buf[256];
	uint64_t nr, a[8];

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", tid);
	if (!gt_proc_syscall(path, buf, sizeof(buf), &nr, a))
		return -1;
	*a1 = a[1];
	*sp = a[6];
	*pc = a[7];
	return (long)nr;
}

static void sleep_us(long us)
{
	struct timespec ts = { 0, us * 1000 };

	gt_raw(SYS_nanosleep, (long)&ts, 0, 0);
}

/* Ask thread tid for its stack (SIGPROF, our cookie): frames, or -1. */
static int by_signal(int tid, uintptr_t *pc)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = SIGPROF;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_ptr = (void *)cookie;
	__atomic_store_n(&req.done, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&req.tid, tid, __ATOMIC_RELEASE);
	int n = -1, r = gt_prof_sig_send(tid, &si);
	if (r == -3) {
		__atomic_store_n(&req.tid, 0, __ATOMIC_RELEASE);
		return -3;
	}
	if (r == 0) {
		uint64_t t0 = gt_clock_now();
		while (!__atomic_load_n(&req.done, __ATOMIC_ACQUIRE) && gt_clock_now() - t0 < WAIT_NS)
			sleep_us(50);
	}
	if (__atomic_exchange_n(&req.tid, 0, __ATOMIC_ACQ_REL) &&
	    __atomic_load_n(&req.done, __ATOMIC_ACQUIRE)) {
		n = (int)req.n;
		memcpy(pc, req.pc, (size_t)n * sizeof(*pc));
	}
	return n;
}

static const char *const kind_word[GT_OP_KINDS] = {
	[GT_OP_SYSCALL] = "syscall", [GT_OP_NET] = "IO wait", [GT_OP_SELECT] = "select",
	[GT_OP_SYNC] = "sync", [GT_OP_COND] = "sync.Cond.Wait", [GT_OP_SLEEP] = "sleep",
};

/* What one look at a thread found. */
struct look {
	char state[160];
	uintptr_t fn;         /* the hooked call's real function (frame 0), or 0 */
	uintptr_t pc[DEPTH];  /* innermost first: exact when signal (pc[0]) */
	int n, from_signal;
	const char *why; };   /* no stack: why */

static int unversioned(const char *f)
{
	const char *at = strchr(f, '@');

	return at ? (int)(at - f) : (int)strlen(f);
}

/* The library function the program called: the outermost of the
 * innermost frames that lie in the same object as the first. */
static const char *api_name(const uintptr_t *pc, int n, int exact0)
{
	struct gt_sym s;
	int k = 0;
	const char *o0 = gt_sym_object(pc[0]);

	while (k + 1 < n && !strcmp(gt_sym_object(pc[k + 1]), o0))
		k++;
	if (gt_sym_lookup(pc[k], k == 0 && exact0, &s) || !strcmp(s.func, "?"))
		return NULL;
	static char name[128];
	const char *f = s.func;
	while (*f == '_')
		f++;
	snprintf(name, sizeof(name), "%.*s", unversioned(f), f);
	return name;
}

static void look_at(struct gt_thread *t, struct look *L)
{
	struct gt_tls *tls = t->tls;
	int tid = t->tid;
	char comm[32] = "";

	L->n = 0;
	L->fn = 0;
	L->from_signal = 0;
	L->why = NULL;
	__atomic_store_n(&tls->peek, 1, __ATOMIC_RELAXED);
	int held = barrier();
	uint32_t kind = __atomic_load_n(&tls->in_call, __ATOMIC_ACQUIRE);
	uintptr_t fp = tls->call_fp, fn = tls->call_fn;
	char st = proc_state(tid, comm, sizeof(comm));
	/* Before any signal of ours makes it run. */
	double then = st && st != 'R' ? ran_at(tid) : -1;
	int cpu = then >= 0 ? last_cpu(tid) : -1;
	int tries = 0;
again:
	if (kind && kind < GT_OP_KINDS && fp) {
		/* The hook's frame record: the program's bp and pc; the
		 * thread's stack is read directly up to its top (mapped while
		 * we hold the record's lock, which its exit waits for). */
		const uintptr_t *f = (const uintptr_t *)fp;
		uintptr_t top = 0;
		pthread_attr_t a;
		void *lo;
		size_t sz;
		if (pthread_getattr_np((pthread_t)t->self, &a) == 0) {
			if (pthread_attr_getstack(&a, &lo, &sz) == 0 && fp >= (uintptr_t)lo &&
			    fp < (uintptr_t)lo + sz)
				top = (uintptr_t)lo + sz;
			pthread_attr_destroy(&a);
		}
		L->fn = fn;
		L->n = gt_peek_walk(f[1], fp + 16, f[0], 1, top ? fp : 0, top, L->pc, DEPTH);
		/* Still in that call: the frames are its. */
		uint32_t k2 = __atomic_load_n(&tls->in_call, __ATOMIC_ACQUIRE);
		uintptr_t fp2 = tls->call_fp, fn2 = tls->call_fn;
		if ((k2 != kind || fp2 != fp || fn2 != fn) && ++tries < 4) {
			kind = k2, fp = fp2, fn = fn2;
			st = proc_state(tid, comm, sizeof(comm));
			goto again;
		}
		const char *name = fn ? gt_stack_fn_name(fn) : NULL;
		snprintf(L->state, sizeof(L->state), "%s%s%s", kind_word[kind], name ? ", " : "",
			 name ? name : "");
	} else {
		uintptr_t sp = 0, pc = 0;
		unsigned long a1 = 0;
		long nr = st == 'R' ? -1 : proc_syscall(tid, &sp, &pc, &a1);
		int futex_wait = nr == SYS_futex && ((a1 & 127) == FUTEX_WAIT ||
						     (a1 & 127) == FUTEX_WAIT_BITSET);
		if (st == 'R' || futex_wait) {
			/* Signalled only when held (a call it enters meanwhile
			 * waits for the signal) and our handler is SIGPROF's. */
			int n = !held ? -2 : gt_prof_sigprof_blocked(tid) ? -4 : by_signal(tid, L->pc);
			L->from_signal = n > 0;
			L->n = n > 0 ? n : 0;
			if (n <= 0)
				L->why = n == -2 ? "no membarrier here: running threads are not interrupted"
					: n == -3 ? "the program handles SIGPROF itself"
					: n == -4 ? "it blocks SIGPROF: not interrupted"
					: "no answer to SIGPROF (blocked in the thread?)";
		} else if (nr >= 0 && sp && pc) {
			L->n = gt_peek_walk(pc, sp, 0, 0, 0, 0, L->pc, DEPTH);
			L->from_signal = 1;   /* pc[0] is the pc itself */
		}
		const char *api = L->n ? api_name(L->pc, L->n, L->from_signal) : NULL;
		if (st == 'R')
			snprintf(L->state, sizeof(L->state), "running");
		else if (futex_wait)
			snprintf(L->state, sizeof(L->state), "sync, %.60s", api ? api : "futex");
		else if (nr >= 0)
			snprintf(L->state, sizeof(L->state), "syscall, %.60s", api ? api : "?");
		else
			snprintf(L->state, sizeof(L->state), "%s", st == 'T' || st == 't' ? "stopped"
				 : st ? "runnable" : "exited");
	}
	__atomic_store_n(&tls->peek, 0, __ATOMIC_RELEASE);
	size_t l = strlen(L->state);
	/* How long it has waited, as Go says it: whole minutes, from one. */
	double now = then >= 0 && st != 'R' && cpu >= 0 ? now_on(cpu) : -1;
	if (then >= 0 && now - then >= 60000.0) {
		snprintf(L->state + l, sizeof(L->state) - l, ", %ld minutes",
			 (long)((now - then) / 60000.0));
		l = strlen(L->state);
	}
	const char *name = t->name[0] ? t->name : comm;
	char q[4 * sizeof(t->name) + 4] = "";   /* " " and the name as Go's %q: it may hold anything */
	if (name[0])
		gt_quote(q + 1, sizeof(q) - 1, name, strnlen(name, sizeof(t->name))), q[0] = ' ';
	snprintf(L->state + l, sizeof(L->state) - l, ", thread %d%s", tid, q);
}

/* One frame as Go prints it: the function, then file:line and the pc's
 * offset in it (an object and offset when there is no line). */
/* Prints pc's frames; its function's entry (0: unknown), name in *func. */
static uintptr_t put_frame(struct text *o, uintptr_t pc, int exact, const char **func)
{
	struct gt_sym s[GT_SYM_INLINE_MAX];
	int n = gt_sym_frames(pc, exact, s, GT_SYM_INLINE_MAX);

	for (int i = 0; i < n; i++) {
		put(o, "%.*s(...)\n\t%s", unversioned(s[i].func), s[i].func, s[i].file);
		if (s[i].line)
			put(o, ":%u", s[i].line);
		if (i == n - 1 && s[i].entry && pc >= s[i].entry)
			put(o, " +0x%lx", (unsigned long)(pc - s[i].entry));
		put(o, "\n");
	}
	*func = n > 0 ? s[n - 1].func : "";
	return n > 0 ? s[n - 1].entry : 0;
}

struct walk {
	struct text *o;
	struct look *L;
	int threads;
};

static void one(struct gt_thread *t, void *arg)
{
	struct walk *w = arg;
	struct look *L = w->L;

	if (__atomic_load_n(&t->state, __ATOMIC_ACQUIRE) != GT_T_LIVE || (t->flags & GT_TF_INTERNAL))
		return;
	int locked = gt_thread_lock_service(t, 20000);
	if (locked < 0)
		return;   /* busy in our code past 20 ms: left out */
	if (t->state != GT_T_LIVE || !t->tls) {
		if (locked)
			gt_unlock(&t->lock);
		return;
	}
	look_at(t, L);
	uint64_t goid = t->goid;
	if (locked)
		gt_unlock(&t->lock);
	struct text *o = w->o;
	put(o, "%sgoroutine %llu [%s]:\n", w->threads++ ? "\n" : "", (unsigned long long)goid,
	    L->state);
	if (L->fn) {
		const char *name = gt_stack_fn_name(L->fn);
		put(o, "%s(...)\n\t%s\n", name ? name : "?",
		    gt_sym_object(gt_stack_fn_real(L->fn)));
	}
	/* Down to its start routine (or main), as our other stacks (a walk
	 * from outside went on into start_thread, or __libc_start_main) */
	struct gt_sym st;
	const char *func;
	uintptr_t start = t->start_pc && gt_sym_frames(t->start_pc, 1, &st, 1) ? st.entry : 0;
	int main_thread = t->tid == getpid();
	for (int i = 0; i < L->n; i++) {
		if (gt_stack_is_self(L->pc[i]))
			continue;   /* ours: a hook, our thread trampoline */
		uintptr_t e = put_frame(o, L->pc[i], i == 0 && L->from_signal, &func);
		if ((start && e == start) || (main_thread && !strcmp(func, "main")))
			break;
	}
	if (!L->n && L->why)
		put(o, "\t(no stack: %s)\n", L->why);
}

char *gt_stacks_dump(size_t *len, char *err, size_t errlen)
{
	struct text o = { 0 };
	struct look L;
	struct walk w = { &o, &L, 0 };

	if (gt_ctl_prepare(err, errlen))
		return NULL;
	gt_stack_prepare_signal();
	gt_peek_forget();
	int sig = gt_prof_sig_hold(err, errlen) == 0;
	err[0] = '\0';
	/* fd_lock let go (the server holds it while it handles a request): a
	 * thread's first signal walk sets libunwind up, which adopts a pipe
	 * under that lock (core/record/libunwind.c). */
	unsigned depth = gt_fd_suspend();
	gt_thread_foreach(one, &w);
	clocks_done();
	gt_fd_resume(depth);
	if (sig)
		gt_prof_sig_release();
	if (o.oom || !o.p) {
		gt_free(o.p);
		gt_fmt(err, errlen, o.oom ? "out of memory" : "no program thread found");
		return NULL;
	}
	put(&o, "\n");
	*len = o.len;
	return o.p;
}
