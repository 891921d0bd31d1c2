"""GOTRACE_LAZY (the default): a program of one thread keeps its endpoint in a doorman
task that glibc does not know of (core/door.c), so glibc still runs it as
single-threaded (__libc_single_threaded) until a client
comes. The client's call is answered once the program reaches a safe
point: a malloc/free of its own, a pthread lock or wait, or, when it has
no signal handler, a blocking call. Until then the call waits; nothing is
lost.

  idle: __libc_single_threaded stays 1, the doorman is one task more,
     output and exit status are plain's, the socket goes at exit;
  a client's call while the program waits inside libc (fgets: read;
     system: wait4; fopen of a FIFO: openat) is answered at once: the doorman's SIGURG makes that
     wait a safe point; the program reads on, a socket's SO_RCVTIMEO read
     included (no EINTR), and its SIGURG is SIG_DFL after, never seen;
  no such kick where SIGURG is blocked or the program's, or into the
     program's own handler waiting in read(): there the call waits for
     the next safe point (a malloc), and the trace parses; the program is
     threaded from then on;
  write() is a safe point, with a handler installed or not, but not inside
     a handler (it may have interrupted malloc);
  a call that may wait long (a read of a pipe, a poll of 1.5 s), handler
     installed or not, starts the service thread before it waits, so a
     client is answered while the program waits in it; a short poll, a
     read of /dev/zero, and such a read inside a handler do not;
  gotrace kept waiting says so once on stderr and waits on; gotrace ps
     lists the endpoint without being a client;
  threads racing into long waits start one service thread; a program's
     first pthread_create starts it too (threaded, it gains nothing), and
     so does a seccomp filter going in (it would bind a later thread);
  a shell (dash) waiting for its child in wait3() answers at once;
  unshare(CLONE_NEWUSER) still works with the doorman (it steps out) and
     the endpoint serves after;
  this is the default; with GOTRACE_LAZY=0 the service thread starts at
     load."""
import os
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402
from test_rpc import NULL_REPLY, call, parses, req  # noqa: E402

