/* core/record/thread.c - the thread registry: record slabs, free list, P ids, the
 * exit handler, registration of threads the tracer meets late. Registry
 * lock order: a record lock may be held when taking reg_lock, never the
 * other way round. */
#include "core/record/thread.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/base/arena.h"
#include "core/base/clock.h"
#include "core/record/emit.h"
#include "core/base/log.h"
#include "core/record/stack.h"
#include "core/base/sys.h"


#define SLAB_RECS 256
#define MAX_SLABS 4096

static struct gt_lock reg_lock = GT_LOCK_INIT;
static struct gt_thread *slabs[MAX_SLABS] GT_COLD_BSS; /* published with release */
static uint32_t nslabs;                    /* release-written under reg_lock */
static uint32_t slab_used;                 /* [reg_lock] records carved from the last slab */
static struct gt_thread *free_list;        /* [reg_lock] */
static uint64_t next_goid = 1;             /* atomic */

static struct gt_pslot *free_ps;           /* [reg_lock] */
static uint32_t next_p = 1;                /* [reg_lock]; P 0 is the control P */

static pthread_key_t exit_key;
static int exit_key_ok;

/* gt_thread_set_observer's, set once at load. */
static void (*obs_started)(struct gt_thread *), (*obs_exiting)(struct gt_thread *);

void gt_thread_set_observer(void (*started)(struct gt_thread *t),
			    void (*exiting)(struct gt_thread *t))
{
	obs_started = started;
	obs_exiting = exiting;
}

void gt_thread_observe_start(struct gt_thread *t)
{
	if (obs_started)
		obs_started(t);
}

/* glibc ends the process (exit(0)) when its last thread leaves, counting
 * ours: once main has called pthread_exit, we do it for glibc when the last
 * program thread leaves (see on_thread_exit). */
static int32_t live_threads;     /* atomic: program threads alive */
static uint32_t tracer_threads;  /* atomic: our threads alive in this process */
static int main_gone;            /* main called pthread_exit */

void gt_thread_live(int delta)
{
	__atomic_add_fetch(&live_threads, delta, __ATOMIC_SEQ_CST);
}

int gt_thread_program_count(void)
{
	return __atomic_load_n(&live_threads, __ATOMIC_SEQ_CST);
}

/* Called by each tracer thread itself, at least once (our trampoline, the
 * service thread's entry); counted once per thread. */
void gt_thread_tracer_started(void)
{
	static __thread int counted;

	if (!counted) {
		counted = 1;
		__atomic_add_fetch(&tracer_threads, 1, __ATOMIC_SEQ_CST);
	}
}

void gt_thread_tracer_add(int delta)
{
	__atomic_add_fetch(&tracer_threads, (uint32_t)delta, __ATOMIC_SEQ_CST);
}

void gt_thread_tracer_join(pthread_t th, int tid)
{
	gt_pthread_join(th, NULL);
	/* join returns at the thread's exit futex wake, a little before the
	 * kernel takes its task out of the thread group */
	for (int i = 0; i < 100000 && gt_syscall(SYS_tgkill, getpid(), tid, 0) == 0; i++)
		sched_yield();
	__atomic_sub_fetch(&tracer_threads, 1, __ATOMIC_SEQ_CST);
}

/* A stat file's fields after "pid (comm) " (state first), in buf ("" if
 * it has none); NULL when it cannot be read (the task gone). */
static const char *stat_fields(const char *path, char *buf, size_t size)
{
	int fd = gt_open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return NULL;
	ssize_t n = gt_read(fd, buf, size - 1);
	gt_close(fd);
	if (n <= 0)
		return NULL;
	buf[n] = '\0';
	const char *p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p + 2 : "";
}

/* Is task tid (of ours) a zombie? A main thread that called pthread_exit
 * stays listed as one until the whole process ends. */
static int zombie(const char *tid)
{
	char path[64], buf[512];

	gt_fmt(path, sizeof(path), "/proc/self/task/%s/stat", tid);
	const char *f = stat_fields(path, buf, sizeof(buf));
	return !f || *f == 'Z' || *f == 'X';   /* (unreadable: gone) */
}

