/* core/process/solo.c - a one-thread program keeps glibc's one-thread
 * stdio while our service thread runs (issue 27).
 *
 * glibc (2.27+) skips a stream's lock in getc, putc, fgetc, fputc, ungetc,
 * feof and ferror unless the stream has _IO_FLAGS2_NEED_LOCK, which
 * pthread_create sets on every stream, and on every stream opened after,
 * once the process has made its first thread. The service thread is such a
 * thread, and a one-thread program's putc/getc loop then took 1.7x its
 * time (two atomic operations per character). None of the service thread's
 * code uses the program's streams (its logs are write(2)s, libdw's files
 * are its own and it reads them with their own locks), so while the
 * program has one thread the flag guards nothing: solo mode clears it.
 *
 *  - gt_solo_begin (the service thread, at each turn of its loop until it
 *    has decided): if the process is the program's one thread and ours,
 *    clear the flag on every stream (each under its own lock, taken with
 *    ftrylockfile: a stream the program holds keeps its flag), under
 *    _IO_list_lock. That lock has no trylock, and the program holds it
 *    while fflush(NULL) writes: were the buffers at their cap then, its
 *    write would wait for the writer, the writer for the lock. So begin
 *    waits for a turn with the buffers under half their cap: one
 *    fflush(NULL) does not fill half of them.
 *  - gt_solo_file (the fopen family's hooks): a stream the program opens
 *    while solo loses the flag glibc gave it.
 *  - gt_solo_end (before pthread_create, thrd_create and the glibc calls
 *    that make threads of their own: timer_create and mq_notify with
 *    SIGEV_THREAD, the aio family, getaddrinfo_a): the flag back on every
 *    stream, before the new thread exists. Once ended, solo mode never
 *    comes back: glibc's own one-thread paths do not either.
 *
 * begin and end race through two flags, Dekker style: end raises `ended`
 * before it reads `gt_solo`, begin raises `gt_solo` before it reads `ended`
 * and counts the tasks; one of them sees the other.
 *
 * The same goes for glibc's cancellable system calls: once a second
 * thread exists, read and write (and the rest of IO_FNS) enable and
 * disable asynchronous cancellation around the system call, two atomic
 * operations on the thread's cancelhandling: 16% of a one-thread loop of
 * 64-byte reads and writes while tracing (perf), +thrd 1.39 and tracing
 * 1.73 against plain. In a program of one thread only the thread itself
 * can cancel it, and a cancellation it asked for is acted on at the next
 * cancellation point's start: so while solo, gt_real's slots of those
 * functions (when they hold libc's own: no other interposer is skipped)
 * point at stand-ins that call pthread_testcancel() and make the system
 * call (+thrd 1.11, tracing 1.43). Our threads, which call them too, are
 * never cancelled. gt_solo_end puts libc's back before the new thread.
 *
 * A glibc without the exported list, or whose streams lack the flag once
 * we have a thread (it has no such flag, or another value), gets no solo
 * mode: nothing is touched. A forked child inherits its parent's mode
 * and streams, and its one thread keeps them. */
#include "core/process/solo.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>

#include "core/base/config.h"
#include "core/base/log.h"
#include "core/base/sys.h"

#include "core/record/buf.h"
#include "core/record/stack.h"
#include "core/record/thread.h"

#define NEED_LOCK 128   /* glibc's _IO_FLAGS2_NEED_LOCK (libio/libio.h) */

extern FILE *_IO_list_all __attribute__((weak));
extern void _IO_list_lock(void) __attribute__((weak));
extern void _IO_list_unlock(void) __attribute__((weak));

static int gt_solo;            /* atomic: the program's streams take no lock */
static int ended;              /* atomic: a thread was made: never again */
static int unusable;           /* service thread: decided against solo mode */

/* Every stream flagged (begin, under the list lock): glibc flagged them all
 * when our first thread was made, and flags each one opened since. */
