"""The library under valgrind memcheck: traced programs, a trace driven
through the endpoint with good and bad requests, no memcheck error. Only
libunwind's deliberate probing syscalls are suppressed
(tests/valgrind.supp)."""
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

SUPP = gt.REPO / "tests" / "valgrind.supp"
# valgrind's launcher is itself dynamically linked: preloaded, it would
# start an endpoint of its own before it execs the tool. So the library is
# preloaded by `env` under memcheck, which follows the exec. That exec,
# though, runs the launcher again with env's environment: it too is
# preloaded, opens the same GOTRACE_SOCKET and then execs the tool, same
# pid. Until demo_server's own endpoint replaces it, the path is a socket
# nobody listens on: `connectable` alone can pass too early.
VALGRIND = ["valgrind", "-q", "--error-exitcode=99", f"--suppressions={SUPP}",
            "--num-callers=30", "--track-fds=no", "--trace-children=yes",
            "env", f"LD_PRELOAD={gt.LIB}"]


def vg_env(trace=None, socket="off"):
    env = gt.traced_env(trace, socket=socket)
    del env["LD_PRELOAD"]
    return env
TREE_OUT = "tree: 6 alpha, 12 beta, sum 506\n"


def connectable(path):
    import socket as s
    c = s.socket(s.AF_UNIX)
    try:
        c.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        c.close()


@unittest.skipUnless(shutil.which("valgrind"), "valgrind is not installed")
class Memcheck(unittest.TestCase):
    def test_traced_whole_run(self):
        with gt.tempdir() as d:
            trace = d / "t.trace"
            r = subprocess.run([*VALGRIND, gt.program("tree")], env=vg_env(trace),
                               capture_output=True, text=True, timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, TREE_OUT)
            self.assertNotIn("==", r.stderr, "memcheck reported an error")
            self.assertEqual(len(gt.created_goroutines(gt.trace_events(str(trace)))), 19)

    def test_endpoint_traffic(self):
        with gt.tempdir() as d:
            sock = d / "s.sock"
            # 1500 requests (6 s): it must outlive the calls below under valgrind
            p = subprocess.Popen([*VALGRIND, gt.program("demo_server"), "1500"],
                                 env=vg_env(None, str(sock)), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
            try:
                client = [str(gt.CLIENT)]

                def started():
                    if not connectable(sock):
                        return None
                    r = gt.run_plain([*client, "start", str(sock), str(d / "a.trace")])
                    # refused, or closed before the reply: the launcher's
                    # endpoint (valgrind's launcher is dynamic: it loads
                    # us too), gone with its exec of the tool
                    return None if ("Connection refused" in r.stderr or
                                    "closed before the reply" in r.stderr) else r
                r = gt.wait_until(started, timeout=60, what="demo_server's endpoint")
                if r.returncode != 0:
                    alive = p.poll() is None
                    if alive:
                        p.kill()
                    perr = p.communicate(timeout=60)[1]
                    self.fail(f"{r.stderr}the program "
                              f"{'was running' if alive else f'had exited {p.returncode}'}; "
                              f"its stderr:\n{perr[-3000:]}")
                bad = ['{"jsonrpc":"2.0","method":"debug_foo","id":1}', '{"jsonrpc',
                       '[]', '[1,{"jsonrpc":"2.0","method":"debug_goTrace","params":[1],"id":2}]',
                       'POST / HTTP/1.1\r\nContent-Length: 9999999\r\n\r\n']
                for b in bad:
                    import socket as s
                    c = s.socket(s.AF_UNIX)
                    c.connect(str(sock))
                    c.sendall(b.encode())
                    c.shutdown(s.SHUT_WR)
                    self.assertTrue(c.recv(4096), f"no reply to {b!r}")
                    c.close()
                time.sleep(0.5)
                r = gt.run_plain([*client, "stop", str(sock)])
                self.assertEqual(r.returncode, 0, r.stderr)
                r = gt.run_plain([*client, "trace", str(sock), str(d / "b.trace"), "1"])
                self.assertEqual(r.returncode, 0, r.stderr)
                out, err = p.communicate(timeout=300)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            self.assertEqual(p.returncode, 0, err)
            self.assertNotIn("==", err, "memcheck reported an error")
            for f in ("a.trace", "b.trace"):
                gt.trace_events(str(d / f))


if __name__ == "__main__":
    unittest.main()
