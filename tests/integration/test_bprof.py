"""Issue 26: the block and mutex profiles of geth's debug namespace,
debug_setBlockProfileRate / debug_writeBlockProfile / debug_blockProfile
and their mutex twins, with Go's rate semantics, in pprof.

tests/programs/waits.c waits on a contended mutex from three call sites,
wait_long (2 units), wait_a and wait_b (1 unit each), and measures every
wait itself. Both profiles give each site (pthread_mutex_lock <- contend
<- site <- main, with file:line) within 10% of its measured total, one
contention per wait; a trace of the same run gives the same sites the same
totals in its sync profile (Go 1.19's go tool trace) within 10%. Go 1.19's
and 1.23's go tool pprof read both (-top, -traces, -lines). Rates: a wait
at least the rate long counts whole; rate 0 and fraction 0 stop the
counting (the counts stay: cumulative, as Go's); debug_blockProfile's
window counts at rate 1 and puts the old rate back; errors as geth's."""
import json
import os
import socket
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import gttest as gt  # noqa: E402
import test_rpc as rt  # noqa: E402  (module only)
from test_cpu import flame_graph, pprof, read_profile, stacks  # noqa: E402

SITES = ("wait_long", "wait_a", "wait_b")


def by_site(p):
    """{site: (contentions, delay ns)} of the lock waits of a block or mutex
    profile (the block profile's semaphore waits under the same sites left
    out)."""
    out = {}
    for count, ns, names in stacks(p):
        for s in SITES:
            if s in names and names[0] == "pthread_mutex_lock":
                c, d = out.get(s, (0, 0))
                out[s] = (c + count, d + ns)
    return out


class Waits:
    """waits.c under the library with its endpoint."""

    def __init__(self, d, unit_ms=10, rounds=10, name="w.sock"):
        self.sock = str(d / name)
        self.p = gt.start_traced([gt.program("waits"), str(unit_ms), str(rounds)], None,
                                 socket=self.sock, stdin=subprocess.PIPE)
        assert self.p.stdout.readline() == "ready\n"
        gt.wait_until(lambda: rt.can_connect(self.sock), what=self.sock)

    def call(self, method, params):
        return rt.stream_call(self.sock, rt.req(method, params), timeout=60)

    def run(self):
        """The rounds: {site: ns measured}."""
        self.p.stdin.write("go\n")
        self.p.stdin.flush()
        got = {}
        for line in iter(self.p.stdout.readline, "done\n"):
            assert line, "waits ended early"
            site, ns = line.split()
            got[site] = int(ns)
        return got

    def end(self):
        out, err = self.p.communicate("end\n", timeout=60)
        return self.p.returncode, err

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.communicate()


