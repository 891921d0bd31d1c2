"""Self-test of tests/lib/gttest.py on reference traces (tests/lib/data):
the checks every other integration test relies on must accept a valid trace
and must fail on the known broken ones.

The reference sample is of the old mapping (go-trace-format.md 12.1): Go
1.19 reads it whole, Go 1.23 does not (a blocking syscall without ProcStop,
unblocks without a stack). So the Go 1.19 checks run on it alone
(modern=False), and the Go 1.23 checks are shown to reject it."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

DATA = gt.REPO / "tests" / "lib" / "data"
SAMPLE = str(DATA / "sample-native.trace")


class Events(unittest.TestCase):
    def test_sample_parses(self):
        ev = gt.trace_events(SAMPLE, modern=False)
        self.assertEqual(len(ev), 81)
        self.assertEqual(ev[1], gt.Event(1, "GoCreate", 0, 0, 95, {"g": 1, "stack": 1}))
        self.assertEqual(gt.created_goroutines(ev), [1, 2, 3, 4, 5, 6])
        logs = [e.args for e in ev if e.type == "UserLog"]
        self.assertIn({"id": 0, "keyid": 30, "category": "malloc", "message": "4194304 bytes"},
                      logs)
        label = next(e for e in ev if e.type == "GoStartLabel")
        self.assertEqual(label.args, {"g": 1, "seq": 1, "labelid": 7, "label": "myserver"})

    def test_states_and_threads(self):
        ev = gt.trace_events(SAMPLE, modern=False)
        self.assertEqual(gt.goroutine_states(ev), {1: "waiting", 2: "runnable", 3: "runnable",
                                                   4: "runnable", 5: "dead", 6: "waiting"})
        self.assertEqual(gt.goroutine_threads(ev)[4], {31340})

    def test_rejected_trace(self):
        with self.assertRaisesRegex(gt.TraceError, "p 3 is running a goroutine 5 during stop"):
            gt.trace_events(str(DATA / "procstop_while_running.trace"))

    def test_missing_trace(self):
        with self.assertRaises(AssertionError):
            gt.trace_events(str(DATA / "no-such.trace"))


class Pprof(unittest.TestCase):
    def test_sync_exact(self):
        rows = gt.pprof_top(SAMPLE, "sync", modern=False)
        self.assertEqual(rows["pthread_join"], (2962000, 2962000))
        self.assertEqual(rows["worker_main"], (0, 1100000))

    def test_other_kinds(self):
        self.assertEqual(gt.pprof_top(SAMPLE, "syscall", modern=False)["read"], (1000000, 1000000))
        self.assertEqual(gt.pprof_top(SAMPLE, "net", modern=False)["net_thread_main"], (0, 2105000))
        self.assertEqual(gt.pprof_top(SAMPLE, "sched", modern=False)["spawn_workers"][0], 0)

    def test_lines(self):
        rows = gt.pprof_top(SAMPLE, "sync", lines=True, modern=False)
        self.assertEqual(rows["worker_main /home/dev/myserver/src/worker.c:45"], (0, 500000))

    def test_pprof_own_units(self):
        rows = gt.pprof_top(SAMPLE, "sync", unit=None, modern=False)
        self.assertEqual(rows["pthread_join"], (2962000, 2962000))

    def test_unit_parsing(self):
        self.assertEqual(gt.parse_duration_ns("0"), 0)
        self.assertEqual(gt.parse_duration_ns("25228ns"), 25228)
        self.assertEqual(gt.parse_duration_ns("25.23us"), 25230)
        self.assertEqual(gt.parse_duration_ns("1.50ms"), 1500000)
        self.assertEqual(gt.parse_duration_ns("2.96s"), 2960000000)
        self.assertEqual(gt.parse_duration_ns("1.01hrs"), 3636000000000)
        with self.assertRaises(gt.TraceError):
            gt.parse_duration_ns("12kB")
        text = ("Type: delay\nShowing nodes accounting for 3ms, 100% of 3ms total\n"
                "      flat  flat%   sum%        cum   cum%\n"
                "       2ms 66.67% 66.67%        2ms 66.67%  f a.c:1\n"
                "       1ms 33.33%   100%        1ms 33.33%  f a.c:1\n"
                "         0     0%   100%        3ms   100%  std::vector<int>::push_back (inline)\n")
        self.assertEqual(gt.parse_pprof_top(text),
                         {"f a.c:1": (3000000, 3000000),
                          "std::vector<int>::push_back (inline)": (0, 3000000)})


class WebUI(unittest.TestCase):
    def test_sample_every_page(self):
        pages = gt.check_ui(SAMPLE, modern=False)
        for url in ("/", "/goroutines", "/io", "/block?raw=1", "/syscall", "/sched",
                    "/usertasks", "/userregions", "/mmu", "/jsontrace",
                    "/mmuPlot?flags=perProc|stw|background|assist|sweep|mut"):
            self.assertIn(url, pages)
        self.assertEqual(sum(1 for u in pages if u.startswith("/mmuPlot")), 64)
        self.assertEqual(sum(1 for u in pages if u.startswith("/goroutine?id=")), 5)
        self.assertIsInstance(pages["/io?raw=1"], bytes)
        self.assertIn("<svg", pages["/syscall"])
        self.assertEqual(gt.goroutine_groups(pages),
                         {"worker_main": 2, "net_thread_main": 1, "cache_janitor_main": 1,
                          "main": 1, "log_flusher_main": 1})

    def test_groups_from_path(self):
        self.assertEqual(gt.goroutine_groups(SAMPLE)["worker_main"], 2)

    def test_running_at_end_fails(self):
        trace = str(DATA / "no_stop_events.trace")
        gt.trace_events(trace, modern=False)   # -d accepts it ...
        with self.assertRaisesRegex(gt.UIError, "(?s)exited at start-up.*still running"):
            gt.check_ui(trace, modern=False)   # ... the viewer does not

    def test_empty_create_stack_fails(self):
        trace = str(DATA / "empty_create_stack.trace")
        gt.trace_events(trace, modern=False)
        with self.assertRaisesRegex(gt.UIError, "(?s)exited at start-up.*empty new-goroutine"):
            gt.check_ui(trace, modern=False)


class Modern(unittest.TestCase):
    """The Go 1.23 checks fail where Go 1.23 fails (the sample's old mapping)."""

    def test_profile_totals_differ(self):
        self.assertEqual(gt.profile_total(SAMPLE, "sync"), 5062000)
        self.assertLess(gt.profile_total(SAMPLE, "sync", gt.GO_MODERN), 5062000)
        with self.assertRaisesRegex(gt.TraceError, "Go 1.23's sync profile totals"):
            gt.check_modern(SAMPLE)
        with self.assertRaisesRegex(gt.TraceError, "Go 1.23's sync profile"):
            gt.trace_events(SAMPLE)

    def test_viewer_panics(self):
        with self.assertRaisesRegex(gt.UIError, r"(?s)go-1\.23.*exited at start-up.*"
                                    r"startRunningTime"):
            gt.check_ui(SAMPLE)


class Misc(unittest.TestCase):
    def test_compile_and_run(self):
        with gt.tempdir() as d:
            exe = gt.compile_c('#include <stdio.h>\nint main(void){puts("hi");return 3;}\n',
                               d / "hi")
            r = gt.run_plain([exe])
            self.assertEqual((r.returncode, r.stdout), (3, "hi\n"))

    def test_wait_until(self):
        self.assertEqual(gt.wait_until(lambda: 7, timeout=1), 7)
        with self.assertRaisesRegex(AssertionError, "waiting for nothing"):
            gt.wait_until(lambda: None, timeout=0.1, what="nothing")

    def test_start_traced_idle(self):
        p = gt.start_traced(["/bin/sh", "-c", 'echo "$LD_PRELOAD $GOTRACE_SOCKET"'], None)
        out, _ = p.communicate(timeout=30)
        self.assertEqual((p.returncode, out), (0, f"{gt.LIB} off\n"))

    def test_free_port(self):
        self.assertTrue(1024 <= gt.free_port() < 65536)


if __name__ == "__main__":
    unittest.main()
