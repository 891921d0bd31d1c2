"""Issue 26, the memory methods of geth's debug namespace: debug_memStats
(runtime.MemStats' fields, in Go's order, those with a native meaning from
glibc's allocator) and debug_freeOSMemory (malloc_trim).

A program holds a known heap: 48 MiB in 12 blocks of 4 MiB (each its own
mapping) and 16 MiB in 64 KiB blocks (in the main arena, under the
mmap threshold), then frees the small ones. Its HeapAlloc and HeapInuse
are what it holds within 5%; HeapSys holds them; after the frees,
debug_freeOSMemory gives their pages back (RSS falls by most of the 16
MiB) and HeapInuse stays. Over the client (gotrace call), the
console (debug.memStats()), curl and socat, by the same reply; geth's
methods with no native meaning answer -32601 as any unknown one.

debug_writeMemProfile (HeapProfile): sites holding 64, 32 and 8 MiB read
within 10% in inuse_space and alloc_space, 1 GiB of churn within 10% in
alloc_space and ~0 in use; after the frees nothing is in use; sampling
from load (GOTRACE_MEMPROFILE_RATE), from the first call (unset), or never
(0)."""
import json
import os
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import gttest as gt  # noqa: E402
import test_rpc as rt  # noqa: E402  (module only)
from test_cpu import flame_graph  # noqa: E402

