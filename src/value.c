/*
 * value.c - register decoding: 16/32-bit integers and IEEE 754 floats in
 * the four word/byte orders PLCs use.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/value.h"

unsigned
value_nregs(enum config_vtype t)
{
	return t == VTYPE_UINT16 || t == VTYPE_INT16 ? 1 : 2;
}

double
value_decode(enum config_vtype type, enum config_order order,
    const uint16_t *regs, double *raw)
{
	uint8_t w[4], b[4];
	uint32_t u;
	float f;

	if (type == VTYPE_UINT16 || type == VTYPE_INT16) {
		*raw = type == VTYPE_INT16 ? (double)(int16_t)regs[0] :
		    (double)regs[0];
		return *raw;
	}
	/* wire bytes in address order: w0 w1 (first register) w2 w3 */
	w[0] = (uint8_t)(regs[0] >> 8);
	w[1] = (uint8_t)regs[0];
	w[2] = (uint8_t)(regs[1] >> 8);
	w[3] = (uint8_t)regs[1];
	/* b[0] = A (most significant) ... b[3] = D */
	switch (order) {
	case ORDER_ABCD:
		b[0] = w[0]; b[1] = w[1]; b[2] = w[2]; b[3] = w[3];
		break;
	case ORDER_CDAB:
		b[0] = w[2]; b[1] = w[3]; b[2] = w[0]; b[3] = w[1];
		break;
	case ORDER_BADC:
		b[0] = w[1]; b[1] = w[0]; b[2] = w[3]; b[3] = w[2];
		break;
	case ORDER_DCBA:
	default:
		b[0] = w[3]; b[1] = w[2]; b[2] = w[1]; b[3] = w[0];
		break;
	}
	u = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 |
	    b[3];
	switch (type) {
	case VTYPE_UINT32:
		*raw = (double)u;
		break;
	case VTYPE_INT32:
		*raw = (double)(int32_t)u;
		break;
	default:
		memcpy(&f, &u, sizeof(f));
		*raw = (double)f;
		break;
	}
	return *raw;
}

double
value_scale(const struct config_rule *r, double raw)
{
	return raw * r->scale + r->offset;
}

int
value_bit(uint16_t word, int bit)
{
	if (bit < 0 || bit > 15)
		return 0;
	return (word >> bit) & 1;
}

void
value_format(char *buf, size_t len, double v)
{
	char tmp[40];
	int prec;

	if (len == 0)
		return;
	if (isnan(v))
		snprintf(buf, len, "NaN");
	else if (isinf(v))
		snprintf(buf, len, "%s", v < 0 ? "-Inf" : "Inf");
	else if (v == floor(v) && fabs(v) < 1e15)
		snprintf(buf, len, "%.0f", v == 0 ? 0.0 : v);	/* no "-0" */
	else {
		/*
		 * The fewest digits (from 7, what a float32 carries) that
		 * give the same float back: 0.3f prints "0.3", not float
		 * noise, while 1234567.5 keeps its fraction.
		 */
		for (prec = 7; prec < 17 && fabs(v) <= FLT_MAX; prec++) {
			snprintf(tmp, sizeof(tmp), "%.*g", prec, v);
			if ((float)strtod(tmp, NULL) == (float)v)
				break;
		}
		if (prec == 17 || fabs(v) > FLT_MAX)
			snprintf(tmp, sizeof(tmp), "%.7g", v);
		snprintf(buf, len, "%s", tmp);
	}
}

void
value_address_words(char *buf, size_t len, enum config_source src,
    unsigned address)
{
	static const char *const words[] = {
		[SOURCE_COIL] = "coil",
		[SOURCE_DISCRETE_INPUT] = "discrete input",
		[SOURCE_HOLDING_REGISTER] = "holding register",
		[SOURCE_INPUT_REGISTER] = "input register",
	};

	snprintf(buf, len, "%s %u", (unsigned)src < sizeof(words) /
	    sizeof(words[0]) ? words[src] : "address", address);
}
