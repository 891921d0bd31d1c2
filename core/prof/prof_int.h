/* core/prof/prof_int.h - core/prof's own: the per-thread sample ring, the
 * state the SIGPROF handler reads, the aggregate and the writer. */
#ifndef GT_PROF_INT_H
#define GT_PROF_INT_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include "core/record/stack.h"

/* A thread's samples, written by SIGPROF's handler on that thread alone
 * and read by the service thread: a single-producer single-consumer ring
 * of words. A sample is a header word (its profile's id << 32 | weight
 * << 8 | frames), its time (gt_clock_now), the P its thread held in the
 * trace in progress (~0: none) and its pcs, innermost (the interrupted pc)
 * first. A
 * sample that does not fit is counted in lost and dropped. Allocated the
 * first time its record is profiled, kept with the record (its pages
 * given back at each profile's end). */
struct gt_prof_thread {
	int timer;          /* [t->lock] the kernel's timer id while armed (-1: none, SIGPROF blocked) */
	uint32_t armed;     /* [t->lock] */
	int32_t tid;        /* [t->lock] the thread it was armed for */
	uint32_t head;      /* words written: the handler (release) */
	uint32_t tail;      /* words read: the service thread (release) */
	uint32_t lost;      /* samples dropped: the handler (relaxed) */
	uint32_t missed;    /* expirations the timer, armed late, did not see:
			       set before it is armed, taken by the handler */
	uint32_t seen;      /* expirations weighed since it was armed (the
			       handler's, on the thread) */
	uint64_t base;      /* [t->lock] the thread's CPU time at the arming
			       (0 when armed late: its whole life counts) */
	uint64_t phase;     /* [t->lock] its timer's first expiry past base */
	uint32_t mask;      /* [const] ring words - 1 */
	uint64_t w[];
};

#define PROF_HDR(sess, weight, n) ((uint64_t)(sess) << 32 | (uint64_t)(weight) << 8 | (n))
#define PROF_SESS(h) ((uint32_t)((h) >> 32))
#define PROF_WEIGHT(h) ((uint32_t)((h) >> 8) & 0xffffff)
#define PROF_N(h) ((unsigned)((h) & 0xff))
#define PROF_WORDS(n) (3 + (n))   /* a sample's words */
/* Its third word: the P (~0: none) and the goroutine, 32 bits each. */
#define PROF_PG(p, g) ((uint64_t)(uint32_t)(p) | (uint64_t)(g) << 32)
#define PROF_P(w) ((uint32_t)(w) == 0xffffffffu ? ~0ull : (uint64_t)(uint32_t)(w))
#define PROF_G(w) ((w) >> 32)

/* The profile sampling now (0: none): set by the start, cleared by the
 * stop or by the program taking SIGPROF; the handler reads it (acquire). */
extern uint32_t gt_prof_sampling;

/* sample.c: the handler, arming a thread (t->lock held). */
void gt_prof_on_sigprof(int sig, siginfo_t *si, void *uc);
struct gt_thread;
/* late: the thread has run since its start without a timer (armed by the
 * service thread, core/prof/ctl.c): its first sample weighs the periods of
 * CPU time it has used. */
int gt_prof_arm_locked(struct gt_thread *t, uint64_t period_ns, int late);
void gt_prof_disarm_locked(struct gt_thread *t);
/* A thread that ends before a timer of its own has weighed its CPU time
 * (it lived less than the service thread's tick, or its first expiry,
 * weighing the periods before it was armed, never came): the samples a
 * timer would have taken, without a stack, under its start routine below
 * a frame of ours, gt_prof_short_thread, named gotrace._ShortThread
 * (Go names such samples runtime._ExternalCode). Kept per profile and
 * start routine until the service thread's next drain. */
#define GT_PROF_SHORT_MAX 64
struct gt_prof_short {
	uintptr_t fn, marker;   /* marker: gt_prof_short_thread or gt_prof_masked_thread */
	uint32_t sess, weight;
};
void gt_prof_short_thread(void);
/* The same for a thread that blocks SIGPROF (xz's workers, created with
 * every signal blocked): its CPU time brings no sample, and is drawn at
 * its exit or the profile's end under gotrace._SIGPROFBlocked. */
void gt_prof_masked_thread(void);
/* 1 when thread tid (the calling thread: 0) blocks SIGPROF. */
int gt_prof_sigprof_blocked(int tid);
/* The expirations of a timer at random phase over the calling thread's CPU
 * time so far (the timer it never had), life_ns: the wall time it lived. */
uint32_t gt_prof_unarmed_weight(uint64_t period_ns, uint64_t life_ns);
/* On the thread, its timer armed (t->lock held): the expirations of its
 * CPU time so far that no signal weighed (those within a tick of its end,
 * which the kernel checks CPU timers at, and the periods a late arming
 * put on a first expiry that never came). */
