/*
 * test_firmware_rtu.c - cmocka tests of the firmware core's Modbus RTU
 * framing (src/firmware/m2mfw_rtu.c) on the host: CRC, unit id filter,
 * broadcast, short/garbled/overlong frames, 3.5-character timing. Expected
 * frames are written out by hand; their CRCs were checked against pymodbus'
 * computeCRC and the Modbus over Serial Line examples.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "m2mfw_rtu.h"

struct fixture {
	struct m2mfw		fw;
	struct m2mfw_rtu	rtu;
	struct m2mfw_std_tables	t;
	int			nwrites;
	uint8_t			resp[M2MFW_RTU_ADU_MAX];
};

static void	on_write(void *, enum m2mfw_table, uint16_t, uint16_t);
static int	rtu_setup(void **);
static int	rtu_teardown(void **);
static int	handle(struct fixture *, const uint8_t *, size_t);
static int	feed(struct fixture *, const uint8_t *, size_t, uint32_t,
		    uint32_t);
static void	seal(uint8_t *, size_t);
static uint32_t	lcg(uint32_t *);

static void
on_write(void *arg, enum m2mfw_table t, uint16_t addr, uint16_t value)
{
	struct fixture *f = arg;

	(void)t;
	(void)addr;
	(void)value;
	f->nwrites++;
}

static int
rtu_setup(void **state)
{
	struct fixture		*f;
	struct m2mfw_config	 c;

	f = calloc(1, sizeof(*f));
	assert_non_null(f);
	m2mfw_std_config(&c, &f->t, 1);
	c.on_write = on_write;
	c.arg = f;
	assert_int_equal(m2mfw_init(&f->fw, &c), 0);
	assert_int_equal(m2mfw_rtu_init(&f->rtu, &f->fw, 19200), 0);
	*state = f;
	return 0;
}

static int
rtu_teardown(void **state)
{
	free(*state);
	return 0;
}

/* Write the CRC into the last two bytes of frame. */
static void
seal(uint8_t *frame, size_t len)
{
	uint16_t crc = m2mfw_crc16(frame, len - 2);

	frame[len - 2] = (uint8_t)crc;
	frame[len - 1] = (uint8_t)(crc >> 8);
}

/* Reproducible pseudo-random numbers, 0..32767. */
static uint32_t
lcg(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) & 0x7FFF;
}

/* One whole frame, from a heap copy of its exact size (ASan sees over-reads). */
static int
handle(struct fixture *f, const uint8_t *req, size_t len)
{
	uint8_t	*copy;
	int	 r;

	copy = malloc(len ? len : 1);
	assert_non_null(copy);
	memcpy(copy, req, len);
	memset(f->resp, 0xAA, sizeof(f->resp));
	r = m2mfw_rtu_handle(&f->fw, copy, len, f->resp, sizeof(f->resp));
	free(copy);
	return r;
}

/*
 * Bytes as a UART delivers them: one every gap us from t0, then one poll
 * a t3.5 after the last byte. Returns what that poll returned.
 */
static int
feed(struct fixture *f, const uint8_t *req, size_t len, uint32_t t0,
    uint32_t gap)
{
	uint32_t	t = t0;
	size_t		i;

	for (i = 0; i < len; i++, t += gap) {
		m2mfw_rtu_rx(&f->rtu, req[i], t);
		assert_int_equal(m2mfw_rtu_poll(&f->rtu, t, f->resp,
		    sizeof(f->resp)), 0);
	}
	t -= gap;
	assert_int_equal(m2mfw_rtu_poll(&f->rtu, t + f->rtu.t35 - 1, f->resp,
	    sizeof(f->resp)), 0);
	return m2mfw_rtu_poll(&f->rtu, t + f->rtu.t35, f->resp,
	    sizeof(f->resp));
}

