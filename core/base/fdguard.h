/* core/base/fdguard.h - the tracer's own fds survive a program that closes or
 * reuses every fd (daemons: close(3..1023), close_range, closefrom, dup2
 * over everything). Our fds are registered by the variable that holds them,
 * live at high numbers, are skipped by close/close_range/closefrom, and move
 * away before a dup2/dup3 lands on them. */
#ifndef GT_FDGUARD_H
#define GT_FDGUARD_H

#include <stddef.h>
#include <stdint.h>

/* Register the fd in *slot as ours and move it to a high number (*slot is
 * updated). 0, or -errno (it stays registered where it is). Any thread; on
 * a thread with an fd table of its own (gt_tls.own_fds) adopt and release
 * do nothing: the program cannot reach its fds. */
int gt_fd_adopt(int *slot);
/* Unregister before we close it ourselves. */
void gt_fd_release(int *slot);
/* The same with gt_fd_lock already held (the service loop's handlers). */
int gt_fd_adopt_locked(int *slot);
void gt_fd_release_locked(int *slot);
/* Is fd one of ours? Lock-free; any thread, signal-safe. */
int gt_fd_ours(int fd);

/* Users of registered fds hold this around each syscall on them (not around
 * a blocking poll): a relocation then never races a write. */
void gt_fd_lock(void);
void gt_fd_unlock(void);
/* gt_fd_lock without waiting: 1 when taken (release with gt_fd_unlock), 0
 * when another thread holds it. For program threads that must never wait
 * behind the writer's write() of the trace (a slow disk, a FIFO). */
int gt_fd_trylock(void);
/* Let go of fd_lock, however deep this thread holds it, around a call that
 * may wait (the trace file's open, a wait for a FIFO's reader): returns the
 * depth held (0: not held), which gt_fd_resume takes back. Our fds may move
 * meanwhile: re-read them from their slots after. */
unsigned gt_fd_suspend(void);
void gt_fd_resume(unsigned depth);
/* Does the calling thread hold fd_lock? Lock-free, signal-safe: a signal
 * handler about to do what may adopt an fd (libunwind's set-up opens its
 * pipe) checks it first, as the interrupted code may hold it (it is taken
 * and its owner noted inside our own code only, so a handler that
 * interrupted code of ours does not ask). */
int gt_fd_lock_mine(void);
/* Bumped by every relocation: a poll that raced one has stale revents. */
uint32_t gt_fd_generation(void);

/* For the hooks. dup2/dup3 are about to replace fd: move ours away first. */
void gt_fd_guard_target(int fd);
/* close_range(lo, hi, flags) around our fds; real is the libc function
 * (NULL: close one by one). Returns what real returned (0 or -1/errno). */
int gt_fd_guard_close_range(unsigned lo, unsigned hi, int flags,
			    int (*real)(unsigned, unsigned, int));

/* Open (create, truncate) an output file of ours, as the trace's: O_WRONLY,
 * O_NONBLOCK so that a FIFO with no reader fails at once (said in err),
 * without fd_lock held (a hung network filesystem). The fd, or -1 with err. */
int gt_fd_open_out(const char *path, char *err, size_t errlen);

/* After fork in the child: no fd is ours any more. */
void gt_fd_after_fork_child(void);

#endif
