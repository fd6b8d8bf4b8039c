/*
 * m2mfw_libmodbus_check.c - TEST FIXTURE: libmodbus (the gateway's own
 * Modbus client) against the firmware shim, over Modbus/TCP or Modbus RTU.
 * Every function code through the libmodbus API, then raw requests whose
 * replies must match byte for byte (libmodbus adds and checks the CRC).
 *
 * usage: m2mfw_libmodbus_check PORT | -s TTY   (RTU: 19200 baud, 8N1)
 * The shim must hold what tests/integration/test_firmware_libmodbus.py sets
 * first: coils 0, 3, 10 = 1; discrete input 5 = 1; holding 1 = 0x0409,
 * 2 = 0xBEEF; input 0 = 777, 7 = 0xFFFF; everything else 0.
 * Exit 0 when all checks pass, 1 otherwise (each failure printed).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modbus.h>

struct raw_case {
	const char	*what;
	uint8_t		 req[16];	/* unit, PDU */
	int		 reqlen;
	uint8_t		 rsp[16];	/* unit, PDU of the expected reply */
	int		 rsplen;
};

static const struct raw_case raw_cases[] = {
	{ "fc1 16 coils", { 1, 0x01, 0, 0, 0, 16 }, 6,
	    { 1, 0x01, 2, 0x09, 0x04 }, 5 },
	{ "fc2 8 inputs", { 1, 0x02, 0, 0, 0, 8 }, 6,
	    { 1, 0x02, 1, 0x20 }, 4 },
	{ "fc3 2 regs", { 1, 0x03, 0, 1, 0, 2 }, 6,
	    { 1, 0x03, 4, 0x04, 0x09, 0xBE, 0xEF }, 7 },
	{ "fc4 last reg", { 1, 0x04, 0, 7, 0, 1 }, 6,
	    { 1, 0x04, 2, 0xFF, 0xFF }, 5 },
	{ "fc5 echo", { 1, 0x05, 0, 20, 0xFF, 0 }, 6,
	    { 1, 0x05, 0, 20, 0xFF, 0 }, 6 },
	{ "fc6 echo", { 1, 0x06, 0, 12, 0xCA, 0xFE }, 6,
	    { 1, 0x06, 0, 12, 0xCA, 0xFE }, 6 },
	{ "fc15 ack", { 1, 0x0F, 0, 24, 0, 3, 1, 0x05 }, 8,
	    { 1, 0x0F, 0, 24, 0, 3 }, 6 },
	{ "fc16 ack", { 1, 0x10, 0, 13, 0, 1, 2, 0x12, 0x34 }, 9,
	    { 1, 0x10, 0, 13, 0, 1 }, 6 },
	{ "unit 255", { 0xFF, 0x03, 0, 2, 0, 1 }, 6,
	    { 0xFF, 0x03, 2, 0xBE, 0xEF }, 5 },
	{ "ex01 fc 7", { 1, 0x07 }, 2, { 1, 0x87, 0x01 }, 3 },
	{ "ex01 fc 43", { 1, 0x2B, 0x0E, 1, 0 }, 5, { 1, 0xAB, 0x01 }, 3 },
	{ "ex02 fc1 past end", { 1, 0x01, 0, 31, 0, 2 }, 6,
	    { 1, 0x81, 0x02 }, 3 },
	{ "ex02 fc2 past end", { 1, 0x02, 0, 16, 0, 1 }, 6,
	    { 1, 0x82, 0x02 }, 3 },
	{ "ex02 fc3 past end", { 1, 0x03, 0, 15, 0, 2 }, 6,
	    { 1, 0x83, 0x02 }, 3 },
	{ "ex02 fc4 past end", { 1, 0x04, 0, 8, 0, 1 }, 6,
	    { 1, 0x84, 0x02 }, 3 },
	{ "ex02 fc5 alarm coil", { 1, 0x05, 0, 3, 0, 0 }, 6,
	    { 1, 0x85, 0x02 }, 3 },
	{ "ex02 fc6 read-only", { 1, 0x06, 0, 0, 0, 0 }, 6,
	    { 1, 0x86, 0x02 }, 3 },
	{ "ex02 fc15 straddles", { 1, 0x0F, 0, 15, 0, 2, 1, 3 }, 8,
	    { 1, 0x8F, 0x02 }, 3 },
	{ "ex02 fc16 straddles", { 1, 0x10, 0, 15, 0, 2, 4, 0, 1, 0, 2 }, 11,
	    { 1, 0x90, 0x02 }, 3 },
	{ "ex03 fc1 qty 0", { 1, 0x01, 0, 0, 0, 0 }, 6, { 1, 0x81, 0x03 }, 3 },
	{ "ex03 fc1 qty 2001", { 1, 0x01, 0, 0, 0x07, 0xD1 }, 6,
	    { 1, 0x81, 0x03 }, 3 },
	{ "ex03 fc3 qty 126", { 1, 0x03, 0, 0, 0, 126 }, 6,
	    { 1, 0x83, 0x03 }, 3 },
	{ "ex03 fc5 value", { 1, 0x05, 0, 16, 0x12, 0x34 }, 6,
	    { 1, 0x85, 0x03 }, 3 },
	{ "ex03 fc15 byte count", { 1, 0x0F, 0, 16, 0, 9, 1, 0xFF }, 8,
	    { 1, 0x8F, 0x03 }, 3 },
	{ "ex03 fc16 byte count", { 1, 0x10, 0, 8, 0, 2, 2, 0, 1 }, 9,
	    { 1, 0x90, 0x03 }, 3 },
	{ "ex03 fc16 qty 124", { 1, 0x10, 0, 8, 0, 124, 248 }, 7,
	    { 1, 0x90, 0x03 }, 3 },
};

