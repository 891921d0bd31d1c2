/* core/safe.h - when may a program of one thread, whose endpoint a
 * doorman keeps (core/door.c), start the service thread: at a safe point
 * (no libc lock of its own held, no signal handler interrupted), and, with
 * no client yet, before a call that may wait long. */
#ifndef GT_SAFE_H
#define GT_SAFE_H

#include <stdint.h>

/* How long a call may wait, by its arguments (preload/armed.c's table):
 * never long (NO); by its fd, argument 1 (FD); by a time-out argument
 * (MS: int milliseconds, TS: struct timespec *, TV: struct timeval *, US:
 * microseconds, S: seconds; the digit is the argument, negative or null is
 * no end); by its options, without WNOHANG (the digit is the argument:
 * WAIT2 wait3, WAIT3 waitpid and wait4, WAITID waitid); always possibly
 * long (YES). An absolute time-out
 * (ABS3: clock_nanosleep) counts as long. */
enum { GT_W_NO, GT_W_FD, GT_W_YES, GT_W_MS3, GT_W_MS4, GT_W_TS1, GT_W_TS3, GT_W_TS5,
       GT_W_TV5, GT_W_US1, GT_W_S1, GT_W_ABS3, GT_W_WAIT2, GT_W_WAIT3, GT_W_WAITID };

/* A wait this long or longer is long: a client that comes during a
 * shorter one is answered at the call after it. */
#define GT_LONG_WAIT_NS 100000000ll

/* May a call of wait class cls with arguments a[0..5] wait long? Keeps
 * errno; reads the program's time-outs without ever faulting. */
int gt_safe_may_wait(unsigned cls, const uint64_t a[6]);

/* Find libc's and ld.so's code (once, before the doorman starts). */
void gt_safe_init(void);
/* Is pc in libc's or ld.so's code? */
int gt_safe_in_libc(uintptr_t pc);
/* May a signal handler of the program's be running on this thread? */
int gt_safe_in_handler(void);

#endif
