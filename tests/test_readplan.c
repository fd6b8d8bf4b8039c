/*
 * Unit tests for readplan.c: the request count is minimal (checked against
 * an independent dynamic programme on random layouts and by hand on the
 * tricky ones), limits are kept, lookups honour the per-request ok flag.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/config.h"
#include "modbus2mail/readplan.h"

#include "test_common.h"

/* Coalesces and checks the invariants every plan must keep. */
static size_t
plan(enum config_source t, const struct readplan_span *s, size_t n,
    struct readplan_req *out)
{
	unsigned limit = t <= SOURCE_DISCRETE_INPUT ? READPLAN_MAX_BITS :
	    READPLAN_MAX_REGS;
	size_t nreq, i, j;
	unsigned a, k;

	nreq = readplan_coalesce(t, s, n, out);
	assert_true(nreq <= n);
	for (i = 0; i < nreq; i++) {
		assert_int_equal(out[i].table, t);
		assert_true(out[i].count >= 1 && out[i].count <= limit);
		assert_true((unsigned)out[i].addr + out[i].count <= 65536);
		if (i > 0)	/* sorted; a kept-whole 32-bit may overlap */
			assert_true(out[i].addr > out[i - 1].addr);
	}
	for (i = 0; i < n; i++)
		for (k = 0; k < s[i].len; k++) {
			a = s[i].addr + k;
			if (a > 65535)
				continue;
			for (j = 0; j < nreq; j++)
				if (a >= out[j].addr &&
				    a < (unsigned)out[j].addr + out[j].count)
					break;
			assert_true(j < nreq);	/* covered */
		}
	return nreq;
}

static size_t
plan_addrs(enum config_source t, const uint16_t *a, size_t n,
    struct readplan_req *out)
{
	struct readplan_span s[64];
	size_t i;

	assert_true(n <= 64);
	for (i = 0; i < n; i++) {
		s[i].addr = a[i];
		s[i].len = 1;
	}
	return plan(t, s, n, out);
}

static void
test_limits(void **state)
{
	struct readplan_req r[8];
	uint16_t a[4];

	(void)state;
	assert_int_equal(plan_addrs(SOURCE_HOLDING_REGISTER, a, 0, r), 0);
	a[0] = 0; a[1] = 124;
	assert_int_equal(plan_addrs(SOURCE_HOLDING_REGISTER, a, 2, r), 1);
	assert_int_equal(r[0].addr, 0);
	assert_int_equal(r[0].count, 125);
	a[1] = 125;
	assert_int_equal(plan_addrs(SOURCE_INPUT_REGISTER, a, 2, r), 2);
	a[0] = 0; a[1] = 1999;
	assert_int_equal(plan_addrs(SOURCE_COIL, a, 2, r), 1);
	assert_int_equal(r[0].count, 2000);
	a[1] = 2000;
	assert_int_equal(plan_addrs(SOURCE_DISCRETE_INPUT, a, 2, r), 2);
	/* a bit table happily reads 2000 bits, a register table cannot */
	a[0] = 10; a[1] = 500;
	assert_int_equal(plan_addrs(SOURCE_COIL, a, 2, r), 1);
	assert_int_equal(plan_addrs(SOURCE_HOLDING_REGISTER, a, 2, r), 2);
	/* top of the address space */
	a[0] = 65535; a[1] = 65411;
	assert_int_equal(plan_addrs(SOURCE_HOLDING_REGISTER, a, 2, r), 1);
	assert_int_equal(r[0].addr, 65411);
	assert_int_equal(r[0].count, 125);
}

static void
test_gaps_duplicates_order(void **state)
{
	struct readplan_req r[16];
	uint16_t a[] = { 100, 0, 50, 50, 0, 100, 100 };
	uint16_t b[] = { 300, 0, 124, 250, 125, 249, 374 };

	(void)state;
	/* gaps merged: one request of 101 registers, not three */
	assert_int_equal(plan_addrs(SOURCE_HOLDING_REGISTER, a, 7, r), 1);
	assert_int_equal(r[0].addr, 0);
	assert_int_equal(r[0].count, 101);
	/* 0..124 | 125..249 | 250..374: exactly three, none merged wrongly */
	assert_int_equal(plan_addrs(SOURCE_HOLDING_REGISTER, b, 7, r), 3);
	assert_int_equal(r[0].addr, 0);
	assert_int_equal(r[1].addr, 125);
	assert_int_equal(r[2].addr, 250);
	assert_int_equal(r[2].count, 125);
}

