/* core/record/emit_int.h - what emit.c and emit_block.c share: the room
 * test, the batch header, the stack-id note, the label known to be
 * defined, and the two writers each takes from the other. Under t->lock. */
#ifndef GT_EMIT_INT_H
#define GT_EMIT_INT_H

#include "core/format/decode.h"
#include "core/format/encode.h"
#include "core/record/buf.h"
#include "core/record/emit.h"
#include "core/record/stack.h"

#define GROUP_MAX 512   /* bytes of the largest group (enter with a log) */

/* need bytes (and 32 to spare) left in t's chunk. */
static inline int has_room(const struct gt_thread *t, size_t need)
{
	const struct gt_chunk *c = t->chunk;

	return c && GT_CHUNK_DATA - c->len >= need + 32;
}

/* Clamp ts to the P's last time (ts never goes back on a P; the next
 * owner of a reused P starts from there too); open the batch (EvBatch) of
 * an empty chunk. Returns where the next event goes. */
static inline __attribute__((always_inline)) uint8_t *batch(struct gt_thread *t, uint64_t *ts)
{
	struct gt_chunk *c = t->chunk;
	uint8_t *p = c->data + c->len;

	if (*ts < t->last_ts)
		*ts = t->last_ts;
	if (c->len == 0) {
		c->p = t->ps->id;
		c->sess = t->sess;
		p = gt_put_batch(p, c->p, *ts);
		c->last_ts = *ts;
	}
	return p;
}

/* Tell the writer to define id before c's events (gt_stack_defined): it
 * may be one this trace has not defined yet. The writer defines a new
 * stack only when it takes the chunk, so a loop's stack fills a chunk (or
 * every chunk until the writer's next look) with the same unknown id: by
 * id, the writer defines it without decoding the chunk (it did for every
 * such chunk: 230 instructions an event, a third of a recorded event's in
 * callgrind, event_cost, on the CPU the bench pins both threads to). */
static inline void note_stack(struct gt_chunk *c, uint64_t id)
{
	if (gt_stack_known(id))
		return;
	uint32_t n = c->nstk;
	for (uint32_t i = 0; i < n && i < GT_CHUNK_STKS; i++)
		if (c->stk[i] == id)
			return;
	if (n < GT_CHUNK_STKS)
		c->stk[n] = (uint32_t)id;   /* (< GT_DEFINED_BITS: known() above) */
	if (n <= GT_CHUNK_STKS)
		c->nstk = n + 1;   /* GT_CHUNK_STKS + 1: too many, scan the chunk */
}

/* The label of t's goroutine, once defined in this session (label()). */
static inline uint64_t known_label(const struct gt_thread *t)
{
	if (!t->name[0])   /* the main thread: the process, unless named */
		return t->flags & GT_TF_MAIN ? GT_STR_PROCESS : 0;
	return t->label_sid;
}

/* GoStart (or GoStartLabel, its String first) at ts: t runs again. */
void gt_emit_start_g(struct gt_thread *t, uint64_t ts);
/* The block event(s) of a wait of kind from t0, stack sid. */
void gt_emit_put_block(struct gt_thread *t, unsigned kind, uint64_t t0, uint32_t sid);

#endif
