"""GOTRACE_FILE and processes.

  %p in the name becomes the pid: one trace per process that loads the
     library (the parent and the child it execs; the forked child that does
     not exec drops the parent's session);
  without %p only one process traces: a parent that forks and execs
     children under GOTRACE_FILE gives exactly one trace, the parent's;
  GOTRACE_OWNER=<pid> makes only that process trace."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

SPAWN_OUT = "spawn: fork child exit 3\nspawn: exec child exit 0\n"


def popen_traced(argv, trace, env=None):
    p = subprocess.Popen([str(a) for a in argv], env=gt.traced_env(trace, env),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=60)
    return p.pid, p.returncode, out, err


class Processes(unittest.TestCase):
    def test_pid_in_name(self):
        with gt.tempdir() as d:
            pid, rc, out, err = popen_traced([gt.program("tree")], d / "t-%p.trace")
            self.assertEqual(rc, 0, err)
            self.assertEqual(sorted(os.listdir(d)), [f"t-{pid}.trace"])
            ev = gt.trace_events(str(d / f"t-{pid}.trace"))
            self.assertEqual(len(gt.created_goroutines(ev)), 19)

    def test_pid_in_name_with_children(self):
        with gt.tempdir() as d:
            pid, rc, out, err = popen_traced(
                [gt.program("spawn"), gt.program("tree")], d / "t-%p.trace")
            self.assertEqual(rc, 0, err)
            self.assertTrue(out.endswith(SPAWN_OUT), out)
            files = sorted(os.listdir(d))
            self.assertIn(f"t-{pid}.trace", files)
            self.assertIn(len(files), (2, 3), f"parent, exec'd child [, forked child]: {files}")
            groups = {}
            for f in files:
                ev = gt.trace_events(str(d / f))   # every file parses
                self.assertNotIn("running", gt.goroutine_states(ev).values(), f)
                groups[f] = gt.goroutine_groups(gt.check_ui(str(d / f), mmu="some"))
            parent = groups.pop(f"t-{pid}.trace")
            self.assertEqual(parent, {"main": 1, "parent_worker": 1})
            self.assertIn({"main": 1, "alpha": 6, "beta": 12}, groups.values(),
                          f"the exec'd child's trace is missing: {groups}")
            for g in groups.values():
                self.assertNotIn("parent_worker", g, "a child wrote the parent's events")

    def test_children_without_pid_do_not_trace(self):
        with gt.tempdir() as d:
            trace = d / "one.trace"
            r = gt.run_traced([gt.program("spawn"), gt.program("tree")], trace, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertTrue(r.stdout.endswith(SPAWN_OUT), r.stdout)
            self.assertEqual(sorted(os.listdir(d)), ["one.trace"])
            ev = gt.trace_events(str(trace))
            self.assertEqual(len(gt.created_goroutines(ev)), 2, "main + parent_worker only")
            self.assertEqual(gt.goroutine_groups(gt.check_ui(str(trace), mmu="some")),
                             {"main": 1, "parent_worker": 1})

    def test_owner_other_pid_does_not_trace(self):
        with gt.tempdir() as d:
            trace = d / "t.trace"
            r = gt.run_traced([gt.program("tree")], trace, env={"GOTRACE_OWNER": "1"})
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "tree: 6 alpha, 12 beta, sum 506\n")
            self.assertEqual(os.listdir(d), [], "a process that is not the owner wrote a trace")

    def test_owner_own_pid_traces(self):
        """sh (not preloaded) sets GOTRACE_OWNER to its own pid and execs."""
        with gt.tempdir() as d:
            trace = d / "t.trace"
            script = (f'GOTRACE_OWNER=$$ LD_PRELOAD="{gt.LIB}" GOTRACE_FILE="{trace}" '
                      f'GOTRACE_SOCKET=off exec "{gt.program("tree")}"')
            r = gt.run_plain(["/bin/sh", "-c", script])
            self.assertEqual(r.returncode, 0, r.stderr)
            ev = gt.trace_events(str(trace))
            self.assertEqual(len(gt.created_goroutines(ev)), 19)


if __name__ == "__main__":
    unittest.main()
