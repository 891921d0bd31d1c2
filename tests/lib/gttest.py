"""gttest - helpers for gotrace's integration tests (Python 3, stdlib only).

Every check goes through Go's own tools (`go tool trace`, `go tool pprof`),
of two versions: Go 1.19 (the 1.19-1.22 parser and viewer) and Go 1.23 (1.23+
convert the trace into their new viewer), so a test passes only if both real
viewers accept the trace.

Paths (module constants)
    REPO      the source tree (two levels above this file)
    BUILD     env GOTRACE_BUILD, default REPO/build
    LIB       BUILD/libgotrace.so          CLIENT    BUILD/gotrace
    PROGRAMS  BUILD/tests/programs (the test programs meson builds)
    GO        env GOTRACE_GO, default /usr/lib/go-1.19/bin/go
    GO_MODERN env GOTRACE_GO_MODERN, default /usr/lib/go-1.23/bin/go

Running programs (both return subprocess.CompletedProcess; stdout/stderr
captured as text unless you pass other subprocess.run keywords; the
environment is os.environ without LD_PRELOAD and GOTRACE_*, plus `env`)
    run_plain(argv, env=None, timeout=120, **kw)
    run_traced(argv, trace, env=None, timeout=120, socket="off", **kw)
        LD_PRELOAD=LIB; GOTRACE_FILE=trace unless trace is None (then the
        library is loaded but idle); GOTRACE_SOCKET=socket unless None.
    traced_env(trace=None, env=None, socket="off") -> dict, the same env
    plain_env(env=None) -> dict, run_plain's environment
    start_traced(argv, trace, env=None, socket="off", **kw) -> subprocess.Popen
        (stdout/stderr piped as text unless given; for long-running programs
        driven over RPC: stop it with .terminate()/.kill() and .communicate())
    wait_until(predicate, timeout=10, what="...") -> the predicate's first
        true value; AssertionError naming `what` after timeout seconds
    program(name) -> str, path of a built test program (asserts it exists)

Reading traces
    trace_events(path, modern=True) -> [Event]; `go tool trace -d` must exit
        0, else TraceError; with modern, check_modern(path) too.
    check_modern(path): Go 1.23 reads the trace: `-d=1` and the four
        `-pprof` kinds exit 0, and its sync and net profile totals equal Go
        1.19's within 1% (1.23 drops the end of a wait that has no stack);
        and `gotrace summary --json`'s syscall/net/sync totals equal Go
        1.19's profiles within 1%.
        Once per file version; pprof_top calls it as well.
    profile_total(path, kind, go=GO) -> delay ns summed over the profile. Event fields: ts (ns from trace start), type ("GoCreate"),
        p, g (goroutine the parser attributes the event to), off (file
        offset), args (dict of the event's own arguments in `-d` order, e.g.
        GoCreate args {"g": new goid, "stack": new-goroutine stack id};
        string arguments such as label/message are str).
    goroutine_states(events) -> {goid: final state}: "runnable", "running",
        "waiting", "dead" (GoEnd) or "stopped" (GoStop), replaying the events.
    goroutine_threads(events) -> {goid: set of OS thread ids it ran on}
    created_goroutines(events) -> [goid] in GoCreate order
    pprof_top(path, kind, lines=False) -> {name: (flat_ns, cum_ns)}; kind is
        syscall|sync|net|sched; `go tool trace -pprof=KIND` then `go tool
        pprof -top -nodecount=100000 [-lines]`. name is the function, or with
        lines=True "function file:line" exactly as pprof prints it. Rows with
        the same name are summed. Units ns/us/ms/s/hrs are converted exactly.
    parse_pprof_top(text) -> the same dict from pprof's -top output.

Web UI
    check_ui(path, mmu="all", goroutine_traces=4, startup_timeout=180,
        modern=True) -> {url: body} of Go 1.19; runs `go tool trace
        -http=127.0.0.1:0 path` of Go 1.19, then of Go 1.23 (its thread view
        too), and GETs every page of each (see check_ui's docstring); raises UIError if the tool
        exits at start-up (it does for some traces `-d` accepts: a goroutine
        still running at the end, an empty GoCreate stack), if any page is
        not 200, if a JSON page is not valid JSON, or if the server log holds
        "panic" or an AJAX handler's "failed to" message. Bodies are str,
        except raw profiles (?raw=1), which are bytes.
    goroutine_groups(path_or_pages) -> {start function: count} from
        /goroutines (pass a trace path, or the dict check_ui returned).
    UIServer(path): context manager; .get(url) -> (status, body bytes,
        content type), .log() -> server output so far.

Misc
    free_port() -> int, compile_c(source, out, flags=(), libs=()) -> path
        (source is C text or a path to a .c file), tempdir() -> context
        manager yielding a pathlib.Path removed at exit (kept when env
        GOTRACE_KEEP is set, for debugging).
"""

