"""unshare(CLONE_NEWUSER) and setns() into a mount namespace want a process
of one thread; under the library, idle or tracing, a program of one thread
is still one for them (the service thread steps out for the call, and the
stack table grows without liburcu's resize worker), through libc's
wrappers and through syscall(). Afterwards the endpoint still serves and
traces parse. Plain and preloaded runs must print the same.

The service thread has an fd table of its own, which ends with it: its
fds come back at their numbers in the next one's. A client connected
across the call, with half a request sent, gets its answer after it, and
a trace running across it goes on.

Without the step-out, all four calls fail with EINVAL under the library
(`unshare -U true` exits 1); with the resize worker, while tracing."""
import os
import shutil
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402
from test_rpc import NULL_REPLY, can_connect, parses, req, stream_call  # noqa: E402

PROG = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* 2^depth different stacks, each ending in a sleep of 0 */
static void __attribute__((noinline)) branch(unsigned bits, int depth);
static void __attribute__((noinline)) left(unsigned bits, int depth)
{
	branch(bits >> 1, depth - 1);
	__asm__ volatile("" ::: "memory");
}
static void __attribute__((noinline)) right(unsigned bits, int depth)
{
	branch(bits >> 1, depth - 1);
	__asm__ volatile("" ::: "memory");
}
static void __attribute__((noinline)) branch(unsigned bits, int depth)
{
	if (depth == 0) {
		struct timespec z = { 0, 0 };
		nanosleep(&z, NULL);
	} else if (bits & 1) {
		right(bits, depth);
	} else {
		left(bits, depth);
	}
	__asm__ volatile("" ::: "memory");
}

/* nsprog MODE [wait|around]: one namespace call, its result, then (wait)
 * a read of stdin before exit; (around) one before the call too. MODE
 * "grow": 16384 different stacks first (the stack table grows), then
 * unshare. */
int main(int argc, char **argv)
{
	const char *m = argv[1];
	int r, fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);

	char c;
	if (argc > 2 && !strcmp(argv[2], "around") && read(0, &c, 1) != 1)
		return 3;
	if (!strcmp(m, "grow"))
		for (unsigned i = 0; i < 16384; i++)
			branch(i, 14);
	if (!strcmp(m, "unshare") || !strcmp(m, "grow"))
		r = unshare(CLONE_NEWUSER);
	else if (!strcmp(m, "sys-unshare"))
		r = (int)syscall(SYS_unshare, CLONE_NEWUSER);
	else if (!strcmp(m, "setns"))
		r = setns(fd, CLONE_NEWNS);
	else
		r = (int)syscall(SYS_setns, fd, 0);
	printf("%s: %s\n", m, r ? strerror(errno) : "ok");
	fflush(stdout);
	if (argc > 2) {
		if (read(0, &c, 1) < 0)
			return 3;
	}
	return r ? 1 : 0;
}
"""

MODES = ("unshare", "sys-unshare", "setns", "sys-setns")


class Namespaces(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = cls.tmp_ctx.__enter__()
        cls.prog = gt.compile_c(PROG, cls.tmp / "nsprog")
        cls.plain = {m: gt.run_plain([cls.prog, m]) for m in MODES}

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    def test_plain_can(self):
        # The machine allows what the others test (root, user namespaces):
        # otherwise they would compare two failures.
        for m in MODES:
            self.assertEqual(self.plain[m].stdout, f"{m}: ok\n", self.plain[m].stderr)

    def test_idle_same_as_plain(self):
        for m in MODES:
            with self.subTest(mode=m):
                r = gt.run_traced([self.prog, m], None, socket=str(self.tmp / f"{m}.sock"))
                self.assertEqual((r.returncode, r.stdout, r.stderr),
                                 (self.plain[m].returncode, self.plain[m].stdout, ""))

    def test_tracing_same_as_plain(self):
        for m in MODES:
            with self.subTest(mode=m):
                f = self.tmp / f"file-{m}.trace"
                r = gt.run_traced([self.prog, m], f)
                self.assertEqual((r.returncode, r.stdout, r.stderr),
                                 (self.plain[m].returncode, self.plain[m].stdout, ""))
                parses(self, f)

    def test_after_the_stack_table_grew(self):
        # 16384 recorded sleeps with as many stacks: the table (4096 to
        # start) is resized on a thread that ends, and unshare still works.
        f = self.tmp / "grow.trace"
        r = gt.run_traced([self.prog, "grow"], f, env={"GOTRACE_BLOCK_NS": "0"})
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "grow: ok\n", ""))
        ev = parses(self, f)
        self.assertGreaterEqual(sum(e.type == "GoSleep" for e in ev), 16384)

    def test_endpoint_serves_after(self):
        for m in MODES:
            with self.subTest(mode=m):
                sock = str(self.tmp / f"after-{m}.sock")
                p = gt.start_traced([self.prog, m, "wait"], None, socket=sock,
                                    stdin=subprocess.PIPE)
                try:
                    self.assertEqual(p.stdout.readline(), f"{m}: ok\n")
                    gt.wait_until(lambda: can_connect(sock), what=f"endpoint {sock}")
                    f = self.tmp / f"{m}.trace"
                    self.assertEqual(stream_call(sock, req("debug_startGoTrace", [str(f)])),
                                     NULL_REPLY)
                    self.assertEqual(stream_call(sock, req("debug_stopGoTrace", [])), NULL_REPLY)
                    parses(self, f)
                    tasks = os.listdir(f"/proc/{p.pid}/task")
                    self.assertLessEqual(len(tasks), 3, "service threads piled up")
                finally:
                    out, err = p.communicate("x", timeout=30)
                self.assertEqual((p.returncode, err), (0, ""))

    def test_client_and_trace_across_the_call(self):
        for m in MODES:
            with self.subTest(mode=m):
                sock = str(self.tmp / f"across-{m}.sock")
                f = self.tmp / f"across-{m}.trace"
                p = gt.start_traced([self.prog, m, "around"], None, socket=sock,
                                    stdin=subprocess.PIPE)
                try:
                    gt.wait_until(lambda: can_connect(sock), what=f"endpoint {sock}")
                    self.assertEqual(stream_call(sock, req("debug_startGoTrace", [str(f)])),
                                     NULL_REPLY)
                    with socket.socket(socket.AF_UNIX) as c:
                        c.settimeout(30)
                        c.connect(sock)
                        half = req("debug_stopGoTrace", [])
                        c.sendall(half[:20].encode())
                        p.stdin.write("x")
                        p.stdin.flush()
                        self.assertEqual(p.stdout.readline(), f"{m}: ok\n")
                        c.sendall(half[20:].encode() + b"\n")
                        self.assertEqual(c.recv(200), NULL_REPLY)
                    parses(self, f)
                finally:
                    out, err = p.communicate("x", timeout=30)
                self.assertEqual((p.returncode, err), (0, ""))

    @unittest.skipUnless(shutil.which("unshare"), "util-linux unshare missing")
    def test_unshare_tool(self):
        r = gt.run_traced(["unshare", "-U", "-r", "id", "-u"], None,
                          socket=str(self.tmp / "tool.sock"))
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "0\n", ""))
        f = self.tmp / "tool.trace"
        r = gt.run_traced(["unshare", "-U", "-r", "id", "-u"], f)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "0\n", ""))
        parses(self, f)


if __name__ == "__main__":
    unittest.main()
