/* core/format/summary.h - decode a trace file for the one-line summary the client
 * prints (`gotrace run`) and for checks. Any thread; allocates with malloc
 * (client side only, never inside a traced process). */
#ifndef GT_SUMMARY_H
#define GT_SUMMARY_H

#include <stdint.h>
#include <stddef.h>

struct gt_summary {
	uint64_t bytes;        /* file size */
	uint64_t events;       /* timed events */
	uint64_t goroutines;   /* GoCreate events = threads seen */
	uint64_t stacks;       /* EvStack records */
	uint64_t duration_ns;  /* last - first timestamp */
	uint64_t waits;        /* times a thread waited for the writer (memory cap) */
	int complete;          /* 1: ends in a consistent state */
};

/* 0, or -1 with err filled ("open x: No such file or directory",
 * "x: not a Go 1.19 trace", "x: truncated at offset N"). */
int gt_summary_read(const char *path, struct gt_summary *s, char *err, size_t errlen);

#endif
