"""Issue 3: blocking calls of every family are recorded where they belong,
for as long as they lasted, on the thread that made them; calls left early
(pthread_cancel, a signal) behave as without the tracer and leave a trace
Go's tools accept.

1. tests/programs/families.c: one thread per family (pipe read, contended
   mutex, condvar wait, recv, poll on a socket with a timeout, nanosleep,
   poll with nothing watched, waitpid, a raw futex wait); each thread measures its call with
   CLOCK_MONOTONIC and prints it with its thread id. In `go tool trace
   -pprof=syscall|sync|net` read by `go tool pprof -top` each function is in
   its own profile only, with a total within 10% of what the thread measured;
   sleeps are GoSleep events of the sleeping thread's goroutine. Goroutines
   are matched to threads twice: by their GoCreate stacks (the viewer's
   /goroutines groups name the start routine) and by the OS thread id of the
   P they run on (ProcStart), which must be the id the thread printed.
2. tests/programs/interrupt.c cancel: threads blocked in read and recv are
   cancelled; output and exit status as without the tracer; trace parses.
3. interrupt.c eintr / nested / jump: calls interrupted by a handler installed
   without SA_RESTART return -1/EINTR as without the tracer; a handler that
   calls write, malloc and nanosleep while its thread is blocked in read
   leaves a trace the viewer loads."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

MS = 1_000_000
TOLERANCE = 0.10

# start routine -> (libc function, profile, goroutine event that blocks)
FAMILIES = {
    "reader": ("read", "syscall", "GoSysBlock"),
    "locker": ("pthread_mutex_lock", "sync", "GoBlockSync"),
    "waiter": ("pthread_cond_wait", "sync", "GoBlockCond"),
    "receiver": ("recv", "net", "GoBlockNet"),
    "poller": ("poll", "net", "GoBlockNet"),
    "reaper": ("waitpid", "syscall", "GoSysBlock"),
    "futexer": ("syscall(SYS_futex)", "sync", "GoBlockSync"),
    "sockreader": ("read", "net", "GoBlockNet"),
    "selecter": ("select", "net", "GoBlockNet"),
    "epoller": ("epoll_wait", "net", "GoBlockNet"),
}
SLEEPERS = {"sleeper": "nanosleep", "napper": "poll"}   # poll(NULL, 0, 45) is a sleep
EXPECTED_RET = {"reader": 1, "locker": 0, "waiter": 0, "receiver": 5, "poller": 0,
                "sleeper": 0, "napper": 0, "reaper": 7, "futexer": 0, "sockreader": 1,
                "selecter": 0, "epoller": 0}

BLOCK_EVENTS = {"GoSysBlock", "GoBlockSync", "GoBlockCond", "GoBlockNet", "GoSleep",
                "GoBlock", "GoBlockSend", "GoBlockRecv", "GoBlockSelect", "GoBlockGC"}
RESUME_EVENTS = {"GoUnblock", "GoUnblockLocal", "GoSysExit", "GoSysExitLocal"}


def waits(events):
    """{goid: [(block event type, duration ns)]}: each block of a goroutine
    up to the event that made it runnable again (GoUnblock / GoSysExit)."""
    pending, out = {}, {}
    for e in events:
        if e.type in BLOCK_EVENTS:
            pending[e.g] = (e.type, e.ts)
        elif e.type in RESUME_EVENTS and e.args["g"] in pending:
            typ, t0 = pending.pop(e.args["g"])
            out.setdefault(e.args["g"], []).append((typ, e.ts - t0))
    for g, (typ, t0) in pending.items():
        out.setdefault(g, []).append((typ, None))
    return out


def goroutines_by_start_routine(trace):
    """{start routine: [goid]} from the viewer: /goroutines groups goroutines
    by the PC of their GoCreate stack and names the group after it; each
    group's page links /trace?goid=N for its members."""
    out = {}
    with gt.UIServer(trace) as srv:
        status, body, _ = srv.get("/goroutines")
        if status != 200:
            raise gt.UIError(f"/goroutines: HTTP {status}")
        for link, name in re.findall(r'<a href="(/goroutine\?id=\d+)">([^<]*)</a>',
                                     body.decode(errors="replace")):
            status, page, _ = srv.get(link)
            if status != 200:
                raise gt.UIError(f"{link}: HTTP {status}")
            out[name] = [int(g) for g in re.findall(r'href="/trace\?goid=(\d+)"',
                                                    page.decode(errors="replace"))]
    return out


