/*
 * test_firmware.c - cmocka tests of the firmware Modbus/TCP core on the host.
 * Requests and replies are compared byte for byte with hand-written frames
 * (Modbus Application Protocol V1.1b3 §6 examples use the same layout).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "m2mfw.h"

#define NBIG	2000

struct fixture {
	struct m2mfw	 fw;
	uint8_t		 coils[4];	/* 32 coils, 16..31 writable */
	uint8_t		 discrete[2];	/* 16 inputs */
	uint16_t	 holding[16];	/* 0 heartbeat, 8..15 writable */
	uint16_t	 input[8];
	int		 nwrites;
	enum m2mfw_table last_table;
	uint16_t	 last_addr;
	uint16_t	 last_value;
	uint8_t		 resp[M2MFW_ADU_MAX];
};

/* A second set of tables at the protocol maxima. */
static uint8_t	big_coils[NBIG / 8];
static uint16_t	big_regs[125];

static void	on_write(void *, enum m2mfw_table, uint16_t, uint16_t);
static int	fw_setup(void **);
static int	fw_teardown(void **);
static int	ask(struct fixture *, uint8_t, const uint8_t *, size_t);
static void	expect_reply(struct fixture *, const uint8_t *, size_t,
		    const uint8_t *, size_t);
static void	expect_exception(struct fixture *, const uint8_t *, size_t,
		    uint8_t);
static void	use_big_tables(struct fixture *);

static void
on_write(void *arg, enum m2mfw_table t, uint16_t addr, uint16_t value)
{
	struct fixture *f = arg;

	f->nwrites++;
	f->last_table = t;
	f->last_addr = addr;
	f->last_value = value;
}

static int
fw_setup(void **state)
{
	struct fixture		*f;
	struct m2mfw_config	 c;

	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	memset(&c, 0, sizeof(c));
	c.coils = f->coils;
	c.ncoils = 32;
	c.discrete = f->discrete;
	c.ndiscrete = 16;
	c.holding = f->holding;
	c.nholding = 16;
	c.input = f->input;
	c.ninput = 8;
	c.coil_wr_first = 16;
	c.coil_wr_count = 16;
	c.hold_wr_first = 8;
	c.hold_wr_count = 8;
	c.heartbeat = 0;
	c.unit_id = 1;
	c.on_write = on_write;
	c.arg = f;
	assert_int_equal(m2mfw_init(&f->fw, &c), 0);
	*state = f;
	return 0;
}

static int
fw_teardown(void **state)
{
	free(*state);
	return 0;
}

/*
 * Wrap pdu in an MBAP header (transaction 0x1234, the given unit) in a heap
 * buffer of exactly the frame's size, so ASan catches any over-read.
 */
static int
ask(struct fixture *f, uint8_t unit, const uint8_t *pdu, size_t plen)
{
	uint8_t	*req;
	int	 r;

	req = malloc(plen + 7);
	assert_non_null(req);
	req[0] = 0x12;
	req[1] = 0x34;
	req[2] = 0;
	req[3] = 0;
	req[4] = (uint8_t)((plen + 1) >> 8);
	req[5] = (uint8_t)(plen + 1);
	req[6] = unit;
	memcpy(req + 7, pdu, plen);
	memset(f->resp, 0xAA, sizeof(f->resp));
	r = m2mfw_handle(&f->fw, req, plen + 7, f->resp, sizeof(f->resp));
	free(req);
	return r;
}

static void
expect_reply(struct fixture *f, const uint8_t *pdu, size_t plen,
    const uint8_t *want, size_t wlen)
{
	uint8_t	hdr[7] = { 0x12, 0x34, 0, 0, 0, 0, 1 };
	int	r;

	r = ask(f, 1, pdu, plen);
	assert_int_equal(r, (int)(wlen + 7));
	hdr[4] = (uint8_t)((wlen + 1) >> 8);
	hdr[5] = (uint8_t)(wlen + 1);
	assert_memory_equal(f->resp, hdr, 7);
	assert_memory_equal(f->resp + 7, want, wlen);
}

static void
expect_exception(struct fixture *f, const uint8_t *pdu, size_t plen,
    uint8_t code)
{
	uint8_t want[2];

	want[0] = (uint8_t)(pdu[0] | 0x80);
	want[1] = code;
	expect_reply(f, pdu, plen, want, 2);
}

static void
use_big_tables(struct fixture *f)
{
	struct m2mfw_config c;

	memset(&c, 0, sizeof(c));
	c.coils = big_coils;
	c.ncoils = NBIG;
	c.discrete = big_coils;
	c.ndiscrete = NBIG;
	c.holding = big_regs;
	c.nholding = 125;
	c.input = big_regs;
	c.ninput = 125;
	c.coil_wr_first = 0;
	c.coil_wr_count = NBIG;
	c.hold_wr_first = 0;
	c.hold_wr_count = 125;
	c.heartbeat = M2MFW_NO_HEARTBEAT;
	c.unit_id = 1;
	assert_int_equal(m2mfw_init(&f->fw, &c), 0);
}

