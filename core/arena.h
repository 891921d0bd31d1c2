/* core/arena.h - memory for tracer state that lives as long as the process:
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

#endif
