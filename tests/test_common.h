/*
 * test_common.h - pieces shared by the cmocka tests of the pure modules:
 * a one-device configuration header and a loader that must succeed.
 * Include after <cmocka.h>.
 */
#ifndef M2M_TEST_COMMON_H
#define M2M_TEST_COMMON_H

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
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

/* HDR, one rule on d1, then device d2 with n coil rules (the benchmark's
 * size: 10,000 rules over 20 devices). */
static inline struct config *
test_config_many(size_t n)
{
	struct config *cfg;
	char *yaml = NULL;
	size_t len = 0, i;
	FILE *f = open_memstream(&yaml, &len);

	assert_non_null(f);
	fputs(HDR "  - name: d2\n    host: 127.0.0.1\nrules:\n"
	    "  - {name: one, device: d1, coil: 7}\n", f);
	for (i = 0; i < n; i++)
		fprintf(f, "  - {name: r%zu, device: d2, coil: %zu}\n", i,
		    i % 65536);
	assert_int_equal(fclose(f), 0);
	cfg = test_config_load(yaml);
	free(yaml);
	return cfg;
}

/* Bytes allocated by the process (glibc: heap and mmapped chunks). */
static inline size_t
test_heap_in_use(void)
{
	struct mallinfo2 m = mallinfo2();

	return m.uordblks + m.hblkhd;
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
