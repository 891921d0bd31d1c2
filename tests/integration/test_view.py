"""Issue 23 (1-4): `gotrace view`, `gotrace summary`, install, and the checks
`gotrace run` makes first. (Every trace the suite reads also has its summary
totals checked against Go's profiles: gttest.check_modern.)

  view       `gotrace view FILE` finds a Go toolchain (GOTRACE_GO, else the
             newest of PATH, GOROOT, /usr/lib/go-*), runs its viewer and
             prints the URL, which answers 200 with each Go version the
             suite installs; `--pprof KIND` prints the profile's top, for
             syscall and sched read by a 1.19-1.22 reader where there is one
             (1.23-1.25 get those two wrong for this format);
  install    a staged meson install holds the man pages and completion;
  run        a static or setuid program, or an output that cannot be
             written, is refused with exit 2 before the program runs; an old
             trace of the same name is never reported as new."""
import os
import re
import signal
import subprocess
import sys
import unittest
import urllib.request
from pathlib import Path

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import gttest as gt  # noqa: E402


def gotrace(args, env=None, timeout=120, **kw):
    return gt.run_plain([gt.CLIENT, *map(str, args)], env=env, timeout=timeout, **kw)


class View(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cm = gt.tempdir()
        cls.d = cm.__enter__()
        cls.addClassCleanup(cm.__exit__, None, None, None)
        cls.trace = str(cls.d / "demo.trace")
        r = gotrace(["run", "-o", cls.trace, "--", gt.program("demo_server")])
        assert r.returncode == 0, r.stderr

    def viewer(self, go):
        env = gt.plain_env({"BROWSER": "true", "GOTRACE_GO": go})
        p = subprocess.Popen([str(gt.CLIENT), "view", self.trace], env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)   # go tool trace runs a child: kill the group
        try:
            url = None
            for line in p.stderr:
                m = re.search(r"gotrace: .* in Go 1\.(\d+)'s viewer: (http://\S+) ", line)
                if m:
                    self.assertEqual(int(m.group(1)), gt.go_minor(go))
                    url = m.group(2)
                    break
            self.assertIsNotNone(url, "no URL printed")
            for page in ("/", "/goroutines", "/jsontrace", "/syscall"):
                with urllib.request.urlopen(url + page, timeout=120) as r:
                    self.assertEqual(r.status, 200, page)
        finally:
            os.killpg(p.pid, signal.SIGKILL)
            p.communicate()

    def test_viewer_of_each_go(self):
        for go in (gt.GO, gt.GO_MODERN):
            with self.subTest(go=go):
                self.viewer(go)

    def test_newest_and_old_reader(self):
        r = gotrace(["view", self.trace, "--pprof", "sync"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("pthread_cond_wait", r.stdout)
        newest = int(re.search(r"read by Go 1\.(\d+)", r.stderr).group(1))
        self.assertGreaterEqual(newest, gt.go_minor(gt.GO_MODERN))
        r = gotrace(["view", self.trace, "--pprof", "syscall", "--lines"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertLessEqual(int(re.search(r"read by Go 1\.(\d+)", r.stderr).group(1)), 22)
        self.assertIn("fsync", r.stdout)

    def test_summary(self):
        r = gotrace(["summary", self.trace])
        self.assertEqual(r.returncode, 0, r.stderr)
        out = r.stdout
        self.assertRegex(out, r"demo.trace: \S+, 18 threads, heap peak ")
        for row in ("syscall", "net", "sync", "sleep"):
            self.assertRegex(out, rf"(?m)^{row} +\d+ ")
        # call sites with their callers' file:line, as Go's profiles name them
        self.assertRegex(out, r"pthread_cond_wait  <- queue_pop demo_server.c:\d+")
        self.assertRegex(out, r"fsync  <- journal_append demo_server.c:\d+")
        self.assertRegex(out, r"(?m)^ +\d+ flusher_main +\S+")
        r = gotrace(["summary", self.trace, "--json"])
        d = __import__("json").loads(r.stdout)
        self.assertEqual(len(d["threads"]), 18)
        self.assertEqual(d["totals"]["sync"]["total_ns"], gt.profile_total(self.trace, "sync"))
        self.assertEqual(gotrace(["summary"]).returncode, 2)
        self.assertEqual(gotrace(["summary", self.d / "none.trace"]).returncode, 1)

    def test_errors(self):
        self.assertEqual(gotrace(["view"]).returncode, 2)
        self.assertEqual(gotrace(["view", self.trace, "--pprof", "cpu"]).returncode, 2)
        r = gotrace(["view", self.d / "missing.trace"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("No such file", r.stderr)
        r = gotrace(["view", self.trace], env={"GOTRACE_GO": "/nonexistent/go"})
        self.assertEqual(r.returncode, 1)
        self.assertIn("no Go toolchain", r.stderr)


class RunChecks(unittest.TestCase):
    def setUp(self):
        cm = gt.tempdir()
        self.d = cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)
        src = '#include <stdio.h>\nint main(void){FILE *f=fopen("ran","w");fclose(f);return 0;}\n'
        self.dyn = gt.compile_c(src, self.d / "dyn")

    def refused(self, argv, out, why):
        r = gotrace(["run", "-o", out, "--", *argv], cwd=self.d)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(why, r.stderr)
        self.assertFalse((self.d / "ran").exists(), "the program ran")

    def test_static_refused(self):
        exe = gt.compile_c(self.dyn + ".c", self.d / "static", flags=["-static"])
        self.refused([exe], self.d / "a.trace", "statically linked: LD_PRELOAD cannot load")
        script = self.d / "s.sh"
        script.write_text(f"#!{exe}\n")
        script.chmod(0o755)
        self.refused([str(script)], self.d / "a.trace", "statically linked")

    def test_setuid_refused(self):
        exe = self.d / "suid"
        exe.write_bytes(Path(self.dyn).read_bytes())
        os.chown(exe, 65534, 65534)   # nobody: another user than the caller
        os.chmod(exe, 0o4755)
        self.refused([str(exe)], self.d / "a.trace", "is setuid: the dynamic loader ignores")

    def test_output_checked_first(self):
        self.refused([self.dyn], self.d / "missing" / "a.trace",
                     "cannot write " + str(self.d / "missing" / "a.trace"))

    def test_stale_trace_not_reported(self):
        out = self.d / "old.trace"
        r = gotrace(["run", "-o", out, "--", gt.program("demo_server")], cwd=self.d)
        self.assertEqual(r.returncode, 0, r.stderr)
        # A run that writes no trace (the program clears LD_PRELOAD and
        # execs): the old file is gone and gotrace says no trace came.
        r = gotrace(["run", "-o", out, "--", "/usr/bin/env", "-u", "LD_PRELOAD",
                     "-u", "GOTRACE_FILE", self.dyn], cwd=self.d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("18 threads", r.stderr)
        if not out.exists():
            self.assertIn("no trace was written", r.stderr)
        else:   # env itself was traced until its exec: a new, small trace
            self.assertLess(len(gt.trace_events(str(out))), 200)


class Conventions(unittest.TestCase):
    def test_version_and_help(self):
        r = gotrace(["--version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^gotrace \d+\.\d+\.\d+ ")
        for args in (["help", "view"], ["view", "--help"], ["summary", "-h"]):
            r = gotrace(args)
            self.assertEqual(r.returncode, 0, args)
            self.assertIn(f"gotrace {args[0] if args[0] != 'help' else args[1]} ", r.stdout)
            self.assertEqual(len([l for l in r.stdout.splitlines() if "gotrace " in l]), 1, args)
        r = gotrace(["help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("gotrace summary", r.stdout)

    def test_errors_name_what_is_wrong(self):
        r = gotrace(["run", "-x", "true"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown option -x", r.stderr)
        r = gotrace(["frob"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command frob", r.stderr)
        self.assertEqual(gotrace(["help", "frob"]).returncode, 2)


class Install(unittest.TestCase):
    def test_staged_install(self):
        """meson install --destdir: the library, gotrace, both man pages and
        the bash completion land where a system looks for them; the loader
        cache step is skipped for a staged install."""
        with gt.tempdir() as d:
            r = subprocess.run(["meson", "install", "-C", str(gt.BUILD), "--no-rebuild",
                                "--destdir", str(d)], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            files = {str(p.relative_to(d)) for p in d.rglob("*") if p.is_file()}
            want = {"bin/gotrace", "libgotrace.so", "share/man/man1/gotrace.1",
                    "share/man/man7/libgotrace.7", "share/bash-completion/completions/gotrace"}
            for w in want:
                self.assertTrue(any(f.endswith(w) for f in files), f"{w} not in {sorted(files)}")
            man = next(d.rglob("gotrace.1")).read_text()
            self.assertTrue(man.startswith(".TH GOTRACE 1"))
            self.assertIn("gotrace view", man.replace("\\", ""))
            comp = next(d.rglob("completions/gotrace"))
            r = subprocess.run(["bash", "-c", f'source "{comp}"; COMP_WORDS=(gotrace vi); '
                                'COMP_CWORD=1; _gotrace; echo "${COMPREPLY[@]}"'],
                               capture_output=True, text=True)
            self.assertEqual(r.stdout.strip(), "view", r.stderr)


if __name__ == "__main__":
    unittest.main()
