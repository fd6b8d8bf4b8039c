/*
 * test_log.c - log_vis(): what the network sends cannot forge log lines.
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vis),
		cmocka_unit_test(test_vis_cut),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
