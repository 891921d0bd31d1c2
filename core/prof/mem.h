/* core/prof/mem.h - the heap's figures for debug_memStats and
 * debug_freeOSMemory, from glibc's allocator (mallinfo2, malloc_trim).
 * Service thread. */
#ifndef GT_PROF_MEM_H
#define GT_PROF_MEM_H

#include <stdint.h>

/* Go's runtime.MemStats fields that have a native meaning, bytes. */
struct gt_mem_stats {
	uint64_t heap_sys;       /* obtained from the system: arena + mmapped chunks */
	uint64_t heap_inuse;     /* in allocated chunks (uordblks + hblkhd) */
	uint64_t heap_idle;      /* free chunks inside the arenas (fordblks) */
	uint64_t heap_releasable;/* of those, the top that malloc_trim gives back (keepcost) */
	uint64_t mmapped;        /* chunks of their own mapping (hblkhd), in heap_inuse */
	int glibc;               /* the allocator is glibc's (the figures mean something) */
};

void gt_mem_stats(struct gt_mem_stats *out);

/* malloc_trim(0): the free memory at every arena's top and in whole free
 * pages inside them goes back to the system. */
void gt_mem_free_os(void);

#endif
