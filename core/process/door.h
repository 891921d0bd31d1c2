/* core/process/door.h - the endpoint of a program of one thread, kept by a task that
 * glibc does not know of (why and how: core/process/door.c). */
#ifndef GT_DOOR_H
#define GT_DOOR_H

#include <stdint.h>

/* Can this build and kernel run a doorman? (x86-64, no sanitizer, no
 * valgrind, close_range.) */
int gt_door_possible(void);

/* On the one program thread, with fd_lock held: a doorman task with a copy
 * of the fd table keeps the n (<= 2) listening sockets lfd and wake (the
 * wake pair's end program threads write to: wake_w, and the end it sends
 * on: wake_r). When a client connects it hands the listeners over to the
 * wake pair (SCM_RIGHTS, their numbers as data, as a parked service thread
 * does) and calls on_connect (which must be as raw as the doorman: atomics
 * only; it arms the safe points); then, until a safe point claims the
 * start, it kicks a program waiting inside libc (SIGURG, core/process/door.c).
 * 0, or -errno. The caller closes its own copies of lfd afterwards. */
int gt_door_start(const int *lfd, int n, int wake_r, void (*on_connect)(void));

/* A client is waiting and the fds are in the wake pair: claim the start of
 * the service thread (one caller wins). */
int gt_door_claim(void);
/* Is a doorman alive or a claim pending? */
int gt_door_pending(void);
/* Fds the doorman sent to the wake pair that no service thread took yet;
 * reading resets the count (core/process/fdtable.c). */
unsigned gt_door_take_handed(void);

/* The doorman ends, handing its fds over (handover) or not. After it no
 * claim succeeds until a new gt_door_start. wake_w, the wake pair's program
 * end, wakes its poll; this then waits until its task is gone. wake_w < 0
 * (exit): no wake-up, no wait: it never arms now and dies with the process.
 * Returns 1 when the fds are in the wake pair (a service thread must take
 * them), else 0. */
int gt_door_stop(int handover, int wake_w);

/* The program is about to wait long (GOTRACE_LAZY's pre-start): the
 * doorman hands its fds to the wake pair and ends (wake_w wakes it), or,
 * when a client already came, this is a claim. Returns 1 to the one caller
 * that must start the service thread, 0 to any other. */
int gt_door_hand_over(int wake_w);

/* In a forked child: no doorman there. */
void gt_door_after_fork_child(void);

#endif
