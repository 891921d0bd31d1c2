/* core/format/go122.h - Go's 1.22 execution-trace format ("go 1.22 trace":
 * read by every Go from 1.22 on), and a transcoder from the 1.19 format the
 * program threads write (docs/go122-trace-format.md holds the format, the
 * mapping and the reasons).
 *
 * Pure code on caller memory and its own heap (core/base/real.h's
 * gt_malloc): no locks, no I/O. A struct gt_v2 is owned by one thread (the
 * CLI's convert, later the service thread); nothing in it is shared.
 *
 * Encoder (go122_enc.c): single events, batches, the string, stack and
 * frequency batches, into a growable buffer.
 * Tables (go122_tab.c): the 1.19 strings and stacks, kept for the whole
 * trace (each generation re-emits those it names).
 * Transcoder (go122.c, go122_gen.c): 1.19 events in, 1.22 batches out. */
#ifndef GT_GO122_H
#define GT_GO122_H

#include <stddef.h>
#include <stdint.h>

#define GT_V2_HEADER "go 1.22 trace\0\0\0"   /* exactly 16 bytes */
#define GT_V2_HEADER_LEN 16
#define GT_V2_MAX_BATCH (64u << 10)   /* go122.MaxBatchSize: a batch's data */
#define GT_V2_MAX_STRING 1024         /* go122.MaxStringSize: longer is cut */
#define GT_V2_MAX_FRAMES 128          /* go122.MaxFramesPerStack */
#define GT_V2_NO_THREAD UINT64_MAX    /* ThreadID -1: the runtime's "no M" */

/* Event types of Go 1.22 (internal/trace/v2/event/go122/event.go). */
enum gt_v2_ev {
	GT_V2_EventBatch = 1,   /* [gen, M, ts, size] then size bytes */
	GT_V2_Stacks,           /* first byte of a stack batch */
	GT_V2_Stack,            /* [id, n, n x (pc, func, file, line)] */
	GT_V2_Strings,          /* first byte of a string batch */
	GT_V2_String,           /* [id, len] then len bytes */
	GT_V2_CPUSamples,
	GT_V2_CPUSample,
	GT_V2_Frequency,        /* [ticks per second]: a batch of its own */
	GT_V2_ProcsChange,      /* [dt, procs, stack] */
	GT_V2_ProcStart,        /* [dt, p, p seq] */
	GT_V2_ProcStop,         /* [dt] */
	GT_V2_ProcSteal,        /* [dt, p, p seq, m] */
	GT_V2_ProcStatus,       /* [dt, p, status] */
	GT_V2_GoCreate,         /* [dt, new g, new stack, stack] */
	GT_V2_GoCreateSyscall,  /* [dt, new g] */
	GT_V2_GoStart,          /* [dt, g, g seq] */
	GT_V2_GoDestroy,        /* [dt] */
	GT_V2_GoDestroySyscall, /* [dt] */
	GT_V2_GoStop,           /* [dt, reason string, stack] */
	GT_V2_GoBlock,          /* [dt, reason string, stack] */
	GT_V2_GoUnblock,        /* [dt, g, g seq, stack] */
	GT_V2_GoSyscallBegin,   /* [dt, p seq, stack] */
	GT_V2_GoSyscallEnd,     /* [dt] */
	GT_V2_GoSyscallEndBlocked, /* [dt] */
	GT_V2_GoStatus,         /* [dt, g, m, status] */
	GT_V2_STWBegin,
	GT_V2_STWEnd,
	GT_V2_GCActive,
	GT_V2_GCBegin,
	GT_V2_GCEnd,
	GT_V2_GCSweepActive,
	GT_V2_GCSweepBegin,
	GT_V2_GCSweepEnd,
	GT_V2_GCMarkAssistActive,
	GT_V2_GCMarkAssistBegin,
	GT_V2_GCMarkAssistEnd,
	GT_V2_HeapAlloc,        /* [dt, bytes] */
	GT_V2_HeapGoal,         /* [dt, bytes] */
	GT_V2_GoLabel,          /* [dt, label string] */
	GT_V2_UserTaskBegin,
	GT_V2_UserTaskEnd,
	GT_V2_UserRegionBegin,
	GT_V2_UserRegionEnd,
	GT_V2_UserLog,          /* [dt, task, key string, value string, stack] */
	GT_V2_EV_COUNT,
};

