"""Issue 23 (3, 5): the summary on the terminal after `gotrace run`, `trace`
and `stop`, with the process each trace is of; `gotrace run -f`, a trace
per process of the tree, like strace -f -ff.

  label    every trace names its process ("pid 1234: ./app arg..."): the
           string the writer defines first (GT_STR_PROCESS), the main
           goroutine's label in Go's viewer unless the program names its
           main thread, and the first line of `gotrace summary`;
  after    run, trace and stop print the summary's tables on stderr, as
           strace -c does, where the file is (stop finds it in the
           service thread's fds before it ends the trace);
  follow   run -f on a shell script that runs three programs (one in the
           background, one orphaned) gives a trace per process, base.PID,
           each of its own command, all read by Go 1.19 and 1.23; older
           files of the same base are not listed as new."""
import json
import os
import re
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)
import gttest as gt  # noqa: E402
import test_rpc as rt  # noqa: E402  (module only: its tests are not run here)


def gotrace(args, cwd=None, env=None, timeout=120):
    return gt.run_plain([gt.CLIENT, *map(str, args)], cwd=cwd, env=env, timeout=timeout)


def main_labels(path):
    """The labels of goroutine 1's GoStartLabels, in order."""
    return [e.args["label"] for e in gt.trace_events(str(path))
            if e.type == "GoStartLabel" and e.args["g"] == 1]


def main_label(path):
    """The label goroutine 1 starts with, None if it has none."""
    return (main_labels(path) or [None])[0]


TABLES = (r"(?m)^waits +count +total +mean$", r"(?m)^thread +start routine +lifetime")


