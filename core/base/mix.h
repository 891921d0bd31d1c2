/* core/base/mix.h - splitmix64's finalizer: 64 well-mixed bits from any
 * 64 (a counter, a time), for the tracer's sampling decisions. */
#ifndef GT_BASE_MIX_H
#define GT_BASE_MIX_H

#include <stdint.h>

static inline uint64_t gt_mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

#endif