def within(actual, expected, tol=TOLERANCE):
    return abs(actual - expected) <= tol * expected


class Families(unittest.TestCase):
    ARGS = []

    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = cls.tmp_ctx.__enter__()
        cls.trace = str(cls.tmp / "families.trace")
        cls.result = gt.run_traced([gt.program("families"), *cls.ARGS], cls.trace, timeout=60)
        cls.measured, cls.tid, cls.ret = {}, {}, {}
        for line in cls.result.stdout.splitlines():
            m = re.fullmatch(r"(\w+) tid=(\d+) ns=(\d+) ret=(-?\d+)", line)
            if m:
                name = m.group(1)
                cls.tid[name] = int(m.group(2))
                cls.measured[name] = int(m.group(3))
                cls.ret[name] = int(m.group(4))
            m = re.fullmatch(r"main tid=(\d+)", line)
            if m:
                cls.tid["main"] = int(m.group(1))
        cls.error = None
        cls.events = cls.profiles = cls.by_routine = None
        try:
            cls.events = gt.trace_events(cls.trace)
            cls.profiles = {k: gt.pprof_top(cls.trace, k) for k in ("syscall", "sync", "net")}
            cls.by_routine = goroutines_by_start_routine(cls.trace)
        except AssertionError as e:
            cls.error = e

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    def need_trace(self):
        if self.error:
            raise self.error

    def goid(self, routine):
        """The one goroutine whose GoCreate stack names `routine`, checked
        against the thread id the program printed for it."""
        self.need_trace()
        goids = self.by_routine.get(routine)
        self.assertEqual(len(goids or []), 1,
                         f"goroutines of start routine {routine}: {goids} "
                         f"(groups: {self.by_routine})")
        g = goids[0]
        threads = gt.goroutine_threads(self.events).get(g)
        self.assertEqual(threads, {self.tid[routine]},
                         f"G{g} ({routine}) ran on OS threads {threads}, the program's "
                         f"{routine} thread is {self.tid[routine]}")
        return g

    def test_program_ran_as_designed(self):
        """The figures the other tests compare with are sane."""
        self.assertEqual(self.result.returncode, 0, self.result.stderr)
        self.assertEqual(self.result.stderr, "")
        self.assertEqual(self.ret, EXPECTED_RET, self.result.stdout)
        for name, ns in self.measured.items():
            self.assertGreater(ns, 30 * MS, f"{name} blocked only {ns} ns:\n{self.result.stdout}")
            self.assertLess(ns, 1000 * MS, f"{name} blocked {ns} ns:\n{self.result.stdout}")
        self.assertIn("main", self.tid)

    def test_goroutines_are_the_threads(self):
        """One goroutine per start routine, on the thread that printed its id."""
        for routine in [*FAMILIES, *SLEEPERS, "main"]:
            with self.subTest(routine=routine):
                self.goid(routine)

    def test_each_function_in_its_profile(self):
        """read/waitpid in syscall, mutex/cond in sync, recv/poll in net:
        flat total within 10% of the time the thread measured, present in
        no other profile, and the stack reaches the thread's start routine."""
        self.need_trace()
        for routine, (fn, kind, _) in FAMILIES.items():
            with self.subTest(routine=routine, function=fn, profile=kind):
                rows = self.profiles[kind]
                self.assertIn(fn, rows, f"{fn} missing from the {kind} profile: {rows}")
                flat = rows[fn][0]
                want = self.measured[routine]
                self.assertTrue(within(flat, want),
                                f"{kind} profile: {fn} {flat} ns, {routine} measured {want} ns "
                                f"({100 * (flat - want) / want:+.1f}%)\n{rows}")
                self.assertIn(routine, rows, f"{kind} profile has no frame {routine}: {rows}")
                self.assertTrue(within(rows[routine][1], want),
                                f"{kind} profile: {routine} cum {rows[routine][1]} ns, "
                                f"measured {want} ns")
                for other in {"syscall", "sync", "net"} - {kind}:
                    self.assertNotIn(routine, self.profiles[other],
                                     f"{routine} also shows in the {other} profile: "
                                     f"{self.profiles[other]}")

    def test_sleeps_are_not_in_profiles(self):
        self.need_trace()
        for kind, rows in self.profiles.items():
            for routine, fn in SLEEPERS.items():
                self.assertNotIn(routine, rows, f"{routine} ({fn}) in the {kind} profile: {rows}")
            self.assertNotIn("nanosleep", rows, f"nanosleep in the {kind} profile")
            self.assertNotIn("clock_nanosleep", rows, f"clock_nanosleep in the {kind} profile")

    def test_sleeps_on_the_sleeping_thread(self):
        """nanosleep and poll(NULL, 0, 45) are GoSleep events of their own
        goroutine, as long as the thread measured."""
        w = waits(self.need_trace() or self.events)
        for routine in SLEEPERS:
            with self.subTest(routine=routine):
                g = self.goid(routine)
                got = w.get(g, [])
                self.assertEqual([t for t, _ in got], ["GoSleep"],
                                 f"G{g} ({routine}) waits: {got}")
                self.assertTrue(within(got[0][1], self.measured[routine]),
                                f"{routine}: GoSleep lasted {got[0][1]} ns, measured "
                                f"{self.measured[routine]} ns")

    def test_blocking_events_on_the_blocked_thread(self):
        """Each family's block event is on its own goroutine, lasts what the
        thread measured (within 10%), and no other goroutine of the program
        has it (main's only long waits are its six clock_nanosleep calls, one
        more with a delay; its send, unlock and joins may wait a few
        microseconds)."""
        w = waits(self.need_trace() or self.events)
        for routine, (fn, _, ev) in FAMILIES.items():
            with self.subTest(routine=routine):
                g = self.goid(routine)
                got = w.get(g, [])
                self.assertEqual([t for t, _ in got], [ev], f"G{g} ({routine}, {fn}) waits: {got}")
                self.assertTrue(within(got[0][1], self.measured[routine]),
                                f"{routine}: {ev} lasted {got[0][1]} ns, measured "
                                f"{self.measured[routine]} ns")
        main = self.goid("main")
        # Its sleeps are to absolute deadlines (the delay, then 60, 90,
        # 100, 120, 140, 150 ms): on a loaded machine main may reach one
        # late and sleep a few us (seen: 22 us), or less than
        # GOTRACE_BLOCK_NS (not recorded). They never add up past the last
        # deadline.
        delay = int(self.ARGS[0]) * MS if self.ARGS else 0
        sleeps = [d for t, d in w.get(main, []) if t == "GoSleep"]
        self.assertTrue(1 <= len(sleeps) <= 6 + bool(delay) and
                        all(d is not None for d in sleeps) and
                        sum(sleeps) <= (delay + 150 * MS) * 1.1,
                        f"main's sleeps should be its clock_nanosleep calls: {w.get(main)}")
        # main's own locks (cm, taken right after the waiter's) may wait
        # for a descheduled thread on a loaded machine, but never as long
        # as a family's wait (>= 30 ms): none of those is main's.
        others = [(t, d) for t, d in w.get(main, []) if t != "GoSleep" and (d is None or d >= 20 * MS)]
        self.assertEqual(others, [], f"main has a family's wait: {w.get(main)}")


