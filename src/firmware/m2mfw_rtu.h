/*
 * m2mfw_rtu.h - Modbus RTU framing for the firmware core: the register map
 * and function codes of m2mfw.h on a serial line (RS-485), as Modbus over
 * Serial Line V1.02 specifies it: address, PDU, CRC-16 (low byte first);
 * frames are separated by silence.
 *
 * No I/O and no clock of its own: the caller hands in every received byte
 * with the time it read it (microseconds, any origin, wrapping at 2^32) and
 * calls m2mfw_rtu_poll() with the current time; that answers the frame once
 * 3.5 characters of silence have passed. Unit ids: the configured one (1..247) is
 * answered; 0 is a broadcast, whose writes are applied without a reply;
 * every other id, a wrong CRC and frames shorter than 4 or longer than 256
 * bytes get no reply at all. Exceptions are those of Modbus/TCP.
 */
#ifndef M2MFW_RTU_H
#define M2MFW_RTU_H

#include <stddef.h>
#include <stdint.h>

#include "m2mfw.h"

#ifdef __cplusplus
extern "C" {
#endif

#define M2MFW_RTU_ADU_MAX	256	/* address 1 + PDU 253 + CRC 2 */

struct m2mfw_rtu {
	struct m2mfw	*fw;
	uint32_t	 t35;		/* silence before a reply, us */
	uint32_t	 tgap;		/* silence that separates frames, us */
	uint32_t	 last;		/* when the frame's last byte was read */
	uint16_t	 len;		/* bytes in buf; > M2MFW_RTU_ADU_MAX: overrun */
	uint16_t	 dropped;	/* bad CRC, too short or long, ours too late; wraps */
	uint8_t		 buf[M2MFW_RTU_ADU_MAX];
};

/* CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF); 0 over a frame + its CRC. */
uint16_t m2mfw_crc16(const uint8_t *p, size_t n);

/*
 * Serve fw on a line at baud bits/s. t35 is 3.5 characters of 11 bits,
 * tgap 26 bit times (between the 1.5 characters allowed inside a frame and
 * the 3.5 of 10 bits a master keeps between frames on an 8N1 line, with
 * room for timestamp jitter either way); above 19200 baud 1750 and 1250 us.
 * -1 when baud is 0 or fw's unit id is outside 1..247.
 */
int	m2mfw_rtu_init(struct m2mfw_rtu *r, struct m2mfw *fw, uint32_t baud);

/*
 * A byte read at time now. After a silence of tgap it starts a new frame;
 * the old one, if m2mfw_rtu_poll() has not answered it yet, gets no reply
 * (the master has moved on): a broadcast write in it is still applied,
 * a request for this unit or a bad frame counts as dropped.
 */
void	m2mfw_rtu_rx(struct m2mfw_rtu *r, uint8_t c, uint32_t now);

/*
 * Once t3.5 has passed since the last byte: answer the frame into resp and
 * return the reply's length (to send now), else 0 (nothing to send yet, or
 * no reply due). M2MFW_ENOSPC when cap is too small: M2MFW_RTU_ADU_MAX
 * always suffices. Read every byte available before calling it.
 */
int	m2mfw_rtu_poll(struct m2mfw_rtu *r, uint32_t now, uint8_t *resp,
	    size_t cap);

/*
 * Answer one complete RTU frame (what m2mfw_rtu_poll() does at a frame's
 * end): the reply's length, 0 for no reply (another unit id, a broadcast),
 * M2MFW_EPROTO for a frame to drop (length, CRC), M2MFW_ENOSPC.
 */
int	m2mfw_rtu_handle(struct m2mfw *fw, const uint8_t *req, size_t len,
	    uint8_t *resp, size_t cap);

#ifdef __cplusplus
}
#endif

#endif
