/*
 * render.h - `modbus2mail render RULE`: the ACTIVE mail a rule (or the
 * device alarms DEVICE.link, DEVICE.heartbeat) would send, printed,
 * nothing sent. Pure: the device's values come in as a read plan.
 */
#ifndef MODBUS2MAIL_RENDER_H
#define MODBUS2MAIL_RENDER_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

struct config;
struct readplan;

/*
 * What the device answered: plan (NULL when it could not be read, why
 * says why). A rule is rendered for its current value when plan has it,
 * else for a value that trips it; err gets one line saying which.
 */
struct render_input {
	const struct readplan *plan;
	const char *why;
	time_t now;
	int raw;		/* the wire form instead of the preview */
};

/*
 * The mail of rule to out: the preview (render_preview()) or, with raw,
 * the message as it goes to the provider. Exit code: 0, or 1 with one
 * line on err (unknown rule, the mail cannot be composed).
 */
int	render_rule(const struct config *, const char *rule,
	    const struct render_input *, FILE *out, FILE *err);
/*
 * A message for people: the decoded subject, the decoded body, then the
 * header fields unfolded and decoded (RFC 2047 words, quoted-printable).
 */
void	render_preview(const char *msg, size_t len, FILE *out);

#endif
