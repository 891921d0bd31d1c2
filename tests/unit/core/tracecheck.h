/* tracecheck.h - validate a trace like Go 1.19's parser does: wire format,
 * per-P time order, the goroutine ordering of order1007 ("no consistent
 * ordering of events possible"), and the main postProcessTrace rules. For
 * unit tests that run without Go (ASan, TSan). */
#ifndef TRACECHECK_H
#define TRACECHECK_H

#include <stddef.h>
#include <stdint.h>

struct tc_result {
	uint64_t events, creates, starts, ends, blocks, stacks, strings, procs;
	char err[256];   /* "" when valid */
};

/* 0 if the file is a valid trace, -1 with r->err set. */
int tc_check_file(const char *path, struct tc_result *r);
int tc_check(const uint8_t *buf, size_t n, struct tc_result *r);

/* The stack ids an ordered event names (gt_rec_stacks); how many. */
struct gt_oev;
int tc_event_stacks(const struct gt_oev *e, uint64_t ids[2]);

#endif
