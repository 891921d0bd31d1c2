/* check_process.c - the process's life (core/process/state.h) with a fake
 * endpoint in place of rpc/'s server: the service thread at load, a park
 * for unshare and the resume after it, exit, fork, the long-lived policy,
 * and a one-thread program's doorman (a client connects, the doorman
 * arms, a safe point hands the endpoint to the service thread, which
 * answers). Each test runs in a process of its own (CK_FORK), which
 * starts with one thread, as a program does. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/base/fdguard.h"
#include "core/base/tls.h"
#include "core/process/api.h"
#include "core/process/door.h"
#include "core/process/request.h"
#include "core/process/service.h"
#include "core/process/state.h"
#include "tests/unit/check_main.h"

/* The fake endpoint: a listening Unix socket; each client gets "ok\n". */
static struct {
	char path[108];
	int lfd;
	uint32_t starts, fills, accepted, shutdowns, shut_flags;
	int start_tid;
} ep = { .lfd = -1 };

static int tid(void)
{
	return (int)syscall(SYS_gettid);
}

static int fake_start(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	__atomic_fetch_add(&ep.starts, 1, __ATOMIC_SEQ_CST);
	ep.start_tid = tid();
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", ep.path);
	ep.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ep.lfd < 0 || bind(ep.lfd, (struct sockaddr *)&a, sizeof(a)) || listen(ep.lfd, 8))
		return -errno;
	gt_fd_adopt(&ep.lfd);
	return 0;
}

static int fake_fill(struct pollfd *p, int max, int *timeout)
{
	(void)timeout;
	__atomic_fetch_add(&ep.fills, 1, __ATOMIC_SEQ_CST);
	if (ep.lfd < 0 || max < 1)
		return 0;
	p[0].fd = ep.lfd;
	p[0].events = POLLIN;
	p[0].revents = 0;
	return 1;
}

