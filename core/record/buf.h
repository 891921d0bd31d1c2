/* core/record/buf.h - trace buffers: fixed-size chunks, one batch each, from an
 * mmap'd pool capped at GOTRACE_BUFFER_MB. A chunk is written by exactly one
 * thread at a time (its owner, under the owner's record lock) and handed to
 * the writer through a wait-free queue (liburcu wfcqueue); FIFO order of the
 * queue is file order, which keeps each P's batches in emission order. */
#ifndef GT_BUF_H
#define GT_BUF_H

#include <stddef.h>
#include <stdint.h>

#include <urcu/wfcqueue.h>

#define GT_CHUNK_SIZE (32u << 10)
#define GT_CHUNK_STKS 5

struct gt_chunk {
	struct cds_wfcq_node node;
	uint64_t sess;     /* session the events belong to */
	uint64_t last_ts;  /* time of the last event (delta base) */
	uint32_t p;        /* P id of the batch (EvBatch is data[0..]) */
	uint32_t len;      /* committed bytes: only whole events are counted */
	/* The stack ids its events hold that the writer may not have defined
	 * (note_stack): nstk of them in stk, or GT_CHUNK_STKS + 1, more. */
	uint32_t nstk;
	uint32_t stk[GT_CHUNK_STKS];
	uint8_t data[];
};

#define GT_CHUNK_DATA (GT_CHUNK_SIZE - offsetof(struct gt_chunk, data))

struct gt_buf_stats {
	uint64_t waits;    /* times a program thread waited for the writer */
	uint64_t wait_ns;  /* total time waited */
	uint64_t chunks;   /* chunks ever mapped */
};

/* A free chunk (len 0). wait = 0: NULL at the cap. wait = 1 (program
 * threads, with no tracer lock held): wait for the writer, counting the wait
 * in *waited_ns (0 when none). The service thread passes wait = 0 and
 * drains the queue itself when it gets NULL. */
struct gt_chunk *gt_buf_get(int wait, uint64_t *waited_ns);
/* The service thread, at a trace's start and on its ticks: keep free
 * chunks with their pages touched, as many as were taken since the last
 * call (at least a region's), within the cap. */
void gt_buf_reserve(void);
/* Cap the pool at GOTRACE_BUFFER_MB or a quarter of room, the address
 * space left under ulimit -v (gt_as_room), whichever is less. Service
 * thread, at trace start. */
void gt_buf_limit(size_t room);
/* The pool's cap in chunks. */
uint32_t gt_buf_cap(void);
/* A chunk back to the pool (writer), waking waiters. */
void gt_buf_put(struct gt_chunk *c);
/* Queue a chunk for the writer; wakes it when memory runs low. */
void gt_buf_submit(struct gt_chunk *c);
/* Writer (one consumer): the oldest queued chunk, NULL if none. */
struct gt_chunk *gt_buf_take(void);
/* Writer after a session: give the pool's memory back to the system. */
void gt_buf_trim(void);
void gt_buf_get_stats(struct gt_buf_stats *s);
/* Chunks in use (mapped - free): low-memory heuristics and tests. */
uint32_t gt_buf_in_use(void);
/* The writer's wake-up (eventfd), set by the service thread. */
void gt_buf_set_waker(void (*wake)(void));
/* In a child no fork handler of ours saw (a raw fork): nothing empties the
 * pool. gt_buf_get(1) then gives up (NULL). */
int gt_buf_orphaned(void);
/* After fork in the child: forget every chunk (the memory stays mapped). */
void gt_buf_after_fork_child(void);
/* Around fork: the pool's lock held across it, so that the child never
 * copies a pool half changed (a stop's trim had unmapped its regions,
 * the count not yet reset: the child wrote into them). nested: the fork
 * comes from a signal handler on a thread inside tracer code, which may
 * hold the lock: then only tried. */
void gt_buf_before_fork(int nested);
void gt_buf_after_fork_parent(void);

#endif