static void
test_fc1_read_coils(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 req[] = { 0x01, 0x00, 0x00, 0x00, 0x0A };
	const uint8_t	 want[] = { 0x01, 0x02, 0x05, 0x02 };
	const uint8_t	 req2[] = { 0x01, 0x00, 0x02, 0x00, 0x09 };
	const uint8_t	 want2[] = { 0x01, 0x02, 0x81, 0x01 };

	assert_int_equal(m2mfw_set_bit(&f->fw, M2MFW_COILS, 0, 1), 0);
	assert_int_equal(m2mfw_set_bit(&f->fw, M2MFW_COILS, 2, 1), 0);
	assert_int_equal(m2mfw_set_bit(&f->fw, M2MFW_COILS, 9, 1), 0);
	expect_reply(f, req, sizeof(req), want, sizeof(want));
	/* Shifted start: coil 2 is bit 0, coil 9 bit 7 of byte 0. */
	m2mfw_set_bit(&f->fw, M2MFW_COILS, 10, 1);
	expect_reply(f, req2, sizeof(req2), want2, sizeof(want2));
}

static void
test_fc1_boundaries(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 all[] = { 0x01, 0x00, 0x00, 0x00, 0x20 };
	const uint8_t	 last[] = { 0x01, 0x00, 0x1F, 0x00, 0x01 };
	const uint8_t	 past[] = { 0x01, 0x00, 0x1F, 0x00, 0x02 };
	const uint8_t	 out[] = { 0x01, 0x00, 0x20, 0x00, 0x01 };
	const uint8_t	 wrap[] = { 0x01, 0xFF, 0xFF, 0x07, 0xD0 };
	const uint8_t	 zero[] = { 0x01, 0x00, 0x00, 0x00, 0x00 };
	const uint8_t	 many[] = { 0x01, 0x00, 0x00, 0x07, 0xD1 };
	const uint8_t	 wlast[] = { 0x01, 0x01, 0x01 };

	f->coils[3] = 0x80;
	assert_int_equal(ask(f, 1, all, sizeof(all)), 7 + 2 + 4);
	expect_reply(f, last, sizeof(last), wlast, sizeof(wlast));
	expect_exception(f, past, sizeof(past), M2MFW_EX_ADDRESS);
	expect_exception(f, out, sizeof(out), M2MFW_EX_ADDRESS);
	expect_exception(f, wrap, sizeof(wrap), M2MFW_EX_ADDRESS);
	/* Quantity is checked before the address (state diagram order). */
	expect_exception(f, zero, sizeof(zero), M2MFW_EX_VALUE);
	expect_exception(f, many, sizeof(many), M2MFW_EX_VALUE);
}

static void
test_fc1_fc2_max_quantity(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 fc1[] = { 0x01, 0x00, 0x00, 0x07, 0xD0 };
	const uint8_t	 fc2[] = { 0x02, 0x00, 0x00, 0x07, 0xD0 };
	const uint8_t	 fc2off[] = { 0x02, 0x00, 0x01, 0x07, 0xD0 };

	use_big_tables(f);
	memset(big_coils, 0, sizeof(big_coils));
	big_coils[249] = 0x80;		/* coil 1999 */
	assert_int_equal(ask(f, 1, fc1, sizeof(fc1)), 7 + 2 + 250);
	assert_int_equal(f->resp[5], 253);
	assert_int_equal(f->resp[8], 250);
	assert_int_equal(f->resp[7 + 2 + 249], 0x80);
	assert_int_equal(ask(f, 1, fc2, sizeof(fc2)), 7 + 2 + 250);
	assert_int_equal(f->resp[7], 0x02);
	expect_exception(f, fc2off, sizeof(fc2off), M2MFW_EX_ADDRESS);
}

static void
test_fc2_read_discrete(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 req[] = { 0x02, 0x00, 0x03, 0x00, 0x0D };
	const uint8_t	 want[] = { 0x02, 0x02, 0x01, 0x10 };
	const uint8_t	 past[] = { 0x02, 0x00, 0x0F, 0x00, 0x02 };
	const uint8_t	 zero[] = { 0x02, 0x00, 0x00, 0x00, 0x00 };

	m2mfw_set_bit(&f->fw, M2MFW_DISCRETE, 3, 1);
	m2mfw_set_bit(&f->fw, M2MFW_DISCRETE, 15, 1);
	expect_reply(f, req, sizeof(req), want, sizeof(want));
	expect_exception(f, past, sizeof(past), M2MFW_EX_ADDRESS);
	expect_exception(f, zero, sizeof(zero), M2MFW_EX_VALUE);
	/* Coils and inputs are separate tables. */
	assert_int_equal(m2mfw_get_bit(&f->fw, M2MFW_COILS, 3), 0);
	assert_int_equal(m2mfw_get_bit(&f->fw, M2MFW_DISCRETE, 3), 1);
}

