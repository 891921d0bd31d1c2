/* preload/pthread.c - thread creation. The new thread starts in core's
 * trampoline, which registers it and calls the real start routine; its exit
 * (return, pthread_exit, cancellation) is seen by a pthread key destructor. */
#include <pthread.h>
#include <stdarg.h>
#include <sys/prctl.h>

#include "preload/hook.h"

GT_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr,
			     void *(*fn)(void *), void *arg)
{
	int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *) =
		GT_REAL(pthread_create);
	struct gt_thread *rec = gt_thread_prepare(fn, arg, (uintptr_t)real);
	int r;

	gt_solo_end();
	if (!rec) {
		r = real(th, attr, fn, arg);
	} else {
		r = real(th, attr, gt_thread_start, rec);
		if (r)
			gt_thread_abort(rec);
	}
	if (!r)
		gt_service_needed();
	return r;
}

/* Thread names label the thread in the trace (and log where it was set). */
GT_EXPORT int pthread_setname_np(pthread_t th, const char *name)
{
	int (*real)(pthread_t, const char *) = GT_REAL(pthread_setname_np);
	int r = real(th, name);

	if (r == 0)
		gt_thread_set_name((uintptr_t)th, name, (uintptr_t)real);
	return r;
}

/* prctl's arguments after the option are unsigned longs (as libc reads
 * them); only PR_SET_NAME concerns us. */
GT_EXPORT int prctl(int op, ...)
{
	va_list ap;
	unsigned long a[4];

	va_start(ap, op);
	for (int i = 0; i < 4; i++)
		a[i] = va_arg(ap, unsigned long);
	va_end(ap);
	int (*real)(int, ...) = GT_REAL(prctl);
	if (op == PR_SET_SECCOMP)
		gt_service_needed();
	int r = real(op, a[0], a[1], a[2], a[3]);
	if (r == 0 && op == PR_SET_NAME)
		gt_thread_set_name((uintptr_t)pthread_self(), (const char *)a[0], (uintptr_t)real);
	return r;
}
