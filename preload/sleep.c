/* preload/sleep.c - sleeps and waits for signals: sleep events (in no
 * blocking profile; shown on the thread's timeline). libc's sleep and
 * usleep call nanosleep internally, out of our reach, so each is hooked. */
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include "preload/hook.h"

#define SLEEP GT_OP_SLEEP

GT_HOOK_OP(int, nanosleep, (gt_ts req, struct timespec *rem), (req, rem), SLEEP, GT_END_PLAIN)
GT_HOOK_OP(int, clock_nanosleep, (clockid_t c, int f, gt_ts req, struct timespec *rem),
	   (c, f, req, rem), SLEEP, GT_END_PLAIN)
GT_HOOK_OP(int, usleep, (useconds_t us), (us), SLEEP, GT_END_PLAIN)
GT_HOOK_OP(unsigned, sleep, (unsigned s), (s), SLEEP, GT_END_PLAIN)
GT_HOOK_OP(int, pause, (void), (), SLEEP, GT_END_PLAIN)
GT_HOOK_OP(int, sigsuspend, (const sigset_t *m), (m), SLEEP, GT_END_PLAIN)
GT_HOOK_OP(int, sigwait, (const sigset_t *m, int *s), (m, s), SLEEP, GT_END_PLAIN)
GT_HOOK_OP(int, sigwaitinfo, (const sigset_t *m, siginfo_t *i), (m, i), SLEEP, GT_END_PLAIN)
GT_HOOK_OP(int, sigtimedwait, (const sigset_t *m, siginfo_t *i, gt_ts t), (m, i, t), SLEEP,
	   GT_END_PLAIN)
