"""Issue 26, debug_stacks: every program thread's state and stack, in the
layout of Go's goroutine dump, taken without the program noticing.

tests/programs/stackstates holds threads in read, poll, a contended mutex,
a condition wait, nanosleep and a busy loop, and main in nanosleep; it
counts every EINTR its calls see. Built twice: with frame pointers (-O1)
and as distributions build (-O2, none). Each thread's block must name its
state, the call, the thread's name, and its function at the right
file:line; 1,000 calls in a row must change nothing the program prints
(every EINTR count 0, same output, exit 0). A program with a SIGPROF
handler of its own keeps it: its handler never sees our signal, and the
running thread's block says why it has no stack. The filter is geth's
(words, &&, ||, !, parentheses); through the client, the console, curl
and socat."""
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import gttest as gt  # noqa: E402
import test_rpc as rt  # noqa: E402  (module only)

SRC = os.path.join(HERE, "..", "programs", "stackstates.c")
HEADER = re.compile(r'^goroutine (\d+) \[(.*), thread (\d+)(?: "(.*)")?\]:$')


def line_of(text):
    with open(SRC) as f:
        return next(i for i, ln in enumerate(f, 1) if text in ln)


def parse(dump):
    """{thread name: (state, [(function, file:line)])}"""
    out = {}
    for block in dump.strip("\n").split("\n\n"):
        lines = block.split("\n")
        m = HEADER.match(lines[0])
        assert m, lines[0]
        frames = [(lines[i][:-5] if lines[i].endswith("(...)") else lines[i],
                   lines[i + 1].strip().split(" +")[0]) for i in range(1, len(lines) - 1, 2)]
        out[m.group(4) or m.group(3)] = (m.group(2), frames)
    return out


def stacks(sock, filt=None):
    r = gt.run_plain([gt.CLIENT, "stacks", sock] + ([filt] if filt is not None else []))
    assert r.returncode == 0, r.stderr
    return r.stdout


# thread: (state, its function, the source text of the line it waits on)
WANT = {
    "reader": ("syscall, read", "reader_thread", "read(rp[0]"),
    "poller": ("select, poll", "poll_thread", "poll(&p, 1, -1)"),
    "locker": ("sync, pthread_mutex_lock", "lock_thread", "pthread_mutex_lock(&held)"),
    "waiter": ("sync.Cond.Wait, pthread_cond_wait", "cond_thread", "pthread_cond_wait(&cv"),
    "sleeper": ("sleep, nanosleep", "sleep_thread", "nanosleep(&t, &t)"),
    "semwaiter": ("sync, sem_wait", "sem_thread", "sem_wait(&sem)"),
}


