"""Issue 2.1: a fixed thread tree traced with GOTRACE_FILE.

main starts 6 threads `alpha`; each alpha starts 2 threads `beta` from the
helper spawn_betas(). Go 1.19's `go tool trace -d` must accept the trace; it
holds 19 goroutines (the main thread and the 18 created threads) and none of
the tracer's own threads; /goroutines lists alpha x6 and beta x12 (and main);
the creation stacks name the helper with file:line; every viewer page
answers 200 without a panic."""
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

SRC = gt.REPO / "tests" / "programs" / "tree.c"


def source_line(pattern, after=None):
    """1-based line of the first source line matching pattern (after the
    line matching `after`, if given)."""
    lines = SRC.read_text().splitlines()
    start = 0
    if after:
        start = next(i for i, l in enumerate(lines) if re.search(after, l))
    return next(i + 1 for i, l in enumerate(lines) if i >= start and re.search(pattern, l))


class TreeTrace(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = cls.tmp_ctx.__enter__()
        cls.trace = str(cls.tmp / "tree.trace")
        cls.tids_file = cls.tmp / "tids.txt"
        cls.plain = gt.run_plain([gt.program("tree")])
        cls.traced = gt.run_traced([gt.program("tree"), cls.tids_file], cls.trace)
        cls.events = None
        cls.events_error = None
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

    def program_tids(self):
        tids = {}
        for line in self.tids_file.read_text().splitlines():
            role, idx, tid = line.split()
            tids[int(tid)] = f"{role}{idx}"
        self.assertEqual(len(tids), 19, "tree.c should report 19 distinct thread ids")
        return tids

    def test_program_unchanged(self):
        self.assertEqual(self.traced.returncode, 0, self.traced.stderr)
        self.assertEqual(self.traced.stdout, self.plain.stdout)
        self.assertEqual(self.traced.stdout, "tree: 6 alpha, 12 beta, sum 506\n")
        self.assertEqual(self.traced.stderr, "")

    def test_go_tool_trace_d_accepts(self):
        ev = self.need_events()
        self.assertTrue(ev, "trace has no events")
        self.assertIn("Gomaxprocs", {e.type for e in ev})

    def test_nineteen_goroutines(self):
        created = gt.created_goroutines(self.need_events())
        self.assertEqual(len(created), 19, f"GoCreate goroutines: {created}")
        self.assertEqual(len(set(created)), 19, "a goroutine id was created twice")

    def test_goroutines_are_the_program_threads(self):
        """Every goroutine ran on a thread of the program, each program thread
        is exactly one goroutine, so no thread of the tracer's own appears."""
        tids = self.program_tids()
        threads = gt.goroutine_threads(self.need_events())
        self.assertEqual(len(threads), 19, f"goroutines that ran: {sorted(threads)}")
        seen = set()
        for goid, ts in threads.items():
            self.assertEqual(len(ts), 1, f"G{goid} ran on several threads {ts}")
            tid = next(iter(ts))
            self.assertIn(tid, tids, f"G{goid} ran on thread {tid}, not one of the program's")
            seen.add(tid)
        self.assertEqual(seen, set(tids))

    def test_threads_end(self):
        states = gt.goroutine_states(self.need_events())
        running = [g for g, s in states.items() if s == "running"]
        self.assertEqual(running, [], "goroutines still running at the end of the trace")
        dead = [g for g, s in states.items() if s == "dead"]
        self.assertEqual(len(dead), 18, f"the 18 joined threads must have ended: {states}")

    def test_goroutine_groups(self):
        groups = gt.goroutine_groups(self.trace)
        self.assertEqual(groups, {"main": 1, "alpha": 6, "beta": 12})

    def test_creation_stacks_name_helper_with_file_line(self):
        """The sched profile is built from GoCreate's creator stacks."""
        self.need_events()
        rows = gt.pprof_top(self.trace, "sched", lines=True)
        beta_line = source_line(r"pthread_create\(.*beta", after=r"^__attribute__.*spawn_betas")
        alpha_line = source_line(r"pthread_create\(.*NULL, alpha,")
        names = sorted(rows)

        def lines_of(fn):
            return {int(m.group(1)) for n in names
                    for m in [re.fullmatch(re.escape(fn) + r" \S*tree\.c:(\d+)", n)] if m}

        self.assertTrue(lines_of("spawn_betas"),
                        f"no spawn_betas with tree.c:line in the sched profile: {names}")
        self.assertIn(beta_line, lines_of("spawn_betas"),
                      f"spawn_betas frame should point at tree.c:{beta_line}")
        self.assertTrue(lines_of("alpha"), f"alpha (caller of spawn_betas) missing: {names}")
        self.assertIn(alpha_line, lines_of("main"), f"main should create alpha at tree.c:{alpha_line}")
        cum = sum(v[1] for n, v in rows.items() if n.startswith("spawn_betas "))
        self.assertGreater(cum, 0)

    def test_frame_pointer_unwinding(self):
        """GOTRACE_UNWIND=fp (tree is built with frame pointers): the same
        creation stacks as with libunwind."""
        trace = str(self.tmp / "tree-fp.trace")
        r = gt.run_traced([gt.program("tree")], trace, env={"GOTRACE_UNWIND": "fp"})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.plain.stdout)
        names = sorted(gt.pprof_top(trace, "sched", lines=True))
        beta_line = source_line(r"pthread_create\(.*beta", after=r"^__attribute__.*spawn_betas")
        self.assertTrue(any(re.fullmatch(rf"spawn_betas \S*tree\.c:{beta_line}", n) for n in names),
                        f"spawn_betas at tree.c:{beta_line} missing with fp unwinding: {names}")
        self.assertTrue(any(n.startswith("alpha ") for n in names), names)

    def test_separate_debug_file(self):
        """A program stripped of its DWARF, with a .gnu_debuglink to a debug
        file beside it or in .debug/ (objcopy --only-keep-debug, as people
        ship builds): the lines come from that file, found locally (never
        through debuginfod), and a debug file of another build is not
        taken for it."""
        d = self.tmp / "split"
        (d / ".debug").mkdir(parents=True)
        exe = d / "tree"
        shutil.copy(gt.program("tree"), exe)
        subprocess.run(["objcopy", "--only-keep-debug", str(exe), str(d / "tree.debug")], check=True)
        subprocess.run(["objcopy", "--strip-debug", "--add-gnu-debuglink=" + str(d / "tree.debug"),
                        str(exe)], check=True)
        beta_line = source_line(r"pthread_create\(.*beta", after=r"^__attribute__.*spawn_betas")

        def spawn_betas_lines(tag):
            trace = str(self.tmp / f"split-{tag}.trace")
            r = gt.run_traced([str(exe)], trace)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, self.plain.stdout)
            names = sorted(gt.pprof_top(trace, "sched", lines=True))
            self.assertTrue(any(n.startswith("spawn_betas ") for n in names), names)
            return {n for n in names if re.fullmatch(rf"spawn_betas \S*tree\.c:{beta_line}", n)}

        self.assertTrue(spawn_betas_lines("beside"), "debug file beside the program not used")
        os.rename(d / "tree.debug", d / ".debug" / "tree.debug")
        self.assertTrue(spawn_betas_lines("dot-debug"), "debug file in .debug/ not used")
        # Another build's debug file under the same name: its lines would be
        # wrong, so it is not used (the build ids differ).
        other = d / "other.c"
        other.write_text("int main(void) { return 0; }\n")
        subprocess.run(["cc", "-g", "-o", str(d / "other"), str(other)], check=True)
        subprocess.run(["objcopy", "--only-keep-debug", str(d / "other"),
                        str(d / ".debug" / "tree.debug")], check=True)
        self.assertFalse(spawn_betas_lines("other-build"), "another build's debug file was used")

    def test_symbolising_loads_nothing_into_the_program(self):
        """Naming frames of a library without local debug info (libstdc++
        in a C++ program's thread stacks) does not go through debuginfod:
        libdw's standard search would load libdebuginfod, libcurl and ~20
        more libraries into the traced process and initialise OpenSSL
        there, whose exit handler then raced our symbolising (a crash in
        1% of runs). Seen from strace: none of them is opened."""
        log = self.tmp / "cxx.strace"
        trace = self.tmp / "cxx.trace"
        env = gt.traced_env(trace)
        r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat", "-o", str(log),
                            "-E", f"LD_PRELOAD={env['LD_PRELOAD']}", "-E", f"GOTRACE_FILE={trace}",
                            "-E", "GOTRACE_SOCKET=off", gt.program("cxxprog")],
                           env=gt.plain_env(), capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 6, r.stderr)   # cxxprog's own status
        self.assertEqual(len(gt.created_goroutines(gt.trace_events(str(trace)))), 5)
        opened = [line for line in log.read_text().splitlines()
                  if re.search(r"lib(debuginfod|curl|ssl|crypto|ssh2)\b", line) and "ENOENT" not in line]
        self.assertEqual(opened, [])

    def test_every_viewer_page(self):
        self.need_events()
        pages = gt.check_ui(self.trace)
        self.assertEqual(gt.goroutine_groups(pages), {"main": 1, "alpha": 6, "beta": 12})
        timeline = json.loads(pages["/jsontrace"] if "/jsontrace" in pages else
                              next(v for k, v in pages.items() if k.startswith("/jsontrace?start")))
        slices = {e.get("name", "") for e in timeline["traceEvents"]}
        self.assertTrue(any(re.fullmatch(r"G\d+ alpha", s) for s in slices),
                        "timeline has no 'G<n> alpha' slice")
        self.assertTrue(any(re.fullmatch(r"G\d+ beta", s) for s in slices),
                        "timeline has no 'G<n> beta' slice")


if __name__ == "__main__":
    unittest.main()