static int as_described(void)
{
	for (FILE *f = _IO_list_all; f; f = f->_chain)
		if (!(f->_flags2 & NEED_LOCK))
			return 0;
	return _IO_list_all != NULL;
}

/* need 0: the streams still flagged that the program held (the try
 * failed), for a later try. */
static unsigned set_all(int need)
{
	unsigned held = 0;

	for (FILE *f = _IO_list_all; f; f = f->_chain) {
		if (need) {
			flockfile(f);   /* (only ours can hold one: the program is in end) */
			f->_flags2 |= NEED_LOCK;
			funlockfile(f);
		} else if (f->_flags2 & NEED_LOCK) {
			if (ftrylockfile(f) == 0) {
				f->_flags2 &= ~NEED_LOCK;
				funlockfile(f);
			} else {
				held++;
			}
		}
	}
	return held;
}

/* Turns of the service thread's loop left to try the streams the program
 * held at begin (each GT_SOLO_RETRY_MS apart): a putc loop holds its
 * stream's lock most of the time, and a stream that kept its flag kept
 * the threaded cost (st-stdio with the service thread from load: 3.4x
 * in one run of two, 1.03 in the other). */
#define RETRIES 200
static int retries;   /* service thread */

/* X(name, system call, its return type, parameters, as longs) */
#define IO_FNS(X)                                                                              \
	X(read, SYS_read, ssize_t, (int fd, void *b, size_t n), (fd, (long)b, (long)n, 0))     \
	X(write, SYS_write, ssize_t, (int fd, const void *b, size_t n),                       \
	  (fd, (long)b, (long)n, 0))                                                           \
	X(readv, SYS_readv, ssize_t, (int fd, const struct iovec *v, int n), (fd, (long)v, n, 0)) \
	X(writev, SYS_writev, ssize_t, (int fd, const struct iovec *v, int n),                \
	  (fd, (long)v, n, 0))                                                                 \
	X(pread, SYS_pread64, ssize_t, (int fd, void *b, size_t n, off_t o),                  \
	  (fd, (long)b, (long)n, o))                                                           \
	X(pread64, SYS_pread64, ssize_t, (int fd, void *b, size_t n, off_t o),                \
	  (fd, (long)b, (long)n, o))                                                           \
	X(pwrite, SYS_pwrite64, ssize_t, (int fd, const void *b, size_t n, off_t o),          \
	  (fd, (long)b, (long)n, o))                                                           \
	X(pwrite64, SYS_pwrite64, ssize_t, (int fd, const void *b, size_t n, off_t o),        \
	  (fd, (long)b, (long)n, o))

