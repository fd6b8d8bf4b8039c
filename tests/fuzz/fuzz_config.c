/* libFuzzer target: arbitrary bytes as a configuration file. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "modbus2mail/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct config *cfg;

	if (devnull == NULL && (devnull = fopen("/dev/null", "w")) == NULL)
		return 0;
	cfg = config_load_buffer("fuzz.yaml", (const char *)data, size, devnull);
	config_free(cfg);
	return 0;
}
