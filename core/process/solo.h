/* core/process/solo.h - a one-thread program's streams take no lock while
 * our service thread runs (solo.c). */
#ifndef GT_PROCESS_SOLO_H
#define GT_PROCESS_SOLO_H

#include "core/process/api.h"   /* gt_solo_file, gt_solo_end */

/* The service thread, at each turn of its loop: solo mode if the program
 * has one thread (and glibc's streams are as solo.c describes); cheap
 * once decided. */
void gt_solo_begin(void);
/* The loop's wait for its next turn while solo mode has streams left to
 * try (the program held them): GT_SOLO_RETRY_MS, else -1. */
#define GT_SOLO_RETRY_MS 10
int gt_solo_retry_ms(void);
/* At load, gt_real resolved: which of the functions solo mode stands in
 * for are libc's own (dl_iterate_phdr: the loader's lock, which is ours
 * or free then). */
void gt_solo_init(void);

#endif
