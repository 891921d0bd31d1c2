"""Each way a traced process can end gives a complete trace: it parses, the
viewer serves every page, and no thread is left "running" at the end.

  return from main            behave return 4 (a thread is blocked in
                              pthread_cond_wait when main returns)
  exit() from another thread  behave exit-thread 6 (a sleeper is blocked
                              in pthread_cond_wait when the process exits)
  main calls pthread_exit     behave pthread-exit (3 threads still running;
                              the process ends when the last one returns)
  main leaves by SYS_exit     RawExit: a worker returns 0.3 s later (then a
                              raw exit of its own): the process ends, where
                              our thread alone kept it for good
  a crash                     Crashes: abort(), a fault (SIGSEGV, SIGFPE,
                              SIGILL) or a SIGSEGV sent: the same death"""
import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402


class ExitPaths(unittest.TestCase):
    def traced(self, args, expect_rc, expect_out):
        with gt.tempdir() as d:
            trace = str(d / "t.trace")
            try:
                r = gt.run_traced([gt.program("behave"), *args], trace, timeout=30)
            except subprocess.TimeoutExpired:
                self.fail(f"behave {' '.join(args)} did not exit within 30s while tracing")
            self.assertEqual(r.returncode, expect_rc, r.stderr)
            self.assertIn(expect_out, r.stdout)
            ev = gt.trace_events(trace)
            states = gt.goroutine_states(ev)
            self.assertNotIn("running", states.values(), f"states at end: {states}")
            pages = gt.check_ui(trace, mmu="some", goroutine_traces=4)
            return ev, states, gt.goroutine_groups(pages)

    def test_return_from_main(self):
        ev, states, groups = self.traced(["return", "4"], 4, "main: return 4")
        self.assertEqual(groups, {"main": 1, "sleeper_main": 1, "joined_worker": 1})
        self.assertEqual(list(states.values()).count("dead"), 1, "joined_worker must end")

    def test_exit_from_other_thread(self):
        ev, states, groups = self.traced(["exit-thread", "6"], 6, "quitter: exit(6)")
        self.assertEqual(groups, {"main": 1, "sleeper_main": 1, "quitter_main": 1})
        self.assertEqual(len(states), 3)

    def test_quick_exit_from_other_thread(self):
        # quick_exit's _exit is libc's own call: no hook of ours saw it,
        # and the trace lost all but its first batch (194 of ~2500 bytes)
        ev, states, groups = self.traced(["quick-exit-thread", "6"], 6, "quitter: quick_exit(6)")
        self.assertEqual(groups, {"main": 1, "sleeper_main": 1, "quitter_main": 1})
        self.assertEqual(len(states), 3)

    def test_main_pthread_exit(self):
        ev, states, groups = self.traced(
            ["pthread-exit"], 0, "worker 2: done after main left")
        self.assertEqual(groups, {"main": 1, "late_worker": 3})
        main = gt.created_goroutines(ev)[0]
        self.assertEqual(states[main], "dead", "main's pthread_exit is a thread exit")
        dead = [g for g, s in states.items() if s == "dead"]
        self.assertGreaterEqual(len(dead), 3, f"main and at least 2 workers ended: {states}")



RAW_EXIT = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
static int raw;
static void *worker(void *a)
{
	(void)a;
	usleep(300000);
	puts("worker done");
	fflush(stdout);
	if (raw)
		syscall(SYS_exit, 0);
	return NULL;
}
int main(int argc, char **argv)
{
	pthread_t t;
	raw = argc > 1 && !strcmp(argv[1], "raw");
	pthread_create(&t, NULL, worker, NULL);
	puts("main leaves");
	fflush(stdout);
	syscall(SYS_exit, 7);   /* the last thread's status is the process's */
	return 1;
}
"""


class RawExit(unittest.TestCase):
    """Main leaves by the raw exit system call (as a program under strict
    seccomp must), its worker later, by returning or by SYS_exit too: no
    hook sees main go, and glibc's count of threads holds ours, so our
    service thread alone kept the process for good (SIGTERM pending,
    blocked there). It now sees the program's threads gone (once a
    second), finishes the trace and ends the process with status 0, as
    the last thread's exit does without us."""

    def test_process_ends(self):
        with gt.tempdir() as d:
            exe = gt.compile_c(RAW_EXIT, d / "rawexit")
            for mode in ("return", "raw"):
                plain = gt.run_plain([exe, mode], timeout=30)
                for trace in (None, d / f"{mode}.trace"):
                    try:
                        r = gt.run_traced([exe, mode], trace, socket=None, timeout=30)
                    except subprocess.TimeoutExpired:
                        self.fail(f"{mode}: the process did not end ({trace})")
                    self.assertEqual((r.returncode, r.stdout), (plain.returncode, plain.stdout),
                                     (mode, trace, r.stderr))
                    if trace:
                        gt.trace_events(str(trace))


