/*
 * readplan.c - minimal Modbus read requests for a device's addresses.
 *
 * Covering points with requests of at most L addresses: starting each
 * request at the lowest address not yet covered and making it L long is
 * optimal (any cover's first request can be moved to start there without
 * covering less). The same holds when every 32-bit value must sit in one
 * request, so both plans are computed and the unsplit one wins on a tie.
 */
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/readplan.h"
#include "modbus2mail/util.h"
#include "modbus2mail/value.h"

static int	readplan_cmp(const void *, const void *);
static unsigned	readplan_limit(enum config_source);
static int	readplan_is_bits(enum config_source);
static size_t	readplan_greedy(enum config_source, const struct readplan_span *,
		    size_t, int, struct readplan_req *);
static void	readplan_span_add(struct readplan_span *, size_t *, uint16_t,
		    unsigned);
static size_t	readplan_spans(const struct config *, size_t,
		    enum config_source, struct readplan_span *);
static const struct readplan_req *readplan_find(const struct readplan *,
		    enum config_source, uint16_t);

static int
readplan_cmp(const void *a, const void *b)
{
	const struct readplan_span *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return (x->len > y->len) - (x->len < y->len);
}

static int
readplan_is_bits(enum config_source table)
{
	return table == SOURCE_COIL || table == SOURCE_DISCRETE_INPUT;
}

static unsigned
readplan_limit(enum config_source table)
{
	return readplan_is_bits(table) ? READPLAN_MAX_BITS : READPLAN_MAX_REGS;
}

/*
 * One greedy pass over sorted spans. split: the two registers of a span
 * may land in different requests. out may be NULL to only count.
 */
static size_t
readplan_greedy(enum config_source table, const struct readplan_span *s,
    size_t n, int split, struct readplan_req *out)
{
	unsigned limit = readplan_limit(table), start = 0, end = 0, p, last;
	size_t i, nreq = 0;

	for (i = 0; i < n; i++) {
		last = (unsigned)s[i].addr + s[i].len - 1;
		for (p = s[i].addr; p <= last; p = split ? p + 1 : last + 1) {
			if (nreq > 0 && (split ? p : last) < start + limit) {
				if ((split ? p : last) > end)
					end = split ? p : last;
				if (out != NULL)
					out[nreq - 1].count =
					    (uint16_t)(end - start + 1);
				continue;
			}
			start = p;
			end = split ? p : last;
			if (out != NULL) {
				memset(&out[nreq], 0, sizeof(out[nreq]));
				out[nreq].table = table;
				out[nreq].addr = (uint16_t)start;
				out[nreq].count = (uint16_t)(end - start + 1);
			}
			nreq++;
		}
	}
	return nreq;
}

size_t
readplan_coalesce(enum config_source table, const struct readplan_span *spans,
    size_t n, struct readplan_req *out)
{
	struct readplan_span *s;
	size_t i, whole, split;

	if (n == 0)
		return 0;
	s = xcalloc(n, sizeof(*s));
	memcpy(s, spans, n * sizeof(*s));
	for (i = 0; i < n; i++) {
		if (s[i].len == 0 || readplan_is_bits(table))
			s[i].len = 1;
		if (s[i].len > 2 || (unsigned)s[i].addr + s[i].len > 65536)
			s[i].len = (uint16_t)(s[i].addr == 65535 ? 1 : 2);
	}
	qsort(s, n, sizeof(*s), readplan_cmp);
	whole = readplan_greedy(table, s, n, 0, NULL);
	split = readplan_greedy(table, s, n, 1, NULL);
	readplan_greedy(table, s, n, whole > split, out);
	free(s);
	return whole > split ? split : whole;
}

static void
readplan_span_add(struct readplan_span *v, size_t *n, uint16_t addr,
    unsigned len)
{
	v[*n].addr = addr;
	v[*n].len = (uint16_t)len;
	(*n)++;
}

/* Spans of one table a device needs; out has room for two per rule of
 * the device, plus one. */
static size_t
readplan_spans(const struct config *cfg, size_t device,
    enum config_source table, struct readplan_span *out)
{
	const struct config_device *d = &cfg->devices[device];
	size_t i, n = 0;

	for (i = 0; i < cfg->nrules; i++) {
		const struct config_rule *r = &cfg->rules[i];

		if (r->device != device)
			continue;
		if (r->source == table)
			readplan_span_add(out, &n, r->address,
			    readplan_is_bits(table) || r->bit >= 0 ? 1 :
			    value_nregs(r->type));
		if (r->ack && r->ack_source == table)
			readplan_span_add(out, &n, r->ack_address, 1);
	}
	if (d->heartbeat && d->heartbeat_source == table)
		readplan_span_add(out, &n, d->heartbeat_address, 1);
	return n;
}

int
readplan_build(const struct config *cfg, size_t device, struct readplan *p)
{
	static const enum config_source tables[] = { SOURCE_COIL,
		SOURCE_DISCRETE_INPUT, SOURCE_HOLDING_REGISTER,
		SOURCE_INPUT_REGISTER };
	struct readplan_span *spans;
	struct readplan_req *out;
	size_t t, n, i, cap = 1;

	memset(p, 0, sizeof(*p));
	for (i = 0; i < cfg->nrules; i++)
		cap += 2 * (cfg->rules[i].device == device);
	spans = xcalloc(cap, sizeof(*spans));
	out = xcalloc(cap, sizeof(*out));
	/* sized to the plan: a poller keeps it as long as it runs */
	for (t = 0; t < sizeof(tables) / sizeof(tables[0]); t++) {
		n = readplan_spans(cfg, device, tables[t], spans);
		n = readplan_coalesce(tables[t], spans, n, out);
		p->req = xreallocarray(p->req, p->nreq + n + 1,
		    sizeof(*p->req));
		memcpy(p->req + p->nreq, out, n * sizeof(*out));
		p->nreq += n;
	}
	free(out);
	free(spans);
	for (i = 0; i < p->nreq; i++) {
		struct readplan_req *rq = &p->req[i];

		if (readplan_is_bits(rq->table))
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

size_t
readplan_count(const struct readplan *p, enum config_source table)
{
	size_t i, n = 0;

	for (i = 0; i < p->nreq; i++)
		n += p->req[i].table == table;
	return n;
}

/* The successful request holding addr, or NULL. */
static const struct readplan_req *
readplan_find(const struct readplan *p, enum config_source table,
    uint16_t addr)
{
	size_t i;

	for (i = 0; i < p->nreq; i++) {
		const struct readplan_req *rq = &p->req[i];

		if (rq->table == table && rq->ok && addr >= rq->addr &&
		    (unsigned)addr - rq->addr < rq->count)
			return rq;
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

int
readplan_regs(const struct readplan *p, enum config_source table,
    uint16_t addr, unsigned n, uint16_t *out)
{
	unsigned i;

	for (i = 0; i < n; i++)
		if ((unsigned)addr + i > 65535 ||
		    readplan_reg(p, table, (uint16_t)(addr + i), &out[i]) == -1)
			return -1;
	return 0;
}
