"""geth's conventions in the endpoint and the `gotrace` client (issue 23,
item 6; helpers from test_rpc.py and test_client.py):

  rpc_modules answers {"debug":"1.0","rpc":"1.0"} as geth does, over the
     Unix socket (gotrace call, curl --unix-socket, a raw stream) and over
     GOTRACE_HTTP (curl, gotrace call http://...), with geth's -32602 for
     params; a notification gets no reply;
  `gotrace attach http://127.0.0.1:PORT` (as `geth attach http://...`), with
     --exec and with statements piped in; start/stop/trace/call take the URL
     too; rpc.modules and rpc.modules() print the modules;
  https, other schemes, hosts that are not loopback and malformed URLs are
     refused with exit status 2 and a `gotrace:` message, before anything is
     sent (the non-loopback cases run in a network namespace of their own,
     so even a regression could send nothing off this machine); a refused
     connection is exit status 1 and names GOTRACE_HTTP;
  the console on a pseudo-terminal: a line edited (a wrong character,
     backspace, Enter) runs as corrected, up-arrow recalls earlier
     statements, the history is kept in ~/.gotrace_history (0600, without
     `exit`) and recalled by the next console; statements piped in write no
     history and print what they printed before. Line editing needs gotrace
     built with libedit: without it the test FAILS when meson's libedit
     option was `auto` (libedit-dev missing: scripts/lib.sh installs it) and
     is skipped, with a banner on stderr, only when it was disabled."""
import errno
import json
import os
import re
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import termios
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import gttest as gt  # noqa: E402
import test_client as tc  # noqa: E402  (module only: its tests are not run here)
import test_rpc as rt  # noqa: E402

MODULES = '{"debug":"1.0","rpc":"1.0"}'
MODULES_REPLY = ('{"jsonrpc":"2.0","id":1,"result":' + MODULES + '}\n').encode()
gotrace = tc.gotrace


def libedit_state():
    """("found" | "disabled" | "missing"), from the build's meson-info."""
    info = gt.BUILD / "meson-info"
    deps = json.loads((info / "intro-dependencies.json").read_text())
    if any(d.get("name") == "libedit" for d in deps):
        return "found"
    opts = json.loads((info / "intro-buildoptions.json").read_text())
    value = next((o["value"] for o in opts if o["name"] == "libedit"), "auto")
    return "disabled" if value == "disabled" else "missing"


def require_libedit(tc_):
    state = libedit_state()
    if state == "found":
        return
    banner = ("\n" + "!" * 72 + "\n!!! gotrace was built WITHOUT libedit (meson option libedit="
              f"{'disabled' if state == 'disabled' else 'auto, not found'}):\n"
              "!!! the console's line editing and history are NOT tested.\n" + "!" * 72 + "\n")
    sys.stderr.write(banner)
    if state == "missing":
        tc_.fail("libedit-dev is missing (scripts/lib.sh installs it): install it and "
                 "reconfigure, or configure with -Dlibedit=disabled to test without it")
    tc_.skipTest("built with -Dlibedit=disabled: line editing NOT tested")


def tcp_up(port):
    try:
        socket.create_connection(("127.0.0.1", port), 1).close()
        return True
    except OSError:
        return False


def netns_prefix():
    """A command prefix that runs in a network namespace of its own (only
    its own loopback, down), or None where none can be made."""
    if not shutil.which("unshare"):
        return None
    for pre in (["unshare", "-rn"], ["unshare", "-n"]):
        try:
            if subprocess.run(pre + ["true"], capture_output=True, timeout=20).returncode == 0:
                return pre
        except (OSError, subprocess.TimeoutExpired):
            pass
    return None


# ---------------------------------------------------------------- rpc_modules

