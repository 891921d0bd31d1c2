"""The tracer's own file descriptors survive a program that, like a daemon,
dup2()s /dev/null over every open fd and then closes them all (one by one,
or with close_range): the program's output is unchanged, nothing is written
to its fds, and the trace is complete (it holds the threads started after
the fds were closed).

The service thread has an fd table of its own: the program's table holds
none of the tracer's fds but the wake pair (two sockets), the trace file
and the endpoint are in the service thread's, and a child forked while a
trace runs keeps every fd of the program's (their numbers can be ours in
the service thread's table, which the child never had)."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

OUT = "closed all fds, threads still run\n"

FDVIEW = r"""
#include <fcntl.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

/* fdview: /dev/null at 3..22; print the service thread's pid (a line on
 * stdout), wait for a byte on stdin (the test looks at /proc meanwhile),
 * fork: the child says how many of 3..22 it still has and writes to each. */
int main(void)
{
	for (int fd = 3; fd <= 22; fd++)
		if (open("/dev/null", O_WRONLY) != fd)
			return 2;
	printf("ready\n");
	fflush(stdout);
	char c;
	if (read(0, &c, 1) != 1)
		return 3;
	pid_t p = fork();
	if (p == 0) {
		int ok = 0;
		for (int fd = 3; fd <= 22; fd++)
			ok += fcntl(fd, F_GETFD) >= 0 && write(fd, "x", 1) == 1;
		printf("child has %d of 20\n", ok);
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 4;
}
"""


def links(d):
    out = {}
    for fd in os.listdir(d):
        try:
            out[int(fd)] = os.readlink(f"{d}/{fd}")
        except OSError:
            pass
    return out


FILES = r"""
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

/* files N: /dev/zero and /dev/null opened first thing (the lowest
 * numbers, which the service thread's own fds may just have had), then N
 * 64-byte reads of the one, each written to the other. */
int main(int argc, char **argv)
{
	int in = open("/dev/zero", O_RDONLY), out = open("/dev/null", O_WRONLY);
	char b[64];

	for (long i = 0, n = atol(argv[1]); i < n; i++)
		if (read(in, b, sizeof(b)) != sizeof(b) || write(out, b, sizeof(b)) != sizeof(b))
			return 1;
	return 0;
}
"""


def stale_socket(path):
    """A socket file nobody listens on, as a killed process leaves."""
    import socket
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()


class Fds(unittest.TestCase):
    def test_files_are_not_sockets(self):
        """A one-thread program's first fds are files: its reads and writes
        are system calls in the trace, never network waits. The service
        thread, starting meanwhile, probes a stale socket at the endpoint's
        path with a socket of its own at those numbers; its notes of that
        fd's kind (socket, then closed) landed after the program had the
        number (4 runs in 6 had every write a network wait)."""
        with gt.tempdir() as d:
            exe = gt.compile_c(FILES, d / "files")
            for i in range(12):
                sock, trace = d / f"s{i}.sock", d / f"t{i}.trace"
                stale_socket(sock)
                r = gt.run_traced([exe, 2000], trace, socket=str(sock), timeout=60,
                                  env={"GOTRACE_BLOCK_NS": "0"})
                self.assertEqual(r.returncode, 0, r.stderr)
                ev = gt.trace_events(str(trace), modern=False,
                                     types={"GoSysCall", "GoBlockNet"})
                kinds = [e.type for e in ev]
                self.assertEqual(kinds.count("GoBlockNet"), 0, f"run {i}: network waits")
                self.assertGreaterEqual(kinds.count("GoSysCall"), 4000, f"run {i}")

    def check(self, mode):
        with gt.tempdir() as d:
            trace = str(d / "t.trace")
            r = gt.run_traced([gt.program("behave"), mode], trace, timeout=30)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, OUT, ""))
            ev = gt.trace_events(trace)
            self.assertEqual(len(gt.created_goroutines(ev)), 4, "main + 3 threads")
            self.assertEqual(gt.goroutine_groups(gt.check_ui(trace, mmu="some")),
                             {"main": 1, "before_close": 1, "after_close": 2})

    def test_close_one_by_one(self):
        self.check("close-all")

    def test_close_range(self):
        self.check("close-range")

    def test_tables_apart(self):
        with gt.tempdir() as d:
            prog = gt.compile_c(FDVIEW, d / "fdview")
            trace, sock = d / "t.trace", str(d / "s.sock")
            p = gt.start_traced([prog], trace, socket=sock, stdin=subprocess.PIPE)
            try:
                self.assertEqual(p.stdout.readline(), "ready\n")
                gt.wait_until(lambda: os.path.exists(sock), what="the endpoint")
                prog_fds = links(f"/proc/{p.pid}/fd")
                # ours there: the wake pair, and libunwind's pipe (made ours)
                extra = {fd: l for fd, l in prog_fds.items() if fd > 22}
                kinds = sorted(l.split(":")[0] for l in extra.values())
                self.assertIn(kinds, (["socket"] * 2, ["pipe"] * 2 + ["socket"] * 2),
                              f"ours in the program's table: {extra}")
                svc = {}
                for tid in os.listdir(f"/proc/{p.pid}/task"):
                    t = links(f"/proc/{p.pid}/task/{tid}/fd")
                    if str(trace) in t.values():
                        svc = t
                self.assertTrue(svc, "no thread has the trace file open")
                self.assertNotIn(str(trace), prog_fds.values())
                listening = {l for l in svc.values() if l.startswith("socket:")} - \
                    set(prog_fds.values())
                self.assertTrue(listening, "the endpoint's socket is not the service thread's")
                out, err = p.communicate("x", timeout=30)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.communicate()
            self.assertEqual((p.returncode, out, err), (0, "child has 20 of 20\n", ""))
            gt.trace_events(str(trace))


STALE_KIND = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <linux/close_range.h>
#include <sys/socket.h>
#include <sys/syscall.h>

/* A socket is closed one way or another, a pipe gets its number, and a
 * 30 ms read of the pipe follows: a system call each time, not a wait
 * on the network. */
static int wfd;
static void *wr(void *a)
{
	usleep(30000);
	if (write(wfd, "x", 1) != 1)
		return a;
	return NULL;
}
int main(void)
{
	for (int mode = 0; mode < 6; mode++) {
		int s = socket(AF_UNIX, SOCK_DGRAM, 0), p[2];
		FILE *f;
		switch (mode) {
		case 0: close_range((unsigned)s, (unsigned)s, 0); break;
		case 1: f = fdopen(s, "r"); fclose(f); break;
		case 2: syscall(SYS_close, s); break;
		case 3: syscall(SYS_close_range, s, s, 0); break;
		case 4: closefrom(s); break;
		default: close(s); break;
		}
		pthread_t t;
		char c;
		if (pipe(p) || p[0] != s || pthread_create(&t, 0, wr, 0))
			return 1;
		wfd = p[1];
		if (read(p[0], &c, 1) != 1)
			return 1;
		pthread_join(t, 0);
		close(p[0]);
		close(p[1]);
	}
	return 0;
}
"""


class StaleKind(unittest.TestCase):
    def test_reused_number_is_no_socket(self):
        """A socket closed by close_range, fclose of its stream, a raw
        SYS_close or SYS_close_range, or closefrom, and a pipe given its
        number: the pipe's 30 ms read is a syscall wait. Those closes kept
        the number's "socket" mark (close() alone forgot it), and the
        reads were network waits."""
        with gt.tempdir() as d:
            exe = gt.compile_c(STALE_KIND, d / "stale")
            trace = str(d / "t.trace")
            r = gt.run_traced([exe], trace, timeout=30)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            for modern in (False, True):
                with self.subTest(go="1.23" if modern else "1.19"):
                    self.assertNotIn("read", gt.pprof_top(trace, "net", modern=modern))
                    rows = gt.pprof_top(trace, "syscall", modern=modern)
                    self.assertIn("read", rows, rows)
                    self.assertGreater(rows["read"][0], 6 * 25 * 1_000_000, rows)


if __name__ == "__main__":
    unittest.main()
