/*
 * readplan.h - coalescing of a device's configured addresses (rule sources,
 * ack bits, heartbeat) into the fewest Modbus read requests the protocol
 * allows (SPEC §4: <= 125 registers, <= 2000 bits per request). Pure: the
 * poller fills the buffers and ok flags; lookups then find each address.
 */
#ifndef MODBUS2MAIL_READPLAN_H
#define MODBUS2MAIL_READPLAN_H

#include <stddef.h>
#include <stdint.h>

#include "modbus2mail/config.h"

#define READPLAN_MAX_BITS 2000	/* FC1/FC2 quantity limit */
#define READPLAN_MAX_REGS 125	/* FC3/FC4 quantity limit */

struct readplan_req {
	enum config_source table;
	uint16_t addr;
	uint16_t count;
	int ok;			/* set by the reader: the values are valid */
	uint8_t *bits;		/* count entries for bit tables, else NULL */
	uint16_t *regs;		/* count entries for register tables */
};

struct readplan {
	struct readplan_req *req;	/* owned */
	size_t nreq;
};

/*
 * Fewest requests covering the n addresses (any order, duplicates fine) of
 * one table: greedy from the lowest address, each request as long as the
 * limit allows, which is optimal for fixed-length cover. Writes at most n
 * requests to out (without buffers) and returns how many.
 */
size_t	readplan_coalesce(enum config_source table, const uint16_t *addrs,
	    size_t n, struct readplan_req *out);
/* Plan for cfg->devices[device], with buffers. -1 on a bad config. */
int	readplan_build(const struct config *, size_t device, struct readplan *);
void	readplan_free(struct readplan *);
/* Marks every request failed (link down). */
void	readplan_invalidate(struct readplan *);
/* Value of one address from a successful request: 0, or -1 unavailable. */
int	readplan_bit(const struct readplan *, enum config_source, uint16_t addr,
	    int *out);
int	readplan_reg(const struct readplan *, enum config_source, uint16_t addr,
	    uint16_t *out);

#endif
