"""GOTRACE_FILE and processes.

  %p in the name becomes the pid: one trace per process that loads the
     library (the parent and the child it execs; the forked child that does
     not exec drops the parent's session);
  without %p only one process traces: a parent that forks and execs
     children under GOTRACE_FILE gives exactly one trace, the parent's;
  GOTRACE_OWNER=<pid> makes only that process trace;
  a trace started over the endpoint while the program forks children that
     exit() leaves none of them stuck in liburcu-bp's exit (ForkAtLoad);
  traces started and stopped back to back while the program forks: no
     child dies (ForkAtStop)."""
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import gttest as gt  # noqa: E402
import test_rpc as rt  # noqa: E402  (module only: its tests are not run here)

SPAWN_OUT = "spawn: fork child exit 3\nspawn: exec child exit 0\n"


def popen_traced(argv, trace, env=None):
    p = subprocess.Popen([str(a) for a in argv], env=gt.traced_env(trace, env),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=60)
    return p.pid, p.returncode, out, err


class Processes(unittest.TestCase):
    def test_pid_in_name(self):
        with gt.tempdir() as d:
            pid, rc, out, err = popen_traced([gt.program("tree")], d / "t-%p.trace")
            self.assertEqual(rc, 0, err)
            self.assertEqual(sorted(os.listdir(d)), [f"t-{pid}.trace"])
            ev = gt.trace_events(str(d / f"t-{pid}.trace"))
            self.assertEqual(len(gt.created_goroutines(ev)), 19)

    def test_pid_in_name_with_children(self):
        with gt.tempdir() as d:
            pid, rc, out, err = popen_traced(
                [gt.program("spawn"), gt.program("tree")], d / "t-%p.trace")
            self.assertEqual(rc, 0, err)
            self.assertTrue(out.endswith(SPAWN_OUT), out)
            files = sorted(os.listdir(d))
            self.assertIn(f"t-{pid}.trace", files)
            self.assertIn(len(files), (2, 3), f"parent, exec'd child [, forked child]: {files}")
            groups = {}
            for f in files:
                ev = gt.trace_events(str(d / f))   # every file parses
                self.assertNotIn("running", gt.goroutine_states(ev).values(), f)
                groups[f] = gt.goroutine_groups(gt.check_ui(str(d / f), mmu="some"))
            parent = groups.pop(f"t-{pid}.trace")
            self.assertEqual(parent, {"main": 1, "parent_worker": 1})
            self.assertIn({"main": 1, "alpha": 6, "beta": 12}, groups.values(),
                          f"the exec'd child's trace is missing: {groups}")
            for g in groups.values():
                self.assertNotIn("parent_worker", g, "a child wrote the parent's events")

    def test_children_without_pid_do_not_trace(self):
        with gt.tempdir() as d:
            trace = d / "one.trace"
            r = gt.run_traced([gt.program("spawn"), gt.program("tree")], trace, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.endswith(SPAWN_OUT), r.stdout)
            self.assertEqual(sorted(os.listdir(d)), ["one.trace"])
            ev = gt.trace_events(str(trace))
            self.assertEqual(len(gt.created_goroutines(ev)), 2, "main + parent_worker only")
            self.assertEqual(gt.goroutine_groups(gt.check_ui(str(trace), mmu="some")),
                             {"main": 1, "parent_worker": 1})

    def test_owner_other_pid_does_not_trace(self):
        with gt.tempdir() as d:
            trace = d / "t.trace"
            r = gt.run_traced([gt.program("tree")], trace, env={"GOTRACE_OWNER": "1"})
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "tree: 6 alpha, 12 beta, sum 506\n")
            self.assertEqual(os.listdir(d), [], "a process that is not the owner wrote a trace")

    def test_owner_own_pid_traces(self):
        """sh (not preloaded) sets GOTRACE_OWNER to its own pid and execs."""
        with gt.tempdir() as d:
            trace = d / "t.trace"
            script = (f'GOTRACE_OWNER=$$ LD_PRELOAD="{gt.LIB}" GOTRACE_FILE="{trace}" '
                      f'GOTRACE_SOCKET=off exec "{gt.program("tree")}"')
            r = gt.run_plain(["/bin/sh", "-c", script])
            self.assertEqual(r.returncode, 0, r.stderr)
            ev = gt.trace_events(str(trace))
            self.assertEqual(len(gt.created_goroutines(ev)), 19)