/* Only this thread and ours left? Counts the live tasks in /proc/self/task
 * (getdents64, no stdio, no malloc): a thread we never met still keeps the
 * process alive, as it would keep glibc from exiting. */
int gt_thread_alone(void)
{
	char buf[4096];
	int fd = gt_open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	long n, tasks = 0;

	if (fd < 0)
		return 0;
	while ((n = gt_syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + off);
			if (d->d_name[0] != '.' && !zombie(d->d_name))
				tasks++;
			off += d->d_reclen;
		}
	gt_close(fd);
	/* <=: a tracer thread is counted out only once its task is gone
	 * (the service thread parked, a resize thread joined) */
	return tasks <= 1 + (long)__atomic_load_n(&tracer_threads, __ATOMIC_SEQ_CST);
}

int gt_thread_orphaned(void)
{
	char buf[1024], pid[16];
	/* state is field 3, num_threads 20 (a zombie main counted) */
	const char *p = stat_fields("/proc/self/stat", buf, sizeof(buf));
	int k = 3;   /* p: the start of field k, once moved the space before it */
	while (p && k < 20 && (p = strchr(p + 1, ' ')))
		k++;
	if (!p || strtol(p + 1, NULL, 10) > 1 + (long)__atomic_load_n(&tracer_threads,
									 __ATOMIC_SEQ_CST))
		return 0;
	gt_fmt(pid, sizeof(pid), "%d", getpid());
	return zombie(pid) && gt_thread_alone();
}

struct gt_thread *gt_thread_alloc(void)
{
	struct gt_thread *t = NULL;

	gt_lock(&reg_lock);
	if (free_list) {
		t = free_list;
		free_list = t->next_free;
	} else {
		uint32_t n = __atomic_load_n(&nslabs, __ATOMIC_RELAXED);
		if (n == 0 || slab_used == SLAB_RECS) {
			struct gt_thread *s = NULL;
			if (n < MAX_SLABS)
				s = gt_arena_alloc(SLAB_RECS * sizeof(*s));
			if (s) {
				slabs[n] = s;
				slab_used = 0;
				__atomic_store_n(&nslabs, n + 1, __ATOMIC_RELEASE);
				n++;
			}
		}
		if (n && slab_used < SLAB_RECS)
			t = &slabs[n - 1][slab_used++];
	}
	gt_unlock(&reg_lock);
	if (!t)
		return NULL;
	gt_lock(&t->lock);
	/* Everything but the lock we hold: others (the stopper's walk) may be
	 * waiting on its word, and a store over it would lose their wake-up. */
	_Static_assert(offsetof(struct gt_thread, lock) == 0, "the lock comes first");
	memset((char *)t + sizeof(t->lock), 0,
	       offsetof(struct gt_thread, prof) - sizeof(t->lock));   /* core/prof's kept */
	__atomic_store_n(&t->prof_new, 0, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < GT_SITE_WAYS; i++)
		t->sites[i].n = 0, t->sites[i].site = 0;
	t->goid = __atomic_fetch_add(&next_goid, 1, __ATOMIC_RELAXED);
	t->state = GT_T_EMBRYO;
	gt_unlock(&t->lock);
	return t;
}

int gt_thread_lock_service(struct gt_thread *t, int tries)
{
	for (int i = 0; i < tries; i++) {
		if (__atomic_load_n(&t->abandoned, __ATOMIC_ACQUIRE))
			return 0;
		if (gt_trylock(&t->lock))
			return 1;
		if (i > 1000)
			gt_usleep(1);
	}
	return __atomic_load_n(&t->abandoned, __ATOMIC_ACQUIRE) ? 0 : -1;
}

void gt_thread_free(struct gt_thread *t)
{
	gt_lock(&t->lock);
	t->state = GT_T_FREE;
	t->tls = NULL;
	gt_unlock(&t->lock);
	gt_lock(&reg_lock);
	t->next_free = free_list;
	free_list = t;
	gt_unlock(&reg_lock);
}

void gt_thread_foreach(void (*fn)(struct gt_thread *t, void *arg), void *arg)
{
	uint32_t n = __atomic_load_n(&nslabs, __ATOMIC_ACQUIRE);

	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < SLAB_RECS; j++)
			fn(&slabs[i][j], arg);
}

