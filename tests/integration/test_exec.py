"""exec under GOTRACE_FILE: a failed exec does not end the trace (the thread
the program starts afterwards is in it), and a successful exec gives the new
image a fresh, complete trace in the same file (same pid: it owns the file)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402


class Exec(unittest.TestCase):
    def test_failed_exec_keeps_tracing(self):
        with gt.tempdir() as d:
            trace = str(d / "t.trace")
            r = gt.run_traced([gt.program("behave"), "exec-fail"], trace, timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "execv: ENOENT\nmain: thread after failed exec joined\n")
            gt.trace_events(trace)
            self.assertEqual(gt.goroutine_groups(gt.check_ui(trace, mmu="some")),
                             {"main": 1, "after_exec_fail": 1})

    def test_exec_gives_new_image_trace(self):
        with gt.tempdir() as d:
            trace = str(d / "t.trace")
            r = gt.run_traced([gt.program("behave"), "exec", gt.program("tree")], trace,
                              timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("tree: 6 alpha, 12 beta, sum 506", r.stdout)
            ev = gt.trace_events(trace)
            self.assertEqual(len(gt.created_goroutines(ev)), 19)
            self.assertEqual(gt.goroutine_groups(gt.check_ui(trace, mmu="some")),
                             {"main": 1, "alpha": 6, "beta": 12})
            self.assertEqual(sorted(os.listdir(d)), ["t.trace"])


if __name__ == "__main__":
    unittest.main()
