/*
 * test_common.h - pieces shared by the cmocka tests of the pure modules:
 * a one-device configuration header and a loader that must succeed.
 * Include after <cmocka.h>.
 */
#ifndef M2M_TEST_COMMON_H
#define M2M_TEST_COMMON_H

#include <string.h>

#include "modbus2mail/config.h"

/* hostname, smtp, defaults.to and device "d1"; tests append rules. */
#define HDR \
	"hostname: gw\n" \
	"smtp: {url: \"smtp://127.0.0.1:25\", from: a@example.com, tls: none}\n" \
	"defaults: {to: [ops@example.com]}\n" \
	"devices:\n" \
	"  - name: d1\n" \
	"    host: 127.0.0.1\n"

static inline struct config *
test_config_load(const char *yaml)
{
	struct config *cfg;

	cfg = config_load_buffer("test.yaml", yaml, strlen(yaml), stderr);
	assert_non_null(cfg);
	return cfg;
}

#endif
