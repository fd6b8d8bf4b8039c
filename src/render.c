/*
 * render.c - a rule's ACTIVE mail as it would go out, for people to check
 * templates and recipients: built by notify_build() like the daemon's,
 * then shown decoded (or raw).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/evp.h>

#include "modbus2mail/alarm.h"
#include "modbus2mail/buf.h"
#include "modbus2mail/config.h"
#include "modbus2mail/notify.h"
#include "modbus2mail/readplan.h"
#include "modbus2mail/render.h"
#include "modbus2mail/util.h"
#include "modbus2mail/value.h"

static int	render_event(const struct config *, const char *,
		    const struct render_input *, struct alarm_notification *,
		    struct alarm_event *, FILE *);
static double	render_trip(const struct config_rule *);
static void	render_words(struct buf *, const char *, size_t);
static int	render_word(struct buf *, const char *, size_t);
static void	render_qp(struct buf *, const char *, size_t);
static char	*render_unfold(const char *, size_t);

/* A value the rule's condition holds for. */
static double
render_trip(const struct config_rule *r)
{
	if (r->has_above)
		return r->above + 1;
	if (r->has_below)
		return r->below - 1;
	if (r->has_equals)
		return r->equals;
	if (r->has_not_equals)
		return r->not_equals + 1;
	return r->active_when;
}

/*
 * The event of rule (a rule, DEVICE.link or DEVICE.heartbeat) with its
 * current value or a tripping one, and its recipients. 0, or -1 unknown.
 */
static int
render_event(const struct config *cfg, const char *rule,
    const struct render_input *in, struct alarm_notification *n,
    struct alarm_event *ev, FILE *err)
{
	const struct config_device *d;
	const struct config_rule *r;
	const char *dot = strrchr(rule, '.');
	long idx = config_find_rule(cfg, rule), dev = -1;
	uint16_t hb;
	char v[32];

	memset(n, 0, sizeof(*n));
	memset(ev, 0, sizeof(*ev));
	ev->name = rule;
	ev->rule = idx;
	ev->since = in->now;
	ev->has_value = 1;
	if (idx == -1 && dot != NULL) {
		char *name = xasprintf("%.*s", (int)(dot - rule), rule);

		dev = config_find_device(cfg, name);
		free(name);
	}
	if (idx >= 0) {
		r = &cfg->rules[idx];
		n->device = r->device;
		n->to = r->to.v;
		n->nto = r->to.n;
		ev->severity = r->severity;
		if (in->plan == NULL || alarm_rule_condition(r, in->plan, 0,
		    &ev->value, &ev->raw) == -1) {
			ev->value = render_trip(r);
			ev->raw = r->scale != 0 ? (ev->value - r->offset) /
			    r->scale : ev->value;
			value_format(v, sizeof(v), ev->value);
			fprintf(err, "%s: rendered for %s, a value that trips it "
			    "(%s not read%s%s)\n", rule, v,
			    cfg->devices[r->device].name, in->why ? ": " : "",
			    in->why ? in->why : "");
		} else {
			value_format(v, sizeof(v), ev->value);
			fprintf(err, "%s: rendered for its current value %s\n",
			    rule, v);
		}
		return 0;
	}
	d = dev >= 0 ? &cfg->devices[dev] : NULL;
	if (d == NULL || !((strcmp(dot, ".link") == 0 && d->link_alarm) ||
	    (strcmp(dot, ".heartbeat") == 0 && d->heartbeat)))
		return -1;
	n->device = (size_t)dev;
	n->to = d->link_to.v;
	n->nto = d->link_to.n;
	ev->severity = d->link_severity;
	if (strcmp(dot, ".link") == 0) {
		ev->since = in->now - (time_t)(d->link_alarm_after_ms / 1000);
		strlcpy(ev->reason, in->plan == NULL && in->why != NULL ?
		    in->why : "Connection timed out", sizeof(ev->reason));
	} else {
		ev->since = in->now - (time_t)(d->heartbeat_stale_ms / 1000);
		ev->value = ev->raw = in->plan != NULL && readplan_reg(in->plan,
		    d->heartbeat_source, d->heartbeat_address, &hb) == 0 ?
		    hb : 0;
	}
	return 0;
}

int
render_rule(const struct config *cfg, const char *rule,
    const struct render_input *in, FILE *out, FILE *err)
{
	struct alarm_notification n;
	struct alarm_event ev;
	struct notify_mail m;

	if (render_event(cfg, rule, in, &n, &ev, err) == -1) {
		fprintf(err, "modbus2mail render: no rule '%s' in %s (nor a "
		    "DEVICE.link or DEVICE.heartbeat alarm)\n", rule,
		    cfg->path);
		return 1;
	}
	n.kind = ALARM_ACTIVE;
	n.ev = &ev;
	n.nev = 1;
	if (notify_build(cfg, &n, in->now, 1, &m) == -1) {
		fprintf(err, "modbus2mail render: cannot compose the mail of "
		    "%s\n", rule);
		return 1;
	}
	if (in->raw)
		fwrite(m.data, 1, m.len, out);
	else
		render_preview(m.data, m.len, out);
	notify_mail_clear(&m);
	return 0;
}