static void
test_crc(void **state)
{
	const uint8_t	check[] = "123456789";
	const uint8_t	req[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x0A, 0xC5, 0xCD };

	(void)state;
	assert_int_equal(m2mfw_crc16(check, 9), 0x4B37);
	assert_int_equal(m2mfw_crc16(req, 6), 0xCDC5);	/* sent low byte first */
	assert_int_equal(m2mfw_crc16(req, 8), 0);
	assert_int_equal(m2mfw_crc16(req, 0), 0xFFFF);
}

static void
test_fc3_byte_exact(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 req[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A };
	const uint8_t	 want[] = { 0x01, 0x03, 0x02, 0x00, 0x00, 0xB8, 0x44 };

	assert_int_equal(handle(f, req, sizeof(req)), sizeof(want));
	assert_memory_equal(f->resp, want, sizeof(want));
	assert_int_equal(f->fw.requests, 1);
	/* The same through the byte interface at 19200 baud (573 us a byte). */
	memset(f->resp, 0, sizeof(f->resp));
	assert_int_equal(feed(f, req, sizeof(req), 1000, 573), sizeof(want));
	assert_memory_equal(f->resp, want, sizeof(want));
}

static void
test_write_and_exception(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 wr[] = { 0x01, 0x05, 0x00, 0x1F, 0xFF, 0x00, 0xBD, 0xFC };
	const uint8_t	 ex[] = { 0x01, 0x83, 0x02, 0xC0, 0xF1 };
	uint8_t		 rd[] = { 0x01, 0x03, 0x00, 0x10, 0x00, 0x01, 0, 0 };

	/* FC 5 mail_ok: the reply echoes the request, CRC included. */
	assert_int_equal(handle(f, wr, sizeof(wr)), sizeof(wr));
	assert_memory_equal(f->resp, wr, sizeof(wr));
	assert_int_equal(m2mfw_get_bit(&f->fw, M2MFW_COILS, 31), 1);
	assert_int_equal(f->nwrites, 1);
	/* Holding register 16 does not exist: exception 02, as over TCP. */
	seal(rd, sizeof(rd));
	assert_int_equal(handle(f, rd, sizeof(rd)), sizeof(ex));
	assert_memory_equal(f->resp, ex, sizeof(ex));
	assert_int_equal(f->fw.exceptions, 1);
}

static void
test_wrong_unit_ignored(void **state)
{
	struct fixture	*f = *state;
	uint8_t		 wr[] = { 0x02, 0x05, 0x00, 0x1F, 0xFF, 0x00, 0, 0 };
	uint8_t		 ff[] = { 0xFF, 0x03, 0x00, 0x00, 0x00, 0x01, 0, 0 };

	seal(wr, sizeof(wr));
	assert_int_equal(handle(f, wr, sizeof(wr)), 0);
	assert_int_equal(feed(f, wr, sizeof(wr), 0, 573), 0);
	assert_int_equal(m2mfw_get_bit(&f->fw, M2MFW_COILS, 31), 0);
	/* 0xFF is answered over TCP only: on a bus it would collide. */
	seal(ff, sizeof(ff));
	assert_int_equal(handle(f, ff, sizeof(ff)), 0);
	assert_int_equal(f->nwrites, 0);
	assert_int_equal(f->fw.requests, 0);
	assert_int_equal(f->rtu.dropped, 0);	/* valid frames, not ours */
}

static void
test_broadcast(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 wr[] = { 0x00, 0x06, 0x00, 0x08, 0x00, 0x07, 0x48, 0x1B };
	uint8_t		 rd[] = { 0x00, 0x03, 0x00, 0x08, 0x00, 0x01, 0, 0 };
	uint8_t		 bad[] = { 0x00, 0x06, 0x00, 0x01, 0x00, 0x07, 0, 0 };
	uint16_t	 v;

	/* A broadcast write is applied and never answered. */
	assert_int_equal(feed(f, wr, sizeof(wr), 5, 573), 0);
	assert_int_equal(m2mfw_get_word(&f->fw, M2MFW_HOLDING, 8, &v), 0);
	assert_int_equal(v, 7);
	assert_int_equal(f->nwrites, 1);
	/* A broadcast read is not executed. */
	seal(rd, sizeof(rd));
	assert_int_equal(handle(f, rd, sizeof(rd)), 0);
	assert_int_equal(f->fw.requests, 1);
	/* A refused broadcast write: counted, not answered, not applied. */
	seal(bad, sizeof(bad));
	assert_int_equal(handle(f, bad, sizeof(bad)), 0);
	assert_int_equal(f->fw.exceptions, 1);
	assert_int_equal(f->t.holding[1], 0);
	assert_int_equal(f->nwrites, 1);
}

