"""Issue 21: the program side holds against the cases nobody wrote a test
for; each test here failed on the main before the fix.

  errno      errno is 0 at main and at a thread's start, and each kind of
             hooked call leaves errno as libc does, idle, lazy, threaded
             and tracing (tests/programs/errnos.c, against a plain run);
  http       GOTRACE_HTTP and HTTP on the socket take what geth's HTTP
             server takes: application/json only (415), a loopback or
             GOTRACE_HTTP_VHOSTS Host (403), an Origin only if in
             GOTRACE_HTTP_CORS (403): a web page cannot start a trace;
  fds        our fds survive every way a program closes fds and never
             take 0-2;
  fifo       a trace path that blocks on open answers the client with an
             error and stalls nothing;
  disk full  a trace cut by ENOSPC ends at a whole batch that Go reads."""
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import gttest as gt  # noqa: E402
import test_rpc as rt  # noqa: E402  (module only: its tests are not run here)


class Errno(unittest.TestCase):
    CONFIGS = {
        "idle, no endpoint": {"GOTRACE_SOCKET": "off"},
        "idle, lazy endpoint": {},
        "idle, service thread from load": {"GOTRACE_LAZY": "0"},
        "tracing from load": {"GOTRACE_FILE": "{d}/t.trace"},
        "tracing every call": {"GOTRACE_FILE": "{d}/all.trace", "GOTRACE_BLOCK_NS": "0"},
        "HTTP endpoint": {"GOTRACE_HTTP": "127.0.0.1:0"},
    }

    def test_errno_as_without_the_library(self):
        prog = gt.program("errnos")
        plain = gt.run_plain([prog], timeout=60)
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertRegex(plain.stdout, r"(?m)^main +0$")
        self.assertRegex(plain.stdout, r"(?m)^thread start +0$")
        with gt.tempdir() as d:
            for name, env in self.CONFIGS.items():
                env = {k: v.format(d=d) for k, v in env.items()}
                r = gt.run_traced([prog], None, env=env, socket=None, timeout=60)
                self.assertEqual(r.returncode, 0, f"{name}: {r.stderr}")
                self.assertEqual(r.stdout, plain.stdout, f"{name}: errno differs")
                if "GOTRACE_FILE" in env:
                    ev = gt.trace_events(env["GOTRACE_FILE"])
                    self.assertTrue(any(e.type == "GoBlockSync" for e in ev), name)


def tcp_post(port, body, headers):
    """(status, headers, body) of a raw HTTP POST to 127.0.0.1:port."""
    body = body.encode()
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    with socket.create_connection(("127.0.0.1", port), 10) as s:
        s.sendall(f"POST / HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n"
                  f"Connection: close\r\n\r\n".encode() + body)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    hdrs = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    return int(lines[0].split()[1]), hdrs, rest


