/*
 * m2mfw.c - Modbus server core and its Modbus/TCP framing (see m2mfw.h).
 *
 * Frame layout (Modbus Messaging on TCP/IP Implementation Guide V1.0b §3.1):
 * transaction id (2), protocol id (2, always 0), length (2, counts the unit
 * id and the PDU), unit id (1), PDU (function code + data, at most 253).
 * Every field is big-endian. Checks follow the Application Protocol V1.1b3
 * state diagrams: function code -> 01, quantity / byte count / implied
 * length / coil value -> 03, address range -> 02.
 */
#include <string.h>

#include "m2mfw.h"

#define MBAP_LEN	7
#define READ_BITS_MAX	2000	/* FC 1, 2 */
#define READ_REGS_MAX	125	/* FC 3, 4 */
#define WRITE_BITS_MAX	1968	/* FC 15 */
#define WRITE_REGS_MAX	123	/* FC 16 */

static uint16_t	 get16(const uint8_t *);
static void	 put16(uint8_t *, uint16_t);
static int	 bit_at(const uint8_t *, uint16_t);
static void	 bit_put(uint8_t *, uint16_t, int);
static void	 bits_copy(uint8_t *, uint16_t, const uint8_t *, uint16_t,
		    uint16_t);
static int	 in_range(uint16_t, uint16_t, uint16_t, uint16_t);
static int	 m2mfw_exception(struct m2mfw *, uint8_t *, uint8_t, uint8_t);
static int	 m2mfw_read(struct m2mfw *, const uint8_t *, size_t,
		    uint8_t *, size_t);
static int	 m2mfw_write_single(struct m2mfw *, const uint8_t *, size_t,
		    uint8_t *);
static int	 m2mfw_write_multi(struct m2mfw *, const uint8_t *, size_t,
		    uint8_t *);
static void	 m2mfw_notify(struct m2mfw *, enum m2mfw_table, uint16_t,
		    uint16_t);

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static int
bit_at(const uint8_t *bits, uint16_t i)
{
	return (bits[i >> 3] >> (i & 7)) & 1;
}

static void
bit_put(uint8_t *bits, uint16_t i, int on)
{
	uint8_t m = (uint8_t)(1u << (i & 7));

	if (on)
		bits[i >> 3] |= m;
	else
		bits[i >> 3] &= (uint8_t)~m;
}

/*
 * Copy qty bits, LSB first, from bit soff of src to bit doff of dst. Walking
 * masks instead of 1 << n: the AVR shifts one bit per instruction.
 */
static void
bits_copy(uint8_t *dst, uint16_t doff, const uint8_t *src, uint16_t soff,
    uint16_t qty)
{
	const uint8_t	*s = src + (soff >> 3);
	uint8_t		*d = dst + (doff >> 3);
	uint8_t		 sm = (uint8_t)(1u << (soff & 7));
	uint8_t		 dm = (uint8_t)(1u << (doff & 7));

	while (qty-- > 0) {
		if (*s & sm)
			*d |= dm;
		else
			*d &= (uint8_t)~dm;
		if ((sm = (uint8_t)(sm << 1)) == 0) {
			sm = 1;
			s++;
		}
		if ((dm = (uint8_t)(dm << 1)) == 0) {
			dm = 1;
			d++;
		}
	}
}

/* [addr, addr + qty) inside [first, first + count); 32-bit sums, no wrap. */
static int
in_range(uint16_t addr, uint16_t qty, uint16_t first, uint16_t count)
{
	return addr >= first &&
	    (uint32_t)addr + qty <= (uint32_t)first + count;
}

int
m2mfw_init(struct m2mfw *fw, const struct m2mfw_config *cfg)
{
	fw->cfg = *cfg;
	fw->requests = 0;
	fw->exceptions = 0;
	if (cfg->coil_wr_count != 0 && !in_range(cfg->coil_wr_first,
	    cfg->coil_wr_count, 0, cfg->ncoils))
		return -1;
	if (cfg->hold_wr_count != 0 && !in_range(cfg->hold_wr_first,
	    cfg->hold_wr_count, 0, cfg->nholding))
		return -1;
	if (cfg->heartbeat != M2MFW_NO_HEARTBEAT &&
	    cfg->heartbeat >= cfg->nholding)
		return -1;
	return 0;
}