static void
test_short_and_garbled(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 req[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A };
	const uint8_t	 wr[] = { 0x01, 0x05, 0x00, 0x1F, 0xFF, 0x00, 0xBD, 0xFC };
	uint8_t		 bad[sizeof(wr)];
	size_t		 len, bit;

	for (len = 0; len < 4; len++)
		assert_int_equal(handle(f, req, len), M2MFW_EPROTO);
	/* A truncated frame fails its CRC. */
	assert_int_equal(handle(f, req, 7), M2MFW_EPROTO);
	assert_int_equal(feed(f, req, 7, 0, 573), 0);
	assert_int_equal(f->rtu.dropped, 1);
	/* Every single-bit error of a write is caught and changes nothing. */
	for (bit = 0; bit < 8 * sizeof(wr); bit++) {
		memcpy(bad, wr, sizeof(wr));
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(handle(f, bad, sizeof(bad)), M2MFW_EPROTO);
	}
	assert_int_equal(m2mfw_get_bit(&f->fw, M2MFW_COILS, 31), 0);
	assert_int_equal(f->nwrites, 0);
	assert_int_equal(f->fw.requests, 0);
	/* After the garbage the next good frame is answered. */
	assert_int_equal(feed(f, req, sizeof(req), 100000, 573), 7);
}

static void
test_overlong_frame(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 req[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x01, 0x84, 0x0A };
	const uint8_t	 fc16[] = { 0x01, 0x10, 0x00, 0x08, 0x00, 123, 246 };
	uint8_t		 noise[300];

	/* A valid frame at the end of 300 unbroken bytes is still noise. */
	memset(noise, 0x55, sizeof(noise));
	memcpy(noise + sizeof(noise) - sizeof(req), req, sizeof(req));
	assert_int_equal(handle(f, noise, sizeof(noise)), M2MFW_EPROTO);
	assert_int_equal(feed(f, noise, sizeof(noise), 0, 500), 0);
	assert_int_equal(f->rtu.dropped, 1);
	assert_int_equal(f->fw.requests, 0);
	/* The longest request: FC 16 with 123 registers, 255 bytes. */
	memset(noise, 0, sizeof(noise));
	memcpy(noise, fc16, sizeof(fc16));
	seal(noise, 255);
	/* 123 registers from 8 exceed the writable 8..15: exception 02. */
	assert_int_equal(feed(f, noise, 255, 0, 500), 5);
	assert_int_equal(f->resp[1], 0x90);
	assert_int_equal(f->resp[2], M2MFW_EX_ADDRESS);
}

