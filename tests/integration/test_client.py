"""The `gotrace` client against a running program's endpoint (helpers from
test_rpc.py):

  attach --exec runs geth's console statements (debug.startGoTrace("f"),
     debug.stopGoTrace(), debug.goTrace("f", 1)) and prints what geth's
     console prints, `null`; the interactive console takes the same lines on
     stdin; the traces written parse with `go tool trace -d`;
  start / stop / trace / call: a relative FILE is the client's, not the
     program's working directory; exit status 0 on success, 1 on an RPC
     error (geth's message on stderr), 2 on a usage error;
  a PID finds the program's socket in the default directory;
  ps lists the live endpoint (pid, socket, command) and removes a stale
     socket left by a killed process."""
import os
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import gttest as gt  # noqa: E402
import test_rpc as rt  # noqa: E402  (module only: its tests are not run here)


def gotrace(args, cwd=None, env=None, input=None, timeout=60):
    assert gt.CLIENT.exists(), f"{gt.CLIENT} missing: build with meson first"
    return gt.run_plain([gt.CLIENT, *map(str, args)], cwd=cwd, env=env, input=input,
                        timeout=timeout)


class Client(rt.RpcCase):
    def setUp(self):
        super().setUp()
        # The program runs elsewhere than the client: relative names must
        # land in the client's directory.
        self.prog_cwd = self.d / "prog"
        self.cli_cwd = self.d / "cli"
        self.prog_cwd.mkdir()
        self.cli_cwd.mkdir()
        self.p = self.program(cwd=str(self.prog_cwd))

    def ok(self, args, **kw):
        r = gotrace(args, cwd=self.cli_cwd, **kw)
        self.assertEqual(r.returncode, 0, f"gotrace {args}: {r.stderr}")
        return r

    def test_attach_exec_doc_examples(self):
        sock = self.p.sock
        r = self.ok(["attach", sock, "--exec", 'debug.startGoTrace("a.trace")'])
        self.assertEqual(r.stdout, "null\n")
        time.sleep(0.2)
        r = self.ok(["attach", sock, "--exec", "debug.stopGoTrace()"])
        self.assertEqual(r.stdout, "null\n")
        rt.parses(self, self.cli_cwd / "a.trace")
        t0 = time.monotonic()
        r = self.ok(["attach", sock, "--exec", "debug.goTrace('b.trace', 1)"])
        self.assertGreaterEqual(time.monotonic() - t0, 0.95, "goTrace(f, 1) answered before 1 s")
        self.assertEqual(r.stdout, "null\n")
        rt.parses(self, self.cli_cwd / "b.trace")
        self.assertEqual(os.listdir(self.prog_cwd), [], "nothing written in the program's cwd")
        # geth's error, and the program runs on
        r = gotrace(["attach", sock, "--exec", "debug.stopGoTrace()"], cwd=self.cli_cwd)
        self.assertEqual(r.returncode, 1)
        self.assertIn("trace not in progress", r.stderr)
        rt.check_still_serves(self, self.p, self.d)

    def test_attach_console_stdin(self):
        r = self.ok(["attach", self.p.sock],
                    input='debug.startGoTrace("c.trace")\ndebug.startGoTrace("d.trace")\n'
                          'debug.stopGoTrace()\n')
        lines = r.stdout.splitlines()
        self.assertEqual(lines.count("null"), 2, r.stdout)
        self.assertIn("trace already in progress", r.stdout + r.stderr)
        rt.parses(self, self.cli_cwd / "c.trace")
        self.assertFalse((self.cli_cwd / "d.trace").exists())

    def test_start_stop_trace_call(self):
        sock = self.p.sock
        r = self.ok(["start", sock, "e.trace"])
        self.assertIn(str(self.cli_cwd / "e.trace"), r.stderr, "tells where the trace goes")
        r = gotrace(["start", sock, "f.trace"], cwd=self.cli_cwd)
        self.assertEqual((r.returncode, "trace already in progress" in r.stderr), (1, True),
                         r.stderr)
        self.ok(["stop", sock])
        rt.parses(self, self.cli_cwd / "e.trace")
        r = self.ok(["trace", sock, "g.trace", "1"])
        self.assertIn("gotrace view", r.stderr, "tells how to open it")
        rt.parses(self, self.cli_cwd / "g.trace")
        r = self.ok(["call", sock, "debug_startGoTrace", f'["{self.cli_cwd / "h.trace"}"]'])
        self.assertEqual(r.stdout.strip(), "null")
        r = self.ok(["call", sock, "debug_stopGoTrace"])
        self.assertEqual(r.stdout.strip(), "null")
        rt.parses(self, self.cli_cwd / "h.trace")
        self.assertEqual(os.listdir(self.prog_cwd), [])

    def test_rpc_errors_exit_1(self):
        sock = self.p.sock
        for args, msg in ((["stop", sock], "trace not in progress"),
                          (["call", sock, "debug_nope"], "does not exist"),
                          (["call", sock, "debug_stopGoTrace", "[1]"], "too many arguments"),
                          (["start", sock, "/nonexistent-dir/x.trace"],
                           "no such file or directory"),
                          (["stop", str(self.d / "no.sock")], "no.sock")):
            with self.subTest(args=args):
                r = gotrace(args, cwd=self.cli_cwd)
                self.assertEqual(r.returncode, 1, r.stderr)
                self.assertIn(msg, r.stderr)
                self.assertTrue(r.stderr.startswith("gotrace: "), r.stderr)
        self.assertTrue(self.p.alive())

    def test_usage_errors_exit_2(self):
        sock = self.p.sock
        for args in ([], ["frobnicate"], ["start", sock], ["stop"], ["trace", sock, "x.trace"],
                     ["trace", sock, "x.trace", "soon"], ["call", sock],
                     ["call", sock, "debug_stopGoTrace", "[not json"], ["ps", "extra"],
                     ["attach"], ["attach", sock, "--exec", "not a call"], ["run"],
                     ["repair"]):
            with self.subTest(args=args):
                r = gotrace(args, cwd=self.cli_cwd)
                self.assertEqual(r.returncode, 2, f"{args}: {r.stderr}")
                self.assertTrue(r.stderr.strip(), "a usage error says something")
        self.assertEqual(os.listdir(self.cli_cwd), [], "no trace started by a bad command")
        r = rt.stream_call(sock, rt.req("debug_stopGoTrace", []))
        self.assertEqual(r, rt.err_reply(-32000, "trace not in progress"))


