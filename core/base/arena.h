/* core/base/arena.h - memory for tracer state that lives as long as the process:
 * mmap'd regions carved by a bump pointer under a futex lock. Nothing is
 * freed (records are recycled by their owners). Never calls malloc. */
#ifndef GT_ARENA_H
#define GT_ARENA_H

#include <stddef.h>

/* size bytes, zeroed, 16-byte aligned; NULL when mmap fails. Any thread. */
void *gt_arena_alloc(size_t size);

/* Map / unmap anonymous memory (size rounded up to pages); errno kept. */
void *gt_map(size_t size);
void gt_unmap(void *p, size_t size);

/* Address space the process may still map under RLIMIT_AS (`ulimit -v`):
 * the limit less what is mapped now; SIZE_MAX without a limit. Tables and
 * buffers are sized by it, so that a trace leaves the program its room
 * (liburcu aborts on a failed allocation; a program's own pthread_create
 * fails). Reads /proc/self/statm: not from a hook. errno kept. */
size_t gt_as_room(void);

#endif
