/* core/record/heap.h - the live-heap figure of a trace (service thread side). */
#ifndef GT_HEAP_H
#define GT_HEAP_H

#include <stdint.h>

/* Session start (service thread, before the session is published): the
 * baseline (glibc's in-use bytes; 0 with another allocator). */
uint64_t gt_heap_begin(void);
/* Once, before the first session (gt_ctl_prepare): is the allocator glibc's? */
void gt_heap_prepare(void);
/* The same answer (asking first if needed). */
int gt_heap_is_glibc(void);
/* Session s ends (service thread, threads closed): the exact figure
 * (folded bytes + what live threads have not folded yet) and the
 * high-water mark. */
void gt_heap_end(uint64_t s, uint64_t *live, uint64_t *peak);

#endif
