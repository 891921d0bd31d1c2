"""Issue 2.2: 2,000 short threads started from 4 threads at once.

The trace parses with Go 1.19's `go tool trace -d`, the creation count is
exact (main + 4 spawners + 2000 workers), every short thread ended, and the
viewer serves every page for this big trace."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

THREADS, SPAWNERS = 2000, 4


class ChurnTrace(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = cls.tmp_ctx.__enter__()
        cls.trace = str(cls.tmp / "churn.trace")
        cls.traced = gt.run_traced([gt.program("churn"), THREADS, SPAWNERS], cls.trace,
                                   timeout=300)
        cls.events, cls.events_error = None, None
        try:
            cls.events = gt.trace_events(cls.trace)
        except AssertionError as e:
            cls.events_error = e

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    def need_events(self):
        if self.events_error:
            raise self.events_error
        return self.events

    def test_program_unchanged(self):
        self.assertEqual(self.traced.returncode, 0, self.traced.stderr)
        self.assertEqual(self.traced.stdout, f"churn: {THREADS} threads ran\n")
        self.assertEqual(self.traced.stderr, "")

    def test_creation_count_exact(self):
        created = gt.created_goroutines(self.need_events())
        self.assertEqual(len(created), 1 + SPAWNERS + THREADS)
        self.assertEqual(len(set(created)), len(created), "a goroutine id was created twice")

    def test_every_thread_started_and_ended(self):
        ev = self.need_events()
        started = {e.args["g"] for e in ev if e.type in ("GoStart", "GoStartLabel")}
        self.assertEqual(started, set(gt.created_goroutines(ev)),
                         "every created thread must start in the trace")
        states = gt.goroutine_states(ev)
        dead = [g for g, s in states.items() if s == "dead"]
        self.assertEqual(len(dead), SPAWNERS + THREADS)
        self.assertNotIn("running", states.values())

    def test_groups_and_viewer(self):
        self.need_events()
        pages = gt.check_ui(self.trace, mmu="some", goroutine_traces=3)
        self.assertEqual(gt.goroutine_groups(pages),
                         {"main": 1, "spawner_main": SPAWNERS, "short_worker": THREADS})


if __name__ == "__main__":
    unittest.main()
