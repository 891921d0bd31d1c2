"""Stripped programs (issue 23, item 7). One small C program, built here
four ways with the system's cc, binutils and xz:
  - full: -g, not stripped;
  - mini: stripped (`strip --strip-all`) after the GDB manual's
    MiniDebugInfo recipe ("MiniDebugInfo", Debugging with GDB): the local
    function symbols in an xz-compressed ELF in its .gnu_debugdata section,
    as Fedora ships its binaries;
  - bare: stripped, no symbols at all (as Debian ships /usr/bin/git);
  - noid: stripped, linked without a build id.
Under the library, with GOTRACE_FILE:
  - mini's stacks name its static functions (libdw reads .gnu_debugdata),
    as full's do, and the trace has no notes;
  - bare's frames are "bare+0x...", and the trace ends with notes (strings
    from GT_STR_NOTES on, which `gotrace summary`, `run`, `stop` and
    `trace` print) saying once which object had frames without a symbol
    and the path its debug file would have by build id
    (/usr/lib/debug/.build-id/xx/yyyy.debug, where a Debian -dbgsym package
    puts it), then how to get one;
  - noid's note says it has no build id;
  - stdout, stderr (empty: the program's, untouched) and the exit status
    are those of a plain run."""
import json
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gttest as gt  # noqa: E402
import test_rpc as rt  # noqa: E402  (module only: its tests are not run here)

SOURCE = r"""
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static int fds[2];

static __attribute__((noinline)) void *feeder(void *arg)
{
	for (long i = 0; i < (long)arg; i++) {
		usleep(5000);
		if (write(fds[1], "x", 1) != 1)
			break;
	}
	return NULL;
}

static __attribute__((noinline)) void leaf_reader(void)
{
	char c;
	if (read(fds[0], &c, 1) != 1)
		perror("read");
	__asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void middle_reader(void)
{
	leaf_reader();
	__asm__ volatile("" ::: "memory");
}

static void reads(long n)
{
	pthread_t t;

	if (pthread_create(&t, NULL, feeder, (void *)n))
		return;
	for (long i = 0; i < n; i++)
		middle_reader();
	pthread_join(t, NULL);
}

int main(int argc, char **argv)
{
	char line[64];

	if (pipe(fds))
		return 1;
	if (argc < 2) {
		reads(4);
		puts("read 4");
		return 0;
	}
	while (fgets(line, sizeof(line), stdin)) {   /* "loop": a round a line */
		reads(2);
		puts("round");
		fflush(stdout);
	}
	return 0;
}
"""

ADVICE = ("to get a debug file: install its -dbgsym package (Debian: apt install "
          "<package>-dbgsym, from the debian-debug archive")


def run(*argv, **kw):
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, argv))}: {r.stderr}"
    return r.stdout


def minidebuginfo(binary, d):
    """The GDB manual's recipe: the function symbols not in .dynsym, in an
    xz-compressed ELF added as .gnu_debugdata; everything else stripped."""
    dynsyms = run("nm", "-D", binary, "--format=posix", "--defined-only").split("\n")
    dyn = {ln.split()[0] for ln in dynsyms if ln.strip()}
    funcs = {ln.split()[0] for ln in run("nm", binary, "--format=posix", "--defined-only")
             .split("\n") if ln.strip() and ln.split()[1] in ("T", "t", "D")}
    (d / "keep_symbols").write_text("".join(f"{s}\n" for s in sorted(funcs - dyn)))
    run("objcopy", "--only-keep-debug", binary, d / "debug")
    run("objcopy", "-S", "--remove-section", ".gdb_index", "--remove-section", ".comment",
        f"--keep-symbols={d / 'keep_symbols'}", d / "debug", d / "mini_debuginfo")
    run("strip", "--strip-all", "-R", ".comment", binary)
    run("xz", "-f", d / "mini_debuginfo")
    run("objcopy", f"--add-section=.gnu_debugdata={d / 'mini_debuginfo.xz'}", binary)