import contextlib
import html
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("GOTRACE_BUILD") or REPO / "build").resolve()
LIB = BUILD / "libgotrace.so"
CLIENT = BUILD / "gotrace"
PROGRAMS = BUILD / "tests" / "programs"
GO = os.environ.get("GOTRACE_GO") or "/usr/lib/go-1.19/bin/go"
GO_MODERN = os.environ.get("GOTRACE_GO_MODERN") or "/usr/lib/go-1.23/bin/go"
# The first reader of Go's 1.22 format (golang-1.22-go, bookworm-backports).
GO122 = os.environ.get("GOTRACE_GO122") or "/usr/lib/go-1.22/bin/go"

DEFAULT_TIMEOUT = 120


class TraceError(AssertionError):
    """go tool trace / pprof rejected a trace, or a helper could not run."""


class UIError(AssertionError):
    """The web viewer failed: start-up crash, non-200 page, panic."""


# ---------------------------------------------------------------- running

def program(name):
    path = PROGRAMS / name
    assert path.exists(), f"{path} missing: build with meson first (GOTRACE_BUILD={BUILD})"
    return str(path)


def plain_env(env=None):
    out = {k: v for k, v in os.environ.items()
           if k != "LD_PRELOAD" and not k.startswith("GOTRACE_")}
    out.update(env or {})
    return out


def traced_env(trace=None, env=None, socket="off"):
    extra = {"LD_PRELOAD": str(LIB)}
    if trace is not None:
        extra["GOTRACE_FILE"] = str(trace)
    if socket is not None:
        extra["GOTRACE_SOCKET"] = socket
    extra.update(env or {})
    return plain_env(extra)


def _run(argv, env, timeout, kw):
    kw.setdefault("capture_output", not ("stdout" in kw or "stderr" in kw))
    kw.setdefault("text", True)
    return subprocess.run([str(a) for a in argv], env=env, timeout=timeout, **kw)


def run_plain(argv, env=None, timeout=DEFAULT_TIMEOUT, **kw):
    return _run(argv, plain_env(env), timeout, kw)


def run_traced(argv, trace, env=None, timeout=DEFAULT_TIMEOUT, socket="off", **kw):
    assert LIB.exists(), f"{LIB} missing: build with meson first"
    return _run(argv, traced_env(trace, env, socket), timeout, kw)


def start_traced(argv, trace, env=None, socket="off", **kw):
    assert LIB.exists(), f"{LIB} missing: build with meson first"
    if "stdout" not in kw:
        kw["stdout"] = subprocess.PIPE
    if "stderr" not in kw:
        kw["stderr"] = subprocess.PIPE
    kw.setdefault("text", True)
    return subprocess.Popen([str(a) for a in argv], env=traced_env(trace, env, socket), **kw)


def wait_until(predicate, timeout=10, what="condition", interval=0.02):
    deadline = time.monotonic() + timeout
    while True:
        v = predicate()
        if v:
            return v
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- go tool trace -d