struct gt_pslot *gt_p_acquire(void)
{
	struct gt_pslot *ps;

	gt_lock(&reg_lock);
	ps = free_ps;
	if (ps)
		free_ps = ps->next;
	gt_unlock(&reg_lock);
	if (ps)
		return ps;
	ps = gt_arena_alloc(sizeof(*ps));
	if (!ps)
		return NULL;
	gt_lock(&reg_lock);
	ps->id = next_p++;
	gt_unlock(&reg_lock);
	return ps;
}

void gt_p_release(struct gt_pslot *ps)
{
	gt_lock(&reg_lock);
	ps->next = free_ps;
	free_ps = ps;
	gt_unlock(&reg_lock);
}

uint32_t gt_p_count(void)
{
	gt_lock(&reg_lock);
	uint32_t n = next_p;
	gt_unlock(&reg_lock);
	return n;
}

static int cancelled_locked(struct gt_thread *t, uint64_t now)
{
	uint32_t kind = __atomic_load_n(&t->op_kind, __ATOMIC_RELAXED);

	if (!kind || !t->sess || __atomic_load_n(&t->op_sess, __ATOMIC_RELAXED) != t->sess)
		return 0;
	uint64_t t0 = gt_clock_ns_of(__atomic_load_n(&t->op_t0, __ATOMIC_RELAXED));
	unsigned as = gt_emit_kind_of(t, kind);   /* (an epoll_wait on sockets: net) */
	return gt_emit_block_locked(t, as ? as : kind, t0, now > t0 ? now : t0, 0);
}

/* pthread key destructor: the thread is exiting (start routine returned,
 * pthread_exit, cancellation). Runs before its TLS is gone. */
static void on_thread_exit(void *arg)
{
	struct gt_thread *t = arg;
	struct gt_tls *tls = &gt_tls;

	tls->in_tracer++;
	/* Cancelled inside a hooked call: the call never returned. Its wait
	 * lasted until now; its stack was unwound, so it has none (the
	 * timeline shows it, the profiles cannot). */
	if (tls->in_call)
		GT_LOCKED_RETRY(t, cancelled_locked(t, gt_clock_now()));
	__atomic_store_n(&tls->in_call, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&t->op_kind, 0, __ATOMIC_RELAXED);
	gt_emit_exit(t);   /* EXITING: nobody arms its profile timer again */
	if (obs_exiting)
		obs_exiting(t);
	tls->t = NULL;
	int was_main = t->flags & GT_TF_MAIN;
	gt_thread_free(t);
	/* Hooks run by later TLS destructors must not register us again, but
	 * their frees still count (folded at once from now on). */
	tls->dead = 1;
	tls->in_tracer = 1;
	if (tls->heap) {
		int64_t v = tls->heap;
		tls->heap = 0;
		gt_heap_fold(v, tls->heap_sess, 0);
	}
	if (was_main)
		__atomic_store_n(&main_gone, 1, __ATOMIC_SEQ_CST);
	if (__atomic_sub_fetch(&live_threads, 1, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&main_gone, __ATOMIC_SEQ_CST) && gt_thread_alone())
		exit(0);   /* what glibc does when the last thread leaves */
}

/* A record a signal handler's hook adopted for this thread before our
 * trampoline ran (a signal at start_thread): the trampoline's own
 * replaces it. It ends as at an exit (its goroutine's GoEnd while
 * tracing), or it stayed LIVE with a TLS pointer into a stack gone with
 * the thread, which the next stop read (a sweep: SIGSEGV at exit, 4 runs
 * of 5, under a 50 kHz SIGALRM across thread creations). */
void gt_thread_retire(struct gt_thread *t)
{
	__atomic_store_n(&t->op_kind, 0, __ATOMIC_RELAXED);
	gt_emit_exit(t);
	if (obs_exiting)
		obs_exiting(t);
	gt_tls.t = NULL;
	gt_thread_free(t);
	__atomic_sub_fetch(&live_threads, 1, __ATOMIC_SEQ_CST);
}

void gt_thread_watch_exit(struct gt_thread *t)
{
	if (exit_key_ok)
		pthread_setspecific(exit_key, t);
}

static pid_t gettid_(void)
{
	return gt_gettid();
}