PROG = r"""
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int tasks(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;

	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* glibc's own: 1 until the process has a second thread, then its stdio,
 * malloc and cancellable calls take their threaded paths. Through dlsym:
 * a copy-relocated one in the program is not kept up to date. */
static int single(void)
{
	static const char *p;

	if (!p)
		p = dlsym(RTLD_DEFAULT, "__libc_single_threaded");
	return *p;
}

/* A handler's write: no safe point (it may have interrupted malloc). */
static void on_usr1(int sig)
{
	(void)sig;
	for (int i = 0; i < 3; i++)
		if (write(2, "", 0) < 0)
			_exit(3);
}

/* A line through read() itself, a hooked call that may wait. */
static void read_line(void)
{
	char c = 0;

	while (c != '\n')
		if (read(0, &c, 1) != 1)
			_exit(4);
}

/* A handler that waits in read(): it must not start the service thread. */
static void on_usr2(int sig)
{
	(void)sig;
	read_line();
}

static volatile sig_atomic_t urgs;

static void on_urg(int sig)
{
	(void)sig;
	urgs++;
}

static int has(int argc, char **argv, const char *word)
{
	return argc > 1 && strstr(argv[1], word);
}

int main(int argc, char **argv)
{
	char line[64];

	if (has(argc, argv, "handler")) {
		signal(SIGUSR1, on_usr1);
		signal(SIGUSR2, on_usr2);
	}
	if (has(argc, argv, "nokick")) {   /* SIGURG blocked: no kick */
		sigset_t urg;
		sigemptyset(&urg);
		sigaddset(&urg, SIGURG);
		sigprocmask(SIG_BLOCK, &urg, NULL);
	}
	if (has(argc, argv, "ownurg")) {   /* SIGURG the program's: no kick */
		struct sigaction sa = { .sa_handler = on_urg, .sa_flags = SA_RESTART };
		sigaction(SIGURG, &sa, NULL);
	}
	if (has(argc, argv, "rcvtimeo")) {   /* stdin a socket that times out */
		struct timeval tv = { 30, 0 };
		if (setsockopt(0, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)))
			return 6;
	}
	if (has(argc, argv, "realtime")) {   /* made real-time after load */
		struct sched_param sp = { .sched_priority = 1 };
		if (sched_setscheduler(0, SCHED_FIFO, &sp))
			return 8;
	}
	if (has(argc, argv, "pinned")) {   /* pinned to its first CPU after load */
		cpu_set_t one;
		if (sched_getaffinity(0, sizeof(one), &one))
			return 9;
		for (int c = 0, first = 1; c < CPU_SETSIZE; c++)
			if (CPU_ISSET(c, &one) && !first)
				CPU_CLR(c, &one);
			else if (CPU_ISSET(c, &one))
				first = 0;
		if (sched_setaffinity(0, sizeof(one), &one))
			return 10;
	}
	if (has(argc, argv, "unshare"))
		printf("unshare=%d\n", unshare(CLONE_NEWUSER));
	printf("ready single=%d\n", single());
	fflush(stdout);
	/* fgets blocks in libc's own read: no hook, no safe point */
	while (fgets(line, sizeof(line), stdin)) {   /* EINTR would end it */
		if (line[0] == 'm') {
			char *volatile p = malloc(64);
			free(p);
		} else if (line[0] == 'w') {
			for (int i = 0; i < 3; i++)
				if (write(2, "", 0) < 0)
					return 1;
		} else if (line[0] == 't') {
			printf("tasks=%d\n", tasks());
		} else if (line[0] == 'k') {
			raise(SIGUSR1);
		} else if (line[0] == 'h') {
			raise(SIGUSR2);
		} else if (line[0] == 'r') {
			read_line();
		} else if (line[0] == 'P' || line[0] == 'p') {
			poll(NULL, 0, line[0] == 'P' ? 1500 : 5);
		} else if (line[0] == 'u') {   /* SIGURG's action, and how many came */
			struct sigaction sa;
			sigaction(SIGURG, NULL, &sa);
			printf("urg=%s/%d ", sa.sa_handler == SIG_DFL ? "dfl" : "set", (int)urgs);
		} else if (line[0] == 'f') {   /* fopen of a FIFO: libc waits in openat */
			FILE *f = fopen(strtok(line + 2, "\n"), "r");
			char got[64] = "";
			if (!f || !fgets(got, sizeof(got), f))
				return 7;
			fclose(f);
			printf("fifo=%s ", strtok(got, "\n"));
		} else if (line[0] == 's') {   /* libc waits in wait4 */
			printf("system=%d ", system("sleep 1.5"));
		} else if (line[0] == 'z') {
			static int zero = -1;
			char b[64];
			if (zero < 0)
				zero = open("/dev/zero", O_RDONLY);
			if (read(zero, b, sizeof(b)) != sizeof(b))
				return 5;
		}
		printf("single=%d\n", single());
		fflush(stdout);
	}
	return 0;
}
"""

LAZY = {"GOTRACE_LAZY": "1"}

RACE = r"""
#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>

static pthread_barrier_t bar;

static void *waiter(void *arg)
{
	(void)arg;
	pthread_barrier_wait(&bar);
	poll(NULL, 0, 400);
	return NULL;
}

int main(void)
{
	pthread_t th[4];
	struct timespec a, b;
	int n = 0;

	pthread_barrier_init(&bar, NULL, 4);
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, waiter, NULL);
	clock_gettime(CLOCK_MONOTONIC, &a);   /* no call of ours meanwhile */
	do
		clock_gettime(CLOCK_MONOTONIC, &b);
	while ((b.tv_sec - a.tv_sec) * 1000000000L + b.tv_nsec - a.tv_nsec < 200000000L);
	DIR *d = opendir("/proc/self/task");
	for (struct dirent *e; (e = readdir(d));)
		n += e->d_name[0] != '.';
	closedir(d);
	printf("tasks=%d\n", n);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	return 0;
}
"""

SERVER = r"""
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

static void on_term(int sig)
{
	(void)sig;
}

static void *worker(void *arg)
{
	(void)arg;
	poll(NULL, 0, 2500);   /* a handler may make this call: no safe point */
	return NULL;
}

int main(void)
{
	pthread_t th;

	signal(SIGTERM, on_term);
	pthread_create(&th, NULL, worker, NULL);
	pthread_join(th, NULL);   /* in a futex: no kick either */
	puts("done");
	return 0;
}
"""