static int	failures;
static int	rtu;

#define CHECK(cond, ...) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);	\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		failures++;						\
	}								\
} while (0)

static void
check_api(modbus_t *ctx)
{
	uint8_t		bits[32];
	uint16_t	regs[16];
	const uint8_t	wbits[] = { 1, 1, 0, 1 };
	const uint16_t	wregs[] = { 0x1111, 0x2222, 0x3333 };
	int		i, rc;

	rc = modbus_read_bits(ctx, 0, 32, bits);
	CHECK(rc == 32, "read_bits rc=%d %s", rc, modbus_strerror(errno));
	for (i = 0; rc == 32 && i < 32; i++)
		CHECK(bits[i] == (i == 0 || i == 3 || i == 10), "coil %d=%d",
		    i, bits[i]);
	rc = modbus_read_input_bits(ctx, 0, 16, bits);
	CHECK(rc == 16 && bits[5] == 1 && bits[4] == 0, "read_input_bits");
	rc = modbus_read_registers(ctx, 0, 16, regs);
	CHECK(rc == 16 && regs[1] == 0x0409 && regs[2] == 0xBEEF &&
	    regs[15] == 0, "read_registers rc=%d", rc);
	rc = modbus_read_input_registers(ctx, 0, 8, regs);
	CHECK(rc == 8 && regs[0] == 777 && regs[7] == 0xFFFF,
	    "read_input_registers rc=%d", rc);

	CHECK(modbus_write_bit(ctx, 16, 1) == 1, "write_bit");
	CHECK(modbus_write_bits(ctx, 26, 4, wbits) == 4, "write_bits");
	rc = modbus_read_bits(ctx, 16, 16, bits);
	CHECK(rc == 16 && bits[0] == 1 && bits[10] == 1 && bits[11] == 1 &&
	    bits[12] == 0 && bits[13] == 1, "bits after write rc=%d", rc);
	CHECK(modbus_write_register(ctx, 8, 0xABCD) == 1, "write_register");
	CHECK(modbus_write_registers(ctx, 9, 3, wregs) == 3, "write_registers");
	rc = modbus_read_registers(ctx, 8, 4, regs);
	CHECK(rc == 4 && regs[0] == 0xABCD && regs[1] == 0x1111 &&
	    regs[3] == 0x3333, "registers after write rc=%d", rc);
	/* One call, both directions (FC 23) is not offered: exception 01. */
	rc = modbus_write_and_read_registers(ctx, 8, 1, wregs, 0, 1, regs);
	CHECK(rc == -1 && errno == EMBXILFUN, "fc23 rc=%d errno=%d", rc, errno);

	errno = 0;
	CHECK(modbus_read_registers(ctx, 16, 1, regs) == -1 &&
	    errno == EMBXILADD, "read past end errno=%d", errno);
	errno = 0;
	CHECK(modbus_write_bit(ctx, 0, 1) == -1 && errno == EMBXILADD,
	    "write alarm coil errno=%d", errno);
}