# Go 1.19's EventDescriptions: integer and string argument names per event,
# in the order `-d` prints them (internal/trace/parser.go).
_EVENT_ARGS = {
    "Gomaxprocs": (["procs"], []), "ProcStart": (["thread"], []),
    "GCStart": (["seq"], []), "GCSTWStart": (["kindid"], ["kind"]),
    "GCSweepDone": (["swept", "reclaimed"], []),
    "GoCreate": (["g", "stack"], []), "GoStart": (["g", "seq"], []),
    "GoUnblock": (["g", "seq"], []), "GoSysExit": (["g", "seq", "ts"], []),
    "GoWaiting": (["g"], []), "GoInSyscall": (["g"], []),
    "HeapAlloc": (["mem"], []), "HeapGoal": (["mem"], []),
    "TimerGoroutine": (["g"], []), "GoStartLocal": (["g"], []),
    "GoUnblockLocal": (["g"], []), "GoSysExitLocal": (["g", "ts"], []),
    "GoStartLabel": (["g", "seq", "labelid"], ["label"]),
    "UserTaskCreate": (["taskid", "pid", "typeid"], ["name"]),
    "UserTaskEnd": (["taskid"], []),
    "UserRegion": (["taskid", "mode", "typeid"], ["name"]),
    "UserLog": (["id", "keyid"], ["category", "message"]),
    "CPUSample": (["ts", "p", "g"], []),
}

_LINE = re.compile(r"^(\d+) (\w+) p=(-?\d+) g=(\d+) off=(\d+)(.*)$")


@dataclass
class Event:
    ts: int
    type: str
    p: int
    g: int
    off: int
    args: dict = field(default_factory=dict)


def _parse_args(typ, rest, line):
    ints, strs = _EVENT_ARGS.get(typ, (None, None))
    args = {}
    if ints is None:   # unknown to this table: plain k=v pairs
        for tok in rest.split():
            k, _, v = tok.partition("=")
            args[k] = int(v) if v.isdigit() else v
        return args
    for name in ints:
        m = re.match(r" %s=(\d+)" % name, rest)
        if not m:
            raise TraceError(f"cannot parse -d line (want {name}): {line!r}")
        args[name] = int(m.group(1))
        rest = rest[m.end():]
    for i, name in enumerate(strs):
        prefix = f" {name}="
        if not rest.startswith(prefix):
            raise TraceError(f"cannot parse -d line (want {name}): {line!r}")
        rest = rest[len(prefix):]
        if i + 1 < len(strs):
            cut = rest.find(f" {strs[i + 1]}=")
            args[name], rest = (rest, "") if cut < 0 else (rest[:cut], rest[cut:])
        else:
            args[name], rest = rest, ""
    return args


def parse_events(text, types=None):
    events = []
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _LINE.match(line)
        if not m:
            raise TraceError(f"unexpected line in go tool trace -d output: {line!r}")
        ts, typ, p, g, off, rest = m.groups()
        if types is not None and typ not in types:
            continue
        events.append(Event(int(ts), typ, int(p), int(g), int(off),
                            _parse_args(typ, rest, line)))
    return events


def _go(args, timeout=DEFAULT_TIMEOUT, go=None, **kw):
    go = go or GO
    kw.setdefault("capture_output", True)
    try:
        return subprocess.run([go, *map(str, args)], timeout=timeout, **kw)
    except FileNotFoundError:
        pkg = "golang-1.19-go" if go == GO else "golang-1.23-go (bookworm-backports)"
        raise TraceError(f"{go} not found: install {pkg}") from None


def trace_events(path, timeout=300, modern=True, types=None):
    """All events of the trace as `go tool trace -d` prints them (or those
    of the given types: a big trace's lines parse at ~100,000 a second)."""
    assert os.path.exists(path), f"trace {path} was not written"
    # -d=1: a bool flag in 1.19-1.21, an int in 1.22+ (same output for a
    # 1.19-format trace up to 1.22).
    r = _go(["tool", "trace", "-d=1", path], timeout=timeout, text=True)
    if r.returncode != 0:
        raise TraceError(f"go tool trace -d {path} exited {r.returncode}: "
                         f"{r.stderr.strip()[-2000:]}")
    if modern:
        check_modern(path, timeout)
    return parse_events(r.stdout, types)


def _varint(b, i):
    v = shift = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << shift
        shift += 7
        if c < 0x80:
            return v, i