class Crashes(unittest.TestCase):
    """A thread sleeps twice (20 and 30 ms), then crashes: abort() (as a
    failed assert does), a store through NULL, an integer divide by 0,
    ud2, or a SIGSEGV the process sends itself. Before, crash signals were
    not caught: the process died with the writer's last second unwritten,
    the sleeps (both within it) were lost and the threads left "running".
    Now the trace is finished first. The death is the same: the signal
    (and for a fault, the faulting instruction again with SIG_DFL back,
    so the kernel's own siginfo and core), stdout and nothing on stderr."""

    KINDS = {"abort": 6, "segv": 11, "fpe": 8, "ill": 4, "kill": 11}

    def test_crash_finishes_the_trace(self):
        import resource

        def no_core():
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        for kind, sig in self.KINDS.items():
            with self.subTest(kind=kind), gt.tempdir() as d:
                argv = [gt.program("behave"), "crash", kind]
                plain = gt.run_plain(argv, timeout=30, preexec_fn=no_core)
                self.assertEqual(plain.returncode, -sig, plain.stderr)
                trace = str(d / "t.trace")
                r = gt.run_traced(argv, trace, timeout=30, preexec_fn=no_core)
                self.assertEqual((r.returncode, r.stdout, r.stderr),
                                 (plain.returncode, plain.stdout, plain.stderr))
                ev = gt.trace_events(trace)
                sleeps = [e.g for e in ev if e.type in ("GoSleep", "GoSysBlock")]
                self.assertEqual(len(sleeps), 2, "the crasher's two sleeps")
                self.assertEqual(sleeps[0], sleeps[1])
                states = gt.goroutine_states(ev)
                self.assertNotIn("running", states.values(), f"states at end: {states}")
                groups = gt.goroutine_groups(gt.check_ui(trace, mmu="some", goroutine_traces=2))
                self.assertEqual(groups, {"main": 1, "sleeper_main": 1, "crasher_main": 1})


