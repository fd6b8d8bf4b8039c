/* Unit tests for mbframe.c: requests as on the wire, every reply check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "modbus2mail/mbframe.h"

static const struct mbframe_req rq3 = { 0x1234, 1, 3, 10, 2 };

/* A reply to rq3 carrying 0x0001 0x00FF. */
static size_t
good3(uint8_t *b)
{
	static const uint8_t r[] = { 0x12, 0x34, 0, 0, 0, 7, 1, 3, 4,
	    0x00, 0x01, 0x00, 0xFF };

	memcpy(b, r, sizeof(r));
	return sizeof(r);
}

static enum mbframe_result
check(const struct mbframe_req *rq, const uint8_t *b, size_t n, char *why)
{
	return mbframe_check(rq, b, n, why, 128);
}

static void
test_build(void **state)
{
	static const uint8_t want3[] = { 0x12, 0x34, 0, 0, 0, 6, 1, 3, 0, 10,
	    0, 2 };
	static const uint8_t want5[] = { 0, 7, 0, 0, 0, 6, 9, 5, 0x01, 0x00,
	    0xFF, 0x00 };
	struct mbframe_req w = { 7, 9, MBFRAME_FC_WRITE_COIL, 256, 1 };
	uint8_t b[MBFRAME_REQ_LEN];

	(void)state;
	mbframe_build(&rq3, b);
	assert_memory_equal(b, want3, sizeof(b));
	mbframe_build(&w, b);
	assert_memory_equal(b, want5, sizeof(b));
}

static void
test_good_replies(void **state)
{
	uint8_t b[64], bits[10];
	uint16_t regs[2];
	char why[128];
	struct mbframe_req c = { 1, 1, 1, 0, 10 }, w = { 2, 1, 5, 3, 0 };
	static const uint8_t rc[] = { 0, 1, 0, 0, 0, 5, 1, 1, 2, 0x05, 0x02 };
	static const uint8_t rw[] = { 0, 2, 0, 0, 0, 6, 1, 5, 0, 3, 0, 0 };

	(void)state;
	assert_int_equal(check(&rq3, b, good3(b), why), MBFRAME_OK);
	mbframe_regs(b, 2, regs);
	assert_int_equal(regs[0], 1);
	assert_int_equal(regs[1], 0xFF);
	assert_int_equal(check(&c, rc, sizeof(rc), why), MBFRAME_OK);
	mbframe_bits(rc, 10, bits);
	assert_int_equal(bits[0], 1);
	assert_int_equal(bits[1], 0);
	assert_int_equal(bits[2], 1);
	assert_int_equal(bits[9], 1);
	assert_int_equal(bits[8], 0);
	assert_int_equal(check(&w, rw, sizeof(rw), why), MBFRAME_OK);
}

static void
test_exceptions_named(void **state)
{
	uint8_t b[] = { 0x12, 0x34, 0, 0, 0, 3, 1, 0x83, 0x0B };
	char why[128];

	(void)state;
	assert_int_equal(check(&rq3, b, sizeof(b), why), MBFRAME_EXCEPTION);
	assert_string_equal(why,
	    "exception 0x0B (gateway target failed to respond)");
	b[8] = 0x02;
	check(&rq3, b, sizeof(b), why);
	assert_string_equal(why, "exception 0x02 (illegal data address)");
	/* no "Unknown error 112345678" for codes libmodbus does not know */
	b[8] = 0x00;
	check(&rq3, b, sizeof(b), why);
	assert_string_equal(why, "exception 0x00");
	b[8] = 0x0C;
	check(&rq3, b, sizeof(b), why);
	assert_string_equal(why, "exception 0x0C");
	mbframe_exception_text(0x09, why, sizeof(why));
	assert_string_equal(why, "exception 0x09");
	mbframe_exception_text(0xFF, why, sizeof(why));
	assert_string_equal(why, "exception 0xFF");
	mbframe_exception_text(0x04, why, sizeof(why));
	assert_string_equal(why, "exception 0x04 (server device failure)");
}

static void
test_unit_id(void **state)
{
	struct mbframe_req any = rq3;
	uint8_t b[64];
	char why[128];
	size_t n = good3(b);

	(void)state;
	b[6] = 7;
	assert_int_equal(check(&rq3, b, n, why), MBFRAME_BAD_UNIT);
	assert_string_equal(why, "reply from unit 7, expected 1");
	/* unit_id 0/255: gateways answer with the unit behind them */
	any.unit = 255;
	assert_int_equal(check(&any, b, n, why), MBFRAME_OK);
	any.unit = 0;
	assert_int_equal(check(&any, b, n, why), MBFRAME_OK);
}

/* good3() with byte at set to val, cut short by cut bytes. */
static const struct {
	size_t at;
	uint8_t val;
	size_t cut;
	const char *why;	/* NULL: any text */
} bad[] = {
	{ 1, 0x35, 0, "transaction id 0x1235, expected 0x1234" },
	/* libmodbus 3.1.6 lets 0x0001 and 0x0100 through */
	{ 3, 1, 0, "protocol id 0x0001" },
	{ 2, 1, 0, "protocol id 0x0100" },
	{ 5, 9, 0, "MBAP length 9 for a 6-byte PDU" },
	{ 5, 5, 0, NULL },
	{ 7, 4, 0, "function 0x04 in reply to 0x03" },
	{ 8, 3, 0, "byte count 3, expected 4" },
	/* MBAP length and byte count agree, but not with the request */
	{ 5, 5, 2, NULL },
	{ 0, 0x12, 5, "8-byte reply" },
};

