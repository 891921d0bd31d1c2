/* check_clock.c - gt_clock_fast, the TSC's time, agrees with the clock:
 * once the service thread has looked twice (10 ms apart), a fast read
 * lies between the clock reads around it, give or take 20 us, and on one
 * thread it keeps going forward between the looks. Where the kernel does
 * not keep time by the TSC, it is the clock itself. Several threads read
 * while the looks move the anchor (the sequence count). */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/base/clock.h"
#include "tests/unit/check_main.h"

/* ns; TSan's clock_gettime is slow enough to blur the anchor itself */
#if defined(__SANITIZE_THREAD__)
#define SLACK 200000ull
#else
#define SLACK 20000ull
#endif

static void sleep_ms(long ms)
{
	struct timespec ts = { 0, ms * 1000000 };
	nanosleep(&ts, NULL);
}

static int tsc_clocksource(void)
{
	char buf[32] = "";
	FILE *f = fopen("/sys/devices/system/clocksource/clocksource0/current_clocksource", "r");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	return strcmp(buf, "tsc\n") == 0;
}

/* The rate takes two looks 10 ms apart; until then the service loop asks
 * when to look again (gt_clock_rate_due_ms), never 0 (it would spin). */
static void calibrate(void)
{
	gt_clock_prepare();
	ck_assert_int_eq(gt_clock_rate_due_ms(), -1);   /* no first look yet */
	gt_clock_tick();
	int due = gt_clock_rate_due_ms();
	if (!tsc_clocksource()) {
		ck_assert_int_eq(due, -1);
		sleep_ms(20);
		gt_clock_tick();
		return;
	}
	ck_assert_msg(due >= 1 && due <= 10, "first rate due in %d ms", due);
	sleep_ms(20);
	ck_assert_int_eq(gt_clock_rate_due_ms(), 1);   /* due: at once, but not 0 */
	gt_clock_tick();
	ck_assert_int_eq(gt_clock_rate_due_ms(), -1);   /* known */
}

START_TEST(agrees)
{
	calibrate();
#if defined(__x86_64__)
	ck_assert_int_eq(gt_clock_anchor.mult != 0, tsc_clocksource());
#else
	ck_assert_uint_eq(gt_clock_anchor.mult, 0);
#endif
	uint64_t last = 0;
	for (int i = 0; i < 100000; i++) {
		uint64_t a = gt_clock_now(), f = gt_clock_fast(), b = gt_clock_now();
		ck_assert_msg(f + SLACK >= a && f <= b + SLACK,
			      "fast %llu outside [%llu, %llu] (+-%llu)", (unsigned long long)f,
			      (unsigned long long)a, (unsigned long long)b, SLACK);
		ck_assert_uint_ge(f, last);
		last = f;
	}
	/* Durations: a 5 ms sleep reads 5 ms, give or take the slack. */
	uint64_t f0 = gt_clock_fast(), c0 = gt_clock_now();
	sleep_ms(5);
	uint64_t f1 = gt_clock_fast(), c1 = gt_clock_now();
	int64_t diff = (int64_t)(f1 - f0) - (int64_t)(c1 - c0);
	ck_assert_msg(diff < (int64_t)SLACK && diff > -(int64_t)SLACK, "duration off by %lld ns",
		      (long long)diff);
	/* Raw starts (a hook's) in ns: one at a time or a call's two ends by
	 * one look, the same times, inside the clock's around them; a time
	 * already in ns passes through. */
	uint64_t r0, r1, c2 = gt_clock_now();
	if (!gt_clock_try_raw(&r0))
		return;   /* no usable TSC: nothing raw (checked above) */
	sleep_ms(2);
	ck_assert(gt_clock_try_raw(&r1));
	uint64_t c3 = gt_clock_now(), p0 = r0, p1 = r1;
	gt_clock_ns_of2(&p0, &p1);
	ck_assert_uint_eq(p0, gt_clock_ns_of(r0));
	ck_assert_uint_eq(p1, gt_clock_ns_of(r1));
	ck_assert_msg(p0 + SLACK >= c2 && p1 <= c3 + SLACK && p1 >= p0 + 2000000 - SLACK,
		      "%llu..%llu not in %llu..%llu", (unsigned long long)p0,
		      (unsigned long long)p1, (unsigned long long)c2, (unsigned long long)c3);
	uint64_t q0 = 12345, q1 = p1;
	gt_clock_ns_of2(&q0, &q1);
	ck_assert(q0 == 12345 && q1 == p1);
}
END_TEST

static int stop;

static void *reader(void *arg)
{
	uint64_t worst = 0;

	while (!__atomic_load_n(&stop, __ATOMIC_RELAXED)) {
		uint64_t a = gt_clock_now(), f = gt_clock_fast(), b = gt_clock_now();
		uint64_t off = f + SLACK < a ? a - f : f > b + SLACK ? f - b : 0;
		if (off > worst)
			worst = off;
	}
	*(uint64_t *)arg = worst;
	return NULL;
}

START_TEST(anchor_moves_under_readers)
{
	pthread_t th[3];
	uint64_t worst[3];

	calibrate();
	for (int i = 0; i < 3; i++)
		pthread_create(&th[i], NULL, reader, &worst[i]);
	for (int i = 0; i < 2000; i++) {
		gt_clock_tick();
		struct timespec ts = { 0, 100000 };
		nanosleep(&ts, NULL);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		ck_assert_msg(worst[i] == 0, "a read off by %llu ns", (unsigned long long)worst[i]);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("clock");
	TCase *tc = tcase_create("clock");
	tcase_add_test(tc, agrees);
	tcase_add_test(tc, anchor_moves_under_readers);
	suite_add_tcase(s, tc);
	return gt_check_run(s);
}
