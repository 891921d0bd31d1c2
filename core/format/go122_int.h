/* core/format/go122_int.h - the transcoder's state, shared by go122.c (the
 * 1.19 events, one by one) and go122_gen.c (threads' batches, statuses,
 * generations). Not for other files. Everything here belongs to the one
 * thread that owns the struct gt_v2. */
#ifndef GT_GO122_INT_H
#define GT_GO122_INT_H

#include "core/format/go122.h"

#define V2_G_MAX (1u << 24)   /* goroutine ids beyond are dropped (foreign traces) */
#define V2_P_MAX (1u << 20)

/* A goroutine's state as the 1.22 reader will see it. */
enum { G_NONE, G_RUNNABLE, G_RUNNING, G_SYSCALL, G_WAITING, G_DEAD };
enum { P_NONE, P_IDLE, P_RUNNING, P_SYSCALL };

/* GoBlock/GoStop reasons: the strings Go's runtime uses (and Go 1.23's
 * converter of 1.19 traces), which its profiles match on. */
enum { R_NONE, R_FOREVER, R_PREEMPTED, R_GOSCHED, R_SLEEP, R_CHAN_SEND, R_CHAN_RECV,
       R_NETWORK, R_SYNC, R_COND, R_SELECT, R_SYSCALL, R_COUNT };
extern const char *const v2_reason[R_COUNT];

struct v2_m {   /* an M: one OS thread id */
	uint64_t id;
	uint32_t p;          /* the P it holds + 1; 0 none */
	uint32_t dirty;      /* its index in st->dirty + 1; 0: no open batch */
	uint64_t g;          /* goroutine bound to it (running, or in a syscall) */
	uint64_t last_ts;    /* its last event's time: the next delta's base */
	uint64_t batch_ts, batch_gen;
	struct gt_v2_buf buf;   /* the open batch's data */
};

struct v2_g {
	uint8_t st;          /* G_* */
	uint8_t known;       /* the reader knows it: created, or a status written */
	uint8_t decl;        /* the snapshot declared it; its status not written yet */
	uint8_t dst;         /* the declared status (G_*) */
	uint8_t fixpend;     /* a syscall ended: stacked block/unblock after its start */
	uint8_t early;       /* started before its GoCreate arrived (GT_V2_ARRIVAL) */
	uint32_t seq;        /* its 1.22 sequence number, in generation seqgen */
	uint64_t seqgen;
	uint64_t m;          /* the M it runs on or waits in a syscall on */
	uint64_t hint;       /* its OS thread (gt_v2_thread), 0 unknown */
	uint64_t fixstk;     /* the stack of its last syscall */
	uint64_t label, labelgen;
};

struct v2_p {   /* a 1.19 P; the same id in 1.22 */
	uint8_t st;          /* P_*: P_NONE until the reader has its status */
	uint8_t nbsys;       /* GoSysCall seen, GoSysBlock not (yet) */
	uint8_t pend;        /* a GoCreate before its ProcStart, held */
	uint32_t seq;        /* its 1.22 sequence number in generation statusgen */
	uint64_t statusgen;
	struct v2_m *m;      /* the M holding it */
	uint64_t last_m;     /* the last M that held it */
	uint64_t pend_g, pend_nstk, pend_stk;
};

struct v2_mslot {
	uint64_t id;
	struct v2_m *m;
};

struct gt_v2 {
	struct gt_v2_opts o;
	uint64_t gen;          /* the current generation, from 1 */
	uint64_t gen_t0;       /* its first event's time */
	uint64_t gen_ts;       /* its start in the file: the statuses' time */
	int gen_open;          /* it has events */
	int need_status;       /* a generation ended: statuses at the next event */
	int header_done;
	int snapshot_done;     /* the first Gomaxprocs seen */
	int procs_pending;     /* ProcsChange owed in this generation */
	uint64_t nprocs;
	uint64_t status_m;     /* the M that writes statuses of no M's (the first M) */
	uint64_t last_ts;      /* the last event's time */
	uint64_t emit_ts;      /* the last written event's time (unique ones) */
	uint64_t freq;         /* ticks per second: the 1.19 trace's */
	struct v2_p *ps;
	uint32_t np;
	struct v2_g *gs;
	uint64_t gcap, max_g;
	uint64_t *live;        /* goroutines the reader knows, the dead among
				  them dropped at each generation's start */
	size_t nlive, livecap;
	uint64_t *decl;        /* goroutines the snapshot declared */
	size_t ndecl, declcap;
	struct v2_mslot *mh;   /* M id -> M */
	size_t mcap, mn;
	struct v2_m **dirty;   /* Ms with an open batch */
	size_t ndirty, dirtycap;
	struct gt_v2_tab strs, stks;
	struct gt_v2_buf genstr;   /* this generation's log messages: EvString records */
	uint64_t reason_gid[R_COUNT];   /* the reasons' ids in this generation (0: none) */
	struct gt_v2_buf tmp;
	struct gt_v2_buf samples;  /* this generation's EvCPUSample records */
	struct gt_v2_buf *out;
	struct gt_v2_stats s;
	uint64_t early;        /* goroutines started whose GoCreate has not come */
	int oom;
};

/* go122.c: one 1.19 event of P pid (the generation already open). */
int v2_event(struct gt_v2 *st, uint32_t pid, uint64_t ts, unsigned type, const uint64_t *a,
	     unsigned n, const uint8_t *str, size_t slen);

/* go122.c: the snapshot's goroutines, their statuses written by m (or the
 * first M) at ts; the snapshot is over. */
void v2_flush_declared(struct gt_v2 *st, struct v2_m *m, uint64_t ts);

/* go122_gen.c */
struct v2_m *v2_m_get(struct gt_v2 *st, uint64_t id);
struct v2_g *v2_g_get(struct gt_v2 *st, uint64_t g);
/* The reader knows goroutine id from now on (created or given a status). */
void v2_g_known(struct gt_v2 *st, uint64_t id, struct v2_g *g);
/* Append one event to m's batch (opening one; a full one goes to st->out).
 * ts is clamped to m's last time. */
void v2_emit(struct gt_v2 *st, struct v2_m *m, uint64_t ts, unsigned type, uint64_t a,
	     uint64_t b, uint64_t c, uint64_t d);
/* m's open batch to st->out. */
void v2_m_flush(struct gt_v2 *st, struct v2_m *m);
/* The statuses that start a generation, at ts. */
void v2_statuses(struct gt_v2 *st, uint64_t ts);
/* Reason r named in this generation: its string id there. */
uint64_t v2_reason_id(struct gt_v2 *st, unsigned r);
/* A 1.19 string or stack id named in this generation: its id there. */
uint64_t v2_str(struct gt_v2 *st, uint64_t id);
uint64_t v2_stk(struct gt_v2 *st, uint64_t id);

#endif
