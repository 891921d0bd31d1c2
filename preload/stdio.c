/* preload/stdio.c - a one-thread program's streams (core/process/solo.c):
 * the calls that make a stream hand it over, and the calls that make a
 * thread (pthread_create's in pthread.c, and glibc's own, which do not go
 * through our pthread_create) end solo mode before it exists. */
#undef _FILE_OFFSET_BITS   /* we define both fopen and fopen64, aio_read and aio_read64 */
#include <aio.h>
#include <mqueue.h>
#include <netdb.h>
#include <stdio.h>
#include <threads.h>
#include <time.h>

#include "preload/hook.h"

#define GT_STREAM(name, params, args)                 \
	GT_EXPORT FILE *name params                   \
	{                                             \
		FILE *f = GT_REAL(name) args;         \
		gt_solo_file(f);                      \
		return f;                             \
	}

GT_STREAM(fopen, (const char *path, const char *mode), (path, mode))
GT_STREAM(fopen64, (const char *path, const char *mode), (path, mode))
GT_STREAM(fdopen, (int fd, const char *mode), (fd, mode))
GT_STREAM(tmpfile, (void), ())
GT_STREAM(tmpfile64, (void), ())
GT_STREAM(popen, (const char *cmd, const char *mode), (cmd, mode))
GT_STREAM(fmemopen, (void *buf, size_t n, const char *mode), (buf, n, mode))
GT_STREAM(open_memstream, (char **buf, size_t *n), (buf, n))
GT_STREAM(fopencookie, (void *c, const char *mode, cookie_io_functions_t io), (c, mode, io))

/* A stream's fd is closed inside libc, where the close hook does not see
 * it: its kind (socket or not) is forgotten after, as close() forgets
 * it, or a pipe given the number next would wait as a socket. */
#define GT_STREAM_CLOSE(name)                                          \
	GT_EXPORT int name(FILE *f)                                    \
	{                                                              \
		int fd = f ? fileno(f) : -1;                           \
		int r = GT_REAL(name)(f);                              \
		gt_fd_note_call(fd, GT_FD_UNKNOWN);                    \
		return r;                                              \
	}
GT_STREAM_CLOSE(fclose)
GT_STREAM_CLOSE(pclose)

/* Keeps errno (gt_solo_end does no call that sets it). */
#define GT_THREADS(ret, name, params, args, when)     \
	GT_EXPORT ret name params                     \
	{                                             \
		if (when)                             \
			gt_solo_end();                \
		return GT_REAL(name) args;            \
	}

GT_THREADS(int, thrd_create, (thrd_t *t, thrd_start_t fn, void *arg), (t, fn, arg), 1)
#define BY_THREAD(ev) ((ev) && (ev)->sigev_notify == SIGEV_THREAD)
GT_THREADS(int, timer_create, (clockid_t c, struct sigevent *ev, timer_t *t), (c, ev, t),
	   BY_THREAD(ev))
GT_THREADS(int, mq_notify, (mqd_t q, const struct sigevent *ev), (q, ev), BY_THREAD(ev))
/* glibc's aio and getaddrinfo_a run their requests on threads of their own. */
GT_THREADS(int, aio_read, (struct aiocb *a), (a), 1)
GT_THREADS(int, aio_read64, (struct aiocb64 *a), (a), 1)
GT_THREADS(int, aio_write, (struct aiocb *a), (a), 1)
GT_THREADS(int, aio_write64, (struct aiocb64 *a), (a), 1)
GT_THREADS(int, aio_fsync, (int op, struct aiocb *a), (op, a), 1)
GT_THREADS(int, aio_fsync64, (int op, struct aiocb64 *a), (op, a), 1)
GT_THREADS(int, lio_listio, (int m, struct aiocb *const l[], int n, struct sigevent *ev),
	   (m, l, n, ev), 1)
GT_THREADS(int, lio_listio64, (int m, struct aiocb64 *const l[], int n, struct sigevent *ev),
	   (m, l, n, ev), 1)
GT_THREADS(int, getaddrinfo_a, (int m, struct gaicb *l[], int n, struct sigevent *ev),
	   (m, l, n, ev), 1)
