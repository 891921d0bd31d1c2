"""Issue 20: every Go toolchain users have opens every trace.

Go 1.23+ reads our 1.19-format traces through a converter into its new
viewer; four event sequences Go 1.19's checker accepts broke it (or every
version): go-trace-format.md 12.1. One test per class, on the program
tests/programs/blockers.c (one thread blocked in each family):

  1. a blocking syscall hands its P off: GoSysCall, GoSysBlock, ProcStop,
     then ProcStart(tid), GoSysExit, GoStart (else 1.23's viewer panics);
  2. a mid-run start with threads blocked in each family: the first event is
     a GoCreate, P 0's ProcStart comes after it (else 1.23's viewer panics);
  3. waits end with a stacked unblock, so Go 1.23's sync and net profiles
     equal Go 1.19's (they read 0 or wrong before);
  4. a program ended by a signal: the file has no goroutine running at
     its end (1.19-1.22's viewer crashed): a signal it does not handle is
     caught while a trace runs (invisibly: the program sees SIG_DFL), the
     trace finished, the signal raised again; SIGKILL's cut file is
     repaired by `gotrace run`, which says so.
Each trace then goes through both viewers, every page (gttest.check_ui:
1.23's thread view too) and both parsers with all four profiles."""
import os
import signal
import subprocess
import sys
import time
import unittest
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import gttest as gt  # noqa: E402

WAITS_NS = 15_000_000   # each released wait lasts >= 20 ms; keep a margin


def by_p(events):
    out = {}
    for e in events:
        out.setdefault(e.p, []).append(e)
    return out


