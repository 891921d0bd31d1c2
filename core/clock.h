/* core/clock.h - trace timestamps: CLOCK_MONOTONIC nanoseconds (vDSO),
 * written with EvFrequency = 1e9. System-wide monotonic, so a time read
 * before an action is published orders it across threads. Signal-safe. */
#ifndef GT_CLOCK_H
#define GT_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t gt_clock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