static void
check_raw(modbus_t *ctx)
{
	uint8_t		rsp[MODBUS_TCP_MAX_ADU_LENGTH];
	size_t		i;
	int		rc, j, unit_at, extra;

	/* Where the unit id sits, and what the framing adds around it. */
	unit_at = modbus_get_header_length(ctx) - 1;	/* TCP 6, RTU 0 */
	extra = rtu ? 2 : unit_at;			/* CRC | MBAP */
	for (i = 0; i < sizeof(raw_cases) / sizeof(raw_cases[0]); i++) {
		const struct raw_case *c = &raw_cases[i];

		if (rtu && c->req[0] == 0xFF)
			continue;	/* TCP's "any unit", no RTU address */
		modbus_set_slave(ctx, c->req[0]);
		rc = modbus_send_raw_request(ctx, c->req, c->reqlen);
		CHECK(rc == c->reqlen + extra, "%s: send rc=%d", c->what, rc);
		rc = modbus_receive_confirmation(ctx, rsp);
		if (rc != c->rsplen + extra) {
			CHECK(0, "%s: reply length %d, want %d (%s)", c->what,
			    rc, c->rsplen + extra, modbus_strerror(errno));
			continue;
		}
		/* protocol id 0, length = unit + PDU, then unit + PDU exact */
		CHECK(rtu || (rsp[2] == 0 && rsp[3] == 0 && rsp[4] == 0 &&
		    rsp[5] == c->rsplen), "%s: MBAP %02x %02x %02x %02x",
		    c->what, rsp[2], rsp[3], rsp[4], rsp[5]);
		if (memcmp(rsp + unit_at, c->rsp, (size_t)c->rsplen) != 0) {
			fprintf(stderr, "%s: got", c->what);
			for (j = 0; j < rc; j++)
				fprintf(stderr, " %02x", rsp[j]);
			fputc('\n', stderr);
			CHECK(0, "%s: reply bytes differ", c->what);
		}
	}
	modbus_set_slave(ctx, 1);
}

int
main(int argc, char *argv[])
{
	modbus_t	*ctx;
	char		*end;
	long		 port;

	if (argc == 3 && strcmp(argv[1], "-s") == 0) {
		rtu = 1;
		ctx = modbus_new_rtu(argv[2], 19200, 'N', 8, 1);
	} else if (argc == 2) {
		port = strtol(argv[1], &end, 10);
		if (*end != '\0' || port < 1 || port > 65535)
			return 2;
		ctx = modbus_new_tcp("127.0.0.1", (int)port);
	} else {
		fprintf(stderr, "usage: m2mfw_libmodbus_check port | -s tty\n");
		return 2;
	}
	if (ctx == NULL)
		return 1;
	modbus_set_slave(ctx, 1);
	modbus_set_response_timeout(ctx, 2, 0);
	if (modbus_connect(ctx) == -1) {
		fprintf(stderr, "connect: %s\n", modbus_strerror(errno));
		modbus_free(ctx);
		return 1;
	}
	check_api(ctx);
	check_raw(ctx);
	modbus_close(ctx);
	modbus_free(ctx);
	if (failures == 0)
		printf("libmodbus check (%s): all passed (%zu raw cases%s)\n",
		    rtu ? "RTU" : "TCP", sizeof(raw_cases) / sizeof(raw_cases[0]),
		    rtu ? ", less unit 255" : "");
	return failures == 0 ? 0 : 1;
}
