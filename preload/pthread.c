/* preload/pthread.c - thread creation. The new thread starts in core's
 * trampoline, which registers it and calls the real start routine; its exit
 * (return, pthread_exit, cancellation) is seen by a pthread key destructor. */
#include <pthread.h>

#include "core/gotrace.h"
#include "preload/real.h"

GT_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr,
			     void *(*fn)(void *), void *arg)
{
	int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *) =
		GT_REAL(pthread_create);
	struct gt_thread *rec = gt_thread_prepare(fn, arg, (uintptr_t)real);

	if (!rec)
		return real(th, attr, fn, arg);
	int r = real(th, attr, gt_thread_start, rec);
	if (r)
		gt_thread_abort(rec);
	return r;
}
