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

/* s (n bytes) in double quotes as Go's %q writes a string: \" and \\,
 * \n \t and the other C escapes, \xNN for any other control byte and
 * for bytes that are not whole UTF-8 (a name the kernel cut at 15 bytes).
 * Into buf (NUL-terminated, cut at a whole escape); returns the length. */
size_t gt_quote(char *buf, size_t size, const char *s, size_t n);

#endif