enum gt_v2_gstatus { GT_V2_GoBad, GT_V2_GoRunnable, GT_V2_GoRunning, GT_V2_GoSyscall,
		     GT_V2_GoWaiting };
enum gt_v2_pstatus { GT_V2_ProcBad, GT_V2_ProcRunning, GT_V2_ProcIdle, GT_V2_ProcSyscall };

/* ---- encoder (go122_enc.c) ---- */

/* A growable byte buffer (gt_realloc); oom is sticky. */
struct gt_v2_buf {
	uint8_t *p;
	size_t len, cap;
	int oom;
};

/* Room for n more bytes: the write position, or NULL (oom set). */
uint8_t *gt_v2_buf_room(struct gt_v2_buf *b, size_t n);
void gt_v2_buf_free(struct gt_v2_buf *b);

/* Values an event of type carries, its timestamp delta first (0: not a
 * timed event). */
extern const uint8_t gt_v2_nargs[GT_V2_EV_COUNT];

/* Most bytes one timed event takes. */
#define GT_V2_EVENT_MAX (1 + 5 * 10)

/* One timed event: the type byte, then gt_v2_nargs[type] uvarints, v[0]
 * the delta. No length prefix in this format. */
uint8_t *gt_v2_put_event(uint8_t *p, unsigned type, const uint64_t *v);

/* A whole batch: EventBatch(gen, m, ts, len) and the data. */
int gt_v2_put_batch(struct gt_v2_buf *out, uint64_t gen, uint64_t m, uint64_t ts,
		    const uint8_t *data, size_t len);

/* EvString(id, bytes), cut at GT_V2_MAX_STRING. Room: 21 + min(len, max). */
uint8_t *gt_v2_put_string(uint8_t *p, uint64_t id, const void *s, size_t len);

/* The frequency batch of a generation: EventBatch(gen, no M, ts) holding
 * EvFrequency(hz). */
int gt_v2_put_frequency(struct gt_v2_buf *out, uint64_t gen, uint64_t ts, uint64_t hz);

/* The minor version of a "go 1.N trace" header of 1.22 or later, else 0
 * (a 1.19 trace, or no trace). */
int gt_v2_header_minor(const void *b, size_t n);

/* The file b[0, n) (header included) is whole up to the returned offset:
 * the end of its last generation that has its frequency batch (gotrace
 * writes it last in each) and only whole batches before it; 0 if none.
 * *gens (may be NULL): how many generations that keeps. */
size_t gt_v2_whole_end(const uint8_t *b, size_t n, uint64_t *gens);

/* ---- tables (go122_tab.c) ---- */

/* id -> bytes, for the whole trace. Each generation numbers the ids it
 * names from 1 (its own dense ids: short varints, and Go's readers keep
 * dense tables in slices), in refs' order, and writes only those. */
struct gt_v2_ent {
	uint64_t id;     /* 0: empty slot */
	uint64_t gen;    /* the last generation that named it */
	uint64_t gid;    /* its id in that generation */
	uint64_t off;    /* into data */
	uint32_t len;
	uint32_t defined;
};

struct gt_v2_tab {
	struct gt_v2_ent *e;
	size_t cap, n;
	struct gt_v2_buf data;
	uint64_t *refs;      /* the ids named in this generation */
	size_t nrefs, refcap;
	uint64_t next;       /* the last id given out in this generation */
};

/* Define (or redefine) id. 0, or -1 out of memory. */
int gt_v2_tab_put(struct gt_v2_tab *t, uint64_t id, const void *p, size_t len);
/* Generation gen names id (defined or not yet): its id in gen (0 for id 0,
 * or out of memory). */