static void
test_fc3_read_holding(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 req[] = { 0x03, 0x00, 0x0E, 0x00, 0x02 };
	const uint8_t	 want[] = { 0x03, 0x04, 0xBE, 0xEF, 0x01, 0x02 };
	const uint8_t	 past[] = { 0x03, 0x00, 0x0E, 0x00, 0x03 };
	const uint8_t	 out[] = { 0x03, 0x00, 0x10, 0x00, 0x01 };
	const uint8_t	 zero[] = { 0x03, 0x00, 0x00, 0x00, 0x00 };
	const uint8_t	 many[] = { 0x03, 0x00, 0x00, 0x00, 0x7E };

	assert_int_equal(m2mfw_set_word(&f->fw, M2MFW_HOLDING, 14, 0xBEEF), 0);
	assert_int_equal(m2mfw_set_word(&f->fw, M2MFW_HOLDING, 15, 0x0102), 0);
	expect_reply(f, req, sizeof(req), want, sizeof(want));
	expect_exception(f, past, sizeof(past), M2MFW_EX_ADDRESS);
	expect_exception(f, out, sizeof(out), M2MFW_EX_ADDRESS);
	expect_exception(f, zero, sizeof(zero), M2MFW_EX_VALUE);
	expect_exception(f, many, sizeof(many), M2MFW_EX_VALUE);
}

static void
test_fc3_fc4_max_quantity(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 fc3[] = { 0x03, 0x00, 0x00, 0x00, 0x7D };
	const uint8_t	 fc4[] = { 0x04, 0x00, 0x00, 0x00, 0x7D };
	const uint8_t	 fc4many[] = { 0x04, 0x00, 0x00, 0x00, 0x7E };
	uint16_t	 i;

	use_big_tables(f);
	for (i = 0; i < 125; i++)
		big_regs[i] = (uint16_t)(0x0100 + i);
	assert_int_equal(ask(f, 1, fc3, sizeof(fc3)), 7 + 2 + 250);
	assert_int_equal(f->resp[8], 250);
	assert_int_equal(f->resp[7 + 2 + 248], 0x01);
	assert_int_equal(f->resp[7 + 2 + 249], 124);
	assert_int_equal(ask(f, 1, fc4, sizeof(fc4)), 7 + 2 + 250);
	expect_exception(f, fc4many, sizeof(fc4many), M2MFW_EX_VALUE);
}

static void
test_fc4_read_input(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 req[] = { 0x04, 0x00, 0x07, 0x00, 0x01 };
	const uint8_t	 want[] = { 0x04, 0x02, 0x03, 0xFF };
	const uint8_t	 past[] = { 0x04, 0x00, 0x07, 0x00, 0x02 };
	const uint8_t	 zero[] = { 0x04, 0x00, 0x00, 0x00, 0x00 };
	uint16_t	 v;

	assert_int_equal(m2mfw_set_word(&f->fw, M2MFW_INPUT, 7, 1023), 0);
	expect_reply(f, req, sizeof(req), want, sizeof(want));
	expect_exception(f, past, sizeof(past), M2MFW_EX_ADDRESS);
	expect_exception(f, zero, sizeof(zero), M2MFW_EX_VALUE);
	assert_int_equal(m2mfw_get_word(&f->fw, M2MFW_INPUT, 7, &v), 0);
	assert_int_equal(v, 1023);
}

static void
test_fc5_write_coil(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 on[] = { 0x05, 0x00, 0x10, 0xFF, 0x00 };
	const uint8_t	 off[] = { 0x05, 0x00, 0x10, 0x00, 0x00 };
	const uint8_t	 last[] = { 0x05, 0x00, 0x1F, 0xFF, 0x00 };
	const uint8_t	 bad[] = { 0x05, 0x00, 0x10, 0x00, 0x01 };
	const uint8_t	 alarm[] = { 0x05, 0x00, 0x0F, 0xFF, 0x00 };
	const uint8_t	 out[] = { 0x05, 0x00, 0x20, 0xFF, 0x00 };
	const uint8_t	 rd[] = { 0x01, 0x00, 0x10, 0x00, 0x10 };
	const uint8_t	 want[] = { 0x01, 0x02, 0x00, 0x80 };

	expect_reply(f, on, sizeof(on), on, sizeof(on));
	assert_int_equal(f->nwrites, 1);
	assert_int_equal(f->last_table, M2MFW_COILS);
	assert_int_equal(f->last_addr, 16);
	assert_int_equal(f->last_value, 1);
	assert_int_equal(m2mfw_get_bit(&f->fw, M2MFW_COILS, 16), 1);
	expect_reply(f, off, sizeof(off), off, sizeof(off));
	assert_int_equal(f->last_value, 0);
	assert_int_equal(m2mfw_get_bit(&f->fw, M2MFW_COILS, 16), 0);
	expect_reply(f, last, sizeof(last), last, sizeof(last));
	expect_reply(f, rd, sizeof(rd), want, sizeof(want));
	f->nwrites = 0;
	expect_exception(f, bad, sizeof(bad), M2MFW_EX_VALUE);
	/* Alarm coils are the PLC's: the gateway may not write them. */
	expect_exception(f, alarm, sizeof(alarm), M2MFW_EX_ADDRESS);
	expect_exception(f, out, sizeof(out), M2MFW_EX_ADDRESS);
	assert_int_equal(f->nwrites, 0);
	assert_int_equal(m2mfw_get_bit(&f->fw, M2MFW_COILS, 15), 0);
}