def _fields(b):
    """(field number, wire type, value) of a protobuf message: int for
    varints, bytes for length-delimited fields."""
    i = 0
    while i < len(b):
        key, i = _varint(b, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(b, i)
        elif wt == 2:
            n, i = _varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt in (1, 5):
            n = 8 if wt == 1 else 4
            v, i = int.from_bytes(b[i:i + n], "little"), i + n
        else:
            raise TraceError(f"profile: protobuf wire type {wt}")
        yield num, wt, v


def profile_total(path, kind, go=None):
    """Sum of the last sample value (delay, ns) of `go tool trace -pprof=kind`:
    exact, where pprof -top's header rounds."""
    import gzip
    with tempdir() as d:
        raw = _profile(path, kind, d, go).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    total = 0
    for num, wt, sample in _fields(raw):
        if num != 2:   # Profile.sample
            continue
        vals = []
        for n, w, v in _fields(sample):
            if n == 2:   # Sample.value: packed, or one varint
                if w == 2:
                    j = 0
                    while j < len(v):
                        x, j = _varint(v, j)
                        vals.append(x)
                else:
                    vals.append(v)
        if vals:
            total += vals[-1]
    return total


_modern_ok = set()


def check_modern(path, timeout=300):
    """Go 1.23 reads the trace (-d=1, the four profiles) and its sync and
    net totals are Go 1.19's within 1% (go-trace-format.md 12.1)."""
    st = os.stat(path)
    key = (os.path.realpath(path), st.st_size, st.st_mtime_ns)
    if key in _modern_ok:
        return
    r = _go(["tool", "trace", "-d=1", path], timeout=timeout, go=GO_MODERN, text=True)
    if r.returncode != 0 or "Encountered error" in r.stderr:
        raise TraceError(f"Go 1.23: go tool trace -d=1 {path} exited {r.returncode}: "
                         f"{r.stderr.strip()[-2000:]}")
    for kind in ("syscall", "sched"):
        with tempdir() as d:
            _profile(path, kind, d, GO_MODERN)
    olds = {}
    for kind in ("sync", "net"):
        old, new = profile_total(path, kind), profile_total(path, kind, GO_MODERN)
        olds[kind] = old
        if abs(old - new) > max(old, new) / 100 + 1000:
            raise TraceError(f"{path}: Go 1.23's {kind} profile totals {new} ns, "
                             f"Go 1.19's {old} ns (a wait's end without a stack?)")
    # `gotrace summary` counts the waits as Go's profiles do.
    olds["syscall"] = profile_total(path, "syscall")
    r = subprocess.run([str(CLIENT), "summary", "--json", str(path)], capture_output=True,
                       text=True, timeout=timeout)
    if r.returncode != 0:
        raise TraceError(f"gotrace summary {path} exited {r.returncode}: {r.stderr[-500:]}")
    totals = json.loads(r.stdout)["totals"]
    for kind, old in olds.items():
        got = totals[kind]["total_ns"]
        if abs(old - got) > max(old, got) / 100 + 1000:
            raise TraceError(f"{path}: gotrace summary's {kind} total {got} ns, "
                             f"Go 1.19's profile {old} ns")
    t0 = time.monotonic()
    check_go122(path, olds, timeout)
    if os.environ.get("GT_TIME_122"):
        sys.stderr.write(f"check_go122 {path} {os.path.getsize(path)} B: "
                         f"{time.monotonic() - t0:.2f}s\n")
    _modern_ok.add(key)


def check_go122(path, olds, timeout=300):
    """The trace in Go's 1.22 format, as GOTRACE_FORMAT=go1.22 writes it
    (`gotrace convert` runs the same transcoder, here with a generation
    every 50 ms so that cuts are met): Go 1.22's and Go 1.23's parsers read
    it (their -pprof: the reader of -d, without the printing), and Go
    1.23's syscall profile is Go 1.19's of the original (olds:
    kind -> ns) within 10% (Go 1.23 reads the 1.19 format's as ~0: issue
    24). The other profiles, both readers': test_go122.py, on its traces."""
    with tempdir() as d:
        v2 = d / "t.v2"
        r = subprocess.run([str(CLIENT), "convert", str(path), str(v2), "--gen", "0.05"],
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0 or "dropped" in r.stderr:
            raise TraceError(f"gotrace convert {path} exited {r.returncode}: {r.stderr[-1000:]}")
        # -pprof reads every event as -d does (the same reader, which
        # orders them and checks each transition) without printing them:
        # a 17 MB trace took 70 s through two -d's.
        with tempdir() as pd:
            _profile(v2, "sync", pd, GO122)
        old, new = olds["syscall"], profile_total(v2, "syscall", GO_MODERN)
        if abs(old - new) > old / 10 + 1000:
            raise TraceError(f"{path} in the 1.22 format: Go 1.23's syscall profile totals "
                             f"{new} ns, Go 1.19's of the 1.19 file {old} ns")


def created_goroutines(events):
    return [e.args["g"] for e in events if e.type == "GoCreate"]


_AFTER = {   # event type -> state of the goroutine it concerns afterwards
    "GoCreate": "runnable", "GoStart": "running", "GoStartLabel": "running",
    "GoStartLocal": "running", "GoEnd": "dead", "GoStop": "stopped",
    "GoSched": "runnable", "GoPreempt": "runnable", "GoSleep": "waiting",
    "GoBlock": "waiting", "GoBlockSend": "waiting", "GoBlockRecv": "waiting",
    "GoBlockSelect": "waiting", "GoBlockSync": "waiting", "GoBlockCond": "waiting",
    "GoBlockNet": "waiting", "GoBlockGC": "waiting", "GoSysBlock": "waiting",
    "GoUnblock": "runnable", "GoUnblockLocal": "runnable", "GoSysExit": "runnable",
    "GoSysExitLocal": "runnable", "GoWaiting": "waiting", "GoInSyscall": "waiting",
}
_TARGETED = {"GoCreate", "GoStart", "GoStartLabel", "GoStartLocal", "GoUnblock",
             "GoUnblockLocal", "GoSysExit", "GoSysExitLocal", "GoWaiting", "GoInSyscall"}


def goroutine_states(events):
    """Final state of every goroutine after replaying the (time-ordered) events."""
    state = {}
    for e in events:
        if e.type not in _AFTER:
            continue
        goid = e.args["g"] if e.type in _TARGETED else e.g
        state[goid] = _AFTER[e.type]
    return state


def goroutine_threads(events):
    """{goid: {OS thread id}}: the ProcStart thread of each P a goroutine started on."""
    thread_of_p, out = {}, {}
    for e in events:
        if e.type == "ProcStart":
            thread_of_p[e.p] = e.args["thread"]
        elif e.type in ("GoStart", "GoStartLabel", "GoStartLocal") and e.p in thread_of_p:
            out.setdefault(e.args["g"], set()).add(thread_of_p[e.p])
    return out


# ---------------------------------------------------------------- pprof

_UNIT_NS = {"ns": Decimal(1), "us": Decimal(1000), "\u00b5s": Decimal(1000),
            "\u03bcs": Decimal(1000), "ms": Decimal(10**6), "s": Decimal(10**9),
            "hrs": Decimal(3600 * 10**9)}
_VALUE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)([a-z\u00b5\u03bc]*)$")


def parse_duration_ns(text):
    """pprof's printed duration ("0", "2150us", "1.50ms", "3s") -> int ns."""
    m = _VALUE.match(text)
    if not m or (m.group(2) and m.group(2) not in _UNIT_NS):
        raise TraceError(f"unknown pprof value {text!r}")
    if m.group(1) != "0" and not m.group(2):
        raise TraceError(f"pprof value without unit {text!r}")
    return int(Decimal(m.group(1)) * _UNIT_NS.get(m.group(2), Decimal(1)))


def parse_pprof_top(text):
    rows, in_table = {}, False
    for line in text.splitlines():
        if re.match(r"^\s*flat\s+flat%\s+sum%\s+cum\s+cum%\s*$", line):
            in_table = True
            continue
        if not in_table or not line.strip():
            continue
        parts = line.split(None, 5)
        if len(parts) != 6:
            raise TraceError(f"unexpected pprof -top row: {line!r}")
        flat, cum = parse_duration_ns(parts[0]), parse_duration_ns(parts[3])
        old = rows.get(parts[5], (0, 0))
        rows[parts[5]] = (old[0] + flat, old[1] + cum)
    return rows


def _profile(path, kind, d, go=None):
    """go tool trace -pprof=kind of the trace, into a file in d."""
    assert kind in ("syscall", "sync", "net", "sched"), kind
    pb = d / f"{kind}.pb"
    with open(pb, "wb") as f:
        r = _go(["tool", "trace", f"-pprof={kind}", path], stdout=f,
                stderr=subprocess.PIPE, capture_output=False, go=go)
    if r.returncode != 0:
        raise TraceError(f"{go or GO} tool trace -pprof={kind} {path} exited "
                         f"{r.returncode}: {r.stderr.decode(errors='replace')[-2000:]}")
    return pb


def pprof_traces(path, kind, modern=True):
    """`go tool pprof -traces` of one profile, names as the trace has them:
    {stack (function names, innermost first): the value pprof prints}."""
    if modern:
        check_modern(path)
    with tempdir() as d:
        r = _go(["tool", "pprof", "-traces", "-symbolize=none", str(_profile(path, kind, d))],
                text=True)
    if r.returncode != 0:
        raise TraceError(f"go tool pprof -traces {kind} exited {r.returncode}: "
                         f"{r.stderr.strip()[-2000:]}")
    out = {}
    for block in r.stdout.split("-----------+")[1:]:
        lines = [ln.strip() for ln in block.splitlines()[1:] if ln.strip()]
        if lines:
            first = lines[0].split()
            out[(first[-1], *lines[1:])] = first[0]
    return out


def pprof_top(path, kind, lines=False, unit="ns", raw=False, modern=True):
    """{function (or "function file:line"): (flat_ns, cum_ns)} of one profile.

    unit="ns" asks pprof for nanoseconds so nothing is rounded; unit=None
    keeps pprof's own scaling (then values carry pprof's 2-decimal rounding).
    raw=True: the names as the trace has them (pprof demangles C++ and Rust
    names itself unless told -symbolize=none)."""
    if modern:
        check_modern(path)
    with tempdir() as d:
        pb = _profile(path, kind, d)
        cmd = ["tool", "pprof", "-top", "-nodecount=100000"]
        if lines:
            cmd.append("-lines")
        if raw:
            cmd.append("-symbolize=none")
        if unit:
            cmd.append(f"-unit={unit}")
        r = _go([*cmd, pb], text=True)
        if r.returncode != 0:
            raise TraceError(f"go tool pprof -top {kind} exited {r.returncode}: "
                             f"{r.stderr.strip()[-2000:]}")
        return parse_pprof_top(r.stdout)


# ---------------------------------------------------------------- web UI

def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Known start-up crashes (go-trace-format.md sections 8.3 and 11).
_CRASH_HINTS = [
    ("makeSlice", "a goroutine is still running at the end of the trace "
                  "(every GoStart needs a GoEnd/GoSched/block before EOF)"),
    ("missing stack information", "a GoCreate has an empty new-goroutine stack"),
    ("invalid state after processing", "a viewer counter went negative"),
]


class UIServer:
    """`go tool trace -http=127.0.0.1:0 path` in its own process group."""

    def __init__(self, path, startup_timeout=180, go=None):
        self.go = go or GO
        self.path = str(path)
        self.startup_timeout = startup_timeout
        self.proc = None
        self.base = None
        self._out = []
        self._lock = threading.Lock()

    def __enter__(self):
        assert os.path.exists(self.path), f"trace {self.path} was not written"
        env = plain_env({"BROWSER": "true"})   # never open a real browser
        self.proc = subprocess.Popen([self.go, "tool", "trace", "-http=127.0.0.1:0", self.path],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env,
                                     start_new_session=True)
        threading.Thread(target=self._drain, daemon=True).start()
        try:
            self._wait_ready()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc):
        self.close()

    def _drain(self):
        for line in iter(self.proc.stdout.readline, b""):
            with self._lock:
                self._out.append(line.decode(errors="replace"))

    def log(self):
        with self._lock:
            return "".join(self._out)

    def _wait_ready(self):
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            m = re.search(r"listening on (http://[0-9.]+:[0-9]+)", self.log())
            if m and "Encountered error" in self.log():
                raise UIError(f"{self.go} tool trace {self.path}: only part of the trace "
                              f"was read\n{self.log()[-2000:]}")
            if m:
                self.base = m.group(1)
                return
            if self.proc.poll() is not None:
                time.sleep(0.2)   # let the drain thread take the last output
                log = self.log()
                hint = "".join(f"\n  likely cause: {h}" for k, h in _CRASH_HINTS if k in log)
                raise UIError(f"{self.go} tool trace {self.path} exited at start-up with status "
                              f"{self.proc.returncode} (it also rejects some traces that -d "
                              f"accepts: go-trace-format.md 8.3, 11){hint}\n"
                              f"--- server output ---\n{log[-4000:]}")
            time.sleep(0.05)
        raise UIError(f"go tool trace {self.path} not listening after "
                      f"{self.startup_timeout}s\n{self.log()[-4000:]}")

    def get(self, url, timeout=300):
        """(status, body bytes, content type) of a GET on the server."""
        try:
            with urllib.request.urlopen(self.base + url, timeout=timeout) as r:
                return r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers.get("Content-Type", "")

    def close(self):
        if self.proc and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)   # the group we created
        if self.proc:
            self.proc.wait()
            self.proc.stdout.close()


