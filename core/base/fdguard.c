/* core/base/fdguard.c - see fdguard.h. The bitmap is read lock-free by the
 * close hooks; slots and relocations are under fd_lock, which the service
 * thread also holds around its syscalls on registered fds. */
#include "core/base/fdguard.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/base/tls.h"
#include "core/base/lock.h"
#include "core/base/log.h"
#include "core/base/real.h"
#include "core/base/fdkind.h"

/* core/base/fdkind.h */
uint8_t gt_fd_kind[GT_FD_MAX] GT_COLD_BSS;

#define MAX_SLOTS 1200

static struct gt_lock fd_lock = GT_LOCK_INIT;
static uint64_t ours[GT_FD_MAX / 64] GT_COLD_BSS;   /* atomic bits */
static int *slots[MAX_SLOTS] GT_COLD_BSS;           /* [fd_lock] */
static uint32_t nslots;                 /* [fd_lock] */
static uint32_t generation;             /* atomic */

/* fd_lock is recursive: the service thread holds it around its RPC
 * handlers, which start traces, which open (and adopt) the trace file. */
static pthread_t fd_owner;   /* [fd_lock]; read unlocked only to compare with self */
static unsigned fd_depth;    /* [fd_lock] */

void gt_fd_lock(void)
{
	pthread_t self = pthread_self();

	if (__atomic_load_n(&fd_owner, __ATOMIC_RELAXED) == self && fd_depth) {
		fd_depth++;
		return;
	}
	gt_lock(&fd_lock);
	__atomic_store_n(&fd_owner, self, __ATOMIC_RELAXED);
	fd_depth = 1;
}

int gt_fd_trylock(void)
{
	pthread_t self = pthread_self();

	if (__atomic_load_n(&fd_owner, __ATOMIC_RELAXED) == self && fd_depth) {
		fd_depth++;
		return 1;
	}
	if (!gt_trylock(&fd_lock))
		return 0;
	__atomic_store_n(&fd_owner, self, __ATOMIC_RELAXED);
	fd_depth = 1;
	return 1;
}

void gt_fd_unlock(void)
{
	if (--fd_depth)
		return;
	__atomic_store_n(&fd_owner, (pthread_t)0, __ATOMIC_RELAXED);
	gt_unlock(&fd_lock);
}

unsigned gt_fd_suspend(void)
{
	unsigned depth = 0;

	if (__atomic_load_n(&fd_owner, __ATOMIC_RELAXED) == pthread_self() && fd_depth) {
		depth = fd_depth;
		fd_depth = 1;
		gt_fd_unlock();
	}
	return depth;
}

void gt_fd_resume(unsigned depth)
{
	if (!depth)
		return;
	gt_fd_lock();
	fd_depth = depth;
}

int gt_fd_lock_mine(void)
{
	return __atomic_load_n(&fd_owner, __ATOMIC_RELAXED) == pthread_self() && fd_depth;
}

uint32_t gt_fd_generation(void)
{
	return __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
}

