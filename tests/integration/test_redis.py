"""Smoke test on a real server: redis-server traced from start to shutdown
under load (redis-benchmark over a Unix socket). Its replies and exit status
are unchanged, the trace parses, the viewer serves every page, and redis's
own threads (main + its bio background threads) are goroutines named after
their start routines."""
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402


class Redis(unittest.TestCase):
    def test_traced_under_load(self):
        server = shutil.which("redis-server")
        cli = shutil.which("redis-cli")
        bench = shutil.which("redis-benchmark")
        self.assertTrue(server and cli and bench,
                        "redis-server/redis-tools not installed (scripts/test installs them)")
        with gt.tempdir() as d:
            sock, trace = str(d / "redis.sock"), str(d / "redis.trace")
            p = gt.start_traced([server, "--port", "0", "--unixsocket", sock, "--save", "",
                                 "--appendonly", "no", "--dir", str(d)], trace)
            try:
                gt.wait_until(lambda: os.path.exists(sock), 20, "redis's socket")
                r = gt.run_plain([bench, "-s", sock, "-n", "5000", "-c", "8", "-q",
                                  "-t", "set,get,lpush,lpop"], timeout=120)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("SET:", r.stdout)
                r = gt.run_plain([cli, "-s", sock, "set", "k", "v"])
                self.assertEqual(r.stdout, "OK\n")
                r = gt.run_plain([cli, "-s", sock, "get", "k"])
                self.assertEqual(r.stdout, "v\n")
                gt.run_plain([cli, "-s", sock, "shutdown", "nosave"])
                p.wait(timeout=30)
            finally:
                if p.poll() is None:
                    p.kill()
                out, err = p.communicate()
            self.assertEqual(p.returncode, 0, err)
            ev = gt.trace_events(trace)
            self.assertNotIn("running", gt.goroutine_states(ev).values())
            groups = gt.goroutine_groups(gt.check_ui(trace, mmu="some"))
            self.assertEqual(groups.get("main"), 1, groups)
            self.assertGreaterEqual(groups.get("bioProcessBackgroundJobs", 0), 1, groups)
            syscalls = gt.pprof_top(trace, "net")
            self.assertTrue(any(n.startswith("epoll_wait") for n in syscalls),
                            f"redis's event loop waits in epoll_wait: {sorted(syscalls)}")


if __name__ == "__main__":
    unittest.main()
