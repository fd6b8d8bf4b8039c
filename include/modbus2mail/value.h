/*
 * value.h - raw Modbus registers to typed, scaled values (pure).
 *
 * Registers are given in address order as the poller read them. For the
 * 32-bit types the order names where the bytes of the value (A = most
 * significant) sit on the wire: ABCD = big-endian words in big-endian
 * order (Modbus default), CDAB = word swapped (most PLCs), BADC = bytes
 * swapped in each word, DCBA = fully little-endian.
 */
#ifndef MODBUS2MAIL_VALUE_H
#define MODBUS2MAIL_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "modbus2mail/config.h"

/* Registers a type occupies: 1 or 2. */
unsigned value_nregs(enum config_vtype);
/*
 * Decodes regs (value_nregs() of them, in address order) as type in order
 * (ignored for 16-bit types). Returns the unscaled value and stores it in
 * *raw too (the float's own value for float32; NaN stays NaN).
 */
double	value_decode(enum config_vtype, enum config_order,
	    const uint16_t *regs, double *raw);
/* raw * scale + offset. */
double	value_scale(const struct config_rule *, double raw);
/* Bit 0..15 of a 16-bit word: 0 or 1 (0 for a bit out of range). */
int	value_bit(uint16_t word, int bit);
/*
 * Text for {value}/{raw}: integers without a fraction ("100", "-3",
 * "4294967295"), others with the fewest digits (7 or more) that give the
 * same float32 back, so no float noise ("81.5", "0.3", "1234567.5");
 * "NaN", "Inf", "-Inf". Always NUL-terminated.
 */
void	value_format(char *buf, size_t len, double v);
/* An address in words for mails: "coil 12", "holding register 0". */
void	value_address_words(char *buf, size_t len, enum config_source,
	    unsigned address);

#endif