static void
test_fc6_write_register(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 wr[] = { 0x06, 0x00, 0x08, 0xAB, 0xCD };
	const uint8_t	 last[] = { 0x06, 0x00, 0x0F, 0x00, 0x01 };
	const uint8_t	 ro[] = { 0x06, 0x00, 0x07, 0x00, 0x01 };
	const uint8_t	 out[] = { 0x06, 0x00, 0x10, 0x00, 0x01 };
	const uint8_t	 rd[] = { 0x03, 0x00, 0x08, 0x00, 0x01 };
	const uint8_t	 want[] = { 0x03, 0x02, 0xAB, 0xCD };

	expect_reply(f, wr, sizeof(wr), wr, sizeof(wr));
	assert_int_equal(f->last_table, M2MFW_HOLDING);
	assert_int_equal(f->last_addr, 8);
	assert_int_equal(f->last_value, 0xABCD);
	expect_reply(f, rd, sizeof(rd), want, sizeof(want));
	expect_reply(f, last, sizeof(last), last, sizeof(last));
	expect_exception(f, ro, sizeof(ro), M2MFW_EX_ADDRESS);
	expect_exception(f, out, sizeof(out), M2MFW_EX_ADDRESS);
}

static void
test_fc15_write_coils(void **state)
{
	struct fixture	*f = *state;
	/* Application Protocol §6.11 example: 10 coils, CD 01. */
	const uint8_t	 wr[] = { 0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01 };
	const uint8_t	 ack[] = { 0x0F, 0x00, 0x13, 0x00, 0x0A };
	const uint8_t	 rd[] = { 0x01, 0x00, 0x13, 0x00, 0x0A };
	const uint8_t	 want[] = { 0x01, 0x02, 0xCD, 0x01 };
	const uint8_t	 zero[] = { 0x0F, 0x00, 0x10, 0x00, 0x00, 0x00 };
	const uint8_t	 bc[] = { 0x0F, 0x00, 0x13, 0x00, 0x0A, 0x01, 0xCD };
	const uint8_t	 lng[] = { 0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01, 0x00 };
	const uint8_t	 shrt[] = { 0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD };
	const uint8_t	 hdr[] = { 0x0F, 0x00, 0x13, 0x00, 0x0A };
	const uint8_t	 past[] = { 0x0F, 0x00, 0x1F, 0x00, 0x02, 0x01, 0x03 };
	const uint8_t	 alarm[] = { 0x0F, 0x00, 0x0F, 0x00, 0x02, 0x01, 0x03 };

	expect_reply(f, wr, sizeof(wr), ack, sizeof(ack));
	assert_int_equal(f->nwrites, 10);
	assert_int_equal(f->last_addr, 0x13 + 9);
	assert_int_equal(f->last_value, 0);	/* bit 9 of CD 01 */
	expect_reply(f, rd, sizeof(rd), want, sizeof(want));
	f->nwrites = 0;
	expect_exception(f, zero, sizeof(zero), M2MFW_EX_VALUE);
	expect_exception(f, bc, sizeof(bc), M2MFW_EX_VALUE);
	expect_exception(f, lng, sizeof(lng), M2MFW_EX_VALUE);
	expect_exception(f, shrt, sizeof(shrt), M2MFW_EX_VALUE);
	expect_exception(f, hdr, sizeof(hdr), M2MFW_EX_VALUE);
	expect_exception(f, past, sizeof(past), M2MFW_EX_ADDRESS);
	expect_exception(f, alarm, sizeof(alarm), M2MFW_EX_ADDRESS);
	assert_int_equal(f->nwrites, 0);
}

static void
test_fc15_max_quantity(void **state)
{
	struct fixture	*f = *state;
	uint8_t		 req[6 + 246 + 1];
	const uint8_t	 want[] = { 0x0F, 0x00, 0x00, 0x07, 0xB0 };

	use_big_tables(f);
	memset(big_coils, 0, sizeof(big_coils));
	memset(req, 0xFF, sizeof(req));
	req[0] = 0x0F;
	req[1] = 0;
	req[2] = 0;
	req[3] = 0x07;			/* 1968 */
	req[4] = 0xB0;
	req[5] = 246;
	expect_reply(f, req, 6 + 246, want, sizeof(want));
	assert_int_equal(big_coils[245], 0xFF);
	assert_int_equal(big_coils[246], 0x00);
	req[4] = 0xB1;			/* 1969 coils need 247 bytes */
	req[5] = 247;
	expect_exception(f, req, 6 + 247, M2MFW_EX_VALUE);
}

