/* check_safe.c - GOTRACE_LAZY's judgements (core/process/safe.c): which calls may
 * wait long, by their arguments, without faulting on a bad pointer and
 * keeping errno; which fds a read can wait on; and whether a signal
 * handler may be running (inside one, on a sigaltstack, off the main
 * thread: yes; in main with handlers installed but none running: no). */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/process/api.h"
#include "core/record/api.h"
#include "core/process/safe.h"
#include "tests/unit/check_main.h"

/* The call's arguments 1..6 as a[0..5]. */
static int waits(unsigned cls, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	const uint64_t a[6] = { a1, a2, a3, a4, a5, 0 };

	errno = 1234;
	int r = gt_safe_may_wait(cls, a);
	ck_assert_int_eq(errno, 1234);
	return r;
}

#define P(x) ((uint64_t)(uintptr_t)(x))

START_TEST(timeouts)
{
	struct timespec s5 = { 0, 5000000 }, s100 = { 0, 100000000 }, s2 = { 2, 0 }, neg = { -1, 0 },
			huge = { INT64_MAX, 999999999 };
	struct timeval v50 = { 0, 50000 }, v100 = { 0, 100000 }, vhuge = { INT64_MAX, 0 };
	static struct timespec heap_short = { 0, 1000 }, heap_long = { 3, 0 };   /* off the stack */

	ck_assert_int_eq(waits(GT_W_NO, 0, 0, 0, 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_YES, 0, 0, 0, 0, 0), 1);
	/* poll(fds, n, ms), epoll_wait(fd, ev, n, ms) */
	ck_assert_int_eq(waits(GT_W_MS3, 0, 0, 5, 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_MS3, 0, 0, 99, 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_MS3, 0, 0, 100, 0, 0), 1);
	ck_assert_int_eq(waits(GT_W_MS3, 0, 0, (uint32_t)-1, 0, 0), 1);
	ck_assert_int_eq(waits(GT_W_MS4, 0, 0, 0, 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_MS4, 0, 0, 0, (uint32_t)-1, 0), 1);
	/* nanosleep(ts), ppoll(fds, n, ts), pselect(n, r, w, e, ts) */
	ck_assert_int_eq(waits(GT_W_TS1, P(&s5), 0, 0, 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_TS1, P(&s100), 0, 0, 0, 0), 1);
	ck_assert_int_eq(waits(GT_W_TS1, P(&s2), 0, 0, 0, 0), 1);
	ck_assert_int_eq(waits(GT_W_TS1, P(&neg), 0, 0, 0, 0), 1);
	ck_assert_int_eq(waits(GT_W_TS1, P(&huge), 0, 0, 0, 0), 1);   /* no overflow (UBSan) */
	ck_assert_int_eq(waits(GT_W_TS1, P(&heap_short), 0, 0, 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_TS1, P(&heap_long), 0, 0, 0, 0), 1);
	ck_assert_int_eq(waits(GT_W_TS3, 0, 0, 0, 0, 0), 1);   /* no time-out */
	ck_assert_int_eq(waits(GT_W_TS3, 0, 0, P(&s5), 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_TS5, 0, 0, 0, 0, P(&s100)), 1);
	ck_assert_int_eq(waits(GT_W_TS5, 0, 0, 0, 0, P(&s5)), 0);
	/* select(n, r, w, e, tv) */
	ck_assert_int_eq(waits(GT_W_TV5, 0, 0, 0, 0, P(&v50)), 0);
	ck_assert_int_eq(waits(GT_W_TV5, 0, 0, 0, 0, P(&v100)), 1);
	ck_assert_int_eq(waits(GT_W_TV5, 0, 0, 0, 0, 0), 1);
	ck_assert_int_eq(waits(GT_W_TV5, 0, 0, 0, 0, P(&vhuge)), 1);
	/* usleep(us), sleep(s) */
	ck_assert_int_eq(waits(GT_W_US1, 99999, 0, 0, 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_US1, 100000, 0, 0, 0, 0), 1);
	ck_assert_int_eq(waits(GT_W_S1, 0, 0, 0, 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_S1, 1, 0, 0, 0, 0), 1);
	/* clock_nanosleep(clock, flags, ts, rem): absolute is long */
	ck_assert_int_eq(waits(GT_W_ABS3, CLOCK_MONOTONIC, 0, P(&s5), 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_ABS3, CLOCK_MONOTONIC, TIMER_ABSTIME, P(&s5), 0, 0), 1);
	/* wait3(st, opt, ru), waitpid(pid, st, opt), waitid(type, id, info, opt) */
	ck_assert_int_eq(waits(GT_W_WAIT2, 0, WNOHANG, 0, 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_WAIT2, 0, 0, 0, 0, 0), 1);
	ck_assert_int_eq(waits(GT_W_WAIT3, (uint64_t)-1, 0, WNOHANG | WUNTRACED, 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_WAIT3, (uint64_t)-1, 0, 0, 0, 0), 1);
	ck_assert_int_eq(waits(GT_W_WAITID, P_ALL, 0, 0, WEXITED | WNOHANG, 0), 0);
	ck_assert_int_eq(waits(GT_W_WAITID, P_ALL, 0, 0, WEXITED, 0), 1);
}
END_TEST