SANDBOX = r"""
#include <errno.h>
#include <linux/filter.h>
#include <linux/landlock.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* A filter that refuses accept and accept4 (EPERM), as a sandbox would
 * refuse what the program itself never calls; or a Landlock domain where
 * nothing is written. */
/* Landlock: no file may be written or made, anywhere. */
static int no_writes(void)
{
	struct landlock_ruleset_attr attr = {
		.handled_access_fs = LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_MAKE_REG,
	};
	long fd = syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);

	return fd < 0 || syscall(SYS_landlock_restrict_self, fd, 0);
}

int main(int argc, char **argv)
{
	struct sock_filter f[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_accept4, 2, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_accept, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = { sizeof(f) / sizeof(f[0]), f };
	char line[64];

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return 2;
	if (!strcmp(argv[1], "landlock") ? no_writes()
	    : !strcmp(argv[1], "prctl") ? prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)
					: syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog))
		return 3;
	puts("sandboxed");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}
"""


class Lazy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir("gtlazy-")
        cls.tmp = cls.tmp_ctx.__enter__()
        cls.prog = gt.compile_c(PROG, cls.tmp / "lazy")

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    def start(self, name, mode="plain", env=LAZY, stdin=subprocess.PIPE):
        sock = str(self.tmp / f"{name}.sock")
        p = gt.start_traced([self.prog, mode], None, socket=sock, env=env,
                            stdin=stdin, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p, sock

    def ready(self, name, mode="plain", **kw):
        """start(), then the program's one thread has said it is single
        and its endpoint is there."""
        p, sock = self.start(name, mode, **kw)
        self.assertEqual(p.stdout.readline(), "ready single=1\n")
        gt.wait_until(lambda: os.path.exists(sock), what=sock)
        return p, sock

    def send_only(self, p, cmd):
        p.stdin.write(cmd + "\n")
        p.stdin.flush()

    def send(self, p, cmd):
        self.send_only(p, cmd)
        return p.stdout.readline()

    def finish(self, p):
        out, err = p.communicate(timeout=30)
        self.assertEqual((p.returncode, err), (0, ""))
        return out

    def ask_later(self, sock, data):
        """The call in a thread: (thread, box with the reply line)."""
        box = []
        t = threading.Thread(target=lambda: box.append(call(sock, data, timeout=30)))
        t.start()
        return t, box

    def test_idle_stays_single_threaded(self):
        p, sock = self.ready("idle")   # waits for the socket: no connect, that is a client
        self.assertEqual(self.send(p, "t"), "tasks=2\n")   # the program and the doorman
        self.assertEqual(p.stdout.readline(), "single=1\n")
        self.assertEqual(self.send(p, "m"), "single=1\n")
        self.assertEqual(self.finish(p), "")
        self.assertFalse(os.path.exists(sock), "socket left behind")

    def test_client_waits_for_a_safe_point(self):
        p, sock = self.ready("first", "nokick")
        f = self.tmp / "first.trace"
        t, box = self.ask_later(sock, req("debug_startGoTrace", [str(f)]))
        t.join(0.5)
        self.assertEqual(box, [], "answered while the program had no safe point")
        self.assertEqual(self.send(p, "m"), "single=0\n")   # its malloc started the service
        t.join(30)
        self.assertEqual(box, [NULL_REPLY])
        self.assertEqual(self.send(p, "m"), "single=0\n")
        self.assertEqual(call(sock, req("debug_stopGoTrace", [])), NULL_REPLY)
        self.assertEqual(self.finish(p), "")
        ev = parses(self, f)
        self.assertTrue(any(e.type in ("GoStart", "GoStartLabel", "GoCreate") for e in ev),
                        [e.type for e in ev])

    def test_gotrace_ps_is_no_client(self):
        """gotrace ps lists a doorman's endpoint without connecting (a
        connection would start the service thread at the next malloc)."""
        p, sock = self.ready("ps")
        r = subprocess.run([str(gt.BUILD / "gotrace"), "ps"], capture_output=True, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"{p.pid} ", r.stdout)
        self.assertIn(sock, r.stdout)
        self.assertEqual(self.send(p, "m"), "single=1\n")
        self.assertEqual(self.finish(p), "")

    def test_gotrace_says_it_waits(self):
        """gotrace, kept waiting 3 s by a program blocked in stdio, says
        so on stderr once, and goes on waiting for the answer."""
        p, sock = self.ready("note", "nokick")
        c = subprocess.Popen([str(gt.BUILD / "gotrace"), "stop", sock], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: c.poll() is None and c.kill())
        time.sleep(1.5)
        self.assertIsNone(c.poll(), "gotrace did not wait")
        time.sleep(2.5)
        self.assertEqual(self.send(p, "m"), "single=0\n")
        out, err = c.communicate(timeout=30)
        self.assertEqual(c.returncode, 1)   # no trace was running
        lines = err.splitlines()
        self.assertEqual(len(lines), 2, err)
        self.assertIn("no answer from", lines[0])
        self.assertIn("GOTRACE_LAZY=0", lines[0])
        self.assertIn("trace not in progress", lines[1])
        self.assertEqual(self.finish(p), "")

    def kicked(self, name, mode="plain", stdin=subprocess.PIPE, feed=None):
        """A client comes while the program waits in fgets (libc's own
        read): the doorman's SIGURG makes that wait a safe point, and the
        call is answered in well under a second; the program reads on,
        its SIGURG back at SIG_DFL and never seen."""
        p, sock = self.ready(name, mode, stdin=stdin)
        feed = feed or (lambda text: (p.stdin.write(text), p.stdin.flush()))
        time.sleep(0.2)   # in fgets now
        t, box = self.ask_later(sock, req("debug_stopGoTrace", []))
        t.join(3.0)
        self.assertEqual(len(box), 1, "no answer while the program waited in fgets")
        self.assertIn(b'"trace not in progress"', box[0])
        feed("u\n")
        self.assertEqual(p.stdout.readline(), "urg=dfl/0 single=0\n")
        return p, sock, feed

    def test_a_wait_inside_libc_is_kicked(self):
        p, sock, feed = self.kicked("kick")
        self.assertEqual(self.finish(p), "")

    def test_the_kick_keeps_a_socket_time_out_wait(self):
        """stdin a socket with SO_RCVTIMEO: the kernel would end the read
        with EINTR after a handler; the kick restarts it instead, and
        fgets reads on (EINTR would end the program's loop)."""
        a, b = socket.socketpair()
        self.addCleanup(a.close)
        with b:
            p, sock, feed = self.kicked("timeo", "rcvtimeo", stdin=b,
                                        feed=lambda text: a.sendall(text.encode()))
        feed("m\n")
        self.assertEqual(p.stdout.readline(), "single=0\n")
        a.shutdown(socket.SHUT_WR)
        self.assertEqual(self.finish(p), "")

    def test_system_waiting_for_its_child_is_kicked(self):
        """system() waits for sh in libc's own wait4."""
        p, sock = self.ready("system")
        self.send_only(p, "s")
        time.sleep(0.3)   # in wait4 now
        t, box = self.ask_later(sock, req("debug_stopGoTrace", []))
        t.join(1.0)
        self.assertEqual(len(box), 1, "no answer while system() waited")
        self.assertEqual(p.stdout.readline(), "system=0 single=0\n")
        self.assertEqual(self.finish(p), "")

    def test_a_real_time_pinned_program_gets_a_plain_service_thread(self):
        """The service thread starts late, on the program's thread, which
        made itself SCHED_FIFO and pinned itself to one CPU after load: it
        runs SCHED_OTHER, on the CPUs of load, all the same."""
        p, sock, feed = self.kicked("rt", "realtime-pinned")
        tids = [int(t) for t in os.listdir(f"/proc/{p.pid}/task")]
        self.assertEqual(len(tids), 2, tids)   # the program's and ours
        ours = [t for t in tids if t != p.pid][0]
        self.assertEqual(os.sched_getscheduler(p.pid), os.SCHED_FIFO)
        self.assertEqual(os.sched_getscheduler(ours), os.SCHED_OTHER)
        mine = os.sched_getaffinity(0)   # what the program had at load
        self.assertEqual(len(os.sched_getaffinity(p.pid)), 1)
        self.assertEqual(os.sched_getaffinity(ours), mine)
        self.assertEqual(self.finish(p), "")

    def test_a_fifo_being_opened_is_kicked(self):
        """fopen of a FIFO waits in libc's openat for a writer."""
        fifo = self.tmp / "fifo"
        os.mkfifo(fifo)
        p, sock = self.ready("fifo")
        self.send_only(p, f"f {fifo}")
        time.sleep(0.3)   # in openat now
        t, box = self.ask_later(sock, req("debug_stopGoTrace", []))
        t.join(1.0)
        self.assertEqual(len(box), 1, "no answer while fopen waited for a writer")
        with open(fifo, "w") as w:
            w.write("hello\n")
        self.assertEqual(p.stdout.readline(), "fifo=hello single=0\n")
        self.assertEqual(self.finish(p), "")

    def test_no_kick_where_sigurg_is_the_programs(self):
        """SIGURG blocked, or handled by the program: no kick, the client
        waits for the next safe point (a malloc), the program never sees
        a SIGURG of ours."""
        for mode in ("nokick", "ownurg"):
            with self.subTest(mode=mode):
                p, sock = self.ready(f"own-{mode}", mode)
                t, box = self.ask_later(sock, req("debug_stopGoTrace", []))
                t.join(1.5)
                self.assertEqual(box, [], "answered without a safe point")
                self.assertEqual(self.send(p, "m"), "single=0\n")
                t.join(30)
                self.assertEqual(len(box), 1)
                want = "urg=dfl/0 single=0\n" if mode == "nokick" else "urg=set/0 single=0\n"
                self.assertEqual(self.send(p, "u"), want)
                self.assertEqual(self.finish(p), "")

    def test_no_kick_into_a_handler_waiting(self):
        """The program's own handler waits in read(): the kick finds its
        frame and does not start the service thread there; once the
        handler is done and the program waits in fgets, it does."""
        p, sock = self.ready("inhandler", "handler")
        self.send_only(p, "h")
        time.sleep(0.3)   # in the handler's read
        t, box = self.ask_later(sock, req("debug_stopGoTrace", []))
        t.join(1.5)
        self.assertEqual(box, [], "started inside the program's handler")
        self.send_only(p, "")   # the handler's line: then fgets
        self.assertEqual(p.stdout.readline(), "single=1\n")
        t.join(3.0)
        self.assertEqual(len(box), 1, "no answer once the program waited in fgets")
        self.assertEqual(self.send(p, "u"), "urg=dfl/0 single=0\n")
        self.assertEqual(self.finish(p), "")

    def test_signal_safe_calls_and_handlers(self):
        """A client waits: write() is a safe point, handler installed or
        not; inside the handler it is not (the next malloc is)."""
        for mode in ("handler-nokick", "nokick"):
            with self.subTest(mode=mode):
                p, sock = self.ready(f"sig-{mode}", mode)
                t, box = self.ask_later(sock, req("debug_stopGoTrace", []))
                time.sleep(0.3)   # the doorman arms the safe points
                if "handler" in mode:
                    self.assertEqual(self.send(p, "k"), "single=1\n")
                    t.join(0.5)
                    self.assertEqual(box, [], "write() in a signal handler was a safe point")
                self.assertEqual(self.send(p, "w"), "single=0\n")
                t.join(30)
                self.assertIn(b'"trace not in progress"', box[0])
                self.assertEqual(self.finish(p), "")

    def test_long_waits_start_the_service_first(self):
        """No client yet: a call that may wait long starts the service
        thread before it waits, so a client that comes meanwhile is
        answered; short waits and reads that cannot wait leave the program
        single-threaded, and so does a long wait inside a handler."""
        for mode, cmd in (("plain", "r"), ("handler", "r"), ("handler", "P"), ("plain", "P")):
            with self.subTest(mode=mode, cmd=cmd):
                p, sock = self.ready(f"wait-{mode}-{cmd}", mode)
                for short in ("p", "z"):
                    self.assertEqual(self.send(p, short), "single=1\n", short)
                if mode == "handler":   # the same read, inside a handler
                    p.stdin.write("h\n")
                    p.stdin.flush()
                    time.sleep(0.3)
                    self.assertEqual(self.send(p, ""), "single=1\n")
                p.stdin.write(cmd + "\n")
                p.stdin.flush()
                time.sleep(0.2)   # it waits in read() or poll() now
                t, box = self.ask_later(sock, req("debug_stopGoTrace", []))
                t.join(1.0 if cmd == "P" else 10)
                self.assertEqual(len(box), 1, "no answer while the program waited")
                self.assertIn(b'"trace not in progress"', box[0])
                if cmd == "r":
                    p.stdin.write("\n")
                    p.stdin.flush()
                self.assertEqual(p.stdout.readline(), "single=0\n")
                self.assertEqual(self.finish(p), "")

    def test_a_shell_waiting_for_its_child(self):
        """dash waits for a child in wait3(): its endpoint answers while
        the child runs (the shell's own, not the child's)."""
        sock_dir = self.tmp / "sh"
        sock_dir.mkdir(mode=0o700, exist_ok=True)
        p = gt.start_traced(["/bin/sh", "-c", "sleep 3; true"], None,
                            socket=str(sock_dir / "%p.sock"), env=LAZY)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        sock = str(sock_dir / f"{p.pid}.sock")
        gt.wait_until(lambda: os.path.exists(sock), what=sock)
        time.sleep(0.5)   # sh waits in wait3() now
        t, box = self.ask_later(sock, req("debug_stopGoTrace", []))
        t.join(2.0)
        self.assertEqual(len(box), 1, "no answer while the shell waited for its child")
        self.assertIn(b'"trace not in progress"', box[0])
        out, err = p.communicate(timeout=30)
        self.assertEqual((p.returncode, err), (0, ""))

    def test_threads_racing_into_long_waits(self):
        """Four threads of a lazy program enter a long poll at once: one
        service thread starts, not one each (main + 4 + 1 tasks)."""
        prog = gt.compile_c(RACE, self.tmp / "race")
        for i in range(5):
            p = gt.run_traced([prog], None, socket=str(self.tmp / f"race{i}.sock"), env=LAZY)
            self.assertEqual((p.returncode, p.stdout, p.stderr), (0, "tasks=6\n", ""))

    def test_a_program_that_makes_a_thread(self):
        """Threaded, a program gains nothing from the doorman: its first
        pthread_create starts the service thread, so a server whose threads
        all wait where no safe point is answers at once."""
        prog = gt.compile_c(SERVER, self.tmp / "server")
        sock = str(self.tmp / "server.sock")
        p = gt.start_traced([prog], None, socket=sock, env=LAZY, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        gt.wait_until(lambda: os.path.exists(sock), what=sock)
        time.sleep(0.3)
        self.assertEqual(len(os.listdir(f"/proc/{p.pid}/task")), 3)   # main, worker, ours
        t, box = self.ask_later(sock, req("debug_stopGoTrace", []))
        t.join(1.5)
        self.assertEqual(len(box), 1, "no answer from a threaded program")
        out, err = p.communicate(timeout=30)
        self.assertEqual((p.returncode, out, err), (0, "done\n", ""))

    def test_a_program_that_installs_a_seccomp_filter(self):
        """A seccomp filter or a Landlock domain binds the threads made
        after it: the service thread starts before it goes in (prctl or
        the seccomp syscall; landlock_restrict_self), so its refusals are
        the program's, not the endpoint's: the call is answered, and the
        trace is written (Landlock forbids the program to write it)."""
        prog = gt.compile_c(SANDBOX, self.tmp / "sandbox")
        for how in ("prctl", "syscall", "landlock"):
            with self.subTest(how=how):
                sock = str(self.tmp / f"sandbox-{how}.sock")
                p = gt.start_traced([prog, how], None, socket=sock, env=LAZY,
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
                self.addCleanup(lambda: p.poll() is None and p.kill())
                self.assertEqual(p.stdout.readline(), "sandboxed\n")
                gt.wait_until(lambda: os.path.exists(sock), what=sock)
                f = self.tmp / f"sandbox-{how}.trace"
                t, box = self.ask_later(sock, req("debug_goTrace", [str(f), 1]))
                t.join(5.0)
                self.assertEqual(box, [NULL_REPLY], "no trace from behind the filter")
                out, err = p.communicate("", timeout=30)
                self.assertEqual((p.returncode, err), (0, ""))
                parses(self, f)

    def test_unshare_with_the_doorman(self):
        p, sock = self.start("unshare", "unshare")
        self.assertEqual(p.stdout.readline(), "unshare=0\n")
        self.assertEqual(p.stdout.readline(), "ready single=0\n")   # the service thread took over
        f = self.tmp / "unshare.trace"
        self.assertEqual(call(sock, req("debug_goTrace", [str(f), 1])), NULL_REPLY)
        self.assertEqual(self.finish(p), "")
        parses(self, f)

    def test_the_default_is_lazy(self):
        p, sock = self.ready("default", env={})
        f = self.tmp / "default.trace"
        self.assertEqual(call(sock, req("debug_goTrace", [str(f), 1])), NULL_REPLY)
        self.assertEqual(self.send(p, "t"), "tasks=2\n")   # the program and ours
        self.assertEqual(p.stdout.readline(), "single=0\n")
        self.assertEqual(self.finish(p), "")
        parses(self, f)

    def test_lazy_0_starts_the_service_at_load(self):
        p, sock = self.start("eager", env={"GOTRACE_LAZY": "0"})
        self.assertEqual(p.stdout.readline(), "ready single=0\n")
        gt.wait_until(lambda: os.path.exists(sock), what=sock)
        f = self.tmp / "eager.trace"
        self.assertEqual(call(sock, req("debug_goTrace", [str(f), 1])), NULL_REPLY)
        self.assertEqual(self.finish(p), "")
        parses(self, f)


if __name__ == "__main__":
    unittest.main()
