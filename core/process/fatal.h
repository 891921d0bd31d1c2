/* core/process/fatal.h - arming the fatal-signal handlers (why: the
 * preload-facing part in core/process/api.h). */
#ifndef GT_FATAL_H
#define GT_FATAL_H

/* Service thread, at trace start / stop. */
void gt_fatal_arm(void);
void gt_fatal_disarm(void);

#endif