static void
test_timing(void **state)
{
	struct fixture		*f = *state;
	const uint8_t		 req[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x01,
	    0x84, 0x0A };
	struct m2mfw_rtu	 r;
	uint32_t		 t;

	/*
	 * t3.5 = 3.5 x 11 bits, rounded up; the frame gap 26 bit times;
	 * fixed 1750 and 1250 us above 19200 baud.
	 */
	assert_int_equal(m2mfw_rtu_init(&r, &f->fw, 9600), 0);
	assert_int_equal(r.t35, 4011);
	assert_int_equal(r.tgap, 2708);
	assert_int_equal(m2mfw_rtu_init(&r, &f->fw, 1200), 0);
	assert_int_equal(r.t35, 32084);
	assert_int_equal(f->rtu.t35, 2006);
	assert_int_equal(f->rtu.tgap, 1354);
	assert_int_equal(m2mfw_rtu_init(&r, &f->fw, 38400), 0);
	assert_int_equal(r.t35, 1750);
	assert_int_equal(r.tgap, 1250);
	assert_int_equal(m2mfw_rtu_init(&r, &f->fw, 115200), 0);
	assert_int_equal(r.t35, 1750);

	/*
	 * Gaps of 1.5 characters (860 us) plus read jitter, up to just under
	 * the frame gap, keep one frame, whatever the clock's origin.
	 */
	t = 0xFFFFFFFFu - 3 * 1353;
	assert_int_equal(feed(f, req, sizeof(req), t, 1353), 7);
	/* A gap of 26 bit times splits it: both halves fail their CRC. */
	m2mfw_rtu_rx(&f->rtu, req[0], 0);
	m2mfw_rtu_rx(&f->rtu, req[1], 573);
	assert_int_equal(feed(f, req + 2, sizeof(req) - 2, 573 + 1354, 573), 0);
	assert_int_equal(f->rtu.dropped, 2);
	assert_int_equal(f->fw.requests, 1);
	/* Nothing received: polling never answers. */
	assert_int_equal(m2mfw_rtu_poll(&f->rtu, 123456789, f->resp,
	    sizeof(f->resp)), 0);
}

/*
 * A bus shared with another unit, 8N1 at 19200 baud (521 us a character):
 * the master keeps 3.5 characters (1823 us) between unit 2's reply and its
 * request to us. Was merged into one bad frame while frames were cut at
 * 3.5 characters of 11 bits (2006 us).
 */
static void
test_tight_master_8n1(void **state)
{
	struct fixture	*f = *state;
	uint8_t		 other[] = { 0x02, 0x03, 0x02, 0x12, 0x34, 0, 0 };
	const uint8_t	 req[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x01,
	    0x84, 0x0A };
	const uint8_t	 bcast[] = { 0x00, 0x06, 0x00, 0x08, 0x00, 0x07,
	    0x48, 0x1B };
	uint32_t	 t = 1000;
	size_t		 i;

	seal(other, sizeof(other));
	for (i = 0; i < sizeof(other); i++, t += 521)
		m2mfw_rtu_rx(&f->rtu, other[i], t);
	t += 1823 - 521;
	assert_int_equal(feed(f, req, sizeof(req), t, 521), 7);
	assert_int_equal(f->rtu.dropped, 0);
	/* The same when read jitter eats 400 us of the gap. */
	t += 7 * 521 + 2006;
	for (i = 0; i < sizeof(other); i++, t += 521)
		m2mfw_rtu_rx(&f->rtu, other[i], t);
	t += 1823 - 400 - 521;
	assert_int_equal(feed(f, req, sizeof(req), t, 521), 7);
	/* A broadcast write, then at once a request: both served. */
	t += 7 * 521 + 2006;
	for (i = 0; i < sizeof(bcast); i++, t += 521)
		m2mfw_rtu_rx(&f->rtu, bcast[i], t);
	t += 1823 - 521;
	assert_int_equal(feed(f, req, sizeof(req), t, 521), 7);
	assert_int_equal(f->t.holding[8], 7);
	assert_int_equal(f->nwrites, 1);
	assert_int_equal(f->rtu.dropped, 0);
	assert_int_equal(f->fw.requests, 3 + 1);
}

/* A request the master did not wait for is never executed. */
static void
test_late_request_not_run(void **state)
{
	struct fixture	*f = *state;
	const uint8_t	 wr[] = { 0x01, 0x05, 0x00, 0x1F, 0xFF, 0x00, 0xBD, 0xFC };
	const uint8_t	 req[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x01,
	    0x84, 0x0A };
	uint32_t	 t = 0;
	size_t		 i;

	for (i = 0; i < sizeof(wr); i++, t += 573)
		m2mfw_rtu_rx(&f->rtu, wr[i], t);
	/* The next frame starts after the gap but before the reply's turn. */
	t += 1354 - 573;
	assert_int_equal(feed(f, req, sizeof(req), t, 573), 7);
	assert_int_equal(m2mfw_get_bit(&f->fw, M2MFW_COILS, 31), 0);
	assert_int_equal(f->nwrites, 0);
	assert_int_equal(f->rtu.dropped, 1);
}

