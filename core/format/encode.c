/* core/format/encode.c - the out-of-line encoders (strings, stacks, user logs).
 * Pure functions; signal-safe. */
#include "core/format/encode.h"

#include <string.h>

uint8_t *gt_put_string(uint8_t *p, uint64_t id, const void *s, size_t len)
{
	*p++ = GT_EV_String;
	p = gt_put_uvarint(p, id);
	p = gt_put_uvarint(p, len);
	memcpy(p, s, len);
	return p + len;
}

uint8_t *gt_put_stack(uint8_t *p, uint64_t id, const struct gt_frame *f, unsigned n)
{
	uint8_t payload[GT_STACK_PAYLOAD_MAX + 64];
	uint8_t *q = payload;

	q = gt_put_uvarint(q, id);
	q = gt_put_uvarint(q, n);
	for (unsigned i = 0; i < n; i++) {
		if (q - payload > GT_STACK_PAYLOAD_MAX)
			return NULL;
		q = gt_put_uvarint(q, f[i].pc);
		q = gt_put_uvarint(q, f[i].func);
		q = gt_put_uvarint(q, f[i].file);
		q = gt_put_uvarint(q, f[i].line);
	}
	if (q - payload > GT_STACK_PAYLOAD_MAX)
		return NULL;
	*p++ = GT_EV_Stack | 3 << 6;
	p = gt_put_uvarint(p, (uint64_t)(q - payload));
	memcpy(p, payload, (size_t)(q - payload));
	return p + (q - payload);
}

uint8_t *gt_put_userlog(uint8_t *p, const uint64_t v[4], const void *msg, size_t len)
{
	p = gt_put_event(p, GT_EV_UserLog, v, 4);
	p = gt_put_uvarint(p, len);
	memcpy(p, msg, len);
	return p + len;
}
