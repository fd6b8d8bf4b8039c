/*
 * readplan.c - minimal Modbus read requests for a device's addresses.
 */
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/readplan.h"
#include "modbus2mail/util.h"

static int	readplan_cmp(const void *, const void *);
static size_t	readplan_addrs(const struct config *, size_t,
		    enum config_source, uint16_t *);

static int
readplan_cmp(const void *a, const void *b)
{
	uint16_t x = *(const uint16_t *)a, y = *(const uint16_t *)b;

	return x < y ? -1 : x > y;
}

size_t
readplan_coalesce(enum config_source table, const uint16_t *addrs, size_t n,
    struct readplan_req *out)
{
	unsigned limit = table == SOURCE_COIL || table == SOURCE_DISCRETE_INPUT ?
	    READPLAN_MAX_BITS : READPLAN_MAX_REGS;
	uint16_t *sorted;
	size_t i, nreq = 0;

	if (n == 0)
		return 0;
	sorted = xcalloc(n, sizeof(*sorted));
	memcpy(sorted, addrs, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), readplan_cmp);
	for (i = 0; i < n; i++) {
		struct readplan_req *last = nreq ? &out[nreq - 1] : NULL;

		/* Gaps cost nothing on the wire compared to a round trip. */
		if (last != NULL && (unsigned)sorted[i] - last->addr < limit) {
			last->count = (uint16_t)(sorted[i] - last->addr + 1);
			continue;
		}
		memset(&out[nreq], 0, sizeof(out[nreq]));
		out[nreq].table = table;
		out[nreq].addr = sorted[i];
		out[nreq].count = 1;
		nreq++;
	}
	free(sorted);
	return nreq;
}

/* Addresses of one table a device needs; out has room for 2 * nrules + 2. */
static size_t
readplan_addrs(const struct config *cfg, size_t device,
    enum config_source table, uint16_t *out)
{
	const struct config_device *d = &cfg->devices[device];
	size_t i, n = 0;

	for (i = 0; i < cfg->nrules; i++) {
		const struct config_rule *r = &cfg->rules[i];

		if (r->device != device)
			continue;
		if (r->source == table) {
			out[n++] = r->address;
			if (r->type >= VTYPE_UINT32 && r->address < 65535)
				out[n++] = (uint16_t)(r->address + 1);
		}
		if (r->ack && r->ack_source == table)
			out[n++] = r->ack_address;
	}
	if (d->heartbeat && d->heartbeat_source == table)
		out[n++] = d->heartbeat_address;
	return n;
}

int
readplan_build(const struct config *cfg, size_t device, struct readplan *p)
{
	static const enum config_source tables[] = { SOURCE_COIL,
		SOURCE_DISCRETE_INPUT, SOURCE_HOLDING_REGISTER,
		SOURCE_INPUT_REGISTER };
	uint16_t *addrs;
	size_t t, n, i, cap = 2 * cfg->nrules + 2;

	memset(p, 0, sizeof(*p));
	addrs = xcalloc(cap, sizeof(*addrs));
	p->req = xcalloc(4 * cap, sizeof(*p->req));
	for (t = 0; t < 4; t++) {
		n = readplan_addrs(cfg, device, tables[t], addrs);
		p->nreq += readplan_coalesce(tables[t], addrs, n,
		    p->req + p->nreq);
	}
	free(addrs);
	for (i = 0; i < p->nreq; i++) {
		struct readplan_req *rq = &p->req[i];

		if (rq->table == SOURCE_COIL ||
		    rq->table == SOURCE_DISCRETE_INPUT)
			rq->bits = xcalloc(rq->count, sizeof(*rq->bits));
		else
			rq->regs = xcalloc(rq->count, sizeof(*rq->regs));
	}
	return 0;
}

void
readplan_free(struct readplan *p)
{
	size_t i;

	for (i = 0; i < p->nreq; i++) {
		free(p->req[i].bits);
		free(p->req[i].regs);
	}
	free(p->req);
	memset(p, 0, sizeof(*p));
}

void
readplan_invalidate(struct readplan *p)
{
	size_t i;

	for (i = 0; i < p->nreq; i++)
		p->req[i].ok = 0;
}

static const struct readplan_req *
readplan_find(const struct readplan *p, enum config_source table,
    uint16_t addr)
{
	size_t i;

	for (i = 0; i < p->nreq; i++) {
		const struct readplan_req *rq = &p->req[i];

		if (rq->table == table && addr >= rq->addr &&
		    (unsigned)addr - rq->addr < rq->count)
			return rq->ok ? rq : NULL;
	}
	return NULL;
}

int
readplan_bit(const struct readplan *p, enum config_source table,
    uint16_t addr, int *out)
{
	const struct readplan_req *rq = readplan_find(p, table, addr);

	if (rq == NULL || rq->bits == NULL)
		return -1;
	*out = rq->bits[addr - rq->addr] != 0;
	return 0;
}

int
readplan_reg(const struct readplan *p, enum config_source table,
    uint16_t addr, uint16_t *out)
{
	const struct readplan_req *rq = readplan_find(p, table, addr);

	if (rq == NULL || rq->regs == NULL)
		return -1;
	*out = rq->regs[addr - rq->addr];
	return 0;
}