def attach(sock, js):
    r = subprocess.run([str(gt.CLIENT), "attach", sock, "--exec", js], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, f"gotrace attach --exec {js}: {r.stderr}"


def notes(trace):
    """The trace's notes, as `gotrace summary --json` gives them."""
    r = subprocess.run([str(gt.CLIENT), "summary", "--json", str(trace)], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return __import__("json").loads(r.stdout)["notes"]


def sections(binary):
    return set(re.findall(r"^\s*\[\s*\d+\]\s+(\S+)", run("readelf", "-SW", binary), re.M))


def build_id(binary):
    m = re.search(r"Build ID: ([0-9a-f]+)", run("readelf", "-n", binary))
    return m and m.group(1)


class Stripped(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("nm", "objcopy", "strip", "readelf", "xz"):
            assert shutil.which(tool), f"{tool} not found: scripts/test installs binutils, xz-utils"
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = d = cls.tmp_ctx.__enter__()
        full = gt.compile_c(SOURCE, d / "full")
        cls.exe = {"full": full}
        for name in ("mini", "bare"):
            cls.exe[name] = str(d / name)
            shutil.copy(full, cls.exe[name])
        minidebuginfo(cls.exe["mini"], d)
        run("strip", "--strip-all", cls.exe["bare"])
        cls.exe["noid"] = gt.compile_c(SOURCE, d / "noid", flags=["-Wl,--build-id=none"])
        run("strip", "--strip-all", cls.exe["noid"])
        cls.plain = gt.run_plain([full], timeout=60)
        cls.traced, cls.trace = {}, {}
        for name, exe in cls.exe.items():
            cls.trace[name] = str(d / f"{name}.trace")
            cls.traced[name] = gt.run_traced([exe], cls.trace[name], timeout=60)

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    def stacks(self, name):
        """The syscall profile's stacks that start at read(), innermost first."""
        return [k for k in gt.pprof_traces(self.trace[name], "syscall") if k[0] == "read"]

    def test_fixtures(self):
        """mini has no .symtab, only .gnu_debugdata; bare has neither."""
        self.assertIn(".symtab", sections(self.exe["full"]))
        self.assertEqual({".symtab", ".gnu_debugdata"} & sections(self.exe["mini"]),
                         {".gnu_debugdata"})
        self.assertEqual({".symtab", ".gnu_debugdata"} & sections(self.exe["bare"]), set())
        self.assertIsNone(build_id(self.exe["noid"]))

    def test_same_behaviour(self):
        self.assertEqual(self.plain.returncode, 0, self.plain.stderr)
        for name, r in self.traced.items():
            with self.subTest(name=name):
                self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "read 4\n", ""))

    def test_names_from_gnu_debugdata(self):
        want = ("read", "leaf_reader", "middle_reader", "reads", "main")
        for name in ("full", "mini"):
            with self.subTest(name=name):
                stacks = self.stacks(name)
                self.assertTrue(stacks, f"{name}: no read() stack")
                self.assertEqual(set(stacks), {want}, stacks)
                self.assertEqual(notes(self.trace[name]), [],
                                 f"{name}: every frame has a name: nothing to say")
        groups = gt.goroutine_groups(self.trace["mini"])
        self.assertIn("feeder", groups, groups)   # the thread's start function

    def test_stripped_hint(self):
        exe, bid = self.exe["bare"], build_id(self.exe["bare"])
        self.assertTrue(bid)
        debug = f"/usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug"
        self.assertFalse(os.path.exists(debug), debug)
        stacks = self.stacks("bare")
        self.assertTrue(stacks)
        for s in stacks:
            self.assertRegex(s[1], r"^bare\+0x[0-9a-f]+$", stacks)
        lines = notes(self.trace["bare"])
        hint = re.compile(rf"^(\d+) frames in {re.escape(exe)} have no symbol "
                          rf"\(shown as bare\+0x\.\.\.\); its debug file would name them: "
                          rf"{re.escape(debug)}$")
        self.assertEqual(len(lines), 2, lines)   # said once, at the end of the trace
        r = subprocess.run([str(gt.CLIENT), "summary", self.trace["bare"]], capture_output=True,
                           text=True, timeout=120)
        self.assertIn(f"\ngotrace: {lines[0]}\ngotrace: {lines[1]}\n", r.stdout)
        m = hint.match(lines[0])
        self.assertTrue(m, lines)
        # at least main's, middle_reader's, leaf_reader's and feeder's pcs
        self.assertGreaterEqual(int(m.group(1)), 4, lines)
        self.assertTrue(lines[1].startswith(ADVICE), lines)
        self.assertIn("debuginfod-find debuginfo <object>", lines[1])

    def test_hint_at_each_trace_end(self):
        """Two traces in one process, over the RPC endpoint, then a round
        untraced: the hint ends each trace, for that trace's frames."""
        sock = str(self.tmp / "bare.sock")
        p = gt.start_traced([self.exe["bare"], "loop"], None, socket=sock,
                            stdin=subprocess.PIPE)
        try:
            gt.wait_until(lambda: os.path.exists(sock), what="the endpoint")
            for i in range(3):
                if i < 2:
                    attach(sock, f'debug.startGoTrace("{self.tmp}/loop{i}.trace")')
                p.stdin.write("go\n")
                p.stdin.flush()
                self.assertEqual(p.stdout.readline(), "round\n")
                if i < 2:
                    attach(sock, "debug.stopGoTrace()")
            err = p.communicate(timeout=30)[1]   # stdin closed: the loop ends
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        self.assertEqual((p.returncode, err), (0, ""))
        for i in range(2):
            lines = notes(f"{self.tmp}/loop{i}.trace")
            self.assertEqual(len(lines), 2, lines)
            self.assertRegex(lines[0], rf"^\d+ frames in {re.escape(self.exe['bare'])} "
                             r"have no symbol")
            self.assertTrue(lines[1].startswith(ADVICE), lines)
            self.assertTrue(any(s[1].startswith("bare+0x")
                                for s in gt.pprof_traces(f"{self.tmp}/loop{i}.trace", "syscall")))

    def test_no_build_id_hint(self):
        exe = self.exe["noid"]
        lines = notes(self.trace["noid"])
        self.assertEqual(len(lines), 1, lines)
        self.assertRegex(lines[0], rf"^\d+ frames in {re.escape(exe)} have no symbol "
                         r"\(shown as noid\+0x\.\.\.\); it has no build id")


def compressed_sections(f):
    """Sections of f with SHF_COMPRESSED (readelf's flag C)."""
    out = []
    for ln in run("readelf", "-SW", f).splitlines():
        if re.match(r"^\s*\[\s*\d+\]", ln):
            tok = ln.split("]", 1)[1].split()   # name type addr off size es [flg] lk inf al
            if len(tok) == 10 and "C" in tok[6]:
                out.append(tok[0])
    return out


class DebugCache(unittest.TestCase):
    """A program whose DWARF is in a separate debug file with compressed
    sections (as Debian's -dbg packages ship them), found by its
    .gnu_debuglink: the first traced run writes an inflated copy, named by
    build id, into GOTRACE_DEBUG_CACHE; later runs read the copy; both
    name the same functions and lines as the debug file itself (=off)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = d = cls.tmp_ctx.__enter__()
        full = gt.compile_c(SOURCE, d / "linked")
        run("objcopy", "--only-keep-debug", "--compress-debug-sections=zlib", full,
            d / "linked.debug")
        run("strip", "--strip-all", full)
        run("objcopy", f"--add-gnu-debuglink={d / 'linked.debug'}", full)
        cls.exe, cls.bid = full, build_id(full)

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    def traced(self, name, cache, debug=False):
        trace = str(self.tmp / f"{name}.trace")
        env = {"GOTRACE_DEBUG_CACHE": str(cache)}
        if debug:
            env["GOTRACE_DEBUG"] = "1"
        r = gt.run_traced([self.exe], trace, env=env, timeout=60)
        self.assertEqual((r.returncode, r.stdout), (0, "read 4\n"), r.stderr)
        if not debug:
            self.assertEqual(r.stderr, "")
        top = gt.pprof_top(trace, "syscall", lines=True)
        return r.stderr, {k for k in top if k.split()[0] in ("leaf_reader", "middle_reader")}

    def test_fixture(self):
        self.assertTrue(self.bid)
        self.assertIn(".debug_info", compressed_sections(self.tmp / "linked.debug"))

    def test_copy_written_then_read(self):
        cache = self.tmp / "c1" / "deeper"
        copy = cache / f"{self.bid}.debug"
        _, lines_off = self.traced("off", "off")
        self.assertEqual(len(lines_off), 2, lines_off)
        for k in lines_off:
            self.assertRegex(k, r"^\w+ \S*linked\.c:\d+$")
        self.assertFalse(os.path.exists(self.tmp / "c1"))
        _, lines1 = self.traced("first", cache)
        self.assertEqual(lines1, lines_off)
        self.assertTrue(copy.is_file())
        self.assertEqual(compressed_sections(copy), [])
        self.assertEqual(build_id(copy), self.bid)
        self.assertEqual(oct(os.stat(cache).st_mode & 0o777), "0o700")
        ino = os.stat(copy).st_ino
        err, lines2 = self.traced("second", cache, debug=True)
        self.assertEqual(lines2, lines_off)
        self.assertIn(f"gotrace: debug cache: {copy}\n", err)
        self.assertEqual(os.stat(copy).st_ino, ino, "read, not written again")

    def test_wrong_copy_replaced(self):
        """A file under the build id's name that is not that build id's
        debug file is not read: a right copy replaces it."""
        cache = self.tmp / "c2"
        cache.mkdir()
        copy = cache / f"{self.bid}.debug"
        shutil.copy(shutil.which("true"), copy)
        _, lines = self.traced("replaced", cache)
        self.assertEqual(len(lines), 2, lines)
        self.assertEqual(build_id(copy), self.bid)


CGO_MAIN = r"""package main

/*
#include <unistd.h>
static void rd(int fd) { char c; if (read(fd, &c, 1) != 1) _exit(3); }
*/
import "C"
import (
	"fmt"
	"os"
	"time"
)

//go:noinline
func waiter(fd int) { C.rd(C.int(fd)) }

func main() {
	r, w, err := os.Pipe()
	if err != nil {
		panic(err)
	}
	go func() {
		for i := 0; i < 150; i++ {
			time.Sleep(20 * time.Millisecond)
			w.Write([]byte{1})
		}
	}()
	for i := 0; i < 150; i++ {
		waiter(int(r.Fd()))
	}
	fmt.Println("bye")
}
"""


class CgoProgram(unittest.TestCase):
    """A Go program built with cgo, whose C function blocks in read.
    Go's linker writes no .debug_aranges for Go code, and libdw picked the
    nearest C unit for Go's addresses: every Go frame read
    "gcc_mmap.c:37" (runtime.asmcgocall.abi0 among them). A frame gets a
    line only from a unit that holds its address (dwarf_haspc); the C
    frames keep theirs."""

    def test_go_frames_not_given_c_lines(self):
        with gt.tempdir() as d:
            (d / "main.go").write_text(CGO_MAIN)
            (d / "go.mod").write_text("module gocg\ngo 1.19\n")
            env = dict(os.environ, CGO_ENABLED="1", GOFLAGS="-mod=mod")
            r = subprocess.run([gt.GO_MODERN, "build", "-o", str(d / "gocg"), "."], cwd=d,
                               env=env, capture_output=True, text=True, timeout=600)
            self.assertEqual(r.returncode, 0, r.stderr)
            sock = str(d / "s.sock")
            p = gt.start_traced([d / "gocg"], None, socket=sock)
            try:
                gt.wait_until(lambda: rt.can_connect(sock) or p.poll() is not None,
                              what="endpoint")
                trace = d / "t.trace"
                self.assertEqual(rt.stream_call(sock, rt.req("debug_goTrace", [str(trace), 1]),
                                                timeout=60), rt.NULL_REPLY)
                out, err = p.communicate(timeout=60)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.communicate()
            self.assertEqual((p.returncode, out), (0, "bye\n"), err)
            top = gt.pprof_top(trace, "syscall", lines=True)
            self.assertTrue(any(k.startswith("rd ") and "main.go:5" in k for k in top), top)
            wrong = [k for k in top if k.startswith("runtime.") and "gcc_" in k]
            self.assertEqual(wrong, [], top)


INLINED = r"""
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static int p[2];
static inline __attribute__((always_inline)) int inner(char *c)
{
	return (int)read(p[0], c, 1);   /* line 8 */
}
static inline __attribute__((always_inline)) int middle(char *c)
{
	int r = inner(c);   /* line 12 */
	return r + 1;
}
static void *wr(void *a)
{
	usleep(30000);
	if (write(p[1], "x", 1) != 1)
		return a;
	return NULL;
}
int main(void)
{
	pthread_t t;
	char c = 0;
	if (pipe(p) || pthread_create(&t, 0, wr, 0))
		return 1;
	int r = middle(&c);   /* line 28 */
	printf("%d %c\n", r, c);
	pthread_join(t, 0);
	return 0;
}
"""


class Inlined(unittest.TestCase):
    """A read inlined two levels deep (inner into middle into main): each
    level is a frame with the line of its call in the next. libdw's
    dwarf_getscopes goes on past an inlined subroutine in its abstract
    origin, so the middle level was lost and main got middle's line
    ("read < inner:8 < main:12"); the nesting of the innermost scope's DIE
    has them all, as eu-addr2line -i reads it."""

    def test_every_level_with_its_call_line(self):
        with gt.tempdir() as d:
            exe = gt.compile_c(INLINED, d / "inl")
            trace = d / "inl.trace"
            r = gt.run_traced([exe], str(trace), timeout=30)
            self.assertEqual((r.returncode, r.stdout), (0, "2 x\n"), r.stderr)
            for modern in (False, True):
                with self.subTest(go="1.23" if modern else "1.19"):
                    top = gt.pprof_top(trace, "syscall", lines=True, modern=modern)
                    for fn, line in (("inner", "inl.c:8"), ("middle", "inl.c:12"),
                                     ("main", "inl.c:28")):
                        self.assertTrue(any(k.startswith(fn + " ") and k.endswith("/" + line)
                                            for k in top), f"no frame {fn} {line}: {sorted(top)}")
                    traces = gt.pprof_traces(trace, "syscall", modern=modern)
                    self.assertTrue(any(st[:4] == ("read", "inner", "middle", "main")
                                        for st in traces), traces)


UNLOAD_LIB = r"""
#include <unistd.h>
int NAME(int fd)
{
	char c;
	return (int)read(fd, &c, 1);
}
"""

UNLOAD_MAIN = r"""
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
static int p[2];
static void *wr(void *a)
{
	usleep(20000);
	if (write(p[1], "x", 1) != 1)
		return a;
	return NULL;
}
__attribute__((noinline)) static int call(const char *lib, const char *sym)
{
	pthread_t t;
	void *h = dlopen(lib, RTLD_NOW);
	int (*f)(int) = h ? (int (*)(int))dlsym(h, sym) : NULL;
	if (!f || pthread_create(&t, 0, wr, 0))
		return -1;
	int r = f(p[0]);
	pthread_join(t, NULL);
	printf("%s %p\n", sym, (void *)f);
	dlclose(h);
	return r;
}
int main(int argc, char **argv)
{
	(void)argc;
	if (pipe(p))
		return 1;
	return call(argv[1], "alpha_wait_here") + call(argv[2], "beta_other_func") == 2 ? 0 : 1;
}
"""


class Unloaded(unittest.TestCase):
    """A library is dlopened, blocks, and is dlclosed; another is dlopened
    at the same address (glibc reuses it) and blocks at the same offset.
    The names found for the first were kept by pc and given to the
    second: both waits read alpha_wait_here. After a dlclose the names
    are looked up afresh."""

    def test_second_library_named_for_itself(self):
        with gt.tempdir() as d:
            for name in ("alpha_wait_here", "beta_other_func"):
                gt.compile_c(UNLOAD_LIB.replace("NAME", name), d / f"lib{name[0]}.so",
                             flags=("-shared", "-fPIC"))
            exe = gt.compile_c(UNLOAD_MAIN, d / "unload", libs=("-ldl",))
            trace = d / "u.trace"
            r = gt.run_traced([exe, str(d / "liba.so"), str(d / "libb.so")], str(trace),
                              timeout=30)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            addrs = [ln.split()[1] for ln in r.stdout.splitlines()]
            if len(set(addrs)) != 1:
                self.skipTest(f"libb.so did not load where liba.so was: {addrs}")
            # The trace's own stacks (gotrace summary reads them): Go's
            # pprof keys locations by pc, so it shows one name for both.
            gt.trace_events(str(trace))   # both Go versions read it
            r = gt.run_plain([gt.CLIENT, "summary", str(trace), "--json"], timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            sites = sorted((x["call"], x["caller"].split()[0])
                           for x in json.loads(r.stdout)["sites"] if x["call"] == "read")
            self.assertEqual(sites, [("read", "alpha_wait_here"), ("read", "beta_other_func")],
                             r.stdout)


if __name__ == "__main__":
    unittest.main()
