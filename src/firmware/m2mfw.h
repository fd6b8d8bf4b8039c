/*
 * m2mfw.h - Modbus server core for the PLC side of modbus2mail: the register
 * map, the function codes and the Modbus/TCP framing. The RTU framing for a
 * serial line (RS-485) is m2mfw_rtu.h, over the same struct m2mfw.
 *
 * Plain C99, no heap, no floating point, no Arduino headers: the same file
 * builds for the ATmega2560 (Controllino MAXI/MEGA) and for the host, where
 * it is unit-tested. The application owns every table; the core only reads
 * and writes them while answering a request.
 *
 * Function codes: 1 read coils, 2 read discrete inputs, 3 read holding
 * registers, 4 read input registers, 5 write single coil, 6 write single
 * register, 15 write multiple coils, 16 write multiple registers. Exception
 * replies per the Modbus Application Protocol V1.1b3 §7: 01 unknown function,
 * 02 address range outside the table (or outside its writable part),
 * 03 bad quantity, byte count, coil value or implied length.
 */
#ifndef M2MFW_H
#define M2MFW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define M2MFW_PDU_MAX		253	/* function code + data */
#define M2MFW_ADU_MAX		260	/* MBAP 7 + PDU 253 */

/*
 * The standard map: what the Arduino wrapper allocates by default, what the
 * example sketch fills and docs/firmware.md documents (gateway side:
 * heartbeat holding_register 0, mail_ok_coil 31).
 */
#define M2MFW_STD_NCOILS	32	/* 0..15 alarm bits, 16..31 writable */
#define M2MFW_STD_COIL_WR	16	/* 16..30 ack coils (HMI/gateway) */
#define M2MFW_STD_MAIL_OK	31	/* written by the gateway: 1 = mail gets out */
#define M2MFW_STD_NDISCRETE	16	/* raw input levels */
#define M2MFW_STD_NHOLDING	16	/* 0 heartbeat, 1 alarm word, 8..15 writable */
#define M2MFW_STD_HEARTBEAT	0
#define M2MFW_STD_ALARM_WORD	1	/* alarm bits 0..15 packed, bit n = coil n */
#define M2MFW_STD_HOLD_WR	8
#define M2MFW_STD_NINPUT	8	/* analogue values */
#define M2MFW_NO_HEARTBEAT	0xFFFFu

/* Negative results of m2mfw_frame_len(), m2mfw_handle() and m2mfw_pdu(). */
#define M2MFW_EINCOMPLETE	(-1)	/* need more bytes */
#define M2MFW_EPROTO		(-2)	/* not a Modbus frame: drop it (TCP: the connection) */
#define M2MFW_ENOSPC		(-3)	/* response buffer too small */

/* Modbus exception codes (Application Protocol §7). */
#define M2MFW_EX_FUNCTION	0x01
#define M2MFW_EX_ADDRESS	0x02
#define M2MFW_EX_VALUE		0x03

enum m2mfw_table {
	M2MFW_COILS,		/* FC 1 read, FC 5/15 write (writable part only) */
	M2MFW_DISCRETE,		/* FC 2 read */
	M2MFW_HOLDING,		/* FC 3 read, FC 6/16 write (writable part only) */
	M2MFW_INPUT		/* FC 4 read */
};

/*
 * Called once per coil or register written over Modbus, after the whole
 * request is applied: this is how the sketch learns of an acknowledgement
 * or of the gateway's mail_ok coil.
 */
typedef void (*m2mfw_write_cb)(void *arg, enum m2mfw_table table,
    uint16_t addr, uint16_t value);

