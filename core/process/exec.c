/* core/process/exec.c - exec: the trace in progress is finished first,
 * unless the exec is sure to fail. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/single_threaded.h>
#include <time.h>
#include <unistd.h>

#include "core/base/clock.h"
#include "core/base/config.h"
#include "core/base/fdguard.h"
#include "core/base/lock.h"
#include "core/base/log.h"
#include "core/base/sys.h"
#include "core/process/api.h"
#include "core/process/state.h"
#include "core/record/api.h"
#include "core/process/request.h"
#include "core/prof/prof.h"

/* Will exec of path find an executable? (PATH search for the p
 * variants.) A call that fails returns to the program, and the trace must
 * then go on: only a plausible exec finishes it first. */
static int executable(int dirfd, const char *path, int search, int flags)
{
	char buf[GT_PATH_MAX];

	if (!path)
		return 1;   /* fexecve: the fd is what runs */
	if (!search || strchr(path, '/'))
		return (flags & AT_EMPTY_PATH && !*path) ||
		       faccessat(dirfd, path, X_OK, AT_EACCESS | (flags & AT_SYMLINK_NOFOLLOW)) == 0;
	const char *p = getenv("PATH");
	if (!p)
		p = "/bin:/usr/bin";
	while (*p) {
		const char *e = strchr(p, ':');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		size_t l = strlen(path);
		if (n + 1 + l < sizeof(buf)) {   /* "dir/path"; an empty dir is "." */
			memcpy(buf, n ? p : ".", n ? n : 1);
			size_t d = n ? n : 1;
			buf[d] = '/';
			memcpy(buf + d + 1, path, l + 1);
			if (faccessat(AT_FDCWD, buf, X_OK, AT_EACCESS) == 0)
				return 1;
		}
		p += n + (e != NULL);
	}
	return 0;
}

void gt_exec_prepare(int dirfd, const char *path, int search, int flags)
{
	struct gt_tls *tls = &gt_tls;
	char err[512];
	int saved = errno;

	/* Not in a vfork child (it shares our memory but is not us). */
	if ((!__atomic_load_n(&gt_trace_on, __ATOMIC_ACQUIRE) && !gt_prof_session() &&
	     !gt_prof_window(0) && !gt_prof_window(1)) ||
	    gt_proc.pid != getpid() || tls->in_tracer || !executable(dirfd, path, search, flags)) {
		errno = saved;
		return;
	}
	tls->in_tracer++;
	/* The CPU profile, the trace and the block and mutex windows end and
	 * are written; the calls waiting for them are answered. */
	if (gt_request_call(REQ_EXEC, NULL, err, sizeof(err), 60ll * 1000000000) && err[0])
		gt_log("%s", err);
	tls->in_tracer--;
	errno = saved;
}