class Profiles(unittest.TestCase):
    def setUp(self):
        cm = gt.tempdir()
        self.d = cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)

    def waits(self, *a, **kw):
        w = Waits(self.d, *a, **kw)
        self.addCleanup(w.kill)
        return w

    def assertNear(self, got, want, what):
        self.assertLessEqual(abs(got - want), want / 10, f"{what}: {got} ns, measured {want} ns")

    def test_known_waits_profiles_and_trace_agree(self):
        w = self.waits(10, 10)
        t = self.d / "w.trace"
        self.assertEqual(w.call("debug_setBlockProfileRate", [1]), rt.NULL_REPLY)
        self.assertEqual(w.call("debug_setMutexProfileFraction", [1]), rt.NULL_REPLY)
        self.assertEqual(w.call("debug_startGoTrace", [str(t)]), rt.NULL_REPLY)
        measured = w.run()
        self.assertEqual(w.call("debug_stopGoTrace", []), rt.NULL_REPLY)
        files = {}
        for kind, method in (("block", "debug_writeBlockProfile"),
                             ("mutex", "debug_writeMutexProfile")):
            files[kind] = self.d / f"{kind}.pprof"
            self.assertEqual(w.call(method, [str(files[kind])]), rt.NULL_REPLY)
            sites = by_site(read_profile(files[kind]))
            for s in SITES:
                self.assertIn(s, sites, f"{kind}: {sites}")
                self.assertEqual(sites[s][0], 10, f"{kind} {s}: one contention per wait")
                self.assertNear(sites[s][1], measured[s], f"{kind} {s}")
            p = read_profile(files[kind])
            self.assertEqual(p["period"], 1)
            self.assertEqual(p["sample_type"], [("contentions", "count"),
                                                ("delay", "nanoseconds")])
            self.assertEqual(p["period_type"], ("contentions", "count"))
        # the mutex profile holds lock waits only; the block profile all
        mutex = stacks(read_profile(files["mutex"]))
        self.assertEqual({n[0] for _, _, n in mutex}, {"pthread_mutex_lock"})
        block = {n[0] for _, _, n in stacks(read_profile(files["block"]))}
        self.assertLessEqual({"pthread_mutex_lock", "nanosleep", "sem_wait"}, block)
        # the trace's sync profile: the same sites, the same totals
        with gt.tempdir() as d:
            trace_sites = by_site(read_profile(gt._profile(str(t), "sync", d)))
        blk = by_site(read_profile(files["block"]))
        for s in SITES:
            self.assertNear(trace_sites[s][1], blk[s][1], f"trace's sync profile, {s}")
        gt.trace_events(str(t))   # Go 1.19, 1.22 and 1.23 read the trace
        for go in (gt.GO, gt.GO122, gt.GO_MODERN):
            for f in files.values():
                self.assertIn("pthread_mutex_lock", pprof(f, "-top", go=go))
                lines = pprof(f, "-traces", "-lines", go=go)
                self.assertRegex(lines, r"contend \S*waits\.c:\d+\n\s+wait_long \S*waits\.c:\d+")
        for go in (gt.GO, gt.GO_MODERN):   # pprof -http's pages: the flame graph
            for f in files.values():
                status, body = flame_graph(f, go)
                self.assertEqual(status, 200)
                self.assertIn("wait_long", body)
        self.assertEqual(w.end(), (0, ""))

    def test_window_written_at_exit(self):
        """A program that exits while debug_blockProfile and
        debug_mutexProfile wait for their windows: both files are
        written at its exit, with its waits, and both calls answered
        (they lost their files and got a closed connection)."""
        w = self.waits(10, 5)
        files = {k: self.d / f"{k}.pprof" for k in ("block", "mutex")}
        conns = {}
        for kind, f in files.items():   # sent whole, their replies held
            s = rt.connect(w.sock, 60)
            s.sendall(rt.req(f"debug_{kind}Profile", [str(f), 120]).encode())
            s.shutdown(socket.SHUT_WR)
            conns[kind] = s
        # A later connection's answer: the service thread has read theirs
        self.assertIn(b'"result"', w.call("rpc_modules", []))
        w.run()
        rc, err = w.end()
        replies = {k: rt.recv_all(s) for k, s in conns.items()}
        for s in conns.values():
            s.close()
        self.assertEqual(rc, 0, err)
        for kind, f in files.items():
            self.assertEqual(replies.get(kind), rt.NULL_REPLY, kind)
            got = by_site(read_profile(f))
            self.assertEqual(sorted(got), sorted(SITES), (kind, got))

    def test_rates_windows_and_errors(self):
        w = self.waits(10, 4)
        f1, f2, f3 = (self.d / f"{n}.pprof" for n in ("one", "two", "three"))
        # a wait at least the rate long counts whole: rate 5 ms, 10-20 ms waits
        self.assertEqual(w.call("debug_setBlockProfileRate", [5000000]), rt.NULL_REPLY)
        measured = w.run()
        self.assertEqual(w.call("debug_setBlockProfileRate", [0]), rt.NULL_REPLY)
        self.assertEqual(w.call("debug_writeBlockProfile", [str(f1)]), rt.NULL_REPLY)
        one = by_site(read_profile(f1))
        for s in SITES:
            self.assertEqual(one[s][0], 4)
            self.assertNear(one[s][1], measured[s], s)
        # no mutex fraction set: an empty mutex profile, still readable
        self.assertEqual(w.call("debug_writeMutexProfile", [str(f2)]), rt.NULL_REPLY)
        self.assertEqual(stacks(read_profile(f2)), [])
        self.assertIn("Type: delay", pprof(f2, "-top"))
        # errors as geth's (Go's json and os messages)
        self.assertEqual(w.call("debug_setBlockProfileRate", ["x"]),
                         b'{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"invalid '
                         b'argument 0: json: cannot unmarshal string into Go value of type '
                         b'int"}}\n')
        self.assertEqual(w.call("debug_writeBlockProfile", ["/nonexistent/b.pprof"]),
                         b'{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"open '
                         b'/nonexistent/b.pprof: no such file or directory"}}\n')
        self.assertEqual(w.end(), (0, ""))

        # debug_blockProfile: rate 1 for its window, then the old rate back
        w = self.waits(10, 3, name="w2.sock")
        self.assertEqual(w.call("debug_setBlockProfileRate", [-1]), rt.NULL_REPLY)
        c = subprocess.Popen([str(gt.CLIENT), "block", w.sock, str(f3), "3"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(0.5)   # the window is open (its reply comes at its end)
        measured = w.run()
        out, err = c.communicate(timeout=60)
        self.assertEqual((c.returncode, out), (0, ""), err)
        self.assertIn(f"gotrace: block profile written to {f3}", err)
        three = by_site(read_profile(f3))
        for s in SITES:
            self.assertNear(three[s][1], measured[s], s)
        self.assertEqual(w.call("debug_setBlockProfileRate", [1]), rt.NULL_REPLY)
        r = gt.run_plain([gt.CLIENT, "attach", w.sock, "--exec",
                          f'debug.writeBlockProfile("{self.d / "four.pprof"}")'])
        self.assertEqual((r.returncode, r.stdout), (0, "null\n"), r.stderr)
        self.assertEqual(json.loads(rt.curl_unix(w.sock, rt.req(
            "debug_setMutexProfileFraction", [2]))), json.loads(rt.NULL_REPLY))
        self.assertEqual(w.end(), (0, ""))



RACE = r"""
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static int word;
static pthread_barrier_t bar;
#define SITE(k)                                                                  \
	__attribute__((noinline)) void site##k(void)                               \
	{                                                                          \
		struct timespec ts = { 0, 3000000 };                                  \
		syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, &ts, 0, 0);          \
	}                                                                          \
	static void *th##k(void *a)                                                \
	{                                                                          \
		(void)a;                                                           \
		for (int i = 0; i < 5; i++) {                                      \
			pthread_barrier_wait(&bar);                                 \
			site##k();                                                  \
		}                                                                  \
		return NULL;                                                       \
	}
SITE(0) SITE(1) SITE(2) SITE(3) SITE(4) SITE(5) SITE(6) SITE(7)
SITE(8) SITE(9) SITE(10) SITE(11) SITE(12) SITE(13) SITE(14) SITE(15)
int main(void)
{
	void *(*f[])(void *) = { th0, th1, th2, th3, th4, th5, th6, th7,
				 th8, th9, th10, th11, th12, th13, th14, th15 };
	pthread_t t[16];
	char line[8];
	pthread_barrier_init(&bar, NULL, 16);
	puts("ready");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 0; i < 16; i++)
		pthread_create(&t[i], NULL, f[i], NULL);
	for (int i = 0; i < 16; i++)
		pthread_join(t[i], NULL);
	puts("done");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	return 0;
}
"""


class FirstWalks(unittest.TestCase):
    """16 threads meet at a barrier and make their first counted wait at
    once: the process's first stack walks, one of which sets libunwind up
    (~150 us) while the others went without frames, their waits left with
    the leaf alone (1-15 of 16 in most runs). They wait for it now."""

    def test_every_first_wait_has_its_site(self):
        with gt.tempdir() as d:
            exe = gt.compile_c(RACE, d / "race")
            sock = str(d / "s.sock")
            p = gt.start_traced([exe], None, socket=sock, stdin=subprocess.PIPE)
            try:
                self.assertEqual(p.stdout.readline(), "ready\n")
                gt.wait_until(lambda: rt.can_connect(sock), what=sock)
                self.assertEqual(rt.stream_call(sock, rt.req("debug_setMutexProfileFraction", [1])),
                                 rt.NULL_REPLY)
                p.stdin.write("go\n")
                p.stdin.flush()
                self.assertEqual(p.stdout.readline(), "done\n")
                f = d / "m.pprof"
                self.assertEqual(rt.stream_call(sock, rt.req("debug_writeMutexProfile", [str(f)])),
                                 rt.NULL_REPLY)
                out, err = p.communicate("end\n", timeout=30)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.communicate()
            self.assertEqual(p.returncode, 0, err)
            got = stacks(read_profile(f))
            self.assertEqual(sum(c for c, _, _ in got), 80, got)
            for count, _, names in got:
                self.assertTrue(any(n.startswith("site") for n in names), names)



EXECER = r"""
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
__attribute__((noinline)) static void nap(void)
{
	usleep(1000);
}
static void *napper(void *a)
{
	(void)a;
	for (;;)
		nap();
	return NULL;
}
int main(void)
{
	pthread_t t;
	char line[8];
	pthread_create(&t, NULL, napper, NULL);
	puts("ready");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	execl("/bin/true", "true", (char *)NULL);
	return 1;
}
"""


class WindowsAtExec(unittest.TestCase):
    """A program that execs while debug_blockProfile and debug_mutexProfile
    hold their windows (and debug_goTrace its trace): the exec ends them
    all, written, each call answered (the windows were lost, their
    clients told the connection closed)."""

    def test_answered_and_written(self):
        with gt.tempdir() as d:
            exe = gt.compile_c(EXECER, d / "execer")
            sock = str(d / "s.sock")
            p = gt.start_traced([exe], None, socket=sock, stdin=subprocess.PIPE)
            conns = {}
            try:
                self.assertEqual(p.stdout.readline(), "ready\n")
                gt.wait_until(lambda: rt.can_connect(sock), what=sock)
                calls = {"block": ("debug_blockProfile", [str(d / "b.pprof"), 120]),
                         "mutex": ("debug_mutexProfile", [str(d / "m.pprof"), 120]),
                         "trace": ("debug_goTrace", [str(d / "t.trace"), 120])}
                for k, (m, params) in calls.items():
                    s = rt.connect(sock, 60)
                    s.sendall(rt.req(m, params).encode())
                    s.shutdown(socket.SHUT_WR)
                    conns[k] = s
                self.assertIn(b'"result"', rt.stream_call(sock, rt.req("rpc_modules", [])))
                time.sleep(0.3)   # the napper's waits counted
                p.stdin.write("go\n")
                p.stdin.flush()
                replies = {k: rt.recv_all(s) for k, s in conns.items()}
                out, err = p.communicate(timeout=30)
            finally:
                for s in conns.values():
                    s.close()
                if p.poll() is None:
                    p.kill()
                    p.communicate()
            self.assertEqual(p.returncode, 0, err)
            for k, r in replies.items():
                self.assertEqual(r, rt.NULL_REPLY, k)
            got = stacks(read_profile(d / "b.pprof"))
            self.assertTrue(any("nap" in names for _, _, names in got), got)
            read_profile(d / "m.pprof")
            gt.trace_events(str(d / "t.trace"))


if __name__ == "__main__":
    unittest.main()
