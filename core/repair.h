/* core/repair.h - make the readable part of a damaged trace (process killed,
 * disk full) into a trace Go's tools open. Client side. */
#ifndef GT_REPAIR_H
#define GT_REPAIR_H

#include <stddef.h>
#include <stdint.h>

struct gt_repair_stats {
	uint64_t bytes, valid_bytes;  /* file size, bytes that decoded */
	uint64_t events, kept;        /* timed events read, kept */
	uint64_t closed;              /* goroutines still running, ended */
	int was_valid;                /* nothing to repair */
};

/* Read in, write the repaired trace to out (may equal in: written to a
 * temporary file, then renamed). 0, or -1 with err. */
int gt_repair(const char *in, const char *out, struct gt_repair_stats *st, char *err,
	      size_t errlen);

#endif