class ByPid(unittest.TestCase):
    """PID targets and ps, with the default socket directory
    ($XDG_RUNTIME_DIR/gotrace) of a private XDG_RUNTIME_DIR."""

    def setUp(self):
        cm = gt.tempdir()
        self.d = cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)
        self.rt = self.d / "xdg"
        self.rt.mkdir(mode=0o700)
        self.env = {"XDG_RUNTIME_DIR": str(self.rt)}

    def start(self):
        p = gt.start_traced([gt.program("demo_server"), str(rt.LONG)], None,
                            env=self.env, socket=None)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.communicate()))
        sock = self.rt / "gotrace" / f"{p.pid}.sock"
        gt.wait_until(lambda: rt.can_connect(str(sock)) or p.poll() is not None,
                      what=f"endpoint {sock}")
        self.assertIsNone(p.poll(), "demo_server exited")
        return p, sock

    def test_pid_and_ps(self):
        p, sock = self.start()
        r = gotrace(["ps"], env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = [line.split(None, 2) for line in r.stdout.splitlines()[1:]]
        mine = [row for row in rows if row[0] == str(p.pid)]
        self.assertEqual(len(mine), 1, r.stdout)
        self.assertEqual(mine[0][1], str(sock))
        self.assertIn("demo_server", mine[0][2])
        r = gotrace(["trace", p.pid, self.d / "pid.trace", "1"], env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        gt.trace_events(str(self.d / "pid.trace"))
        r = gotrace(["stop", "999999999"], env=self.env)
        self.assertEqual(r.returncode, 1)
        self.assertIn("999999999", r.stderr)

    def test_environment_written_over(self):
        """A process that writes over its environment (nginx's workers put
        their title there): /proc/PID/environ no longer names its
        XDG_RUNTIME_DIR, and the client finds the endpoint by the socket
        its service thread listens on."""
        prog = gt.compile_c(r"""
#include <string.h>
#include <unistd.h>
extern char **environ;
int main(void)
{
	for (char **e = environ; *e; e++)
		memset(*e, 'x', strlen(*e));
	char c;
	return read(0, &c, 1) < 0;
}
""", self.d / "overwrite")
        p = gt.start_traced([prog], None, env=self.env, socket=None, stdin=subprocess.PIPE)
        self.addCleanup(lambda: (p.poll() is None and p.kill(), p.communicate()))
        sock = self.rt / "gotrace" / f"{p.pid}.sock"
        gt.wait_until(lambda: rt.can_connect(str(sock)), what=f"endpoint {sock}")
        time.sleep(0.2)
        with open(f"/proc/{p.pid}/environ", "rb") as f:
            self.assertNotIn(b"XDG_RUNTIME_DIR", f.read())
        r = gotrace(["stop", p.pid])   # no XDG_RUNTIME_DIR of ours either
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("trace not in progress", r.stderr)
        r = gotrace(["trace", p.pid, self.d / "over.trace", "1"])
        self.assertEqual(r.returncode, 0, r.stderr)
        gt.trace_events(str(self.d / "over.trace"))

    def test_ps_removes_stale_socket(self):
        p, sock = self.start()
        p.kill()   # SIGKILL: no exit handler removes the socket
        p.communicate()
        self.assertTrue(sock.exists(), "a killed process leaves its socket")
        r = gotrace(["ps"], env=self.env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(str(p.pid), r.stdout)
        self.assertFalse(sock.exists(), "ps removes the stale socket")


if __name__ == "__main__":
    unittest.main()
