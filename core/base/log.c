/* core/base/log.c - minimal formatter for "gotrace:" messages and RPC errors.
 * Async-signal-safe; no stdio, no malloc; errno preserved. */
#include "core/base/log.h"
#include "core/base/real.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

struct out {
	char *p;
	size_t n, cap;
};

static void put(struct out *o, char c)
{
	if (o->n + 1 < o->cap)
		o->p[o->n] = c;
	o->n++;
}

static void puts_(struct out *o, const char *s)
{
	while (*s)
		put(o, *s++);
}

static void putu(struct out *o, unsigned long long v, unsigned base)
{
	char tmp[24];
	int i = 0;

	do {
		tmp[i++] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	while (i)
		put(o, tmp[--i]);
}

static size_t vfmt(char *buf, size_t size, const char *fmt, va_list ap)
{
	struct out o = { buf, 0, size };

	for (; *fmt; fmt++) {
		int l = 0, z = 0;

		if (*fmt != '%') {
			put(&o, *fmt);
			continue;
		}
		fmt++;
		while (*fmt == 'l') {
			l++;
			fmt++;
		}
		if (*fmt == 'z') {
			z = 1;
			fmt++;
		}
		switch (*fmt) {
		case 's': {
			const char *s = va_arg(ap, const char *);
			puts_(&o, s ? s : "(null)");
			break;
		}
		case 'd': {
			long long v = l >= 2 ? va_arg(ap, long long) :
				l ? va_arg(ap, long) : z ? (long long)va_arg(ap, ssize_t) :
				va_arg(ap, int);
			if (v < 0) {
				put(&o, '-');
				putu(&o, -(unsigned long long)v, 10);
			} else {
				putu(&o, (unsigned long long)v, 10);
			}
			break;
		}
		case 'u':
		case 'x': {
			unsigned long long v = l >= 2 ? va_arg(ap, unsigned long long) :
				l ? va_arg(ap, unsigned long) : z ? va_arg(ap, size_t) :
				va_arg(ap, unsigned);
			putu(&o, v, *fmt == 'x' ? 16 : 10);
			break;
		}
		case 'p':
			puts_(&o, "0x");
			putu(&o, (uintptr_t)va_arg(ap, void *), 16);
			break;
		case '%':
			put(&o, '%');
			break;
		case '\0':
			fmt--;
			break;
		default:
			put(&o, '%');
			put(&o, *fmt);
		}
	}
	if (size)
		buf[o.n < size ? o.n : size - 1] = '\0';
	return o.n < size ? o.n : (size ? size - 1 : 0);
}

size_t gt_vfmt(char *buf, size_t size, const char *fmt, va_list ap)
{
	return vfmt(buf, size, fmt, ap);
}

size_t gt_fmt(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = vfmt(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

static int log_pidfd = -1;
/* This thread has an fd table of its own: stderr is reached through it. */
static __thread int own_table __attribute__((tls_model("initial-exec")));

void gt_log(const char *fmt, ...)
{
	int saved = errno;
	char buf[512];
	va_list ap;
	size_t n;

	memcpy(buf, "gotrace: ", 9);
	va_start(ap, fmt);
	n = 9 + vfmt(buf + 9, sizeof(buf) - 10, fmt, ap);
	va_end(ap);
	buf[n++] = '\n';
	/* A tracer thread with an fd table of its own writes to the program's
	 * stderr of the moment, fetched through the pidfd. */
	int fd = 2, pidfd = __atomic_load_n(&log_pidfd, __ATOMIC_RELAXED);
	if (own_table && (pidfd < 0 || (fd = (int)gt_syscall(SYS_pidfd_getfd, pidfd, 2, 0)) < 0)) {
		errno = saved;
		return;
	}
	for (size_t off = 0; off < n;) {
		ssize_t w = gt_write(fd, buf + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	if (fd != 2)
		gt_close(fd);
	errno = saved;
}

void gt_log_own_table(int pidfd)
{
	own_table = 1;
	__atomic_store_n(&log_pidfd, pidfd, __ATOMIC_RELAXED);
}

/* The length of the whole UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t k = s[0] >= 0xf0 && s[0] <= 0xf4 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc2 ? 2 : 0;

	if (!k || s[0] >= 0xf8 || k > n)
		return 0;
	for (size_t i = 1; i < k; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return k;
}

size_t gt_quote(char *buf, size_t size, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t o = 0;

	if (size < 3) {
		if (size)
			buf[0] = '\0';
		return 0;
	}
	buf[o++] = '"';
	for (size_t i = 0; i < n;) {
		char e[4];
		size_t k = 1, m = 2;
		const char *c = strchr("\a\b\f\n\r\t\v", u[i]);
		if (u[i] == '"' || u[i] == '\\') {
			e[0] = '\\', e[1] = (char)u[i];
		} else if (u[i] && c) {
			e[0] = '\\', e[1] = "abfnrtv"[c - "\a\b\f\n\r\t\v"];
		} else if (u[i] >= 0x20 && u[i] < 0x7f) {
			e[0] = (char)u[i], m = 1;
		} else if (u[i] >= 0x80 && (k = utf8_len(u + i, n - i))) {
			m = 0;   /* copied as it is */
		} else {
			k = 1, m = 4;
			e[0] = '\\', e[1] = 'x', e[2] = hex[u[i] >> 4], e[3] = hex[u[i] & 15];
		}
		size_t w = m ? m : k;
		if (o + w + 2 > size)
			break;
		memcpy(buf + o, m ? e : (const char *)u + i, w);
		o += w;
		i += k;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return o;
}
