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
methods with no native meaning answer -32601 as any unknown one."""
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


if __name__ == "__main__":
    unittest.main()
