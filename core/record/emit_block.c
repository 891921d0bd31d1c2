/* core/record/emit_block.c - a recorded wait's events (go-trace-format.md
 * section 9): in one pass for the common group, event by event when the
 * group also writes a label or a "gotrace.wait" log. Under t->lock. */
#include <errno.h>
#include <string.h>

#include "core/record/emit_int.h"

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/sys.h"
#include "core/base/tls.h"
#include "core/record/fd.h"

#include <poll.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/uio.h>

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

/* (emit.h) By the class and arguments its begin noted (a poll's array or
 * select's sets copied by the kernel: the program may free them meanwhile).
 * Without them (op_ck 0) the kind is final, but select's. */
/* Another thread's memory, or the program's where it may be unmapped:
 * copied by the kernel (0), never a fault of ours (-1). */
static int peer_read(void *to, const void *from, size_t len)
{
	struct iovec l = { to, len }, r = { (void *)from, len };

	return gt_raw6(SYS_process_vm_readv, gt_raw(SYS_getpid, 0, 0, 0), (long)&l, 1, (long)&r, 1,
		       0) == (long)len ? 0 : -1;
}

unsigned gt_emit_kind_of(const struct gt_thread *t, unsigned kind)
{
	uint32_t ck = __atomic_load_n(&t->op_ck, __ATOMIC_RELAXED);
	uint64_t a0 = __atomic_load_n(&t->op_a0, __ATOMIC_RELAXED);
	uintptr_t n_ptr = (uintptr_t)__atomic_load_n(&t->op_a1, __ATOMIC_RELAXED);
	unsigned long n = (unsigned int)n_ptr;

	if (!ck)
		return kind == GT_OP_SELECT ? 0 : kind;
	switch (ck & 0xff) {
	case GT_THUNK_FD:
		return gt_fd_classify((int)a0);
	case GT_THUNK_EPOLL:
		return gt_fd_classify_epoll((int)a0);
	case GT_THUNK_SELECT: {   /* n, and the hook's array of the three sets */
		const fd_set *at[3];
		fd_set sets[3];
		int nfds = (int)a0;
		size_t len = nfds <= 0 ? 0 : nfds >= FD_SETSIZE ? sizeof(fd_set) : ((size_t)nfds + 7) / 8;
		if (nfds < 0 || peer_read(at, (const void *)n_ptr, sizeof(at)))
			return 0;
		for (int i = 0; i < 3; i++)
			if (at[i] && len && peer_read(&sets[i], at[i], len))
				return 0;
		return gt_fd_classify_select(nfds, at[0] ? &sets[0] : NULL, at[1] ? &sets[1] : NULL,
					     at[2] ? &sets[2] : NULL);
	}
	case GT_THUNK_POLL: {
		struct pollfd p[64];
		if (!a0 || n > 64)
			return a0 ? 0 : gt_fd_classify_poll(NULL, n);
		if (n && peer_read(p, (const void *)a0, n * sizeof(*p)))
			return 0;
		return gt_fd_classify_poll(p, n);
	}
	default:
		return kind;
	}
}

void gt_emit_cut_locked(struct gt_thread *t, uint64_t s)
{
	if (t->sess != s || t->g != GT_G_RUNNING || t->cut_kind || !t->tls)
		return;
	uint32_t kind = __atomic_load_n(&t->op_kind, __ATOMIC_ACQUIRE);
	uint64_t raw = __atomic_load_n(&t->op_t0, __ATOMIC_RELAXED);
	if (!kind || kind >= GT_OP_KINDS || __atomic_load_n(&t->op_sess, __ATOMIC_RELAXED) != s ||
	    __atomic_load_n(&t->tls->in_call, __ATOMIC_ACQUIRE) != kind)
		return;
	/* A millisecond past the threshold: a call ending now is recorded,
	 * and its end waits for our lock (the thunk's short path stores no
	 * lock; see gt_emit_uncut_locked for the rare one that read its
	 * clock before ours and had not cleared op_kind yet). */
	uint64_t t0 = gt_clock_ns_of(raw);
	if (gt_clock_fast() < t0 + gt_cfg.block_ns + 1000000u)
		return;
	unsigned as = gt_emit_kind_of(t, kind);
	uint32_t sid = as ? gt_stack_capture_of(t->tls, gt_cfg.stack_depth) : 0;
	if (!sid || __atomic_load_n(&t->op_kind, __ATOMIC_ACQUIRE) != kind ||
	    __atomic_load_n(&t->op_t0, __ATOMIC_RELAXED) != raw || gt_emit_room_locked(t, GROUP_MAX))
		return;
	gt_emit_put_block(t, as, t0, sid);
	t->cut_sid = sid;
	t->cut_t0 = raw;
	__atomic_store_n(&t->cut_kind, as, __ATOMIC_RELAXED);   /* (read racily: op.c) */
}

int gt_emit_uncut_locked(struct gt_thread *t, uint64_t ts, uint32_t sid)
{
	if (!t->cut_kind || !t->sess)
		return 0;
	if (gt_emit_room_locked(t, GROUP_MAX))
		return -EAGAIN;
	put_unblock(t, t->cut_kind, ts, sid ? sid : t->cut_sid);
	gt_emit_start_g(t, ts);
	__atomic_store_n(&t->cut_kind, 0, __ATOMIC_RELAXED);
	return 0;
}