static void
test_fc16_write_registers(void **state)
{
	struct fixture	*f = *state;
	/* Application Protocol §6.12 example: 2 registers at 1. */
	const uint8_t	 wr[] = { 0x10, 0x00, 0x09, 0x00, 0x02, 0x04, 0x00, 0x0A,
	    0x01, 0x02 };
	const uint8_t	 ack[] = { 0x10, 0x00, 0x09, 0x00, 0x02 };
	const uint8_t	 rd[] = { 0x03, 0x00, 0x09, 0x00, 0x02 };
	const uint8_t	 want[] = { 0x03, 0x04, 0x00, 0x0A, 0x01, 0x02 };
	const uint8_t	 zero[] = { 0x10, 0x00, 0x09, 0x00, 0x00, 0x00 };
	const uint8_t	 bc[] = { 0x10, 0x00, 0x09, 0x00, 0x02, 0x03, 0x00, 0x0A, 0x01 };
	const uint8_t	 shrt[] = { 0x10, 0x00, 0x09, 0x00, 0x02, 0x04, 0x00, 0x0A };
	const uint8_t	 past[] = { 0x10, 0x00, 0x0F, 0x00, 0x02, 0x04, 0, 1, 0, 2 };
	const uint8_t	 ro[] = { 0x10, 0x00, 0x07, 0x00, 0x02, 0x04, 0, 1, 0, 2 };

	expect_reply(f, wr, sizeof(wr), ack, sizeof(ack));
	assert_int_equal(f->nwrites, 2);
	assert_int_equal(f->last_addr, 10);
	assert_int_equal(f->last_value, 0x0102);
	expect_reply(f, rd, sizeof(rd), want, sizeof(want));
	f->nwrites = 0;
	expect_exception(f, zero, sizeof(zero), M2MFW_EX_VALUE);
	expect_exception(f, bc, sizeof(bc), M2MFW_EX_VALUE);
	expect_exception(f, shrt, sizeof(shrt), M2MFW_EX_VALUE);
	expect_exception(f, past, sizeof(past), M2MFW_EX_ADDRESS);
	expect_exception(f, ro, sizeof(ro), M2MFW_EX_ADDRESS);
	assert_int_equal(f->nwrites, 0);
}

static void
test_fc16_max_quantity(void **state)
{
	struct fixture	*f = *state;
	uint8_t		 req[6 + 246];
	const uint8_t	 want[] = { 0x10, 0x00, 0x02, 0x00, 0x7B };

	use_big_tables(f);
	memset(req, 0x11, sizeof(req));
	req[0] = 0x10;
	req[1] = 0;
	req[2] = 2;
	req[3] = 0;
	req[4] = 123;
	req[5] = 246;
	expect_reply(f, req, 6 + 246, want, sizeof(want));
	assert_int_equal(big_regs[2], 0x1111);
	assert_int_equal(big_regs[124], 0x1111);
	/* 124 registers cannot fit in a PDU; the quantity alone is refused. */
	req[4] = 124;
	req[5] = 248;
	expect_exception(f, req, 6, M2MFW_EX_VALUE);
	expect_exception(f, req, 6 + 246, M2MFW_EX_VALUE);
}

static void
test_illegal_function(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 fcs[] = { 0x00, 0x07, 0x08, 0x11, 0x17, 0x2B, 0x81, 0xFF };
	uint8_t		 req[5] = { 0, 0, 0, 0, 1 };
	size_t		 i;

	for (i = 0; i < sizeof(fcs); i++) {
		req[0] = fcs[i];
		expect_exception(f, req, sizeof(req), M2MFW_EX_FUNCTION);
		/* A lone function code is a whole PDU too. */
		expect_exception(f, req, 1, M2MFW_EX_FUNCTION);
	}
}

static void
test_implied_length(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 lng[] = { 0x03, 0x00, 0x00, 0x00, 0x01, 0x00 };
	const uint8_t	 shrt[] = { 0x03, 0x00, 0x00, 0x00 };
	const uint8_t	 lone[] = { 0x01 };
	const uint8_t	 w5[] = { 0x05, 0x00, 0x10, 0xFF };
	const uint8_t	 w6[] = { 0x06, 0x00, 0x08, 0x00, 0x01, 0x02 };

	expect_exception(f, lng, sizeof(lng), M2MFW_EX_VALUE);
	expect_exception(f, shrt, sizeof(shrt), M2MFW_EX_VALUE);
	expect_exception(f, lone, sizeof(lone), M2MFW_EX_VALUE);
	expect_exception(f, w5, sizeof(w5), M2MFW_EX_VALUE);
	expect_exception(f, w6, sizeof(w6), M2MFW_EX_VALUE);
	assert_int_equal(f->nwrites, 0);
}