HOLD = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <malloc.h>
int main(void)
{
	static char *big[12], *small[256];
	char line[16];
	mallopt(M_MMAP_THRESHOLD, 1 << 20);   /* fixed: glibc's own moves with frees */
	for (int i = 0; i < 12; i++)
		memset(big[i] = malloc(4 << 20), 1, 4 << 20);
	for (int i = 0; i < 256; i++)
		memset(small[i] = malloc(64 << 10), 1, 64 << 10);
	printf("held\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 0; i < 256; i++)
		free(small[i]);
	printf("freed\n");
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 0; i < 12; i++)
		free(big[i]);
	return 0;
}
"""

FIELDS = ["Alloc", "TotalAlloc", "Sys", "Lookups", "Mallocs", "Frees", "HeapAlloc", "HeapSys",
          "HeapIdle", "HeapInuse", "HeapReleased", "HeapObjects", "StackInuse", "StackSys",
          "MSpanInuse", "MSpanSys", "MCacheInuse", "MCacheSys", "BuckHashSys", "GCSys",
          "OtherSys", "NextGC", "LastGC", "PauseTotalNs", "PauseNs", "PauseEnd", "NumGC",
          "NumForcedGC", "GCCPUFraction", "EnableGC", "DebugGC", "BySize"]
MIB = 1 << 20


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(ln.split()[1]) * 1024 for ln in f if ln.startswith("VmRSS:"))


class Mem(unittest.TestCase):
    def setUp(self):
        cm = gt.tempdir()
        self.d = cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)
        prog = gt.compile_c(HOLD, self.d / "hold")
        self.sock = str(self.d / "m.sock")
        self.p = gt.start_traced([prog], None, socket=self.sock, stdin=subprocess.PIPE)
        self.addCleanup(lambda: self.p.poll() is None and (self.p.kill(), self.p.communicate()))
        self.assertEqual(self.p.stdout.readline(), "held\n")
        gt.wait_until(lambda: rt.can_connect(self.sock), what=self.sock)

    def stats(self):
        reply = json.loads(rt.stream_call(self.sock, rt.req("debug_memStats", [])))
        return reply["result"]

    def test_figures_and_free_os_memory(self):
        s = self.stats()
        self.assertEqual(list(s), FIELDS)   # Go's order, as geth encodes MemStats
        self.assertEqual((len(s["PauseNs"]), len(s["BySize"])), (256, 61))
        held = 64 * MIB
        for k in ("Alloc", "HeapAlloc", "HeapInuse"):
            self.assertLess(abs(s[k] - held), held / 20, (k, s[k]))
        self.assertGreaterEqual(s["HeapSys"], s["HeapInuse"])
        self.assertEqual(s["Sys"], s["HeapSys"])
        for k in ("Mallocs", "Frees", "NumGC", "HeapObjects"):   # no native figure: 0
            self.assertEqual(s[k], 0, k)
        self.assertIs(s["EnableGC"], False)

        self.p.stdin.write("free\n")
        self.p.stdin.flush()
        self.assertEqual(self.p.stdout.readline(), "freed\n")
        before = self.stats()
        rss0 = rss(self.p.pid)
        self.assertLess(abs(before["HeapInuse"] - 48 * MIB), 48 * MIB / 20, before["HeapInuse"])
        self.assertEqual(rt.stream_call(self.sock, rt.req("debug_freeOSMemory", [])),
                         rt.NULL_REPLY)
        after = self.stats()
        # the freed blocks' pages go back (madvise: the stdout buffer above
        # them holds the arena's top); what is in use stays
        self.assertGreater(rss0 - rss(self.p.pid), 12 * MIB)
        self.assertLess(abs(after["HeapInuse"] - before["HeapInuse"]), MIB)
        self.p.stdin.write("end\n")
        self.p.stdin.close()
        self.assertEqual(self.p.wait(timeout=30), 0)

    def test_clients_and_errors(self):
        body = rt.req("debug_memStats", [])
        for via in (rt.curl_unix(self.sock, body), rt.socat(self.sock, body)):
            self.assertGreater(json.loads(via)["result"]["HeapAlloc"], 60 * MIB)
        r = gt.run_plain([gt.CLIENT, "call", self.sock, "debug_memStats"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreater(json.loads(r.stdout)["HeapAlloc"], 60 * MIB)
        r = gt.run_plain([gt.CLIENT, "attach", self.sock, "--exec", "debug.memStats()"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreater(json.loads(r.stdout)["HeapInuse"], 60 * MIB)
        r = gt.run_plain([gt.CLIENT, "attach", self.sock, "--exec", "debug.freeOSMemory()"])
        self.assertEqual((r.returncode, r.stdout), (0, "null\n"), r.stderr)
        self.assertEqual(rt.stream_call(self.sock, rt.req("debug_memStats", [1])),
                         b'{"jsonrpc":"2.0","id":1,"error":{"code":-32602,'
                         b'"message":"too many arguments, want at most 0"}}\n')
        for m in ("debug_gcStats", "debug_setGCPercent", "debug_setMemoryLimit",
                  "debug_verbosity", "debug_vmodule"):
            got = rt.stream_call(self.sock, rt.req(m, []))
            self.assertEqual(got, b'{"jsonrpc":"2.0","id":1,"error":{"code":-32601,'
                             b'"message":"the method ' + m.encode() +
                             b' does not exist/is not available"}}\n')


class HeapProfile(unittest.TestCase):
    """debug_writeMemProfile: Go's heap profile of tests/programs/heapsites.c
    (keep64, keep32, keep8 holding 64, 32 and 8 MiB in 8 MiB blocks; churn
    allocating 1 GiB in 4 KiB blocks, keeping none)."""

    def setUp(self):
        cm = gt.tempdir()
        self.d = cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)

    def start(self, env):
        self.sock = str(self.d / "h.sock")
        p = gt.start_traced([gt.program("heapsites")], None, env=env, socket=self.sock,
                            stdin=subprocess.PIPE)
        self.addCleanup(lambda: p.poll() is None and (p.kill(), p.communicate()))
        self.assertEqual(p.stdout.readline(), "ready\n")
        gt.wait_until(lambda: rt.can_connect(self.sock), what=self.sock)
        return p

    def step(self, p, want):
        p.stdin.write("next\n")
        p.stdin.flush()
        self.assertEqual(p.stdout.readline(), want)

    def write(self, name):
        f = self.d / name
        self.assertEqual(rt.stream_call(self.sock, rt.req("debug_writeMemProfile", [str(f)])),
                         rt.NULL_REPLY)
        return f

    def sites(self, f):
        """{function: [alloc_objects, alloc_space, inuse_objects, inuse_space]}
        for the sites (the stack's function under malloc's caller)."""
        from test_cpu import read_profile
        p = read_profile(f)
        self.assertEqual(p["sample_type"], [("alloc_objects", "count"), ("alloc_space", "bytes"),
                                            ("inuse_objects", "count"), ("inuse_space", "bytes")])
        self.assertEqual(p["period_type"], ("space", "bytes"))
        out = {}
        for locs, vals in p["samples"]:
            names = [p["functions"][fid][0] for lid in locs
                     for fid, _ in p["locations"][lid][2]]
            for site in ("keep64", "keep32", "keep8", "churn"):
                if site in names:
                    acc = out.setdefault(site, [0, 0, 0, 0])
                    for i in range(4):
                        acc[i] += vals[i]
        return out

    def test_known_live_set_from_load(self):
        p = self.start({"GOTRACE_MEMPROFILE_RATE": "524288"})
        self.step(p, "held\n")
        f = self.write("held.pprof")
        s = self.sites(f)
        for site, mib in (("keep64", 64), ("keep32", 32), ("keep8", 8)):
            self.assertLess(abs(s[site][3] - mib * MIB), mib * MIB / 10, (site, s[site]))
            self.assertLess(abs(s[site][1] - mib * MIB), mib * MIB / 10, (site, s[site]))
        self.assertLess(abs(s["churn"][1] - 1024 * MIB), 1024 * MIB / 10, s["churn"])
        self.assertLess(s["churn"][3], MIB, "churn keeps nothing")
        self.assertLess(abs(s["churn"][0] - 262144), 262144 / 10, s["churn"])
        for go in (gt.GO, gt.GO122, gt.GO_MODERN):
            r = gt._go(["tool", "pprof", "-top", "-sample_index=inuse_space", str(f)], go=go,
                       text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"keep64")
            r = gt._go(["tool", "pprof", "-traces", "-lines", str(f)], go=go, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"keep64 \S*\.c:\d+")
        for go in (gt.GO, gt.GO_MODERN):   # pprof -http's pages: the flame graph
            status, body = flame_graph(f, go)
            self.assertEqual(status, 200)
            self.assertIn("keep64", body)
        self.step(p, "freed\n")
        s = self.sites(self.write("freed.pprof"))
        for site in ("keep64", "keep32", "keep8"):
            self.assertEqual(s[site][2:], [0, 0], (site, s[site]))
            self.assertGreater(s[site][1], 0)   # allocated once: still counted
        self.assertEqual(p.communicate("end\n", timeout=30)[0], "")
        self.assertEqual(p.returncode, 0)

    def test_sampling_starts_at_first_call(self):
        p = self.start({})
        # a file that cannot be opened: an error, and sampling not started
        # (it was, and the program's stderr named the file as written)
        bad = self.d / "no" / "such.pprof"
        reply = rt.stream_call(self.sock, rt.req("debug_writeMemProfile", [str(bad)]))
        self.assertEqual(reply, rt.err_reply(-32000, f"open {bad}: no such file or directory"))
        s = self.sites(self.write("first.pprof"))
        self.assertEqual(s, {})   # nothing sampled before
        self.step(p, "held\n")
        f = self.d / "second.pprof"   # through the client: gotrace heap
        r = gt.run_plain([gt.CLIENT, "heap", self.sock, f])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"gotrace: heap profile written to {f}", r.stderr)
        s = self.sites(f)
        self.assertLess(abs(s["keep64"][3] - 64 * MIB), 64 * MIB / 10, s)
        err = p.communicate("x\nend\n", timeout=30)[1]
        self.assertIn("heap profile: sampling from now on", err)
        self.assertNotIn(str(bad), err)

    def test_rate_zero_never_samples(self):
        p = self.start({"GOTRACE_MEMPROFILE_RATE": "0"})
        self.step(p, "held\n")
        self.assertEqual(self.sites(self.write("none.pprof")), {})
        p.communicate("x\nend\n", timeout=30)



REALLOC = r"""
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
__attribute__((noinline)) static char *keep(size_t n)
{
	char *p = malloc(n);
	memset(p, 1, n);
	return p;
}
int main(void)
{
	char *kept[4];
	int failed = 0;
	for (int i = 0; i < 4; i++) {
		kept[i] = keep(16 << 20);
		/* fails (NULL): the block stays the program's, C11 7.22.3.5 */
		failed += realloc(kept[i], (size_t)1 << 62) == NULL;
	}
	kept[0] = realloc(kept[0], 32 << 20);   /* moves or grows: the old one freed */
	printf("ready %d\n", failed);
	fflush(stdout);
	char line[8];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 0; i < 4; i++)
		free(kept[i]);
	return 0;
}
"""


class ReallocFails(unittest.TestCase):
    """A realloc that fails (NULL, size > 0) leaves its block allocated:
    the hook took the block's record out of the heap profile before the
    call (its address may go to another thread at once) and never put it
    back, so 64 MiB still held read 0 in use. It goes back now."""

    def test_block_stays_in_use(self):
        with gt.tempdir() as d:
            exe = gt.compile_c(REALLOC, d / "realloc")
            sock = str(d / "s.sock")
            p = gt.start_traced([exe], None, env={"GOTRACE_MEMPROFILE_RATE": "524288"},
                                socket=sock, stdin=subprocess.PIPE)
            try:
                self.assertEqual(p.stdout.readline(), "ready 4\n")
                gt.wait_until(lambda: rt.can_connect(sock), what=sock)
                f = d / "h.pprof"
                self.assertEqual(rt.stream_call(sock, rt.req("debug_writeMemProfile", [str(f)])),
                                 rt.NULL_REPLY)
                out, err = p.communicate("end\n", timeout=30)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.communicate()
            self.assertEqual(p.returncode, 0, err)
            from test_cpu import read_profile
            prof = read_profile(f)
            inuse = {}
            for locs, vals in prof["samples"]:
                names = [prof["functions"][fid][0] for lid in locs
                         for fid, _ in prof["locations"][lid][2]]
                site = "keep" if "keep" in names else "other"
                inuse[site] = inuse.get(site, 0) + vals[3]
            # three 16 MiB blocks kept by keep's malloc, 32 MiB by the realloc
            self.assertLess(abs(inuse.get("keep", 0) - 48 * MIB), 48 * MIB / 10, inuse)
            self.assertLess(abs(sum(inuse.values()) - 80 * MIB), 80 * MIB / 10, inuse)


if __name__ == "__main__":
    unittest.main()
