"""The JSON-RPC endpoint, driven by the clients its users have: curl
(--unix-socket and TCP via GOTRACE_HTTP), socat, and raw sockets.

  the geth doc examples (debug_startGoTrace, debug_stopGoTrace,
     debug_goTrace) answer exactly geth's bytes and write traces Go reads;
  every error carries geth's code and text, and the program runs on;
  batches, notifications and the JSON-RPC 2.0 spec's invalid examples;
  32 clients at once while one waits in debug_goTrace, which a stop from
     another client ends early;
  the socket is 0600, removed at exit, and absent with GOTRACE_SOCKET=off.

Security and limits are in test_rpc_security.py (it imports the helpers)."""
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

NULL_REPLY = b'{"jsonrpc":"2.0","id":1,"result":null}\n'
LONG = 100000            # demo_server requests: ~400 s, killed by the test
SHORT_OUT = "demo_server: {n} requests, 4 workers\ndemo_server: served {n} requests\n"


# ---------------------------------------------------------------- helpers

def req(method, params=None, id=1):
    r = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        r["params"] = params
    if id is not None:
        r["id"] = id
    return json.dumps(r)


def err_reply(code, msg, id=1):
    return (json.dumps({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": msg}},
                       separators=(",", ":")) + "\n").encode()


def connect(path, timeout=10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def can_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.settimeout(1)
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def recv_line(s):
    """Bytes up to and including the first newline (b"" at EOF first)."""
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        buf += chunk
    return buf


def recv_all(s):
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return buf
        buf += chunk


def stream_call(path, data, timeout=10):
    """Send data (str/bytes) on a fresh stream connection, half-close, read
    everything until the server closes."""
    if isinstance(data, str):
        data = data.encode()
    with connect(path, timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        return recv_all(s)


def call(path, data, timeout=10):
    """Send data on a fresh connection and read one reply line, without
    half-closing (see test_held_reply_then_close for why that matters)."""
    with connect(path, timeout) as s:
        s.sendall(data.encode() if isinstance(data, str) else data)
        return recv_line(s)


def http_raw(path, request, timeout=10):
    """A raw HTTP/1.1 exchange on the Unix socket (request ends with
    Connection: close so the server closes): (status, headers, body)."""
    if isinstance(request, str):
        request = request.encode()
    with connect(path, timeout) as s:
        s.sendall(request)
        data = recv_all(s)
    head, sep, body = data.partition(b"\r\n\r\n")
    assert sep, f"no HTTP header end in {data[:300]!r}"
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers:
        assert len(body) == int(headers["content-length"]), (headers, body)
    return status, headers, body


def http_post(path, body, ctype="application/json", method="POST", extra=""):
    if isinstance(body, str):
        body = body.encode()
    ct = f"Content-Type: {ctype}\r\n" if ctype else ""
    return http_raw(path, f"{method} / HTTP/1.1\r\nHost: localhost\r\n{ct}"
                          f"Content-Length: {len(body)}\r\n{extra}Connection: close\r\n\r\n"
                    .encode() + body)


def curl(args, timeout=30):
    r = subprocess.run(["curl", "-s", "-S", *map(str, args)], capture_output=True,
                       timeout=timeout)
    assert r.returncode == 0, f"curl {args}: exit {r.returncode}: {r.stderr!r}"
    return r.stdout


def curl_unix(sock, body):
    return curl(["--unix-socket", sock, "-H", "Content-Type: application/json",
                 "--data", body, "http://localhost/"])


def socat(sock, body, t=None, timeout=30):
    cmd = ["socat"] + (["-t", str(t)] if t else []) + ["-", f"UNIX-CONNECT:{sock}"]
    r = subprocess.run(cmd, input=body.encode() + b"\n", capture_output=True, timeout=timeout)
    assert r.returncode == 0, f"socat: exit {r.returncode}: {r.stderr!r}"
    return r.stdout


def parses(testcase, path):
    ev = gt.trace_events(str(path))
    testcase.assertTrue(ev, f"{path}: no events")
    testcase.assertIn("GoCreate", {e.type for e in ev}, f"{path}: no goroutine")
    return ev


class Program:
    """demo_server under the library, with its endpoint (default: s.sock in d)."""

    def __init__(self, d, n=LONG, env=None, socket="default", cwd=None, wait=True):
        self.sock = str(d / "s.sock") if socket == "default" else socket
        self.proc = gt.start_traced([gt.program("demo_server"), str(n)], None, env=env,
                                    socket=self.sock, cwd=cwd)
        self.pid = self.proc.pid
        if wait and self.sock and self.sock != "off":
            self.sock = self.sock.replace("%p", str(self.pid))
            gt.wait_until(lambda: can_connect(self.sock) or self.proc.poll() is not None,
                          what=f"endpoint {self.sock}")
            assert self.proc.poll() is None, f"demo_server exited: {self.proc.communicate()}"

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """Kill (a long run) and return (stdout, stderr)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.communicate()

    def finish(self, timeout=60):
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err


def check_still_serves(tc, prog, d, name="after.trace"):
    """The program is alive and a startGoTrace/stopGoTrace pair works."""
    tc.assertTrue(prog.alive(), "the program died")
    f = d / name
    tc.assertEqual(stream_call(prog.sock, req("debug_startGoTrace", [str(f)])), NULL_REPLY)
    tc.assertEqual(stream_call(prog.sock, req("debug_stopGoTrace", [])), NULL_REPLY)
    parses(tc, f)
    tc.assertTrue(prog.alive(), "the program died")


class RpcCase(unittest.TestCase):
    def setUp(self):
        cm = gt.tempdir()
        self.d = cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)

    def program(self, **kw):
        p = Program(self.d, **kw)
        self.addCleanup(p.stop)
        return p


# ---------------------------------------------------------------- 1. doc examples

class DocExamples(RpcCase):
    def test_curl_unix_socket(self):
        p = self.program()
        a, b = self.d / "a.trace", self.d / "b.trace"
        self.assertEqual(curl_unix(p.sock, '{"jsonrpc":"2.0","method":"debug_startGoTrace",'
                                   f'"params":["{a}"],"id":1}}'), NULL_REPLY)
        time.sleep(0.2)
        self.assertEqual(curl_unix(p.sock, '{"jsonrpc":"2.0","method":"debug_stopGoTrace",'
                                   '"params":[],"id":1}'), NULL_REPLY)
        parses(self, a)
        t0 = time.monotonic()
        self.assertEqual(curl_unix(p.sock, '{"jsonrpc":"2.0","method":"debug_goTrace",'
                                   f'"params":["{b}",1],"id":1}}'), NULL_REPLY)
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, 0.95, "debug_goTrace(f, 1) answered before 1 s")
        self.assertLess(took, 5)
        parses(self, b)
        # the headers geth sends with it
        status, headers, body = http_post(p.sock, req("debug_stopGoTrace", []))
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-type"), "application/json")
        self.assertEqual(body, err_reply(-32000, "trace not in progress"))
        self.assertTrue(p.alive())

    def test_curl_tcp_http(self):
        port = gt.free_port()
        p = self.program(env={"GOTRACE_HTTP": f"127.0.0.1:{port}"})

        def tcp_up():
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                return True
            except OSError:
                return False
        gt.wait_until(tcp_up, what=f"GOTRACE_HTTP port {port}")
        url = f"http://127.0.0.1:{port}"
        a, b = self.d / "a.trace", self.d / "b.trace"
        hdr = ["-H", "Content-Type: application/json"]
        self.assertEqual(curl([*hdr, "--data", req("debug_startGoTrace", [str(a)]), url]),
                         NULL_REPLY)
        time.sleep(0.2)
        self.assertEqual(curl([*hdr, "--data", req("debug_stopGoTrace", []), url]), NULL_REPLY)
        parses(self, a)
        t0 = time.monotonic()
        self.assertEqual(curl([*hdr, "--data", req("debug_goTrace", [str(b), 1]), url]),
                         NULL_REPLY)
        self.assertGreaterEqual(time.monotonic() - t0, 0.95)
        parses(self, b)
        # the Unix socket serves as well at the same time
        self.assertEqual(stream_call(p.sock, req("debug_stopGoTrace", [])),
                         err_reply(-32000, "trace not in progress"))

    def test_socat(self):
        p = self.program()
        a, b = self.d / "a.trace", self.d / "b.trace"
        self.assertEqual(socat(p.sock, req("debug_startGoTrace", [str(a)])), NULL_REPLY)
        time.sleep(0.2)
        self.assertEqual(socat(p.sock, req("debug_stopGoTrace", [])), NULL_REPLY)
        parses(self, a)
        t0 = time.monotonic()
        self.assertEqual(socat(p.sock, req("debug_goTrace", [str(b), 1]), t=5), NULL_REPLY)
        self.assertGreaterEqual(time.monotonic() - t0, 0.95)
        parses(self, b)

    def test_held_reply_then_close(self):
        """A client that sent debug_goTrace and half-closed (what socat and
        `nc -U -q` do), or sent it over HTTP with Connection: close, gets its
        reply and then EOF, as after any other reply (not only when
        GOTRACE_RPC_IDLE_MS, default 60 s, runs out)."""
        p = self.program()
        for how in ("stream", "http"):
            with self.subTest(how=how), connect(p.sock, timeout=15) as s:
                body = req("debug_goTrace", [str(self.d / f"{how}.trace"), 1])
                if how == "http":
                    s.sendall((f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                               f"\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
                               f"{body}").encode())
                else:
                    s.sendall(body.encode())
                    s.shutdown(socket.SHUT_WR)
                t0 = time.monotonic()
                got = b""
                while not got.endswith(NULL_REPLY):
                    chunk = s.recv(4096)
                    self.assertTrue(chunk, f"EOF before the reply: {got!r}")
                    got += chunk
                t_reply = time.monotonic() - t0
                s.settimeout(3)
                try:
                    rest = s.recv(4096)
                except socket.timeout:
                    rest = None
                t_eof = time.monotonic() - t0
                self.assertEqual(rest, b"", f"no EOF within 3 s of the held reply (reply at "
                                 f"{t_reply:.1f} s); the connection stays until the idle "
                                 f"time-out")
                self.assertLess(t_eof - t_reply, 2,
                                f"EOF {t_eof - t_reply:.1f} s after the held reply "
                                f"(reply at {t_reply:.1f} s)")
                parses(self, self.d / f"{how}.trace")

    def test_held_http_client_that_keeps_sending(self):
        """While an HTTP client's reply is held (debug_goTrace), what it
        sends next waits for that reply. Before, all of it was read into
        the program: 300 MB sent took its RSS from 2 MB to 313 MB. Now
        the endpoint reads no further than one request's worth, the
        kernel's buffers fill and the client's sends block; then the
        held reply goes out, and the rest is refused as malformed."""
        p = self.program()
        def rss_kb():
            with open(f"/proc/{p.pid}/status") as f:
                return int(next(l for l in f if l.startswith("VmRSS:")).split()[1])
        with connect(p.sock, timeout=15) as s:
            body = req("debug_goTrace", [str(self.d / "held.trace"), 2])
            s.sendall((f"POST / HTTP/1.1\r\nContent-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n{body}").encode())
            time.sleep(0.3)
            before = rss_kb()
            s.setblocking(False)
            junk, sent, deadline = b"A" * 65536, 0, time.monotonic() + 1.5
            while time.monotonic() < deadline and sent < (64 << 20):
                try:
                    sent += s.send(junk)
                except BlockingIOError:
                    time.sleep(0.01)
            grown = rss_kb() - before
            self.assertLess(sent, 8 << 20, "the endpoint read on while the reply was held")
            self.assertLess(grown, 8 << 10, f"the program grew {grown} KB")
            s.settimeout(30)
            got = b""
            while b"431 " not in got:
                chunk = s.recv(65536)
                self.assertTrue(chunk, f"closed before the reply: {got!r}")
                got += chunk
            self.assertIn(NULL_REPLY, got)
        parses(self, self.d / "held.trace")
        check_still_serves(self, p, self.d)

    def test_held_client_gone_costs_nothing(self):
        """A client that sent debug_goTrace(f, 3) and went away (^C on
        `gotrace trace`): its connection stays while the trace runs, and
        poll reported its hang-up at every pass; the service thread spun at
        a whole CPU until the trace's end. It is no longer polled."""
        p = self.program()
        svc = [t for t in os.listdir(f"/proc/{p.pid}/task")
               if open(f"/proc/{p.pid}/task/{t}/comm").read().strip().startswith("gotrace")]
        self.assertTrue(svc, "the service thread")

        def ticks():
            f = open(f"/proc/{p.pid}/task/{svc[0]}/stat").read().rsplit(")", 1)[1].split()
            return int(f[11]) + int(f[12])
        with connect(p.sock, timeout=15) as s:
            s.sendall(req("debug_goTrace", [str(self.d / "gone.trace"), 3]).encode())
            time.sleep(0.2)
        t0 = ticks()
        time.sleep(2)
        used = (ticks() - t0) / os.sysconf("SC_CLK_TCK")
        self.assertLess(used, 0.5, f"the service thread used {used:.2f} s of CPU in 2 s")
        gt.wait_until(lambda: (self.d / "gone.trace").exists() and
                      (self.d / "gone.trace").stat().st_size > 0, what="the trace", timeout=30)

    def test_several_requests_one_connection(self):
        """A stream of JSON values on one connection, answered in order;
        whitespace or nothing between them."""
        p = self.program()
        a = self.d / "a.trace"
        data = (req("debug_startGoTrace", [str(a)], id=1) + req("debug_stopGoTrace", [], id=2)
                + " \n\t" + req("debug_stopGoTrace", [], id="x"))
        self.assertEqual(stream_call(p.sock, data),
                         b'{"jsonrpc":"2.0","id":1,"result":null}\n'
                         b'{"jsonrpc":"2.0","id":2,"result":null}\n'
                         + err_reply(-32000, "trace not in progress", id="x"))
        parses(self, a)
        # HTTP keep-alive: two requests on one connection
        with connect(p.sock) as s:
            for i in (1, 2):
                body = req("debug_stopGoTrace", [], id=i).encode()
                s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                          b"Content-Length: %d\r\n\r\n" % len(body) + body)
                want = err_reply(-32000, "trace not in progress", id=i)
                got = b""
                while not got.endswith(want):
                    chunk = s.recv(4096)
                    self.assertTrue(chunk, f"connection closed after {got!r}")
                    got += chunk
                self.assertTrue(got.startswith(b"HTTP/1.1 200 OK\r\n"), got)


# ---------------------------------------------------------------- 2. errors

class Errors(RpcCase):
    CASES = [
        # (method, params, code, message)
        ("debug_startGoTrace", [], -32602, "missing value for required argument 0"),
        ("debug_startGoTrace", None, -32602, "missing value for required argument 0"),
        ("debug_startGoTrace", ["a", "b"], -32602, "too many arguments, want at most 1"),
        ("debug_stopGoTrace", [1], -32602, "too many arguments, want at most 0"),
        ("debug_goTrace", ["x"], -32602, "missing value for required argument 1"),
        ("debug_goTrace", [], -32602, "missing value for required argument 0"),
        ("debug_goTrace", ["a", 1, 2], -32602, "too many arguments, want at most 2"),
        ("debug_startGoTrace", [5], -32602,
         "invalid argument 0: json: cannot unmarshal number into Go value of type string"),
        ("debug_goTrace", [5, 1], -32602,
         "invalid argument 0: json: cannot unmarshal number into Go value of type string"),
        ("debug_goTrace", ["x", "1"], -32602,
         "invalid argument 1: json: cannot unmarshal string into Go value of type uint"),
        ("debug_startGoTrace", {"file": "x"}, -32602, "non-array args"),
        ("debug_startGoTrace", "x", -32602, "non-array args"),
        ("debug_foo", [], -32601, "the method debug_foo does not exist/is not available"),
        ("debug_stopGoTrace", [], -32000, "trace not in progress"),
        ("debug_startGoTrace", ["/nonexistent-gotrace/x.trace"], -32000,
         "open /nonexistent-gotrace/x.trace: no such file or directory"),
        ("debug_goTrace", ["/nonexistent-gotrace/y.trace", 1], -32000,
         "open /nonexistent-gotrace/y.trace: no such file or directory"),
    ]

    def test_errors_stream(self):
        p = self.program()
        for method, params, code, msg in self.CASES:
            with self.subTest(method=method, params=params):
                self.assertEqual(stream_call(p.sock, req(method, params)), err_reply(code, msg))
        check_still_serves(self, p, self.d)

    def test_errors_http(self):
        p = self.program()
        for method, params, code, msg in self.CASES:
            with self.subTest(method=method, params=params):
                self.assertEqual(curl_unix(p.sock, req(method, params)), err_reply(code, msg))
        check_still_serves(self, p, self.d)

    def test_killed_right_after_start_leaves_a_readable_trace(self):
        """Once startGoTrace has answered, the file holds the header and the
        snapshot of the threads: a process killed at once (SIGKILL, or a
        pipeline's SIGPIPE) leaves a trace Go's parser reads, not 0 bytes."""
        for i in range(5):
            p = Program(self.d, socket=str(self.d / f"k{i}.sock"))
            f = self.d / f"k{i}.trace"
            # The reply line, then the kill at once (not waiting for the
            # server to close the connection, as stream_call does).
            self.assertEqual(call(p.sock, req("debug_startGoTrace", [str(f)])), NULL_REPLY)
            p.proc.kill()
            p.proc.communicate(timeout=20)
            parses(self, f)

    def test_already_in_progress(self):
        p = self.program()
        a, b = self.d / "a.trace", self.d / "b.trace"
        self.assertEqual(stream_call(p.sock, req("debug_startGoTrace", [str(a)])), NULL_REPLY)
        want = err_reply(-32000, "trace already in progress")
        self.assertEqual(stream_call(p.sock, req("debug_startGoTrace", [str(b)])), want)
        self.assertEqual(stream_call(p.sock, req("debug_goTrace", [str(b), 1])), want)
        self.assertFalse(b.exists(), "a refused start created its file")
        self.assertEqual(stream_call(p.sock, req("debug_stopGoTrace", [])), NULL_REPLY)
        parses(self, a)
        check_still_serves(self, p, self.d)

    def test_parse_and_request_errors(self):
        p = self.program()
        for data, want in [
            ('{"jsonrpc":"2.0","method":"debug_stopGoTrace",', err_reply(-32700, "parse error", None)),
            ("xyz", err_reply(-32700, "parse error", None)),
            ("[]", err_reply(-32600, "empty batch", None)),
            ('{"jsonrpc":"1.0","method":"debug_stopGoTrace","id":1}',
             err_reply(-32600, "invalid request", 1)),
            ('{"method":"debug_stopGoTrace","id":1}', err_reply(-32600, "invalid request", 1)),
            ('{"jsonrpc":"2.0","id":1}', err_reply(-32600, "invalid request", 1)),
            ('"hello"', err_reply(-32600, "invalid request", None)),
            # a key given twice: the last, as Go's encoding/json (geth)
            ('{"jsonrpc":"2.0","method":"debug_stopGoTrace","method":"debug_nope","id":1}',
             err_reply(-32601, "the method debug_nope does not exist/is not available", 1)),
        ]:
            with self.subTest(data=data):
                self.assertEqual(stream_call(p.sock, data), want)
                self.assertEqual(curl_unix(p.sock, data), want)
        check_still_serves(self, p, self.d)

    def test_relative_file_in_program_cwd(self):
        cwd = self.d / "cwd"
        cwd.mkdir()
        p = self.program(cwd=str(cwd))
        self.assertEqual(stream_call(p.sock, req("debug_startGoTrace", ["rel.trace"])), NULL_REPLY)
        self.assertEqual(stream_call(p.sock, req("debug_stopGoTrace", [])), NULL_REPLY)
        self.assertTrue((cwd / "rel.trace").exists(), os.listdir(cwd))
        parses(self, cwd / "rel.trace")
        self.assertEqual(call(p.sock, req("debug_goTrace", ["sub/../rel2.trace", 0])),
                         err_reply(-32000, "open sub/../rel2.trace: no such file or directory"))
        (cwd / "sub").mkdir()
        self.assertEqual(call(p.sock, req("debug_goTrace", ["sub/../rel2.trace", 0])),
                         NULL_REPLY)
        parses(self, cwd / "rel2.trace")

    def test_home_expansion(self):
        home = self.d / "home"
        home.mkdir()
        p = self.program(env={"HOME": str(home)})
        self.assertEqual(stream_call(p.sock, req("debug_startGoTrace", ["~/x.trace"])), NULL_REPLY)
        self.assertEqual(stream_call(p.sock, req("debug_stopGoTrace", [])), NULL_REPLY)
        self.assertTrue((home / "x.trace").exists(), os.listdir(home))
        parses(self, home / "x.trace")
        self.assertEqual(stream_call(p.sock, req("debug_startGoTrace", ["~/no/x.trace"])),
                         err_reply(-32000, f"open {home}/no/x.trace: no such file or directory"))
        self.assertTrue(p.alive())


# ---------------------------------------------------------------- 3. batches, notifications

def spec_batch_reply(pairs):
    """[(id, code, msg)] -> the batch reply bytes."""
    items = []
    for id, code, msg in pairs:
        if code is None:
            items.append({"jsonrpc": "2.0", "id": id, "result": None})
        else:
            items.append({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": msg}})
    return (json.dumps(items, separators=(",", ":")) + "\n").encode()


def nf(m):
    return f"the method {m} does not exist/is not available"


class Batches(RpcCase):
    def test_mixed_batch(self):
        p = self.program()
        a = self.d / "a.trace"
        batch = "[" + ",".join([
            req("debug_startGoTrace", [str(a)], id=1),
            req("debug_foo", [], id="two"),
            req("debug_stopGoTrace", [], id=None),          # a notification: runs, no reply
            "1",
            req("debug_stopGoTrace", [], id=3),              # the notification stopped it
            req("debug_startGoTrace", [], id=4),
        ]) + "]"
        want = spec_batch_reply([(1, None, None), ("two", -32601, nf("debug_foo")),
                                 (None, -32600, "invalid request"),
                                 (3, -32000, "trace not in progress"),
                                 (4, -32602, "missing value for required argument 0")])
        self.assertEqual(stream_call(p.sock, batch), want)
        parses(self, a)
        self.assertEqual(curl_unix(p.sock, batch.replace("a.trace", "b.trace")), want)
        parses(self, self.d / "b.trace")
        check_still_serves(self, p, self.d)

    def test_notifications(self):
        p = self.program()
        a = self.d / "a.trace"
        # a notification is run, but gets no reply (stream: nothing at all)
        self.assertEqual(stream_call(p.sock, req("debug_startGoTrace", [str(a)], id=None)), b"")
        gt.wait_until(a.exists, what="the notification's trace file")
        self.assertEqual(stream_call(p.sock, req("debug_startGoTrace", [str(a)])),
                         err_reply(-32000, "trace already in progress"))
        self.assertEqual(stream_call(p.sock, req("debug_stopGoTrace", [], id=None)), b"")
        self.assertEqual(stream_call(p.sock, req("debug_stopGoTrace", [])),
                         err_reply(-32000, "trace not in progress"))
        parses(self, a)
        # failing notifications are silent too
        self.assertEqual(stream_call(p.sock, req("debug_foo", [], id=None)), b"")
        self.assertEqual(stream_call(p.sock, req("debug_startGoTrace", [1, 2], id=None)), b"")
        # HTTP: 200 with an empty body
        status, headers, body = http_post(p.sock, req("debug_stopGoTrace", [], id=None))
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(headers.get("content-length"), "0")
        # id null is not a notification: it is answered with id null
        self.assertEqual(stream_call(p.sock, '{"jsonrpc":"2.0","method":"debug_stopGoTrace",'
                                             '"id":null}'),
                         err_reply(-32000, "trace not in progress", None))
        check_still_serves(self, p, self.d)

    def test_batch_of_notifications(self):
        p = self.program()
        a = self.d / "a.trace"
        batch = "[" + req("debug_startGoTrace", [str(a)], id=None) + "," + \
            req("debug_foo", id=None) + "," + req("debug_stopGoTrace", [], id=None) + "]"
        self.assertEqual(stream_call(p.sock, batch), b"")
        parses(self, a)   # both ran
        status, headers, body = http_post(p.sock, batch.replace("a.trace", "b.trace"))
        self.assertEqual((status, body), (200, b""))
        parses(self, self.d / "b.trace")
        self.assertEqual(curl_unix(p.sock, batch.replace("a.trace", "c.trace")), b"")
        check_still_serves(self, p, self.d)

    def test_empty_batch(self):
        p = self.program()
        want = err_reply(-32600, "empty batch", None)
        self.assertEqual(stream_call(p.sock, "[]"), want)
        self.assertEqual(stream_call(p.sock, " [ ] "), want)
        self.assertEqual(curl_unix(p.sock, "[]"), want)
        check_still_serves(self, p, self.d)

    def test_spec_examples(self):
        """The "rpc call ... " examples of jsonrpc.org/specification, section 7,
        with its methods unknown here (geth's texts)."""
        p = self.program()
        ir = (None, -32600, "invalid request")
        cases = [
            # invalid JSON
            ('{"jsonrpc": "2.0", "method": "foobar, "params": "bar", "baz]',
             err_reply(-32700, "parse error", None)),
            # invalid Request object
            ('{"jsonrpc": "2.0", "method": 1, "params": "bar"}',
             err_reply(-32600, "invalid request", None)),
            # batch, invalid JSON
            ('[\n  {"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},\n'
             '  {"jsonrpc": "2.0", "method"\n]', err_reply(-32700, "parse error", None)),
            # empty Array
            ("[]", err_reply(-32600, "empty batch", None)),
            # invalid batch, but not empty
            ("[1]", spec_batch_reply([ir])),
            ("[1,2,3]", spec_batch_reply([ir, ir, ir])),
            # non-existent method
            ('{"jsonrpc": "2.0", "method": "foobar", "id": "1"}',
             err_reply(-32601, nf("foobar"), "1")),
            # the mixed batch
            ('[\n{"jsonrpc": "2.0", "method": "sum", "params": [1,2,4], "id": "1"},\n'
             '{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},\n'
             '{"jsonrpc": "2.0", "method": "subtract", "params": [42,23], "id": "2"},\n'
             '{"foo": "boo"},\n'
             '{"jsonrpc": "2.0", "method": "foo.get", "params": {"name": "myself"}, "id": "5"},\n'
             '{"jsonrpc": "2.0", "method": "get_data", "id": "9"}\n]',
             spec_batch_reply([("1", -32601, nf("sum")), ("2", -32601, nf("subtract")), ir,
                               ("5", -32601, nf("foo.get")), ("9", -32601, nf("get_data"))])),
            # all notifications
            ('[\n{"jsonrpc": "2.0", "method": "notify_sum", "params": [1,2,4]},\n'
             '{"jsonrpc": "2.0", "method": "notify_hello", "params": [7]}\n]', b""),
        ]
        for data, want in cases:
            with self.subTest(data=data):
                self.assertEqual(stream_call(p.sock, data), want)
                status, _, body = http_post(p.sock, data)
                self.assertEqual((status, body), (200, want))
        check_still_serves(self, p, self.d)

    def test_http_statuses(self):
        p = self.program()
        body = req("debug_stopGoTrace", [])
        # 405: not POST
        for m in ("PUT", "DELETE"):
            with self.subTest(method=m):
                self.assertEqual(http_post(p.sock, body, method=m)[0], 405)
        # GET with a body: a call, as geth serves it (net/http's any method
        # but PUT and DELETE)
        self.assertEqual(http_post(p.sock, body, method="GET")[::2],
                         (200, err_reply(-32000, "trace not in progress")), "GET with a body")
        # GET without body: 200, empty (geth's health check)
        status, _, got = http_raw(p.sock, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        self.assertEqual((status, got), (200, b""))
        # 415: a content type that is not JSON
        self.assertEqual(http_post(p.sock, body, ctype="text/plain")[0], 415)
        # without Content-Type, or a form's: 415 too (what a web page can
        # POST without a CORS preflight; geth refuses both)
        for ct in (None, "application/x-www-form-urlencoded"):
            with self.subTest(ctype=ct):
                self.assertEqual(http_post(p.sock, body, ctype=ct)[0], 415)
        # the JSON aliases: served
        for ct in ("application/json-rpc", "application/jsonrequest",
                   "application/json; charset=utf-8"):
            with self.subTest(ctype=ct):
                status, _, got = http_post(p.sock, body, ctype=ct)
                self.assertEqual((status, got), (200, err_reply(-32000, "trace not in progress")))
        # 413: more than 1 MiB (the header alone is refused)
        status, _, got = http_raw(p.sock, "POST / HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                  "application/json\r\nContent-Length: 2097152\r\n\r\n")
        self.assertEqual(status, 413, got)
        # 413 with the body sent by curl
        big = self.d / "big.json"
        big.write_text('{"jsonrpc":"2.0","id":1,"method":"debug_stopGoTrace","params":["'
                       + "a" * (2 << 20) + '"]}')
        out = curl(["-o", "/dev/null", "-w", "%{http_code}", "--unix-socket", p.sock,
                    "-H", "Content-Type: application/json", "--data-binary", f"@{big}",
                    "http://localhost/"])
        self.assertEqual(out, b"413")
        check_still_serves(self, p, self.d)


# ---------------------------------------------------------------- 4. many clients

class ManyClients(RpcCase):
    def test_32_clients_with_held_go_trace(self):
        p = self.program()
        held = self.d / "held.trace"
        n_others = 30
        results, errors = {}, []
        barrier = threading.Barrier(n_others + 1)

        holder = connect(p.sock, timeout=40)
        self.addCleanup(holder.close)
        t_start = time.monotonic()
        holder.sendall(req("debug_goTrace", [str(held), 30], id="held").encode())
        gt.wait_until(held.exists, what="debug_goTrace's trace file")
        held_reply = {}

        def hold_wait():
            try:
                held_reply["bytes"] = recv_line(holder)
            except OSError as e:
                held_reply["error"] = e
            held_reply["at"] = time.monotonic()
        th = threading.Thread(target=hold_wait, daemon=True)
        th.start()

        def other(i):
            try:
                with connect(p.sock, timeout=20) as s:
                    barrier.wait(timeout=20)
                    if i % 2:
                        body = req("debug_startGoTrace", [str(self.d / f"o{i}.trace")], id=i)
                        s.sendall(body.encode())
                        results[i] = recv_line(s)
                    else:
                        body = req("debug_goTrace", [str(self.d / f"o{i}.trace"), 5], id=i)
                        s.sendall((f"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                   f"application/json\r\nContent-Length: {len(body)}\r\n"
                                   f"Connection: close\r\n\r\n{body}").encode())
                        data = recv_all(s)
                        results[i] = data.partition(b"\r\n\r\n")[2]
            except Exception as e:   # noqa: BLE001 - reported below
                errors.append(f"client {i}: {e!r}")
        threads = [threading.Thread(target=other, args=(i,), daemon=True)
                   for i in range(n_others)]
        for t in threads:
            t.start()
        stopper = connect(p.sock, timeout=20)
        self.addCleanup(stopper.close)
        barrier.wait(timeout=20)     # 32 connections open at once
        for t in threads:
            t.join(25)
        self.assertEqual(errors, [])
        self.assertEqual(sorted(results), list(range(n_others)))
        for i, got in results.items():
            self.assertEqual(got, err_reply(-32000, "trace already in progress", i), f"client {i}")
        self.assertNotIn("bytes", held_reply, "the held reply came before the stop")
        self.assertTrue(th.is_alive())

        stopper.sendall(req("debug_stopGoTrace", [], id="stop").encode())
        t_stop = time.monotonic()
        self.assertEqual(recv_line(stopper), b'{"jsonrpc":"2.0","id":"stop","result":null}\n')
        th.join(15)
        self.assertNotIn("error", held_reply)
        self.assertEqual(held_reply.get("bytes"), b'{"jsonrpc":"2.0","id":"held","result":null}\n')
        self.assertLess(held_reply["at"] - t_stop, 3, "held reply long after the stop")
        self.assertLess(held_reply["at"] - t_start, 20, "held reply not well before 30 s")
        parses(self, held)
        for i in range(n_others):
            self.assertFalse((self.d / f"o{i}.trace").exists(), f"refused start {i} made a file")
        check_still_serves(self, p, self.d)

    def test_held_reply_does_not_block_same_kind(self):
        """While debug_goTrace waits, a second debug_goTrace is refused at once
        and the held client's connection can be closed without harm."""
        p = self.program()
        a = self.d / "a.trace"
        s = connect(p.sock)
        s.sendall(req("debug_goTrace", [str(a), 30]).encode())
        gt.wait_until(a.exists, what="trace file")
        t0 = time.monotonic()
        self.assertEqual(stream_call(p.sock, req("debug_goTrace", [str(self.d / "b.trace"), 1])),
                         err_reply(-32000, "trace already in progress"))
        self.assertLess(time.monotonic() - t0, 2)
        s.close()   # the waiting client leaves: the trace goes on
        time.sleep(0.3)
        self.assertEqual(stream_call(p.sock, req("debug_stopGoTrace", [])), NULL_REPLY)
        parses(self, a)
        check_still_serves(self, p, self.d)

    def test_held_in_batch_and_pipelined(self):
        """debug_goTrace inside a batch holds the whole batch reply; on a
        stream, later requests of the same connection are answered meanwhile
        (geth runs calls concurrently), and a stop among them ends the wait."""
        p = self.program()
        a, b = self.d / "a.trace", self.d / "b.trace"
        with connect(p.sock) as s:
            t0 = time.monotonic()
            s.sendall(("[" + req("debug_goTrace", [str(a), 1], id=1) + ","
                       + req("debug_foo", [], id=2) + "]").encode())
            self.assertEqual(recv_line(s), spec_batch_reply([(1, None, None),
                                                             (2, -32601, nf("debug_foo"))]))
            self.assertGreaterEqual(time.monotonic() - t0, 0.95)
        parses(self, a)
        with connect(p.sock) as s:
            t0 = time.monotonic()
            s.sendall((req("debug_goTrace", [str(b), 30], id=1)
                       + req("debug_stopGoTrace", [], id=2)).encode())
            got = {recv_line(s), recv_line(s)}
            self.assertEqual(got, {b'{"jsonrpc":"2.0","id":1,"result":null}\n',
                                   b'{"jsonrpc":"2.0","id":2,"result":null}\n'})
            self.assertLess(time.monotonic() - t0, 5)
        parses(self, b)
        check_still_serves(self, p, self.d)

    def test_go_trace_zero_and_notification(self):
        p = self.program()
        a, n = self.d / "a.trace", self.d / "n.trace"
        with connect(p.sock) as s:
            s.sendall(req("debug_goTrace", [str(a), 0]).encode())
            self.assertEqual(recv_line(s), NULL_REPLY)
        parses(self, a)
        # as a notification it still runs for its seconds, then stops
        self.assertEqual(stream_call(p.sock, req("debug_goTrace", [str(n), 1], id=None)), b"")
        self.assertEqual(stream_call(p.sock, req("debug_startGoTrace", [str(a)])),
                         err_reply(-32000, "trace already in progress"))
        gt.wait_until(lambda: stream_call(p.sock, req("debug_stopGoTrace", [])) ==
                      err_reply(-32000, "trace not in progress"), timeout=5,
                      what="the notification's debug_goTrace to end by itself")
        parses(self, n)
        check_still_serves(self, p, self.d)

    def test_held_answered_at_exit(self):
        """The program exits while debug_goTrace(f, 30) waits: the trace is
        complete and the caller gets null at once."""
        p = self.program(n=250)
        a = self.d / "a.trace"
        with connect(p.sock, timeout=30) as s:
            t0 = time.monotonic()
            s.sendall(req("debug_goTrace", [str(a), 30]).encode())
            self.assertEqual(recv_line(s), NULL_REPLY)
            self.assertLess(time.monotonic() - t0, 10)
        rc, out, err = p.finish()
        self.assertEqual((rc, out), (0, SHORT_OUT.format(n=250)), err)
        parses(self, a)


# ---------------------------------------------------------------- 7. the socket file

class SocketFile(RpcCase):
    def test_mode_and_removed_at_exit(self):
        p = self.program(n=250)
        st = os.lstat(p.sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)
        self.assertEqual(st.st_uid, os.geteuid())
        rc, out, err = p.finish()
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, SHORT_OUT.format(n=250))
        self.assertFalse(os.path.lexists(p.sock), "socket left behind at exit")

    def test_short_lived_processes_leave_no_socket(self):
        """Processes that exit right after they start (the endpoint may not
        be listening yet, or has just started to): exit codes are theirs, and
        no socket is left behind. An idle exit closes the endpoint without
        the service thread, which must then not create it."""
        xdg = self.d / "xdg"
        xdg.mkdir()
        env = dict(os.environ, LD_PRELOAD=str(gt.LIB), XDG_RUNTIME_DIR=str(xdg))
        env.pop("GOTRACE_SOCKET", None)
        loop = "i=0; while [ $i -lt 300 ]; do /bin/true; /bin/false && exit 9; " \
               "i=$((i+1)); done; exit 3"
        r = subprocess.run(["sh", "-c", loop], env=env, capture_output=True, text=True,
                           timeout=120)
        self.assertEqual((r.returncode, r.stdout, r.stderr), (3, "", ""))
        self.assertEqual(os.listdir(xdg / "gotrace"), [], "sockets left behind")

    def test_idle_exit_with_a_client_connected(self):
        """A client holds a connection with half a request when the program
        exits: the program's output and status are its own, the client sees
        the connection end, the socket is gone."""
        p = self.program(n=250)
        with connect(p.sock, timeout=30) as s:
            s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"debug_stop')
            rc, out, err = p.finish()
            self.assertEqual((rc, out), (0, SHORT_OUT.format(n=250)), err)
            try:
                self.assertEqual(s.recv(100), b"")
            except ConnectionResetError:
                pass
        self.assertFalse(os.path.lexists(p.sock), "socket left behind at exit")

    def test_pid_in_socket_name(self):
        p = self.program(n=250, socket=str(self.d / "s-%p.sock"))
        self.assertEqual(p.sock, str(self.d / f"s-{p.pid}.sock"))
        self.assertEqual(stream_call(p.sock, req("debug_stopGoTrace", [])),
                         err_reply(-32000, "trace not in progress"))
        rc, out, err = p.finish()
        self.assertEqual(rc, 0, err)
        self.assertEqual(os.listdir(self.d), [])

    def test_default_path_xdg(self):
        xdg = self.d / "xdg"
        xdg.mkdir()
        p = Program(self.d, n=250, env={"XDG_RUNTIME_DIR": str(xdg)}, socket=None, wait=False)
        self.addCleanup(p.stop)
        sock = xdg / "gotrace" / f"{p.pid}.sock"
        gt.wait_until(lambda: can_connect(str(sock)), what=str(sock))
        self.assertEqual(stat.S_IMODE(os.stat(xdg / "gotrace").st_mode), 0o700)
        self.assertEqual(stat.S_IMODE(os.lstat(sock).st_mode), 0o600)
        self.assertEqual(stream_call(str(sock), req("debug_stopGoTrace", [])),
                         err_reply(-32000, "trace not in progress"))
        rc, out, err = p.finish()
        self.assertEqual((rc, out, err), (0, SHORT_OUT.format(n=250), ""))
        self.assertFalse(sock.exists())

    def test_default_path_tmp(self):
        p = Program(self.d, n=250, env={"XDG_RUNTIME_DIR": ""}, socket=None, wait=False)
        self.addCleanup(p.stop)
        d = f"/tmp/gotrace-{os.geteuid()}"
        sock = f"{d}/{p.pid}.sock"
        gt.wait_until(lambda: can_connect(sock), what=sock)
        st = os.lstat(d)
        self.assertTrue(stat.S_ISDIR(st.st_mode))
        self.assertEqual((stat.S_IMODE(st.st_mode), st.st_uid), (0o700, os.geteuid()))
        self.assertEqual(stat.S_IMODE(os.lstat(sock).st_mode), 0o600)
        rc, out, err = p.finish()
        self.assertEqual((rc, out, err), (0, SHORT_OUT.format(n=250), ""))
        self.assertFalse(os.path.lexists(sock))

    def test_socket_off(self):
        xdg = self.d / "xdg"
        xdg.mkdir()
        p = Program(self.d, n=100, env={"XDG_RUNTIME_DIR": str(xdg)}, socket="off")
        self.addCleanup(p.stop)
        time.sleep(0.2)
        self.assertTrue(p.alive())
        self.assertEqual(os.listdir(xdg), [])
        self.assertFalse(os.path.lexists(f"/tmp/gotrace-{os.geteuid()}/{p.pid}.sock"))
        self.assertFalse(os.path.lexists(str(self.d / "off")))
        # no listening Unix socket in the process at all
        inodes = {os.readlink(f"/proc/{p.pid}/fd/{fd}") for fd in os.listdir(f"/proc/{p.pid}/fd")}
        with open("/proc/net/unix") as f:
            listening = {line.split()[6] for line in f.readlines()[1:]
                         if line.split()[3] == "00010000"}   # __SO_ACCEPTCON
        self.assertFalse({f"socket:[{i}]" for i in listening} & inodes,
                         "a listening socket exists with GOTRACE_SOCKET=off")
        rc, out, err = p.finish()
        self.assertEqual((rc, out, err), (0, SHORT_OUT.format(n=100), ""))


if __name__ == "__main__":
    unittest.main()
