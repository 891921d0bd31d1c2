"""The tracer's own file descriptors survive a program that, like a daemon,
dup2()s /dev/null over every open fd and then closes them all (one by one,
or with close_range): the program's output is unchanged, nothing is written
to its fds, and the trace is complete (it holds the threads started after
the fds were closed)."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

OUT = "closed all fds, threads still run\n"


class Fds(unittest.TestCase):
    def check(self, mode):
        with gt.tempdir() as d:
            trace = str(d / "t.trace")
            r = gt.run_traced([gt.program("behave"), mode], trace, timeout=30)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, OUT, ""))
            ev = gt.trace_events(trace)
            self.assertEqual(len(gt.created_goroutines(ev)), 4, "main + 3 threads")
            self.assertEqual(gt.goroutine_groups(gt.check_ui(trace, mmu="some")),
                             {"main": 1, "before_close": 1, "after_close": 2})

    def test_close_one_by_one(self):
        self.check("close-all")

    def test_close_range(self):
        self.check("close-range")


if __name__ == "__main__":
    unittest.main()
