/*
 * m2mfw_rtu.c - Modbus RTU framing over the core's PDU handler (see
 * m2mfw_rtu.h). Timing follows Modbus over Serial Line V1.02 §2.5.1.1; the
 * 1.5-character inter-byte limit is not enforced: a caller that timestamps
 * bytes as it reads them from a UART buffer cannot measure it, and a frame
 * torn by a long gap fails its CRC anyway.
 */
#include "m2mfw_rtu.h"

#define RTU_MIN		4	/* address, function code, CRC */
#define T35_FAST_US	1750	/* fixed t3.5 above 19200 baud */

static int	is_write(uint8_t);

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
	/* 3.5 characters of 11 bits (start, 8 data, parity or stop, stop). */
	r->t35 = baud > 19200 ? T35_FAST_US : (38500000UL + baud - 1) / baud;
	return 0;
}

void
m2mfw_rtu_rx(struct m2mfw_rtu *r, uint8_t c, uint32_t now)
{
	if (r->len != 0 && now - r->last >= r->t35) {
		r->dropped++;
		r->len = 0;
	}
	r->last = now;
	if (r->len < sizeof(r->buf))
		r->buf[r->len++] = c;
	else
		r->len = sizeof(r->buf) + 1;	/* dropped at the frame's end */
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

int
m2mfw_rtu_handle(struct m2mfw *fw, const uint8_t *req, size_t len,
    uint8_t *resp, size_t cap)
{
	uint16_t	crc;
	uint8_t		unit;
	int		n;

	if (len < RTU_MIN || len > M2MFW_RTU_ADU_MAX || m2mfw_crc16(req, len))
		return M2MFW_EPROTO;
	unit = req[0];
	/* Broadcast reads are meaningless (Serial Line §2.1): ignored. */
	if (unit == 0 ? !is_write(req[1]) : unit != fw->cfg.unit_id)
		return 0;
	if (cap < 3)
		return M2MFW_ENOSPC;
	n = m2mfw_pdu(fw, req + 1, len - 3, resp + 1, cap - 3);
	if (n < 0 || unit == 0)
		return n < 0 ? n : 0;
	resp[0] = unit;
	crc = m2mfw_crc16(resp, (size_t)n + 1);
	resp[n + 1] = (uint8_t)crc;
	resp[n + 2] = (uint8_t)(crc >> 8);
	return n + 3;
}