_HREF = re.compile(r'href="([^"]*)"')


def _links(body, prefix):
    out = []
    for h in _HREF.findall(body):
        h = html.unescape(h)
        if h.startswith(prefix) and h not in out:
            out.append(h)
    return out


def _mmu_flag_sets(mmu):
    """flags strings as the /mmu page builds them (DOM order of its inputs)."""
    if mmu == "all":
        sets = []
        for view in ("system", "perProc"):
            for bits in range(16):
                inc = [n for i, n in enumerate(("stw", "background", "assist", "sweep"))
                       if bits >> i & 1]
                for mut in ((), ("mut",)):
                    sets.append("|".join([view, *inc, *mut]))
        return sets
    return ["system|stw|background|assist", "perProc|stw|background|assist",
            "system|stw|background|assist|sweep|mut", "perProc|stw|background|assist|sweep|mut"]


def check_ui(path, mmu="all", goroutine_traces=4, startup_timeout=180, modern=True):
    """Fetch every page of Go 1.19's viewer for `path`, and with modern of Go
    1.23's as well (its thread view too: "/" links it); return Go 1.19's
    {url: body}.

    Pages: /, every /trace?start&end range linked from / (or /trace) and its
    /jsontrace, the /trace static assets, /goroutines, every /goroutine?id=
    and the /io|/block|/syscall|/sched?id= profiles (graph and raw) it links,
    /trace?goid and /jsontrace?goid for up to goroutine_traces goroutines
    (at least one per group while the budget lasts), /io /block /syscall
    /sched and their ?raw=1, /usertasks /userregions and the pages they link,
    /mmu, /mmuPlot for every flag combination the page can send (mmu="all",
    64 of them; "some" for 4), /mmuDetails for one window (1.23: /mmu's
    mode=plot and mode=details)."""
    pages = _check_ui(path, mmu, goroutine_traces, startup_timeout, GO)
    if modern:
        _check_ui(path, mmu, goroutine_traces, startup_timeout, GO_MODERN)
    return pages