# Stands in for a preemption: 30 ms more inside each lock liburcu-bp takes
# on a thread other than main (its init_lock, in its constructor and at a
# thread's registration, among them).
WIDEN = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
int pthread_mutex_lock(pthread_mutex_t *m)
{
	static int (*real)(pthread_mutex_t *);
	Dl_info di;
	if (!real)
		real = (int (*)(pthread_mutex_t *))dlsym(RTLD_NEXT, "pthread_mutex_lock");
	int r = real(m);
	if (dladdr(__builtin_return_address(0), &di) && di.dli_fname &&
	    strstr(di.dli_fname, "liburcu-bp") && syscall(SYS_gettid) != getpid()) {
		struct timespec t = { 0, 30 * 1000 * 1000 };
		syscall(SYS_nanosleep, &t, NULL);
	}
	return r;
}
"""

FORKER = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
int main(void)
{
	struct timespec t0, t;
	int n = 0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		pid_t pid = fork();
		if (pid == 0)
			exit(0);   /* atexit handlers and destructors: liburcu-bp's */
		int st;
		if (pid < 0 || waitpid(pid, &st, 0) != pid || st)
			return 1;
		n++;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 3);
	printf("forked %s\n", n > 10 ? "many" : "few");
	return 0;
}
"""


class ForkAtLoad(unittest.TestCase):
    """liburcu-bp takes its init_lock in its constructor (with the
    membarrier registration, 10-13 ms), at each thread's registration and
    at a registered thread's exit, and its fork handlers do not take it.
    When a trace started over the endpoint, the service thread loaded
    liburcu with that lock held while the program forked: a child whose
    exit() ran liburcu-bp's destructor waited on it forever (a shell's
    subshell, and the shell with it). A shim holds each of liburcu-bp's
    locks 30 ms longer off the main thread, as a preemption would, and a
    program forks children that exit() for 3 s while a trace starts: it
    must end, every child with it."""

    def test_children_exit(self):
        with gt.tempdir() as d:
            shim = d / "widen.so"
            src = d / "widen.c"
            src.write_text(WIDEN)
            r = subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O1", "-o",
                                str(shim), str(src), "-ldl"], capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            exe = gt.compile_c(FORKER, d / "forker")
            sock = str(d / "s.sock")
            env = gt.traced_env(None, {"LD_PRELOAD": f"{gt.LIB} {shim}"}, socket=sock)
            p = subprocess.Popen([exe], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            try:
                gt.wait_until(lambda: rt.can_connect(sock) or p.poll() is not None,
                              what="endpoint")
                time.sleep(0.2)
                trace = d / "t.trace"
                self.assertEqual(rt.stream_call(sock, rt.req("debug_startGoTrace", [str(trace)]),
                                                timeout=30), rt.NULL_REPLY)
                out, err = p.communicate(timeout=60)
            finally:
                if p.poll() is None:
                    subprocess.run(["pkill", "-9", "-P", str(p.pid)])
                    p.kill()
                    p.communicate()
            self.assertEqual((p.returncode, out), (0, "forked many\n"), err)
            gt.trace_events(trace)



FORKLOOP = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
static void *idle(void *a)
{
	(void)a;
	for (;;)
		sleep(1);
	return NULL;
}
int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 5;
	struct timespec a, b;
	long n = 0, bad = 0;
	pthread_t t;
	pthread_create(&t, NULL, idle, NULL);
	clock_gettime(CLOCK_MONOTONIC, &a);
	do {
		pid_t p = fork();
		if (!p)
			_exit(0);
		int st;
		waitpid(p, &st, 0);
		n++;
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			bad++;
		clock_gettime(CLOCK_MONOTONIC, &b);
	} while (b.tv_sec - a.tv_sec + (b.tv_nsec - a.tv_nsec) / 1e9 < secs);
	printf("forkloop: %ld bad of %s\n", bad, n > 100 ? "many" : "few");
	return bad != 0;
}
"""


class ForkAtStop(unittest.TestCase):
    """A trace's stop trims the buffer pool: it unmaps the regions, then
    resets their count, under the pool's lock, which fork did not take.
    A child forked in between copied a count of regions already gone,
    rebuilt its free list in them (gt_buf_after_fork_child) and died of
    SIGSEGV: 2-18 of ~20,000 children in 20 s of traces started and
    stopped 0.1 s apart. The fork prepare handler now holds the lock. Here
    6 s of it, 50 ms apart: every child must exit 0 (the previous library
    lost 5-11 children, 3 runs of 3)."""

    def test_children_live(self):
        with gt.tempdir() as d:
            exe = gt.compile_c(FORKLOOP, d / "forkloop")
            sock = str(d / "s.sock")
            p = subprocess.Popen([exe, "6"], env=gt.traced_env(None, socket=sock),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                gt.wait_until(lambda: rt.can_connect(sock) or p.poll() is not None,
                              what="endpoint")
                cycles = 0
                while p.poll() is None:
                    trace = str(d / "t.trace")
                    try:
                        rt.stream_call(sock, rt.req("debug_startGoTrace", [trace]), timeout=30)
                        time.sleep(0.05)
                        rt.stream_call(sock, rt.req("debug_stopGoTrace", []), timeout=30)
                    except OSError:   # the program ended (its socket gone)
                        break
                    cycles += 1
                out, err = p.communicate(timeout=60)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.communicate()
            self.assertGreater(cycles, 10)
            self.assertEqual((p.returncode, out), (0, "forkloop: 0 bad of many\n"), err)


RAWFORK = r"""
#define _GNU_SOURCE
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static int n;
static int work(void *a)
{
	int fd[2];
	char c = 0;
	pipe(fd);
	for (int i = 0; i < n; i++) {   /* the child's n, then the parent's n / 10 */
		write(fd[1], &c, 1);
		read(fd[0], &c, 1);
	}
	printf("child: %d round trips\n", n);
	fflush(stdout);
	return a != NULL;
}
static char stk[1 << 16];
int main(int argc, char **argv)
{
	int mode = atoi(argv[1]), st;
	pid_t p;
	n = atoi(argv[2]);
	if (mode == 0) {
		p = syscall(SYS_fork);
	} else if (mode == 1) {
		struct clone_args ca;
		memset(&ca, 0, sizeof(ca));
		ca.exit_signal = SIGCHLD;
		p = syscall(SYS_clone3, &ca, sizeof(ca));
	} else {
		p = clone(work, stk + sizeof(stk), SIGCHLD, NULL);
	}
	if (p == 0)
		_exit(work(NULL));
	waitpid(p, &st, 0);
	n /= 10;
	work(NULL);
	printf("parent: child status %d\n", st);
	return 0;
}
"""


class RawFork(unittest.TestCase):
    """A child made by syscall(SYS_fork), clone3 or glibc's clone(fn,
    stack, SIGCHLD): no fork handler of ours runs in it, so it went on
    recording into its copy of the buffers, which nothing empties, and
    once they were full it waited for the writer for ever. Now such a
    child, at its first wait, records no more; it runs as without us, and
    the parent's trace (its own round trips after the child's) is whole."""

    def test_child_runs_parent_traces(self):
        with gt.tempdir() as d:
            exe = gt.compile_c(RAWFORK, d / "rawfork")
            env = {"GOTRACE_BLOCK_NS": "0", "GOTRACE_BUFFER_MB": "1"}
            for mode in ("0", "1", "2"):
                with self.subTest(mode=mode):
                    plain = gt.run_plain([exe, mode, "200000"], timeout=60)
                    trace = d / f"t{mode}.trace"
                    try:
                        r = gt.run_traced([exe, mode, "200000"], str(trace), env=env, timeout=60)
                    except subprocess.TimeoutExpired:
                        self.fail("the raw fork's child hung")
                    self.assertEqual((r.returncode, r.stdout), (0, plain.stdout), r.stderr)
                    ev = gt.trace_events(str(trace), types={"GoSysBlock"})
                    self.assertGreaterEqual(len(ev), 20000, "the parent's own round trips")


VFORK_EXIT = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>

/* vfork_exit: a thread reads a pipe; a vfork child's exec fails and it
 * calls exit(127) (not _exit: common); then the parent waits 300 ms,
 * writes to the pipe, joins, says "child 127 ok" and exits (an atexit
 * handler of its own says "atexit" when it runs). */
static int pfd[2];
static void *reader(void *a)
{
	char b;
	return read(pfd[0], &b, 1) == 1 ? a : NULL;
}
static void said(void)
{
	puts("atexit");
}
/* (and "buffered" before the vfork, unflushed: the child's exit flushes
 * the streams it shares with us, and leaves them unbuffered) */
int main(void)
{
	pthread_t t;
	int st;
	if (pipe(pfd) || pthread_create(&t, NULL, reader, NULL))
		return 1;
	usleep(50000);
	printf("buffered\n");
	pid_t p = vfork();
	if (p == 0) {
		char *av[] = { "/nonexistent/no-such-command", NULL };
		execv(av[0], av);
		exit(127);
	}
	atexit(said);
	waitpid(p, &st, 0);
	if (write(1, "raw\n", 4) != 4)
		return 1;
	usleep(300000);
	if (write(pfd[1], "x", 1) != 1 || pthread_join(t, NULL))
		return 1;
	printf("child %d ok\n", WEXITSTATUS(st));
	return 0;
}
"""


