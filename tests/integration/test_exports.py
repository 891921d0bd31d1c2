"""libgotrace.so exports nothing but the names listed in preload/gotrace.map
(every other symbol is hidden), and every listed name is defined. Nor does
it bring other names into the program's symbol scope: libunwind (which
defines libgcc_s's _Unwind_* names too), liburcu and libdw are loaded local
and only when a trace starts, so C++ code a C program dlopens still throws
through libgcc_s, and an idle process maps none of them. The other way
round, the program's own copies of libraries we use (its malloc, its
zlib) never receive what ours made."""
import os
import shutil
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

MAP = gt.REPO / "preload" / "gotrace.map"


def map_globals(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r"#[^\n]*", "", text)
    m = re.search(r"global\s*:(.*?)(?:local\s*:|\})", text, flags=re.S)
    assert m, f"{MAP}: no global: section"
    names = {n.strip() for n in m.group(1).split(";") if n.strip()}
    assert names and all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", n) for n in names), names
    return names


def exported(lib):
    r = subprocess.run(["nm", "-D", "--defined-only", str(lib)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    names = set()
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            names.add(parts[-1].split("@")[0])
    return names


class Exports(unittest.TestCase):
    def test_map_parses(self):
        self.assertIn("pthread_create", map_globals(MAP.read_text()))

    def test_only_listed_names_exported(self):
        extra = exported(gt.LIB) - map_globals(MAP.read_text())
        self.assertEqual(sorted(extra), [], "exported but not in preload/gotrace.map")

    def test_every_listed_name_defined(self):
        missing = map_globals(MAP.read_text()) - exported(gt.LIB)
        self.assertEqual(sorted(missing), [], "listed in gotrace.map but not defined")


HOST = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	void *h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	int (*f)(void) = (int (*)(void))dlsym(h, "plug");
	printf("plug=%d\n", f());
	return 0;
}
"""

PLUGIN = r"""
#include <stdexcept>
extern "C" int plug(void)
{
	try {
		throw std::runtime_error("x");
	} catch (const std::exception &) {
		return 7;
	}
	return 0;
}
"""


class Scope(unittest.TestCase):
    """A C program (libgcc_s not among its libraries) dlopens a C++ plugin
    that throws: its _Unwind_* calls must bind to libgcc_s, idle and while
    tracing. Linked into libgotrace.so, libunwind came first in the global
    scope and got them (and libgcc_s's own internal calls)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = cls.tmp_ctx.__enter__()
        cls.host = gt.compile_c(HOST, cls.tmp / "host", libs=["-ldl"])
        src = cls.tmp / "plug.cc"
        src.write_text(PLUGIN)
        cls.plugin = str(cls.tmp / "plug.so")
        cmd = [os.environ.get("CXX", "c++"), "-O1", "-shared", "-fPIC", "-o", cls.plugin, str(src)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        assert r.returncode == 0, f"{' '.join(cmd)}: {r.stderr}"

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    def check(self, trace):
        r = gt.run_traced([self.host, self.plugin], trace, env={"LD_DEBUG": "bindings,files"})
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertEqual(r.stdout, "plug=7\n")
        binds = re.findall(r"binding file (\S+) \[\d+\] to (\S+) \[\d+\]: normal symbol `(\w+)'",
                           r.stderr)
        self.assertTrue(any(s == "_Unwind_RaiseException" for _, _, s in binds), "no LD_DEBUG output")
        stolen = sorted({f"{os.path.basename(a)}: {s}" for a, b, s in binds
                         if "libunwind" in b and "libunwind" not in a})
        self.assertEqual(stolen, [], "program symbols bound to libunwind")
        return r.stderr

    def test_idle(self):
        log = self.check(None)
        for lib in ("libunwind", "liburcu", "libdw"):
            self.assertNotIn(lib, log, f"an idle process loaded {lib}")

    def test_tracing(self):
        with gt.tempdir() as d:
            self.check(d / "t.trace")
            gt.trace_events(d / "t.trace")


class OwnLibraries(unittest.TestCase):
    """tests/programs/ownlibs brings its own malloc and deflateReset and
    exports them, as rustc (jemalloc) and node (a zlib of its own) do. A
    trace and a CPU profile of it: the tracer's gzip never reaches the
    program's deflateReset (libz.so.1, dlopened, bound its own call to it:
    node crashed at its first profile), and memory that libc's strdup, libdw
    or the demangler took from the program's malloc goes back to the
    program's free, not glibc's (cargo's rustc aborted in "free(): invalid
    pointer"). Either mistake aborts the program here."""

    def test_trace_and_profile(self):
        with gt.tempdir() as d:
            trace, cpu = d / "t.trace", d / "cpu.pprof"
            r = gt.run_traced([gt.program("ownlibs"), "300"], trace,
                              env={"GOTRACE_CPU_FILE": str(cpu)})
            self.assertEqual(r.returncode, 0, r.stderr[-2000:])
            self.assertEqual(r.stdout, "ownlibs: 90\n")
            gt.trace_events(trace)   # Go 1.19 and 1.23
            # the inlined frame came through libdw's scopes (program's malloc)
            top = gt.pprof_top(trace, "sync", lines=True)
            self.assertTrue(any(k.startswith("hold ") and "ownlibs.c:" in k for k in top), top)
            self.assertEqual(cpu.read_bytes()[:2], b"\x1f\x8b", "not gzip'd")
            for go in (gt.GO, gt.GO_MODERN):
                r = gt._go(["tool", "pprof", "-top", str(cpu)], text=True, go=go)
                self.assertEqual(r.returncode, 0, f"{go}: {r.stderr[-2000:]}")
                self.assertIn("worker", r.stdout, f"{go}: {r.stdout[-2000:]}")


LOADER = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	void *h = dlopen(argv[1], RTLD_NOW);
	printf("dlopen: %s\n", h ? "ok" : dlerror());
	usleep(20000);
	return h == NULL;
}
"""


class Dlopened(unittest.TestCase):
    """A program that dlopens libgotrace.so itself, with GOTRACE_FILE set:
    our constructor then runs under the loader's lock, and the trace it
    starts must not wait on a service thread that needs that lock (dlsym,
    dlopen of liburcu, libunwind, libdw). It hung before."""

    def test_dlopen_with_gotrace_file(self):
        with gt.tempdir() as d:
            host = gt.compile_c(LOADER, d / "loader", libs=["-ldl"])
            f = d / "t.trace"
            r = gt.run_plain([host, str(gt.LIB)], env={"GOTRACE_FILE": str(f),
                                                       "GOTRACE_SOCKET": "off"}, timeout=20)
            self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "dlopen: ok\n", ""))
            gt.trace_events(f)


SHIM = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <unistd.h>
/* After libgotrace.so in LD_PRELOAD: our hooks' read must come here
 * (RTLD_NEXT from ours), and this one goes on to libc's. */
static long calls;
ssize_t read(int fd, void *b, size_t n)
{
	static ssize_t (*next)(int, void *, size_t);
	if (!next)
		next = (ssize_t (*)(int, void *, size_t))dlsym(RTLD_NEXT, "read");
	calls++;
	return next(fd, b, n);
}
__attribute__((destructor)) static void said(void)
{
	char m[64];
	int k = snprintf(m, sizeof(m), "shim reads: %ld\n", calls);
	write(2, m, (size_t)k);
}
"""

READER = r"""
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(void)
{
	char b[16];
	int fd = open("/dev/zero", O_RDONLY);
	for (int i = 0; i < 100; i++)
		if (read(fd, b, sizeof(b)) != sizeof(b))
			return 1;
	puts("read 100");
	return 0;
}
"""


class RealLookup(unittest.TestCase):
    """The constructor finds the real functions in the objects' hash
    tables (core/base/elfsym.c), not with dlsym: it must find what
    dlsym(RTLD_NEXT) would. A library preloaded after ours that defines
    read gets the program's reads through our hook, idle and tracing; with
    GOTRACE_DEBUG every look-up is checked against dlsym, here and in
    programs with many objects (python3, C++), and none differs."""

    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = cls.tmp_ctx.__enter__()
        src = cls.tmp / "shim.c"
        src.write_text(SHIM)
        cls.shim = str(cls.tmp / "libshim.so")
        r = subprocess.run([os.environ.get("CC", "cc"), "-O1", "-shared", "-fPIC", "-o", cls.shim,
                            str(src), "-ldl"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        cls.reader = gt.compile_c(READER, cls.tmp / "reader")

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    def run_with_shim(self, trace, debug):
        env = {"LD_PRELOAD": f"{gt.LIB}:{self.shim}", "GOTRACE_SOCKET": "off"}
        if debug:   # (then dlsym's answer is taken: the count alone would not tell)
            env["GOTRACE_DEBUG"] = "1"
        if trace:
            env["GOTRACE_FILE"] = str(trace)
        return gt.run_plain([self.reader], env=env, timeout=30)

    def test_next_object_gets_the_calls(self):
        for trace, debug in ((None, 0), (self.tmp / "shim.trace", 0), (None, 1)):
            r = self.run_with_shim(trace, debug)
            self.assertEqual((r.returncode, r.stdout), (0, "read 100\n"), r.stderr)
            m = re.search(r"shim reads: (\d+)", r.stderr)
            self.assertTrue(m, r.stderr)
            self.assertGreaterEqual(int(m.group(1)), 100, r.stderr)
            self.assertNotIn("gotrace: real:", r.stderr)

    def test_many_objects_agree_with_dlsym(self):
        py = os.path.realpath(shutil.which("python3"))
        for argv, rc in (([py, "-c", "import ssl, json, sqlite3; print('ok')"], 0),
                         ([gt.program("cxxprog")], 6)):
            r = gt.run_plain(argv, env={"LD_PRELOAD": str(gt.LIB), "GOTRACE_SOCKET": "off",
                                        "GOTRACE_DEBUG": "1"}, timeout=60)
            self.assertEqual(r.returncode, rc, (argv, r.stderr[-2000:]))
            self.assertNotIn("gotrace: real:", r.stderr, argv)


if __name__ == "__main__":
    unittest.main()
