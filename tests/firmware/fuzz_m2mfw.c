/*
 * fuzz_m2mfw.c - libFuzzer target for the firmware core: the input is a
 * byte stream as a client would send it, framed and answered the way the
 * Arduino wrapper does. Checks: no out-of-bounds access (ASan), every reply
 * fits the buffer, is well-formed MBAP and echoes the request's header.
 *   clang -g -fsanitize=fuzzer,address,undefined -Isrc/firmware \
 *       tests/firmware/fuzz_m2mfw.c src/firmware/m2mfw.c -o fuzz_m2mfw
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "m2mfw.h"

static void
fuzz_on_write(void *arg, enum m2mfw_table t, uint16_t addr, uint16_t v)
{
	const struct m2mfw *fw = arg;

	if (t == M2MFW_COILS && (addr < fw->cfg.coil_wr_first || v > 1))
		abort();
	if (t == M2MFW_HOLDING && addr < fw->cfg.hold_wr_first)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct m2mfw		fw;
	static struct m2mfw_std_tables	t;
	struct m2mfw_config		cfg;
	uint8_t				resp[M2MFW_ADU_MAX];
	uint8_t				*copy;
	size_t				off = 0;
	int				n, r;

	m2mfw_std_config(&cfg, &t, 1);
	cfg.on_write = fuzz_on_write;
	cfg.arg = &fw;
	if (m2mfw_init(&fw, &cfg) != 0)
		abort();
	while (off < size) {
		/* An exact-size copy so ASan sees any read past the frame. */
		copy = malloc(size - off);
		if (copy == NULL)
			return 0;
		memcpy(copy, data + off, size - off);
		n = m2mfw_frame_len(copy, size - off);
		r = m2mfw_handle(&fw, copy, size - off, resp, sizeof(resp));
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
	return 0;
}
