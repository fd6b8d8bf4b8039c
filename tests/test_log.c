/*
 * test_log.c - log_vis(): what the network sends cannot forge log lines;
 * the rate limit of repeated warnings.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "modbus2mail/log.h"

static void
test_vis(void **state)
{
	char buf[64];

	assert_string_equal(log_vis(buf, sizeof(buf), "plc-1.example"),
	    "plc-1.example");
	assert_string_equal(log_vis(buf, sizeof(buf), "a\rb\nc\x1b[2J"),
	    "a\\x0db\\x0ac\\x1b[2J");
	assert_string_equal(log_vis(buf, sizeof(buf), "q\"\\\x7f\xc3\xa9"),
	    "q\\x22\\x5c\\x7f\\xc3\\xa9");
	assert_string_equal(log_vis(buf, sizeof(buf), ""), "");
}

/* Cut at the buffer's end, never inside an escape. */
static void
test_vis_cut(void **state)
{
	char buf[8];

	assert_string_equal(log_vis(buf, sizeof(buf), "abcdefghij"), "abcdefg");
	assert_string_equal(log_vis(buf, sizeof(buf), "abcd\n"), "abcd");
	assert_string_equal(log_vis(buf, sizeof(buf), "abc\n"), "abc\\x0a");
	assert_string_equal(log_vis(buf, 1, "abc"), "");
}

/* The rate limit: first, then once a minute. */
static void
test_limit(void **state)
{
	struct log_limit l;
	unsigned long rep;
	uint64_t t;
	int logged = 0;

	(void)state;
	memset(&l, 0, sizeof(l));
	assert_int_equal(log_limit_pass(&l, "a", 1000, &rep), 1);
	assert_int_equal(rep, 0);
	/* ten per second for a minute: none of them */
	for (t = 1100; t < 61000; t += 100)
		logged += log_limit_pass(&l, "a", t, &rep);
	assert_int_equal(logged, 0);
	/* a minute after the first: once, with the count */
	assert_int_equal(log_limit_pass(&l, "a", 61000, &rep), 1);
	assert_int_equal(rep, 600);
	assert_int_equal(log_limit_pass(&l, "a", 61100, &rep), 0);
	/* another message is news */
	assert_int_equal(log_limit_pass(&l, "b", 61200, &rep), 1);
	assert_int_equal(rep, 0);
	assert_int_equal(log_limit_pass(&l, "a", 61300, &rep), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vis),
		cmocka_unit_test(test_vis_cut),
		cmocka_unit_test(test_limit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