static void fake_handle(struct pollfd *p, int n)
{
	if (n < 1 || !(p[0].revents & POLLIN))
		return;
	int c = accept4(ep.lfd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return;
	__atomic_fetch_add(&ep.accepted, 1, __ATOMIC_SEQ_CST);
	if (write(c, "ok\n", 3) != 3) {
		/* the client sees no answer: its assertion fails */
	}
	close(c);
}

static void fake_shutdown(int flags)
{
	__atomic_fetch_add(&ep.shutdowns, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_or(&ep.shut_flags, (uint32_t)flags, __ATOMIC_SEQ_CST);
	if (ep.lfd >= 0 && (flags & GT_SHUT_CLOSE)) {
		gt_fd_release(&ep.lfd);
		close(ep.lfd);
	}
	ep.lfd = -1;
	if (flags & GT_SHUT_UNLINK)
		unlink(ep.path);
}

static int *fake_listener(int i)
{
	return i == 0 && ep.lfd >= 0 ? &ep.lfd : NULL;
}

static const struct gt_svc_client fake = {
	fake_start, fake_fill, fake_handle, fake_shutdown, fake_listener,
};

/* preload/armed.c's part: counted. The doorman calls on() without TLS. */
static uint32_t pre_n, on_n, off_n;
static void arm_pre(void)
{
	__atomic_fetch_add(&pre_n, 1, __ATOMIC_SEQ_CST);
}
static GT_RAW void arm_on(void)
{
	__atomic_fetch_add(&on_n, 1, __ATOMIC_SEQ_CST);
}
static void arm_off(void)
{
	__atomic_fetch_add(&off_n, 1, __ATOMIC_SEQ_CST);
}

static void load(int lazy)
{
	snprintf(ep.path, sizeof(ep.path), "/tmp/gt-check-process-%d.sock", (int)getpid());
	unlink(ep.path);
	setenv("GOTRACE_LAZY", lazy ? "1" : "0", 1);
	unsetenv("GOTRACE_FILE");
	unsetenv("GOTRACE_SOCKET");
	gt_service_set_client(&fake);
	gt_service_set_arm(arm_pre, arm_on, arm_off);
	gt_init();
}

/* Wait (up to 10 s) until *w is at least v. */
static int reach(uint32_t *w, uint32_t v)
{
	for (int i = 0; i < 10000; i++) {
		if (__atomic_load_n(w, __ATOMIC_SEQ_CST) >= v)
			return 1;
		usleep(1000);
	}
	return 0;
}

static int task_alive(int t)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/self/task/%d", t);
	return access(p, F_OK) == 0;
}

static int tasks(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;

	for (struct dirent *e; d && (e = readdir(d));)
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static int connect_ep(void)
{
	/* The service thread binds it: at load, after a park, in a child. */
	for (int i = 0; i < 10000 && access(ep.path, F_OK); i++)
		usleep(1000);
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", ep.path);
	ck_assert_msg(connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0, "connect %s: %s", ep.path,
		      strerror(errno));
	return fd;
}

/* The endpoint answers a client: the service thread accepted and wrote. */
static void answered(int fd)
{
	char b[8] = "";
	struct pollfd p = { fd, POLLIN, 0 };

	ck_assert_msg(poll(&p, 1, 10000) == 1, "no answer in 10 s");
	ck_assert_int_eq(read(fd, b, sizeof(b)), 3);
	ck_assert_str_eq(b, "ok\n");
	close(fd);
}

START_TEST(service_at_load)
{
	load(0);
	ck_assert_int_eq(gt_proc.state, GT_PROC_SERVICE);
	ck_assert(reach(&ep.starts, 1));
	ck_assert_int_ne(ep.start_tid, tid());   /* on the service thread */
	ck_assert_int_eq(pre_n + on_n, 0);       /* no doorman was asked for */
	answered(connect_ep());
	ck_assert_int_eq(ep.accepted, 1);
	/* A second load is nothing. */
	gt_init();
	ck_assert_int_eq(ep.starts, 1);
	gt_exit_prepare();
	ck_assert_int_eq(gt_proc.state, GT_PROC_CLOSED);
	ck_assert(ep.shut_flags & GT_SHUT_UNLINK);
	ck_assert_int_ne(access(ep.path, F_OK), 0);
	/* Nothing starts again after exit, and requests get a clear answer. */
	char err[64];
	ck_assert_int_eq(gt_request_stop(err, sizeof(err), -1), -1);
	ck_assert_str_eq(err, "no service thread");
	gt_service_long_lived();
	ck_assert_int_eq(gt_proc.state, GT_PROC_CLOSED);
}
END_TEST

START_TEST(park_and_resume)
{
	load(0);
	ck_assert(reach(&ep.starts, 1));
	int old = __atomic_load_n(&gt_proc.tid, __ATOMIC_SEQ_CST);
	ck_assert(task_alive(old));
	/* A user namespace wants a process of one task: the service leaves. */
	ck_assert_int_eq(gt_ns_prepare(0, CLONE_NEWUSER), 1);
	ck_assert_int_eq(gt_proc.state, GT_PROC_PARKED);
	ck_assert(!task_alive(old));
	ck_assert_int_eq(tasks(), 1);
	gt_ns_done(1);
	ck_assert_int_eq(gt_proc.state, GT_PROC_SERVICE);
	ck_assert_int_ne(gt_proc.tid, old);
	/* The new thread took the old one's fds: the same listener answers,
	 * and the endpoint was not started twice. */
	answered(connect_ep());
	ck_assert_int_eq(ep.starts, 1);
	/* Other namespaces need no park; a setns into a mount namespace does. */
	ck_assert_int_eq(gt_ns_prepare(0, CLONE_NEWUTS | CLONE_NEWNS), 0);
	ck_assert_int_eq(gt_proc.state, GT_PROC_SERVICE);
	ck_assert_int_eq(gt_ns_prepare(1, CLONE_NEWNS), 1);
	ck_assert_int_eq(gt_proc.state, GT_PROC_PARKED);
	gt_ns_done(1);
	ck_assert_int_eq(gt_proc.state, GT_PROC_SERVICE);
	gt_exit_prepare();
	ck_assert_int_eq(gt_proc.state, GT_PROC_CLOSED);
}
END_TEST

/* What a forked child finds: (state, tasks, endpoint starts) as its exit
 * status, 8 bits each would not fit: so one verdict bit each. */
static int child_verdict(int long_lived)
{
	int bad = 0;

	bad |= (gt_proc.state != (long_lived ? gt_proc.state : GT_PROC_NONE)) << 0;
	if (long_lived) {
		bad |= (gt_proc.state != GT_PROC_SERVICE && gt_proc.state != GT_PROC_DOOR) << 1;
		bad |= (gt_proc.pid != getpid()) << 2;
	} else {
		bad |= (tasks() != 1) << 3;
		char err[64];
		bad |= (gt_request_stop(err, sizeof(err), -1) != -1) << 4;
		/* A child that shows it is long-lived gets its endpoint now. */
		gt_service_long_lived();
		bad |= (gt_proc.state != GT_PROC_SERVICE && gt_proc.state != GT_PROC_DOOR) << 5;
	}
	return bad;
}

static void fork_check(int long_lived)
{
	int st;

	load(0);
	ck_assert(reach(&ep.starts, 1));
	if (long_lived)
		gt_service_long_lived();
	pid_t c = fork();
	ck_assert_int_ge(c, 0);
	if (c == 0) {
		/* A new endpoint of the child's own, with its own socket name. */
		snprintf(ep.path, sizeof(ep.path), "/tmp/gt-check-process-%d.sock", (int)getpid());
		_exit(child_verdict(long_lived));
	}
	ck_assert_int_eq(waitpid(c, &st, 0), c);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child verdict bits %#x",
		      WIFEXITED(st) ? WEXITSTATUS(st) : 0x100 | WTERMSIG(st));
	/* The parent's endpoint is untouched by the child's. */
	ck_assert_int_eq(gt_proc.state, GT_PROC_SERVICE);
	answered(connect_ep());
	gt_exit_prepare();
}

START_TEST(fork_child)
{
	fork_check(0);
}
END_TEST

START_TEST(fork_long_lived)
{
	fork_check(1);
}
END_TEST

START_TEST(socket_off)
{
	char err[64];

	setenv("GOTRACE_SOCKET", "off", 1);
	setenv("GOTRACE_LAZY", "1", 1);
	gt_service_set_client(&fake);
	gt_init();
	ck_assert_int_eq(gt_proc.state, GT_PROC_NONE);
	ck_assert_int_eq(ep.starts, 0);
	ck_assert_int_eq(gt_request_start("/tmp/x.trace", err, sizeof(err)), -1);
	ck_assert_str_eq(err, "no service thread");
	gt_exit_prepare();
	ck_assert_int_eq(gt_proc.state, GT_PROC_NONE);
}
END_TEST

/* The doorman: a program of one thread stays one (glibc's view) until a
 * client comes and the program reaches a safe point. Where no doorman can
 * run (sanitizer builds, other CPUs), the service thread starts at load. */
START_TEST(door_client_safe_point)
{
	ck_assert(__libc_single_threaded);
	load(1);
	if (!gt_door_possible()) {
		ck_assert_int_eq(gt_proc.state, GT_PROC_SERVICE);
		answered(connect_ep());
		return;
	}
	ck_assert_int_eq(gt_proc.state, GT_PROC_DOOR);
	ck_assert_int_eq(ep.starts, 1);
	ck_assert_int_eq(ep.start_tid, tid());   /* on the program's thread */
	ck_assert_int_eq(pre_n, 1);
	ck_assert(__libc_single_threaded);       /* no pthread was made */
	ck_assert_int_eq(tasks(), 2);            /* the program and the doorman */
	/* A safe point with no client and no long wait changes nothing. */
	gt_service_safe_point(GT_SAFE_PLAIN, 0, 0);
	ck_assert_int_eq(gt_proc.state, GT_PROC_DOOR);
	int fd = connect_ep();   /* into the backlog: no one accepts yet */
	ck_assert_msg(reach(&on_n, 1), "the doorman did not arm");
	ck_assert_int_eq(ep.accepted, 0);
	gt_service_safe_point(GT_SAFE_PLAIN, 0, 0);
	ck_assert_int_eq(gt_proc.state, GT_PROC_SERVICE);
	ck_assert_int_ge(off_n, 1);
	ck_assert(!__libc_single_threaded);
	answered(fd);
	ck_assert_int_eq(ep.starts, 1);          /* the listener was handed over */
	gt_exit_prepare();
	ck_assert_int_eq(gt_proc.state, GT_PROC_CLOSED);
	ck_assert_int_ne(access(ep.path, F_OK), 0);
}
END_TEST

START_TEST(door_long_wait)
{
	load(1);
	if (!gt_door_possible()) {
		ck_assert_int_eq(gt_proc.state, GT_PROC_SERVICE);
		return;
	}
	ck_assert_int_eq(gt_proc.state, GT_PROC_DOOR);
	/* About to wait long, no client: the service thread starts first. */
	gt_service_safe_point(GT_SAFE_PLAIN, 0, 1);
	ck_assert_int_eq(gt_proc.state, GT_PROC_SERVICE);
	answered(connect_ep());
	gt_exit_prepare();
}
END_TEST

START_TEST(door_exit_without_client)
{
	load(1);
	if (!gt_door_possible()) {
		ck_assert_int_eq(gt_proc.state, GT_PROC_SERVICE);
		return;
	}
	ck_assert_int_eq(gt_proc.state, GT_PROC_DOOR);
	gt_exit_prepare();
	ck_assert_int_eq(gt_proc.state, GT_PROC_CLOSED);
	ck_assert(ep.shut_flags & GT_SHUT_UNLINK);
	ck_assert_int_ne(access(ep.path, F_OK), 0);
	ck_assert_int_ge(off_n, 1);
	ck_assert(__libc_single_threaded);   /* it never became threaded */
}
END_TEST

START_TEST(door_exit_with_client)
{
	load(1);
	if (!gt_door_possible()) {
		ck_assert_int_eq(gt_proc.state, GT_PROC_SERVICE);
		return;
	}
	int fd = connect_ep();
	ck_assert(reach(&on_n, 1));
	/* Exit is a safe point: the waiting client is answered first. */
	gt_exit_prepare();
	ck_assert_int_eq(gt_proc.state, GT_PROC_CLOSED);
	answered(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("process");
	TCase *tc = tcase_create("process");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, service_at_load);
	tcase_add_test(tc, park_and_resume);
	tcase_add_test(tc, fork_child);
	tcase_add_test(tc, fork_long_lived);
	tcase_add_test(tc, socket_off);
	tcase_add_test(tc, door_client_safe_point);
	tcase_add_test(tc, door_long_wait);
	tcase_add_test(tc, door_exit_without_client);
	tcase_add_test(tc, door_exit_with_client);
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