def _no_core():
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class ProgramSignals(unittest.TestCase):
    """The crash handlers of a1c7550, seen from the program (tests/programs/
    sigkeep.c). They were shown to it: sigaction(SIGSEGV) reported our
    handler, so Rust's guard handler was not installed (a stack overflow
    died of SIGSEGV, not its message and SIGABRT), and a handler the
    program set during an endpoint trace was reset to SIG_DFL when the
    trace stopped. sysv_signal, bsd_signal and sigset went around the
    hooks. A vfork child that died of a signal ran our handler in its
    parent's memory and left the parent's hooks standing aside. Two
    threads crashing at once: the second died before the first's stop."""

    def test_query_and_hand_back(self):
        argv = [gt.program("sigkeep"), "query"]
        plain = gt.run_plain(argv, timeout=30, preexec_fn=_no_core)
        self.assertEqual(plain.returncode, -11, plain.stderr)
        self.assertIn("Segmentation fault: sigaction SIG_DFL", plain.stdout)
        with gt.tempdir() as d:
            trace = str(d / "t.trace")
            r = gt.run_traced(argv, trace, timeout=30, preexec_fn=_no_core)
            self.assertEqual((r.returncode, r.stdout, r.stderr),
                             (plain.returncode, plain.stdout, plain.stderr))
            # the handler that handed the fault back: ours took it, so the
            # trace is finished: its two sleeps just before are in it
            ev = gt.trace_events(trace)
            self.assertEqual(len([e for e in ev if e.type == "GoSleep"]), 2)

    def test_handler_set_during_a_trace_survives_its_stop(self):
        import test_rpc as rt
        with gt.tempdir() as d:
            sock = str(d / "s.sock")
            p = gt.start_traced([gt.program("sigkeep"), "survive"], None, socket=sock,
                                stdin=subprocess.PIPE, preexec_fn=_no_core)
            try:
                gt.wait_until(lambda: rt.can_connect(sock) or p.poll() is not None,
                              what="endpoint")
                f = d / "t.trace"
                self.assertEqual(rt.stream_call(sock, rt.req("debug_startGoTrace", [str(f)])),
                                 rt.NULL_REPLY)
                p.stdin.write("go\n")
                p.stdin.flush()
                self.assertEqual(p.stdout.readline(), "installed\n")
                self.assertEqual(rt.stream_call(sock, rt.req("debug_stopGoTrace", [])),
                                 rt.NULL_REPLY)
                out, err = p.communicate("fault\n", timeout=30)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.communicate()
            self.assertEqual((p.returncode, out), (0, "recovered 5\n"), err)
            gt.trace_events(str(f))

    FLAGS = r"""
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
/* flags: what sigaction reads back after signal(SIG_DFL) (glibc: SA_RESTART,
 * the signal in the mask, SA_RESTORER from the kernel) and SIG_IGN, for a
 * signal our fatal handler takes and for SIGPROF, and before any set. */
static void show(const char *what, int sig)
{
	struct sigaction o;
	sigaction(sig, NULL, &o);
	printf("%s flags=%#x in-mask=%d\n", what, (unsigned)o.sa_flags,
	       sigismember(&o.sa_mask, sig));
}
static void h(int sig)
{
	(void)sig;
}
int main(void)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, sa = { .sa_handler = SIG_DFL };
	show("USR1 untouched", SIGUSR1);
	signal(SIGTERM, SIG_DFL);
	show("TERM signal(SIG_DFL)", SIGTERM);
	sigaction(SIGPROF, &ign, NULL);
	show("PROF SIG_IGN", SIGPROF);
	signal(SIGUSR2, h);
	sigaction(SIGUSR2, &sa, &sa);   /* the same struct: old and new */
	printf("USR2 old %s\n", sa.sa_handler == h ? "h" : "other");
	show("USR2 SIG_DFL", SIGUSR2);
	sigaction(SIGUSR2, NULL, &sa);
	printf("USR2 now %s\n", sa.sa_handler == SIG_DFL ? "SIG_DFL" : "other");
	sigignore(SIGHUP);   /* glibc's own sigaction, not ours */
	sigaction(SIGHUP, NULL, &sa);
	printf("HUP now %s\n", sa.sa_handler == SIG_IGN ? "SIG_IGN" : "other");
	return 0;
}
"""

    def test_flags_read_back_as_without_us(self):
        """A disposition the program reads back has the flags and mask the
        kernel would keep for what it set (SA_RESTART and the signal in the
        mask after signal(), SA_RESTORER), not 0 and an empty mask, while
        our handler stands in for its SIG_DFL, or our sampler for its
        SIGPROF."""
        with gt.tempdir() as d:
            exe = gt.compile_c(self.FLAGS, d / "flags")
            plain = gt.run_plain([exe], timeout=30)
            self.assertIn("in-mask=1", plain.stdout)
            for env in ({"GOTRACE_FILE": str(d / "t.trace")},
                        {"GOTRACE_CPU_FILE": str(d / "c.pprof")}):
                with self.subTest(env=list(env)):
                    r = gt.run_traced([exe], None, env=env, timeout=30)
                    self.assertEqual((r.returncode, r.stdout), (0, plain.stdout), r.stderr)

    def test_two_threads_crash_at_once(self):
        with gt.tempdir() as d:
            for k in range(5):
                trace = str(d / f"t{k}.trace")
                r = gt.run_traced([gt.program("sigkeep"), "double"], trace, timeout=30,
                                  preexec_fn=_no_core)
                self.assertEqual(r.returncode, -6, r.stderr)
                ev = gt.trace_events(trace)
                self.assertEqual(len([e for e in ev if e.type == "GoSleep"]), 2,
                                 f"run {k}: both threads' sleeps")


