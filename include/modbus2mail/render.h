/*
 * render.h - `modbus2mail render RULE`: the ACTIVE mail a rule would send,
 * printed, nothing sent (SPEC §2).
 */
#ifndef MODBUS2MAIL_RENDER_H
#define MODBUS2MAIL_RENDER_H

#include <stdio.h>

struct config;

/* Exit code: 0, or 1 with one line on err (unknown rule). */
int	render_rule(const struct config *, const char *rule, FILE *out,
	    FILE *err);

#endif