static void
test_mbap_invalid(void **state)
{
	struct fixture	*f = *state;
	uint8_t		 req[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01,
	    0x03, 0x00, 0x00, 0x00, 0x01 };
	uint8_t		 resp[M2MFW_ADU_MAX];

	assert_int_equal(m2mfw_handle(&f->fw, req, sizeof(req), resp,
	    sizeof(resp)), 11);
	req[3] = 0x01;				/* protocol id 1 */
	assert_int_equal(m2mfw_handle(&f->fw, req, sizeof(req), resp,
	    sizeof(resp)), M2MFW_EPROTO);
	assert_int_equal(m2mfw_frame_len(req, 4), M2MFW_EPROTO);
	req[3] = 0;
	req[2] = 0x80;
	assert_int_equal(m2mfw_frame_len(req, sizeof(req)), M2MFW_EPROTO);
	req[2] = 0;
	req[5] = 0x01;				/* length 1: no function code */
	assert_int_equal(m2mfw_frame_len(req, sizeof(req)), M2MFW_EPROTO);
	req[5] = 0x00;
	assert_int_equal(m2mfw_frame_len(req, sizeof(req)), M2MFW_EPROTO);
	req[5] = 0xFF;				/* 255: PDU over 253 */
	assert_int_equal(m2mfw_frame_len(req, 6), M2MFW_EPROTO);
	req[4] = 0x01;
	req[5] = 0x00;
	assert_int_equal(m2mfw_frame_len(req, 6), M2MFW_EPROTO);
	req[4] = 0x00;
	req[5] = 0xFE;				/* 254 is the maximum */
	assert_int_equal(m2mfw_frame_len(req, 6), M2MFW_EINCOMPLETE);
	assert_int_equal(f->fw.requests, 1);
}

static void
test_partial_frames(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 req[] = { 0x00, 0x07, 0x00, 0x00, 0x00, 0x0B, 0x01,
	    0x10, 0x00, 0x08, 0x00, 0x02, 0x04, 0x00, 0x0A, 0x01, 0x02 };
	uint8_t		 resp[M2MFW_ADU_MAX];
	uint8_t		*buf;
	size_t		 n;

	/* Every strict prefix is incomplete; exact-size copies catch over-reads. */
	for (n = 0; n < sizeof(req); n++) {
		buf = malloc(n ? n : 1);
		assert_non_null(buf);
		memcpy(buf, req, n);
		assert_int_equal(m2mfw_frame_len(buf, n), M2MFW_EINCOMPLETE);
		assert_int_equal(m2mfw_handle(&f->fw, buf, n, resp,
		    sizeof(resp)), M2MFW_EINCOMPLETE);
		free(buf);
	}
	assert_int_equal(f->nwrites, 0);
	assert_int_equal(m2mfw_frame_len(req, sizeof(req)), (int)sizeof(req));
	assert_int_equal(m2mfw_handle(&f->fw, req, sizeof(req), resp,
	    sizeof(resp)), 12);
	assert_int_equal(f->nwrites, 2);
}

static void
test_pipelined_frames(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 two[] = {
	    0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01, 0x06, 0x00, 0x08, 0x00, 0x2A,
	    0x00, 0x02, 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x00, 0x08, 0x00, 0x01 };
	const uint8_t	 want2[] = { 0x00, 0x02, 0x00, 0x00, 0x00, 0x05, 0x01,
	    0x03, 0x02, 0x00, 0x2A };
	uint8_t		 resp[M2MFW_ADU_MAX];
	int		 n;

	n = m2mfw_frame_len(two, sizeof(two));
	assert_int_equal(n, 12);
	assert_int_equal(m2mfw_handle(&f->fw, two, sizeof(two), resp,
	    sizeof(resp)), 12);
	assert_memory_equal(resp, two, 12);
	assert_int_equal(m2mfw_handle(&f->fw, two + n, sizeof(two) - (size_t)n,
	    resp, sizeof(resp)), (int)sizeof(want2));
	assert_memory_equal(resp, want2, sizeof(want2));
}

static void
test_unit_id_filter(void **state)
{
	struct fixture		*f = *state;
	const uint8_t		 rd[] = { 0x03, 0x00, 0x00, 0x00, 0x01 };
	const uint8_t		 wr[] = { 0x06, 0x00, 0x08, 0x00, 0x01 };
	struct m2mfw_config	 c;

	assert_int_equal(ask(f, 2, rd, sizeof(rd)), 0);
	assert_int_equal(ask(f, 0, rd, sizeof(rd)), 0);
	assert_int_equal(ask(f, 2, wr, sizeof(wr)), 0);
	assert_int_equal(f->nwrites, 0);
	assert_int_equal(ask(f, 0xFF, rd, sizeof(rd)), 11);
	assert_int_equal(f->resp[6], 0xFF);
	assert_int_equal(ask(f, 1, rd, sizeof(rd)), 11);
	/* unit_id 0 answers every unit and echoes it. */
	c = f->fw.cfg;
	c.unit_id = 0;
	assert_int_equal(m2mfw_init(&f->fw, &c), 0);
	assert_int_equal(ask(f, 0x2A, rd, sizeof(rd)), 11);
	assert_int_equal(f->resp[6], 0x2A);
}

static void
test_response_capacity(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 req[] = { 0x00, 0x01, 0x00, 0x00, 0x00, 0x06, 0x01,
	    0x03, 0x00, 0x00, 0x00, 0x10 };
	uint8_t		 resp[M2MFW_ADU_MAX];

	/* 16 registers need 7 + 2 + 32 bytes. */
	assert_int_equal(m2mfw_handle(&f->fw, req, sizeof(req), resp, 40),
	    M2MFW_ENOSPC);
	assert_int_equal(m2mfw_handle(&f->fw, req, sizeof(req), resp, 41), 41);
	assert_int_equal(m2mfw_handle(&f->fw, req, sizeof(req), resp, 11),
	    M2MFW_ENOSPC);
}