BAD_POINTERS = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/select.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <ucontext.h>
#include <unistd.h>
static void show(const char *what, int r)
{
	printf("%s: %d %s\n", what, r, r < 0 ? strerrorname_np(errno) : "");
}
static ucontext_t co, back;
static void *none;
static void coroutine(void)
{
	struct timeval tv = { 0, 20000 };
	show("select PROT_NONE set from a coroutine", select(5, none, NULL, NULL, &tv));
}
int main(void)
{
	static fd_set heap_set;   /* not on the stack: not read before the call */
	struct timeval tv = { 0, 20000 };
	struct timespec ts = { 0, 20000000 };
	int sv[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
	show("select bad", select(5, (fd_set *)16, NULL, NULL, &tv));
	show("pselect bad", pselect(5, NULL, (fd_set *)16, NULL, &ts, NULL));
	show("poll NULL, 2^32 fds", poll(NULL, (nfds_t)1 << 32, 20));
	show("poll bad", poll((struct pollfd *)16, 1, 20));
	show("ppoll bad", ppoll((struct pollfd *)16, 1, &ts, NULL));
	FD_ZERO(&heap_set);
	FD_SET(sv[0], &heap_set);
	tv.tv_usec = 20000;
	show("select heap set", select(sv[0] + 1, &heap_set, NULL, NULL, &tv));
	/* a PROT_NONE set, from a coroutine on a malloc'd stack: between its
	 * sp and the thread's stack top, where the hook once read it */
	none = mmap(NULL, 1 << 20, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	getcontext(&co);
	co.uc_stack.ss_sp = malloc(256 << 10);
	co.uc_stack.ss_size = 256 << 10;
	co.uc_link = &back;
	makecontext(&co, coroutine, 0);
	swapcontext(&back, &co);
	return 0;
}
"""

# A thread's stack overflows; its SIGSEGV handler, on a sigaltstack of
# SIGSTKSZ, writes a line and leaves (as Rust's guard handler does). With
# every call recorded, the write's stack walk overflowed the altstack: the
# process died of SIGSEGV, not 7 (Rust's said nothing and died of it).
OVERFLOW = r"""
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
static void on_segv(int s)
{
	static const char m[] = "overflowed its stack\n";
	(void)s;
	write(2, m, sizeof(m) - 1);
	_exit(7);
}
static int deep(volatile char *p)
{
	volatile char pad[1024];
	pad[0] = *p;
	return deep(pad) + pad[0];
}
int main(void)
{
	stack_t ss = { .ss_sp = malloc(SIGSTKSZ), .ss_size = SIGSTKSZ };
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_segv;
	sa.sa_flags = SA_ONSTACK;
	sigaltstack(&ss, NULL);
	sigaction(SIGSEGV, &sa, NULL);
	char c = 0;
	return deep(&c);
}
"""


class BadPointers(unittest.TestCase):
    """select, pselect, poll and ppoll given bad pointers, or poll an nfds
    past 32 bits (the kernel's is an unsigned int), while every call is
    recorded: the program sees what it sees without us (EFAULT, or a
    20 ms sleep). select's sets and poll's array were read by the hook
    (to classify the wait), and a bad one was a SIGSEGV."""

    def test_same_results_and_a_readable_trace(self):
        with gt.tempdir() as d:
            exe = gt.compile_c(BAD_POINTERS, d / "badptr")
            plain = gt.run_plain([exe], timeout=30)
            self.assertEqual(plain.returncode, 0, plain.stderr)
            self.assertIn("select bad: -1 EFAULT", plain.stdout)
            for env in ({"GOTRACE_BLOCK_NS": "0"}, {}):
                with self.subTest(env=env):
                    trace = d / "t.trace"
                    r = gt.run_traced([exe], str(trace), env=env, timeout=30)
                    self.assertEqual((r.returncode, r.stdout), (0, plain.stdout), r.stderr)
                    ev = gt.trace_events(str(trace))
                    types = [e.type for e in ev]
                    # the heap set's select (fds unknown after its time-out), and
                    # poll of 2^32 fds: of 0 to the kernel, a sleep
                    self.assertGreaterEqual(types.count("GoBlockSelect"), 1)
                    self.assertGreaterEqual(types.count("GoSleep"), 1)

    def test_handler_on_a_small_sigaltstack(self):
        with gt.tempdir() as d:
            exe = gt.compile_c(OVERFLOW, d / "overflow")
            plain = gt.run_plain([exe], timeout=30)
            self.assertEqual(plain.returncode, 7, plain.stderr)
            r = gt.run_traced([exe], str(d / "t.trace"), env={"GOTRACE_BLOCK_NS": "0"},
                              timeout=30)
            self.assertEqual((r.returncode, r.stderr), (7, plain.stderr))
            gt.trace_events(str(d / "t.trace"))


class CrossSite(rt.RpcCase):
    """What a web page in the user's browser can send to GOTRACE_HTTP: a
    simple POST (a form's content type, or none) with its own Origin, or,
    after DNS rebinding, a request whose Host is the attacker's name. None
    may start a trace (it would write any file the user can)."""

    def serve(self, **env):
        port = gt.free_port()
        p = self.program(env={"GOTRACE_HTTP": f"127.0.0.1:{port}", **env})

        def up():
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                return False
        gt.wait_until(up, what=f"GOTRACE_HTTP port {port}")
        return p, port

    def test_a_web_page_cannot_start_a_trace(self):
        p, port = self.serve()
        victim = self.d / "bashrc"
        body = rt.req("debug_startGoTrace", [str(victim)])
        # Each rule alone (a browser sends Origin too: then 403 first).
        host = {"Host": f"127.0.0.1:{port}"}
        page = {**host, "Origin": "http://evil.example"}
        for name, hdrs, want in (
                ("form POST", {**host, "Content-Type": "application/x-www-form-urlencoded"}, 415),
                ("text/plain", {**host, "Content-Type": "text/plain"}, 415),
                ("no type", host, 415),
                ("a form from a page", {**page, "Content-Type": "text/plain"}, 403),
                ("JSON from a page", {**page, "Content-Type": "application/json"}, 403),
                ("DNS rebinding", {"Host": f"evil.example:{port}",
                                   "Content-Type": "application/json"}, 403)):
            with self.subTest(name):
                status, _, got = tcp_post(port, body, hdrs)
                self.assertEqual(status, want, got)
                self.assertFalse(victim.exists(), f"{name}: the trace file was written")
        # What tools send is served: curl, a script, localhost by name.
        for hdrs in ({"Host": f"127.0.0.1:{port}", "Content-Type": "application/json"},
                     {"Host": f"localhost:{port}", "Content-Type": "application/json"}):
            status, _, got = tcp_post(port, rt.req("debug_stopGoTrace", []), hdrs)
            self.assertEqual((status, got), (200, rt.err_reply(-32000, "trace not in progress")))
        # And the Unix socket refuses a foreign Origin too.
        status, _, _ = rt.http_post(p.sock, body, extra="Origin: http://evil.example\r\n")
        self.assertEqual(status, 403)
        self.assertFalse(victim.exists())

    def test_vhosts_and_cors_lists(self):
        p, port = self.serve(GOTRACE_HTTP_VHOSTS="tracer.lan", GOTRACE_HTTP_CORS="http://ok.example")
        stop = rt.req("debug_stopGoTrace", [])
        json = {"Content-Type": "application/json"}
        status, _, _ = tcp_post(port, stop, {**json, "Host": f"tracer.lan:{port}"})
        self.assertEqual(status, 200)
        status, _, _ = tcp_post(port, stop, {**json, "Host": f"localhost:{port}"})
        self.assertEqual(status, 403, "localhost is not in the list given")
        status, hdrs, _ = tcp_post(port, stop, {**json, "Origin": "http://ok.example"})
        self.assertEqual(status, 200)
        self.assertEqual(hdrs.get("access-control-allow-origin"), "http://ok.example")
        status, _, _ = tcp_post(port, stop, {**json, "Origin": "http://evil.example"})
        self.assertEqual(status, 403)


class Fds(unittest.TestCase):
    """tests/programs/fdclose.c closes every fd from 0 by each method a
    daemon uses, reopens 0-2, and waits again: the reopen gets 0, 1, 2
    (libunwind's pipe and our fds stay out of the way), a trace from load
    has both waits, and the idle endpoint still answers afterwards."""
    METHODS = ("raw", "cloexec", "closefrom", "proc", "rawclose")

    def test_traced(self):
        with gt.tempdir() as d:
            for m in self.METHODS:
                with self.subTest(m):
                    out, trace = d / f"{m}.out", str(d / f"{m}.trace")
                    r = gt.run_traced([gt.program("fdclose"), m, str(out)], trace,
                                      env={"GOTRACE_UNWIND": "libunwind"}, timeout=60,
                                      stdin=subprocess.DEVNULL)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(out.read_text(), "0 1 2\n")
                    ev = gt.trace_events(trace)
                    self.assertGreaterEqual(sum(e.type == "GoBlockSync" for e in ev), 2, m)

    def test_idle_endpoint_survives(self):
        with gt.tempdir() as d:
            rtd = d / "xdg"
            rtd.mkdir(mode=0o700)
            env = {"XDG_RUNTIME_DIR": str(rtd)}
            for m in self.METHODS:
                with self.subTest(m):
                    out = d / f"{m}.out"
                    # "first": closed while the program has one thread
                    p = gt.start_traced([gt.program("fdclose"), m, str(out), "first"], None,
                                        env=env, socket=None, stdin=subprocess.DEVNULL)
                    try:
                        gt.wait_until(lambda: out.exists() and out.read_text(), what=str(out))
                        self.assertEqual(out.read_text(), "0 1 2\n")
                        r = gt.run_plain([gt.CLIENT, "trace", str(p.pid), d / f"{m}.trace", "1"],
                                         env=env, timeout=60)
                        self.assertEqual(r.returncode, 0, f"{m}: {r.stderr}")
                        gt.trace_events(str(d / f"{m}.trace"))
                    finally:
                        p.kill()
                        p.communicate()


DUP_LOOP = r"""
#include <stdio.h>
#include <unistd.h>
/* dup2 onto a high fd, 300 times 5 ms apart: the program's fd calls,
 * which wait for fd_lock when they touch the numbers ours moved from. */
int main(void)
{
	puts("ready");
	fflush(stdout);
	for (int i = 0; i < 300; i++) {
		dup2(1, 50);
		usleep(5000);
	}
	puts("done");
	return 0;
}
"""


class Fifo(unittest.TestCase):
    """A trace file that is a FIFO: without a reader the client gets a
    clear -32000 at once and nothing stalls (before: the request was never
    answered, the program's fd calls stalled, its exit hung); with a reader
    the trace streams into it and Go reads it."""

    def setUp(self):
        cm = gt.tempdir()
        self.d = cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)
        self.rt = self.d / "xdg"
        self.rt.mkdir(mode=0o700)
        self.env = {"XDG_RUNTIME_DIR": str(self.rt)}
        self.prog = gt.compile_c(DUP_LOOP, self.d / "duploop")
        self.fifo = self.d / "t.fifo"
        os.mkfifo(self.fifo)

    def start(self):
        p = gt.start_traced([self.prog, "x"], None, env={**self.env, "GOTRACE_LAZY": "0"},
                            socket=None)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.communicate()))
        self.assertEqual(p.stdout.readline(), "ready\n")
        sock = self.rt / "gotrace" / f"{p.pid}.sock"   # made by the service thread
        gt.wait_until(lambda: sock.exists(), what=str(sock))
        return p

    def test_no_reader(self):
        p = self.start()
        r = gt.run_plain([gt.CLIENT, "start", str(p.pid), self.fifo], env=self.env, timeout=20)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"open {self.fifo}: a FIFO with no reader", r.stderr)
        out, err = p.communicate(timeout=30)   # its dup2s and its exit go on
        self.assertEqual((p.returncode, out), (0, "done\n"), err)

    def test_reader(self):
        got = self.d / "got.trace"
        with open(got, "wb") as sink:
            cat = subprocess.Popen(["cat", str(self.fifo)], stdout=sink)
            self.addCleanup(lambda: (cat.poll() is None and cat.kill(), cat.wait()))
            p = self.start()
            r = gt.run_plain([gt.CLIENT, "trace", str(p.pid), self.fifo, "1"], env=self.env,
                             timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            cat.wait(timeout=30)   # the writer closed its end: cat sees EOF
        out, err = p.communicate(timeout=30)
        self.assertEqual((p.returncode, out), (0, "done\n"), err)
        gt.trace_events(str(got))


class DiskFull(unittest.TestCase):
    """A trace cut by ENOSPC (a 16 KiB tmpfs): the program runs on as
    without the library, the writer says so on stderr and in the reply,
    and the file it leaves is repaired where it is: both Go versions read
    it (before: Go refused it until `gotrace repair`)."""

    def setUp(self):
        cm = gt.tempdir()
        self.d = cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)
        self.mnt = self.d / "small"
        self.mnt.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(self.mnt)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.fail(f"cannot mount a small tmpfs (this test needs root): {r.stderr}")
        self.addCleanup(subprocess.run, ["umount", "-l", str(self.mnt)])

    def test_from_load(self):
        prog = gt.program("demo_server")
        plain = gt.run_plain([prog], timeout=60)
        trace = self.mnt / "a.trace"
        r = gt.run_traced([prog], str(trace), timeout=60)
        self.assertEqual((r.returncode, r.stdout), (plain.returncode, plain.stdout), r.stderr)
        self.assertIn("no space left on device", r.stderr)   # (Go's case, as geth's errors)
        self.assertRegex(r.stderr, r"the trace ends there, repaired: \d+ of \d+ events kept")
        self.assertEqual(r.stderr.count("repaired"), 1, r.stderr)
        ev = gt.trace_events(str(trace))
        self.assertGreater(len(ev), 100)
        gt.check_ui(str(trace), mmu="some")

    def test_through_the_endpoint(self):
        rtd = self.d / "xdg"
        rtd.mkdir(mode=0o700)
        env = {"XDG_RUNTIME_DIR": str(rtd)}
        p = gt.start_traced([gt.program("demo_server"), "3000"], None, env=env, socket=None)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.communicate()))
        sock = rtd / "gotrace" / f"{p.pid}.sock"
        gt.wait_until(lambda: sock.exists(), what=str(sock))
        trace = self.mnt / "b.trace"
        r = gt.run_plain([gt.CLIENT, "trace", str(p.pid), trace, "2"], env=env, timeout=60)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("no space left on device", r.stderr.lower())
        self.assertIn("repaired", r.stderr)
        self.assertIsNone(p.poll(), "the program keeps running")
        gt.trace_events(str(trace))
        gt.check_ui(str(trace), mmu="some")


GRAB = r"""
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
/* A recorded wait (a contended lock), then as many 1 MiB blocks as the
 * address space allows: how much of it the tracer leaves the program. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static void *f(void *a)
{
	pthread_mutex_lock(&mu);
	usleep(30000);
	pthread_mutex_unlock(&mu);
	return a;
}
int main(void)
{
	pthread_t t;
	int mb = 0;
	pthread_create(&t, NULL, f, NULL);
	usleep(5000);
	pthread_mutex_lock(&mu);
	pthread_mutex_unlock(&mu);
	pthread_join(t, NULL);
	while (malloc(1 << 20))
		mb++;
	printf("%d\n", mb);
	return 0;
}
"""


def limit_as(kb):
    def set_limit():
        resource.setrlimit(resource.RLIMIT_AS, (kb << 10, kb << 10))
    return set_limit


class AddressSpace(unittest.TestCase):
    """ulimit -v: a trace degrades, never kills (before: liburcu aborted, or
    the program's own pthread_create failed and demo_server crashed)."""

    def test_trace_leaves_the_program_its_room(self):
        with gt.tempdir() as d:
            prog = gt.compile_c(GRAB, d / "grab")
            # 200 MB, where the figure is steady: 109 of 184 MiB measured
            # (2026-12-06; two 64 MB glibc arenas, ours and the traced
            # thread's), 6 before. At 100 MB it is 76 of 86, or 12 when
            # both arenas fit: not a figure a test can hold.
            plain = gt.run_plain([prog], preexec_fn=limit_as(200000))
            trace = str(d / "g.trace")
            r = gt.run_traced([prog], trace, preexec_fn=limit_as(200000))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertGreaterEqual(int(r.stdout), int(plain.stdout) // 2,
                                    f"plain {plain.stdout.strip()} MiB, traced {r.stdout.strip()}")
            ev = gt.trace_events(trace)
            self.assertTrue(any(e.type == "GoBlockSync" for e in ev))

    def test_real_program_under_a_limit(self):
        prog = gt.program("demo_server")
        with gt.tempdir() as d:
            # It crashed traced at 100 and 200 MB before. At 100-130 MB it
            # can still hang, rarely (1 run in 8-24: glibc's arenas took
            # the room its own pthread_create needed; the issue note): 160
            # and 200 MB never failed in 40 runs.
            for kb in (160000, 200000):
                with self.subTest(kb=kb):
                    plain = gt.run_plain([prog], preexec_fn=limit_as(kb), timeout=60)
                    trace = str(d / f"{kb}.trace")
                    r = gt.run_traced([prog], trace, preexec_fn=limit_as(kb), timeout=60)
                    self.assertEqual((r.returncode, r.stdout), (plain.returncode, plain.stdout),
                                     r.stderr)
                    gt.trace_events(trace)

    def test_no_room_no_trace(self):
        with gt.tempdir() as d:
            prog = gt.compile_c(GRAB, d / "grab")
            plain = gt.run_plain([prog], preexec_fn=limit_as(40000))
            r = gt.run_traced([prog], str(d / "n.trace"), preexec_fn=limit_as(40000))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stderr, r"MB of address space left under ulimit -v "
                                       r"\(RLIMIT_AS\): a trace needs 32 MB")
            # 22 of 28 MiB measured: the service thread's stack and arena.
            self.assertGreaterEqual(int(r.stdout), int(plain.stdout) * 7 // 10)


class Smaller(unittest.TestCase):
    def test_stopped_program_note(self):
        """gotrace, kept waiting by a stopped program, says it is stopped
        (not "a program of one thread that computes"), and gets its answer
        once the program continues."""
        with gt.tempdir() as d:
            rtd = d / "xdg"
            rtd.mkdir(mode=0o700)
            env = {"XDG_RUNTIME_DIR": str(rtd)}
            p = gt.start_traced([gt.program("demo_server"), "3000"], None, env=env, socket=None)
            try:
                sock = rtd / "gotrace" / f"{p.pid}.sock"
                gt.wait_until(lambda: sock.exists(), what=str(sock))
                os.kill(p.pid, signal.SIGSTOP)
                c = subprocess.Popen([str(gt.CLIENT), "stop", str(p.pid)], env=gt.plain_env(env),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                lines = []   # read aside: a readline here cannot outwait the deadline
                reader = threading.Thread(target=lambda: lines.extend(c.stderr), daemon=True)
                reader.start()
                try:
                    gt.wait_until(lambda: lines or c.poll() is not None, timeout=20,
                                  what="the waiting note")
                finally:
                    state = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()[0]
                self.assertIsNone(c.poll(), f"the client ended (program state {state}): {lines}")
                self.assertIn("the program is stopped", lines[0])
                self.assertIn(f"kill -CONT {p.pid}", lines[0])
                os.kill(p.pid, signal.SIGCONT)
                c.wait(timeout=30)
                reader.join(timeout=10)
                self.assertEqual(c.returncode, 1, lines)
                self.assertIn("trace not in progress", "".join(lines))
            finally:
                os.kill(p.pid, signal.SIGCONT)
                p.kill()
                p.communicate()

    def test_lazy_exit_answers_a_waiting_client(self):
        """A program of one thread that blocks SIGURG (so the doorman cannot
        wake it) exits while a client waits: the client gets its answer
        (before: the connection closed without one)."""
        import test_lazy as tl
        with gt.tempdir() as d:
            prog = gt.compile_c(tl.PROG, d / "lazy")
            sock = str(d / "l.sock")
            p = gt.start_traced([prog, "nokick"], None, socket=sock, stdin=subprocess.PIPE)
            try:
                self.assertEqual(p.stdout.readline(), "ready single=1\n")
                gt.wait_until(lambda: os.path.exists(sock), what=sock)
                c = subprocess.Popen([str(gt.CLIENT), "stop", sock], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
                time.sleep(0.5)
                self.assertIsNone(c.poll(), "answered before the program exited")
                p.stdin.close()   # fgets sees EOF: main returns
                p.wait(timeout=30)
                out, err = c.communicate(timeout=30)
                self.assertEqual(c.returncode, 1, err)
                self.assertIn("trace not in progress", err)
                self.assertFalse(os.path.exists(sock), "the socket was left behind")
            finally:
                if p.poll() is None:
                    p.kill()
                p.wait()
                p.stdout.close()
                p.stderr.close()

    def test_socket_off_with_http_says_why(self):
        r = gt.run_traced(["/bin/true"], None, env={"GOTRACE_HTTP": "127.0.0.1:8551"},
                          socket="off")
        self.assertEqual(r.returncode, 0)
        self.assertIn("GOTRACE_HTTP=127.0.0.1:8551: no HTTP endpoint: GOTRACE_SOCKET=off",
                      r.stderr)


if __name__ == "__main__":
    unittest.main()
