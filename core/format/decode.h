/* core/format/decode.h - a reader for the records libgotrace writes (and any Go
 * 1.19 trace): the writer's stack discovery, the client's summary, repair,
 * and the tests. Pure functions on caller memory; no state. */
#ifndef GT_DECODE_H
#define GT_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "core/format/encode.h"

#define GT_DEC_ARGS 16

struct gt_rec {
	unsigned type;          /* wire type (low 6 bits) */
	unsigned nargs;         /* values after the type byte (timed: ts delta first) */
	uint64_t args[GT_DEC_ARGS]; /* the first GT_DEC_ARGS of them */
	const uint8_t *payload; /* length form: the values' bytes */
	size_t payload_len;
	const uint8_t *str;     /* EvString bytes, EvUserLog message */
	size_t str_len;
	size_t off, size;       /* where the record sits, how many bytes */
};

/* Decode the record at buf[*off, n). Returns 1 and advances *off; 0 at the
 * end of the buffer; -1 when the record is malformed or cut short (*off is
 * left at its start, so the caller knows the longest valid prefix). */
int gt_decode(const uint8_t *buf, size_t n, size_t *off, struct gt_rec *r);

/* Frames of an EvStack record: returns the number of frames (<= max, the
 * record's own count when it fits), -1 if malformed. *id gets the stack id. */
int gt_decode_stack(const struct gt_rec *r, uint64_t *id, struct gt_frame *f, unsigned max);

/* Stack ids an event refers to (GoCreate: new-goroutine stack and creator
 * stack; others: their stack arg). Returns how many were stored in ids[2]. */
int gt_rec_stacks(const struct gt_rec *r, uint64_t ids[2]);
/* 1 for the event types that carry a stack (their last argument). */
extern const unsigned char gt_ev_has_stack[];

/* The writer's fast path: the stack ids (those of gt_rec_stacks) of every
 * record in buf[0, n), each nonzero one passed to fn, without building a
 * gt_rec. Stops at the end or at the first malformed record. */
void gt_scan_stacks(const uint8_t *buf, size_t n, void (*fn)(uint64_t id, void *arg),
		    void *arg);

/* Name of a wire type ("GoCreate"), or NULL. */
const char *gt_ev_name(unsigned type);

#endif
