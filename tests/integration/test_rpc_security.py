"""The JSON-RPC endpoint's defences (helpers from test_rpc.py).

  another uid cannot use the endpoint: the socket is 0600, and even a
     socket made world-writable refuses a peer of another uid;
  an unsafe endpoint directory (a symlink, another owner's) is refused with
     a "gotrace:" message and the program runs on as usual;
  GOTRACE_HTTP refuses non-loopback addresses;
  limits: an oversized stream request, a client that never reads, 100 idle
     connections, the idle time-out (GOTRACE_RPC_IDLE_MS)."""
import os
import socket
import stat
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

NOBODY = 65534
CONNECT_AS_NOBODY = r"""
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(5)
try:
    s.connect(sys.argv[1])
except OSError as e:
    print("CONNECT-REFUSED", e.errno, e.strerror)
    sys.exit(0)
data = b""
try:
    s.sendall(b'{"jsonrpc":"2.0","id":1,"method":"debug_stopGoTrace","params":[]}\n')
    while True:
        c = s.recv(4096)
        if not c:
            break
        data += c
except OSError as e:
    print("IO-ERROR", e.errno, e.strerror, repr(data))
    sys.exit(0)
print("REPLY", repr(data))
"""


def as_nobody(sock):
    r = subprocess.run(["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups",
                        sys.executable, "-c", CONNECT_AS_NOBODY, sock],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, f"setpriv/python as nobody: {r.returncode} {r.stderr}"
    return r.stdout.strip()


class OtherUid(rt.RpcCase):
    def setUp(self):
        super().setUp()
        os.chmod(self.d, 0o755)   # nobody may reach the socket file itself

    def test_nobody_cannot_connect(self):
        p = self.program()
        self.assertEqual(stat.S_IMODE(os.lstat(p.sock).st_mode), 0o600)
        out = as_nobody(p.sock)
        self.assertTrue(out.startswith("CONNECT-REFUSED 13 "), out)   # EACCES
        rt.check_still_serves(self, p, self.d)

    def test_nobody_refused_by_peer_uid(self):
        """Even with the socket file opened up (chmod 0666 by hand), a peer of
        another uid gets no answer: the server checks SO_PEERCRED."""
        p = self.program()
        os.chmod(p.sock, 0o666)
        out = as_nobody(p.sock)
        self.assertNotIn("jsonrpc", out, "a peer of another uid was answered")
        self.assertTrue(out == "REPLY b''" or out.startswith("IO-ERROR"), out)
        rt.check_still_serves(self, p, self.d)

    def test_nobody_cannot_reach_default_dir(self):
        xdg = self.d / "xdg"
        xdg.mkdir()
        os.chmod(xdg, 0o755)
        p = rt.Program(self.d, env={"XDG_RUNTIME_DIR": str(xdg)}, socket=None, wait=False)
        self.addCleanup(p.stop)
        sock = str(xdg / "gotrace" / f"{p.pid}.sock")
        gt.wait_until(lambda: rt.can_connect(sock), what=sock)
        out = as_nobody(sock)
        self.assertTrue(out.startswith("CONNECT-REFUSED 13 "), out)


class UnsafeDir(rt.RpcCase):
    N = 50

    def run_short(self, xdg):
        r = gt.run_traced([gt.program("demo_server"), str(self.N)], None, socket=None,
                          env={"XDG_RUNTIME_DIR": str(xdg)}, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, rt.SHORT_OUT.format(n=self.N))
        return r

    def test_symlink_dir_refused(self):
        xdg, target = self.d / "xdg", self.d / "elsewhere"
        xdg.mkdir()
        target.mkdir(mode=0o700)
        os.symlink(target, xdg / "gotrace")
        r = self.run_short(xdg)
        self.assertIn("gotrace:", r.stderr)
        self.assertIn(str(xdg / "gotrace"), r.stderr)
        self.assertIn("symlink", r.stderr)
        self.assertEqual(os.listdir(target), [], "a socket was made through the symlink")
        self.assertTrue(os.path.islink(xdg / "gotrace"))

    def test_foreign_dir_refused(self):
        xdg = self.d / "xdg"
        xdg.mkdir()
        (xdg / "gotrace").mkdir(mode=0o700)
        os.chown(xdg / "gotrace", NOBODY, NOBODY)
        r = self.run_short(xdg)
        self.assertIn("gotrace:", r.stderr)
        self.assertIn("belongs to uid 65534", r.stderr)
        self.assertEqual(os.listdir(xdg / "gotrace"), [])

    def test_loose_dir_mode_tightened(self):
        """Our own directory with a loose mode is made 0700 again."""
        xdg = self.d / "xdg"
        xdg.mkdir()
        (xdg / "gotrace").mkdir()
        os.chmod(xdg / "gotrace", 0o777)
        p = rt.Program(self.d, n=self.N, env={"XDG_RUNTIME_DIR": str(xdg)}, socket=None,
                       wait=False)
        self.addCleanup(p.stop)
        rc, out, err = p.finish()
        self.assertEqual((rc, out, err), (0, rt.SHORT_OUT.format(n=self.N), ""))
        self.assertEqual(stat.S_IMODE(os.stat(xdg / "gotrace").st_mode), 0o700)

    def test_http_non_loopback_refused(self):
        port = gt.free_port()
        p = self.program(env={"GOTRACE_HTTP": f"0.0.0.0:{port}"})
        time.sleep(0.2)
        for host in ("127.0.0.1", "0.0.0.0"):
            with self.assertRaises(OSError, msg=f"{host}:{port} accepts"):
                socket.create_connection((host, port), 1).close()
        rt.check_still_serves(self, p, self.d)   # the Unix socket still serves
        out, err = p.stop()
        self.assertIn("gotrace:", err)
        self.assertIn("not a loopback address", err)


class Limits(rt.RpcCase):
    def test_oversized_stream_request(self):
        p = self.program()
        big = b'{"jsonrpc":"2.0","id":1,"method":"debug_startGoTrace","params":["' + \
            b"a" * (2 << 20) + b'"]}'
        s = rt.connect(p.sock, timeout=10)
        self.addCleanup(s.close)
        sent = [0]

        def send():
            try:
                for i in range(0, len(big), 65536):
                    s.sendall(big[i:i + 65536])
                    sent[0] = i + 65536
            except OSError:
                pass
        t = threading.Thread(target=send, daemon=True)
        t.start()
        got, closed = b"", None
        while closed is None:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:   # it closed with our bytes unread
                closed = "reset"
                break
            if not chunk:
                closed = "eof"
            got += chunk
        t.join(10)
        self.assertLess(sent[0], len(big), "the server read all 2 MiB")
        self.assertEqual(got, rt.err_reply(-32600, "request too large (max 1048576 bytes)",
                                           None))
        self.assertTrue(p.alive())
        rt.check_still_serves(self, p, self.d)

    def test_client_that_never_reads(self):
        """A client pipelines requests whose replies (~4 MiB) it never reads;
        the program runs and others are served meanwhile."""
        p = self.program()
        one = rt.req("debug_stopGoTrace", [], id="x" * 2000).encode()
        hog = rt.connect(p.sock, timeout=5)
        self.addCleanup(hog.close)
        sent = [0]

        def flood():
            try:
                for _ in range(2000):
                    hog.sendall(one)
                    sent[0] += 1
            except OSError:
                pass
        t = threading.Thread(target=flood, daemon=True)
        t.start()
        time.sleep(1.0)
        for i in range(3):
            t0 = time.monotonic()
            self.assertEqual(rt.stream_call(p.sock, rt.req("debug_stopGoTrace", [], id=i),
                                            timeout=5),
                             rt.err_reply(-32000, "trace not in progress", i))
            self.assertLess(time.monotonic() - t0, 2)
        rt.check_still_serves(self, p, self.d)
        t.join(10)
        self.assertLess(sent[0], 2000, "the server took all requests of a client that "
                        "reads no replies (its buffer for that client has no bound)")
        hog.close()
        rt.check_still_serves(self, p, self.d, "after2.trace")

    def test_100_idle_connections(self):
        p = self.program()
        idle = []
        self.addCleanup(lambda: [c.close() for c in idle])
        for _ in range(100):
            idle.append(rt.connect(p.sock))
        time.sleep(0.3)
        t0 = time.monotonic()
        self.assertEqual(rt.stream_call(p.sock, rt.req("debug_stopGoTrace", []), timeout=5),
                         rt.err_reply(-32000, "trace not in progress"))
        self.assertLess(time.monotonic() - t0, 2)
        # the newest idle connection is still served too
        idle[-1].sendall(rt.req("debug_stopGoTrace", [], id=2).encode())
        self.assertEqual(rt.recv_line(idle[-1]), rt.err_reply(-32000, "trace not in progress", 2))
        rt.check_still_serves(self, p, self.d)

    def test_idle_timeout(self):
        p = self.program(env={"GOTRACE_RPC_IDLE_MS": "200"})
        s = rt.connect(p.sock, timeout=5)
        self.addCleanup(s.close)
        t0 = time.monotonic()
        self.assertEqual(s.recv(100), b"", "an idle connection was not closed")
        took = time.monotonic() - t0
        self.assertGreater(took, 0.15)
        self.assertLess(took, 2)
        # a connection in use is answered; idle again, it is closed again
        s2 = rt.connect(p.sock, timeout=5)
        self.addCleanup(s2.close)
        for i in range(3):
            time.sleep(0.1)
            s2.sendall(rt.req("debug_stopGoTrace", [], id=i).encode())
            self.assertEqual(rt.recv_line(s2), rt.err_reply(-32000, "trace not in progress", i))
        self.assertEqual(s2.recv(100), b"")
        rt.check_still_serves(self, p, self.d)
        # a held debug_goTrace outlives the idle time-out
        s3 = rt.connect(p.sock, timeout=5)
        self.addCleanup(s3.close)
        s3.sendall(rt.req("debug_goTrace", [str(self.d / "held.trace"), 1]).encode())
        self.assertEqual(rt.recv_line(s3), rt.NULL_REPLY)
        rt.parses(self, self.d / "held.trace")


if __name__ == "__main__":
    unittest.main()
