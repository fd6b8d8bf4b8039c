/*
 * test_common.h - pieces shared by the cmocka tests of the pure modules:
 * a one-device configuration header and a loader that must succeed.
 * Include after <cmocka.h>.
 */
#ifndef M2M_TEST_COMMON_H
#define M2M_TEST_COMMON_H

#include <string.h>

#include "modbus2mail/config.h"
#include "modbus2mail/readplan.h"

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

/* The request of a read plan that holds addr of table t. */
static inline struct readplan_req *
test_plan_req(struct readplan *p, enum config_source t, uint16_t addr)
{
	size_t i;

	for (i = 0; i < p->nreq; i++)
		if (p->req[i].table == t && addr >= p->req[i].addr &&
		    addr < p->req[i].addr + p->req[i].count)
			return &p->req[i];
	fail_msg("address %u not in the plan", addr);
	return NULL;
}

/* Sets what the PLC "answered" for a bit or a register. */
static inline void
test_plan_bit(struct readplan *p, enum config_source t, uint16_t addr, int v)
{
	struct readplan_req *rq = test_plan_req(p, t, addr);

	rq->bits[addr - rq->addr] = (uint8_t)v;
}

static inline void
test_plan_reg(struct readplan *p, enum config_source t, uint16_t addr,
    uint16_t v)
{
	struct readplan_req *rq = test_plan_req(p, t, addr);

	rq->regs[addr - rq->addr] = v;
}

#endif
