"""`gotrace run [-o FILE] -- CMD ARGS`: traces the whole run (as
GOTRACE_FILE does), passes the program's stdout and exit status through and
prints a summary on stderr that names the trace file."""
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

TREE_OUT = "tree: 6 alpha, 12 beta, sum 506\n"


def gotrace(args, cwd, timeout=60):
    assert gt.CLIENT.exists(), f"{gt.CLIENT} missing: build with meson first"
    return gt.run_plain([gt.CLIENT, *args], cwd=cwd, timeout=timeout)


class GotraceRun(unittest.TestCase):
    def test_output_file(self):
        with gt.tempdir() as d:
            r = gotrace(["run", "-o", "out.trace", "--", gt.program("tree")], cwd=d)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, TREE_OUT)
            self.assertIn("out.trace", r.stderr, "the summary names the trace file")
            self.assertEqual(sorted(os.listdir(d)), ["out.trace"])
            ev = gt.trace_events(str(d / "out.trace"))
            self.assertEqual(len(gt.created_goroutines(ev)), 19)
            self.assertEqual(gt.goroutine_groups(gt.check_ui(str(d / "out.trace"), mmu="some")),
                             {"main": 1, "alpha": 6, "beta": 12})

    def test_absolute_output_file(self):
        with gt.tempdir() as d, gt.tempdir() as elsewhere:
            out = elsewhere / "abs.trace"
            r = gotrace(["run", "-o", str(out), "--", gt.program("tree")], cwd=d)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(os.listdir(d), [])
            gt.trace_events(str(out))

    def test_default_file(self):
        with gt.tempdir() as d:
            r = gotrace(["run", "--", gt.program("tree")], cwd=d)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, TREE_OUT)
            files = os.listdir(d)
            self.assertEqual(len(files), 1, f"one default trace file in the cwd: {files}")
            self.assertIn(files[0], r.stderr, "the summary names the trace file")
            self.assertEqual(len(gt.created_goroutines(gt.trace_events(str(d / files[0])))), 19)

    def test_exit_status_passed_through(self):
        with gt.tempdir() as d:
            for args, status in ((["errno", "5"], 5), (["exit-thread", "7"], 7),
                                 (["return", "0"], 0)):
                with self.subTest(args=args):
                    r = gotrace(["run", "-o", "s.trace", "--", gt.program("behave"), *args], cwd=d)
                    self.assertEqual(r.returncode, status, r.stderr)
                    gt.trace_events(str(d / "s.trace"))

    def test_program_stdout_and_args_intact(self):
        with gt.tempdir() as d:
            r = gotrace(["run", "-o", "e.trace", "--", "/bin/echo", "-n", "a  b", "--", "c"], cwd=d)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "a  b -- c")

    def test_missing_command(self):
        with gt.tempdir() as d:
            r = gotrace(["run", "-o", "m.trace", "--", "/nonexistent-gotrace/cmd"], cwd=d)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("/nonexistent-gotrace/cmd", r.stderr)



CRASH = r"""
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
int main(int argc, char **argv)
{
	volatile unsigned long x = 0;
	for (clock_t t = clock(); clock() - t < CLOCKS_PER_SEC / 5;)
		x++;
	puts("crashing");
	fflush(stdout);
	raise(argc > 1 ? atoi(argv[1]) : SIGSEGV);
	return 0;
}
"""


class Outputs(unittest.TestCase):
    """What `gotrace run` says after the program: a trace sent to a FIFO is
    its reader's (run read it back for the summary and waited for good in
    open()); a CPU profile the program died before writing is said to be
    missing (run said "written" of an empty file)."""

    def test_trace_to_a_fifo(self):
        with gt.tempdir() as d:
            fifo, copy = d / "t.fifo", d / "copy.trace"
            os.mkfifo(fifo)

            def reader():
                with open(fifo, "rb") as f, open(copy, "wb") as o:
                    o.write(f.read())
            t = threading.Thread(target=reader)
            t.start()
            r = gotrace(["run", "-o", str(fifo), "--", gt.program("tree")], cwd=d, timeout=60)
            t.join(30)
            self.assertEqual((r.returncode, r.stdout), (0, TREE_OUT), r.stderr)
            self.assertIn(f"gotrace: the trace went to {fifo}, not a regular file: no summary",
                          r.stderr)
            self.assertEqual(len(gt.created_goroutines(gt.trace_events(str(copy)))), 19)

    def test_cpu_profile_of_a_crash(self):
        """A crash (SIGSEGV) now finishes the profile as SIGTERM does; a
        SIGKILL leaves none, and run says so rather than "written"."""
        with gt.tempdir() as d:
            exe = gt.compile_c(CRASH, d / "crash")
            r = gotrace(["run", "-o", "c.trace", "--cpu", "c.pprof", "--", exe], cwd=d)
            self.assertEqual(r.returncode, 128 + 11, r.stderr)
            self.assertIn("CPU profile written", r.stderr)
            for go in (gt.GO, gt.GO_MODERN):
                t = gt._go(["tool", "pprof", "-top", str(d / "c.pprof")], text=True, go=go)
                self.assertEqual(t.returncode, 0, t.stderr)
            r = gotrace(["run", "-o", "k.trace", "--cpu", "k.pprof", "--", exe, "9"], cwd=d)
            self.assertEqual(r.returncode, 128 + 9, r.stderr)
            self.assertIn(f"gotrace: no CPU profile was written to {d / 'k.pprof'}: the program "
                          "died before its end", r.stderr)
            self.assertNotIn("CPU profile written", r.stderr)


if __name__ == "__main__":
    unittest.main()
