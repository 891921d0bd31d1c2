/* core/format/encode.h - Go 1.19 trace encoding: varints, event headers, records.
 * Pure functions on caller-owned memory; no state, signal-safe. The inline
 * ones are the hot path of every hook that records an event. */
#ifndef GT_ENCODE_H
#define GT_ENCODE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/format/events.h"

/* Most bytes gt_put_event writes for n values. */
#define GT_EVENT_MAX(n) (2 + 10 * (n))

/* Unsigned LEB128; returns the end. At most 10 bytes. */
static inline uint8_t *gt_put_uvarint(uint8_t *p, uint64_t v)
{
	while (v >= 0x80) {
		*p++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*p++ = (uint8_t)v;
	return p;
}

/* A value's uvarint kept for the next time (a thread's goid and tid go
 * into every group of its events): 4 bytes stored, n of them used, so the
 * buffer needs 3 bytes of room past the event. v == key: encoded. */
struct gt_uvc {
	uint64_t key;
	uint32_t w, n;   /* n 0: none yet */
};

static inline uint8_t *gt_put_uvc(uint8_t *p, struct gt_uvc *c, uint64_t v)
{
	if (__builtin_expect(c->key != v || !c->n, 0)) {
		uint8_t b[10] = { 0 };
		unsigned n = (unsigned)(gt_put_uvarint(b, v) - b);
		if (n > 4)
			return gt_put_uvarint(p, v);
		memcpy(&c->w, b, 4);
		c->key = v;
		c->n = n;
	}
	memcpy(p, &c->w, 4);
	return p + c->n;
}

/* The uvarint at b[*off, n) into *v, *off past it: 0, or -1 when it is
 * cut short or longer than 10 bytes (*off then undefined). */
static inline int gt_get_uvarint(const uint8_t *b, size_t n, size_t *off, uint64_t *v)
{
	uint64_t x = 0;

	for (unsigned s = 0; s < 70 && *off < n; s += 7) {
		uint8_t c = b[(*off)++];
		x |= (uint64_t)(c & 0x7f) << s;
		if (!(c & 0x80)) {
			*v = x;
			return 0;
		}
	}
	return -1;
}

/* One timed event: v[0] is the timestamp delta, then the args. n <= 12.
 * Up to 3 values go inline (N = n-1); more take the length form (N = 3),
 * whose payload is then < 128 bytes, so its length is one varint byte. */
static inline uint8_t *gt_put_event(uint8_t *p, unsigned type, const uint64_t *v, unsigned n)
{
	if (n >= 1 && n <= 3) {
		*p++ = (uint8_t)(type | (n - 1) << 6);
		for (unsigned i = 0; i < n; i++)
			p = gt_put_uvarint(p, v[i]);
		return p;
	}
	*p++ = (uint8_t)(type | 3 << 6);
	uint8_t *len = p++;
	for (unsigned i = 0; i < n; i++)
		p = gt_put_uvarint(p, v[i]);
	*len = (uint8_t)(p - len - 1);
	return p;
}

/* EvBatch(p, ts): always inline with N = 1 (Go 1.23+ insists). */
static inline uint8_t *gt_put_batch(uint8_t *p, uint64_t pid, uint64_t ts)
{
	*p++ = GT_EV_Batch | 1 << 6;
	p = gt_put_uvarint(p, pid);
	return gt_put_uvarint(p, ts);
}

/* EvFrequency(ticks per second). */
static inline uint8_t *gt_put_frequency(uint8_t *p, uint64_t hz)
{
	*p++ = GT_EV_Frequency;
	return gt_put_uvarint(p, hz);
}

/* Bytes gt_put_string needs. */
static inline size_t gt_string_size(size_t len)
{
	return 1 + 10 + 10 + len;
}

/* EvString(id, bytes): id != 0, 1 <= len <= 1e6 (caller's duty). */
uint8_t *gt_put_string(uint8_t *p, uint64_t id, const void *s, size_t len);

/* EvStack(id, n frames). Each frame: pc, func string id, file string id,
 * line. Writes into buf (room: 12 + 40 * n bytes); returns the end, or NULL
 * when the payload would exceed GT_STACK_PAYLOAD_MAX: the caller drops
 * outer frames and retries. */
struct gt_frame {
	uint64_t pc, func, file, line;
};
uint8_t *gt_put_stack(uint8_t *p, uint64_t id, const struct gt_frame *f, unsigned n);

/* EvUserLog: v = {dt, task, key string id, stack}, then the message. Room:
 * GT_EVENT_MAX(4) + 10 + len. */
uint8_t *gt_put_userlog(uint8_t *p, const uint64_t v[4], const void *msg, size_t len);

#endif
