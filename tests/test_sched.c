/*
 * Unit tests for sched.c: which unit of a bus goes next (tables), the
 * backoff of a unit that does not answer, a simulated bus where one dead
 * unit neither slows the others nor delays its own link alarm, and the
 * RTU inter-frame silence.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "modbus2mail/sched.h"

#define N SCHED_NEVER

static void
test_pick_table(void **state)
{
	static const struct {
		const char *name;
		struct sched_unit u[3];
		size_t n;
		uint64_t now;
		enum sched_what what;
		size_t unit;
		uint64_t sleep;
	} t[] = {
		{ "nothing due: sleep to the earliest",
		    { { 1500, N, 1000, 10000, 0 }, { 1200, N, 1000, 10000, 0 } },
		    2, 1000, SCHED_SLEEP, 1, 200 },
		{ "earliest due first",
		    { { 900, N, 1000, 10000, 0 }, { 800, N, 1000, 10000, 0 },
		      { 950, N, 1000, 10000, 0 } },
		    3, 1000, SCHED_POLL, 1, 0 },
		{ "due now",
		    { { 1000, N, 1000, 10000, 0 } }, 1, 1000, SCHED_POLL, 0, 0 },
		{ "same due: the first",
		    { { 700, N, 1000, 10000, 0 }, { 700, N, 1000, 10000, 0 } },
		    2, 1000, SCHED_POLL, 0, 0 },
		{ "a healthy unit's timer reads it early",
		    { { 2000, 1300, 1000, 10000, 0 }, { 1600, N, 1000, 10000, 0 } },
		    2, 1000, SCHED_SLEEP, 0, 300 },
		{ "... and is due at the timer",
		    { { 2000, 1300, 1000, 10000, 0 }, { 1600, N, 1000, 10000, 0 } },
		    2, 1300, SCHED_POLL, 0, 0 },
		{ "a backed-off unit's timer only ticks",
		    { { 9000, 5000, 1000, 10000, 8000 }, { 5500, N, 1000, 10000, 0 } },
		    2, 5000, SCHED_TICK, 0, 0 },
		{ "tick before a poll at the same time",
		    { { 5000, N, 1000, 10000, 0 }, { 9000, 5000, 1000, 10000, 4000 } },
		    2, 5000, SCHED_TICK, 1, 0 },
		{ "a timer after the due poll waits for the poll",
		    { { 3000, 4000, 1000, 10000, 2000 } }, 1, 2500, SCHED_SLEEP, 0, 500 },
		{ "backed-off unit due: polled",
		    { { 3000, 4000, 1000, 10000, 2000 } }, 1, 3000, SCHED_POLL, 0, 0 },
		{ "overloaded bus: the longest waiting",
		    { { 100, N, 1000, 10000, 0 }, { 50, N, 1000, 10000, 0 },
		      { 75, N, 1000, 10000, 0 } },
		    3, 5000, SCHED_POLL, 1, 0 },
	};
	struct sched_next nx;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		sched_pick(t[i].u, t[i].n, t[i].now, &nx);
		if (nx.what != t[i].what || nx.unit != t[i].unit ||
		    nx.sleep_ms != t[i].sleep)
			fail_msg("%s: what %d unit %zu sleep %llu, want %d %zu "
			    "%llu", t[i].name, nx.what, nx.unit,
			    (unsigned long long)nx.sleep_ms, t[i].what,
			    t[i].unit, (unsigned long long)t[i].sleep);
	}
}

static void
test_backoff(void **state)
{
	static const uint64_t doubling[] = { 1000, 2000, 4000, 8000, 10000,
		10000 };
	static const uint64_t short_cap[] = { 1000, 2000, 3000, 3000 };
	struct sched_unit u = { 0, N, 1000, 0, 0 };
	uint64_t now = 50000;
	size_t i;

	(void)state;
	u.cap = sched_cap(1, 10000);
	for (i = 0; i < sizeof(doubling) / sizeof(doubling[0]); i++) {
		sched_polled(&u, now - 1000, now, 0);
		assert_int_equal(u.backoff, doubling[i]);
		assert_int_equal(u.due, now + doubling[i]);
	}
	/* an answer ends it; the rate goes on from the due time */
	u.due = now - 30;
	sched_polled(&u, now - 30, now, 1);
	assert_int_equal(u.backoff, 0);
	assert_int_equal(u.due, now - 30 + 1000);
	/* started 400 ms late: the next one 600 ms after this start */
	sched_polled(&u, now + 1370, now + 1400, 1);
	assert_int_equal(u.due, now + 1970);
	/* 3 s late: one catch-up poll at once, not three */
	sched_polled(&u, now + 5000, now + 5040, 1);
	assert_int_equal(u.due, now + 5000);
	/* early, for a timer: the interval from this start */
	sched_polled(&u, now + 4500, now + 4540, 1);
	assert_int_equal(u.due, now + 5500);

	u.cap = sched_cap(1, 3000);
	for (i = 0; i < sizeof(short_cap) / sizeof(short_cap[0]); i++) {
		sched_polled(&u, now, now, 0);
		assert_int_equal(u.backoff, short_cap[i]);
	}
	assert_int_equal(sched_cap(0, 3000), SCHED_BACKOFF_MAX_MS);
	assert_int_equal(sched_cap(1, 60000), SCHED_BACKOFF_MAX_MS);
	/* a poll interval above the cap waits no longer than the cap */
	u.interval = 20000;
	u.backoff = 0;
	u.cap = sched_cap(1, 10000);
	sched_polled(&u, now, now, 0);
	assert_int_equal(u.backoff, 10000);
}

