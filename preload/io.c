/* preload/io.c - file and pipe I/O, fd bookkeeping, waits for children.
 * A call that waited becomes a syscall event, or a net event when the fd is
 * a socket (decided only for recorded calls). Each hook forwards to core. */
#undef _FILE_OFFSET_BITS   /* we define both open and open64 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <unistd.h>

#include "core/base/fdguard.h"
#include "preload/hook.h"

#define SYS GT_OP_SYSCALL

GT_HOOK_OP(ssize_t, read, (int fd, void *b, size_t n), (fd, b, n), SYS, GT_END_FD(fd))
GT_HOOK_OP(ssize_t, write, (int fd, const void *b, size_t n), (fd, b, n), SYS, GT_END_FD(fd))
GT_HOOK_OP(ssize_t, readv, (int fd, const struct iovec *v, int n), (fd, v, n), SYS, GT_END_FD(fd))
GT_HOOK_OP(ssize_t, writev, (int fd, const struct iovec *v, int n), (fd, v, n), SYS, GT_END_FD(fd))
GT_HOOK_OP(ssize_t, pread, (int fd, void *b, size_t n, off_t o), (fd, b, n, o), SYS, GT_END_FD(fd))
GT_HOOK_OP(ssize_t, pread64, (int fd, void *b, size_t n, off_t o), (fd, b, n, o), SYS, GT_END_FD(fd))
GT_HOOK_OP(ssize_t, pwrite, (int fd, const void *b, size_t n, off_t o), (fd, b, n, o), SYS,
	   GT_END_FD(fd))
GT_HOOK_OP(ssize_t, pwrite64, (int fd, const void *b, size_t n, off_t o), (fd, b, n, o), SYS,
	   GT_END_FD(fd))
GT_HOOK_OP(ssize_t, preadv, (int fd, const struct iovec *v, int n, off_t o), (fd, v, n, o), SYS,
	   GT_END_FD(fd))
GT_HOOK_OP(ssize_t, preadv64, (int fd, const struct iovec *v, int n, off_t o), (fd, v, n, o), SYS,
	   GT_END_FD(fd))
GT_HOOK_OP(ssize_t, pwritev, (int fd, const struct iovec *v, int n, off_t o), (fd, v, n, o), SYS,
	   GT_END_FD(fd))
GT_HOOK_OP(ssize_t, pwritev64, (int fd, const struct iovec *v, int n, off_t o), (fd, v, n, o), SYS,
	   GT_END_FD(fd))
GT_HOOK_OP(ssize_t, preadv2, (int fd, const struct iovec *v, int n, off_t o, int f),
	   (fd, v, n, o, f), SYS, GT_END_FD(fd))
GT_HOOK_OP(ssize_t, pwritev2, (int fd, const struct iovec *v, int n, off_t o, int f),
	   (fd, v, n, o, f), SYS, GT_END_FD(fd))
/* _FORTIFY_SOURCE builds (every Debian package) call these instead. */
GT_HOOK_OP(ssize_t, __read_chk, (int fd, void *b, size_t n, size_t bl), (fd, b, n, bl), SYS,
	   GT_END_FD(fd))
GT_HOOK_OP(ssize_t, __pread_chk, (int fd, void *b, size_t n, off_t o, size_t bl),
	   (fd, b, n, o, bl), SYS, GT_END_FD(fd))
GT_HOOK_OP(ssize_t, __pread64_chk, (int fd, void *b, size_t n, off_t o, size_t bl),
	   (fd, b, n, o, bl), SYS, GT_END_FD(fd))

/* open blocks on FIFOs and slow filesystems. The mode argument exists only
 * with O_CREAT or O_TMPFILE. */
static mode_t open_mode(int flags, va_list ap)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? (mode_t)va_arg(ap, int) : 0;
}

#define OPEN_HOOK(name)                                                \
	GT_EXPORT int name(const char *path, int flags, ...)           \
	{                                                              \
		struct gt_op op;                           \
		va_list ap;                                            \
		va_start(ap, flags);                                   \
		mode_t mode = open_mode(flags, ap);                    \
		va_end(ap);                                            \
		int (*real_)(const char *, int, ...) = GT_REAL(name);  \
		gt_op_begin(&op, SYS, (uintptr_t)real_);               \
		int r = real_(path, flags, mode);                      \
		gt_op_end(&op, (uintptr_t)real_);                      \
		return r;                                              \
	}
#define OPENAT_HOOK(name)                                                   \
	GT_EXPORT int name(int dirfd, const char *path, int flags, ...)     \
	{                                                                   \
		struct gt_op op;                                \
		va_list ap;                                                 \
		va_start(ap, flags);                                        \
		mode_t mode = open_mode(flags, ap);                         \
		va_end(ap);                                                 \
		int (*real_)(int, const char *, int, ...) = GT_REAL(name);  \
		gt_op_begin(&op, SYS, (uintptr_t)real_);                    \
		int r = real_(dirfd, path, flags, mode);                    \
		gt_op_end(&op, (uintptr_t)real_);                           \
		return r;                                                   \
	}
OPEN_HOOK(open)
OPEN_HOOK(open64)
OPENAT_HOOK(openat)
OPENAT_HOOK(openat64)
GT_HOOK_OP(int, __open_2, (const char *p, int f), (p, f), SYS, GT_END_PLAIN)
GT_HOOK_OP(int, __open64_2, (const char *p, int f), (p, f), SYS, GT_END_PLAIN)
GT_HOOK_OP(int, __openat_2, (int d, const char *p, int f), (d, p, f), SYS, GT_END_PLAIN)
GT_HOOK_OP(int, __openat64_2, (int d, const char *p, int f), (d, p, f), SYS, GT_END_PLAIN)

