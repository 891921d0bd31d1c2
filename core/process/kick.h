/* core/process/kick.h - the doorman's kick (why and how: core/process/kick.c),
 * for core/process/door.c. Raw code: no libc, no TLS, but in setup. */
#ifndef GT_KICK_H
#define GT_KICK_H

#include <stdint.h>

#if defined(__x86_64__) && defined(__linux__) && !defined(__SANITIZE_THREAD__) && \
	!defined(__SANITIZE_ADDRESS__)
#define DOOR 1
#else
#define DOOR 0
#endif

/* At the doorman's start, on the program's one thread (pid = its tid). */
void gt_kick_setup(int pid);
/* On the doorman, armed: look at the program's thread and kick it, until
 * *state leaves armed (whoever changes it wakes the futex). */
void gt_kick_loop(uint32_t *state, uint32_t armed);
/* Our SIGURG handler, if still installed, goes (a pending kick with it). */
void gt_kick_undo(void);

#endif