static void
test_timer(void **state)
{
	struct sched_unit u = { 0, 0, 1000, 10000, 0 };

	(void)state;
	sched_timer(&u, 1500, 1000);
	assert_int_equal(u.timer, 1500);
	sched_timer(&u, 1000, 1000);	/* passed: the engine had its turn */
	assert_int_equal(u.timer, N);
	sched_timer(&u, N, 1000);
	assert_int_equal(u.timer, N);
}

/*
 * Three units, 1 s poll interval; a good poll takes 40 ms, unit 1 is dead
 * from 10 s on (each poll times out after 1 s). Over 2 minutes the others
 * keep their rate, and unit 1's link alarm (15 s after its first failed
 * poll, while it is backed off for 8 s) gets its turn, a tick, no later
 * than the one request in progress allows.
 */
static void
test_dead_unit_on_shared_bus(void **state)
{
	struct sched_unit u[3];
	struct sched_next nx;
	uint64_t now = 0, start, fail_since = 0, alarm_at = 0, fired = 0;
	unsigned polls[3] = { 0, 0, 0 }, ticks = 0;
	size_t i;

	(void)state;
	for (i = 0; i < 3; i++) {
		u[i].due = 0;
		u[i].timer = N;
		u[i].interval = 1000;
		u[i].cap = sched_cap(1, 15000);
		u[i].backoff = 0;
	}
	while (now < 130000) {
		sched_pick(u, 3, now, &nx);
		if (nx.what == SCHED_SLEEP) {
			now += nx.sleep_ms;
			continue;
		}
		i = nx.unit;
		if (nx.what == SCHED_TICK || (i == 1 && now >= 10000)) {
			if (i == 1 && nx.what == SCHED_TICK)
				ticks++;
			if (i == 1 && alarm_at != 0 && fired == 0 &&
			    now >= alarm_at)
				fired = now;
		}
		if (nx.what == SCHED_TICK) {
			sched_timer(&u[i], N, now);
			continue;
		}
		start = now;
		if (i == 1 && now >= 10000) {
			now += 1000;
			if (fail_since == 0) {
				fail_since = start;
				alarm_at = start + 15000;
			}
			sched_polled(&u[i], start, now, 0);
			sched_timer(&u[i], fired ? N : alarm_at, now);
		} else {
			now += 40;
			if (now >= 10000)
				polls[i]++;
			sched_polled(&u[i], start, now, 1);
		}
	}
	/* 120 s at 1/s each: unit 1's timeouts delay polls, lose none */
	assert_in_range(polls[0], 119, 121);
	assert_in_range(polls[2], 119, 121);
	assert_true(fired >= alarm_at);
	assert_true(fired <= alarm_at + 1000);
	assert_true(ticks >= 1);
}

static void
test_silence(void **state)
{
	static const struct {
		unsigned baud, bits;
		uint64_t us;
	} t[] = {
		{ 1200, 11, 32084 },
		{ 9600, 11, 4011 },
		{ 9600, 10, 3646 },
		{ 19200, 11, 2006 },
		{ 19200, 10, 1823 },
		{ 38400, 11, 1750 },
		{ 115200, 10, 1750 },
		{ 230400, 11, 1750 },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (sched_silence_us(t[i].baud, t[i].bits) != t[i].us)
			fail_msg("%u baud %u bits: %llu µs, want %llu",
			    t[i].baud, t[i].bits, (unsigned long long)
			    sched_silence_us(t[i].baud, t[i].bits),
			    (unsigned long long)t[i].us);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pick_table),
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_timer),
		cmocka_unit_test(test_dead_unit_on_shared_bus),
		cmocka_unit_test(test_silence),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
