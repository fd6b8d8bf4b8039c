/*
 * value.h - raw Modbus registers to typed, scaled values (pure).
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
 * (32-bit only; A = most significant byte). *raw gets the integer value
 * (the float's own value for float32), the result is unscaled.
 */
double	value_decode(enum config_vtype, enum config_order,
	    const uint16_t *regs, double *raw);
/* raw * scale + offset. */
double	value_scale(const struct config_rule *, double raw);
/* Bit 0..15 of a 16-bit word. */
int	value_bit(uint16_t word, int bit);
/* Shortest round-trip-ish text for templates ("81.5", "100", "-3"). */
void	value_format(char *buf, size_t len, double v);

#endif