class Modules(rt.RpcCase):
    def test_unix_socket(self):
        p = self.program()
        r = gotrace(["call", p.sock, "rpc_modules"])
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, MODULES + "\n", ""))
        self.assertEqual(json.loads(r.stdout), {"debug": "1.0", "rpc": "1.0"})
        self.assertEqual(rt.stream_call(p.sock, rt.req("rpc_modules", [])), MODULES_REPLY)
        self.assertEqual(rt.stream_call(p.sock, rt.req("rpc_modules")), MODULES_REPLY)
        self.assertEqual(rt.curl_unix(p.sock, rt.req("rpc_modules", None)), MODULES_REPLY)
        self.assertEqual(rt.curl_unix(p.sock, '{"jsonrpc":"2.0","id":1,"method":"rpc_modules",'
                                      '"params":null}'), MODULES_REPLY)
        # geth's errors for params, as for any method taking none
        self.assertEqual(rt.stream_call(p.sock, rt.req("rpc_modules", [1])),
                         rt.err_reply(-32602, "too many arguments, want at most 0"))
        self.assertEqual(rt.curl_unix(p.sock, rt.req("rpc_modules", {"a": 1})),
                         rt.err_reply(-32602, "non-array args"))
        r = gotrace(["call", p.sock, "rpc_modules", "[1]"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("too many arguments, want at most 0 (code -32602)", r.stderr)
        # a notification: no reply; in a batch, beside the debug methods
        self.assertEqual(rt.stream_call(p.sock, rt.req("rpc_modules", [], id=None)), b"")
        batch = "[" + rt.req("rpc_modules", [], id=1) + "," + \
            rt.req("debug_stopGoTrace", [], id=2) + "]"
        self.assertEqual(json.loads(rt.stream_call(p.sock, batch)), [
            {"jsonrpc": "2.0", "id": 1, "result": {"debug": "1.0", "rpc": "1.0"}},
            {"jsonrpc": "2.0", "id": 2,
             "error": {"code": -32000, "message": "trace not in progress"}}])
        rt.check_still_serves(self, p, self.d)

    def test_http(self):
        port = gt.free_port()
        p = self.program(env={"GOTRACE_HTTP": f"127.0.0.1:{port}"})
        gt.wait_until(lambda: tcp_up(port), what=f"GOTRACE_HTTP port {port}")
        hdr = ["-H", "Content-Type: application/json"]
        self.assertEqual(rt.curl([*hdr, "--data", rt.req("rpc_modules", []),
                                  f"http://127.0.0.1:{port}"]), MODULES_REPLY)
        for url in (f"http://127.0.0.1:{port}", f"http://localhost:{port}/",
                    f"HTTP://127.0.0.1:{port}/some/path?x=1#frag"):
            with self.subTest(url=url):
                r = gotrace(["call", url, "rpc_modules"])
                self.assertEqual((r.returncode, r.stdout, r.stderr), (0, MODULES + "\n", ""))
        # an error over HTTP is geth's too
        r = gotrace(["call", f"http://127.0.0.1:{port}", "debug_stopGoTrace"])
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stderr, "gotrace: debug_stopGoTrace: trace not in progress "
                                   "(code -32000)\n")


# ---------------------------------------------------------------- attach http://

class HttpClient(rt.RpcCase):
    """As test_client.py's Client (the program in a cwd of its own, the
    client elsewhere), with GOTRACE_HTTP."""

    def setUp(self):
        super().setUp()
        self.prog_cwd = self.d / "prog"
        self.cli_cwd = self.d / "cli"
        self.prog_cwd.mkdir()
        self.cli_cwd.mkdir()
        self.port = gt.free_port()
        self.p = self.program(cwd=str(self.prog_cwd),
                              env={"GOTRACE_HTTP": f"127.0.0.1:{self.port}"})
        gt.wait_until(lambda: tcp_up(self.port), what=f"GOTRACE_HTTP port {self.port}")
        self.url = f"http://127.0.0.1:{self.port}"

    def ok(self, args, **kw):
        r = gotrace(args, cwd=self.cli_cwd, **kw)
        self.assertEqual(r.returncode, 0, f"gotrace {args}: {r.stderr}")
        return r

    def test_attach_exec(self):
        for stmt in ("rpc.modules", "rpc.modules()", " rpc.modules ;"):
            with self.subTest(stmt=stmt):
                r = self.ok(["attach", self.url, "--exec", stmt])
                self.assertEqual(r.stdout, MODULES + "\n")
        r = self.ok(["attach", self.url, "--exec", 'debug.startGoTrace("a.trace")'])
        self.assertEqual(r.stdout, "null\n")
        time.sleep(0.2)
        r = self.ok(["attach", self.url + "/", "--exec", "debug.stopGoTrace()"])
        self.assertEqual(r.stdout, "null\n")
        rt.parses(self, self.cli_cwd / "a.trace")
        t0 = time.monotonic()
        r = self.ok(["attach", self.url, "--exec", "debug.goTrace('b.trace', 1)"])
        self.assertGreaterEqual(time.monotonic() - t0, 0.95, "goTrace(f, 1) answered before 1 s")
        self.assertEqual(r.stdout, "null\n")
        rt.parses(self, self.cli_cwd / "b.trace")
        self.assertEqual(os.listdir(self.prog_cwd), [], "nothing written in the program's cwd")
        r = gotrace(["attach", self.url, "--exec", "debug.stopGoTrace()"], cwd=self.cli_cwd)
        self.assertEqual(r.returncode, 1)
        self.assertIn("trace not in progress", r.stderr)
        r = gotrace(["attach", self.url, "--exec", "rpc.nothing"], cwd=self.cli_cwd)
        self.assertEqual(r.returncode, 2, "not a call, not a property: a usage error")
        rt.check_still_serves(self, self.p, self.d)

    def test_attach_stdin(self):
        r = self.ok(["attach", self.url],
                    input='debug.startGoTrace("c.trace")\nrpc.modules\n'
                          'debug.startGoTrace("d.trace")\ndebug.stopGoTrace()\nexit\n'
                          'debug.startGoTrace("e.trace")\n')
        self.assertEqual(r.stdout.splitlines(), ["null", MODULES, "null"], r.stdout)
        self.assertIn("trace already in progress", r.stderr)
        rt.parses(self, self.cli_cwd / "c.trace")
        for f in ("d.trace", "e.trace"):
            self.assertFalse((self.cli_cwd / f).exists(), f)

    def test_commands_take_the_url(self):
        r = self.ok(["start", self.url, "f.trace"])
        self.assertIn(str(self.cli_cwd / "f.trace"), r.stderr)
        self.ok(["stop", self.url])
        rt.parses(self, self.cli_cwd / "f.trace")
        self.ok(["trace", self.url, "g.trace", "1"])
        rt.parses(self, self.cli_cwd / "g.trace")
        r = self.ok(["call", self.url, "debug_startGoTrace", f'["{self.cli_cwd / "h.trace"}"]'])
        self.assertEqual(r.stdout, "null\n")
        r = self.ok(["call", self.url, "debug_stopGoTrace", "[]"])
        rt.parses(self, self.cli_cwd / "h.trace")
        self.assertEqual(os.listdir(self.prog_cwd), [])

    def test_refused_urls(self):
        port = self.port
        cases = [  # (url, what stderr says)
            (f"https://127.0.0.1:{port}", "https is not supported"),
            (f"HTTPS://localhost:{port}/", "https is not supported"),
            (f"ws://127.0.0.1:{port}", "ws:// is not supported"),
            (f"http://0.0.0.0:{port}", "0.0.0.0 is not a loopback address"),
            (f"http://[::]:{port}", "[::] is not a loopback address"),
            ("http://127.0.0.1:notaport", "bad URL: port notaport"),
            ("http://127.0.0.1:99999", "bad URL: port 99999"),
            (f"http://u:pw@127.0.0.1:{port}", "user info"),
            (f"http://[::1:{port}", "bad URL"),
            (f"http://::1:{port}", "in brackets"),
            ("http://", "bad URL: no host"),
        ]
        for url, msg in cases:
            for args in (["attach", url], ["attach", url, "--exec", "rpc.modules"],
                         ["call", url, "rpc_modules"], ["stop", url]):
                with self.subTest(args=args):
                    r = gotrace(args, cwd=self.cli_cwd, input="rpc.modules\n")
                    self.assertEqual(r.returncode, 2, f"{args}: {r.stderr}")
                    self.assertTrue(r.stderr.startswith(f"gotrace: {url}: "), r.stderr)
                    self.assertIn(msg, r.stderr)
                    self.assertEqual(r.stdout, "")
        self.assertEqual(os.listdir(self.cli_cwd), [])

    def test_refused_hosts_off_this_machine(self):
        """Hosts that are not loopback: refused before any connection or
        name look-up, in a network namespace of our own (nothing can leave
        it, whatever the client did)."""
        pre = netns_prefix()
        if pre is None:
            self.skipTest("no network namespace can be made here (unshare -rn / -n)")
        for url in ("http://10.1.2.3:8551", "http://192.0.2.1/", "http://example.invalid:8551",
                    "http://[2001:db8::1]:8551", "http://127.0.0.1.example.invalid:8551"):
            for args in (["attach", url, "--exec", "rpc.modules"], ["call", url, "rpc_modules"]):
                with self.subTest(args=args):
                    r = subprocess.run(pre + [str(gt.CLIENT), *args], capture_output=True,
                                       text=True, timeout=30, env=gt.plain_env())
                    self.assertEqual(r.returncode, 2, r.stderr)
                    self.assertTrue(r.stderr.startswith(f"gotrace: {url}: "), r.stderr)
                    self.assertIn("is not a loopback address", r.stderr)
                    self.assertIn("sends nothing off this machine", r.stderr)

    def test_refused_connection(self):
        free = gt.free_port()
        url = f"http://127.0.0.1:{free}"
        for args, inp in ((["attach", url, "--exec", "rpc.modules"], None),
                          (["call", url, "rpc_modules"], None),
                          (["attach", url], "rpc.modules\n")):
            with self.subTest(args=args):
                r = gotrace(args, cwd=self.cli_cwd, input=inp)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertEqual(r.stderr, f"gotrace: connect {url}: Connection refused (is the "
                                           f"program running with GOTRACE_HTTP=127.0.0.1:{free}?)\n")

    def test_http_status_is_said(self):
        """A server that is not gotrace's (or refuses the request) answers
        with an HTTP status: said as such, exit status 1."""
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        self.addCleanup(srv.close)
        port = srv.getsockname()[1]
        proc = subprocess.Popen([str(gt.CLIENT), "call", f"http://127.0.0.1:{port}",
                                 "rpc_modules"], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=gt.plain_env())
        srv.settimeout(20)
        c, _ = srv.accept()
        with c:
            got = b""
            while b"\r\n\r\n" not in got:
                got += c.recv(4096)
            head, _, body = got.partition(b"\r\n\r\n")
            head = head.decode()
            length = int(re.search(r"\r\nContent-Length: (\d+)\r\n", head).group(1))
            while len(body) < length:   # all of it read: a close then sends no RST
                body += c.recv(4096)
            self.assertEqual(json.loads(body)["method"], "rpc_modules")
            self.assertTrue(head.startswith("POST / HTTP/1.1\r\n"), head)
            self.assertIn("\r\nContent-Type: application/json\r\n", head)
            self.assertIn(f"\r\nHost: 127.0.0.1:{port}\r\n", head)
            c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
                      b"Content-Length: 23\r\n\r\ninvalid host specified\n")
        out, err = proc.communicate(timeout=20)
        self.assertEqual(proc.returncode, 1, err)
        self.assertEqual(err, f"gotrace: http://127.0.0.1:{port}: HTTP 403 Forbidden: "
                              "invalid host specified\n")


