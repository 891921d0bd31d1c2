"""Issue 2.3: under the library, tracing on or off, programs keep their
stdout, stderr, exit status and errno values.

Every case runs four times: plain; with the library preloaded but idle
(GOTRACE_SOCKET=off, no GOTRACE_FILE); preloaded with nothing else set (the
default: idle, RPC endpoint on); and tracing (GOTRACE_FILE). The results
must be identical, the plain result must look like the case expects
(so a broken program cannot make the comparison vacuous), and the trace
written in the third run must parse with `go tool trace -d`."""
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

PY_SCRIPT = r"""
import errno, os, socket, sys, threading
out = []
lock = threading.Lock()
def work(i):
    try:
        open('/nonexistent-gotrace/%d' % i)
    except OSError as e:
        with lock:
            out.append((i, errno.errorcode[e.errno]))
ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print(sorted(out))
for name, call in [('read', lambda: os.read(9999, 1)),
                   ('waitpid', lambda: os.waitpid(-1, 0)),
                   ('listdir', lambda: os.listdir('/nonexistent-gotrace')),
                   ('rmdir', lambda: os.rmdir('/'))]:
    try:
        call()
    except OSError as e:
        print(name, errno.errorcode[e.errno])
s = socket.socket(socket.AF_UNIX)
print('connect', errno.errorcode.get(s.connect_ex('/nonexistent-gotrace/sock')))
r, w = os.pipe()
threading.Thread(target=lambda: (os.write(w, b'ping'), os.close(w))).start()
print('pipe', os.read(r, 10), os.read(r, 10))
sys.exit(3)
"""

GIT_ENV = {"GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
           "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
           "GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent-gotrace-home",
           "LC_ALL": "C"}


class SameBehaviour(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = cls.tmp_ctx.__enter__()
        cls.n = 0

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    def compare(self, argv, expect_rc, expect_out, env=None, cwd=None, timeout=30):
        """Run argv four ways; all must match; plain stdout must contain
        every string of expect_out. Returns the plain result."""
        SameBehaviour.n += 1
        trace = self.tmp / f"case{self.n}.trace"
        def run(mode, fn, *a, **kw):
            try:
                return fn(argv, *a, env=env, cwd=cwd, timeout=timeout, **kw)
            except subprocess.TimeoutExpired:
                self.fail(f"{mode}: {argv} did not exit within {timeout}s")

        plain = run("plain", gt.run_plain)
        idle = run("idle (GOTRACE_SOCKET=off)", gt.run_traced, None)
        default = run("default (RPC endpoint on)", gt.run_traced, None, socket=None)
        traced = run("tracing", gt.run_traced, trace)
        self.assertEqual(plain.returncode, expect_rc, f"plain run of {argv}: {plain.stderr}")
        for s in expect_out:
            self.assertIn(s, plain.stdout, f"plain run of {argv}")
        for name, r in (("idle", idle), ("default", default), ("tracing", traced)):
            with self.subTest(mode=name):
                self.assertEqual(r.returncode, plain.returncode, f"{name}: exit status of {argv}")
                self.assertEqual(r.stdout, plain.stdout, f"{name}: stdout of {argv}")
                self.assertEqual(r.stderr, plain.stderr, f"{name}: stderr of {argv}")
        gt.trace_events(trace)
        return plain

    def test_errno_tour(self):
        plain = self.compare([gt.program("behave"), "errno", "0"], 0,
                             ["open-missing           ret=-1 errno=ENOENT",
                              "read-badfd             ret=-1 errno=EBADF",
                              "recv-notsock           ret=-1 errno=ENOTSOCK",
                              "malloc-huge            ret=0 errno=ENOMEM",
                              "new-thread-errno       errno=0",
                              "create-join            ret=0 errno=kept"])
        self.assertEqual(plain.stdout.count("errno=kept"), 14)

    def test_exit_statuses(self):
        for status in (1, 5, 77, 255):
            with self.subTest(status=status):
                self.compare([gt.program("behave"), "errno", str(status)], status,
                             [f"behave: exit {status}"])

    def test_exit_from_thread(self):
        self.compare([gt.program("behave"), "exit-thread", "9"], 9, ["quitter: exit(9)"])

    def test_main_pthread_exit(self):
        self.compare([gt.program("behave"), "pthread-exit"], 0,
                     ["main: pthread_exit\nworker 0: done after main left\n"
                      "worker 1: done after main left\nworker 2: done after main left\n"])

    def test_fork_and_exec(self):
        self.compare([gt.program("spawn"), gt.program("behave"), "errno", "4"], 0,
                     ["spawn: fork child exit 3\nspawn: exec child exit 4\n",
                      "open-missing           ret=-1 errno=ENOENT"])

    def test_threads(self):
        self.compare([gt.program("tree")], 0, ["tree: 6 alpha, 12 beta, sum 506"])
        self.compare([gt.program("churn"), "300", "3"], 0, ["churn: 300 threads ran"])

    def test_python3(self):
        python = shutil.which("python3", path="/usr/bin:/bin") or shutil.which("python3")
        self.compare([python, "-c", PY_SCRIPT], 3,
                     ["[(0, 'ENOENT'), (1, 'ENOENT')", "read EBADF", "waitpid ECHILD",
                      "listdir ENOENT", "connect ENOENT", "pipe b'ping' b''"])

    def test_git(self):
        git = shutil.which("git")
        self.assertIsNotNone(git, "git is not installed (scripts/test installs it)")
        repo = self.tmp / "repo"
        repo.mkdir()
        setup = [["init", "-q", "-b", "main"], ["config", "user.name", "T"]]
        for args in setup:
            gt.run_plain([git, *args], env=GIT_ENV, cwd=repo, check=True)
        for i in range(3):
            (repo / f"f{i}.txt").write_text(f"line {i}\n" * (i + 1))
            gt.run_plain([git, "add", "."], env=GIT_ENV, cwd=repo, check=True)
            gt.run_plain([git, "commit", "-q", "-m", f"commit {i}"], env=GIT_ENV, cwd=repo,
                         check=True)
        (repo / "f0.txt").write_text("changed\n")
        (repo / "new.txt").write_text("untracked\n")
        self.compare([git, "status", "--porcelain"], 0, [" M f0.txt", "?? new.txt"],
                     env=GIT_ENV, cwd=repo)
        self.compare([git, "log", "--format=%H %s"], 0, ["commit 2", "commit 0"],
                     env=GIT_ENV, cwd=repo)
        self.compare([git, "diff", "--stat"], 0, ["f0.txt"], env=GIT_ENV, cwd=repo)
        self.compare([git, "show", "no-such-rev"], 128, [], env=GIT_ENV, cwd=repo)
        self.compare([git, "grep", "-c", "line"], 0, ["f2.txt:3"], env=GIT_ENV, cwd=repo)


if __name__ == "__main__":
    unittest.main()
