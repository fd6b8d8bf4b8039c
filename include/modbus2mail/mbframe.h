/*
 * mbframe.h - Modbus request frames and the check of every reply against
 * its request, over TCP or RTU (pure). libmodbus 3.1.6 does not check the
 * unit id of a TCP reply nor its MBAP length, and accepts a protocol id
 * when one of its two bytes is 0; the bus therefore builds its requests
 * here, lets libmodbus receive the reply, and uses no byte of it before
 * mbframe_check() said OK.
 *
 *	mbframe_build(&rq, buf);  send it
 *	n = modbus_receive_confirmation(mb, rsp);
 *	switch (mbframe_check(&rq, rsp, n, why, sizeof(why))) ...
 *	MBFRAME_OK: mbframe_regs(rsp, rq.n, regs) or mbframe_bits()
 *
 * RTU: the request is the unit id and PDU of the TCP frame (buf +
 * MBFRAME_MBAP_LEN - 1) plus its CRC; read the reply until
 * mbframe_rtu_want() bytes are in, check it with mbframe_check_rtu(),
 * and mbframe_rtu_to_tcp() gives the TCP layout the readers expect.
 */
#ifndef MODBUS2MAIL_MBFRAME_H
#define MODBUS2MAIL_MBFRAME_H

#include <stddef.h>
#include <stdint.h>

#define MBFRAME_REQ_LEN	12	/* MBAP 7 + function + two 16-bit fields */
#define MBFRAME_MBAP_LEN 7
#define MBFRAME_RTU_MAX	256	/* an RTU frame, CRC included */
/* A reply this many transactions old is a late one, not a broken one. */
#define MBFRAME_STALE_WINDOW 64
#define MBFRAME_FC_WRITE_COIL 5

enum mbframe_result {
	MBFRAME_OK,
	MBFRAME_EXCEPTION,	/* a well-formed exception reply */
	MBFRAME_BAD_UNIT,	/* well framed, but from another unit */
	MBFRAME_BAD_FRAME,	/* transaction/protocol id, MBAP length,
				 * function, byte count or echo: the stream
				 * cannot be trusted any more */
	MBFRAME_STALE,		/* TCP: a sound reply to an earlier request
				 * (it came after its timeout): skip it */
	MBFRAME_BAD_CRC,	/* RTU: the CRC does not match */
	MBFRAME_SHORT,		/* RTU: fewer bytes than the reply needs */
};

/* One request: read (fc 1..4, n = quantity) or write coil (fc 5, n 0/1). */
struct mbframe_req {
	uint16_t tid;
	uint8_t unit;		/* 0 or 255: any unit may answer (gateways) */
	uint8_t fc;
	uint16_t addr;
	uint16_t n;
};

/* Writes the MBFRAME_REQ_LEN bytes of the request. */
void	mbframe_build(const struct mbframe_req *, uint8_t *buf);
/*
 * Checks the len bytes of rsp (one reply) against rq. Anything but
 * MBFRAME_OK writes why, e.g. "exception 0x02 (illegal data address)",
 * "reply from unit 7, expected 1", "protocol id 0x0001".
 */
enum mbframe_result mbframe_check(const struct mbframe_req *,
	    const uint8_t *rsp, size_t len, char *why, size_t whylen);
/* CRC-16 of Modbus RTU (poly 0xA001 reflected, init 0xFFFF); on the
 * wire low byte first. */
uint16_t mbframe_crc16(const uint8_t *, size_t);
/* Bytes an RTU reply to rq has, judged by what arrived (len bytes): an
 * exception is 5, any other reply as the request wants. */
size_t	mbframe_rtu_want(const struct mbframe_req *, const uint8_t *rsp,
	    size_t len);
/* MBFRAME_SHORT, then MBFRAME_BAD_CRC, MBFRAME_BAD_UNIT (a sound frame of
 * another unit), then as mbframe_check(). */
enum mbframe_result mbframe_check_rtu(const struct mbframe_req *,
	    const uint8_t *rsp, size_t len, char *why, size_t whylen);
/* The RTU reply (len bytes, checked) as a TCP reply to rq into tcp
 * (len + 4 bytes; tcp may be rsp). */
void	mbframe_rtu_to_tcp(const struct mbframe_req *, const uint8_t *rsp,
	    size_t len, uint8_t *tcp);
/* Data of a reply checked OK: n bits (0/1 each) or n registers. */
void	mbframe_bits(const uint8_t *rsp, uint16_t n, uint8_t *out);
void	mbframe_regs(const uint8_t *rsp, uint16_t n, uint16_t *out);
/* "exception 0x0B (gateway target failed to respond)"; unknown codes
 * (0, >= 0x0C) as "exception 0x0C". */
void	mbframe_exception_text(uint8_t code, char *buf, size_t len);

#endif