/* own: the calling thread is t; else the service thread asks. */
uint32_t gt_prof_unseen_weight(struct gt_thread *t, uint64_t period_ns, int own);
void gt_prof_short_add(uint32_t sess, uintptr_t marker, uintptr_t fn, uint32_t weight);
/* Service thread: the entries so far (out: GT_PROF_SHORT_MAX), emptied;
 * *lost: the weight that found no room. */
unsigned gt_prof_short_take(struct gt_prof_short *out, uint64_t *lost);
void gt_prof_short_after_fork_child(void);

/* What the handler does with a SIGPROF that is not our timer's: the
 * program's disposition (SIG_DFL: the process ends by it; SIG_IGN:
 * nothing). Set by ctl.c under its lock; read by the handler. */
extern volatile sig_atomic_t gt_prof_foreign_dfl;
/* GOTRACE_DEBUG: the time the handler's stack walks took, and how many. */
extern uint64_t gt_prof_handler_ns, gt_prof_handler_runs, gt_prof_handler_max;

/* agg.c: the aggregate of one profile (service thread). */
void gt_prof_agg_reset(void);
void gt_prof_agg_add(const uintptr_t *pc, unsigned n, uint64_t weight);
/* Move every ring's samples of profile sess into the aggregate (others are
 * dropped). */
void gt_prof_agg_drain(uint32_t sess);
struct gt_prof_stack {
	uint64_t count;
	unsigned n;
	const uintptr_t *pc;
};
/* The stacks so far: i from 0 while it returns 1. */
int gt_prof_agg_get(size_t i, struct gt_prof_stack *out);
/* Samples in the aggregate; samples lost (rings full) so far. */
uint64_t gt_prof_agg_samples(void);
uint64_t gt_prof_agg_lost(void);

/* out.c: a profile, symbolised and gzip'd, into fd. 0, or -1 with err.
 * The samples come from next(ctx, i, &s) for i from 0 while it returns 1:
 * pcs innermost first, return addresses but pc[0] where flags say
 * (GT_STK_EXACT: an interrupted instruction; GT_STK_FN: a hooked libc
 * function, named as the program called it). */
struct gt_prof_sample {
	const uintptr_t *pc;
	unsigned n, flags;
	int64_t val[4];
};
struct gt_prof_spec {
	const char *type[4], *unit[4];            /* the sample types (nval; 0: 2) */
	const char *period_type, *period_unit;
	uint64_t period, time_ns, duration_ns;
	int (*next)(void *ctx, size_t i, struct gt_prof_sample *s);
	void *ctx;
	unsigned nval;
};
int gt_prof_write(int fd, const char *path, const struct gt_prof_spec *spec, char *err,
		  size_t errlen);
/* The same into path, created or truncated now (as os.Create), the
 * profile's time that of the write. */
int gt_prof_write_path(const char *path, struct gt_prof_spec *spec, char *err, size_t errlen);

/* maps.c: the loaded objects' code, as profile.proto's mappings. */
struct gt_prof_map {
	uintptr_t start, limit, offset;
	char *file;          /* malloc'd */
	char build_id[41];   /* hex, "" when none */
};
/* The executable mappings of the loaded objects, the program's first;
 * their count (*out malloc'd; gt_prof_maps_free). */
size_t gt_prof_maps(struct gt_prof_map **out);
void gt_prof_maps_free(struct gt_prof_map *m, size_t n);

/* ctl.c: SIGPROF's handler ours for debug_stacks too (0, or -1 with err:
 * the program handles SIGPROF); a signal for it sent to thread tid while
 * ours is in place: 0, -3 (not ours now), -1 (failed). */
int gt_prof_sig_hold(char *err, size_t errlen);
void gt_prof_sig_release(void);
int gt_prof_sig_send(int tid, siginfo_t *si);

/* stacks.c: the handler's part for debug_stacks: 1 when the signal was
 * a stack request's (answered, or late), 0 when not one. */
int gt_stacks_on_signal(const siginfo_t *si, void *uc);
int gt_stacks_signal_ours(const siginfo_t *si);   /* a request's, by its cookie */

/* peek.c: another thread's frames from its pc, sp and (bp_known) bp, read
 * directly within [lo, hi) (its stack, held still), else through
 * process_vm_readv: the return addresses, innermost (ip) first; their
 * count (0: libunwind's generic unwinder not loaded). gt_peek_forget:
 * objects may have changed since the last walks. */
int gt_peek_walk(uintptr_t ip, uintptr_t sp, uintptr_t bp, int bp_known, uintptr_t lo,
		 uintptr_t hi, uintptr_t *pc, int max);
int gt_peek_ready(void);
void gt_peek_forget(void);

#endif
