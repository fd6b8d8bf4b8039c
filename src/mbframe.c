/*
 * mbframe.c - Modbus frames (Modbus Application Protocol v1.1b3,
 * Messaging on TCP/IP v1.0b, Over Serial Line v1.02). TCP: MBAP header =
 * transaction id, protocol id (0), length (unit id + PDU), unit id; then
 * the PDU. RTU: unit id, PDU, CRC-16 low byte first.
 */
#include <stdio.h>
#include <string.h>

#include "modbus2mail/mbframe.h"


static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

void
mbframe_build(const struct mbframe_req *rq, uint8_t *buf)
{
	put16(buf, rq->tid);
	put16(buf + 2, 0);
	put16(buf + 4, 6);
	buf[6] = rq->unit;
	buf[7] = rq->fc;
	put16(buf + 8, rq->addr);
	if (rq->fc == MBFRAME_FC_WRITE_COIL)
		put16(buf + 10, rq->n ? 0xFF00 : 0x0000);
	else
		put16(buf + 10, rq->n);
}

void
mbframe_exception_text(uint8_t code, char *buf, size_t len)
{
	static const char *const names[] = {
		NULL, "illegal function", "illegal data address",
		"illegal data value", "server device failure", "acknowledge",
		"server device busy", "negative acknowledge",
		"memory parity error", NULL, "gateway path unavailable",
		"gateway target failed to respond",
	};

	if (code < sizeof(names) / sizeof(names[0]) && names[code] != NULL)
		snprintf(buf, len, "exception 0x%02X (%s)", code, names[code]);
	else
		snprintf(buf, len, "exception 0x%02X", code);
}

/* PDU length a good reply to rq has. */
static size_t
reply_pdu_len(const struct mbframe_req *rq)
{
	if (rq->fc == MBFRAME_FC_WRITE_COIL)
		return 5;
	if (rq->fc <= 2)
		return 2 + (rq->n + 7u) / 8;
	return 2 + 2u * rq->n;
}

/* The PDU (after the MBAP header) of a reply whose header checked out. */
static enum mbframe_result
check_pdu(const struct mbframe_req *rq, const uint8_t *pdu, size_t len,
    char *why, size_t whylen)
{
	size_t want = reply_pdu_len(rq);

	if (pdu[0] == (rq->fc | 0x80) && len == 2) {
		mbframe_exception_text(pdu[1], why, whylen);
		return MBFRAME_EXCEPTION;
	}
	if (pdu[0] != rq->fc) {
		snprintf(why, whylen, "function 0x%02X in reply to 0x%02X",
		    pdu[0], rq->fc);
		return MBFRAME_BAD_FRAME;
	}
	if (len != want) {
		snprintf(why, whylen, "%zu-byte reply to function 0x%02X for "
		    "%u, expected %zu", len, rq->fc, rq->n, want);
		return MBFRAME_BAD_FRAME;
	}
	if (rq->fc == MBFRAME_FC_WRITE_COIL) {
		if (get16(pdu + 1) != rq->addr ||
		    get16(pdu + 3) != (rq->n ? 0xFF00 : 0)) {
			snprintf(why, whylen, "write echo differs");
			return MBFRAME_BAD_FRAME;
		}
	} else if (pdu[1] != want - 2) {
		snprintf(why, whylen, "byte count %u, expected %zu", pdu[1],
		    want - 2);
		return MBFRAME_BAD_FRAME;
	}
	return MBFRAME_OK;
}