static void
test_32bit_spans(void **state)
{
	struct readplan_req r[8];
	struct readplan_span s[4];

	(void)state;
	/* 32-bit at 124 straddles the first window: 2 requests either way,
	 * and the value is kept whole in the second one */
	s[0] = (struct readplan_span){ 0, 1 };
	s[1] = (struct readplan_span){ 124, 2 };
	assert_int_equal(plan(SOURCE_HOLDING_REGISTER, s, 2, r), 2);
	assert_int_equal(r[1].addr, 124);
	assert_int_equal(r[1].count, 2);
	/* 0, 124+125, 249: whole needs 3, split 2 -> split wins */
	s[2] = (struct readplan_span){ 249, 1 };
	assert_int_equal(plan(SOURCE_HOLDING_REGISTER, s, 3, r), 2);
	assert_int_equal(r[0].count, 125);
	assert_int_equal(r[1].addr, 125);
	/* two floats back to back fit one request */
	s[0] = (struct readplan_span){ 10, 2 };
	s[1] = (struct readplan_span){ 12, 2 };
	assert_int_equal(plan(SOURCE_INPUT_REGISTER, s, 2, r), 1);
	assert_int_equal(r[0].count, 4);
	/* overlapping and duplicate 32-bit spans */
	s[0] = (struct readplan_span){ 10, 2 };
	s[1] = (struct readplan_span){ 11, 2 };
	s[2] = (struct readplan_span){ 10, 2 };
	s[3] = (struct readplan_span){ 11, 1 };
	assert_int_equal(plan(SOURCE_INPUT_REGISTER, s, 4, r), 1);
	assert_int_equal(r[0].addr, 10);
	assert_int_equal(r[0].count, 3);
	/* 32-bit exactly filling a window's end */
	s[0] = (struct readplan_span){ 0, 1 };
	s[1] = (struct readplan_span){ 123, 2 };
	assert_int_equal(plan(SOURCE_HOLDING_REGISTER, s, 2, r), 1);
	/* a 32-bit span at 65535 cannot have a second register */
	s[0] = (struct readplan_span){ 65535, 2 };
	assert_int_equal(plan(SOURCE_HOLDING_REGISTER, s, 1, r), 1);
	assert_int_equal(r[0].count, 1);
}

/* Independent minimum: DP over sorted distinct points. */
static size_t
dp_min(const unsigned *pts, size_t m, unsigned limit)
{
	size_t f[200], i, j;

	f[0] = 0;
	for (i = 1; i <= m; i++) {
		f[i] = SIZE_MAX;
		for (j = 0; j < i; j++)
			if (pts[i - 1] - pts[j] < limit && f[j] + 1 < f[i])
				f[i] = f[j] + 1;
	}
	return f[m];
}

static int
ucmp(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return (x > y) - (x < y);
}

static void
test_random_minimal(void **state)
{
	struct readplan_span s[60];
	struct readplan_req r[60];
	unsigned pts[200], seed = 12345, span, k;
	size_t iter, n, m, i, j;
	enum config_source t;

	(void)state;
	for (iter = 0; iter < 3000; iter++) {
		seed = seed * 1103515245u + 12345u;
		t = (enum config_source)((seed >> 16) % 4);
		n = 1 + (seed >> 8) % 60;
		span = t <= SOURCE_DISCRETE_INPUT ? 9000 : 700;
		for (i = 0; i < n; i++) {
			seed = seed * 1103515245u + 12345u;
			s[i].addr = (uint16_t)((seed >> 8) % span);
			s[i].len = t > SOURCE_DISCRETE_INPUT &&
			    (seed >> 4) % 3 == 0 ? 2 : 1;
		}
		for (i = m = 0; i < n; i++)
			for (k = 0; k < s[i].len; k++)
				pts[m++] = s[i].addr + k;
		qsort(pts, m, sizeof(*pts), ucmp);
		for (i = j = 0; i < m; i++)
			if (j == 0 || pts[j - 1] != pts[i])
				pts[j++] = pts[i];
		assert_int_equal(plan(t, s, n, r), dp_min(pts, j,
		    t <= SOURCE_DISCRETE_INPUT ? READPLAN_MAX_BITS :
		    READPLAN_MAX_REGS));
	}
}

