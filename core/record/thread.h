/* core/record/thread.h - thread records: one per live program thread, in arena
 * slabs that are never unmapped (so the service thread may walk them at any
 * time) and recycled through a free list. A record outlives its thread's TLS,
 * which glibc reuses with the stack.
 *
 * Who writes what: fields marked [lock] change only under t->lock, taken by
 * the owner thread around each append and by the service thread (start
 * snapshot, stop, stealing idle buffers). The owner never waits while holding
 * it. [const] fields are set before the record is published (LIVE) and not
 * changed until it is freed. */
#ifndef GT_THREAD_H
#define GT_THREAD_H

#include <pthread.h>
#include <stdint.h>

#include "core/record/api.h"
#include "core/base/lock.h"
#include "core/format/encode.h"

enum gt_tstate { GT_T_FREE = 0, GT_T_EMBRYO, GT_T_LIVE, GT_T_EXITING };
enum gt_tflag { GT_TF_INTERNAL = 1, GT_TF_MAIN = 2, GT_TF_ADOPTED = 4 };
/* How a session knows the thread before the thread itself writes. */
enum gt_decl { GT_DECL_NONE = 0, GT_DECL_RUNNABLE, GT_DECL_WAITING, GT_DECL_SYSCALL };
enum gt_gstate { GT_G_NONE = 0, GT_G_RUNNING, GT_G_WAITING };

struct gt_chunk;
struct gt_pslot;
struct gt_prof_thread;

#define GT_SITE_MAX 24   /* frames of a site's last stack */
#define GT_SITE_WAYS 4

struct gt_thread {
	struct gt_lock lock;
	uint32_t state;          /* [lock] enum gt_tstate */
	uint32_t flags;          /* [const] enum gt_tflag */
	int32_t tid;             /* [lock] set when LIVE */
	uint64_t goid;           /* [const] process-unique, never reused */
	uintptr_t start_pc;      /* [const] start routine (a pc in it when adopted) */
	uint32_t start_sid;      /* start stack id, 0 until interned (relaxed atomic) */
	uint32_t abandoned;      /* owner is suspended in tracer code for good (exit
				    from a signal handler): the stopper ignores the lock */
	uintptr_t self;          /* [const once LIVE] pthread_self() */
	char name[16];           /* [lock] thread name ("" = none) */
	uint64_t label_sess;     /* [lock] session whose trace defines ... */
	uint64_t label_sid;      /* [lock] ... the label string */
	void *(*fn)(void *);     /* [const] trampoline target */
	void *arg;
	struct gt_tls *tls;      /* [lock] owner's TLS, valid while LIVE */

	/* Session state, all [lock]. */
	uint64_t decl_sess;      /* session that declared this thread ... */
	uint32_t decl;           /* ... and how (enum gt_decl) */
	uint64_t decl_ts;        /* ... at this time (its GoCreate's): the
				    thread's first event is not earlier */
	uint32_t g;              /* goroutine state in sess (enum gt_gstate) */
	uint64_t sess;           /* session entered (0: none); changed under the
				    lock with atomic stores, read lock-free by
				    the owner */
	uint64_t seq;            /* goroutine sequence number in sess */
	struct gt_uvc enc_goid, enc_tid;   /* their uvarints, for the groups */
	uint64_t last_ts;        /* last timestamp written on our P */
	struct gt_pslot *ps;     /* our P while in sess */
	struct gt_chunk *chunk;  /* current batch, NULL until needed */
	uint64_t op_sess, op_t0; /* blocking call in progress while tracing
				    (op_t0: gt_clock_ns_of gives its time):
				    owner-written without the lock (atomics,
				    op_kind last), read by the stopper */
	uint32_t op_kind;
	uint32_t op_ck;          /* the thunk's (core/record/thunk.c): class |
				    kind << 8 and the first two arguments, what
				    the end classifies by, for a cut; 0: the
				    framed body's call (written as op_t0) */
	uint64_t op_a0, op_a1;
	uint32_t cut_kind;       /* [lock] a 1.22 generation's cut wrote the
				    start of the wait in progress (its block
				    events, gt_emit_cut_locked): its kind (0:
				    none), its op_t0 and stack; the owner writes
				    its end (gt_emit_uncut_locked) */
	uint32_t cut_sid;
	uint64_t cut_t0;
	uint64_t waited_ns;      /* time waited for the writer, not yet logged
				    (owner adds atomically; logged under lock) */
	struct gt_thread *next_free; /* free list, under the registry lock */

	/* CPU profiling's state for this thread (core/prof/), last: kept
	 * when the record is reused (gt_thread_alloc clears what is above);
	 * record/ never reads it. prof: allocated by that layer the first
	 * time the record is profiled, [lock]. prof_new: the profile that was
	 * sampling when the thread started, until the service thread has
	 * armed its timer (atomic: read there without the lock); prof_t0: the
	 * thread's, set with it. */
	struct gt_prof_thread *prof;
	uint32_t prof_new;
	uint64_t prof_t0;        /* its start's gt_clock_now, while prof_new */