/* One RFC 2047 encoded word "=?cs?B|Q?text?=" decoded; 0, -1 not one. */
static int
render_word(struct buf *b, const char *w, size_t len)
{
	const char *q, *t;
	unsigned char *dec;
	size_t n, i;
	int dl;

	if (len < 8 || strncmp(w, "=?", 2) != 0 ||
	    strncmp(w + len - 2, "?=", 2) != 0 ||
	    (q = memchr(w + 2, '?', len - 4)) == NULL || q + 3 > w + len - 2 ||
	    q[2] != '?')
		return -1;
	t = q + 3;
	n = (size_t)(w + len - 2 - t);
	if (toupper((unsigned char)q[1]) == 'Q') {
		dec = xmalloc(n + 1);
		for (i = 0; i < n; i++)
			dec[i] = t[i] == '_' ? ' ' : (unsigned char)t[i];
		render_qp(b, (const char *)dec, n);
		free(dec);
		return 0;
	}
	if (toupper((unsigned char)q[1]) != 'B' || n % 4 != 0)
		return -1;
	dec = xmalloc(n / 4 * 3 + 1);
	if ((dl = EVP_DecodeBlock(dec, (const unsigned char *)t, (int)n)) < 0) {
		free(dec);
		return -1;
	}
	/* EVP_DecodeBlock counts the padding as zero octets */
	for (i = n; i > 0 && t[i - 1] == '='; i--)
		dl--;
	buf_add(b, dec, (size_t)dl);
	free(dec);
	return 0;
}

/* A header value: encoded words decoded, white space between them gone. */
static void
render_words(struct buf *b, const char *s, size_t len)
{
	struct buf word = BUF_INIT;
	const char *end = s + len, *p = s, *w, *e;
	int prev_word = 0;

	while (p < end) {
		w = p;
		while (w < end && (*w == ' ' || *w == '\t'))
			w++;
		e = w;
		while (e < end && *e != ' ' && *e != '\t')
			e++;
		word.len = 0;
		if (e > w && render_word(&word, w, (size_t)(e - w)) == 0) {
			if (!prev_word)
				buf_add(b, p, (size_t)(w - p));
			if (word.len > 0)
				buf_add(b, word.p, word.len);
			prev_word = 1;
		} else {
			buf_add(b, p, (size_t)(e - p));
			prev_word = 0;
		}
		p = e;
	}
	buf_free(&word);
}

/* Quoted-printable text decoded ("=\r\n" is a soft break). */
static void
render_qp(struct buf *b, const char *s, size_t len)
{
	char hex[3] = { 0 };
	size_t i;

	for (i = 0; i < len; i++) {
		if (s[i] != '=') {
			buf_add(b, s + i, 1);
			continue;
		}
		if (i + 2 < len && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2;
		} else if (i + 2 < len && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			memcpy(hex, s + i + 1, 2);
			buf_printf(b, "%c", (char)strtoul(hex, NULL, 16));
			i += 2;
		} else
			buf_add(b, s + i, 1);
	}
}

/* A header field on one line: its CR and LF left out. */
static char *
render_unfold(const char *s, size_t len)
{
	char *d = xmalloc(len + 1);
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (s[i] != '\r' && s[i] != '\n')
			d[n++] = s[i];
	d[n] = '\0';
	return d;
}

void
render_preview(const char *msg, size_t len, FILE *out)
{
	struct buf hdr = BUF_INIT, body = BUF_INIT;
	const char *p = msg, *end = msg + len, *nl, *sep;
	char *line, *subject = NULL;
	int qp = 0;

	/* the header, one unfolded field per line */
	while (p < end && !(end - p >= 2 && p[0] == '\r' && p[1] == '\n')) {
		for (nl = p; (nl = memchr(nl, '\n', (size_t)(end - nl))) !=
		    NULL && nl + 1 < end && (nl[1] == ' ' || nl[1] == '\t');
		    nl++)
			;
		nl = nl != NULL ? nl : end;
		line = render_unfold(p, (size_t)(nl - p));
		if ((sep = strchr(line, ':')) != NULL) {
			if (strncasecmp(line, "Subject:", 8) == 0)
				subject = xstrdup(sep + 1);
			qp |= strncasecmp(line, "Content-Transfer-Encoding:",
			    26) == 0 && strstr(sep, "quoted-printable");
			buf_add(&hdr, line, (size_t)(sep + 1 - line));
			render_words(&hdr, sep + 1, strlen(sep + 1));
			buf_adds(&hdr, "\n");
		}
		free(line);
		p = nl < end ? nl + 1 : end;
	}
	p = p + 2 < end ? p + 2 : end;
	if (qp)
		render_qp(&body, p, (size_t)(end - p));
	else
		buf_add(&body, p, (size_t)(end - p));
	fputs("Subject:", out);
	if (subject != NULL) {
		struct buf s = BUF_INIT;

		render_words(&s, subject, strlen(subject));
		fputs(s.p != NULL ? s.p : "", out);
		buf_free(&s);
	}
	fputs("\n\n", out);
	for (p = body.p; p != NULL && *p != '\0'; p++)
		if (!(p[0] == '\r' && p[1] == '\n'))
			fputc(*p, out);
	fprintf(out, "\n-- header fields as sent, decoded --\n%s",
	    hdr.p != NULL ? hdr.p : "");
	free(subject);
	buf_free(&hdr);
	buf_free(&body);
}