/* Registers a thread found in a hook. Its start routine is unknown: take
 * the outermost frame of its stack (the trampoline cut does not apply). */
struct gt_thread *gt_thread_self_slow(void)
{
	struct gt_tls *tls = &gt_tls;
	uintptr_t pc[GT_STACK_MAX];

	if (tls->t)
		return tls->t;
	if (!exit_key_ok || tls->in_tracer > 1)
		return NULL;   /* before init, or tracer thread / after exit */
	struct gt_thread *t = gt_thread_alloc();
	if (!t)
		return NULL;
	unsigned n = gt_stack_capture(pc, GT_STACK_MAX, 0);
	t->start_pc = n ? pc[n - 1] : 0;
	t->flags = GT_TF_ADOPTED;
	gt_thread_live(1);
	gt_lock(&t->lock);
	t->tid = gettid_();
	t->tls = tls;
	t->self = (uintptr_t)pthread_self();
	t->state = GT_T_LIVE;
	gt_unlock(&t->lock);
	tls->t = t;
	gt_thread_watch_exit(t);
	gt_thread_observe_start(t);
	return t;
}

void gt_thread_init_main(void)
{
	struct gt_tls *tls = &gt_tls;

	if (!exit_key_ok && pthread_key_create(&exit_key, on_thread_exit) == 0)
		exit_key_ok = 1;
	if (tls->t || getpid() != gettid_())
		return;
	struct gt_thread *t = gt_thread_alloc();
	if (!t)
		return;
	t->flags = GT_TF_MAIN;
	gt_thread_live(1);
	gt_lock(&t->lock);
	t->tid = gettid_();
	t->tls = tls;
	t->self = (uintptr_t)pthread_self();
	/* No name: the main thread is labelled with the process ("pid 1234:
	 * ./app arg...", GT_STR_PROCESS) until the program names it. */
	t->state = GT_T_LIVE;
	gt_unlock(&t->lock);
	tls->t = t;
	gt_thread_watch_exit(t);
}

struct named {
	uintptr_t self;
	const char *name;
};

void gt_thread_name_locked(struct gt_thread *t, const char *name)
{
	size_t i = 0;

	for (; name[i] && i < sizeof(t->name) - 1; i++)
		t->name[i] = name[i];
	t->name[i] = '\0';
	if (strncmp(t->name, "GC ", 3) == 0)   /* a label "GC ..." crashes 1.19's MMU page */
		t->name[2] = '_';
	t->label_sess = 0;
}

static void set_name(struct gt_thread *t, void *arg)
{
	const struct named *n = arg;

	gt_lock(&t->lock);
	if (t->state == GT_T_LIVE && t->self == n->self)
		gt_thread_name_locked(t, n->name);
	gt_unlock(&t->lock);
}

void gt_thread_named(uintptr_t self, const char *name)
{
	struct named n = { self, name };

	gt_thread_foreach(set_name, &n);
}

void gt_thread_after_fork_child(void)
{
	struct gt_tls *tls = &gt_tls;
	struct gt_thread *self = tls->t;

	/* Only the forking thread survives. Locks held by vanished threads are
	 * dropped with their records; ours is not held (we are in a hook). */
	reg_lock.word = 0;
	tracer_threads = 0;   /* ours are gone; urcu restarts its worker next */
	live_threads = self ? 1 : 0;
	main_gone = 0;
	free_list = NULL;
	free_ps = NULL;
	next_p = 1;
	uint32_t n = nslabs;
	for (uint32_t i = 0; i < n; i++) {
		for (uint32_t j = 0; j < SLAB_RECS; j++) {
			struct gt_thread *t = &slabs[i][j];
			if (i == n - 1 && j >= slab_used)
				break;
			t->lock.word = 0;
			__atomic_store_n(&t->sess, 0, __ATOMIC_RELAXED);
			t->chunk = NULL;
			t->ps = NULL;
			t->g = GT_G_NONE;
			__atomic_store_n(&t->op_kind, 0, __ATOMIC_RELAXED);
			t->decl_sess = 0;
			if (t == self) {
				t->tid = gettid_();
				continue;
			}
			t->state = GT_T_FREE;
			t->tls = NULL;
			t->next_free = free_list;
			free_list = t;
		}
	}
}