class Stacks(unittest.TestCase):
    def start(self, prog, secs, **kw):
        cm = gt.tempdir()
        d = cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)
        sock = str(d / "s.sock")
        p = gt.start_traced([prog, str(secs)], None, socket=sock, **kw)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.communicate()))
        self.assertEqual(p.stdout.readline(), "ready\n")
        gt.wait_until(lambda: rt.can_connect(sock), what=sock)
        return p, sock

    def check_states(self, name):
        p, sock = self.start(gt.program(name), 30)
        time.sleep(0.3)   # every thread in its call
        got = parse(stacks(sock))
        for th, (state, fn, text) in WANT.items():
            st, frames = got[th]
            self.assertEqual(st, state, (th, frames))
            where = f"stackstates.c:{line_of(text)}"
            self.assertIn((fn, where), [(f, w.split("/")[-1]) for f, w in frames], (th, frames))
            # a marked call is named libc's, though its slot holds armed.c's
            # trampoline (a sampled thread's frames are libc's own)
            if frames[0][0] == state.split(", ")[1]:
                self.assertRegex(frames[0][1], r"/libc\.so", (th, frames))
        st, frames = got["busy"]
        self.assertEqual(st, "running")
        names = [f for f, _ in frames]
        self.assertIn("busy_thread", names, frames)
        self.assertIn(names[0], ("spin_here", "busy_thread"), frames)
        main = next(v for k, v in got.items() if k.startswith("stackstates"))
        self.assertEqual(main[0], "sleep, nanosleep")
        self.assertIn(("main", f"stackstates.c:{line_of('nanosleep(&d, &d)')}"),
                      [(f, w.split("/")[-1]) for f, w in main[1]])
        self.assertEqual(len(got), 8, list(got))
        # every stack ends at its thread's start routine, or main (walks
        # from outside went on into start_thread, clone3, __libc_start_main)
        for th, (st, frames) in got.items():
            self.assertIn(frames[-1][0], [fn for _, fn, _ in WANT.values()] +
                          ["busy_thread", "main"], (th, frames))
        p.kill()

    def test_states_with_frame_pointers(self):
        self.check_states("stackstates")

    def test_states_without_frame_pointers(self):
        self.check_states("stackstates_nofp")

    def test_thousand_calls_change_nothing(self):
        prog = gt.program("stackstates_nofp")
        plain = gt.run_plain([prog, "8"])
        self.assertEqual(plain.returncode, 0)
        p, sock = self.start(prog, 8)
        body = rt.req("debug_stacks", [])
        t0 = time.monotonic()
        for i in range(1000):
            reply = json.loads(rt.stream_call(sock, body))
            if i == 0 or i == 999:
                self.assertEqual(len(parse(reply["result"])), 8)
        took = time.monotonic() - t0
        self.assertLess(took, 7.5, "the calls must end while the program waits")
        out, err = p.communicate(timeout=60)
        self.assertEqual((p.returncode, "ready\n" + out), (0, plain.stdout), err)
        self.assertIn("busy 1 eintr 0", out)
        print(f"\n1000 debug_stacks calls: {took:.2f} s", file=sys.stderr)

    def test_filter_and_clients(self):
        p, sock = self.start(gt.program("stackstates"), 30)
        time.sleep(0.3)
        got = parse(stacks(sock, "busy || (pthread_mutex_lock && !reader)"))
        self.assertEqual(sorted(got), ["busy", "locker"])
        body = rt.req("debug_stacks", ["poll_thread"])
        for via in (rt.curl_unix(sock, body), rt.socat(sock, body)):
            self.assertEqual(list(parse(json.loads(via)["result"])), ["poller"])
        r = gt.run_plain([gt.CLIENT, "attach", sock, "--exec", 'debug.stacks("sleep_thread")'])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(list(parse(r.stdout)), ["sleeper"])
        self.assertEqual(stacks(sock, "no_such_function"), "")
        r = gt.run_plain([gt.CLIENT, "stacks", sock, "(busy"])
        self.assertEqual((r.returncode, r.stderr),
                         (1, "gotrace: debug_stacks: invalid filter: expected ) at its end "
                             "(code -32602)\n"))
        p.kill()


OWN_SIGPROF = r"""
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>
static volatile int seen, stop;
static void on_prof(int s) { (void)s; seen++; }
static void *spin(void *a) { (void)a; while (!stop) ; return NULL; }
int main(void)
{
	signal(SIGPROF, on_prof);
	pthread_t t;
	pthread_create(&t, NULL, spin, NULL);
	printf("ready\n");
	fflush(stdout);
	sleep(3);
	stop = 1;
	pthread_join(t, NULL);
	printf("seen %d\n", seen);
	return 0;
}
"""


@contextlib.contextmanager
def ready_program(test, src, name):
    """src compiled and started with an endpoint; once it says "ready" and
    the endpoint answers: (the process, its debug_stacks dump). Killed if
    still running at the end."""
    with gt.tempdir() as d:
        prog = gt.compile_c(src, d / name)
        sock = str(d / "o.sock")
        p = gt.start_traced([str(prog)], None, socket=sock)
        try:
            test.assertEqual(p.stdout.readline(), "ready\n")
            gt.wait_until(lambda: rt.can_connect(sock), what=sock)
            yield p, stacks(sock)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()


class OwnSigprof(unittest.TestCase):
    def test_program_keeps_its_handler(self):
        with ready_program(self, OWN_SIGPROF, "own") as (p, got):
            self.assertIn("[running, thread", got)
            self.assertIn("(no stack: the program handles SIGPROF itself)", got)
            out, err = p.communicate(timeout=30)
            self.assertEqual((p.returncode, out), (0, "seen 0\n"), err)