class FamiliesLate(Families):
    """The same checks with the calls begun 50 ms into the trace: once the
    TSC's rate is known, the hooks with a thunk time their calls in asm
    (core/record/thunk.c) and leave a recorded end to C, which classifies
    it by the call's arguments kept in TLS (a read of a socket is a net
    wait; select and epoll_wait on sockets too). Before it, they take the
    framed body (Families)."""
    ARGS = ["50"]


def compare_runs(test, argv, expect_rc, expect_out, trace):
    """Run argv plain, with the library idle and traced; same stdout,
    stderr, exit status; the plain run must look as expected. Idle, the
    calls return through a hook's thunk (preload/hook.h), both ways it can
    reach libc (GOTRACE_HOOK_RETURN): a cancellation unwinds through it.
    Returns the traced result."""
    plain = gt.run_plain(argv, timeout=30)
    traced = gt.run_traced(argv, trace, timeout=30)
    test.assertEqual(plain.returncode, expect_rc, f"plain run: {plain.stdout}{plain.stderr}")
    test.assertEqual(plain.stdout, expect_out, "plain run")
    for how in ("call", "jump"):
        idle = gt.run_traced(argv, None, timeout=30, env={"GOTRACE_HOOK_RETURN": how})
        test.assertEqual((idle.returncode, idle.stdout, idle.stderr),
                         (plain.returncode, plain.stdout, plain.stderr), f"the library idle ({how})")
    test.assertEqual(traced.returncode, plain.returncode,
                     f"exit status under the tracer\n{traced.stdout}{traced.stderr}")
    test.assertEqual(traced.stdout, plain.stdout, "stdout under the tracer")
    test.assertEqual(traced.stderr, plain.stderr, "stderr under the tracer")
    return traced