_minor = {}


def go_minor(go):
    """The minor version of a Go toolchain (19 for go1.19.8)."""
    if go not in _minor:
        r = _go(["env", "GOVERSION"], go=go, text=True)
        m = re.match(r"go1\.(\d+)", r.stdout.strip())
        if r.returncode != 0 or not m:
            raise TraceError(f"{go} env GOVERSION: {r.stdout!r} {r.stderr!r}")
        _minor[go] = int(m.group(1))
    return _minor[go]


def _check_ui(path, mmu, goroutine_traces, startup_timeout, go):
    pages, bad = {}, []
    # 1.22's old viewer has /mmu?mode= already; 1.23+ convert to the new one.
    plot, details = ("/mmu?mode=plot&", "/mmu?mode=details&") if go_minor(go) >= 22 else \
        ("/mmuPlot?", "/mmuDetails?")

    with UIServer(path, startup_timeout, go) as srv:
        def fetch(url, want_json=False):
            if url in pages:
                return pages[url]
            status, body, ctype = srv.get(url)
            text = body if "octet-stream" in ctype else body.decode(errors="replace")
            pages[url] = text
            if status != 200:
                bad.append(f"{url}: HTTP {status}: {body[:300]!r}")
            elif want_json:
                try:
                    json.loads(body)
                except ValueError:
                    bad.append(f"{url}: not JSON: {body[:200]!r}")
            return text

        index = fetch("/")
        ranges = _links(index, "/trace") or ["/trace"]
        for r in ranges:
            fetch(r)
            fetch("/jsontrace" + r[len("/trace"):], want_json=True)
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', pages[ranges[0]]):
            fetch(asset)

        groups = fetch("/goroutines")
        goids_by_group = []
        for g in _links(groups, "/goroutine?"):   # 1.19: ?id=, 1.23: ?name=
            body = fetch(g)
            for prof in ("/io", "/block", "/syscall", "/sched"):
                for link in _links(body, prof + "?"):
                    fetch(link)
            goids_by_group.append([int(x) for x in re.findall(r'href="/trace\?goid=(\d+)"', body)])
        chosen = []
        for depth in range(max((len(x) for x in goids_by_group), default=0)):
            for ids in goids_by_group:
                if depth < len(ids) and len(chosen) < goroutine_traces:
                    chosen.append(ids[depth])
        for goid in chosen:
            fetch(f"/trace?goid={goid}")
            fetch(f"/jsontrace?goid={goid}", want_json=True)

        for prof in ("/io", "/block", "/syscall", "/sched"):
            fetch(prof)
            fetch(prof + "?raw=1")
        for page, prefix in (("/usertasks", "/usertask?"), ("/userregions", "/userregion?")):
            for link in _links(fetch(page), prefix):
                fetch(link)

        fetch("/mmu")
        first = None
        for flags in _mmu_flag_sets(mmu):
            body = fetch(f"{plot}flags={flags}", want_json=True)
            if first is None and isinstance(body, str):
                first = (flags, body)
        if first:
            with contextlib.suppress(ValueError, KeyError, IndexError, TypeError):
                curve = json.loads(first[1])["curve"]
                window = int(curve[len(curve) // 2][0])
                fetch(f"{details}window={window}&flags={first[0]}", want_json=True)

        time.sleep(0.1)
        log = srv.log()
    for line in log.splitlines():
        low = line.lower()
        if "panic" in low or "failed to" in low:
            bad.append(f"server log: {line}")
    if bad:
        raise UIError(f"{go} viewer of {path}: {len(bad)} problem(s):\n  " + "\n  ".join(bad[:40])
                      + f"\n--- server output ---\n{log[-3000:]}")
    return pages


_GROUP = re.compile(r'<a href="/goroutine\?id=(\d+)">([^<]*)</a>\s*N=(\d+)')


def goroutine_groups(path_or_pages):
    """{start function: number of goroutines} as /goroutines lists them."""
    if isinstance(path_or_pages, dict):
        body = path_or_pages["/goroutines"]
    else:
        with UIServer(path_or_pages) as srv:
            status, raw, _ = srv.get("/goroutines")
            if status != 200:
                raise UIError(f"/goroutines: HTTP {status}: {raw[:300]!r}")
            body = raw.decode(errors="replace")
    out = {}
    for _, name, n in _GROUP.findall(body):
        name = html.unescape(name)
        out[name] = out.get(name, 0) + int(n)
    return out


# ---------------------------------------------------------------- misc

@contextlib.contextmanager
def tempdir(prefix="gttest-"):
    d = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield d
    finally:
        if os.environ.get("GOTRACE_KEEP"):
            print(f"gttest: kept {d}")
        else:
            shutil.rmtree(d, ignore_errors=True)


def compile_c(source, out, flags=(), libs=()):
    """Build a one-off C program like the test programs are built
    (-g -O1 -fno-omit-frame-pointer -pthread); source is C text or a .c path."""
    out = Path(out)
    src = Path(source) if isinstance(source, Path) or (
        isinstance(source, str) and "\n" not in source and source.endswith(".c")) else None
    if src is None:
        src = out.with_suffix(".c")
        src.write_text(source)
    cc = os.environ.get("CC", "cc")
    cmd = [cc, "-g", "-O1", "-fno-omit-frame-pointer", "-pthread", *flags,
           "-o", str(out), str(src), *libs]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return str(out)