class ProfilesAtFatalSignal(unittest.TestCase):
    """A profile running without a trace when a signal the program does
    not handle ends it (SIGTERM from systemd, ^C): the fatal-signal
    handlers were armed by traces only, so a CPU profile was left at 0
    bytes, a block or mutex profile's window wrote no file, the held call
    got no reply (the connection closed) and the socket stayed. They are
    armed while any of them runs now, and the signal's exit work writes
    each and answers its call; the program still dies by the signal."""

    CASES = [("debug_cpuProfile", True), ("debug_startCPUProfile", False),
             ("debug_blockProfile", True), ("debug_mutexProfile", True)]

    def test_profile_written_and_call_answered(self):
        import signal
        import threading
        import test_rpc as rt
        for method, held in self.CASES:
            with self.subTest(method=method), gt.tempdir() as d:
                sock, out = str(d / "s.sock"), d / "p.pprof"
                p = gt.start_traced([gt.program("demo_server"), "3000"], None, socket=sock)
                try:
                    gt.wait_until(lambda: rt.can_connect(sock) or p.poll() is not None,
                                  what="endpoint")
                    params = [str(out), 30] if held else [str(out)]
                    reply = {}
                    call = threading.Thread(target=lambda: reply.update(
                        r=rt.stream_call(sock, rt.req(method, params), timeout=60)))
                    call.start()
                    time.sleep(0.8)
                    p.send_signal(signal.SIGTERM)
                    p.communicate(timeout=60)
                    call.join(60)
                finally:
                    if p.poll() is None:
                        p.kill()
                        p.communicate()
                self.assertEqual(p.returncode, -signal.SIGTERM)
                self.assertEqual(reply.get("r"), rt.NULL_REPLY)
                self.assertFalse(os.path.exists(sock), "the socket was left behind")
                self.assertGreater(out.stat().st_size, 0)
                for go in (gt.GO, gt.GO_MODERN):
                    r = gt._go(["tool", "pprof", "-top", str(out)], text=True, go=go)
                    self.assertEqual(r.returncode, 0, f"{go}: {r.stderr}")



CANCEL_NET = r"""
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>
/* cancel_net: a thread in epoll_wait on a set watching a socket, one in
 * read() on the socket, one in select() on it: each cancelled after 40 ms. */
static int sv[2], ep;
static void *in_epoll(void *a) { struct epoll_event e; epoll_wait(ep, &e, 1, -1); return a; }
static void *in_read(void *a) { char c; read(sv[0], &c, 1); return a; }
static void *in_select(void *a)
{
	fd_set r;
	FD_ZERO(&r);
	FD_SET(sv[0], &r);
	select(sv[0] + 1, &r, NULL, NULL, NULL);
	return a;
}
int main(void)
{
	struct epoll_event e = { .events = EPOLLIN };
	pthread_t t[3];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || (ep = epoll_create1(0)) < 0)
		return 1;
	e.data.fd = sv[0];
	epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &e);
	pthread_create(&t[0], NULL, in_epoll, NULL);
	pthread_create(&t[1], NULL, in_read, NULL);
	pthread_create(&t[2], NULL, in_select, NULL);
	usleep(40000);
	for (int i = 0; i < 3; i++) {
		pthread_cancel(t[i]);
		pthread_join(t[i], NULL);
	}
	return 0;
}
"""


