/* core/format/summary.c - one pass over a trace file for the client's summary.
 * Client side only (mmap + plain libc). */
#include "core/format/summary.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/format/decode.h"
#include "core/base/log.h"
#include "core/base/real.h"

static void scan(const uint8_t *b, size_t n, struct gt_summary *s, size_t *end)
{
	uint64_t cur = 0, lo = UINT64_MAX, hi = 0, wait_id = 0;
	size_t off = GT_TRACE_HEADER_LEN;
	struct gt_rec r;

	while (gt_decode(b, n, &off, &r) == 1) {
		switch (r.type) {
		case GT_EV_Batch:
			cur = r.args[1];
			break;
		case GT_EV_String:
			if (r.str_len == 12 && memcmp(r.str, "gotrace.wait", 12) == 0)
				wait_id = r.args[0];
			break;
		case GT_EV_Stack:
			s->stacks++;
			break;
		case GT_EV_Frequency:
			break;
		default:
			cur += r.args[0];
			lo = cur < lo ? cur : lo;
			hi = cur > hi ? cur : hi;
			s->events++;
			if (r.type == GT_EV_GoCreate)
				s->goroutines++;
			if (r.type == GT_EV_UserLog && wait_id && r.nargs >= 3 && r.args[2] == wait_id)
				s->waits++;
		}
	}
	*end = off;
	s->duration_ns = hi > lo ? hi - lo : 0;
}

int gt_summary_read(const char *path, struct gt_summary *s, char *err, size_t errlen)
{
	struct stat st;
	size_t end = 0;

	memset(s, 0, sizeof(*s));
	int fd = gt_open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		gt_fmt(err, errlen, "open %s: %s", path, strerror(errno));
		if (fd >= 0)
			gt_close(fd);
		return -1;
	}
	s->bytes = (uint64_t)st.st_size;
	if (st.st_size < GT_TRACE_HEADER_LEN) {
		gt_close(fd);
		gt_fmt(err, errlen, "%s: not a Go 1.19 trace (%llu bytes)", path,
		       (unsigned long long)s->bytes);
		return -1;
	}
	const uint8_t *b = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	gt_close(fd);
	if (b == MAP_FAILED) {
		gt_fmt(err, errlen, "read %s: %s", path, strerror(errno));
		return -1;
	}
	int r = 0;
	if (memcmp(b, GT_TRACE_HEADER, GT_TRACE_HEADER_LEN) != 0) {
		gt_fmt(err, errlen, "%s: not a Go 1.19 trace", path);
		r = -1;
	} else {
		scan(b, (size_t)st.st_size, s, &end);
		s->complete = end == (size_t)st.st_size;
		if (!s->complete) {
			gt_fmt(err, errlen, "%s: truncated at offset %zu", path, end);
			r = -1;
		}
	}
	munmap((void *)b, (size_t)st.st_size);
	return r;
}
