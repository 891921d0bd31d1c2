"""scripts/bench keeps working: one quick round of every workload (no
comparison tools, so the run stays short), each run's trace opened by
`go tool trace -d` (--check), and the table, the per-event cost and the
redis line printed with figures in them. No timing is asserted: the
figures themselves belong to the benchmark (README, issue notes), not to
a test on a shared machine."""
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

BENCH = gt.REPO / "scripts" / "bench"
NUM = r"-?\d+(?:\.\d+)?"


class Bench(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.r = subprocess.run([sys.executable, str(BENCH), "--quick", "--rounds", "1",
                                "--no-install", "--tools", "none", "--check"],
                               capture_output=True, text=True, timeout=600)

    def test_runs(self):
        self.assertEqual(self.r.returncode, 0, self.r.stdout + self.r.stderr)
        self.assertIn("comparison tools: none", self.r.stdout)

    def test_every_workload_has_a_row(self):
        names = [line.split()[0] for line in subprocess.run(
            [sys.executable, str(BENCH), "--list"], capture_output=True, text=True,
            check=True).stdout.splitlines()]
        self.assertIn("mallocstorm", names)
        for name in names:
            with self.subTest(workload=name):
                # plain idle +sock +thrd trace t122 all cpu strace ltrace uftrace lttng
                # perf-g perf-sw heaptr events/s KB/s ns/ev
                m = re.search(rf"^{name} +({NUM}) +({NUM}) +({NUM}) +({NUM}|-) +({NUM}) +({NUM}) "
                              rf"+(\S+) +({NUM}) +- +- +- +- +- +- +- +({NUM}) +({NUM}) +({NUM})",
                              self.r.stdout, re.M)
                self.assertTrue(m, f"no row for {name}:\n{self.r.stdout}")
                plain, idle, sock, trace, t122, cpu = (float(m.group(i)) for i in (1, 2, 3, 5, 6, 8))
                self.assertGreater(plain, 0)
                for ratio in (idle, sock, trace, t122, cpu):
                    self.assertGreater(ratio, 0)
                if name.startswith("st-") or name == "spawn":   # programs of one thread
                    self.assertGreater(float(m.group(4)), 0, "+thrd")
                if name != "cpuloop":   # it makes no call a trace records
                    self.assertGreater(float(m.group(9)), 0, "events/s: the trace was empty")
                # KB/s is printed whole: a one-thread malloc storm's trace
                # (heap counters only) reads 0 when the machine is slow
                self.assertGreaterEqual(float(m.group(10)), 0, "trace KB/s")

    def test_profilers(self):
        # gotrace's CPU profile beside gperftools' and perf's where present
        for name in ("cpuloop", "churn", "mallocstorm"):
            self.assertRegex(self.r.stdout, rf"  {name} +plain +{NUM} ms +cpu {NUM}")

    def test_event_cost_and_redis(self):
        self.assertRegex(self.r.stdout, rf"-> {NUM} ns per recorded event \(main thread\), "
                                        rf"{NUM} ns in a thread, {NUM} ns with "
                                        rf"GOTRACE_UNWIND=libunwind")
        # redis-server is a test dependency (scripts/lib.sh): the line is there.
        self.assertRegex(self.r.stdout, rf"throughput vs plain \({NUM} req/s\): "
                                        rf"idle\+sock {NUM}, tracing {NUM}")


if __name__ == "__main__":
    unittest.main()