static long done(long r)
{
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

#define STANDIN(name, nr, ret, params, raw)                  \
	static ret solo_##name params                        \
	{                                                    \
		pthread_testcancel();                        \
		return (ret)done(gt_raw6(nr, GT_UNPAREN raw, 0, 0)); \
	}
#define GT_UNPAREN(...) __VA_ARGS__
IO_FNS(STANDIN)
#undef STANDIN

static void *libc_fn[] = {
#define NONE(name, nr, ret, params, raw) NULL,
	IO_FNS(NONE)
#undef NONE
};

/* libc's executable segment (gt_stack_text: the loader's list; dladdr
 * would scan libc's ~3,000 symbols for each address, 748 K instructions a
 * process start for the eight). */
static uintptr_t libc_lo, libc_hi;

/* libc's own function (not another interposer's after ours). */
static int is_libc(void *fn)
{
	return (uintptr_t)fn - libc_lo < libc_hi - libc_lo;
}

void gt_solo_init(void)
{
	unsigned i = 0;

	gt_stack_text(0, "/libc.so.", &libc_lo, &libc_hi);
	if (libc_hi <= libc_lo)
		return;

#define KNOW(name, nr, ret, params, raw)                                              \
	{                                                                             \
		void *f = __atomic_load_n((void **)&gt_real.name, __ATOMIC_ACQUIRE);  \
		if (is_libc(f)) {                                                     \
			libc_fn[i] = f;                                               \
			gt_real_alias((uintptr_t)solo_##name, (uintptr_t)f);          \
		}                                                                     \
	}                                                                             \
	i++;
	IO_FNS(KNOW)
#undef KNOW
}

/* begin: each slot that holds libc's function gets its stand-in; end:
 * each that holds its stand-in gets libc's back. (No dladdr here: the
 * service thread must not wait for the loader's lock, which the program
 * may hold while it waits for us: a dlopen of the library that starts a
 * trace.) */
static unsigned swap_io(int begin)   /* begin: the slots that took a stand-in */
{
	unsigned i = 0, n = 0;

#define SWAP(name, nr, ret, params, raw)                                                     \
	if (begin) {                                                                         \
		void *f = libc_fn[i];                                                        \
		if (f)                                                                       \
			n += __atomic_compare_exchange_n((void **)&gt_real.name, &f,         \
							 (void *)solo_##name, 0,             \
							 __ATOMIC_SEQ_CST, __ATOMIC_RELAXED); \
	} else if (libc_fn[i]) {                                                             \
		void *s = (void *)solo_##name;                                               \
		__atomic_compare_exchange_n((void **)&gt_real.name, &s, libc_fn[i], 0,      \
					    __ATOMIC_SEQ_CST, __ATOMIC_RELAXED);             \
	}                                                                                    \
	i++;
	IO_FNS(SWAP)
#undef SWAP
	return n;
}

void gt_solo_begin(void)
{
	if (!&_IO_list_all || !_IO_list_lock || !_IO_list_unlock || unusable ||
	    __atomic_load_n(&ended, __ATOMIC_ACQUIRE))
		return;
	int again = __atomic_load_n(&gt_solo, __ATOMIC_ACQUIRE);
	if (again && !retries)
		return;
	if (gt_buf_in_use() * 2 >= gt_buf_cap())
		return;   /* the next turn */
	_IO_list_lock();
	if (again) {   /* the streams held at begin (end raises ended before its lock) */
		if (__atomic_load_n(&ended, __ATOMIC_SEQ_CST))
			retries = 0;
		else
			retries = set_all(0) ? retries - 1 : 0;
	} else {
		__atomic_store_n(&gt_solo, 1, __ATOMIC_SEQ_CST);
		if (__atomic_load_n(&ended, __ATOMIC_SEQ_CST) || !gt_thread_alone() ||
		    !as_described()) {
			unusable = 1;   /* decided: threaded already, or another glibc */
			__atomic_store_n(&gt_solo, 0, __ATOMIC_SEQ_CST);
		} else {
			retries = set_all(0) ? RETRIES : 0;
			unsigned n = swap_io(1);
			if (gt_cfg.debug)
				gt_log("solo mode: one thread of the program's: its streams take no "
				       "lock, %u of libc's I/O functions stand in", n);
		}
	}
	_IO_list_unlock();
}

int gt_solo_retry_ms(void)
{
	return retries && __atomic_load_n(&gt_solo, __ATOMIC_ACQUIRE) ? GT_SOLO_RETRY_MS : -1;
}

void gt_solo_file(void *f)
{
	FILE *fp = f;

	if (fp && __atomic_load_n(&gt_solo, __ATOMIC_ACQUIRE) && ftrylockfile(fp) == 0) {
		fp->_flags2 &= ~NEED_LOCK;
		funlockfile(fp);
	}
}

void gt_solo_end(void)
{
	if (__atomic_load_n(&ended, __ATOMIC_RELAXED))
		return;
	__atomic_store_n(&ended, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&gt_solo, __ATOMIC_SEQ_CST)) {
		/* A begin in progress holds the list lock until it is done. */
		_IO_list_lock();
		__atomic_store_n(&gt_solo, 0, __ATOMIC_SEQ_CST);
		swap_io(0);
		set_all(1);
		_IO_list_unlock();
	}
}
