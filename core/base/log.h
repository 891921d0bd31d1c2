/* core/base/log.h - "gotrace: ..." messages on stderr, without stdio or malloc.
 * Async-signal-safe: formats into a stack buffer, one write(2), errno kept. */
#ifndef GT_LOG_H
#define GT_LOG_H

#include <stdarg.h>
#include <stddef.h>

/* printf-like subset: %s %d %u %ld %lu %lld %llu %zu %x %lx %p %%. */
void gt_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The calling thread has an fd table of its own (the service thread, see
 * core/process/loop.c): its messages go to the program's stderr of the moment,
 * fetched through pidfd (this process's, in that table; -1: dropped). */
void gt_log_own_table(int pidfd);

/* Same formatting into buf (always NUL-terminated); returns the length. */
size_t gt_fmt(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
size_t gt_vfmt(char *buf, size_t size, const char *fmt, va_list ap);

#endif