void
m2mfw_std_config(struct m2mfw_config *c, struct m2mfw_std_tables *t,
    uint8_t unit_id)
{
	memset(c, 0, sizeof(*c));
	memset(t, 0, sizeof(*t));
	c->coils = t->coils;
	c->ncoils = M2MFW_STD_NCOILS;
	c->discrete = t->discrete;
	c->ndiscrete = M2MFW_STD_NDISCRETE;
	c->holding = t->holding;
	c->nholding = M2MFW_STD_NHOLDING;
	c->input = t->input;
	c->ninput = M2MFW_STD_NINPUT;
	c->coil_wr_first = M2MFW_STD_COIL_WR;
	c->coil_wr_count = M2MFW_STD_NCOILS - M2MFW_STD_COIL_WR;
	c->hold_wr_first = M2MFW_STD_HOLD_WR;
	c->hold_wr_count = M2MFW_STD_NHOLDING - M2MFW_STD_HOLD_WR;
	c->heartbeat = M2MFW_STD_HEARTBEAT;
	c->unit_id = unit_id;
}

int
m2mfw_frame_len(const uint8_t *buf, size_t len)
{
	uint16_t mlen;

	if (len >= 4 && get16(buf + 2) != 0)
		return M2MFW_EPROTO;
	if (len < 6)
		return M2MFW_EINCOMPLETE;
	mlen = get16(buf + 4);
	if (mlen < 2 || mlen > M2MFW_PDU_MAX + 1)
		return M2MFW_EPROTO;
	if (len < (size_t)mlen + 6)
		return M2MFW_EINCOMPLETE;
	return (int)mlen + 6;
}

int
m2mfw_handle(struct m2mfw *fw, const uint8_t *req, size_t len,
    uint8_t *resp, size_t cap)
{
	int	n, r;
	uint8_t	unit;

	if ((n = m2mfw_frame_len(req, len)) < 0)
		return n;
	unit = req[6];
	if (fw->cfg.unit_id != 0 && unit != fw->cfg.unit_id && unit != 0xFF)
		return 0;
	if (cap < MBAP_LEN)
		return M2MFW_ENOSPC;
	r = m2mfw_pdu(fw, req + MBAP_LEN, (size_t)n - MBAP_LEN,
	    resp + MBAP_LEN, cap - MBAP_LEN);
	if (r < 0)
		return r;
	resp[0] = req[0];
	resp[1] = req[1];
	put16(resp + 2, 0);
	put16(resp + 4, (uint16_t)(r + 1));
	resp[6] = unit;
	return MBAP_LEN + r;
}

int
m2mfw_pdu(struct m2mfw *fw, const uint8_t *pdu, size_t plen, uint8_t *out,
    size_t cap)
{
	int	r;

	if (plen < 1 || plen > M2MFW_PDU_MAX)
		return M2MFW_EPROTO;
	if (cap < 5)			/* largest exception or echo reply */
		return M2MFW_ENOSPC;
	switch (pdu[0]) {
	case 1:
	case 2:
	case 3:
	case 4:
		r = m2mfw_read(fw, pdu, plen, out, cap);
		break;
	case 5:
	case 6:
		r = m2mfw_write_single(fw, pdu, plen, out);
		break;
	case 15:
	case 16:
		r = m2mfw_write_multi(fw, pdu, plen, out);
		break;
	default:
		r = m2mfw_exception(fw, out, pdu[0], M2MFW_EX_FUNCTION);
		break;
	}
	if (r > 0)
		fw->requests++;
	return r;
}