class CancelledWaits(unittest.TestCase):
    def test_kind_without_an_end(self):
        """A call cancelled never returns, and its kind was refined only at
        its end: an epoll_wait, select or read on a socket was a select wait
        or a syscall, where the same call returning is a net wait. The kind now
        comes from what its begin noted."""
        with gt.tempdir() as d:
            exe = gt.compile_c(CANCEL_NET, d / "cancel_net")
            trace = str(d / "t.trace")
            r = gt.run_traced([exe], trace, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            ev = gt.trace_events(trace)
            net = {e.g for e in ev if e.type == "GoBlockNet"}
            self.assertEqual(len(net), 3, sorted({(e.g, e.type) for e in ev}))

class OtherDeadlySignals(unittest.TestCase):
    """Signals whose default ends the process beyond the usual ones: SIGXCPU
    from RLIMIT_CPU (`ulimit -t`), and SIGXFSZ, SIGVTALRM, SIGPWR, SIGSYS,
    a real-time signal and SIGPROF (during a CPU profile: our sampler's own
    signal) sent with kill. They ended the process with the CPU profile at
    0 bytes and without the trace's last second. Now both are finished
    first, and the process still dies by the signal."""

    SENT = ["XFSZ", "VTALRM", "PWR", "SYS", "RTMIN+3", "PROF"]

    def check_files(self, trace, prof):
        self.assertGreater(os.path.getsize(prof), 0, "the CPU profile")
        for go in (gt.GO, gt.GO_MODERN):
            r = gt._go(["tool", "pprof", "-top", str(prof)], text=True, go=go)
            self.assertEqual(r.returncode, 0, f"{go}: {r.stderr}")
        ev = gt.trace_events(trace)
        states = gt.goroutine_states(ev)
        self.assertNotIn("running", states.values(), f"states at end: {states}")

    def test_sent(self):
        import signal
        for name in self.SENT:
            sig = signal.SIGRTMIN + 3 if name == "RTMIN+3" else getattr(signal, "SIG" + name)
            with self.subTest(sig=name), gt.tempdir() as d:
                trace, prof = d / "t.trace", d / "c.pprof"
                p = gt.start_traced([gt.program("cpuburn"), "30", "2"], trace,
                                    env={"GOTRACE_CPU_FILE": str(prof)})
                try:
                    time.sleep(0.8)
                    p.send_signal(sig)
                    p.communicate(timeout=60)
                finally:
                    if p.poll() is None:
                        p.kill()
                        p.communicate()
                self.assertEqual(p.returncode, -sig)
                self.check_files(trace, prof)

    KERNEL_SENT = r"""
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <stdio.h>
/* ksig alarm|vtalrm: the kernel sends the signal (si_code SI_KERNEL, as
 * a terminal's ^C): alarm(1) then sleep(3), or ITIMER_VIRTUAL over a busy
 * loop. Prints "still alive" if it was not ended. */
int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "alarm")) {
		alarm(1);
		sleep(3);
	} else {
		struct itimerval it = { { 0, 0 }, { 0, 300000 } };
		setitimer(ITIMER_VIRTUAL, &it, NULL);
		for (volatile unsigned long i = 0; i < 4000000000ul; i++)
			;
	}
	puts("still alive");
	return 0;
}
"""

    def test_kernel_sent(self):
        """A signal the kernel sends (alarm's SIGALRM, a timer's, a
        terminal's SIGINT: si_code SI_KERNEL, > 0) was taken for a fault
        the faulting instruction raises again, and our handler returned:
        the program went on ("still alive", exit 0) where it dies plain."""
        import signal
        with gt.tempdir() as d:
            exe = gt.compile_c(self.KERNEL_SENT, d / "ksig")
            for mode, sig in (("alarm", signal.SIGALRM), ("vtalrm", signal.SIGVTALRM)):
                with self.subTest(mode=mode):
                    trace = d / f"{mode}.trace"
                    r = gt.run_traced([exe, mode], str(trace), timeout=60)
                    self.assertEqual((r.returncode, r.stdout), (-sig, ""), r.stderr)
                    gt.trace_events(str(trace))

    def test_cpu_time_limit(self):
        import resource
        import signal

        def limit():
            resource.setrlimit(resource.RLIMIT_CPU, (1, 5))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        with gt.tempdir() as d:
            trace, prof = d / "t.trace", d / "c.pprof"
            r = gt.run_traced([gt.program("cpuburn"), "30", "2"], trace, timeout=60,
                              env={"GOTRACE_CPU_FILE": str(prof)}, preexec_fn=limit,
                              capture_output=True, text=True)
            self.assertEqual(r.returncode, -signal.SIGXCPU, r.stderr)
            self.check_files(trace, prof)

if __name__ == "__main__":
    unittest.main()
