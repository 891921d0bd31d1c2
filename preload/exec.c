/* preload/exec.c - the exec family and _exit: a trace in progress is
 * finished before the image is replaced (the new image loads us afresh) or
 * the process ends without atexit. execl* call execve inside libc, out of
 * our reach, so they are hooked too. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "preload/hook.h"

GT_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	gt_exec_prepare(AT_FDCWD, path, 0, 0);
	return GT_REAL(execve)(path, argv, envp);
}

GT_EXPORT int execv(const char *path, char *const argv[])
{
	gt_exec_prepare(AT_FDCWD, path, 0, 0);
	return GT_REAL(execv)(path, argv);
}

GT_EXPORT int execvp(const char *file, char *const argv[])
{
	gt_exec_prepare(AT_FDCWD, file, 1, 0);
	return GT_REAL(execvp)(file, argv);
}

GT_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	gt_exec_prepare(AT_FDCWD, file, 1, 0);
	return GT_REAL(execvpe)(file, argv, envp);
}

GT_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	gt_exec_prepare(fd, NULL, 0, 0);
	return GT_REAL(fexecve)(fd, argv, envp);
}

GT_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
		       int flags)
{
	gt_exec_prepare(dirfd, path, 0, flags);
	return GT_REAL(execveat)(dirfd, path, argv, envp, flags);
}

/* execl, execlp, execle: collect the variadic arguments into an argv. */
#define COLLECT_ARGS(arg0, envp_out)                                   \
	va_list ap;                                                    \
	size_t n = 1;                                                  \
	va_start(ap, arg0);                                            \
	while (va_arg(ap, const char *))                               \
		n++;                                                   \
	va_end(ap);                                                    \
	const char *argv[n + 1];                                       \
	argv[0] = arg0;                                                \
	va_start(ap, arg0);                                            \
	for (size_t i = 1; i <= n; i++)                                \
		argv[i] = va_arg(ap, const char *);                    \
	envp_out;                                                      \
	va_end(ap)

GT_EXPORT int execl(const char *path, const char *arg0, ...)
{
	COLLECT_ARGS(arg0, (void)0);
	return execv(path, (char *const *)argv);
}

GT_EXPORT int execlp(const char *file, const char *arg0, ...)
{
	COLLECT_ARGS(arg0, (void)0);
	return execvp(file, (char *const *)argv);
}

GT_EXPORT int execle(const char *path, const char *arg0, ...)
{
	char *const *envp;
	COLLECT_ARGS(arg0, envp = va_arg(ap, char *const *));
	return execve(path, (char *const *)argv, envp);
}

/* _exit and _Exit skip atexit handlers (shells end this way): finish the
 * trace first. A forked child has no trace of its own, so this is a no-op
 * there. */
GT_EXPORT void _exit(int status)
{
	gt_exit_prepare();
	GT_REAL(_exit)(status);
	__builtin_unreachable();
}

GT_EXPORT void _Exit(int status)
{
	gt_exit_prepare();
	GT_REAL(_Exit)(status);
	__builtin_unreachable();
}

/* A daemon: fork, setsid in the child, the parent exits. The child lost the
 * parent's endpoint at fork; as a session leader it gets its own. */
GT_EXPORT pid_t setsid(void)
{
	pid_t r = GT_REAL(setsid)();

	if (r != (pid_t)-1)
		gt_service_long_lived();
	return r;
}

/* glibc's daemon() ends the parent with an _exit inside libc, which no
 * hook sees: the parent's trace was never finished and its endpoint's
 * socket file stayed. So it is done here as glibc does it (fork; the
 * parent leaves by our _exit; setsid, through its hook; chdir("/");
 * /dev/null, checked to be one, on 0, 1 and 2). */
GT_EXPORT int daemon(int nochdir, int noclose)
{
	switch (fork()) {
	case -1:
		return -1;
	case 0:
		break;
	default:
		_exit(0);
	}
	if (setsid() == -1)
		return -1;
	if (!nochdir)
		(void)chdir("/");
	if (!noclose) {
		struct stat st;
		int fd = open("/dev/null", O_RDWR);
		if (fd == -1 || fstat(fd, &st) != 0) {
			if (fd != -1)
				close(fd);
			return -1;
		}
		if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) {
			close(fd);
			errno = ENODEV;
			return -1;
		}
		(void)dup2(fd, 0);
		(void)dup2(fd, 1);
		(void)dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	return 0;
}

/* A user or mount namespace wants a process of one thread: the service
 * thread steps out for the call (see gt_ns_prepare). */
GT_EXPORT int unshare(int flags)
{
	int parked = gt_ns_prepare(0, flags);
	int r = GT_REAL(unshare)(flags);
	gt_ns_done(parked);
	return r;
}

GT_EXPORT int setns(int fd, int nstype)
{
	int parked = gt_ns_prepare(1, nstype);
	int r = GT_REAL(setns)(fd, nstype);
	gt_ns_done(parked);
	return r;
}

/* Stacks through a library's code are named while it is still mapped;
 * after it is gone, the frame-record walk and the names forget its
 * addresses (another library may load there). */
GT_EXPORT int dlclose(void *handle)
{
	gt_service_sync();
	int r = GT_REAL(dlclose)(handle);
	gt_service_unloaded();
	return r;
}
