"""Issue 4: the heap counter follows the program's live heap, and programs
that allocate a lot behave as without the tracer.

1. tests/programs/heapsteps.c grows its live heap to 64 MiB in 1 MiB steps
   (touching every block), then frees down to 4 MiB: the HeapAlloc counter
   peaks within 2% of 64 MiB above the trace's starting figure (the first
   HeapAlloc, written at trace start) and ends within 2% of 4 MiB above it;
   the steps are visible on the way up and down, the high-water mark
   (HeapGoal) is the peak, and every 1 MiB block has its `malloc` log.
2. tests/programs/storm.c: 8 threads, mixed sizes, realloc chains, frees on
   other threads. Same output as without the library; the trace parses; the
   final HeapAlloc minus the starting figure matches the program's own
   malloc_usable_size account within 1%.
3. Real programs unchanged with tracing on (same stdout and exit status,
   traces parse): a C++ program with std::vector, std::string, std::thread
   (tests/programs/cxxprog.cpp), python3 running a script with threads,
   `git status` in a fresh repository."""
import os
import re
import shutil
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

MiB = 1 << 20


def heap_series(events):
    return [e.args["mem"] for e in events if e.type == "HeapAlloc"]


def rel(actual, expected):
    return (actual - expected) / expected


class HeapSteps(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = cls.tmp_ctx.__enter__()
        cls.trace = str(cls.tmp / "heapsteps.trace")
        cls.plain = gt.run_plain([gt.program("heapsteps")], timeout=60)
        cls.traced = gt.run_traced([gt.program("heapsteps")], cls.trace, timeout=60)
        cls.error, cls.events = None, None
        try:
            cls.events = gt.trace_events(cls.trace)
        except AssertionError as e:
            cls.error = e

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    def series(self):
        if self.error:
            raise self.error
        h = heap_series(self.events)
        self.assertGreaterEqual(len(h), 3, f"HeapAlloc events: {h}")
        return h

    def test_program_unchanged(self):
        self.assertEqual(self.plain.returncode, 0, self.plain.stderr)
        self.assertRegex(self.plain.stdout, r"^heapsteps: peak 65\d\d\d KiB, final 41\d\d KiB, "
                                            r"check 10\n$")
        self.assertEqual(self.traced.returncode, 0, self.traced.stderr)
        self.assertEqual(self.traced.stdout, self.plain.stdout)
        self.assertEqual(self.traced.stderr, "")

    def test_peak_is_64_mib_above_start(self):
        h = self.series()
        start, peak = h[0], max(h)
        self.assertLess(start, 4 * MiB, f"starting figure {start}: glibc's in-use bytes at load")
        self.assertLessEqual(abs(rel(peak - start, 64 * MiB)), 0.02,
                             f"peak {peak} - start {start} = {peak - start}, want 64 MiB +-2% "
                             f"({100 * rel(peak - start, 64 * MiB):+.2f}%)")

    def test_ends_4_mib_above_start(self):
        h = self.series()
        start, final = h[0], h[-1]
        self.assertLessEqual(abs(rel(final - start, 4 * MiB)), 0.02,
                             f"final {final} - start {start} = {final - start}, want 4 MiB +-2% "
                             f"({100 * rel(final - start, 4 * MiB):+.2f}%); last figures {h[-6:]}")

    def test_steps_are_visible(self):
        """1 MiB is more than the counter's ~1% step all the way to 64 MiB,
        so every step up and down is its own HeapAlloc event."""
        h = self.series()
        top = h.index(max(h))
        ups = sum(1 for a, b in zip(h[:top], h[1:top + 1]) if b - a > MiB // 2)
        downs = sum(1 for a, b in zip(h[top:], h[top + 1:]) if a - b > MiB // 2)
        self.assertGreaterEqual(ups, 60, f"steps up of ~1 MiB: {ups}; series {h}")
        self.assertGreaterEqual(downs, 56, f"steps down of ~1 MiB: {downs}; series {h}")
        self.assertTrue(all(b >= a for a, b in zip(h[:top], h[1:top + 1])),
                        f"the figure fell while the program only allocated: {h[:top + 1]}")

    def test_high_water_mark(self):
        h = self.series()
        goals = [e.args["mem"] for e in self.events if e.type == "HeapGoal"]
        self.assertTrue(goals, "no HeapGoal (high-water mark) events")
        self.assertEqual(goals[-1], max(h), f"last HeapGoal {goals[-1]}, peak HeapAlloc {max(h)}")

    def test_malloc_logs(self):
        """GOTRACE_MALLOC_LOG defaults to 1 MiB: each 1 MiB block is logged."""
        self.series()
        logs = [e.args for e in self.events if e.type == "UserLog"
                and e.args.get("category") == "malloc"]
        self.assertEqual(len(logs), 64, f"malloc logs: {logs[:5]}...")
        self.assertEqual({a["message"] for a in logs}, {f"{MiB} bytes"})


class Storm(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = cls.tmp_ctx.__enter__()
        cls.trace = str(cls.tmp / "storm.trace")
        cls.plain = gt.run_plain([gt.program("storm")], timeout=60)
        cls.traced = gt.run_traced([gt.program("storm")], cls.trace, timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    @staticmethod
    def live(result):
        m = re.search(r"^storm: live (\d+) bytes$", result.stdout, re.M)
        assert m, f"no live figure in {result.stdout!r}"
        return int(m.group(1))

    def test_same_output(self):
        """Every line but the live figure is deterministic and must match
        exactly; the live figure (usable sizes) varies by a few hundred bytes
        between plain runs already (glibc may hand out a chunk a few bytes
        bigger than asked depending on free order), so it must agree within
        0.1%."""
        self.assertEqual(self.plain.returncode, 0, self.plain.stderr)
        self.assertEqual(self.traced.returncode, 0, self.traced.stderr)
        fixed = lambda r: re.sub(r"(?m)^storm: live \d+ bytes$", "storm: live N bytes", r.stdout)
        self.assertEqual(fixed(self.traced), fixed(self.plain))
        self.assertIn("storm: 8 threads, 131740 allocations\n", self.plain.stdout)
        self.assertRegex(self.plain.stdout, r"storm: kept \d+ blocks of \d+ requested bytes\n")
        self.assertLessEqual(abs(rel(self.live(self.traced), self.live(self.plain))), 0.001,
                             f"plain {self.plain.stdout} traced {self.traced.stdout}")
        for r in (self.plain, self.traced):
            m = re.search(r"storm: (\d+) frees, (\d+) by another thread", r.stderr)
            self.assertTrue(m, r.stderr)
            self.assertGreater(int(m.group(2)), 1000, "too few cross-thread frees to mean much")

    def test_trace_matches_own_account(self):
        ev = gt.trace_events(self.trace)
        h = heap_series(ev)
        self.assertGreaterEqual(len(h), 3, f"HeapAlloc events: {h}")
        own = self.live(self.traced)
        got = h[-1] - h[0]
        self.assertLessEqual(abs(rel(got, own)), 0.01,
                             f"trace: final {h[-1]} - start {h[0]} = {got}; program's own "
                             f"account {own} ({100 * rel(got, own):+.3f}%)")

    def test_threads_in_trace(self):
        ev = gt.trace_events(self.trace)
        created = gt.created_goroutines(ev)
        self.assertEqual(len(created), 9, f"main and 8 stormers: {created}")
        states = gt.goroutine_states(ev)
        self.assertEqual([g for g, s in states.items() if s == "running"], [], states)


PY_SCRIPT = r"""
import threading, hashlib, collections
lock = threading.Lock()
totals = collections.Counter()
def work(i):
    data = [bytes([i]) * (j % 4096 + 1) for j in range(3000)]
    blobs = {j: bytearray(j * 100) for j in range(200)}
    h = hashlib.sha256(b"".join(data)).hexdigest()
    with lock:
        totals[h[:12]] += len(data) + len(blobs)
ts = [threading.Thread(target=work, args=(i,)) for i in range(6)]
for t in ts: t.start()
for t in ts: t.join()
for k in sorted(totals): print(k, totals[k])
print("threads done:", len(ts))
raise SystemExit(2)
"""

GIT_ENV = {"GIT_CONFIG_NOSYSTEM": "1", "HOME": "/nonexistent-gotrace-home", "LC_ALL": "C",
           "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "T", "GIT_COMMITTER_EMAIL": "t@example.com"}


class RealPrograms(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = cls.tmp_ctx.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    def compare(self, name, argv, expect_rc, expect_out, env=None, cwd=None):
        """Plain and traced runs: same stdout and exit status, the plain one
        as expected; the trace parses and has heap figures. Returns events."""
        trace = str(self.tmp / f"{name}.trace")
        plain = gt.run_plain(argv, env=env, cwd=cwd, timeout=60)
        traced = gt.run_traced(argv, trace, env=env, cwd=cwd, timeout=60)
        self.assertEqual(plain.returncode, expect_rc, f"plain {name}: {plain.stderr}")
        for s in expect_out:
            self.assertIn(s, plain.stdout, f"plain {name}")
        self.assertEqual(traced.returncode, plain.returncode, f"traced {name}: {traced.stderr}")
        self.assertEqual(traced.stdout, plain.stdout, f"stdout of {name} under the tracer")
        self.assertEqual(traced.stderr, plain.stderr, f"stderr of {name} under the tracer")
        ev = gt.trace_events(trace)
        h = heap_series(ev)
        self.assertGreaterEqual(len(h), 2, f"{name}: HeapAlloc events {h}")
        states = gt.goroutine_states(ev)
        self.assertEqual([g for g, s in states.items() if s == "running"], [],
                         f"{name}: goroutines left running {states}")
        return ev

    def test_cxx_program(self):
        """std::vector/std::string/std::thread; each thread holds a 2 MiB
        vector at once, so the high-water mark is at least 2 MiB up."""
        ev = self.compare("cxxprog", [gt.program("cxxprog")], 6,
                          ["thread0 ", "thread3 ", "cxxprog: 4 threads done\n"])
        self.assertEqual(len(gt.created_goroutines(ev)), 5, "main and 4 std::threads")
        h = heap_series(ev)
        self.assertGreater(max(h) - h[0], 2 * MiB, f"heap figures {h[:3]}...{h[-3:]}")

    def test_python_threads(self):
        python = shutil.which("python3", path="/usr/bin:/bin") or shutil.which("python3")
        ev = self.compare("python", [python, "-c", PY_SCRIPT], 2, ["threads done: 6\n"])
        self.assertGreaterEqual(len(gt.created_goroutines(ev)), 7, "main and 6 threads")

    def test_git_status_fresh_repo(self):
        git = shutil.which("git")
        self.assertIsNotNone(git, "git is not installed (scripts/test installs it)")
        repo = self.tmp / "repo"
        repo.mkdir()
        gt.run_plain([git, "init", "-q", "-b", "main"], env=GIT_ENV, cwd=repo, check=True)
        (repo / "a.txt").write_text("a\n")
        (repo / "b.txt").write_text("b\n" * 1000)
        gt.run_plain([git, "add", "a.txt"], env=GIT_ENV, cwd=repo, check=True)
        self.compare("git-status", [git, "status"], 0,
                     ["On branch main", "No commits yet", "new file:   a.txt", "b.txt"],
                     env=GIT_ENV, cwd=repo)
        self.compare("git-status-porcelain", [git, "status", "--porcelain"], 0,
                     ["A  a.txt\n", "?? b.txt\n"], env=GIT_ENV, cwd=repo)


# A library preloaded after ours whose constructor, which runs before
# ours, allocates: our malloc resolves the real one then, through dlsym
# (the constructor's own look-up reads the objects' hash tables and calls
# no dlsym). Its dlsym, which ours binds to, allocates first, as glibc's
# did before 2.34 (its dlerror state, calloc'd at the first call): the
# blocks our malloc hands out while it resolves the real functions come
# from the bootstrap buffer, and the program frees them later. The call to
# the real dlsym is a tail call, so RTLD_NEXT is still relative to its
# caller.
DLSYM_SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

static void *kept[256];
static int nkept;
static void *(*real_dlsym)(void *, const char *);

void *dlsym(void *h, const char *name)
{
	if (!real_dlsym)
		real_dlsym = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.34");
	if (!real_dlsym)
		real_dlsym = dlvsym(RTLD_NEXT, "dlsym", "GLIBC_2.2.5");
	void *p = calloc(1, 24 + strlen(name) % 8);
	if (p && nkept < 256)
		kept[nkept++] = p;
	else
		free(p);
	return real_dlsym(h, name);
}

__attribute__((constructor)) static void early(void)
{
	void *p = malloc(40);   /* as a library's constructor does */
	if (p && nkept < 256)
		kept[nkept++] = p;
	else
		free(p);
}

__attribute__((destructor)) static void release(void)
{
	for (int i = 0; i < nkept; i++)
		free(kept[i]);
	void *q = realloc(NULL, 100);   /* and the allocator goes on working */
	free(q);
}
"""


class Bootstrap(unittest.TestCase):
    """Hooks during dlsym's bootstrap (a non-negotiable): blocks served
    from our bootstrap buffer while the real functions were not known are
    freed by the program later, idle, sampled and traced, and never reach
    glibc's free (which aborts: free(): invalid pointer)."""

    def test_blocks_from_dlsym_freed_later(self):
        with gt.tempdir() as d:
            shim = gt.compile_c(DLSYM_SHIM, d / "libshim.so", flags=["-shared", "-fPIC", "-O2"],
                                libs=["-ldl"])
            prog = gt.program("storm")
            plain = gt.run_plain([prog])
            self.assertEqual(plain.returncode, 0, plain.stderr)
            pre = f"{gt.LIB} {shim}"   # its constructor runs before ours
            for name, env, trace in (("idle", {}, None),
                                     ("heap profile", {"GOTRACE_MEMPROFILE_RATE": "4096"}, None),
                                     ("trace", {}, d / "boot.trace")):
                r = gt.run_traced([prog], trace, env={"LD_PRELOAD": pre, **env})
                # (its live bytes are usable sizes: the shim's blocks move them)
                self.assertEqual((r.returncode, r.stdout.splitlines()[:2]),
                                 (0, plain.stdout.splitlines()[:2]), f"{name}: {r.stderr[-2000:]}")
                self.assertNotIn("invalid pointer", r.stderr, name)
            h = heap_series(gt.trace_events(d / "boot.trace"))
            self.assertGreaterEqual(len(h), 2, f"HeapAlloc events {h}")


if __name__ == "__main__":
    unittest.main()