struct m2mfw_config {
	uint8_t		*coils;		/* packed: coil n is bit n%8 of byte n/8 */
	uint16_t	 ncoils;
	uint8_t		*discrete;	/* packed like coils */
	uint16_t	 ndiscrete;
	uint16_t	*holding;
	uint16_t	 nholding;
	uint16_t	*input;
	uint16_t	 ninput;
	uint16_t	 coil_wr_first;	/* coils the gateway/HMI may write (acks, mail_ok) */
	uint16_t	 coil_wr_count;
	uint16_t	 hold_wr_first;	/* holding registers writable over Modbus */
	uint16_t	 hold_wr_count;
	uint16_t	 heartbeat;	/* holding register m2mfw_tick() advances, or M2MFW_NO_HEARTBEAT */
	uint8_t		 unit_id;	/* TCP: this id and 0xFF, 0 = any; RTU: 1..247 */
	m2mfw_write_cb	 on_write;	/* may be NULL */
	void		*arg;		/* passed to on_write */
};

struct m2mfw {
	struct m2mfw_config	 cfg;
	uint16_t		 requests;	/* answered, wraps */
	uint16_t		 exceptions;	/* exception replies sent, wraps */
};

/* Storage for the standard map (76 bytes). */
struct m2mfw_std_tables {
	uint8_t		coils[M2MFW_STD_NCOILS / 8];
	uint8_t		discrete[M2MFW_STD_NDISCRETE / 8];
	uint16_t	holding[M2MFW_STD_NHOLDING];
	uint16_t	input[M2MFW_STD_NINPUT];
};

/* Fill cfg for the standard map over t (zeroed), no callback yet. */
void	m2mfw_std_config(struct m2mfw_config *cfg, struct m2mfw_std_tables *t,
	    uint8_t unit_id);

/* 0, or -1 when a writable range or the heartbeat lies outside its table. */
int	m2mfw_init(struct m2mfw *fw, const struct m2mfw_config *cfg);

/*
 * Size of the Modbus/TCP frame at the start of buf (MBAP length + 6),
 * M2MFW_EINCOMPLETE while fewer bytes are known, M2MFW_EPROTO when the
 * protocol id is not 0 or the MBAP length is outside 2..254. Never reads
 * past buf[len - 1]. A stream reader consumes this many bytes per request.
 */
int	m2mfw_frame_len(const uint8_t *buf, size_t len);

/*
 * Answer the frame at the start of req (bytes after it are ignored). Returns
 * the response length written to resp (normal or exception reply), 0 when
 * the request is for another unit id (no reply, as a TCP gateway would not
 * answer either), or a negative M2MFW_E* code. cap >= M2MFW_ADU_MAX always
 * suffices.
 */
int	m2mfw_handle(struct m2mfw *fw, const uint8_t *req, size_t len,
	    uint8_t *resp, size_t cap);

/*
 * Answer one PDU (function code + data, plen 1..M2MFW_PDU_MAX) into out:
 * the reply PDU's length (normal or exception reply), M2MFW_EPROTO for a
 * plen outside 1..253, M2MFW_ENOSPC when cap is too small (cap >=
 * M2MFW_PDU_MAX always suffices). The framings above and in m2mfw_rtu.h
 * wrap this; out must not overlap pdu.
 */
int	m2mfw_pdu(struct m2mfw *fw, const uint8_t *pdu, size_t plen,
	    uint8_t *out, size_t cap);

/* Advance the heartbeat register by one (wraps at 65535). */
void	m2mfw_tick(struct m2mfw *fw);

/* Bit tables (coils, discrete inputs). set: 0 or -1 out of range; get: 0/1 or -1. */
int	m2mfw_set_bit(struct m2mfw *fw, enum m2mfw_table t, uint16_t addr, int on);
int	m2mfw_get_bit(const struct m2mfw *fw, enum m2mfw_table t, uint16_t addr);

/* Word tables (holding, input registers). 0, or -1 out of range. */
int	m2mfw_set_word(struct m2mfw *fw, enum m2mfw_table t, uint16_t addr, uint16_t v);
int	m2mfw_get_word(const struct m2mfw *fw, enum m2mfw_table t, uint16_t addr, uint16_t *v);

#ifdef __cplusplus
}
#endif

#endif
