/* core/write/out122.h - the writer's Go 1.22 side (GOTRACE_FORMAT=go1.22):
 * the program threads keep writing the 1.19 format; every 1.19 batch and
 * record the writer takes goes through the transcoder (core/format/go122.h,
 * in arrival order), and the 1.22 bytes of a generation are held until it
 * ends, then written whole, so that the file always ends at a whole
 * generation but while one is being written (a process killed meanwhile
 * leaves a file Go reads: docs/go122-trace-format.md 8). Service thread
 * only, as core/write/writer.h. */
#ifndef GT_OUT122_H
#define GT_OUT122_H

#include <stddef.h>
#include <stdint.h>

struct gt_out122_stats {
	uint64_t generations;   /* written whole */
	uint64_t cut_ns;        /* service-thread time in the cuts, flushes included */
	uint64_t max_cut_ns;
	uint64_t max_gen_bytes; /* the largest generation held */
	uint64_t postponed;     /* cuts put off: a creation was still to come */
	uint64_t dropped, events_in, events_out, malformed;
};

/* A transcoder for the trace being opened: 0, or -ENOMEM. */
int gt_out122_open(void);
/* A 1.22 trace is being written. */
int gt_out122_on(void);
/* 1.19 bytes as the writer has them (batches, their records, the untimed
 * records): through the transcoder. 0, or -ENOMEM (the trace is lost). */
int gt_out122_feed(const uint8_t *p, size_t n);
/* The snapshot declared goroutine goid in a syscall on thread tid. */
void gt_out122_thread(uint64_t goid, uint64_t tid);
/* Goroutines started whose creation has not come yet (gt_v2_pending): no
 * generation may end until it is 0. */
uint64_t gt_out122_pending(void);
/* Bytes of the open generation held in memory. */
size_t gt_out122_held(void);
/* End the generation and write it (gt_writer_put); ns: what the cut cost
 * the caller before this (its flushes), for the figures. 0, or -ENOMEM. */
int gt_out122_cut(uint64_t ns);
/* The trace's end: its last generation written, the transcoder freed.
 * Returns the file's length up to its last whole generation (what a
 * write error cuts the file back to). */
uint64_t gt_out122_finish(void);
/* After fork in the child: forget the parent's transcoder (not freed: the
 * service thread may have been inside it). */
void gt_out122_forget(void);
void gt_out122_get_stats(struct gt_out122_stats *s);
/* A postponed cut, counted. */
void gt_out122_postponed(void);

#endif