# ---------------------------------------------------------------- the console on a terminal

class Pty:
    """gotrace attach on a pseudo-terminal: type, and wait for output."""

    def __init__(self, testcase, args, cwd, env):
        self.tc = testcase
        master, slave = os.openpty()
        self.fd = master
        self.proc = subprocess.Popen([str(gt.CLIENT), *args], stdin=slave, stdout=slave,
                                     stderr=slave, cwd=cwd, env=env, start_new_session=True)
        os.close(slave)
        self.out = b""
        self.mark = 0
        testcase.addCleanup(self.close)

    def expect(self, text, timeout=20):
        """Wait until text shows after the mark; move the mark past it.
        Returns what came between the mark and it."""
        end = time.monotonic() + timeout
        while True:
            s = self.out[self.mark:].decode(errors="replace")
            i = s.find(text)
            if i >= 0:
                self.mark += len(s[:i + len(text)].encode())
                return s[:i]
            left = end - time.monotonic()
            if left <= 0:
                self.tc.fail(f"no {text!r} in the console's output after {timeout}s: {s!r}")
            r, _, _ = select.select([self.fd], [], [], min(left, 0.2))
            if r:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError as e:   # EIO: the other side closed
                    if e.errno != errno.EIO:
                        raise
                    chunk = b""
                if not chunk:
                    self.tc.fail(f"the console ended before {text!r}: {s!r}")
                self.out += chunk

    def type(self, data):
        os.write(self.fd, data.encode() if isinstance(data, str) else data)

    def wait_editing(self, timeout=20):
        """Wait until the line editor has the terminal (not canonical). It
        prints the prompt before it takes it, and keys typed in between
        would be the kernel's (echoed, ^D an EOF mark) rather than its own:
        a person never types that fast, a test does."""
        end = time.monotonic() + timeout
        while termios.tcgetattr(self.fd)[3] & termios.ICANON:
            if time.monotonic() > end:
                self.tc.fail("the line editor never took the terminal (still canonical)")
            time.sleep(0.01)

    def wait(self, timeout=20):
        end = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < end:
            r, _, _ = select.select([self.fd], [], [], 0.1)
            if r:
                try:
                    self.out += os.read(self.fd, 65536)
                except OSError:
                    pass
        return self.proc.wait(1)

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        try:
            os.close(self.fd)
        except OSError:
            pass