ODD_NAMES = r"""/* odd names: threads named with a quote and a newline, with a whole
 * UTF-8 character, and (prctl: the kernel cuts at 15 bytes) with one cut
 * in two; prints "ready", sleeps 3 s. */
#include <pthread.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <unistd.h>
static void *run(void *name)
{
	if (((const char *)name)[0] == '-')
		prctl(PR_SET_NAME, (const char *)name + 1);
	else
		pthread_setname_np(pthread_self(), name);
	sleep(3);
	return NULL;
}
int main(void)
{
	pthread_t t[3];
	const char *names[3] = { "a\"b\nc]:x", "abcdefghijklm\xc3\xa9", "-abcdefghijklmn\xc3\xa9" };
	for (int i = 0; i < 3; i++)
		pthread_create(&t[i], NULL, run, (void *)names[i]);
	usleep(200000);
	puts("ready");
	fflush(stdout);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	return 0;
}
"""


class OddNames(unittest.TestCase):
    def test_names_quoted_as_go(self):
        """A thread name is written as Go's %q: the header of each thread
        stays one line (a quote and a newline in it broke the dump's layout
        in two), and a UTF-8 character cut by the kernel's 15 bytes is
        \\xNN, a whole one as it is."""
        with ready_program(self, ODD_NAMES, "odd") as (p, got):
            heads = [ln for ln in got.splitlines() if ln.startswith("goroutine ")]
            self.assertTrue(any(ln.endswith('"a\\"b\\nc]:x"]:') for ln in heads), heads)
            self.assertTrue(any(ln.endswith('"abcdefghijklm\u00e9"]:') for ln in heads), heads)
            self.assertTrue(any(ln.endswith('"abcdefghijklmn\\xc3"]:') for ln in heads), heads)
            self.assertTrue(all(ln.endswith("]:") for ln in heads), heads)
            p.communicate(timeout=30)


STACKBOMB = r"""/* stackbomb: a thread sleeps in a raw `syscall` instruction made from an
 * assembly routine with no unwind info and a garbage %rbp (as JITs or
 * hand-written assembly can have). main waits 3 s and prints "stackbomb: ok". */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <time.h>
/* void raw_sleep(struct timespec *ts): with unwind info (CFA = rsp+8), it
 * moves %rsp to an unmapped address (0x100000000000) around a raw nanosleep
 * syscall, as a coroutine/green-thread switch or a JIT can leave it; the
 * kernel does not use the user stack for the syscall. */
__asm__(".text\n.globl raw_sleep\n.type raw_sleep,@function\nraw_sleep:\n.cfi_startproc\n"
	"  mov %rsp, %r12\n  movabs $0x100000000000, %rsp\n  mov $35, %eax\n  xor %esi, %esi\n  syscall\n  mov %r12, %rsp\n  ret\n"
	".cfi_endproc\n.size raw_sleep, .-raw_sleep\n");
void raw_sleep(struct timespec *ts);
static void *t(void *a){ (void)a; struct timespec ts={3,0}; __asm__ volatile("" ::: "r12"); raw_sleep(&ts); return 0; }
int main(void){ pthread_t th; pthread_create(&th,0,t,0); pthread_join(th,0); printf("stackbomb: ok\n"); return 0; }
"""


class WildStack(unittest.TestCase):
    """A thread asleep in a raw nanosleep made where its rsp points at an
    unmapped address (a coroutine switch, a JIT): debug_stacks walks it
    from the pc and sp the kernel shows, holding no stack of it. Its
    reads went straight to memory there (the held range's end, 0, less 8
    wrapped to 2^64) and the program died of SIGSEGV; they go through
    process_vm_readv, which fails cleanly."""

    def test_program_survives(self):
        with gt.tempdir() as d:
            exe = gt.compile_c(STACKBOMB, d / "stackbomb")
            sock = str(d / "s.sock")
            p = gt.start_traced([exe], None, socket=sock)
            try:
                gt.wait_until(lambda: rt.can_connect(sock) or p.poll() is not None,
                              what="endpoint")
                time.sleep(0.3)   # the thread in its nanosleep
                out = stacks(sock)
                self.assertIsNone(p.poll(), "the program died")
                self.assertEqual(out.count("goroutine "), 2, out)
                out, err = p.communicate(timeout=30)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.communicate()
            self.assertEqual((p.returncode, out), (0, "stackbomb: ok\n"), err)


if __name__ == "__main__":
    unittest.main(verbosity=2)