	/* core/record/capture.c's: the last stacks of a few call sites, the
	 * owner's alone (here, not in TLS: 2 KB of static TLS would make a
	 * dlopen of the library fail). Emptied by gt_thread_alloc (n, site),
	 * not cleared: the rest is valid only with n. */
	unsigned site_next;
	struct gt_site_stack {
		uintptr_t site;
		uint32_t gen, sid, flags;
		unsigned n;   /* 0: none */
		uintptr_t pc[GT_SITE_MAX];
		int32_t v[GT_SITE_MAX];   /* each frame's verdict: the walk's hint */
		uintptr_t bp[GT_SITE_MAX];   /* each frame's frame pointer, as walked */
	} sites[GT_SITE_WAYS];
	char born[16];           /* the creator's name, which the kernel gave
				    the thread: another at its start was set
				    before it ran (pthread_setname_np) */
};

/* A P id (one per thread in a session) and the time of its last event, so
 * the next owner's ProcStart never goes back in time. */
struct gt_pslot {
	uint32_t id;
	uint64_t last_ts;
	struct gt_pslot *next;
};

/* t's lock for the service thread, which must not wait for a thread stuck
 * for good, trying `tries` times (1000000: about a second): 1 taken, 0 abandoned (its owner is stuck in tracer code: no
 * lock needed), -1 busy past a second (stuck in a signal handler while
 * holding it). */
int gt_thread_lock_service(struct gt_thread *t, int tries);

/* Allocate a record (EMBRYO, fresh goid). NULL when out of memory. */
struct gt_thread *gt_thread_alloc(void);
/* Back to the free list (any state; the caller no longer uses it). */
void gt_thread_free(struct gt_thread *t);
/* Call fn on every record ever allocated (any state). Service thread. */
void gt_thread_foreach(void (*fn)(struct gt_thread *t, void *arg), void *arg);
/* This thread's live record, registering a thread the tracer has not seen
 * (created before load, or by raw clone). NULL on tracer threads, after the
 * thread's exit handler ran, or before init. Call with in_tracer > 0. */
struct gt_thread *gt_thread_self_slow(void);
static inline struct gt_thread *gt_thread_self(void)
{
	struct gt_thread *t = gt_tls.t;

	return __builtin_expect(t != NULL, 1) ? t : gt_thread_self_slow();
}
/* Register the calling thread as the main thread (constructor). */
void gt_thread_init_main(void);
/* Install the exit handler (pthread key destructor) for the calling thread. */
void gt_thread_watch_exit(struct gt_thread *t);
/* The calling thread's adopted record t, replaced by its trampoline's. */
void gt_thread_retire(struct gt_thread *t);

/* P ids: small and dense, reused only after the previous owner's last batch
 * is queued. Any thread; takes the registry lock. */
struct gt_pslot *gt_p_acquire(void);
void gt_p_release(struct gt_pslot *ps);
/* Number of P ids ever handed out (for Gomaxprocs sizing). */
uint32_t gt_p_count(void);

/* A thread was named (pthread_setname_np, prctl): self is the target's
 * pthread_t. Any thread, in_tracer > 0. */
void gt_thread_named(uintptr_t self, const char *name);
/* t->name = name (cut to fit, "GC " made "GC_"), under t's lock. */
void gt_thread_name_locked(struct gt_thread *t, const char *name);

/* Program threads alive (+1 when a record goes LIVE, -1 at exit), and our
 * own threads started: to end the process as glibc would after main's
 * pthread_exit. */
void gt_thread_live(int delta);
void gt_thread_tracer_started(void);
/* A task of ours that is no pthread (core/process/door.c) starts (+1) or ends (-1). */
void gt_thread_tracer_add(int delta);
/* Join tracer thread th (task tid), wait until its task has left the thread
 * group, then count it out: unshare and the exit check see it gone. */
void gt_thread_tracer_join(pthread_t th, int tid);
/* At most one program thread left, by /proc/self/task's live tasks (a
 * thread we never met counts): the others are ours. No stdio, no malloc. */
int gt_thread_alone(void);
/* The program's threads all gone, ours alone keeping the process: main
 * left by a raw exit (SYS_exit: no hook sees it, and glibc's count of
 * threads still has ours), the rest after it. One read of
 * /proc/self/stat while the program has threads. Service thread. */
int gt_thread_orphaned(void);
/* Program threads alive that we know of (main included). */
int gt_thread_program_count(void);

/* After fork in the child: every record but the caller's is dropped. */
void gt_thread_after_fork_child(void);

/* Told of each program thread's start, on the thread itself once its
 * record is LIVE (our trampoline; a thread met late, in the hook that
 * registers it), and of its end, on the thread in its exit handler once
 * its record is EXITING, before it is freed; with in_tracer raised. core/prof arms and disarms
 * the thread's CPU-profile timer there. An upward call, registered once at
 * load (core/process/init.c); NULL: nobody is told. */
void gt_thread_set_observer(void (*started)(struct gt_thread *t),
			    void (*exiting)(struct gt_thread *t));
/* Tell the observer (record/ only). */
void gt_thread_observe_start(struct gt_thread *t);

/* Load is done (core/process/init.c): hooks may record from now on. */
void gt_hook_ready(void);

#endif
