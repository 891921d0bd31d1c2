/* core/base/arena.c - bump allocator over 1 MiB mmap regions. Any thread; the
 * lock is held for a few instructions (and an mmap when a region fills). */
#include "core/base/arena.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/base/lock.h"
#include "core/base/real.h"

#define REGION (1u << 20)

static struct gt_lock arena_lock = GT_LOCK_INIT;
static uint8_t *cur, *end;   /* [arena_lock] */

void *gt_map(size_t size)
{
	int saved = errno;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	errno = saved;
	return p == MAP_FAILED ? NULL : p;
}

void gt_unmap(void *p, size_t size)
{
	int saved = errno;

	munmap(p, size);
	errno = saved;
}

void *gt_arena_alloc(size_t size)
{
	void *p = NULL;

	size = (size + 15) & ~(size_t)15;
	if (size > REGION / 4)
		return gt_map(size);
	gt_lock(&arena_lock);
	if (!cur || (size_t)(end - cur) < size) {
		uint8_t *r = gt_map(REGION);
		if (r) {
			cur = r;
			end = r + REGION;
		}
	}
	if (cur && (size_t)(end - cur) >= size) {
		p = cur;
		cur += size;
	}
	gt_unlock(&arena_lock);
	return p;
}

size_t gt_as_room(void)
{
	int saved = errno;
	struct rlimit rl;
	char buf[128];
	size_t room = SIZE_MAX;

	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		room = 0;
		int fd = gt_open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
		ssize_t n = fd >= 0 ? gt_read(fd, buf, sizeof(buf) - 1) : -1;
		if (fd >= 0)
			gt_close(fd);
		if (n > 0) {
			buf[n] = '\0';
			size_t mapped = (size_t)strtoull(buf, NULL, 10) * (size_t)sysconf(_SC_PAGESIZE);
			if (mapped < rl.rlim_cur)
				room = (size_t)rl.rlim_cur - mapped;
		}
	}
	errno = saved;
	return room;
}