static void
test_init_and_capacity(void **state)
{
	struct fixture		*f = *state;
	struct m2mfw_config	 c = f->fw.cfg;
	struct m2mfw		 fw;
	struct m2mfw_rtu	 r;
	const uint8_t		 req[] = { 0x01, 0x03, 0x00, 0x00, 0x00, 0x01,
	    0x84, 0x0A };
	uint8_t			 resp[9];
	size_t			 i;

	assert_int_equal(m2mfw_rtu_init(&r, &f->fw, 0), -1);
	c.unit_id = 0;
	assert_int_equal(m2mfw_init(&fw, &c), 0);
	assert_int_equal(m2mfw_rtu_init(&r, &fw, 19200), -1);
	c.unit_id = 248;
	assert_int_equal(m2mfw_init(&fw, &c), 0);
	assert_int_equal(m2mfw_rtu_init(&r, &fw, 19200), -1);
	c.unit_id = 247;
	assert_int_equal(m2mfw_init(&fw, &c), 0);
	assert_int_equal(m2mfw_rtu_init(&r, &fw, 19200), 0);
	/* The reply is 7 bytes; the core wants room for a 5-byte PDU first. */
	assert_int_equal(m2mfw_rtu_handle(&f->fw, req, sizeof(req), resp, 2),
	    M2MFW_ENOSPC);
	assert_int_equal(m2mfw_rtu_handle(&f->fw, req, sizeof(req), resp, 7),
	    M2MFW_ENOSPC);
	assert_int_equal(m2mfw_rtu_handle(&f->fw, req, sizeof(req), resp, 8), 7);
	/* The byte interface passes the error on (the frame is consumed). */
	for (i = 0; i < sizeof(req); i++)
		m2mfw_rtu_rx(&f->rtu, req[i], 0);
	assert_int_equal(m2mfw_rtu_poll(&f->rtu, 2006, resp, 7), M2MFW_ENOSPC);
	assert_int_equal(f->rtu.len, 0);
}

/* Random frames with a valid CRC: every reply fits and carries a good CRC. */
static void
test_random_frames(void **state)
{
	struct fixture	*f = *state;
	uint8_t		 buf[M2MFW_RTU_ADU_MAX];
	uint32_t	 seed = 4242;
	size_t		 n, i;
	int		 round, r;

	for (round = 0; round < 20000; round++) {
		n = 4 + lcg(&seed) % (sizeof(buf) - 3);
		for (i = 0; i < n; i++)
			buf[i] = (uint8_t)lcg(&seed);
		buf[0] = (uint8_t)(round % 3);		/* broadcast, ours, other */
		buf[1] = (uint8_t)(1 + lcg(&seed) % 17);
		seal(buf, n);
		r = handle(f, buf, n);
		if (buf[0] != 1) {
			assert_int_equal(r, 0);
			continue;
		}
		assert_true(r >= 5 && r <= M2MFW_RTU_ADU_MAX);
		assert_int_equal(f->resp[0], 1);
		assert_int_equal(m2mfw_crc16(f->resp, (size_t)r), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(x) cmocka_unit_test_setup_teardown(x, rtu_setup, rtu_teardown)
		T(test_crc),
		T(test_fc3_byte_exact),
		T(test_write_and_exception),
		T(test_wrong_unit_ignored),
		T(test_broadcast),
		T(test_short_and_garbled),
		T(test_overlong_frame),
		T(test_timing),
		T(test_tight_master_8n1),
		T(test_late_request_not_run),
		T(test_init_and_capacity),
		T(test_random_frames),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