static void
test_build_and_lookup(void **state)
{
	struct config *cfg;
	struct readplan p;
	uint16_t w[2];
	size_t i;
	int bit;

	(void)state;
	cfg = test_config_load(HDR
	    "    heartbeat: {holding_register: 0, stale_after: 10s}\n"
	    "  - name: d2\n"
	    "    host: 127.0.0.2\n"
	    "rules:\n"
	    "  - {name: c1, device: d1, coil: 12, ack: {coil: 100}}\n"
	    "  - {name: c2, device: d1, coil: 2012}\n"
	    "  - {name: c3, device: d1, coil: 12}\n"
	    "  - {name: di, device: d1, discrete_input: 5, "
	    "ack: {discrete_input: 6}}\n"
	    "  - {name: t, device: d1, holding_register: 123, type: float32, "
	    "above: 1}\n"
	    "  - {name: w, device: d1, holding_register: 30, bit: 3}\n"
	    "  - {name: far, device: d1, holding_register: 400, above: 1}\n"
	    "  - {name: ir, device: d1, input_register: 7, type: int32, "
	    "order: CDAB, below: 0}\n"
	    "  - {name: other, device: d2, coil: 5000}\n");
	assert_int_equal(readplan_build(cfg, 0, &p), 0);
	/* coils 12,100 | 2012; di 5,6; hr 0..124 | 400; ir 7..8 */
	assert_int_equal(readplan_count(&p, SOURCE_COIL), 2);
	assert_int_equal(readplan_count(&p, SOURCE_DISCRETE_INPUT), 1);
	assert_int_equal(readplan_count(&p, SOURCE_HOLDING_REGISTER), 2);
	assert_int_equal(readplan_count(&p, SOURCE_INPUT_REGISTER), 1);
	assert_int_equal(p.nreq, 6);
	assert_int_equal(p.req[0].addr, 12);
	assert_int_equal(p.req[0].count, 89);
	assert_int_equal(p.req[2].addr, 5);
	assert_int_equal(p.req[2].count, 2);
	assert_int_equal(p.req[3].addr, 0);
	assert_int_equal(p.req[3].count, 125);
	assert_int_equal(p.req[5].addr, 7);
	assert_int_equal(p.req[5].count, 2);
	/* nothing is read yet: every lookup is unavailable */
	assert_int_equal(readplan_bit(&p, SOURCE_COIL, 12, &bit), -1);
	assert_int_equal(readplan_reg(&p, SOURCE_HOLDING_REGISTER, 0, w), -1);
	for (i = 0; i < p.nreq; i++) {
		p.req[i].ok = 1;
		if (p.req[i].bits != NULL)
			memset(p.req[i].bits, 0, p.req[i].count);
	}
	p.req[0].bits[0] = 1;		/* coil 12 */
	p.req[0].bits[88] = 1;		/* coil 100 */
	p.req[3].regs[123] = 0x42C8;
	p.req[3].regs[124] = 0x0000;
	assert_int_equal(readplan_bit(&p, SOURCE_COIL, 12, &bit), 0);
	assert_int_equal(bit, 1);
	assert_int_equal(readplan_bit(&p, SOURCE_COIL, 100, &bit), 0);
	assert_int_equal(bit, 1);
	assert_int_equal(readplan_bit(&p, SOURCE_COIL, 13, &bit), 0);
	assert_int_equal(bit, 0);
	assert_int_equal(readplan_regs(&p, SOURCE_HOLDING_REGISTER, 123, 2,
	    w), 0);
	assert_int_equal(w[0], 0x42C8);
	/* wrong table or outside every request */
	assert_int_equal(readplan_bit(&p, SOURCE_DISCRETE_INPUT, 12, &bit), -1);
	assert_int_equal(readplan_reg(&p, SOURCE_HOLDING_REGISTER, 200, w), -1);
	assert_int_equal(readplan_reg(&p, SOURCE_COIL, 12, w), -1);
	/* a failed request makes only its own addresses unavailable */
	p.req[1].ok = 0;
	assert_int_equal(readplan_bit(&p, SOURCE_COIL, 2012, &bit), -1);
	assert_int_equal(readplan_bit(&p, SOURCE_COIL, 12, &bit), 0);
	readplan_invalidate(&p);
	assert_int_equal(readplan_bit(&p, SOURCE_COIL, 12, &bit), -1);
	assert_int_equal(readplan_regs(&p, SOURCE_HOLDING_REGISTER, 123, 2,
	    w), -1);
	readplan_free(&p);
	assert_int_equal(p.nreq, 0);
	/* d2 has one coil; a device without rules has an empty plan */
	assert_int_equal(readplan_build(cfg, 1, &p), 0);
	assert_int_equal(p.nreq, 1);
	readplan_free(&p);
	config_free(cfg);
}

static void
test_forty_bits_one_request(void **state)
{
	char yaml[8192], *p;
	struct config *cfg;
	struct readplan rp;
	int i;

	(void)state;
	p = yaml + snprintf(yaml, sizeof(yaml), "%srules:\n", HDR);
	for (i = 0; i < 40; i++)
		p += snprintf(p, sizeof(yaml) - (size_t)(p - yaml),
		    "  - {name: b%d, device: d1, coil: %d}\n", i, 100 + i);
	cfg = test_config_load(yaml);
	assert_int_equal(readplan_build(cfg, 0, &rp), 0);
	assert_int_equal(rp.nreq, 1);
	assert_int_equal(rp.req[0].addr, 100);
	assert_int_equal(rp.req[0].count, 40);
	readplan_free(&rp);
	config_free(cfg);
}

/* A poller keeps its plan as long as it runs: sized to the plan, not to
 * every rule of the configuration (was 9 MB per device at 10,000 rules). */
static void
test_plan_sized_to_device(void **state)
{
	struct config *cfg = test_config_many(10000);
	struct readplan p;
	size_t used, dev;

	(void)state;
	for (dev = 0; dev < 2; dev++) {
		used = test_heap_in_use();
		readplan_build(cfg, dev, &p);
		used = test_heap_in_use() - used;
		assert_int_equal(p.nreq, dev == 0 ? 1 : 5);
		/* requests plus their bit buffers */
		assert_true(used <= p.nreq * (sizeof(*p.req) + 2000 + 64));
		readplan_free(&p);
	}
	config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_gaps_duplicates_order),
		cmocka_unit_test(test_32bit_spans),
		cmocka_unit_test(test_random_minimal),
		cmocka_unit_test(test_build_and_lookup),
		cmocka_unit_test(test_forty_bits_one_request),
		cmocka_unit_test(test_plan_sized_to_device),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
