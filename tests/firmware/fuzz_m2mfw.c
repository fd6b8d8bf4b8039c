/*
 * fuzz_m2mfw.c - libFuzzer target for the firmware core: the input is a
 * byte stream as a client would send it, framed and answered the way the
 * Arduino wrapper does, once as Modbus/TCP and once as Modbus RTU (bytes on
 * a serial line, the first input byte choosing the silences), plus
 * the whole input as one RTU frame given a valid CRC. Checks: no
 * out-of-bounds access (ASan), every reply fits the buffer, TCP replies are
 * well-formed MBAP echoing the request's header, RTU replies carry unit 1
 * and a valid CRC, writes only reach the writable parts.
 *   clang -g -fsanitize=fuzzer,address,undefined -Isrc/firmware \
 *       tests/firmware/fuzz_m2mfw.c src/firmware/m2mfw.c \
 *       src/firmware/m2mfw_rtu.c -o fuzz_m2mfw
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "m2mfw_rtu.h"

static void
fuzz_on_write(void *arg, enum m2mfw_table t, uint16_t addr, uint16_t v)
{
	const struct m2mfw *fw = arg;

	if (t == M2MFW_COILS && (addr < fw->cfg.coil_wr_first || v > 1))
		abort();
	if (t == M2MFW_HOLDING && addr < fw->cfg.hold_wr_first)
		abort();
}

static void	fuzz_tcp(struct m2mfw *, const uint8_t *, size_t);
static void	fuzz_rtu_stream(struct m2mfw *, const uint8_t *, size_t);
static void	fuzz_rtu_frame(struct m2mfw *, const uint8_t *, size_t);
static void	check_rtu_reply(const uint8_t *, int);
int		LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct m2mfw		fw;
	static struct m2mfw_std_tables	t;
	struct m2mfw_config		cfg;

	m2mfw_std_config(&cfg, &t, 1);
	cfg.on_write = fuzz_on_write;
	cfg.arg = &fw;
	if (m2mfw_init(&fw, &cfg) != 0)
		abort();
	fuzz_tcp(&fw, data, size);
	fuzz_rtu_stream(&fw, data, size);
	fuzz_rtu_frame(&fw, data, size);
	return 0;
}

static void
fuzz_tcp(struct m2mfw *fw, const uint8_t *data, size_t size)
{
	uint8_t	 resp[M2MFW_ADU_MAX];
	uint8_t	*copy;
	size_t	 off = 0;
	int	 n, r;

	while (off < size) {
		/* An exact-size copy so ASan sees any read past the frame. */
		copy = malloc(size - off);
		if (copy == NULL)
			return;
		memcpy(copy, data + off, size - off);
		n = m2mfw_frame_len(copy, size - off);
		r = m2mfw_handle(fw, copy, size - off, resp, sizeof(resp));
		if (n <= 0) {
			if (r != n)
				abort();
			free(copy);
			break;
		}
		if (r > 0) {
			if (r < 9 || r > M2MFW_ADU_MAX ||
			    memcmp(resp, copy, 4) != 0 || resp[6] != copy[6] ||
			    ((resp[4] << 8) | resp[5]) != r - 6)
				abort();
		}
		free(copy);
		off += (size_t)n;
	}
}

static void
check_rtu_reply(const uint8_t *resp, int r)
{
	if (r < 0 || (r > 0 && (r < 5 || r > M2MFW_RTU_ADU_MAX ||
	    resp[0] != 1 || m2mfw_crc16(resp, (size_t)r) != 0)))
		abort();
}

/*
 * data[0]'s bit pairs, in turn, give the silence after a byte: a character
 * (0, 1), a frame gap that cuts the frame before its reply is due (2), or
 * t3.5 (3).
 */
static void
fuzz_rtu_stream(struct m2mfw *fw, const uint8_t *data, size_t size)
{
	struct m2mfw_rtu	rtu;
	uint8_t			resp[M2MFW_RTU_ADU_MAX];
	uint32_t		now = 0xFFFF0000u;	/* wraps on the way */
	size_t			i;

	if (m2mfw_rtu_init(&rtu, fw, 19200) != 0)
		abort();
	for (i = 1; i < size; i++) {
		m2mfw_rtu_rx(&rtu, data[i], now);
		switch ((data[0] >> (2 * (i & 3))) & 3) {
		case 2:
			now += rtu.tgap;
			break;
		case 3:
			now += rtu.t35;
			break;
		default:
			now += 573;
		}
		check_rtu_reply(resp, m2mfw_rtu_poll(&rtu, now, resp,
		    sizeof(resp)));
	}
	now += rtu.t35;
	check_rtu_reply(resp, m2mfw_rtu_poll(&rtu, now, resp, sizeof(resp)));
	if (rtu.len != 0)
		abort();
}

/* The input plus its CRC: reaches the PDU handler with any unit id. */
static void
fuzz_rtu_frame(struct m2mfw *fw, const uint8_t *data, size_t size)
{
	uint8_t		 resp[M2MFW_RTU_ADU_MAX];
	uint8_t		*frame;
	uint16_t	 crc;
	int		 r;

	if ((frame = malloc(size + 2)) == NULL)
		return;
	memcpy(frame, data, size);
	crc = m2mfw_crc16(data, size);
	frame[size] = (uint8_t)crc;
	frame[size + 1] = (uint8_t)(crc >> 8);
	r = m2mfw_rtu_handle(fw, frame, size + 2, resp, sizeof(resp));
	if (size + 2 < 4 || size + 2 > M2MFW_RTU_ADU_MAX) {
		if (r != M2MFW_EPROTO)
			abort();
	} else if (frame[0] != 1) {
		if (r != 0)
			abort();
	} else
		check_rtu_reply(resp, r);
	free(frame);
}