static int
m2mfw_exception(struct m2mfw *fw, uint8_t *out, uint8_t fc, uint8_t code)
{
	out[0] = (uint8_t)(fc | 0x80);
	out[1] = code;
	fw->exceptions++;
	return 2;
}

/* FC 1-4: fc addr(2) qty(2) -> fc bytecount (bits packed | registers)... */
static int
m2mfw_read(struct m2mfw *fw, const uint8_t *pdu, size_t plen, uint8_t *out,
    size_t cap)
{
	const uint8_t	*bits = NULL;
	const uint16_t	*regs = NULL;
	uint16_t	 addr, qty, count, max, i, nbytes;

	if (plen != 5)
		return m2mfw_exception(fw, out, pdu[0], M2MFW_EX_VALUE);
	addr = get16(pdu + 1);
	qty = get16(pdu + 3);
	switch (pdu[0]) {
	case 1:
		bits = fw->cfg.coils;
		count = fw->cfg.ncoils;
		break;
	case 2:
		bits = fw->cfg.discrete;
		count = fw->cfg.ndiscrete;
		break;
	case 3:
		regs = fw->cfg.holding;
		count = fw->cfg.nholding;
		break;
	default:
		regs = fw->cfg.input;
		count = fw->cfg.ninput;
		break;
	}
	max = bits != NULL ? READ_BITS_MAX : READ_REGS_MAX;
	if (qty < 1 || qty > max)
		return m2mfw_exception(fw, out, pdu[0], M2MFW_EX_VALUE);
	if (!in_range(addr, qty, 0, count))
		return m2mfw_exception(fw, out, pdu[0], M2MFW_EX_ADDRESS);
	nbytes = bits != NULL ? (uint16_t)((qty + 7) / 8) : (uint16_t)(qty * 2);
	if (cap < (size_t)nbytes + 2)
		return M2MFW_ENOSPC;
	out[0] = pdu[0];
	out[1] = (uint8_t)nbytes;
	if (bits != NULL) {
		memset(out + 2, 0, nbytes);	/* padding bits are 0 */
		bits_copy(out + 2, 0, bits, addr, qty);
	} else {
		for (i = 0; i < qty; i++)
			put16(out + 2 + 2 * i, regs[addr + i]);
	}
	return 2 + (int)nbytes;
}

/* FC 5, 6: fc addr(2) value(2) -> echo of the request. */
static int
m2mfw_write_single(struct m2mfw *fw, const uint8_t *pdu, size_t plen,
    uint8_t *out)
{
	uint16_t	addr, v;

	if (plen != 5)
		return m2mfw_exception(fw, out, pdu[0], M2MFW_EX_VALUE);
	addr = get16(pdu + 1);
	v = get16(pdu + 3);
	if (pdu[0] == 5) {
		if (v != 0x0000 && v != 0xFF00)
			return m2mfw_exception(fw, out, pdu[0], M2MFW_EX_VALUE);
		if (!in_range(addr, 1, fw->cfg.coil_wr_first,
		    fw->cfg.coil_wr_count))
			return m2mfw_exception(fw, out, pdu[0],
			    M2MFW_EX_ADDRESS);
		v = v != 0;
		bit_put(fw->cfg.coils, addr, (int)v);
		m2mfw_notify(fw, M2MFW_COILS, addr, v);
	} else {
		if (!in_range(addr, 1, fw->cfg.hold_wr_first,
		    fw->cfg.hold_wr_count))
			return m2mfw_exception(fw, out, pdu[0],
			    M2MFW_EX_ADDRESS);
		fw->cfg.holding[addr] = v;
		m2mfw_notify(fw, M2MFW_HOLDING, addr, v);
	}
	memcpy(out, pdu, 5);
	return 5;
}