/* A time-out the program's own call would get EFAULT for: no fault here. */
START_TEST(bad_pointers)
{
	void *gone = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert_ptr_ne(gone, MAP_FAILED);
	munmap(gone, 4096);
	ck_assert_int_eq(waits(GT_W_TS1, P(gone), 0, 0, 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_TS1, 8, 0, 0, 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_TV5, 0, 0, 0, 0, P(gone)), 0);
	ck_assert_int_eq(waits(GT_W_TS3, 0, 0, (uint64_t)-8, 0, 0), 0);
}
END_TEST

static unsigned kind(int fd)
{
	return __atomic_load_n(&gt_fd_kind[fd], __ATOMIC_RELAXED);
}

START_TEST(fds)
{
	int p[2], s[2];
	FILE *f = tmpfile();
	int null = open("/dev/null", O_RDWR), zero = open("/dev/zero", O_RDONLY);

	ck_assert(f && null >= 0 && zero >= 0);
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, s), 0);
	int file = fileno(f);
	ck_assert_int_eq(waits(GT_W_FD, (uint64_t)file, 0, 0, 0, 0), 0);
	ck_assert_uint_eq(kind(file), GT_FD_NOWAIT);   /* remembered */
	ck_assert_int_eq(waits(GT_W_FD, (uint64_t)null, 0, 0, 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_FD, (uint64_t)zero, 0, 0, 0, 0), 0);
	ck_assert_int_eq(waits(GT_W_FD, (uint64_t)p[0], 0, 0, 0, 0), 1);
	ck_assert_uint_ne(kind(p[0]), GT_FD_NOWAIT);
	ck_assert_int_eq(waits(GT_W_FD, (uint64_t)s[0], 0, 0, 0, 0), 1);
	ck_assert_int_eq(waits(GT_W_FD, GT_FD_MAX + 5, 0, 0, 0, 0), 1);
	/* A number reused for a pipe once our close hook forgot it. */
	fclose(f);
	gt_fd_note(file, GT_FD_UNKNOWN);
	ck_assert_int_eq(dup2(p[0], file), file);
	ck_assert_int_eq(waits(GT_W_FD, (uint64_t)file, 0, 0, 0, 0), 1);
	close(file);
	close(p[0]);
	close(p[1]);
	close(s[0]);
	close(s[1]);
	close(null);
	close(zero);
}
END_TEST

static volatile int seen = -1;

static void look(int sig)
{
	(void)sig;
	seen = gt_safe_in_handler();
}

static void *off_main(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)gt_safe_in_handler();
}

START_TEST(handlers)
{
	struct sigaction sa = { 0 }, old;
	pthread_t th;
	void *r;

	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR2, SIG_DFL);
	ck_assert_int_eq(gt_safe_in_handler(), 0);   /* none installed */
	sa.sa_handler = look;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGUSR1, &sa, &old), 0);
	ck_assert_int_eq(gt_safe_in_handler(), 0);   /* installed, not running */
	raise(SIGUSR1);
	ck_assert_int_eq(seen, 1);                    /* running: its frame is on the stack */
	ck_assert_int_eq(gt_safe_in_handler(), 0);   /* and returned */
	/* On a sigaltstack. */
	stack_t ss = { .ss_sp = malloc(1 << 16), .ss_size = 1 << 16 };
	ck_assert_int_eq(sigaltstack(&ss, NULL), 0);
	sa.sa_flags = SA_ONSTACK;
	ck_assert_int_eq(sigaction(SIGUSR2, &sa, NULL), 0);
	seen = -1;
	raise(SIGUSR2);
	ck_assert_int_eq(seen, 1);
	ss.ss_flags = SS_DISABLE;
	sigaltstack(&ss, NULL);
	/* Another thread than main, handlers installed: cannot tell, so yes. */
	ck_assert_int_eq(pthread_create(&th, NULL, off_main, NULL), 0);
	ck_assert_int_eq(pthread_join(th, &r), 0);
	ck_assert_int_eq((intptr_t)r, 1);
	signal(SIGUSR1, SIG_DFL);
	signal(SIGUSR2, SIG_DFL);
	ck_assert_int_eq(gt_safe_in_handler(), 0);
	free(ss.ss_sp);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("safe");
	TCase *tc = tcase_create("lazy");
	tcase_add_test(tc, timeouts);
	tcase_add_test(tc, bad_pointers);
	tcase_add_test(tc, fds);
	tcase_add_test(tc, handlers);
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