/* The PDU handler both framings share: its own bounds. */
static void
test_pdu_bounds(void **state)
{
	struct fixture	*f = *state;
	uint8_t		 pdu[M2MFW_PDU_MAX + 1];
	const uint8_t	 want[] = { 0x03, 0x02, 0x00, 0x00 };

	memset(pdu, 0, sizeof(pdu));
	pdu[0] = 0x03;
	pdu[4] = 1;
	assert_int_equal(m2mfw_pdu(&f->fw, pdu, 0, f->resp, 5), M2MFW_EPROTO);
	assert_int_equal(m2mfw_pdu(&f->fw, pdu, sizeof(pdu), f->resp,
	    sizeof(f->resp)), M2MFW_EPROTO);
	assert_int_equal(m2mfw_pdu(&f->fw, pdu, 5, f->resp, 4), M2MFW_ENOSPC);
	assert_int_equal(f->fw.requests, 0);
	assert_int_equal(m2mfw_pdu(&f->fw, pdu, 5, f->resp, 5), 4);
	assert_memory_equal(f->resp, want, sizeof(want));
	/* 253 bytes is a PDU (answered: wrong length for FC 3 -> 03). */
	assert_int_equal(m2mfw_pdu(&f->fw, pdu, M2MFW_PDU_MAX, f->resp, 5), 2);
	assert_int_equal(f->resp[1], M2MFW_EX_VALUE);
	assert_int_equal(f->fw.requests, 2);
}

static void
test_heartbeat(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 rd[] = { 0x03, 0x00, 0x00, 0x00, 0x01 };
	const uint8_t	 want[] = { 0x03, 0x02, 0x00, 0x02 };
	const uint8_t	 wrap[] = { 0x03, 0x02, 0x00, 0x00 };
	uint16_t	 v;

	m2mfw_tick(&f->fw);
	m2mfw_tick(&f->fw);
	expect_reply(f, rd, sizeof(rd), want, sizeof(want));
	m2mfw_set_word(&f->fw, M2MFW_HOLDING, 0, 0xFFFF);
	m2mfw_tick(&f->fw);
	expect_reply(f, rd, sizeof(rd), wrap, sizeof(wrap));
	assert_int_equal(m2mfw_get_word(&f->fw, M2MFW_HOLDING, 0, &v), 0);
	assert_int_equal(v, 0);
}

static void
test_init_rejects(void **state)
{
	struct fixture		*f = *state;
	struct m2mfw_config	 c = f->fw.cfg;

	c.coil_wr_first = 20;
	c.coil_wr_count = 13;
	assert_int_equal(m2mfw_init(&f->fw, &c), -1);
	c.coil_wr_count = 12;
	assert_int_equal(m2mfw_init(&f->fw, &c), 0);
	c.hold_wr_first = 0xFFFF;
	c.hold_wr_count = 2;
	assert_int_equal(m2mfw_init(&f->fw, &c), -1);
	c.hold_wr_count = 0;
	c.heartbeat = 16;
	assert_int_equal(m2mfw_init(&f->fw, &c), -1);
	c.heartbeat = M2MFW_NO_HEARTBEAT;
	assert_int_equal(m2mfw_init(&f->fw, &c), 0);
	m2mfw_tick(&f->fw);			/* no heartbeat: no-op */
}

static void
test_accessors_range(void **state)
{
	struct fixture	*f = *state;
	uint16_t	 v = 7;

	assert_int_equal(m2mfw_set_bit(&f->fw, M2MFW_COILS, 32, 1), -1);
	assert_int_equal(m2mfw_set_bit(&f->fw, M2MFW_DISCRETE, 16, 1), -1);
	assert_int_equal(m2mfw_set_bit(&f->fw, M2MFW_HOLDING, 0, 1), -1);
	assert_int_equal(m2mfw_get_bit(&f->fw, M2MFW_COILS, 32), -1);
	assert_int_equal(m2mfw_get_bit(&f->fw, M2MFW_INPUT, 0), -1);
	assert_int_equal(m2mfw_set_word(&f->fw, M2MFW_HOLDING, 16, 1), -1);
	assert_int_equal(m2mfw_set_word(&f->fw, M2MFW_INPUT, 8, 1), -1);
	assert_int_equal(m2mfw_set_word(&f->fw, M2MFW_COILS, 0, 1), -1);
	assert_int_equal(m2mfw_get_word(&f->fw, M2MFW_HOLDING, 16, &v), -1);
	assert_int_equal(m2mfw_get_word(&f->fw, M2MFW_DISCRETE, 0, &v), -1);
	assert_int_equal(v, 7);
	assert_int_equal(m2mfw_set_bit(&f->fw, M2MFW_COILS, 31, 1), 0);
	assert_int_equal(f->coils[3], 0x80);
	assert_int_equal(m2mfw_set_bit(&f->fw, M2MFW_COILS, 31, 0), 0);
	assert_int_equal(f->coils[3], 0x00);
}

