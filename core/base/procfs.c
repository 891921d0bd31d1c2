/* core/base/procfs.c - our own /proc files, with raw system calls only:
 * the doorman's kick runs this on the main thread's TLS (GT_RAW). */
#include "core/base/procfs.h"

#include <fcntl.h>

#include "core/base/sys.h"
#include "core/base/tls.h"

GT_RAW long gt_raw_read_file(const char *path, char *buf, long size)
{
	long fd = gt_raw6(SYS_openat, AT_FDCWD, (long)path, O_RDONLY | O_CLOEXEC, 0, 0, 0);
	if (fd < 0)
		return -1;
	long r = gt_raw6(SYS_read, fd, (long)buf, size - 1, 0, 0, 0);
	gt_raw6(SYS_close, fd, 0, 0, 0, 0, 0);
	if (r < 0)
		return -1;
	buf[r] = 0;
	return r;
}

GT_RAW const char *gt_scan_hex(const char *s, uint64_t *v)
{
	*v = 0;
	while (*s == ' ')
		s++;
	if (s[0] == '0' && s[1] == 'x')
		s += 2;
	for (;; s++) {
		unsigned c = (unsigned char)*s, x;
		if (c >= '0' && c <= '9')
			x = c - '0';
		else if (c >= 'a' && c <= 'f')
			x = c - 'a' + 10;
		else
			return s;
		*v = *v << 4 | x;
	}
}

/* "NR a0 .. a5 sp pc"; "running", or "-1 sp pc" when in no call. */
GT_RAW int gt_proc_syscall(const char *path, char *b, long size, uint64_t *nr, uint64_t a[8])
{
	const char *s = b;

	if (gt_raw_read_file(path, b, size) <= 0 || *s < '0' || *s > '9')
		return 0;
	for (*nr = 0; *s >= '0' && *s <= '9'; s++)
		*nr = *nr * 10 + (uint64_t)(*s - '0');
	for (int i = 0; i < 8; i++) {
		const char *e = gt_scan_hex(s, &a[i]);
		if (e == s)
			return 0;
		s = e;
	}
	return 1;
}