CANCEL_OUT = """\
cleanup: reader cancelled
reader joined: PTHREAD_CANCELED
cleanup: receiver cancelled
receiver joined: PTHREAD_CANCELED
main read: ret=1 byte=y
"""

EINTR_OUT = """\
main read (SIGALRM): ret=-1 errno=EINTR
read      ret=-1 errno=EINTR
recv      ret=-1 errno=EINTR
poll      ret=-1 errno=EINTR
nanosleep ret=-1 errno=EINTR
waitpid   ret=-1 errno=EINTR
accept    ret=-1 errno=EINTR
sem_wait  ret=-1 errno=EINTR
handler calls: 8
"""

NESTED_OUT = """\
main: reading
handler 1
handler 2
handler 3
main read: ret=1 byte=z handler calls=3
handler 4
napper: nanosleep returned -1/EINTR, handler calls=4
"""


class Interrupted(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = cls.tmp_ctx.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    def interrupt(self, mode, rc, out, name=None):
        """interrupt MODE plain, idle and traced (compare_runs): the
        trace's path and its events."""
        trace = str(self.tmp / f"{name or mode}.trace")
        compare_runs(self, [gt.program("interrupt"), mode], rc, out, trace)
        return trace, gt.trace_events(trace)

    def none_running(self, ev):
        states = gt.goroutine_states(ev)
        self.assertEqual([g for g, s in states.items() if s == "running"], [],
                         f"goroutines left running: {states}")
        return states

    def test_cancel_blocked_read(self):
        """pthread_cancel of threads blocked in read and recv: output and
        exit status as without the tracer, the trace parses, both cancelled
        goroutines end, nothing is left running, and main's later 30 ms read
        is still recorded (the cancelled calls left the tracer usable)."""
        trace, ev = self.interrupt("cancel", 3, CANCEL_OUT)
        created = gt.created_goroutines(ev)
        self.assertEqual(len(created), 4, f"main, reader, receiver, late_writer: {created}")
        states = self.none_running(ev)
        for g in created[1:]:
            self.assertEqual(states.get(g), "dead", f"G{g} did not end: {states}")
        rows = gt.pprof_top(trace, "syscall")
        self.assertIn("main", rows, f"main's read after the cancellations is missing: {rows}")
        self.assertGreater(rows["main"][1], 20 * MS, f"main's read: {rows['main']}")

    def test_cancelled_wait_is_recorded(self):
        """The reader sat 50 ms in read and the receiver 50 ms in recv before
        pthread_cancel ended them: those waits happened, and the timeline
        shows them as waits (a syscall block and a network block of about
        50 ms), not as 50 ms of execution. Their stacks were unwound by the
        cancellation, so the profiles cannot attribute them (README,
        Limits)."""
        _, ev = self.interrupt("cancel", 3, CANCEL_OUT, "cancel2")
        created = gt.created_goroutines(ev)
        w = waits(ev)
        long_waits = sorted(t for g in created[1:] for t, d in w.get(g, [])
                            if d and 40 * MS < d < 1000 * MS)
        self.assertIn("GoSysBlock", long_waits,
                      f"the cancelled read (50 ms) is not a wait: {[w.get(g) for g in created]}")
        self.assertIn("GoBlockNet", long_waits,
                      f"the cancelled recv (50 ms) is not a wait: {[w.get(g) for g in created]}")

    def test_eintr_as_without_tracer(self):
        """A handler without SA_RESTART: read, recv, poll, nanosleep,
        waitpid, accept and sem_wait return -1/EINTR (nanosleep with the
        remaining time), main's read hit by SIGALRM too; each interrupted
        wait is recorded with its kind."""
        _, ev = self.interrupt("eintr", 4, EINTR_OUT)
        created = gt.created_goroutines(ev)
        self.assertEqual(len(created), 8, f"main and 7 threads: {created}")
        w = waits(ev)
        kinds = sorted(t for g in created[1:] for t, d in w.get(g, []) if d and d > 30 * MS)
        self.assertEqual(kinds, sorted(["GoSysBlock", "GoBlockNet", "GoBlockNet", "GoSleep",
                                        "GoSysBlock", "GoBlockNet", "GoBlockSync"]),
                         f"interrupted waits of the 7 threads (read, recv, poll, nanosleep, "
                         f"waitpid, accept, sem_wait): {[w.get(g) for g in created[1:]]}")
        main_sys = [d for t, d in w.get(created[0], []) if t == "GoSysBlock"]
        self.assertTrue(any(d and 60 * MS < d < 500 * MS for d in main_sys),
                        f"main's read, interrupted by SIGALRM after 80 ms: {w.get(created[0])}")

    def test_handler_calls_hooks_inside_hook(self):
        """A SIGUSR2 handler writes, mallocs 100 kB and 4 MiB and sleeps
        20 ms while main is blocked in read (SA_RESTART: the read goes on),
        then while a thread is in nanosleep (EINTR). Output as without the
        tracer, the trace parses and every viewer page loads; main's read
        is one syscall of the whole ~180 ms."""
        trace, ev = self.interrupt("nested", 5, NESTED_OUT)
        self.none_running(ev)
        rows = gt.pprof_top(trace, "syscall")
        self.assertIn("read", rows, rows)
        self.assertTrue(150 * MS < rows["read"][0] < 400 * MS,
                        f"main's read lasted ~180 ms (3 x 40 ms + 60 ms): {rows['read']}")
        gt.check_ui(trace, mmu="some", goroutine_traces=3)

    def test_siglongjmp_out_of_a_read(self):
        """A SIGALRM handler siglongjmps out of a read twice, two calls
        deep; main then reads again at that depth (30 ms) and sleeps.
        Output and exit status as without the library, idle (the read's
        thunk left in_call set behind it) and traced; the trace parses,
        and the later read is recorded with its caller, so the calls left
        by the jumps did not make it look like a signal handler's."""
        trace, ev = self.interrupt("jump", 6, JUMP_OUT)
        self.none_running(ev)
        rows = gt.pprof_top(trace, "syscall")
        self.assertIn("blocked_read", rows, rows)
        self.assertGreater(rows["blocked_read"][1], 20 * MS, f"main's 30 ms read: {rows}")


JUMP_OUT = """\
jumped out of read 1
jumped out of read 2
main read: ret=1
main slept
"""


ALTSTACK = r"""
/* altstack N: a thread whose sigaltstack lies right above its stack; a
 * 20 kHz timer's handler on it makes two hooked calls while the thread
 * loops on read(pipe, 8 bytes) as main writes 64 bytes N times. Every
 * read returns 8 and the canary after the 8-byte buffer stays intact. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define STK (256 * 1024)
#define ALT (64 * 1024)
static int pfd[2], nullfd, zfd;
static volatile pid_t tid;
static char big[4096];

static void handler(int s)
{
	int e = errno;
	write(nullfd, "x", 1);          /* takes over the interrupted call's slots */
	read(zfd, big, sizeof big);     /* asm path: call_a[2] = 4096, call_res = 4096 */
	errno = e;
}

static void *reader(void *alt)
{
	stack_t ss = { .ss_sp = alt, .ss_size = ALT };
	sigaltstack(&ss, 0);
	tid = syscall(SYS_gettid);
	struct { char buf[8]; uint64_t canary[64]; } s;
	for (long n = 0;; n++) {
		memset(s.canary, 0x5a, sizeof s.canary);
		ssize_t r = read(pfd[0], s.buf, 8);
		if (r < 0 && errno == EINTR) continue;
		if (r != 8 || s.canary[0] != 0x5a5a5a5a5a5a5a5aull) {
			printf("FAULT at read %ld: read(pipe, buf, 8) returned %zd, canary %s\n", n, r,
			       s.canary[0] != 0x5a5a5a5a5a5a5a5aull ? "OVERWRITTEN" : "ok");
			exit(1);
		}
	}
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	setvbuf(stdout, 0, _IONBF, 0);
	pipe(pfd);
	nullfd = open("/dev/null", O_WRONLY);
	zfd = open("/dev/zero", O_RDONLY);
	struct sigaction sa = { .sa_handler = handler, .sa_flags = SA_ONSTACK | SA_RESTART };
	sigaction(SIGUSR1, &sa, 0);
	usleep(60000);   /* the trace's clock rate known */
	char *reg = mmap(0, STK + ALT, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstack(&at, reg, STK);   /* altstack = reg+STK .. reg+STK+ALT */
	pthread_t th;
	pthread_create(&th, &at, reader, reg + STK);
	while (!tid) usleep(100);
	timer_t tm;
	struct sigevent se = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGUSR1 };
	se._sigev_un._tid = tid;
	timer_create(CLOCK_MONOTONIC, &se, &tm);
	struct itimerspec its = { { 0, 50000 }, { 0, 50000 } };   /* 20 kHz */
	timer_settime(tm, 0, &its, 0);
	char chunk[64];
	memset(chunk, 'A', sizeof chunk);
	for (int i = 0; i < n; i++) {
		write(pfd[1], chunk, sizeof chunk);
		struct timespec ts = { 0, 20000 };
		nanosleep(&ts, 0);
	}
	printf("OK: no fault\n");
	return 0;
}
"""


class AltStackHandler(unittest.TestCase):
    def test_handler_above_the_stack(self):
        """A handler on a sigaltstack just above its thread's stack passes
        the framed body's "that call was left by siglongjmp" test and
        takes the marks over, so its next hooked call took the traced
        thunk while the interrupted read was in progress; with that call's
        state in TLS, the read returned the handler's read's 4096 bytes
        into an 8-byte buffer. Plain, idle and traced alike now."""
        with gt.tempdir() as d:
            exe = gt.compile_c(ALTSTACK, d / "altstack")
            plain = gt.run_plain([exe, "20000"], timeout=120)
            self.assertEqual((plain.returncode, plain.stdout), (0, "OK: no fault\n"), plain.stderr)
            idle = gt.run_traced([exe, "20000"], None, timeout=120)
            self.assertEqual((idle.returncode, idle.stdout), (0, "OK: no fault\n"), idle.stderr)
            trace = str(d / "t.trace")
            r = gt.run_traced([exe, "20000"], trace, timeout=120)
            self.assertEqual((r.returncode, r.stdout), (0, "OK: no fault\n"), r.stderr)
            gt.trace_events(trace)


if __name__ == "__main__":
    unittest.main()
