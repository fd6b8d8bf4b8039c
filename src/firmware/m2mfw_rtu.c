/*
 * m2mfw_rtu.c - Modbus RTU framing over the core's PDU handler (see
 * m2mfw_rtu.h). Timing per Modbus over Serial Line V1.02 §2.5.1.1: inside
 * a frame bytes are at most 1.5 characters apart, between frames at least
 * 3.5 characters of silence pass. The caller's timestamps are taken as it
 * reads a UART buffer, not as bytes arrive, so they jitter by up to its
 * loop time: a frame is cut at the middle of the two limits, replies wait
 * the full 3.5 characters.
 */
#include "m2mfw_rtu.h"

#define RTU_MIN		4	/* address, function code, CRC */
#define T35_FAST_US	1750	/* fixed t3.5 above 19200 baud */
#define TGAP_FAST_US	1250	/* between that t1.5 (750 us) and t3.5 */

enum rtu_verdict {
	RTU_OURS,		/* ours, or a broadcast write: answer it */
	RTU_OTHER,		/* a valid frame for another unit, or a broadcast read */
	RTU_BAD			/* length or CRC: drop it */
};

static int		is_write(uint8_t);
static enum rtu_verdict	rtu_check(const struct m2mfw *, const uint8_t *,
			    size_t);
static void		rtu_cut(struct m2mfw_rtu *);

uint16_t
m2mfw_crc16(const uint8_t *p, size_t n)
{
	uint16_t	crc = 0xFFFF;
	uint8_t		i;

	/* Table-free: 512 B of table would cost an eighth of the flash budget. */
	while (n-- > 0) {
		crc ^= *p++;
		for (i = 0; i < 8; i++)
			crc = (crc & 1) ? (uint16_t)((crc >> 1) ^ 0xA001) :
			    (uint16_t)(crc >> 1);
	}
	return crc;
}

int
m2mfw_rtu_init(struct m2mfw_rtu *r, struct m2mfw *fw, uint32_t baud)
{
	r->fw = fw;
	r->len = 0;
	r->dropped = 0;
	r->last = 0;
	if (baud == 0 || fw->cfg.unit_id == 0 || fw->cfg.unit_id > 247)
		return -1;
	if (baud > 19200) {
		r->t35 = T35_FAST_US;
		r->tgap = TGAP_FAST_US;
	} else {
		/* 3.5 characters of 11 bits: enough for every format. */
		r->t35 = (38500000UL + baud - 1) / baud;
		/*
		 * 26 bit times: between 1.5 characters of 11 bits (16.5) and
		 * 3.5 of 10 bits (35, what a master keeps on an 8N1 line).
		 */
		r->tgap = 26000000UL / baud;
	}
	return 0;
}

void
m2mfw_rtu_rx(struct m2mfw_rtu *r, uint8_t c, uint32_t now)
{
	if (r->len != 0 && now - r->last >= r->tgap)
		rtu_cut(r);
	r->last = now;
	if (r->len < sizeof(r->buf))
		r->buf[r->len++] = c;
	else
		r->len = sizeof(r->buf) + 1;	/* dropped at the frame's end */
}

/*
 * The next frame began before the reply's turn: too late to answer (the
 * master has moved on), but a broadcast write, which wants no reply, is
 * applied all the same.
 */
static void
rtu_cut(struct m2mfw_rtu *r)
{
	uint8_t	echo[8];		/* a broadcast write's unsent reply */

	switch (rtu_check(r->fw, r->buf, r->len)) {
	case RTU_OURS:
		if (r->buf[0] == 0) {
			m2mfw_rtu_handle(r->fw, r->buf, r->len, echo,
			    sizeof(echo));
			break;
		}
		/* FALLTHROUGH */
	case RTU_BAD:
		r->dropped++;
		break;
	case RTU_OTHER:
		break;
	}
	r->len = 0;
}

int
m2mfw_rtu_poll(struct m2mfw_rtu *r, uint32_t now, uint8_t *resp, size_t cap)
{
	uint16_t	len = r->len;
	int		n;

	if (len == 0 || now - r->last < r->t35)
		return 0;
	r->len = 0;
	n = m2mfw_rtu_handle(r->fw, r->buf, len, resp, cap);
	if (n == M2MFW_EPROTO) {
		r->dropped++;
		return 0;
	}
	return n;
}

static int
is_write(uint8_t fc)
{
	return fc == 5 || fc == 6 || fc == 15 || fc == 16;
}

static enum rtu_verdict
rtu_check(const struct m2mfw *fw, const uint8_t *req, size_t len)
{
	if (len < RTU_MIN || len > M2MFW_RTU_ADU_MAX || m2mfw_crc16(req, len))
		return RTU_BAD;
	/* Broadcast reads are meaningless (Serial Line §2.1): ignored. */
	if (req[0] == 0 ? !is_write(req[1]) : req[0] != fw->cfg.unit_id)
		return RTU_OTHER;
	return RTU_OURS;
}

int
m2mfw_rtu_handle(struct m2mfw *fw, const uint8_t *req, size_t len,
    uint8_t *resp, size_t cap)
{
	uint16_t	crc;
	int		n;

	switch (rtu_check(fw, req, len)) {
	case RTU_BAD:
		return M2MFW_EPROTO;
	case RTU_OTHER:
		return 0;
	case RTU_OURS:
		break;
	}
	if (cap < 3)
		return M2MFW_ENOSPC;
	n = m2mfw_pdu(fw, req + 1, len - 3, resp + 1, cap - 3);
	if (n < 0 || req[0] == 0)
		return n < 0 ? n : 0;
	resp[0] = req[0];
	crc = m2mfw_crc16(resp, (size_t)n + 1);
	resp[n + 1] = (uint8_t)crc;
	resp[n + 2] = (uint8_t)(crc >> 8);
	return n + 3;
}