/* FC 15, 16: fc addr(2) qty(2) bytecount data... -> fc addr(2) qty(2). */
static int
m2mfw_write_multi(struct m2mfw *fw, const uint8_t *pdu, size_t plen,
    uint8_t *out)
{
	const uint8_t	*data = pdu + 6;
	uint16_t	 addr, qty, i, first, count, max, need;

	if (plen < 6)
		return m2mfw_exception(fw, out, pdu[0], M2MFW_EX_VALUE);
	addr = get16(pdu + 1);
	qty = get16(pdu + 3);
	if (pdu[0] == 15) {
		max = WRITE_BITS_MAX;
		need = (uint16_t)((qty + 7) / 8);
		first = fw->cfg.coil_wr_first;
		count = fw->cfg.coil_wr_count;
	} else {
		max = WRITE_REGS_MAX;
		need = (uint16_t)(qty * 2);
		first = fw->cfg.hold_wr_first;
		count = fw->cfg.hold_wr_count;
	}
	if (qty < 1 || qty > max || pdu[5] != need || plen != (size_t)6 + need)
		return m2mfw_exception(fw, out, pdu[0], M2MFW_EX_VALUE);
	if (!in_range(addr, qty, first, count))
		return m2mfw_exception(fw, out, pdu[0], M2MFW_EX_ADDRESS);
	if (pdu[0] == 15) {
		bits_copy(fw->cfg.coils, addr, data, 0, qty);
		for (i = 0; i < qty && fw->cfg.on_write != NULL; i++)
			m2mfw_notify(fw, M2MFW_COILS, (uint16_t)(addr + i),
			    (uint16_t)bit_at(data, i));
	} else {
		for (i = 0; i < qty; i++)
			fw->cfg.holding[addr + i] = get16(data + 2 * i);
		for (i = 0; i < qty && fw->cfg.on_write != NULL; i++)
			m2mfw_notify(fw, M2MFW_HOLDING, (uint16_t)(addr + i),
			    get16(data + 2 * i));
	}
	memcpy(out, pdu, 5);
	return 5;
}

static void
m2mfw_notify(struct m2mfw *fw, enum m2mfw_table t, uint16_t addr,
    uint16_t v)
{
	if (fw->cfg.on_write != NULL)
		fw->cfg.on_write(fw->cfg.arg, t, addr, v);
}

void
m2mfw_tick(struct m2mfw *fw)
{
	if (fw->cfg.heartbeat != M2MFW_NO_HEARTBEAT)
		fw->cfg.holding[fw->cfg.heartbeat]++;
}

int
m2mfw_set_bit(struct m2mfw *fw, enum m2mfw_table t, uint16_t addr, int on)
{
	if (t == M2MFW_COILS && addr < fw->cfg.ncoils)
		bit_put(fw->cfg.coils, addr, on);
	else if (t == M2MFW_DISCRETE && addr < fw->cfg.ndiscrete)
		bit_put(fw->cfg.discrete, addr, on);
	else
		return -1;
	return 0;
}

int
m2mfw_get_bit(const struct m2mfw *fw, enum m2mfw_table t, uint16_t addr)
{
	if (t == M2MFW_COILS && addr < fw->cfg.ncoils)
		return bit_at(fw->cfg.coils, addr);
	if (t == M2MFW_DISCRETE && addr < fw->cfg.ndiscrete)
		return bit_at(fw->cfg.discrete, addr);
	return -1;
}

int
m2mfw_set_word(struct m2mfw *fw, enum m2mfw_table t, uint16_t addr,
    uint16_t v)
{
	if (t == M2MFW_HOLDING && addr < fw->cfg.nholding)
		fw->cfg.holding[addr] = v;
	else if (t == M2MFW_INPUT && addr < fw->cfg.ninput)
		fw->cfg.input[addr] = v;
	else
		return -1;
	return 0;
}

int
m2mfw_get_word(const struct m2mfw *fw, enum m2mfw_table t, uint16_t addr,
    uint16_t *v)
{
	if (t == M2MFW_HOLDING && addr < fw->cfg.nholding)
		*v = fw->cfg.holding[addr];
	else if (t == M2MFW_INPUT && addr < fw->cfg.ninput)
		*v = fw->cfg.input[addr];
	else
		return -1;
	return 0;
}
