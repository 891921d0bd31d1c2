/* core/process/safe.h - when may a program of one thread, whose endpoint a
 * doorman keeps (core/process/door.c), start the service thread: at a safe point
 * (no libc lock of its own held, no signal handler interrupted), and, with
 * no client yet, before a call that may wait long. */
#ifndef GT_SAFE_H
#define GT_SAFE_H

#include <stdint.h>

#include "core/process/api.h"

/* Find libc's and ld.so's code (once, before the doorman starts). */
void gt_safe_init(void);
/* Is pc in libc's or ld.so's code? */
int gt_safe_in_libc(uintptr_t pc);
/* May a signal handler of the program's be running on this thread? */
int gt_safe_in_handler(void);

#endif
