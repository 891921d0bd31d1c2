/* core/write/writer.h - turns queued batches into a trace file. Service thread
 * only: it owns the file, the per-trace string table and the record of which
 * stacks this trace has defined; it symbolises stacks (core/write/symbol.h) right
 * before the first batch that uses them. */
#ifndef GT_WRITER_H
#define GT_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "core/record/stack.h"

struct gt_chunk;

struct gt_writer_stats {
	uint64_t bytes, batches, stacks, strings;
};

/* Open path for session sess and write the header batch (EvFrequency, the
 * fixed strings) at time ts0. 0, or -1 with err ("open PATH: reason"). */
int gt_writer_open(const char *path, uint64_t sess, uint64_t ts0, char *err, size_t errlen);
/* Write one batch (defining its stacks first) and give the chunk back. */
void gt_writer_chunk(struct gt_chunk *c);
/* data[0, len) to the open file as it is (core/write/out122.c: a 1.22
 * generation). */
void gt_writer_put(const void *data, size_t len);
/* "pid 1234: ./app args" (core/write/describe.c), made at each open. */
extern char gt_process_desc[];
void gt_describe_process(void);
/* Write the queued batches until none is left, or (checked every 16)
 * until the clock passes deadline or a 1.22 generation held reaches a
 * quarter of the buffer cap: 1 then, when more may be queued. The
 * service loop's turn takes 50 ms at most, so that a stop or an exit is
 * answered while threads fill batches faster than the writer writes
 * them (a 1.22 trace's transcoder, every call recorded: 8 threads kept
 * it draining until the program exited). gt_writer_drain: all. */
int gt_writer_drain_until(uint64_t deadline);
static inline void gt_writer_drain(void)
{
	gt_writer_drain_until(UINT64_MAX);
}
/* Flush and close. 0, or -1 with err ("write PATH: reason"). */
int gt_writer_close(char *err, size_t errlen);
/* A note to the trace's reader (GT_STR_NOTES), gt_fmt's formats; after
 * the last batch (the stop, before gt_writer_close). Nothing when no file
 * is open. */
void gt_writer_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The session being written, 0 when no file is open. */
uint64_t gt_writer_session(void);
/* First write error of the open trace (errno), 0 if none. */
int gt_writer_error(void);
void gt_writer_get_stats(struct gt_writer_stats *s);
/* After fork in the child: forget the parent's file without writing;
 * close_fd: its fd is in the child's table (the service thread had none
 * of its own). */
void gt_writer_after_fork_child(int close_fd);

#endif