class Sequences(unittest.TestCase):
    def setUp(self):
        cm = gt.tempdir()
        self.d = cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)

    def both_read(self, path, sync_min=0, net_min=0):
        """Both parsers, the four profiles, equal totals, every viewer page."""
        ev = gt.trace_events(path)   # 1.19 -d, then gt.check_modern
        for kind, low in (("sync", sync_min), ("net", net_min)):
            old = gt.profile_total(path, kind)
            new = gt.profile_total(path, kind, gt.GO_MODERN)
            self.assertGreaterEqual(old, low, f"Go 1.19 {kind} total")
            self.assertLessEqual(abs(old - new), old / 100 + 1000,
                                 f"{kind}: Go 1.19 {old} ns, Go 1.23 {new} ns")
        pages = gt.check_ui(path, mmu="some")
        self.assertIn("/goroutines", pages)
        return ev

    def test_1_syscall_hands_off_its_p(self):
        trace = str(self.d / "whole.trace")
        r = gt.run_traced([gt.program("blockers")], trace, input="go\n", timeout=60)
        self.assertEqual((r.returncode, r.stdout), (0, "ready\ndone\n"), r.stderr)
        ev = gt.trace_events(trace, modern=False)
        # Go 1.19's parser shows GoSysExit on its fake syscall P: look at
        # the thread's own P around the block instead.
        blocks = 0
        for p, es in by_p(ev).items():
            for i, e in enumerate(es):
                if e.type == "GoSysBlock":
                    blocks += 1
                    after = [x.type for x in es[i + 1:i + 4]]
                    self.assertEqual(after[:2], ["ProcStop", "ProcStart"],
                                     f"P {p}: GoSysBlock at {e.ts}, then {after}")
                    self.assertIn(after[2], ("GoStart", "GoStartLabel"))
        self.assertGreaterEqual(blocks, 2, "the reader's two reads")
        self.assertEqual(blocks, sum(1 for e in ev if e.type == "GoSysExit"))
        gt.check_ui(trace, mmu="some")   # Go 1.23's panicked: startRunningTime != 0
        self.both_read(trace, sync_min=4 * WAITS_NS, net_min=2 * WAITS_NS)

    def midrun(self, name):
        """Start a trace while every family is blocked; release; let exit
        finish the trace. Returns its path."""
        rt = self.d / "xdg"
        rt.mkdir(mode=0o700, exist_ok=True)
        env = {"XDG_RUNTIME_DIR": str(rt)}
        p = gt.start_traced([gt.program("blockers")], None, env=env, socket=None,
                            stdin=subprocess.PIPE)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.communicate()))
        self.assertEqual(p.stdout.readline(), "ready\n")
        trace = str(self.d / name)
        r = gt.run_plain([gt.CLIENT, "start", str(p.pid), trace], env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        time.sleep(0.1)
        out, err = p.communicate("go\n", timeout=60)
        self.assertEqual((p.returncode, out), (0, "done\n"), err)
        return trace

    def test_2_midrun_snapshot_starts_with_gocreate(self):
        trace = self.midrun("mid.trace")
        ev = gt.trace_events(trace, modern=False)
        timed = [e for e in ev if e.type not in ("String", "Stack")]
        self.assertEqual(timed[0].type, "GoCreate", timed[:3])
        p0 = by_p(ev)[0]
        self.assertEqual(p0[0].type, "GoCreate")
        self.assertEqual(p0[1].type, "ProcStart")
        self.assertGreater(p0[1].ts, p0[0].ts)
        kinds = [e.type for e in p0]
        self.assertEqual(kinds.count("GoInSyscall"), 1, "the reader, in read()")
        # The waiter, receiver and sleeper. The locker shows as runnable: a
        # mutex lock taken while no trace runs keeps to its fast path and
        # marks nothing (README, Limits).
        self.assertGreaterEqual(kinds.count("GoWaiting"), 3)
        self.assertEqual(kinds.count("Gomaxprocs"), 2, "1.23's converter drops the first")
        gt.check_ui(trace, mmu="some")
        self.both_read(trace, sync_min=4 * WAITS_NS, net_min=WAITS_NS)

    def test_3_waits_have_stacked_unblocks(self):
        trace = str(self.d / "u.trace")
        r = gt.run_traced([gt.program("blockers")], trace, input="go\n", timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.both_read(trace, sync_min=4 * WAITS_NS, net_min=2 * WAITS_NS)
        top = gt.pprof_top(trace, "sync")
        self.assertIn("pthread_mutex_lock", top)
        self.assertIn("pthread_cond_wait", top)
        # Go 1.23's own view: the same call sites.
        with gt.tempdir() as d:
            pb = gt._profile(trace, "net", d, gt.GO_MODERN)
            r = gt._go(["tool", "pprof", "-top", "-unit=ns", pb], go=gt.GO_MODERN, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("recv", gt.parse_pprof_top(r.stdout))

    def run_killed(self, sig):
        """gotrace run of blockers, killed by sig once its threads block."""
        trace = self.d / f"killed{sig}.trace"
        p = subprocess.Popen([str(gt.CLIENT), "run", "-o", str(trace), "--",
                              gt.program("blockers")], env=gt.plain_env(),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.communicate()))
        self.assertEqual(p.stdout.readline(), "ready\n")
        time.sleep(1.5)   # the service thread flushes idle threads' batches each second
        child = int(Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split()[0])
        os.kill(child, sig)
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 128 + sig, err)
        ev = gt.trace_events(str(trace), modern=False)
        self.assertNotIn("running", gt.goroutine_states(ev).values(), err)
        self.both_read(str(trace))   # Go 1.19's viewer crashed (trace.go:855)
        self.assertIn(f"killed by signal {sig} ({signal.strsignal(sig)})", err)
        self.assertNotIn("INCOMPLETE", err)
        return err

    def test_4_killed_by_a_signal_it_does_not_handle(self):
        """SIGTERM: our handler finishes the trace, then the program dies
        by the signal as it would have (nothing left to repair)."""
        err = self.run_killed(signal.SIGTERM)
        self.assertNotIn("repaired", err)

    def test_4_killed_by_sigkill_under_gotrace_run(self):
        """SIGKILL cannot be caught: gotrace run repairs the cut file."""
        err = self.run_killed(signal.SIGKILL)
        self.assertRegex(err, r"the trace was cut; repaired: kept \d+ of \d+ bytes")

    def start_endpoint(self, argv, **kw):
        rtd = self.d / "xdg"
        rtd.mkdir(mode=0o700, exist_ok=True)
        env = {"XDG_RUNTIME_DIR": str(rtd)}
        p = gt.start_traced(argv, None, env=env, socket=None, **kw)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.communicate()))
        sock = rtd / "gotrace" / f"{p.pid}.sock"
        gt.wait_until(lambda: sock.exists() or p.poll() is not None, what=str(sock))
        return p, env, sock

    def test_4_endpoint_trace_ended_by_signals(self):
        """A trace started through the endpoint in a program that a signal
        then ends (systemd's SIGTERM, ^C, a closed pipe): the file is whole,
        the process dies by that signal, its socket is gone."""
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGPIPE, signal.SIGHUP):
            with self.subTest(sig=sig.name):
                p, env, sock = self.start_endpoint([gt.program("demo_server"), "3000"])
                trace = self.d / f"ep{sig}.trace"
                r = gt.run_plain([gt.CLIENT, "start", str(p.pid), trace], env=env, timeout=60)
                self.assertEqual(r.returncode, 0, r.stderr)
                time.sleep(0.5)
                p.send_signal(sig)
                p.communicate(timeout=60)
                self.assertEqual(p.returncode, -sig)
                self.assertFalse(sock.exists(), "the socket was left behind")
                ev = gt.trace_events(str(trace), modern=False)
                self.assertNotIn("running", gt.goroutine_states(ev).values())
                self.both_read(str(trace))

    def test_4_handler_is_invisible(self):
        """tests/programs/sigs.c queries and sets dispositions while a
        trace runs: it sees what it sees untraced (SIG_DFL, its own
        handlers run), and after the stop nothing of ours is left."""
        prog = gt.program("sigs")
        plain = gt.run_plain([prog], input="1\n2\n", timeout=30)
        self.assertEqual(plain.returncode, 0, plain.stderr)
        p, env, _ = self.start_endpoint([prog], stdin=subprocess.PIPE)
        self.assertEqual(p.stdout.readline(), "ready\n")
        trace = self.d / "sigs.trace"
        r = gt.run_plain([gt.CLIENT, "start", str(p.pid), trace], env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        p.stdin.write("1\n")
        p.stdin.flush()
        time.sleep(0.3)
        r = gt.run_plain([gt.CLIENT, "stop", str(p.pid)], env=env, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        out, err = p.communicate("2\n", timeout=30)
        self.assertEqual((p.returncode, "ready\n" + out), (0, plain.stdout), err)
        ev = gt.trace_events(str(trace))
        self.assertTrue(any(e.type == "GoBlockSync" for e in ev))

if __name__ == "__main__":
    unittest.main()