uint64_t gt_v2_tab_ref(struct gt_v2_tab *t, uint64_t id, uint64_t gen);
/* An id of this generation for an entry the table does not hold. */
static inline uint64_t gt_v2_tab_newid(struct gt_v2_tab *t)
{
	return ++t->next;
}
/* The entry of id, or NULL. */
const struct gt_v2_ent *gt_v2_tab_get(const struct gt_v2_tab *t, uint64_t id);
/* A new generation: no id named yet. */
static inline void gt_v2_tab_reset(struct gt_v2_tab *t)
{
	t->nrefs = 0;
	t->next = 0;
}
void gt_v2_tab_free(struct gt_v2_tab *t);

/* ---- transcoder (go122.c, go122_gen.c) ---- */

struct gt_v2;

struct gt_v2_opts {
	uint64_t gen_ticks;   /* cut a generation at the first event this long
				 after the current one's start; 0: only when
				 gt_v2_generation_end is called */
	unsigned flags;
};

/* flags */
#define GT_V2_NO_SYSCALL_FIX 1u   /* leave out the stacked block/unblock after
				     a syscall's end (Go 1.23-1.25's syscall
				     profile needs it: go122-trace-format.md 6) */
#define GT_V2_ARRIVAL 2u          /* events come as the batches arrive, not in
				     the merged order: times are not made
				     unique (go122-trace-format.md 5) */

struct gt_v2_stats {
	uint64_t events_in, events_out, generations, dropped, batches, bytes;
};

/* A transcoder, or NULL (out of memory). */
struct gt_v2 *gt_v2_new(const struct gt_v2_opts *o);
void gt_v2_free(struct gt_v2 *st);

/* The 1.19 untimed records in buf[0, len): EvString, EvStack, EvFrequency
 * (one or more, back to back). 0, or -1 if one does not decode. */
int gt_v2_untimed(struct gt_v2 *st, const uint8_t *buf, size_t len);

/* Goroutine goid runs on OS thread tid: lets a goroutine the snapshot
 * declares in a syscall keep its syscall (a 1.22 syscall status names its
 * thread; the 1.19 one does not). Optional. */
int gt_v2_thread(struct gt_v2 *st, uint64_t goid, uint64_t tid);

/* One 1.19 timed event of P p at absolute time ts: type and the values
 * after the timestamp delta (args), str the UserLog message. Events must
 * come in an order Go 1.19's parser accepts (order.c's merge). Whole
 * batches that fill go to out. 0, or -1 out of memory. */
int gt_v2_event(struct gt_v2 *st, uint32_t p, uint64_t ts, unsigned type, const uint64_t *args,
		unsigned nargs, const uint8_t *str, size_t slen, struct gt_v2_buf *out);

/* A whole 1.19 batch (EvBatch, its events, strings and stacks inline), as
 * the writer receives it. 0, -1 out of memory, -2 malformed. */
int gt_v2_batch(struct gt_v2 *st, const uint8_t *b, size_t len, struct gt_v2_buf *out);

/* Goroutines whose first GoStart came (GT_V2_ARRIVAL) and whose GoCreate
 * has not yet: Go's reader needs the creation in the generation of that
 * start, so a generation must not end while this is not 0 (the writer
 * flushes the threads again, or ends it later). */
uint64_t gt_v2_pending(const struct gt_v2 *st);

/* End the current generation: every thread's batch, the stacks and strings
 * it named, its frequency. The next event starts the next one with the
 * status of every P and goroutine. No-op when nothing happened since. */
int gt_v2_generation_end(struct gt_v2 *st, struct gt_v2_buf *out);

/* The end of the trace: the last generation (or, for a trace without
 * events, one Go can read). The header is written before any output. */
int gt_v2_finish(struct gt_v2 *st, struct gt_v2_buf *out);

void gt_v2_get_stats(const struct gt_v2 *st, struct gt_v2_stats *s);

#endif
