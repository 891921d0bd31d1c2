/* core/format/repair.h - make the readable part of a damaged trace (process killed,
 * disk full) into a trace Go's tools open. The client's `gotrace repair`,
 * and the writer after a write error (gt_repair_in_place). */
#ifndef GT_REPAIR_H
#define GT_REPAIR_H

#include <stddef.h>
#include <stdint.h>

struct gt_repair_stats {
	uint64_t bytes, valid_bytes;  /* file size, bytes that decoded */
	uint64_t events, kept;        /* timed events read, kept */
	uint64_t closed;              /* goroutines still running, ended */
	int was_valid;                /* nothing to repair */
	int v2;                       /* a Go 1.22-format file: cut after its
				       * last whole generation */
	uint64_t generations;         /* v2: whole generations kept */
};

/* Read in, write the repaired trace to out (may equal in: written to a
 * temporary file, then renamed). 0, or -1 with err. A Go 1.22-format
 * file is kept up to the end of its last whole generation (Go's readers
 * refuse a file whose last generation is cut: go122-trace-format.md 2). */
int gt_repair(const char *in, const char *out, struct gt_repair_stats *st, char *err,
	      size_t errlen);

/* Repair the trace open for writing in fd (name for messages) where it is:
 * the repaired form is written over it from offset 0 and the file cut to
 * it, so a full disk needs no new space (it is no bigger: each P's batches
 * merge). For the writer after a write error: files over max_bytes are
 * left to `gotrace repair` (the order step holds every event in memory).
 * 0, or -1 with err (the file is then as it was, unless the rewrite itself
 * failed). */
int gt_repair_in_place(int fd, const char *name, size_t max_bytes, struct gt_repair_stats *st,
		       char *err, size_t errlen);

#endif