/* The fd type cache forgets an fd once it is closed or replaced. The
 * tracer's own fds are not the program's to close: closing one succeeds
 * without effect (a daemon closing every fd keeps its trace). */
GT_EXPORT int close(int fd)
{
	struct gt_op op;
	int (*real_)(int) = GT_REAL(close);

	if (__builtin_expect(gt_fd_ours(fd), 0) && !gt_tls.in_tracer)
		return 0;
	gt_op_begin(&op, SYS, (uintptr_t)real_);
	int r = real_(fd);
	gt_fd_note_call(fd, GT_FD_UNKNOWN);
	gt_op_end(&op, (uintptr_t)real_);
	return r;
}

/* libunwind opens the pipe it validates addresses through when it sets
 * itself up, on a program thread's first walk (core/record/unwind.c): at the
 * lowest free numbers, the program's next ones, and unguarded. That pipe
 * is made ours instead: moved high and guarded like our other fds, in
 * libunwind's own variables, which fdguard then keeps up to date. */
GT_EXPORT int pipe2(int fds[2], int flags)
{
	int r = GT_REAL(pipe2)(fds, flags);

	if (__builtin_expect(gt_tls.unw_setup != 0, 0) && r == 0) {
		gt_fd_adopt(&fds[0]);
		gt_fd_adopt(&fds[1]);
	}
	return r;
}

GT_EXPORT int dup2(int old, int fd)
{
	if (__builtin_expect(gt_fd_ours(fd), 0) && !gt_tls.in_tracer)
		gt_fd_guard_target(fd);   /* ours moves out of the way */
	int r = GT_REAL(dup2)(old, fd);
	gt_fd_note_call(fd, GT_FD_UNKNOWN);
	return r;
}

GT_EXPORT int dup3(int old, int fd, int flags)
{
	if (__builtin_expect(gt_fd_ours(fd), 0) && !gt_tls.in_tracer)
		gt_fd_guard_target(fd);
	int r = GT_REAL(dup3)(old, fd, flags);
	gt_fd_note_call(fd, GT_FD_UNKNOWN);
	return r;
}

/* close_range and closefrom close around the tracer's fds. */
GT_EXPORT int close_range(unsigned lo, unsigned hi, int flags)
{
	int (*real)(unsigned, unsigned, int) = GT_REAL(close_range);

	if (gt_tls.in_tracer)
		return real(lo, hi, flags);
	return gt_fd_guard_close_range(lo, hi, flags, real);
}

GT_EXPORT void closefrom(int lo)
{
	int saved = errno;

	if (gt_tls.in_tracer) {
		GT_REAL(closefrom)(lo);
		return;
	}
	if (gt_fd_guard_close_range((unsigned)lo, ~0u, 0, GT_REAL(close_range)) && errno == ENOSYS) {
		errno = saved;   /* no close_range: libc's own way, then ours again */
		GT_REAL(closefrom)(lo);
	}
	errno = saved;
}

GT_HOOK_OP(int, fsync, (int fd), (fd), SYS, GT_END_PLAIN)
GT_HOOK_OP(int, fdatasync, (int fd), (fd), SYS, GT_END_PLAIN)
GT_HOOK_OP(int, flock, (int fd, int how), (fd, how), SYS, GT_END_PLAIN)
GT_HOOK_OP(int, lockf, (int fd, int cmd, off_t len), (fd, cmd, len), SYS, GT_END_PLAIN)
GT_HOOK_OP(int, lockf64, (int fd, int cmd, off_t len), (fd, cmd, len), SYS, GT_END_PLAIN)

/* fcntl: only the waiting lock commands are recorded. Its third argument
 * is an int or a pointer; libc itself reads it as a pointer. */
#define FCNTL_HOOK(name)                                                      \
	GT_EXPORT int name(int fd, int cmd, ...)                              \
	{                                                                     \
		struct gt_op op;                                  \
		va_list ap;                                                   \
		va_start(ap, cmd);                                            \
		void *arg = va_arg(ap, void *);                               \
		va_end(ap);                                                   \
		int (*real_)(int, int, ...) = GT_REAL(name);                  \
		if (cmd != F_SETLKW && cmd != F_OFD_SETLKW)                   \
			return real_(fd, cmd, arg);                           \
		gt_op_begin(&op, SYS, (uintptr_t)real_);                      \
		int r = real_(fd, cmd, arg);                                  \
		gt_op_end(&op, (uintptr_t)real_);                             \
		return r;                                                     \
	}
FCNTL_HOOK(fcntl)
FCNTL_HOOK(fcntl64)

GT_HOOK_OP(pid_t, wait, (int *st), (st), SYS, GT_END_PLAIN)
GT_HOOK_OP(pid_t, waitpid, (pid_t p, int *st, int o), (p, st, o), SYS, GT_END_PLAIN)
GT_HOOK_OP(int, waitid, (idtype_t t, id_t id, siginfo_t *i, int o), (t, id, i, o), SYS,
	   GT_END_PLAIN)
GT_HOOK_OP(pid_t, wait3, (int *st, int o, struct rusage *ru), (st, o, ru), SYS, GT_END_PLAIN)
GT_HOOK_OP(pid_t, wait4, (pid_t p, int *st, int o, struct rusage *ru), (p, st, o, ru), SYS,
	   GT_END_PLAIN)
