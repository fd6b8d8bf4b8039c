/*
 * readplan.h - coalescing of a device's configured addresses (rule sources,
 * 32-bit second registers, ack bits, heartbeat) into the fewest Modbus read
 * requests the protocol allows (SPEC §4: <= 125 registers, <= 2000 bits per
 * request). Pure: the poller fills each request's buffer and ok flag, the
 * lookups then find every address; an address whose request failed is
 * unavailable, never a value.
 *
 *	readplan_build(cfg, dev, &plan);
 *	each cycle: for every plan.req[i]: read it into bits/regs, set ok
 *	            readplan_reg(&plan, SOURCE_HOLDING_REGISTER, 10, &w) == 0
 *	readplan_free(&plan);
 */
#ifndef MODBUS2MAIL_READPLAN_H
#define MODBUS2MAIL_READPLAN_H

#include <stddef.h>
#include <stdint.h>

#include "modbus2mail/config.h"

#define READPLAN_MAX_BITS 2000	/* FC1/FC2 quantity limit */
#define READPLAN_MAX_REGS 125	/* FC3/FC4 quantity limit */

/* What must be read: len 1, or 2 for a 32-bit value (addr and addr + 1). */
struct readplan_span {
	uint16_t addr;
	uint16_t len;
};

struct readplan_req {
	enum config_source table;
	uint16_t addr;
	uint16_t count;
	int ok;			/* set by the reader: the values are valid */
	char why[80];		/* set by the reader when !ok: the reason */
	uint8_t *bits;		/* count entries for bit tables, else NULL */
	uint16_t *regs;		/* count entries for register tables */
};

struct readplan {
	struct readplan_req *req;	/* owned; sorted by table, then addr */
	size_t nreq;
};

/*
 * Fewest requests of one table covering the n spans (any order, duplicates
 * and overlaps fine). Greedy from the lowest address, each request as long
 * as the limit allows: optimal for covering points with fixed-length
 * requests. A 32-bit span is kept inside one request (no torn value from
 * two reads) whenever that costs no extra request; otherwise its halves
 * may come from two consecutive requests. Gaps are read, never split on:
 * unused registers cost less than another round trip. Writes at most n
 * requests (without buffers) to out and returns how many.
 */
size_t	readplan_coalesce(enum config_source table,
	    const struct readplan_span *spans, size_t n,
	    struct readplan_req *out);
/* Plan for cfg->devices[device], with zeroed buffers, all ok = 0. 0. */
int	readplan_build(const struct config *, size_t device, struct readplan *);
void	readplan_free(struct readplan *);
/* Marks every request failed (link down). */
void	readplan_invalidate(struct readplan *);
/* Requests of one table in the plan (status: requests per cycle). */
size_t	readplan_count(const struct readplan *, enum config_source);
/* Value of one address from a successful request: 0, or -1 unavailable. */
int	readplan_bit(const struct readplan *, enum config_source, uint16_t addr,
	    int *out);
int	readplan_reg(const struct readplan *, enum config_source, uint16_t addr,
	    uint16_t *out);
/* n consecutive registers; -1 when any of them is unavailable. */
int	readplan_regs(const struct readplan *, enum config_source,
	    uint16_t addr, unsigned n, uint16_t *out);

#endif
