"""Process lifecycle and faults under a trace started through the endpoint:
fork without exec, exec, daemons, pre-fork servers, exit from a thread, _exit, SIGKILL and
repair, dlopen/dlclose and RTLD_DEEPBIND, a full disk, a removed file, a
writer slower than the program (the memory cap)."""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

MS = 1_000_000

LIFE_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *go_file;

static void wait_file(const char *f)
{
	struct stat st;
	while (stat(f, &st))
		usleep(10000);
}

static void *ticker(void *a)
{
	(void)a;
	for (;;)
		usleep(20000);
	return NULL;
}

static void *exiter(void *a)
{
	(void)a;
	wait_file(go_file);
	usleep(50000);
	printf("exit from a thread\n");
	fflush(stdout);
	exit(7);
}

int main(int argc, char **argv)
{
	pthread_t th;
	const char *mode = argv[1];
	go_file = argv[2];
	setvbuf(stdout, NULL, _IONBF, 0);
	pthread_create(&th, NULL, ticker, NULL);
	if (!strcmp(mode, "fork")) {
		wait_file(go_file);
		for (int i = 0; i < 3; i++) {
			pid_t p = fork();
			if (p == 0) {
				usleep(333000);   /* a sleep the parent never takes */
				printf("child %d done\n", i);
				exit(3);
			}
			int st;
			waitpid(p, &st, 0);
			printf("child %d status %d\n", i, WEXITSTATUS(st));
		}
		usleep(300000);
		return 0;
	}
	if (!strcmp(mode, "exit-thread")) {
		pthread_create(&th, NULL, exiter, NULL);
		for (;;)
			pause();
	}
	if (!strcmp(mode, "_exit")) {
		wait_file(go_file);
		usleep(300000);
		printf("_exit\n");
		_exit(4);
	}
	if (!strcmp(mode, "dl")) {
		/* argv[3]: a library whose lib_block() sleeps in read. */
		for (int i = 0; i < 6; i++) {
			void *h = dlopen(argv[3], RTLD_NOW | (i & 1 ? RTLD_DEEPBIND : 0));
			if (!h) {
				printf("dlopen: %s\n", dlerror());
				return 1;
			}
			int (*f)(int) = (int (*)(int))dlsym(h, "lib_block");
			printf("lib_block %d\n", f(i));
			dlclose(h);
		}
		return 0;
	}
	if (!strcmp(mode, "busy")) {
		/* Many recorded events: GOTRACE_BLOCK_NS=0 records every call. */
		int fd[2];
		pipe(fd);
		char c = 0;
		for (long i = 0; i < 300000; i++) {
			write(fd[1], &c, 1);
			read(fd[0], &c, 1);
		}
		printf("busy done\n");
		return 0;
	}
	return 2;
}
"""

LIB_C = r"""
#include <pthread.h>
#include <unistd.h>
static int p[2];
static void *writer(void *a) { (void)a; usleep(30000); write(p[1], "x", 1); return 0; }
__attribute__((noinline)) int lib_block(int i)
{
	pthread_t t;
	char c;
	pipe(p);
	pthread_create(&t, 0, writer, 0);
	read(p[0], &c, 1);          /* blocks ~30 ms, inside this library */
	pthread_join(t, 0);
	close(p[0]);
	close(p[1]);
	return i * 2;
}
"""


def connectable(path):
    c = socket.socket(socket.AF_UNIX)
    try:
        c.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        c.close()


def client(*args, timeout=60):
    return gt.run_plain([gt.CLIENT, *[str(a) for a in args]], timeout=timeout)


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ctx = gt.tempdir()
        cls.tmp = cls.ctx.__enter__()
        cls.life = gt.compile_c(LIFE_C, cls.tmp / "life", libs=["-ldl"])
        cls.lib = gt.compile_c(LIB_C, cls.tmp / "libblock.so", flags=["-shared", "-fPIC"])

    @classmethod
    def tearDownClass(cls):
        cls.ctx.__exit__(None, None, None)

    def start(self, mode, *extra, env=None, name=None):
        d = self.tmp / (name or mode)
        d.mkdir()
        sock, go = d / "s.sock", d / "go"
        p = gt.start_traced([self.life, mode, go, *extra], None, socket=str(sock), env=env)
        gt.wait_until(lambda: connectable(sock) or p.poll() is not None, timeout=30,
                      what="the endpoint")
        self.assertIsNone(p.poll(), "the program ended before its endpoint was up")
        return p, d, sock, go


class Lifecycle(Base):
    def test_fork_without_exec(self):
        p, d, sock, go = self.start("fork")
        r = client("start", sock, d / "f.trace")
        self.assertEqual(r.returncode, 0, r.stderr)
        go.touch()
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 0, err)
        for i in range(3):
            self.assertIn(f"child {i} done\nchild {i} status 3\n", out)
        ev = gt.trace_events(str(d / "f.trace"))   # complete: written at exit
        self.assertGreaterEqual(len([e for e in ev if e.type == "GoSysBlock"]), 3,
                                "the parent's three waitpid calls")
        # A sleep of ~333 ms would be a child's: the parent sleeps 20 ms
        # (ticker) and 300 ms (once, at the end).
        durations = sleep_durations(ev)
        self.assertFalse([x for x in durations if 320 * MS < x < 345 * MS],
                         f"a child's 333 ms sleep is in the parent's trace: {sorted(durations)[-5:]}")

    def test_exit_from_thread_during_socket_trace(self):
        p, d, sock, go = self.start("exit-thread")
        r = client("start", sock, d / "e.trace")
        self.assertEqual(r.returncode, 0, r.stderr)
        go.touch()
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 7, err)
        self.assertEqual(out, "exit from a thread\n")
        ev = gt.trace_events(str(d / "e.trace"))
        self.assertGreaterEqual(len(gt.created_goroutines(ev)), 3)
        self.assertFalse(sock.exists(), "the socket is removed at exit")

    def test__exit_during_trace(self):
        p, d, sock, go = self.start("_exit")
        r = client("start", sock, d / "x.trace")
        self.assertEqual(r.returncode, 0, r.stderr)
        go.touch()
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 4, err)
        self.assertEqual(out, "_exit\n")
        gt.trace_events(str(d / "x.trace"))

    def test_sigkill_then_repair(self):
        p, d, sock, go = self.start("exit-thread", name="kill")   # runs until killed
        trace = d / "k.trace"
        r = client("start", sock, trace)
        self.assertEqual(r.returncode, 0, r.stderr)
        time.sleep(2.5)   # the writer flushes every second
        p.send_signal(signal.SIGKILL)
        p.communicate(timeout=30)
        self.assertGreater(trace.stat().st_size, 16, "what was flushed stays")
        r = client("repair", trace, d / "fixed.trace")
        self.assertEqual(r.returncode, 0, r.stderr)
        ev = gt.trace_events(str(d / "fixed.trace"))
        self.assertGreater(len([e for e in ev if e.type == "GoSleep"]), 20,
                           "the ticker's sleeps of the first 2 s are kept")

    def test_dlopen_dlclose_and_deepbind(self):
        d = self.tmp / "dl"
        d.mkdir()
        trace = d / "dl.trace"
        plain = gt.run_plain([self.life, "dl", d / "go", self.lib])
        r = gt.run_traced([self.life, "dl", d / "go", self.lib], trace)
        self.assertEqual((r.returncode, r.stdout), (plain.returncode, plain.stdout), r.stderr)
        self.assertEqual(r.stdout.count("lib_block"), 6)
        rows = gt.pprof_top(str(trace), "syscall")
        self.assertIn("lib_block", rows,
                      f"the unloaded library's function is named on its stacks: {sorted(rows)}")

    def test_exec_gives_fresh_endpoint(self):
        d = self.tmp / "exec"
        d.mkdir()
        sock = d / "s.sock"
        p = gt.start_traced(["/bin/sh", "-c", f"while [ ! -e {d}/go ]; do sleep 0.05; done; "
                             f"exec {self.life} fork {d}/go2"], None, socket=str(sock))
        try:
            gt.wait_until(lambda: connectable(sock), timeout=30, what="the shell's endpoint")
            r = client("stop", sock)
            self.assertEqual(r.returncode, 1)
            self.assertIn("trace not in progress", r.stderr)
            (d / "go").touch()
            # Same pid, new image (an inode number may be reused: not a sign).
            gt.wait_until(lambda: os.path.realpath(f"/proc/{p.pid}/exe") == os.path.realpath(self.life),
                          timeout=30, what="the exec")
            gt.wait_until(lambda: connectable(sock), timeout=30, what="the new image's endpoint")
            r = client("start", sock, d / "n.trace")
            self.assertEqual(r.returncode, 0, r.stderr)
            (d / "go2").touch()
            out, err = p.communicate(timeout=60)
            self.assertEqual(p.returncode, 0, err)
            self.assertNotIn("gotrace:", err, "the shell's children stay quiet")
            gt.trace_events(str(d / "n.trace"))
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()

    def test_daemon_keeps_an_endpoint(self):
        d = self.tmp / "daemon"
        d.mkdir()
        script = ("import os,sys,time\n"
                  "if os.fork(): sys.exit(0)\n"
                  "os.setsid()\n"
                  "if os.fork(): sys.exit(0)\n"
                  f"open('{d}/pid','w').write(str(os.getpid()))\n"
                  "t=time.time()\n"
                  "while time.time()-t<6: time.sleep(0.01)\n")
        env = {"XDG_RUNTIME_DIR": str(d)}
        # The daemon keeps no pipe of ours open: we wait for the first
        # process only.
        r = gt.run_traced(["python3", "-c", script], None, env=env, socket=None,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0)
        gt.wait_until(lambda: (d / "pid").exists() and (d / "pid").read_text(), timeout=10)
        pid = (d / "pid").read_text()
        sock = d / "gotrace" / f"{pid}.sock"
        gt.wait_until(lambda: connectable(sock), timeout=10, what="the daemon's endpoint")
        ps = gt.run_plain([gt.CLIENT, "ps"], env=env)
        self.assertIn(pid, ps.stdout)
        r = client("trace", pid, d / "dm.trace", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreater(len([e for e in gt.trace_events(str(d / "dm.trace"))
                                if e.type == "GoSleep"]), 10)

    def test_prefork_server_workers_get_endpoints(self):
        """A server that listens, then forks workers (nginx, gunicorn and
        postgres in the foreground): each worker has an endpoint of its own,
        and a trace through it shows the worker. A child forked before the
        listen() (a plain fork) has none."""
        d = self.tmp / "prefork"
        d.mkdir()
        script = ("import os,socket,sys,time\n"
                  "def child(name):\n"
                  "    open(f'{sys.argv[1]}/{name}','w').write(str(os.getpid()))\n"
                  "    t=time.time()\n"
                  "    while time.time()-t<5: time.sleep(0.01)\n"
                  "    os._exit(0)\n"
                  "pids=[]\n"
                  "p=os.fork()\n"
                  "if p==0: child('plain')\n"
                  "pids.append(p)\n"
                  "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(8)\n"
                  "for i in range(2):\n"
                  "    p=os.fork()\n"
                  "    if p==0: child(f'w{i}')\n"
                  "    pids.append(p)\n"
                  "for p in pids: os.waitpid(p,0)\n")
        env = {"XDG_RUNTIME_DIR": str(d)}
        p = gt.start_traced(["python3", "-c", script, str(d)], None, env=env, socket=None)
        try:
            names = ("plain", "w0", "w1")
            gt.wait_until(lambda: all((d / n).exists() and (d / n).read_text() for n in names),
                          timeout=10, what="the children's pid files")
            pids = {n: (d / n).read_text() for n in names}
            for n in ("w0", "w1"):
                sock = d / "gotrace" / f"{pids[n]}.sock"
                gt.wait_until(lambda: connectable(sock), timeout=10, what=f"{n}'s endpoint")
            r = client("trace", pids["w0"], d / "w0.trace", "1")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertGreater(len([e for e in gt.trace_events(str(d / "w0.trace"))
                                    if e.type == "GoSleep"]), 10)
            self.assertFalse((d / "gotrace" / f"{pids['plain']}.sock").exists(),
                             "a child forked before listen() has no endpoint")
            out, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, err)
            self.assertNotIn("gotrace:", err)
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()


def sleep_durations(ev):
    """ns from each GoSleep to the next GoStart of the same goroutine."""
    out, since = [], {}
    for e in ev:
        if e.type == "GoSleep":
            since[e.g] = e.ts
        elif e.type in ("GoStart", "GoStartLocal", "GoStartLabel") and e.args.get("g") in since:
            out.append(e.ts - since.pop(e.args["g"]))
    return out


class Startup(unittest.TestCase):
    """What a trace or heap profile from load starts, before the program's
    main: liburcu-bp registers the process for membarrier as it loads, and
    with a second task in the process (our service thread, the doorman) the
    kernel waits a grace period there (10-13 ms a start on this VM, the
    program's main thread blocked). It must be loaded while the process
    has one task."""

    def test_membarrier_registered_before_our_first_task(self):
        with gt.tempdir() as d:
            for name, extra in (("trace", {"GOTRACE_FILE": str(d / "t.trace")}),
                                ("heap", {"GOTRACE_MEMPROFILE_RATE": "524288",
                                          "GOTRACE_SOCKET": str(d / "h.sock")})):
                log = d / f"{name}.strace"
                env = ["-E", f"LD_PRELOAD={gt.LIB}"]
                for k, v in extra.items():
                    env += ["-E", f"{k}={v}"]
                r = gt.run_plain(["strace", "-f", "-qq", "-o", log, "-e",
                                  "trace=membarrier,clone,clone3", *env,
                                  gt.program("cpuburn"), "0.05", "1"])
                self.assertEqual(r.returncode, 0, f"{name}: {r.stderr}")
                lines = log.read_text().splitlines()
                reg = [i for i, x in enumerate(lines) if "REGISTER_PRIVATE_EXPEDITED" in x]
                clones = [i for i, x in enumerate(lines) if re.search(r"\bclone3?\(", x)]
                self.assertTrue(reg, f"{name}: liburcu not loaded at start:\n{lines}")
                self.assertTrue(clones, f"{name}: no task of ours:\n{lines}")
                self.assertLess(reg[0], clones[0],
                                f"{name}: registered with a second task in:\n{lines}")


class Faults(Base):
    def fault_start(self, name, trace):
        p, d, sock, go = self.start("exit-thread", name=name)
        r = client("start", sock, trace)
        self.assertEqual(r.returncode, 0, r.stderr)
        return p, d, sock, go

    def finish(self, p, d, sock, go, reason):
        time.sleep(0.5)
        r = client("stop", sock)
        self.assertEqual(r.returncode, 1, f"stop must fail: {r.stderr}")
        self.assertIn("-32000", r.stderr)
        self.assertRegex(r.stderr, reason)
        self.assertIsNone(p.poll(), "the program keeps running")
        r = client("trace", sock, d / "good.trace", "1")
        self.assertEqual(r.returncode, 0, r.stderr)
        gt.trace_events(str(d / "good.trace"))
        go.touch()
        out, err = p.communicate(timeout=60)
        self.assertEqual(p.returncode, 7)
        self.assertRegex(err, r"(?m)^gotrace: .*" + reason)

    def test_disk_full(self):
        p, d, sock, go = self.fault_start("full", "/dev/full")
        self.finish(p, d, sock, go, "[Nn]o space left on device")

    def test_removed_while_written(self):
        d0 = self.tmp / "rm-t"
        d0.mkdir()
        p, d, sock, go = self.fault_start("rm", d0 / "gone.trace")
        time.sleep(0.3)
        os.unlink(d0 / "gone.trace")
        self.finish(p, d, sock, go, "removed")

    def test_tiny_tmpfs(self):
        mnt = self.tmp / "tinyfs"
        mnt.mkdir()
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(mnt)],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        try:
            p, d, sock, go = self.fault_start("tiny", mnt / "t.trace")
            time.sleep(2.5)   # the ticker fills 4 KiB within a second or two: the writer fails
            self.finish(p, d, sock, go, "[Nn]o space left on device")
        finally:
            subprocess.run(["umount", "-l", str(mnt)])

    def test_memory_cap_reached(self):
        """The writer writes into a FIFO that is read slowly: buffers reach
        GOTRACE_BUFFER_MB=1, threads wait, and the wait shows in the trace
        as a gotrace.wait log, and on stderr at the stop, counted."""
        d = self.tmp / "cap"
        d.mkdir()
        fifo, copy = d / "fifo", d / "cap.trace"
        os.mkfifo(fifo)

        def slow_reader():
            with open(fifo, "rb") as f, open(copy, "wb") as o:
                while True:
                    b = f.read(16384)
                    if not b:
                        return
                    o.write(b)
                    time.sleep(0.01)

        t = threading.Thread(target=slow_reader)
        t.start()
        t0 = time.monotonic()
        plain = gt.run_plain([self.life, "busy", d / "go"])
        t1 = time.monotonic()
        r = gt.run_traced([self.life, "busy", d / "go"], fifo,
                          env={"GOTRACE_BUFFER_MB": "1", "GOTRACE_BLOCK_NS": "0"}, timeout=300)
        slower = time.monotonic() - t1 - (t1 - t0)
        t.join(60)
        self.assertEqual((r.returncode, r.stdout), (plain.returncode, plain.stdout), r.stderr)
        # Go 1.19's reader only, and only the logs parsed: this 17 MB
        # trace took 145 s through the three readers of check_modern
        # (which the other tests run) and 2.4 M lines of Python.
        ev = gt.trace_events(str(copy), modern=False, types={"UserLog"})
        logs = [e for e in ev if e.type == "UserLog" and e.args.get("category") == "gotrace.wait"]
        self.assertTrue(logs, "no gotrace.wait log although the writer was slower")
        waited = [re.search(r"waited (\d+) us", e.args.get("message", "")) for e in logs]
        self.assertTrue(all(waited), [e.args for e in logs])
        # The run took `slower` seconds more than the plain one because its
        # thread waited for the writer: most of that wait is counted (a
        # thread must never wait behind the writer's write() uncounted).
        total = sum(int(m.group(1)) for m in waited) / 1e6
        self.assertGreater(total, 0.5 * slower,
                           f"{len(logs)} gotrace.wait logs count {total:.2f} s of the "
                           f"{slower:.2f} s the run took longer than without the library")
        # and the stop says it on stderr, every wait of the trace counted
        # (it counted those of the stop itself only: never said)
        m = re.search(r"(?m)^gotrace: threads waited (\d+) times \((\d+) ms in all\) for the "
                      r"trace writer; GOTRACE_BUFFER_MB raises the cap$", r.stderr)
        self.assertIsNotNone(m, r.stderr)
        self.assertEqual(int(m.group(1)), len(logs), r.stderr)


if __name__ == "__main__":
    unittest.main()