UP = "\x1b[A"          # the up-arrow key of an xterm (normal cursor mode)
UP_APP = "\x1bOA"      # the same key in application cursor mode
BACKSPACE = "\x7f"


class Console(rt.RpcCase):
    def setUp(self):
        super().setUp()
        self.home = self.d / "home"
        self.cli_cwd = self.d / "cli"
        self.home.mkdir()
        self.cli_cwd.mkdir()
        self.p = self.program()
        self.env = gt.plain_env({"HOME": str(self.home), "TERM": "xterm"})
        self.hist = self.home / ".gotrace_history"

    def console(self, target=None):
        c = Pty(self, ["attach", target or self.p.sock], str(self.cli_cwd), self.env)
        greeting = c.expect("type exit\r\n")
        c.expect("> ")
        self.editing = libedit_state() == "found"
        self.assertIn(f"attached to {target or self.p.sock}", greeting)
        self.assertIn(" modules: debug:1.0 rpc:1.0", greeting)
        return c

    def ready(self, c):
        if self.editing:
            c.wait_editing()

    def run_line(self, c, keys, want):
        """Type keys (ending in Enter); the result line, then the prompt."""
        self.ready(c)
        c.type(keys)
        got = c.expect(want + "\r\n")
        c.expect("> ")
        return got

    def history(self):
        """The statements in the history file (libedit's format: a
        "_HiStOrY_V2_" line, then one entry a line, spaces as \\040)."""
        lines = self.hist.read_text().splitlines()
        self.assertEqual(lines[0], "_HiStOrY_V2_")
        return [re.sub(r"\\(\d{3})", lambda m: chr(int(m.group(1), 8)), line)
                for line in lines[1:]]

    def test_line_editing_and_history(self):
        require_libedit(self)
        c = self.console()
        # a wrong character, backspace, Enter: the corrected line runs
        self.run_line(c, 'debug.startGoTrace("a.tracX' + BACKSPACE + 'e")\r', "null")
        self.assertTrue((self.cli_cwd / "a.trace").exists(), os.listdir(self.cli_cwd))
        self.assertFalse((self.cli_cwd / "a.tracX").exists())
        # cursor movement: Left over the last characters, a character inserted
        self.run_line(c, "debug.stopGoTrace)" + "\x1b[D" + "(" + "\r", "null")
        rt.parses(self, self.cli_cwd / "a.trace")
        # up-arrow twice: the start again (it overwrites a.trace); then the
        # stop, by the application-mode key
        os.unlink(self.cli_cwd / "a.trace")
        self.run_line(c, UP + UP + "\r", "null")
        self.assertTrue((self.cli_cwd / "a.trace").exists(), "up-arrow did not recall the start")
        self.run_line(c, UP_APP + UP_APP + "\r", "null")
        rt.parses(self, self.cli_cwd / "a.trace")
        got = self.run_line(c, "rpc.modules\r", MODULES)
        self.assertNotIn("Error", got)
        self.ready(c)
        c.type("exit\r")
        self.assertEqual(c.wait(), 0)
        # the history file: 0600, the statements as run, without exit
        self.assertEqual(stat.S_IMODE(self.hist.stat().st_mode), 0o600)
        self.assertEqual(self.history(), ['debug.startGoTrace("a.trace")', "debug.stopGoTrace()",
                                          'debug.startGoTrace("a.trace")', "debug.stopGoTrace()",
                                          "rpc.modules"])
        # the next console recalls it (Ctrl-D leaves)
        c = self.console()
        self.run_line(c, UP + "\r", MODULES)
        self.ready(c)
        c.type("\x04")
        self.assertEqual(c.wait(), 0)
        self.assertEqual(self.history()[-1], "rpc.modules")

    def test_console_on_http(self):
        require_libedit(self)
        port = gt.free_port()
        p = self.program(socket=str(self.d / "h.sock"),
                         env={"GOTRACE_HTTP": f"127.0.0.1:{port}"})
        gt.wait_until(lambda: tcp_up(port), what=f"GOTRACE_HTTP port {port}")
        c = self.console(f"http://127.0.0.1:{port}")
        self.run_line(c, "rpc.modules()\r", MODULES)
        self.run_line(c, 'debug.goTrace("g.trace", 1)\r', "null")
        self.run_line(c, UP + "\r", "null")
        self.ready(c)
        c.type("exit\r")
        self.assertEqual(c.wait(), 0)
        rt.parses(self, self.cli_cwd / "g.trace")
        self.assertEqual(self.history(), ["rpc.modules()", 'debug.goTrace("g.trace", 1)'])
        self.assertTrue(p.alive())

    def test_plain_lines_without_libedit(self):
        """Without libedit the console on a terminal still prompts and runs
        lines (the terminal's own erase), and keeps no history."""
        if libedit_state() == "found":
            self.skipTest("built with libedit: test_line_editing_and_history covers the terminal")
        c = self.console()
        self.run_line(c, 'debug.startGoTrace("a.tracX' + BACKSPACE + 'e")\r', "null")
        self.run_line(c, "debug.stopGoTrace()\r", "null")
        self.ready(c)
        c.type("exit\r")
        self.assertEqual(c.wait(), 0)
        rt.parses(self, self.cli_cwd / "a.trace")
        self.assertFalse(self.hist.exists())

    def test_piped_statements_unchanged(self):
        """Not a terminal: no prompt, no greeting, no history written; the
        results one a line, as before."""
        r = gotrace(["attach", self.p.sock], cwd=self.cli_cwd, env={"HOME": str(self.home)},
                    input='debug.startGoTrace("p.trace")\n\nrpc.modules\n  \n'
                          'debug.stopGoTrace()\nnot a call\n')
        self.assertEqual(r.stdout, "null\n" + MODULES + "\nnull\n")
        self.assertEqual(r.stderr, "Error: not a call: not a call (try debug.stopGoTrace())\n")
        self.assertEqual(r.returncode, 2, "the last statement's status, as before")
        self.assertFalse(self.hist.exists(), "history written for piped statements")
        self.assertEqual(os.listdir(self.home), [])
        rt.parses(self, self.cli_cwd / "p.trace")


if __name__ == "__main__":
    unittest.main(verbosity=2)