static void mark(int fd, int on)
{
	if ((unsigned)fd >= GT_FD_MAX)
		return;
	uint64_t bit = 1ull << (fd % 64);
	if (on)
		__atomic_fetch_or(&ours[fd / 64], bit, __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(&ours[fd / 64], ~bit, __ATOMIC_RELEASE);
}

int gt_fd_ours(int fd)
{
	return (unsigned)fd < GT_FD_MAX &&
	       (__atomic_load_n(&ours[fd / 64], __ATOMIC_ACQUIRE) >> (fd % 64) & 1);
}

/* Where our fds go: above the numbers programs use first, but inside the
 * kernel's initial 64-slot fd table. A higher fd would grow the table, and
 * that is visible: select() ignores fds beyond the table but fails with
 * EBADF on closed ones inside it. A dup2 onto ours moves ours anyway.
 * The limit is read once (prlimit64 took ~1 us, two per fd we keep, 6 of
 * them at a process's start); a program that lowers it below 41 later
 * gets EINVAL from F_DUPFD, and then the floor is 3. Under fd_lock. */
static int floor_fd(void)
{
	static int floor;

	if (!floor) {
		struct rlimit rl;
		floor = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur > 64 ? 40 : 3;
	}
	return floor;
}

/* Move *slot to a fresh high fd. Under fd_lock. */
static int move_locked(int *slot)
{
	int old = *slot;
	int fd = gt_fcntl(old, F_DUPFD_CLOEXEC, floor_fd());

	if (fd < 0 && errno == EINVAL && floor_fd() > 3)
		fd = gt_fcntl(old, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return -errno;
	mark(fd, 1);
	for (uint32_t i = 0; i < nslots; i++)
		if (*slots[i] == old)
			__atomic_store_n(slots[i], fd, __ATOMIC_RELEASE);
	mark(old, 0);
	gt_close(old);   /* ours, not the program's: nobody else uses this number */
	__atomic_fetch_add(&generation, 1, __ATOMIC_RELEASE);
	return 0;
}

int gt_fd_adopt_locked(int *slot)
{
	int saved = errno, r = -ENOSPC;

	if (gt_tls.own_fds)
		return 0;

	if (nslots < MAX_SLOTS) {
		slots[nslots++] = slot;
		mark(*slot, 1);
		r = *slot >= floor_fd() ? 0 : move_locked(slot);
	}
	errno = saved;
	return r;
}

int gt_fd_adopt(int *slot)
{
	gt_fd_lock();
	int r = gt_fd_adopt_locked(slot);
	gt_fd_unlock();
	return r;
}

void gt_fd_release_locked(int *slot)
{
	if (gt_tls.own_fds)
		return;
	for (uint32_t i = 0; i < nslots; i++)
		if (slots[i] == slot) {
			slots[i] = slots[--nslots];
			break;
		}
	int still = 0;
	for (uint32_t i = 0; i < nslots; i++)
		still |= *slots[i] == *slot;
	if (!still)
		mark(*slot, 0);
}

void gt_fd_release(int *slot)
{
	gt_fd_lock();
	gt_fd_release_locked(slot);
	gt_fd_unlock();
}

void gt_fd_guard_target(int fd)
{
	int saved = errno;

	if (!gt_fd_ours(fd))
		return;
	gt_fd_lock();
	for (uint32_t i = 0; i < nslots; i++)
		if (*slots[i] == fd) {
			if (move_locked(slots[i]))
				gt_log("cannot move fd %d out of the program's way", fd);
			break;
		}
	gt_fd_unlock();
	errno = saved;
}

/* fds a close_range closed (not only marked close-on-exec) lose their
 * kinds, as close() forgets one: a socket's number reused by a pipe was a
 * net wait. [a, b], none of them ours. */
static void forget(unsigned a, unsigned b, int flags)
{
	if ((flags & CLOSE_RANGE_CLOEXEC) || gt_tls.in_tracer)
		return;
	for (unsigned fd = a; fd <= b && fd < GT_FD_MAX; fd++)
		gt_fd_note((int)fd, GT_FD_UNKNOWN);
}

int gt_fd_guard_close_range(unsigned lo, unsigned hi, int flags,
			    int (*real)(unsigned, unsigned, int))
{
	unsigned from = lo;
	int r = 0, err = 0;

	if (lo > hi)   /* let the real call say EINVAL */
		return real ? real(lo, hi, flags) : 0;
	/* Close [from, fd) before each of ours, then go on past it. */
	for (unsigned fd = lo; fd <= hi && fd < GT_FD_MAX; fd++) {
		if (!gt_fd_ours((int)fd))
			continue;
		if (fd > from) {
			int k = real ? real(from, fd - 1, flags) : 0;
			if (k && !err) {
				r = k;
				err = errno;
			}
			forget(from, fd - 1, flags);
		}
		from = fd + 1;
	}
	if (from <= hi && (from >= lo)) {
		int k = real ? real(from, hi, flags) : 0;
		if (k && !err) {
			r = k;
			err = errno;
		}
		forget(from, hi, flags);
	}
	if (err)
		errno = err;
	return r;
}

void gt_fd_after_fork_child(void)
{
	/* The child closed (or never had) the parent's tracer fds. */
	fd_lock.word = 0;
	fd_owner = 0;
	fd_depth = 0;
	nslots = 0;
	for (unsigned i = 0; i < GT_FD_MAX / 64; i++)
		ours[i] = 0;
}

/* O_NONBLOCK: a FIFO with no reader fails at once (ENXIO) instead of
 * blocking the service thread; regular files ignore the flag. */
int gt_fd_open_out(const char *path, char *err, size_t errlen)
{
	unsigned depth = gt_fd_suspend();
	int fd = gt_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NONBLOCK, 0666);
	int e = errno;
	gt_fd_resume(depth);
	if (fd < 0) {
		if (e == ENXIO)
			gt_fmt(err, errlen, "open %s: a FIFO with no reader (start its reader first)",
			       path);
		else
			gt_fmt(err, errlen, "open %s: %s", path, strerror(e));
		return -1;
	}
	return fd;
}
