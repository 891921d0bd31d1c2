"""Issue 2.2: 2,000 short threads started from 4 threads at once.

The trace parses with Go 1.19's `go tool trace -d`, the creation count is
exact (main + 4 spawners + 2000 workers), every short thread ended, and the
viewer serves every page for this big trace."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import gttest as gt  # noqa: E402

THREADS, SPAWNERS = 2000, 4


class ChurnTrace(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp_ctx = gt.tempdir()
        cls.tmp = cls.tmp_ctx.__enter__()
        cls.trace = str(cls.tmp / "churn.trace")
        cls.traced = gt.run_traced([gt.program("churn"), THREADS, SPAWNERS], cls.trace,
                                   timeout=300)
        cls.events, cls.events_error = None, None
        try:
            cls.events = gt.trace_events(cls.trace)
        except AssertionError as e:
            cls.events_error = e

    @classmethod
    def tearDownClass(cls):
        cls.tmp_ctx.__exit__(None, None, None)

    def need_events(self):
        if self.events_error:
            raise self.events_error
        return self.events

    def test_program_unchanged(self):
        self.assertEqual(self.traced.returncode, 0, self.traced.stderr)
        self.assertEqual(self.traced.stdout, f"churn: {THREADS} threads ran\n")
        self.assertEqual(self.traced.stderr, "")

    def test_creation_count_exact(self):
        created = gt.created_goroutines(self.need_events())
        self.assertEqual(len(created), 1 + SPAWNERS + THREADS)
        self.assertEqual(len(set(created)), len(created), "a goroutine id was created twice")

    def test_every_thread_started_and_ended(self):
        ev = self.need_events()
        started = {e.args["g"] for e in ev if e.type in ("GoStart", "GoStartLabel")}
        self.assertEqual(started, set(gt.created_goroutines(ev)),
                         "every created thread must start in the trace")
        states = gt.goroutine_states(ev)
        dead = [g for g, s in states.items() if s == "dead"]
        self.assertEqual(len(dead), SPAWNERS + THREADS)
        self.assertNotIn("running", states.values())

    def test_groups_and_viewer(self):
        self.need_events()
        pages = gt.check_ui(self.trace, mmu="some", goroutine_traces=3)
        self.assertEqual(gt.goroutine_groups(pages),
                         {"main": 1, "spawner_main": SPAWNERS, "short_worker": THREADS})


SIGNAL_AT_START = r"""
/* Threads are created while a process-directed 50 kHz SIGALRM storm runs
 * a handler that makes one hooked call (write to /dev/null). Threads have
 * 48 MB stacks, so glibc unmaps each stack at join (its cache holds 40). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/time.h>
#include <unistd.h>

static int nfd;
static void handler(int s)
{
	int e = errno;
	(void)s;
	if (write(nfd, "x", 1) != 1)
		e = errno;
	errno = e;
}
static void *thr(void *a)
{
	volatile int x = 0;
	for (int i = 0; i < 20000; i++)
		x += i;
	return a;
}

int main(void)
{
	nfd = open("/dev/null", O_WRONLY);
	struct sigaction sa = { .sa_handler = handler, .sa_flags = SA_RESTART };
	sigaction(SIGALRM, &sa, 0);
	usleep(60000);
	struct itimerval it = { { 0, 20 }, { 0, 20 } };
	setitimer(ITIMER_REAL, &it, 0);
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 48 << 20);
	for (int i = 0; i < 300; i++) {
		pthread_t t;
		pthread_create(&t, &at, thr, 0);
		pthread_join(t, 0);
	}
	struct itimerval z = { 0 };
	setitimer(ITIMER_REAL, &z, 0);
	printf("done\n");
	return 0;
}
"""


class SignalAtThreadStart(unittest.TestCase):
    def test_record_adopted_first_is_retired(self):
        """A signal at a new thread's first instructions (start_thread, before
        our trampoline) runs a handler whose hooked call adopts the thread;
        the trampoline then made a second record and the adopted one stayed
        LIVE with a TLS pointer into the freed stack, which the stop at
        exit read: SIGSEGV in 4 runs of 5. 3 runs of 300 threads under a
        50 kHz SIGALRM: the program ends as untraced, the trace reads."""
        with gt.tempdir() as d:
            exe = gt.compile_c(SIGNAL_AT_START, d / "sigstart")
            for run in range(3):
                trace = str(d / f"t{run}.trace")
                r = gt.run_traced([exe], trace, timeout=120)
                self.assertEqual((r.returncode, r.stdout), (0, "done\n"), f"run {run}: {r.stderr}")
                gt.trace_events(trace)


if __name__ == "__main__":
    unittest.main()
