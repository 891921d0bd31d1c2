/* core/record/emit_block.c - a recorded wait's events (go-trace-format.md
 * section 9): in one pass for the common group, event by event when the
 * group also writes a label or a "gotrace.wait" log. Under t->lock. */
#include <errno.h>
#include <string.h>

#include "core/record/emit_int.h"

static const uint8_t block_ev[GT_OP_KINDS] = {
	[GT_OP_NET] = GT_EV_GoBlockNet,
	[GT_OP_SELECT] = GT_EV_GoBlockSelect,
	[GT_OP_SYNC] = GT_EV_GoBlockSync,
	[GT_OP_COND] = GT_EV_GoBlockCond,
	[GT_OP_SLEEP] = GT_EV_GoSleep,
};

/* The block event(s) at t0. A syscall is what the runtime writes when its
 * P is handed off: GoSysCall, GoSysBlock, ProcStop (go-trace-format.md
 * 12.1: without the ProcStop, Go 1.23's viewer panics at start-up); the
 * thread's next group starts its P again (put_unblock). */
void gt_emit_put_block(struct gt_thread *t, unsigned kind, uint64_t t0, uint32_t sid)
{
	if (kind == GT_OP_SYSCALL) {
		gt_emit_put_locked(t, t0, GT_EV_GoSysCall, 1, sid, 0, 0);
		gt_emit_put_locked(t, t0, GT_EV_GoSysBlock, 0, 0, 0, 0);
		gt_emit_put_locked(t, t0, GT_EV_ProcStop, 0, 0, 0, 0);
	} else {
		gt_emit_put_locked(t, t0, block_ev[kind], 1, sid, 0, 0);
	}
	t->g = GT_G_WAITING;
}

/* The end of a wait at t1: ProcStart + GoSysExit for a syscall, else a
 * self-GoUnblock carrying the wait's stack (Go 1.23+'s profiles skip
 * transitions without one: a wait would never end there). */
static void put_unblock(struct gt_thread *t, unsigned kind, uint64_t t1, uint32_t sid)
{
	if (kind == GT_OP_SYSCALL) {
		gt_emit_put_locked(t, t1, GT_EV_ProcStart, 1, (uint64_t)t->tid, 0, 0);
		gt_emit_put_locked(t, t1, GT_EV_GoSysExit, 3, t->goid, ++t->seq, 0);
	} else {
		gt_emit_put_locked(t, t1, GT_EV_GoUnblock, 3, t->goid, ++t->seq, sid);
	}
}

/* The common group of a recorded call in one pass: what put_block, the
 * unblock and start_g write event by event, with one clamp, one batch check
 * and one commit. Callgrind, event_cost: 622 instructions an event in the
 * emit before, 306 after. The thread's label string, when it has one, was
 * written already in this trace (the caller checks). */
static void put_block_group(struct gt_thread *t, unsigned kind, uint64_t t0, uint64_t t1,
			    uint32_t sid)
{
	struct gt_chunk *c = t->chunk;
	uint8_t *p = batch(t, &t0), *len;
	uint64_t lab;

	if (t1 < t0)
		t1 = t0;
	note_stack(c, sid);
	/* By hand, what gt_put_event would write (a test decodes both):
	 * the constants stored at once, goid and tid from their caches. */
	if (kind == GT_OP_SYSCALL) {
		static const uint8_t mid[4] = { GT_EV_GoSysBlock, 0, GT_EV_ProcStop, 0 };
		*p++ = GT_EV_GoSysCall | 1 << 6;
		p = gt_put_uvarint(p, t0 - c->last_ts);
		p = gt_put_uvarint(p, sid);
		memcpy(p, mid, 4);
		p[4] = GT_EV_ProcStart | 1 << 6;
		p = gt_put_uvarint(p + 5, t1 - t0);
		p = gt_put_uvc(p, &t->enc_tid, (uint64_t)t->tid);
		p[0] = GT_EV_GoSysExit | 3 << 6;
		p[2] = 0;
		len = p + 1;
		p = gt_put_uvc(p + 3, &t->enc_goid, t->goid);
		p = gt_put_uvarint(p, ++t->seq);
		*p++ = 0;
	} else {
		*p++ = (uint8_t)(block_ev[kind] | 1 << 6);
		p = gt_put_uvarint(p, t0 - c->last_ts);
		p = gt_put_uvarint(p, sid);
		/* The woken thread unblocks itself: no cross-thread seq. */
		p[0] = GT_EV_GoUnblock | 3 << 6;
		len = p + 1;
		p = gt_put_uvarint(p + 2, t1 - t0);
		p = gt_put_uvc(p, &t->enc_goid, t->goid);
		p = gt_put_uvarint(p, ++t->seq);
		p = gt_put_uvarint(p, sid);
	}
	*len = (uint8_t)(p - len - 1);
	if ((lab = known_label(t))) {
		p[0] = GT_EV_GoStartLabel | 3 << 6;
		p[2] = 0;
		len = p + 1;
		p = gt_put_uvc(p + 3, &t->enc_goid, t->goid);
		p = gt_put_uvarint(p, ++t->seq);
		p = gt_put_uvarint(p, lab);
		*len = (uint8_t)(p - len - 1);
	} else {
		p[0] = GT_EV_GoStart | 2 << 6;
		p[1] = 0;
		p = gt_put_uvc(p + 2, &t->enc_goid, t->goid);
		p = gt_put_uvarint(p, ++t->seq);
	}
	c->last_ts = t1;
	t->last_ts = t1;
	__atomic_store_n(&c->len, (uint32_t)(p - c->data), __ATOMIC_RELEASE);
	t->g = GT_G_RUNNING;
}

int gt_emit_block_locked(struct gt_thread *t, unsigned kind, uint64_t t0, uint64_t t1,
			 uint32_t sid)
{
	if (!t->sess || t->g != GT_G_RUNNING || kind == 0 || kind >= GT_OP_KINDS)
		return -ESRCH;
	if (!has_room(t, GROUP_MAX) && gt_emit_room_locked(t, GROUP_MAX))   /* (its test inline) */
		return -EAGAIN;
	if (!t->waited_ns && (!t->name[0] || t->label_sess == t->sess)) {
		put_block_group(t, kind, t0, t1, sid);
		return 0;
	}
	gt_emit_put_block(t, kind, t0, sid);
	put_unblock(t, kind, t1, sid);
	gt_emit_start_g(t, t1);
	return 0;
}
