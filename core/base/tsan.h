/* core/base/tsan.h - tell ThreadSanitizer about the orderings liburcu provides:
 * the library is not instrumented, so publishing a node through cds_lfht or
 * wfcqueue looks like a race to TSan. No-ops in normal builds. */
#ifndef GT_TSAN_H
#define GT_TSAN_H

#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
#define GT_TSAN_RELEASE(p) __tsan_release((void *)(p))
#define GT_TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#else
#define GT_TSAN_RELEASE(p) ((void)(p))
#define GT_TSAN_ACQUIRE(p) ((void)(p))
#endif

#endif
