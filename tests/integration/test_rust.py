"""A Rust program (std only, built here with rustc): Rust's Mutex and
Condvar wait with raw futex calls through libc's syscall(), below any pthread
function. Under the library:
  - its output and exit status are those of a plain run;
  - Go 1.19 reads the trace and its viewer pages load;
  - the sync profile has each wait (innermost frame syscall(SYS_futex)),
    under the Rust function that waited, within 10% of what the thread
    measured itself;
  - names are demangled as rustc-demangle prints them, for the program's
    legacy-mangled symbols and std's v0 ones alike: no _ZN.../_R... name,
    no ::h<hash> suffix, in the profiles (read without pprof's own
    demangler) nor in the viewer's goroutine groups.
rustc is installed by scripts/test when missing (Debian's package)."""
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

SRC = gt.REPO / "tests" / "programs" / "rust_waits.rs"
MANGLED = re.compile(r"^(_ZN|_R[A-Z])|::h[0-9a-f]{16}$")


class Rust(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = cls.tmp_ctx.__enter__()
        rustc = shutil.which("rustc")
        assert rustc, "rustc not found: scripts/test installs Debian's rustc"
        cls.exe = str(cls.tmp / "rust_waits")
        r = subprocess.run([rustc, "-O", "-g", "-o", cls.exe, str(SRC)],
                           capture_output=True, text=True, cwd=cls.tmp)
        assert r.returncode == 0, f"rustc failed:\n{r.stderr}"
        cls.plain = gt.run_plain([cls.exe], timeout=60)
        cls.trace = str(cls.tmp / "rust.trace")
        cls.traced = gt.run_traced([cls.exe], cls.trace, timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    def measured(self):
        return {m.group(1): int(m.group(2))
                for m in re.finditer(r"^(\w+) ns=(\d+)$", self.traced.stdout, re.M)}

    def test_output_unchanged(self):
        self.assertEqual(self.plain.returncode, 0, self.plain.stderr)
        self.assertEqual(self.traced.returncode, 0, self.traced.stderr)
        self.assertNotIn("gotrace:", self.traced.stderr)
        strip = lambda s: re.sub(r"ns=\d+", "ns=N", s)   # noqa: E731
        self.assertEqual(strip(self.traced.stdout), strip(self.plain.stdout))
        self.assertIn("rust_waits: done 1", self.traced.stdout)

    def test_futex_waits_in_sync_profile(self):
        gt.trace_events(self.trace)
        prof = gt.pprof_top(self.trace, "sync", raw=True)
        self.assertIn("syscall(SYS_futex)", prof, sorted(prof))
        for fn, ns in self.measured().items():
            with self.subTest(fn=fn):
                rows = {k: v for k, v in prof.items() if k == f"rust_waits::{fn}"}
                self.assertEqual(len(rows), 1, f"no row for rust_waits::{fn}: {sorted(prof)}")
                cum = next(iter(rows.values()))[1]
                self.assertLessEqual(abs(cum - ns), 0.10 * ns,
                                     f"rust_waits::{fn}: {cum} ns in the sync profile, "
                                     f"the thread measured {ns} ns")

    def test_names_demangled(self):
        names = set()
        for kind in ("sync", "sched", "syscall"):
            names |= set(gt.pprof_top(self.trace, kind, raw=True))
        self.assertTrue(any(n.startswith("std::") or n.startswith("<std::") for n in names),
                        f"no std frame at all: {sorted(names)}")
        self.assertEqual([n for n in names if MANGLED.search(n)], [], sorted(names))
        groups = gt.goroutine_groups(gt.check_ui(self.trace, mmu="some"))
        self.assertEqual(sum(groups.values()), 3, groups)   # main + 2 threads
        self.assertEqual([g for g in groups if MANGLED.search(g)], [], groups)


if __name__ == "__main__":
    unittest.main()
