/* Unit tests for value.c: known byte patterns in all four orders. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "modbus2mail/value.h"

static double
dec(enum config_vtype t, enum config_order o, uint16_t r0, uint16_t r1)
{
	uint16_t regs[2] = { r0, r1 };
	double raw = -12345, v;

	v = value_decode(t, o, regs, &raw);
	if (!isnan(v))
		assert_true(v == raw);
	return v;
}

static void
test_16bit(void **state)
{
	(void)state;
	assert_true(value_nregs(VTYPE_UINT16) == 1);
	assert_true(value_nregs(VTYPE_INT16) == 1);
	assert_true(dec(VTYPE_UINT16, ORDER_ABCD, 0xffff, 0) == 65535);
	assert_true(dec(VTYPE_INT16, ORDER_ABCD, 0xffff, 0) == -1);
	assert_true(dec(VTYPE_INT16, ORDER_ABCD, 0x8000, 0) == -32768);
	assert_true(dec(VTYPE_INT16, ORDER_ABCD, 0x7fff, 0) == 32767);
	/* order does not apply to one register */
	assert_true(dec(VTYPE_UINT16, ORDER_DCBA, 0x1234, 0) == 0x1234);
}

static void
test_float32_orders(void **state)
{
	(void)state;
	assert_true(value_nregs(VTYPE_FLOAT32) == 2);
	/* 100.0f = 0x42C80000: A=42 B=C8 C=00 D=00 */
	assert_true(dec(VTYPE_FLOAT32, ORDER_ABCD, 0x42C8, 0x0000) == 100.0);
	assert_true(dec(VTYPE_FLOAT32, ORDER_CDAB, 0x0000, 0x42C8) == 100.0);
	assert_true(dec(VTYPE_FLOAT32, ORDER_BADC, 0xC842, 0x0000) == 100.0);
	assert_true(dec(VTYPE_FLOAT32, ORDER_DCBA, 0x0000, 0xC842) == 100.0);
	/* 81.5f = 0x42A30000, -2.5f = 0xC0200000, 1.5f = 0x3FC00000 */
	assert_true(dec(VTYPE_FLOAT32, ORDER_CDAB, 0x0000, 0x42A3) == 81.5);
	assert_true(dec(VTYPE_FLOAT32, ORDER_ABCD, 0xC020, 0x0000) == -2.5);
	/* 0x3FC00001 in all orders: the low bytes matter */
	assert_true(dec(VTYPE_FLOAT32, ORDER_ABCD, 0x3FC0, 0x0001) ==
	    (double)1.50000012f);
	assert_true(dec(VTYPE_FLOAT32, ORDER_CDAB, 0x0001, 0x3FC0) ==
	    (double)1.50000012f);
	assert_true(dec(VTYPE_FLOAT32, ORDER_BADC, 0xC03F, 0x0100) ==
	    (double)1.50000012f);
	assert_true(dec(VTYPE_FLOAT32, ORDER_DCBA, 0x0100, 0xC03F) ==
	    (double)1.50000012f);
	assert_true(isnan(dec(VTYPE_FLOAT32, ORDER_ABCD, 0x7FC0, 0x0000)));
	assert_true(isinf(dec(VTYPE_FLOAT32, ORDER_ABCD, 0xFF80, 0x0000)));
}

static void
test_int32_orders(void **state)
{
	(void)state;
	/* 0x12345678 = 305419896: A=12 B=34 C=56 D=78 */
	assert_true(dec(VTYPE_UINT32, ORDER_ABCD, 0x1234, 0x5678) == 305419896);
	assert_true(dec(VTYPE_UINT32, ORDER_CDAB, 0x5678, 0x1234) == 305419896);
	assert_true(dec(VTYPE_UINT32, ORDER_BADC, 0x3412, 0x7856) == 305419896);
	assert_true(dec(VTYPE_UINT32, ORDER_DCBA, 0x7856, 0x3412) == 305419896);
	assert_true(dec(VTYPE_UINT32, ORDER_ABCD, 0xFFFF, 0xFFFF) ==
	    4294967295.0);
	assert_true(dec(VTYPE_INT32, ORDER_ABCD, 0xFFFF, 0xFFFF) == -1);
	assert_true(dec(VTYPE_INT32, ORDER_CDAB, 0x0000, 0x8000) ==
	    -2147483648.0);
	/* -100000 = 0xFFFE7960 */
	assert_true(dec(VTYPE_INT32, ORDER_CDAB, 0x7960, 0xFFFE) == -100000);
	assert_true(dec(VTYPE_INT32, ORDER_DCBA, 0x6079, 0xFEFF) == -100000);
}

static void
test_scale_bit(void **state)
{
	struct config_rule r;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.scale = 0.1;
	r.offset = -40;
	assert_true(fabs(value_scale(&r, 815) - 41.5) < 1e-9);
	r.scale = 1;
	r.offset = 0;
	assert_true(value_scale(&r, 7) == 7);
	assert_int_equal(value_bit(0x0008, 3), 1);
	assert_int_equal(value_bit(0x0008, 2), 0);
	assert_int_equal(value_bit(0x8000, 15), 1);
	assert_int_equal(value_bit(0xFFFF, 16), 0);
	assert_int_equal(value_bit(0xFFFF, -1), 0);
}

static void
test_format(void **state)
{
	char b[32];

	(void)state;
	value_format(b, sizeof(b), 100.0);
	assert_string_equal(b, "100");
	value_format(b, sizeof(b), 81.5);
	assert_string_equal(b, "81.5");
	value_format(b, sizeof(b), 815 * 0.1);	/* 81.50000000000001 */
	assert_string_equal(b, "81.5");
	value_format(b, sizeof(b), (double)0.3f);
	assert_string_equal(b, "0.3");
	value_format(b, sizeof(b), -3);
	assert_string_equal(b, "-3");
	value_format(b, sizeof(b), -0.0);
	assert_string_equal(b, "0");
	value_format(b, sizeof(b), 4294967295.0);
	assert_string_equal(b, "4294967295");
	value_format(b, sizeof(b), -2147483648.0);
	assert_string_equal(b, "-2147483648");
	value_format(b, sizeof(b), 1234567.5);
	assert_string_equal(b, "1234567.5");
	value_format(b, sizeof(b), (double)0.1f);
	assert_string_equal(b, "0.1");
	value_format(b, sizeof(b), 1e-9);
	assert_string_equal(b, "1e-09");
	value_format(b, sizeof(b), 3.4e38);
	assert_string_equal(b, "3.4e+38");
	value_format(b, sizeof(b), 1.5e300);
	assert_string_equal(b, "1.5e+300");
	value_format(b, sizeof(b), NAN);
	assert_string_equal(b, "NaN");
	value_format(b, sizeof(b), -INFINITY);
	assert_string_equal(b, "-Inf");
	value_format(b, 3, 12345);
	assert_string_equal(b, "12");	/* truncated, terminated */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_16bit),
		cmocka_unit_test(test_float32_orders),
		cmocka_unit_test(test_int32_orders),
		cmocka_unit_test(test_scale_bit),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