class VforkExit(unittest.TestCase):
    """exit() in a vfork child runs the exit handlers in its parent's
    memory, and glibc takes each off the list before it calls it: the
    child used ours up, and the parent's exit left the trace unfinished
    (1.19: the first 0.3 ms and 1 thread; 1.22: an empty file). The child
    now ends at our handler as _exit, ours put back for the parent. One
    difference from plain, on purpose: a child that ran every handler also
    closed the list (glibc's __exit_funcs_done), so the parent's later
    atexit() failed; the parent's "atexit" line is printed now."""

    def test_parent_trace_whole(self):
        with gt.tempdir() as d:
            exe = gt.compile_c(VFORK_EXIT, d / "vfork_exit")
            plain = gt.run_plain([exe], timeout=60)
            self.assertEqual(plain.returncode, 0, plain.stderr)
            for fmt in ("go1.19", "go1.22"):
                with self.subTest(fmt=fmt):
                    trace = d / f"{fmt}.trace"
                    r = gt.run_traced([exe], str(trace), env={"GOTRACE_FORMAT": fmt},
                                      timeout=60)
                    self.assertEqual((r.returncode, r.stdout), (0, "buffered\nraw\nchild 127 ok\natexit\n"),
                                     r.stderr)
                    self.assertIn(plain.stdout, ("buffered\nraw\nchild 127 ok\n", r.stdout))
                    self.assertGreater(trace.stat().st_size, 0)
                    if fmt == "go1.19":
                        ev = gt.trace_events(str(trace))
                        self.assertEqual(len({e.g for e in ev if e.type == "GoEnd"}), 1,
                                         "the reader's end")
                        self.assertGreater(max(e.ts for e in ev) - min(e.ts for e in ev),
                                           300_000_000)
                    else:
                        r = gt._go(["tool", "trace", "-d=1", str(trace)], go=gt.GO_MODERN,
                                   text=True)
                        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
                        self.assertIn("GoID=2 Running->NotExist", r.stdout, "the reader's end")