static void
test_bad_frames(void **state)
{
	uint8_t b[64];
	char why[128];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n = good3(b) - bad[i].cut;
		b[bad[i].at] = bad[i].val;
		if (bad[i].cut == 2)
			b[8] = 2;
		assert_int_equal(check(&rq3, b, n, why), MBFRAME_BAD_FRAME);
		if (bad[i].why != NULL)
			assert_string_equal(why, bad[i].why);
	}
	/* a broken frame from another unit is broken, not "another unit" */
	n = good3(b);
	b[6] = 7;
	b[3] = 1;
	assert_int_equal(check(&rq3, b, n, why), MBFRAME_BAD_FRAME);
}

static void
test_write_echo(void **state)
{
	struct mbframe_req w = { 2, 1, 5, 3, 1 };
	uint8_t rw[] = { 0, 2, 0, 0, 0, 6, 1, 5, 0, 3, 0xFF, 0 };
	char why[128];

	(void)state;
	assert_int_equal(check(&w, rw, sizeof(rw), why), MBFRAME_OK);
	rw[10] = 0;
	assert_int_equal(check(&w, rw, sizeof(rw), why), MBFRAME_BAD_FRAME);
	assert_string_equal(why, "write echo differs");
}

/* A late reply (earlier transaction id, sound frame) is skipped, not fatal. */
static void
test_stale_reply(void **state)
{
	uint8_t b[64];
	char why[128];
	size_t n = good3(b);

	(void)state;
	b[1] = 0x33;			/* 0x1233: the request before */
	assert_int_equal(check(&rq3, b, n, why), MBFRAME_STALE);
	assert_string_equal(why, "transaction id 0x1233, expected 0x1234");
	b[0] = 0x11;			/* 0x1133: 257 back, not ours */
	assert_int_equal(check(&rq3, b, n, why), MBFRAME_BAD_FRAME);
	n = good3(b);
	b[1] = 0x33;
	b[5] = 9;			/* old, and broken */
	assert_int_equal(check(&rq3, b, n, why), MBFRAME_BAD_FRAME);
}

/* RTU reply to rq3 (unit 1, fc 3, 2 registers) with its CRC. */
static size_t
rtu3(uint8_t *b)
{
	static const uint8_t r[] = { 1, 3, 4, 0x00, 0x01, 0x00, 0xFF };
	uint16_t crc = mbframe_crc16(r, sizeof(r));

	memcpy(b, r, sizeof(r));
	b[sizeof(r)] = (uint8_t)crc;
	b[sizeof(r) + 1] = (uint8_t)(crc >> 8);
	return sizeof(r) + 2;
}

static void
test_rtu(void **state)
{
	/* the spec's example (Modbus over serial line, 6.2.2): 02 07 -> 41 12 */
	static const uint8_t ex[] = { 0x02, 0x07 };
	/* read holding 0x006B x3 from unit 0x11: CRC 0x8776 (76 87 on wire) */
	static const uint8_t rq[] = { 0x11, 0x03, 0x00, 0x6B, 0x00, 0x03 };
	uint8_t b[64], exc[5] = { 1, 0x83, 2, 0, 0 };
	uint16_t regs[2], crc;
	char why[128];
	size_t n;

	(void)state;
	assert_int_equal(mbframe_crc16(ex, 2), 0x1241);
	assert_int_equal(mbframe_crc16(rq, 6), 0x8776);

	n = rtu3(b);
	assert_int_equal(mbframe_rtu_want(&rq3, b, 0), 9);
	assert_int_equal(mbframe_rtu_want(&rq3, b, n), 9);
	assert_int_equal(mbframe_check_rtu(&rq3, b, n, why, sizeof(why)),
	    MBFRAME_OK);
	mbframe_rtu_to_tcp(&rq3, b, n, b);
	assert_int_equal(check(&rq3, b, n + 4, why), MBFRAME_OK);
	mbframe_regs(b, 2, regs);
	assert_int_equal(regs[1], 0xFF);

	n = rtu3(b);
	assert_int_equal(mbframe_check_rtu(&rq3, b, n - 1, why, sizeof(why)),
	    MBFRAME_SHORT);
	assert_string_equal(why, "short frame: 8 of 9 bytes");
	b[4] ^= 0x10;			/* one bit flipped on the line */
	assert_int_equal(mbframe_check_rtu(&rq3, b, n, why, sizeof(why)),
	    MBFRAME_BAD_CRC);
	assert_string_equal(why, "CRC error");
	b[2] ^= 0x01;			/* a byte count hit: still the CRC */
	assert_int_equal(mbframe_check_rtu(&rq3, b, n, why, sizeof(why)),
	    MBFRAME_BAD_CRC);

	n = rtu3(b);
	b[0] = 7;
	crc = mbframe_crc16(b, n - 2);
	b[n - 2] = (uint8_t)crc;
	b[n - 1] = (uint8_t)(crc >> 8);
	assert_int_equal(mbframe_check_rtu(&rq3, b, n, why, sizeof(why)),
	    MBFRAME_BAD_UNIT);
	assert_string_equal(why, "reply from unit 7, expected 1");

	crc = mbframe_crc16(exc, 3);
	exc[3] = (uint8_t)crc;
	exc[4] = (uint8_t)(crc >> 8);
	assert_int_equal(mbframe_rtu_want(&rq3, exc, 2), 5);
	assert_int_equal(mbframe_check_rtu(&rq3, exc, 5, why, sizeof(why)),
	    MBFRAME_EXCEPTION);
	assert_string_equal(why, "exception 0x02 (illegal data address)");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_good_replies),
		cmocka_unit_test(test_exceptions_named),
		cmocka_unit_test(test_unit_id),
		cmocka_unit_test(test_bad_frames),
		cmocka_unit_test(test_write_echo),
		cmocka_unit_test(test_stale_reply),
		cmocka_unit_test(test_rtu),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
