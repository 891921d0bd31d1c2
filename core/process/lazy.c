/* core/process/lazy.c - a one-thread program's endpoint: kept by a
 * doorman (core/process/door.c) until a client comes or the program is
 * about to wait long, then handed to the service thread at a safe point. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/single_threaded.h>
#include <time.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/fdguard.h"
#include "core/base/lock.h"
#include "core/base/log.h"
#include "core/base/sys.h"
#include "core/process/api.h"
#include "core/process/state.h"
#include "core/record/api.h"
#include "core/process/door.h"
#include "core/process/safe.h"
#include "core/record/thread.h"

/* A program of one thread: the endpoint waits in a doorman (core/process/door.c)
 * until a client comes, and the service thread starts at the first safe
 * point after that (gt_service_safe_point). lazy: the endpoint is the
 * doorman's, or in the wake pair for the service thread to take (state
 * DOOR). */

void gt_service_set_arm(void (*pre)(void), void (*on)(void), void (*off)(void))
{
	gt_proc.arm_pre = pre;
	gt_proc.arm_on = on;
	gt_proc.arm_off = off;
}

/* 1: the endpoint is up, in a doorman (or there is none to be had: the
 * client said why); 0: start the service thread instead. */
static int lazy_start(void)
{
	int fds[2], n = 0;

	if (!gt_cfg.lazy || gt_cfg.socket_off || !gt_proc.arm_on || !gt_proc.client || !gt_proc.client->listener ||
	    !__libc_single_threaded || !gt_door_possible())
		return 0;
	if (gt_proc_wake_open())
		return 0;
	gt_safe_init();
	gt_proc.client_started = 1;
	gt_proc.client_ok = gt_proc.client->start() == 0;   /* the only thread: no fd_lock */
	if (!gt_proc.client_ok) {
		gt_proc_wake_close();
		return 1;
	}
	gt_fd_lock();
	for (int i = 0; i < 2; i++)
		if (gt_proc.client->listener(i))
			fds[n++] = *gt_proc.client->listener(i);
	gt_proc.arm_pre();   /* before the doorman, which may arm at once */
	int r = gt_door_start(fds, n, gt_proc.wake_fds[1], gt_proc.arm_on);
	/* The doorman has its copies; ours are not the program's to see. */
	for (int i = 0; !r && i < 2; i++) {
		int *p = gt_proc.client->listener(i);
		if (p) {
			int fd = *p;
			gt_fd_release_locked(p);
			gt_close(fd);
		}
	}
	gt_fd_unlock();
	if (r) {
		gt_proc.arm_off();
		gt_proc.client->shutdown(GT_SHUT_CLOSE | GT_SHUT_UNLINK);
		gt_proc.client_ok = gt_proc.client_started = 0;
		gt_proc_wake_close();
		if (gt_cfg.debug)
			gt_log("no doorman (%s): the service thread starts now", strerror(-r));
		return 0;
	}
	gt_proc.state = GT_PROC_DOOR;
	return 1;
}

/* The doorman has handed the endpoint to the wake pair: the service thread
 * takes it over. On a program thread at a safe point, in_tracer raised. */
void gt_proc_lazy_service(void)
{
	gt_proc.state = GT_PROC_NONE;
	int r = gt_proc_spawn_taken();
	if (r) {
		gt_log("cannot start the service thread: the endpoint is lost");
		if (gt_proc.client_ok && gt_proc.client->shutdown)
			gt_proc.client->shutdown(GT_SHUT_UNLINK);   /* its fds are in the wake pair */
		gt_proc.client_ok = 0;
		return;
	}
	gt_proc.state = GT_PROC_SERVICE;
}

static uint64_t coarse_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void gt_service_safe_point(int kind, uintptr_t caller, int wait)
{
	struct gt_tls *tls = &gt_tls;

	/* Where a handler may be running, look again 10 ms later, not at the
	 * next call: the look is 62 syscalls and a read of the stack, and a
	 * write loop must not pay it on every write while a client waits. */
	static uint64_t quiet_until;

	if (tls->in_tracer || (kind == GT_SAFE_CALLER && (tls->in_call || gt_safe_in_libc(caller))))
		return;
	uint64_t quiet = kind == GT_SAFE_SIGNAL ? __atomic_load_n(&quiet_until, __ATOMIC_RELAXED) : 0;
	if (quiet && coarse_ns() < quiet)
		return;
	int saved = errno;
	tls->in_tracer++;
	int h = kind == GT_SAFE_SIGNAL && gt_safe_in_handler();
	if (h)
		__atomic_store_n(&quiet_until, coarse_ns() + 10000000u, __ATOMIC_RELAXED);
	/* A client waits (claim), or the program is about to wait long: the
	 * doorman hands the endpoint over now. One thread wins either way. */
	if (!h && gt_proc.pid == getpid() &&
	    (gt_door_claim() || (wait && gt_proc.state == GT_PROC_DOOR && gt_door_hand_over(gt_proc.wake_fds[0])))) {
		gt_proc.arm_off();
		gt_proc_lazy_service();
	}
	tls->in_tracer--;
	errno = saved;
}

void gt_service_needed(void)
{
	if (gt_proc.state == GT_PROC_DOOR)
		gt_service_safe_point(GT_SAFE_PLAIN, 0, 1);
}

/* The endpoint, for a process with no trace from load: a doorman, else
 * the service thread. 0, or -errno. */
int gt_proc_endpoint_start(void)
{
	return lazy_start() ? 0 : gt_proc_service_start();
}
