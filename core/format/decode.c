/* core/format/decode.c - record reader following Go 1.19's readRawEvent rules.
 * Pure functions; any thread. */
#include "core/format/decode.h"

#include <string.h>

static int get_str(const uint8_t *buf, size_t n, size_t *off, struct gt_rec *r)
{
	uint64_t len;

	if (gt_get_uvarint(buf, n, off, &len) || len > n - *off)
		return -1;
	r->str = buf + *off;
	r->str_len = (size_t)len;
	*off += (size_t)len;
	return 0;
}

int gt_decode(const uint8_t *buf, size_t n, size_t *off, struct gt_rec *r)
{
	size_t o = *off;
	uint64_t v;

	if (o >= n)
		return 0;
	memset(r, 0, sizeof(*r));
	r->off = o;
	r->type = buf[o] & 0x3f;
	unsigned narg = (unsigned)(buf[o] >> 6) + 1;
	o++;
	if (r->type == 0 || r->type >= GT_EV_COUNT)
		return -1;
	if (r->type == GT_EV_String) {
		uint64_t id;
		if (gt_get_uvarint(buf, n, &o, &id) || get_str(buf, n, &o, r))
			return -1;
		r->args[0] = id;
		r->nargs = 1;
	} else if (narg < 4) {
		for (unsigned i = 0; i < narg; i++) {
			if (gt_get_uvarint(buf, n, &o, &v))
				return -1;
			r->args[i] = v;
		}
		r->nargs = narg;
	} else {
		uint64_t len;
		if (gt_get_uvarint(buf, n, &o, &len) || len > n - o)
			return -1;
		size_t start = o, end = o + (size_t)len;
		r->payload = buf + start;
		r->payload_len = (size_t)len;
		while (o < end) {
			if (gt_get_uvarint(buf, end, &o, &v))
				return -1;
			if (r->nargs < GT_DEC_ARGS)
				r->args[r->nargs] = v;
			r->nargs++;
		}
	}
	if (r->type == GT_EV_UserLog && get_str(buf, n, &o, r))
		return -1;
	r->size = o - *off;
	*off = o;
	return 1;
}

int gt_decode_stack(const struct gt_rec *r, uint64_t *id, struct gt_frame *f, unsigned max)
{
	size_t o = 0, n = r->payload_len;
	uint64_t nf;

	if (r->type != GT_EV_Stack || !r->payload)
		return -1;
	if (gt_get_uvarint(r->payload, n, &o, id) || gt_get_uvarint(r->payload, n, &o, &nf))
		return -1;
	unsigned k = 0;
	for (uint64_t i = 0; i < nf; i++) {
		struct gt_frame fr;
		if (gt_get_uvarint(r->payload, n, &o, &fr.pc) ||
		    gt_get_uvarint(r->payload, n, &o, &fr.func) ||
		    gt_get_uvarint(r->payload, n, &o, &fr.file) ||
		    gt_get_uvarint(r->payload, n, &o, &fr.line))
			return -1;
		if (k < max)
			f[k++] = fr;
	}
	return o == n ? (int)k : -1;
}

const unsigned char gt_ev_has_stack[GT_EV_COUNT] = {
#define GT_EV_STK(name, type, args, stack) [type] = stack,
	GT_EVENTS(GT_EV_STK)
#undef GT_EV_STK
};

int gt_rec_stacks(const struct gt_rec *r, uint64_t ids[2])
{
	int k = 0;

	if (r->type >= GT_EV_COUNT || !gt_ev_has_stack[r->type] || r->nargs < 2 ||
	    r->nargs > GT_DEC_ARGS)
		return 0;
	if (r->type == GT_EV_GoCreate && r->nargs == 4 && r->args[2])
		ids[k++] = r->args[2];
	if (r->args[r->nargs - 1])
		ids[k++] = r->args[r->nargs - 1];
	return k;
}

void gt_scan_stacks(const uint8_t *buf, size_t n, void (*fn)(uint64_t id, void *arg),
		    void *arg)
{
	size_t o = 0;
	uint64_t v, len;

	while (o < n) {
		unsigned type = buf[o] & 0x3f, narg = (unsigned)(buf[o] >> 6) + 1, k = 0;
		uint64_t third = 0, last = 0;
		o++;
		if (type == 0 || type >= GT_EV_COUNT)
			return;
		if (type == GT_EV_String) {
			if (gt_get_uvarint(buf, n, &o, &v) || gt_get_uvarint(buf, n, &o, &len) ||
			    len > n - o)
				return;
			o += (size_t)len;
			continue;
		}
		size_t end = n;
		if (narg == 4) {   /* length form */
			if (gt_get_uvarint(buf, n, &o, &len) || len > n - o)
				return;
			end = o + (size_t)len;
			narg = ~0u;
		}
		for (; k < narg && o < end; k++) {
			if (gt_get_uvarint(buf, end, &o, &v))
				return;
			if (k == 2)
				third = v;
			last = v;
		}
		if (type == GT_EV_UserLog) {   /* its message follows the args */
			if (gt_get_uvarint(buf, n, &o, &len) || len > n - o)
				return;
			o += (size_t)len;
		}
		if (!gt_ev_has_stack[type] || k < 2 || k > GT_DEC_ARGS)
			continue;
		if (type == GT_EV_GoCreate && k == 4 && third)
			fn(third, arg);
		if (last)
			fn(last, arg);
	}
}

const char *gt_ev_name(unsigned type)
{
	switch (type) {
#define GT_EV_NAME(name, t, args, stack) case t: return #name;
	GT_EVENTS(GT_EV_NAME)
#undef GT_EV_NAME
	case GT_EV_Batch: return "Batch";
	case GT_EV_Frequency: return "Frequency";
	case GT_EV_Stack: return "Stack";
	case GT_EV_String: return "String";
	}
	return NULL;
}