static void
test_counters(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 ok[] = { 0x03, 0x00, 0x00, 0x00, 0x01 };
	const uint8_t	 bad[] = { 0x03, 0x00, 0x00, 0x00, 0x00 };

	ask(f, 1, ok, sizeof(ok));
	ask(f, 1, bad, sizeof(bad));
	ask(f, 9, ok, sizeof(ok));
	assert_int_equal(f->fw.requests, 2);
	assert_int_equal(f->fw.exceptions, 1);
}

/* The map the wrapper, the sketch, the shim and docs/firmware.md share. */
static void
test_std_map(void **state)
{
	struct fixture		*f = *state;
	struct m2mfw_std_tables	 t;
	struct m2mfw_config	 c;
	const uint8_t		 ok[] = { 0x05, 0x00, 0x1F, 0xFF, 0x00 };
	const uint8_t		 ack[] = { 0x05, 0x00, 0x10, 0xFF, 0x00 };
	const uint8_t		 alarm[] = { 0x05, 0x00, 0x0F, 0xFF, 0x00 };
	const uint8_t		 hb[] = { 0x06, 0x00, 0x00, 0x00, 0x05 };
	const uint8_t		 spare[] = { 0x10, 0x00, 0x08, 0x00, 0x08, 0x10,
	    0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6, 0, 7, 0, 8 };
	const uint8_t		 rd[] = { 0x03, 0x00, 0x00, 0x00, 0x10 };
	const uint8_t		 ird[] = { 0x04, 0x00, 0x00, 0x00, 0x08 };
	const uint8_t		 drd[] = { 0x02, 0x00, 0x00, 0x00, 0x10 };

	memset(&t, 0x55, sizeof(t));
	m2mfw_std_config(&c, &t, 3);
	assert_int_equal(t.coils[0], 0);
	assert_null(c.on_write);
	assert_int_equal(m2mfw_init(&f->fw, &c), 0);
	assert_int_equal(ask(f, 1, rd, sizeof(rd)), 0);	/* unit 3 only */
	assert_int_equal(ask(f, 3, ok, sizeof(ok)), 12);
	assert_int_equal(m2mfw_get_bit(&f->fw, M2MFW_COILS, M2MFW_STD_MAIL_OK), 1);
	assert_int_equal(ask(f, 3, ack, sizeof(ack)), 12);
	assert_int_equal(ask(f, 3, alarm, sizeof(alarm)), 9);
	assert_int_equal(f->resp[8], M2MFW_EX_ADDRESS);
	assert_int_equal(ask(f, 3, hb, sizeof(hb)), 9);	/* heartbeat read-only */
	assert_int_equal(ask(f, 3, spare, sizeof(spare)), 12);
	assert_int_equal(t.holding[15], 8);
	m2mfw_tick(&f->fw);
	assert_int_equal(t.holding[M2MFW_STD_HEARTBEAT], 1);
	assert_int_equal(ask(f, 3, rd, sizeof(rd)), 7 + 2 + 32);
	assert_int_equal(ask(f, 3, ird, sizeof(ird)), 7 + 2 + 16);
	assert_int_equal(ask(f, 3, drd, sizeof(drd)), 7 + 2 + 2);
}

/* Random frames: never a crash, never a reply longer than the buffer. */
static void
test_garbage(void **state)
{
	struct fixture	*f = *state;
	uint8_t		*buf;
	uint8_t		 resp[M2MFW_ADU_MAX];
	uint32_t	 seed = 12345;
	size_t		 n, i;
	int		 round, r;

	for (round = 0; round < 20000; round++) {
		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % 270;
		buf = malloc(n ? n : 1);
		assert_non_null(buf);
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			buf[i] = (uint8_t)(seed >> 16);
		}
		if (n >= 8 && (round & 1)) {	/* mostly valid MBAP */
			buf[2] = buf[3] = 0;
			buf[4] = 0;
			buf[5] = (uint8_t)(n - 6 > 254 ? 254 : n - 6);
			buf[7] = (uint8_t)(1 + (seed >> 24) % 16);
			buf[6] = 1;
		}
		r = m2mfw_handle(&f->fw, buf, n, resp, sizeof(resp));
		assert_true(r >= M2MFW_EPROTO && r <= M2MFW_ADU_MAX - 1);
		free(buf);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, fw_setup, fw_teardown)
		T(test_fc1_read_coils),
		T(test_fc1_boundaries),
		T(test_fc1_fc2_max_quantity),
		T(test_fc2_read_discrete),
		T(test_fc3_read_holding),
		T(test_fc3_fc4_max_quantity),
		T(test_fc4_read_input),
		T(test_fc5_write_coil),
		T(test_fc6_write_register),
		T(test_fc15_write_coils),
		T(test_fc15_max_quantity),
		T(test_fc16_write_registers),
		T(test_fc16_max_quantity),
		T(test_illegal_function),
		T(test_implied_length),
		T(test_mbap_invalid),
		T(test_partial_frames),
		T(test_pipelined_frames),
		T(test_unit_id_filter),
		T(test_response_capacity),
		T(test_pdu_bounds),
		T(test_heartbeat),
		T(test_init_rejects),
		T(test_accessors_range),
		T(test_counters),
		T(test_std_map),
		T(test_garbage),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