class AfterTrace(unittest.TestCase):
    def setUp(self):
        cm = gt.tempdir()
        self.d = cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)

    def test_run_prints_summary_with_process(self):
        out = self.d / "r.trace"
        prog = gt.program("demo_server")
        r = gotrace(["run", "-o", out, "--", prog, "200"])
        self.assertEqual(r.returncode, 0, r.stderr)
        m = re.search(r"(?m)^pid (\d+): (.*)$", r.stderr)
        self.assertIsNotNone(m, r.stderr)
        self.assertEqual(m.group(2), f"{prog} 200")
        for t in TABLES:
            self.assertRegex(r.stderr, t)
        self.assertRegex(r.stderr, r"pthread_cond_wait  <- queue_pop demo_server.c:\d+")
        self.assertLess(r.stderr.count("\n"), 60, "a terminal's worth, not every thread")
        self.assertIn(f"open it with: gotrace view {out}", r.stderr)
        self.assertEqual(main_label(out), f"pid {m.group(1)}: {prog} 200")
        self.assertRegex(r.stderr, r"(?m)^ +1 main +\S+ +\S+ ")   # lifetime, running
        d = json.loads(gotrace(["summary", out, "--json"]).stdout)
        self.assertEqual(d["process"], f"pid {m.group(1)}: {prog} 200")
        for t in d["threads"]:   # running: the lifetime less its recorded waits
            waits = sum(t[f"{k}_ns"] for k in ("syscall", "net", "sync", "sleep"))
            self.assertEqual(t["running_ns"], max(t["lifetime_ns"] - waits, 0), t)
        self.assertRegex(gotrace(["summary", out]).stdout, rf"^pid {m.group(1)}: ")

    def test_named_main_thread_keeps_its_name(self):
        src = self.d / "named.c"
        src.write_text(r"""
#include <pthread.h>
#include <unistd.h>
int main(void)
{
	pthread_setname_np(pthread_self(), "mymain");
	usleep(30000);
	return 0;
}
""")
        exe = self.d / "named"
        gt.compile_c(src, exe, libs=["-pthread"])
        out = self.d / "n.trace"
        r = gotrace(["run", "-o", out, "--", exe])
        self.assertEqual(r.returncode, 0, r.stderr)
        # the process until the program names it, then its name
        labels = main_labels(out)
        self.assertRegex(labels[0], r"^pid \d+: .*/named$")
        self.assertEqual(labels[-1], "mymain")
        self.assertRegex(gotrace(["summary", out]).stdout, r"^pid \d+: ")


    @unittest.skipUnless(os.path.exists("/usr/bin/dpkg"), "not Debian: no package to name")
    def test_stripped_debian_program_names_its_package(self):
        """Debian's sleep is stripped: the notes at the end name the object,
        and gotrace names the -dbgsym package that would fix it."""
        out = self.d / "sleep.trace"
        r = gotrace(["run", "-o", out, "--", "sleep", "0.05"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"(?m)^gotrace: \d+ frames? in /\S*bin/sleep ha(s|ve) no symbol")
        self.assertRegex(r.stderr, r"(?m)^gotrace: /\S*bin/sleep is Debian's coreutils: "
                         r"apt install coreutils-dbgsym")


class RemoteSummary(rt.RpcCase):
    def setUp(self):
        super().setUp()
        self.p = self.program()

    def test_trace_and_stop_print_summary(self):
        sock = self.p.sock
        f = self.d / "t.trace"
        r = gotrace(["trace", sock, f, "1"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"gotrace: trace written to {f}", r.stderr)
        for t in TABLES:
            self.assertRegex(r.stderr, t)
        self.assertRegex(r.stderr, rf"(?m)^pid {self.p.proc.pid}: ")
        g = self.d / "s.trace"
        self.assertEqual(gotrace(["start", sock, g]).returncode, 0)
        time.sleep(0.3)
        r = gotrace(["stop", sock])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"gotrace: trace stopped, written to {g}", r.stderr)
        for t in TABLES:
            self.assertRegex(r.stderr, t)
        rt.parses(self, g)


class OpenWaits(unittest.TestCase):
    """The thread table counts as waits what Go's profiles leave out: a
    wait still open when the trace ends (to the end) and one the trace
    found in progress (GoInSyscall: syscall; GoWaiting: "waiting", the
    trace does not say on what). They read as running before: a thread
    blocked for the whole trace showed 100% running. tests/programs/
    stackstates holds its threads in read, poll, a contended mutex, a
    condition wait, sleep and sem_wait, and one computing, for 3-4 s."""

    def setUp(self):
        cm = gt.tempdir()
        self.d = cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)

    def run_states(self, secs, trace, act):
        sock = str(self.d / "s.sock")
        p = gt.start_traced([gt.program("stackstates"), secs], trace, socket=sock)
        try:
            gt.wait_until(lambda: rt.can_connect(sock) or p.poll() is not None,
                          what=f"endpoint {sock}")
            time.sleep(0.7)   # every thread in its call
            f = act(sock)
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
        finally:
            if p.poll() is None:
                p.kill()
                p.communicate()
        r = gotrace(["summary", f, "--json"])
        self.assertEqual(r.returncode, 0, r.stderr)
        threads = {t["name"]: t for t in json.loads(r.stdout)["threads"]}
        for t in threads.values():
            waits = sum(t[f"{k}_ns"] for k in ("syscall", "net", "sync", "sleep", "waiting"))
            self.assertEqual(t["running_ns"], max(t["lifetime_ns"] - waits, 0), t)
        busy = threads["busy_thread"]
        self.assertGreater(busy["running_ns"], 0.9 * busy["lifetime_ns"], busy)
        return threads

    def check(self, threads, want):
        for name, key in want:
            t = threads[name]
            self.assertGreater(t[key], 0.9 * t["lifetime_ns"], (key, t))
            self.assertLess(t["running_ns"], 0.1 * t["lifetime_ns"], t)

    def test_found_in_progress_and_open_at_the_end(self):
        f = self.d / "mid.trace"

        def trace(sock):
            r = gotrace(["trace", sock, f, "1"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stderr, r"(?m)^ +waiting: in a wait the trace found in progress")
            return f
        threads = self.run_states("4", None, trace)
        self.check(threads, [("reader_thread", "syscall_ns"), ("poll_thread", "waiting_ns"),
                             ("cond_thread", "waiting_ns"), ("sleep_thread", "waiting_ns"),
                             ("sem_thread", "waiting_ns"), ("main", "waiting_ns")])

    def test_open_at_the_end(self):
        f = self.d / "load.trace"

        def stop(sock):
            r = gotrace(["stop", sock])
            self.assertEqual(r.returncode, 0, r.stderr)
            return f
        threads = self.run_states("3", f, stop)
        self.check(threads, [("reader_thread", "syscall_ns"), ("poll_thread", "sync_ns"),
                             ("lock_thread", "sync_ns"), ("cond_thread", "sync_ns"),
                             ("sleep_thread", "sleep_ns"), ("sem_thread", "sync_ns")])


SCRIPT = r"""#!/bin/sh
# three programs: one waited for, one in the background, one orphaned
sleep 0.2
cat /etc/hostname > /dev/null &
wait
( sleep 0.3; exec ls / > /dev/null ) &
exit 0
"""


class Follow(unittest.TestCase):
    def setUp(self):
        cm = gt.tempdir()
        self.d = cm.__enter__()
        self.addCleanup(cm.__exit__, None, None, None)

    def test_tree_of_processes(self):
        script = self.d / "three.sh"
        script.write_text(SCRIPT)
        script.chmod(0o755)
        base = self.d / "t"
        stale = self.d / "t.1"
        stale.write_bytes(b"not ours")
        os.utime(stale, (time.time() - 3600,) * 2)
        r = gotrace(["run", "-f", "-o", base, "--", script])
        self.assertEqual(r.returncode, 0, r.stderr)
        files = sorted(p for p in self.d.glob("t.*") if p != stale)
        listed = re.findall(r"(?m)^  (\S+)  pid (\d+): (.*)$", r.stderr)
        self.assertEqual(sorted(f for f, _, _ in listed), sorted(str(p) for p in files),
                         r.stderr)
        self.assertNotIn(f"  {stale}  ", r.stderr, "an older file listed as new")
        self.assertRegex(r.stderr, r"gotrace: \d+ processes traced, a file each:")
        cmds = {}
        for f, pid, cmd in listed:
            self.assertTrue(f.endswith(f".{pid}"), f)
            self.assertEqual(main_label(f), f"pid {pid}: {cmd}")   # Go 1.19 and 1.23 read it
            cmds[cmd.split()[0]] = f
        self.assertIn("sleep", cmds)
        self.assertIn("cat", cmds)
        # the orphan, reparented to gotrace (its subreaper), was waited for
        self.assertIn("ls", cmds)
        self.assertTrue(any(c.endswith("three.sh") for c in
                            (x.split()[-1] for _, _, x in listed)), listed)
        self.assertEqual(json.loads(gotrace(["summary", cmds["sleep"], "--json"]).stdout)
                         ["totals"]["sleep"]["count"], 1)

    def test_killed_grandchild_repaired(self):
        """A process its own parent killed and reaped (make's shells on ^C):
        gotrace saw no status, and repaired only what it saw die by a
        signal; a cut trace was listed as it was, and Go 1.19's viewer
        panicked on it (makeSlice). Every trace of unknown end is now
        checked, and a cut one repaired; whole ones are left as they are."""
        script = "sleep 5 & p=$!; sleep 0.5; kill -KILL $p; wait $p; exit 0"
        for k in range(3):   # (whether a batch was unflushed at the kill varies)
            base = self.d / f"k{k}"
            r = gotrace(["run", "-f", "-o", base, "--", "bash", "-c", script])
            self.assertEqual(r.returncode, 0, r.stderr)
            files = list(self.d.glob(f"k{k}.*"))
            self.assertEqual(len(files), 3, r.stderr)
            for f in files:
                gt.check_ui(str(f), mmu="some", goroutine_traces=1, modern=False)

    def test_relative_file_across_chdir_and_exec(self):
        """GOTRACE_FILE=rel.trace, then cd and exec: the new image traced
        into sub/rel.trace, relative to its own directory, and the file
        named at the start kept only the first image. The name is made
        absolute at load, in the environment too (bash keeps its own:
        the entry is replaced where libc's setenv would)."""
        (self.d / "sub").mkdir()
        r = gt.run_traced(["bash", "-c", "sleep 0.1; cd sub; exec sleep 0.2"], "rel.trace",
                          cwd=str(self.d), timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertFalse((self.d / "sub" / "rel.trace").exists(), "a second file")
        self.assertRegex(main_label(self.d / "rel.trace"), r"^pid \d+: sleep 0.2$")

    def test_without_f_children_not_traced(self):
        script = self.d / "two.sh"
        script.write_text("#!/bin/sh\nsleep 0.05\ncat /etc/hostname >/dev/null\n")
        script.chmod(0o755)
        out = self.d / "one.trace"
        r = gotrace(["run", "-o", out, "--", script])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(sorted(p.name for p in self.d.glob("one.trace*")), ["one.trace"])
        self.assertRegex(main_label(out), r"^pid \d+: /bin/sh ")

    def test_missing_directory_refused(self):
        r = gotrace(["run", "-f", "-o", self.d / "no" / "t", "--", "/bin/true"])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("not run", r.stderr)


NAMED_AT_ONCE = r"""
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *work(void *a)
{
	usleep(20000);
	return a;
}

int main(void)
{
	pthread_t t[8];
	char name[16];

	for (int i = 0; i < 8; i++) {
		if (pthread_create(&t[i], NULL, work, NULL))
			return 1;
		snprintf(name, sizeof(name), "imm-%d", i);
		if (pthread_setname_np(t[i], name))
			return 2;
	}
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	return 0;
}
"""


class NamedAtOnce(unittest.TestCase):
    def test_name_given_before_the_thread_ran(self):
        """pthread_setname_np on a thread just created, which may not have
        run yet: the name is its goroutine's label all the same (the record
        took names only once its thread had started: a third to half of
        them were lost). 3 runs of 8 threads."""
        with gt.tempdir() as d:
            exe = gt.compile_c(NAMED_AT_ONCE, d / "named")
            for run in range(3):
                trace = d / f"t{run}.trace"
                r = gt.run_traced([exe], str(trace), timeout=30)
                self.assertEqual(r.returncode, 0, r.stderr)
                labels = {e.args["label"] for e in gt.trace_events(str(trace))
                          if e.type == "GoStartLabel"}
                want = {f"imm-{i}" for i in range(8)}
                self.assertEqual(want - labels, set(), f"run {run}: labels {sorted(labels)}")


if __name__ == "__main__":
    unittest.main(verbosity=2)
