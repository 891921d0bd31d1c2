"""GOTRACE_UNWIND=auto (the default) walks frame records where they are
exact, and frames without one by the rule libunwind's first walk through
them taught (their CFA from their sp, where they saved rbp): libunwind
walks a stack only when it holds an address not seen yet. tests/programs/unwind.c
blocks in read() from five shapes of stack, one thread each: frame pointers
throughout, through a function built without them that uses rbp, through
one that leaves rbp alone (called through a pointer: its caller's record is
one frame too far up), from qsort's callback inside libc, and 100 frames
deep; then the main thread, whose stack ends in libc's start-up code. With
every read recorded (GOTRACE_BLOCK_NS=0):
  - the syscall profile's stacks are exactly libunwind's
    (GOTRACE_UNWIND=libunwind), shape by shape, and every shape has its
    innermost program frames (rd < the shape's function);
  - the frame walk did the work for every shape and the main thread once
    each address was learned (GOTRACE_DEBUG's count), so the test cannot
    pass by always falling back;
  - GOTRACE_UNWIND=fp, which trusts every record, gets the two shapes
    without frame pointers wrong: the check above can tell."""
import os
import re
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

N = 2000
SHAPES = {"fp": "fp_leaf", "nofp": "nofp_busy", "untouched": "nofp_untouched",
          "qsort": "cmp", "deep": "deep"}


class Unwind(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = cls.tmp_ctx.__enter__()
        cls.exe = gt.program("unwind")
        cls.plain = gt.run_plain([cls.exe, str(N)], timeout=120)
        cls.runs = {}
        for mode in ("auto", "libunwind", "fp"):
            trace = str(cls.tmp / f"{mode}.trace")
            env = {"GOTRACE_BLOCK_NS": "0", "GOTRACE_DEBUG": "1", "GOTRACE_UNWIND": mode}
            cls.runs[mode] = (trace, gt.run_traced([cls.exe, str(N)], trace, env=env,
                                                   timeout=120))

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    def by_shape(self, mode):
        trace, r = self.runs[mode]
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, self.plain.stdout)
        got = {}
        for frames in gt.pprof_traces(trace, "syscall"):
            if frames[0] != "read" or len(frames) < 3 or frames[1] != "rd":
                continue
            shape = next((s for s, fn in SHAPES.items() if frames[2] == fn), None)
            self.assertIsNotNone(shape, f"{mode}: a read from nowhere known: {frames}")
            got.setdefault(shape, set()).add(frames)
        return got

    def test_auto_stacks_are_libunwinds(self):
        auto, unw = self.by_shape("auto"), self.by_shape("libunwind")
        self.assertEqual(set(unw), set(SHAPES), f"libunwind's shapes: {sorted(unw)}")
        for shape in SHAPES:
            self.assertEqual(auto.get(shape), unw[shape], f"shape {shape}")
        # The shapes' frames as written in unwind.c.
        self.assertIn(("read", "rd", "fp_leaf", "fp_mid", "shape"), unw["fp"])
        self.assertIn(("read", "rd", "fp_leaf", "fp_mid", "main"), unw["fp"])
        self.assertIn(("read", "rd", "nofp_untouched", "untouched_caller", "shape"),
                      unw["untouched"])
        self.assertTrue(any(f[3] == "shape" for f in unw["nofp"]), unw["nofp"])
        self.assertTrue(all(len(f) == 64 for f in unw["deep"]), {len(f) for f in unw["deep"]})

    def test_frame_records_did_the_work(self):
        _, r = self.runs["auto"]
        m = re.search(r"gotrace: unwind: (\d+) frame-record walks \((\d+) a site's last "
                      r"stack again\), (\d+) libunwind, (\d+) learned", r.stderr)
        self.assertTrue(m, r.stderr)
        walks, same, unw, learned = map(int, m.groups())
        self.assertLessEqual(same, walks, r.stderr)
        # N reads in each of the five shapes and main's; libunwind only to
        # learn the addresses (nofp, untouched and qsort by their rules)
        self.assertGreaterEqual(walks, 6 * N - 100, r.stderr)
        self.assertLess(unw, 100, r.stderr)
        self.assertLess(learned, 100, "verdicts are learned once per address")

    def test_trusting_every_record_is_wrong(self):
        """GOTRACE_UNWIND=fp loses frames on the shapes without frame
        pointers: the comparison above is able to fail."""
        fp, unw = self.by_shape("fp"), self.by_shape("libunwind")
        self.assertEqual(fp.get("fp"), unw["fp"])
        self.assertNotEqual(fp.get("untouched"), unw["untouched"])


RESTORER = r"""
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* The kernel's struct sigaction (rt_sigaction), with our own restorer. */
struct ksa {
	void (*handler)(int);
	unsigned long flags;
	void (*restorer)(void);
	unsigned long mask;
};
void my_restorer(void);
/* After a byte that no symbol covers, as glibc's __restore_rt is. */
__asm__(".text\n\t.p2align 4\n\t.type pad_fn, @function\npad_fn:\n\tret\n\t.size pad_fn, 1\n"
	"\t.p2align 4\n"
	".globl my_restorer\n\t.type my_restorer, @function\nmy_restorer:\n\t"
	"mov $15, %rax\n\tsyscall\n\t.size my_restorer, .-my_restorer\n");

static volatile int n;
static int zero;
static void on_alarm(int s)
{
	char b[8];
	(void)s;
	if (read(zero, b, sizeof(b)) == sizeof(b))
		n++;
}

__attribute__((noinline)) static void spin(void)
{
	while (n < 3)
		for (volatile int i = 0; i < 1000; i++)
			;
}

int main(void)
{
	struct ksa a;
	memset(&a, 0, sizeof(a));
	a.handler = on_alarm;
	a.flags = 0x04000000 | SA_RESTART;   /* SA_RESTORER */
	a.restorer = my_restorer;
	zero = open("/dev/zero", O_RDONLY);
	if (zero < 0 || syscall(SYS_rt_sigaction, SIGALRM, &a, NULL, 8))
		return 1;
	ualarm(10000, 50000);
	spin();
	puts("ok");
	return 0;
}
"""


class SignalReturn(unittest.TestCase):
    """A signal handler returns into a sigreturn trampoline (glibc's
    __restore_rt, here the program's own my_restorer, set with the raw
    rt_sigaction), whose first byte the kernel put as the handler's return
    address: no call precedes it, so the usual lookup at pc - 1 lands in
    the padding before it (no symbol: "rt+0x117f", and a note that the
    object lacks symbols) or in another function. The frame is named by
    the trampoline's own symbol."""

    def test_restorer_named(self):
        with gt.tempdir() as d:
            exe = gt.compile_c(RESTORER, d / "rt")
            trace = d / "t.trace"
            r = gt.run_traced([exe], trace, env={"GOTRACE_BLOCK_NS": "0"})
            self.assertEqual((r.returncode, r.stdout), (0, "ok\n"), r.stderr)
            frames = [f for f in gt.pprof_traces(trace, "syscall")
                      if f[:2] == ("read", "on_alarm")]
            self.assertTrue(frames, "no read from the handler")
            for f in frames:
                self.assertEqual(f[2], "my_restorer", f)


if __name__ == "__main__":
    unittest.main()
