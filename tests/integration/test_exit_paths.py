"""Each way a traced process can end gives a complete trace: it parses, the
viewer serves every page, and no thread is left "running" at the end.

  return from main            behave return 4 (a thread is blocked in
                              pthread_cond_wait when main returns)
  exit() from another thread  behave exit-thread 6 (a sleeper is blocked
                              in pthread_cond_wait when the process exits)
  main calls pthread_exit     behave pthread-exit (3 threads still running;
                              the process ends when the last one returns)"""
import os
import subprocess
import sys
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

    def test_main_pthread_exit(self):
        ev, states, groups = self.traced(
            ["pthread-exit"], 0, "worker 2: done after main left")
        self.assertEqual(groups, {"main": 1, "late_worker": 3})
        main = gt.created_goroutines(ev)[0]
        self.assertEqual(states[main], "dead", "main's pthread_exit is a thread exit")
        dead = [g for g, s in states.items() if s == "dead"]
        self.assertGreaterEqual(len(dead), 3, f"main and at least 2 workers ended: {states}")


if __name__ == "__main__":
    unittest.main()
