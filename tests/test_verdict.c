/*
 * Unit tests for verdict.c: every stage against no reply, 2xx, 3xx, 4xx
 * and 5xx, as the relay meets them with real providers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "modbus2mail/verdict.h"

static void
test_table(void **state)
{
	static const struct {
		enum verdict_stage stage;
		int code;
		enum verdict want;
	} t[] = {
		/* No connection, refused greeting, TLS: the path. */
		{ VERDICT_CONNECT, 0, VERDICT_PATH_BROKEN },
		{ VERDICT_CONNECT, 220, VERDICT_OK },
		{ VERDICT_CONNECT, 421, VERDICT_PATH_BROKEN },
		{ VERDICT_CONNECT, 554, VERDICT_PATH_BROKEN },
		{ VERDICT_EHLO, 0, VERDICT_PATH_BROKEN },
		{ VERDICT_EHLO, 250, VERDICT_OK },
		{ VERDICT_EHLO, 421, VERDICT_PATH_BROKEN },
		{ VERDICT_EHLO, 500, VERDICT_PATH_BROKEN },
		{ VERDICT_EHLO, 554, VERDICT_PATH_BROKEN },
		{ VERDICT_STARTTLS, 0, VERDICT_PATH_BROKEN },
		{ VERDICT_STARTTLS, 220, VERDICT_OK },
		{ VERDICT_STARTTLS, 454, VERDICT_PATH_BROKEN },
		{ VERDICT_STARTTLS, 502, VERDICT_PATH_BROKEN },
		/* AUTH: wrong or expired password is never the message's. */
		{ VERDICT_AUTH, 0, VERDICT_PATH_BROKEN },
		{ VERDICT_AUTH, 235, VERDICT_OK },
		{ VERDICT_AUTH, 334, VERDICT_OK },
		{ VERDICT_AUTH, 454, VERDICT_PATH_BROKEN },
		{ VERDICT_AUTH, 534, VERDICT_PATH_BROKEN },
		{ VERDICT_AUTH, 535, VERDICT_PATH_BROKEN },
		{ VERDICT_AUTH, 530, VERDICT_PATH_BROKEN },
		/* MAIL FROM: 4xx this message later, 5xx refuses the sender. */
		{ VERDICT_MAIL, 0, VERDICT_PATH_BROKEN },
		{ VERDICT_MAIL, 250, VERDICT_OK },
		{ VERDICT_MAIL, 451, VERDICT_RETRY },
		{ VERDICT_MAIL, 452, VERDICT_RETRY },
		{ VERDICT_MAIL, 550, VERDICT_PATH_BROKEN },
		{ VERDICT_MAIL, 553, VERDICT_PATH_BROKEN },
		/* RCPT: that recipient only. */
		{ VERDICT_RCPT, 0, VERDICT_RETRY },
		{ VERDICT_RCPT, 250, VERDICT_OK },
		{ VERDICT_RCPT, 251, VERDICT_OK },
		{ VERDICT_RCPT, 450, VERDICT_RETRY },
		{ VERDICT_RCPT, 451, VERDICT_RETRY },
		{ VERDICT_RCPT, 550, VERDICT_FAIL_RCPT },
		{ VERDICT_RCPT, 553, VERDICT_FAIL_RCPT },
		/* DATA and its end: the message. */
		{ VERDICT_DATA, 0, VERDICT_RETRY },
		{ VERDICT_DATA, 354, VERDICT_OK },
		{ VERDICT_DATA, 250, VERDICT_OK },
		{ VERDICT_DATA, 451, VERDICT_RETRY },
		{ VERDICT_DATA, 452, VERDICT_RETRY },
		{ VERDICT_DATA, 552, VERDICT_FAIL_MSG },
		{ VERDICT_DATA, 554, VERDICT_FAIL_MSG },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum verdict got = verdict_classify(t[i].stage, t[i].code);

		if (got != t[i].want)
			fail_msg("stage %d code %d: %s, want %s", t[i].stage,
			    t[i].code, verdict_name(got),
			    verdict_name(t[i].want));
	}
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(verdict_name(VERDICT_PATH_BROKEN), "PATH_BROKEN");
	assert_string_equal(verdict_name(VERDICT_FAIL_RCPT), "FAIL_RCPT");
	assert_string_equal(verdict_name((enum verdict)42), "?");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