enum mbframe_result
mbframe_check(const struct mbframe_req *rq, const uint8_t *rsp, size_t len,
    char *why, size_t whylen)
{
	enum mbframe_result r;
	int any_unit = rq->unit == 0 || rq->unit == 255;

	if (len < MBFRAME_MBAP_LEN + 2) {
		snprintf(why, whylen, "%zu-byte reply", len);
		return MBFRAME_BAD_FRAME;
	}
	if (get16(rsp + 2) != 0) {
		snprintf(why, whylen, "protocol id 0x%04X", get16(rsp + 2));
		return MBFRAME_BAD_FRAME;
	}
	if (get16(rsp + 4) != len - 6) {
		snprintf(why, whylen, "MBAP length %u for a %zu-byte PDU",
		    get16(rsp + 4), len - MBFRAME_MBAP_LEN);
		return MBFRAME_BAD_FRAME;
	}
	if (get16(rsp) != rq->tid) {
		snprintf(why, whylen, "transaction id 0x%04X, expected 0x%04X",
		    get16(rsp), rq->tid);
		/* framed soundly: the stream is still in step */
		return (uint16_t)(rq->tid - get16(rsp)) <=
		    MBFRAME_STALE_WINDOW ? MBFRAME_STALE : MBFRAME_BAD_FRAME;
	}
	r = check_pdu(rq, rsp + MBFRAME_MBAP_LEN, len - MBFRAME_MBAP_LEN, why,
	    whylen);
	/* the frame itself is sound: another unit's data is only unusable */
	if (r != MBFRAME_BAD_FRAME && !any_unit && rsp[6] != rq->unit) {
		snprintf(why, whylen, "reply from unit %u, expected %u",
		    rsp[6], rq->unit);
		return MBFRAME_BAD_UNIT;
	}
	return r;
}

uint16_t
mbframe_crc16(const uint8_t *p, size_t len)
{
	uint16_t crc = 0xFFFF;
	int i;

	while (len-- > 0) {
		crc ^= *p++;
		for (i = 0; i < 8; i++)
			crc = crc & 1 ? (uint16_t)(crc >> 1 ^ 0xA001) :
			    (uint16_t)(crc >> 1);
	}
	return crc;
}

size_t
mbframe_rtu_want(const struct mbframe_req *rq, const uint8_t *rsp,
    size_t len)
{
	if (len >= 2 && rsp[1] == (rq->fc | 0x80))
		return 5;
	return 1 + reply_pdu_len(rq) + 2;
}

enum mbframe_result
mbframe_check_rtu(const struct mbframe_req *rq, const uint8_t *rsp,
    size_t len, char *why, size_t whylen)
{
	size_t want = mbframe_rtu_want(rq, rsp, len);

	if (len < want) {
		snprintf(why, whylen, "short frame: %zu of %zu bytes", len,
		    want);
		return MBFRAME_SHORT;
	}
	if (mbframe_crc16(rsp, len - 2) != (rsp[len - 2] | rsp[len - 1] << 8)) {
		snprintf(why, whylen, "CRC error");
		return MBFRAME_BAD_CRC;
	}
	if (rsp[0] != rq->unit) {
		snprintf(why, whylen, "reply from unit %u, expected %u",
		    rsp[0], rq->unit);
		return MBFRAME_BAD_UNIT;
	}
	return check_pdu(rq, rsp + 1, len - 3, why, whylen);
}

void
mbframe_rtu_to_tcp(const struct mbframe_req *rq, const uint8_t *rsp,
    size_t len, uint8_t *tcp)
{
	memmove(tcp + 6, rsp, len - 2);	/* rsp may be tcp */
	put16(tcp, rq->tid);
	put16(tcp + 2, 0);
	put16(tcp + 4, (uint16_t)(len - 2));
}

void
mbframe_bits(const uint8_t *rsp, uint16_t n, uint8_t *out)
{
	const uint8_t *data = rsp + MBFRAME_MBAP_LEN + 2;
	uint16_t i;

	for (i = 0; i < n; i++)
		out[i] = (data[i / 8] >> (i % 8)) & 1;
}

void
mbframe_regs(const uint8_t *rsp, uint16_t n, uint16_t *out)
{
	const uint8_t *data = rsp + MBFRAME_MBAP_LEN + 2;
	uint16_t i;

	for (i = 0; i < n; i++)
		out[i] = get16(data + 2 * i);
}
