/* core/prof/mem.c - see mem.h. mallinfo2 and malloc_trim are glibc's, not
 * hooked by us: each takes every arena's lock in turn, as a program's own
 * call would, and allocates nothing. */
#include "core/prof/mem.h"

#include <malloc.h>
#include <string.h>

#include "core/record/heap.h"

void gt_mem_stats(struct gt_mem_stats *out)
{
	struct mallinfo2 mi = mallinfo2();

	memset(out, 0, sizeof(*out));
	/* Another allocator (jemalloc, tcmalloc preloaded) leaves glibc's
	 * heap untouched: its figures would read as a program that uses none. */
	out->glibc = gt_heap_is_glibc();
	if (!out->glibc)
		return;
	out->heap_sys = mi.arena + mi.hblkhd;
	out->heap_inuse = mi.uordblks + mi.hblkhd;
	out->heap_idle = mi.fordblks;
	out->heap_releasable = mi.keepcost;
	out->mmapped = mi.hblkhd;
}

void gt_mem_free_os(void)
{
	malloc_trim(0);
}
