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
 * A glibc without the exported list, or whose streams lack the flag once
 * we have a thread (it has no such flag, or another value), gets no solo
 * mode: nothing is touched. A forked child inherits its parent's mode
 * and streams, and its one thread keeps them. */
#include "core/process/solo.h"

#include <stdio.h>

#include "core/record/buf.h"
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

static void set_all(int need)
{
	for (FILE *f = _IO_list_all; f; f = f->_chain) {
		if (need) {
			flockfile(f);   /* (only ours can hold one: the program is in end) */
			f->_flags2 |= NEED_LOCK;
			funlockfile(f);
		} else if ((f->_flags2 & NEED_LOCK) && ftrylockfile(f) == 0) {
			f->_flags2 &= ~NEED_LOCK;
			funlockfile(f);
		}
	}
}

void gt_solo_begin(void)
{
	if (!&_IO_list_all || !_IO_list_lock || !_IO_list_unlock || unusable ||
	    __atomic_load_n(&ended, __ATOMIC_ACQUIRE) || __atomic_load_n(&gt_solo, __ATOMIC_ACQUIRE))
		return;
	if (gt_buf_in_use() * 2 >= gt_buf_cap())
		return;   /* the next turn */
	_IO_list_lock();
	__atomic_store_n(&gt_solo, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&ended, __ATOMIC_SEQ_CST) || !gt_thread_alone() || !as_described()) {
		unusable = 1;   /* decided: threaded already, or another glibc */
		__atomic_store_n(&gt_solo, 0, __ATOMIC_SEQ_CST);
	} else {
		set_all(0);
	}
	_IO_list_unlock();
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
		set_all(1);
		_IO_list_unlock();
	}
}
