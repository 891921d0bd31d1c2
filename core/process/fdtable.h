/* core/process/fdtable.h - the service thread's fd table of its own (why and how:
 * core/process/fdtable.c). */
#ifndef GT_FDTABLE_H
#define GT_FDTABLE_H

/* On the service thread at its start: a table of its own, with only the
 * wake pair (wake[0] program threads write, wake[1] the loop reads; their
 * numbers in the program's table) and, after a park, the parked thread's
 * fds back at their numbers. 1: its own table; 0: it shares the
 * program's; -1: a park's fds could not come back (the thread ends). */
int gt_fdtable_take(const int *wake);
/* Has the service thread a table of its own? Any thread. */
int gt_fdtable_own(void);
/* The loop's end of the wake pair in its own table, -1 when shared. */
int gt_fdtable_wake_fd(void);
/* A park, on the service thread with its own table: every fd in it goes
 * to the next service thread. */
void gt_fdtable_hand_over(void);
/* A service thread from scratch follows (a new process, a forked child). */
void gt_fdtable_reset(void);

#endif