DAEMON = r"""
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

/* daemon ARGV1: a 20 ms sleep, daemon(3) (cwd and streams kept); the
 * child waits 50 ms, writes "PID SESSION-LEADER" to ARGV1 and ends. */
int main(int argc, char **argv)
{
	(void)argc;
	printf("%d\n", (int)getpid());
	fflush(stdout);
	usleep(20000);
	if (daemon(1, 1))
		return 1;
	usleep(50000);
	int f = open(argv[1], O_CREAT | O_TRUNC | O_WRONLY, 0644);
	dprintf(f, "%d %d\n", (int)getpid(), getsid(0) == getpid());
	close(f);
	return 0;
}
"""


class Daemon(unittest.TestCase):
    def test_parent_leaves_as_by_exit(self):
        """daemon(3)'s parent ends with an _exit inside libc, which no hook
        saw: its trace (GOTRACE_FILE) was closed without its events and
        its endpoint's socket file stayed behind. The parent's trace now
        has its 20 ms sleep, in both Go versions, its socket is gone, and
        the child runs on as a session leader."""
        with gt.tempdir() as d:
            exe = gt.compile_c(DAEMON, d / "dmn")
            trace, out = d / "p.trace", d / "child.out"
            r = gt.run_traced([exe, str(out)], str(trace), socket=str(d / "s-%p.sock"),
                              timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            parent = int(r.stdout.split()[0])
            gt.wait_until(lambda: out.exists() and out.read_text().endswith("\n"),
                          what="the daemon's output")
            child, leader = map(int, out.read_text().split())
            self.assertNotEqual(child, parent)
            self.assertEqual(leader, 1)
            self.assertFalse((d / f"s-{parent}.sock").exists(), sorted(os.listdir(d)))
            for modern in (False, True):
                with self.subTest(go="1.23" if modern else "1.19"):
                    sleeps = [e for e in gt.trace_events(str(trace), modern=modern)
                              if e.type == "GoSleep"]
                    self.assertEqual(len(sleeps), 1, "the parent's usleep")


if __name__ == "__main__":
    unittest.main()
