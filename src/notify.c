/*
 * notify.c - from alarm notifications to messages: template variables,
 * recipients, Message-ID and thread headers (SPEC §3 templates, §4, §5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/buf.h"
#include "modbus2mail/compose.h"
#include "modbus2mail/notify.h"
#include "modbus2mail/util.h"
#include "modbus2mail/value.h"

#define NOTIFY_FIELD 96
#define NOTIFY_TEXT 512
#define NOTIFY_SUBJECT_NAMES 100	/* a subject lists names up to here */

/* Local time formats, each followed by the UTC offset. */
enum notify_fmt {
	NOTIFY_DATETIME,	/* 2026-11-29 10:42:05 +01:00 */
	NOTIFY_SECONDS,		/* 10:42:05 +01:00 */
	NOTIFY_MINUTES,		/* 10:42 +01:00 */
};

/* Per-event text storage for the template variables. */
struct notify_fields {
	char state[16], value[NOTIFY_FIELD], raw[NOTIFY_FIELD];
	char threshold[NOTIFY_FIELD], since[NOTIFY_FIELD];
	char duration[NOTIFY_FIELD], time[NOTIFY_FIELD];
	char condition[NOTIFY_TEXT];
};

static void	notify_strftime(char *, size_t, enum notify_fmt, time_t);
static void	notify_time(char *, size_t, time_t);
static void	notify_when(char *, size_t, time_t, time_t);
static void	notify_duration(char *, size_t, time_t, int);
static void	notify_threshold(char *, size_t, const struct config_rule *);
static void	notify_condition(char *, size_t, const struct config *,
		    const struct alarm_notification *,
		    const struct alarm_event *, time_t);
static void	notify_device_condition(char *, size_t,
		    const struct config_device *, enum alarm_kind,
		    const struct alarm_event *, time_t);
static void	notify_rule_condition(char *, size_t,
		    const struct config_rule *, const struct alarm_event *);
static void	notify_headline(char *, size_t,
		    const struct alarm_notification *, time_t);
static char	*notify_footer(const struct config *,
		    const struct alarm_notification *);
static void	notify_subject(char *, size_t, const struct config *,
		    const struct alarm_notification *, const char *,
		    const struct compose_item *);
static void	notify_item(const struct config *,
		    const struct alarm_notification *, size_t, time_t,
		    const char *, struct notify_fields *,
		    struct compose_item *);
static int	notify_rcpts(struct notify_mail *, char *const *, size_t);
static int	notify_finish(struct notify_mail *, const struct compose_text *,
		    char *);
static enum config_severity notify_worst(const struct alarm_notification *);

/* The most severe severity of a group. */
static enum config_severity
notify_worst(const struct alarm_notification *n)
{
	enum config_severity s = SEVERITY_INFO;
	size_t i;

	for (i = 0; i < n->nev; i++)
		if (n->ev[i].severity > s)
			s = n->ev[i].severity;
	return s;
}

/* Local time, then its UTC offset: "10:42 +01:00". */
static void
notify_strftime(char *buf, size_t len, enum notify_fmt fmt, time_t t)
{
	struct tm tm;
	char s[64], zone[16];

	localtime_r(&t, &tm);
	if (fmt == NOTIFY_DATETIME)
		strftime(s, sizeof(s), "%Y-%m-%d %H:%M:%S", &tm);
	else if (fmt == NOTIFY_SECONDS)
		strftime(s, sizeof(s), "%H:%M:%S", &tm);
	else
		strftime(s, sizeof(s), "%H:%M", &tm);
	util_fmt_offset(zone, sizeof(zone), &tm);
	snprintf(buf, len, "%s %s", s, zone);
}

static void
notify_time(char *buf, size_t len, time_t t)
{
	notify_strftime(buf, len, NOTIFY_DATETIME, t);
}

/* t as a clock time when it is on now's day, else with its date. */
static void
notify_when(char *buf, size_t len, time_t t, time_t now)
{
	struct tm a, b;

	localtime_r(&t, &a);
	localtime_r(&now, &b);
	if (a.tm_year == b.tm_year && a.tm_yday == b.tm_yday)
		notify_strftime(buf, len, NOTIFY_SECONDS, t);
	else
		notify_time(buf, len, t);
}

/*
 * The two largest units, zeros left out: "45s", "12m 5s", "2h", "3d 4h";
 * in words "45 s", "12 min 5 s", "2 h", "3 d 4 h".
 */
static void
notify_duration(char *buf, size_t len, time_t secs, int words)
{
	static const struct {
		long long div;
		const char *unit, *word;
	} u[] = { { 86400, "d", " d" }, { 3600, "h", " h" },
		{ 60, "m", " min" }, { 1, "s", " s" } };
	long long v = secs < 0 ? 0 : (long long)secs, rest;
	size_t i;

	for (i = 0; i < 3 && v < u[i].div; i++)
		;
	rest = i < 3 ? (v % u[i].div) / u[i + 1].div : 0;
	if (rest != 0)
		snprintf(buf, len, "%lld%s %lld%s", v / u[i].div,
		    words ? u[i].word : u[i].unit, rest,
		    words ? u[i + 1].word : u[i + 1].unit);
	else
		snprintf(buf, len, "%lld%s", v / u[i].div,
		    words ? u[i].word : u[i].unit);
}

static void
notify_threshold(char *buf, size_t len, const struct config_rule *r)
{
	char a[32], b[32];

	buf[0] = '\0';
	if (r == NULL)
		return;
	if (r->has_above && r->has_below) {
		value_format(a, sizeof(a), r->below);
		value_format(b, sizeof(b), r->above);
		snprintf(buf, len, "outside %s..%s", a, b);
	} else if (r->has_above) {
		value_format(a, sizeof(a), r->above);
		snprintf(buf, len, "> %s", a);
	} else if (r->has_below) {
		value_format(a, sizeof(a), r->below);
		snprintf(buf, len, "< %s", a);
	} else if (r->has_equals) {
		value_format(a, sizeof(a), r->equals);
		snprintf(buf, len, "= %s", a);
	} else if (r->has_not_equals) {
		value_format(a, sizeof(a), r->not_equals);
		snprintf(buf, len, "!= %s", a);
	} else if (r->source == SOURCE_COIL ||
	    r->source == SOURCE_DISCRETE_INPUT || r->bit >= 0)
		snprintf(buf, len, "%d", r->active_when);
}

/* DEVICE.link, DEVICE.heartbeat, DEVICE.read in words. */
static void
notify_device_condition(char *buf, size_t len, const struct config_device *d,
    enum alarm_kind kind, const struct alarm_event *ev, time_t now)
{
	const char *what = strrchr(ev->name, '.');
	char since[NOTIFY_FIELD], where[64], v[32], at[64];
	int over = kind == ALARM_CLEARED;

	if (d->serial.port != NULL)
		snprintf(at, sizeof(at), "%s unit %u", d->serial.port,
		    d->unit_id);
	else
		snprintf(at, sizeof(at), "%s:%u", d->host, d->port);
	notify_when(since, sizeof(since), ev->since, now);
	what = what != NULL ? what + 1 : "";
	value_format(v, sizeof(v), ev->value);
	if (strcmp(what, "heartbeat") == 0) {
		value_address_words(where, sizeof(where), d->heartbeat_source,
		    d->heartbeat_address);
		if (over)
			snprintf(buf, len, "PLC program on %s runs again: "
			    "%s changed to %s", d->name, where, v);
		else
			snprintf(buf, len, "PLC program on %s looks stopped: "
			    "%s stuck at %s since %s", d->name, where,
			    ev->has_value ? v : "?", since);
	} else if (over)
		snprintf(buf, len, "PLC %s (%s) %s again, after failing "
		    "since %s", d->name, at, strcmp(what, "read") == 0 ?
		    "reads work" : "answers", since);
	else if (strcmp(what, "read") == 0)
		snprintf(buf, len, "PLC %s (%s) answers, but reads keep "
		    "failing since %s: %s", d->name, at, since, ev->reason);
	else
		snprintf(buf, len, "PLC %s (%s) not answering since %s%s%s",
		    d->name, at, since, ev->reason[0] != '\0' ?
		    " \xe2\x80\x94 last error: " : "", ev->reason);
}

/* "coil 12 is ON (alarm when ON)", "85.3 °C (limit: above 80, clears at 78)". */
static void
notify_rule_condition(char *buf, size_t len, const struct config_rule *r,
    const struct alarm_event *ev)
{
	char where[64], v[NOTIFY_FIELD], a[32], b[32], lim[128];
	double db = r->deadband;

	value_address_words(where, sizeof(where), r->source, r->address);
	if (r->source == SOURCE_COIL || r->source == SOURCE_DISCRETE_INPUT ||
	    r->bit >= 0) {
		if (r->bit >= 0)
			snprintf(where + strlen(where), sizeof(where) -
			    strlen(where), " bit %d", r->bit);
		snprintf(buf, len, "%s %s (alarm when %s)", where,
		    !ev->has_value ? "not read yet" : ev->value != 0 ?
		    "is ON" : "is OFF", r->active_when ? "ON" : "OFF");
		return;
	}
	if (ev->has_value) {
		value_format(v, sizeof(v), ev->value);
		if (r->unit[0] != '\0')
			snprintf(v + strlen(v), sizeof(v) - strlen(v), " %s",
			    r->unit);
	} else
		snprintf(v, sizeof(v), "%s not read yet", where);
	value_format(a, sizeof(a), r->has_below ? r->below : r->has_above ?
	    r->above : r->has_equals ? r->equals : r->not_equals);
	value_format(b, sizeof(b), r->has_above ? r->above : 0);
	if (r->has_above && r->has_below)
		snprintf(lim, sizeof(lim), "limit: outside %s..%s", a, b);
	else if (r->has_above || r->has_below)
		snprintf(lim, sizeof(lim), "limit: %s %s", r->has_above ?
		    "above" : "below", a);
	else
		snprintf(lim, sizeof(lim), "alarm when %s %s", r->has_equals ?
		    "equal to" : "not equal to", a);
	if (db > 0 && (r->has_above || r->has_below)) {
		value_format(a, sizeof(a), r->has_below ? r->below + db : 0);
		value_format(b, sizeof(b), r->has_above ? r->above - db : 0);
		snprintf(lim + strlen(lim), sizeof(lim) - strlen(lim),
		    r->has_above && r->has_below ? ", clears inside %s..%s" :
		    ", clears at %s%s", r->has_below ? a : b,
		    r->has_above && r->has_below ? b : "");
	}
	snprintf(buf, len, "%s (%s)", v, lim);
}

/* What the event's value means, in words: {condition}. */
static void
notify_condition(char *buf, size_t len, const struct config *cfg,
    const struct alarm_notification *n, const struct alarm_event *ev,
    time_t now)
{
	if (ev->rule >= 0)
		notify_rule_condition(buf, len, &cfg->rules[ev->rule], ev);
	else
		notify_device_condition(buf, len, &cfg->devices[n->device],
		    n->kind, ev, now);
}

/* The first body line, what an inbox preview shows: state and time. */
static void
notify_headline(char *buf, size_t len, const struct alarm_notification *n,
    time_t now)
{
	const struct alarm_event *ev = &n->ev[0];
	char at[NOTIFY_FIELD], dur[NOTIFY_FIELD];

	notify_strftime(at, sizeof(at), NOTIFY_MINUTES, now);
	notify_duration(dur, sizeof(dur), n->kind == ALARM_SHELVED ?
	    (time_t)(ev->shelve_ms / 1000) : now - ev->since, 1);
	switch (n->kind) {
	case ALARM_ACTIVE:
		snprintf(buf, len, "ACTIVE at %s", at);
		break;
	case ALARM_CLEARED:
		snprintf(buf, len, "CLEARED at %s after %s", at, dur);
		break;
	case ALARM_REMINDER:
		snprintf(buf, len, "REMINDER at %s: still ACTIVE after %s, "
		    "not acknowledged", at, dur);
		break;
	case ALARM_ESCALATION:
		snprintf(buf, len, "ESCALATED at %s: ACTIVE for %s, not "
		    "acknowledged", at, dur);
		break;
	case ALARM_ACKNOWLEDGED:
		snprintf(buf, len, "ACKNOWLEDGED at %s %s%s", at,
		    strncmp(ev->by, "via ", 4) == 0 ? "" : "by ", ev->by);
		break;
	case ALARM_SHELVED:
		snprintf(buf, len, "SHELVED at %s for %s: %s", at, dur,
		    ev->reason[0] != '\0' ? ev->reason : "chattering");
		break;
	}
}

/*
 * How to acknowledge (mails that ask for it) and the names to look for:
 * "To acknowledge: set coil 16 to 1, or run `modbus2mail ack r` on gw."
 */
static char *
notify_footer(const struct config *cfg, const struct alarm_notification *n)
{
	const struct config_rule *r;
	struct buf b = BUF_INIT;
	char where[64];
	size_t i;
	int ask = n->kind == ALARM_ACTIVE || n->kind == ALARM_REMINDER ||
	    n->kind == ALARM_ESCALATION;

	for (i = 0; ask && i < n->nev; i++) {
		r = n->ev[i].rule >= 0 ? &cfg->rules[n->ev[i].rule] : NULL;
		buf_printf(&b, "To acknowledge%s%s: ", n->nev > 1 ? " " : "",
		    n->nev > 1 ? n->ev[i].name : "");
		if (r != NULL && r->ack) {
			value_address_words(where, sizeof(where),
			    r->ack_source, r->ack_address);
			buf_printf(&b, "set %s to 1, or ", where);
		}
		buf_printf(&b, "run `modbus2mail ack %s` on %s.\n",
		    n->ev[i].name, cfg->hostname);
	}
	buf_printf(&b, "Gateway %s, device %s, rule%s ", cfg->hostname,
	    cfg->devices[n->device].name, n->nev > 1 ? "s" : "");
	for (i = 0; i < n->nev; i++)
		buf_printf(&b, "%s%s", i > 0 ? ", " : "", n->ev[i].name);
	buf_adds(&b, ".\n");
	if (b.oom) {
		buf_free(&b);
		return NULL;
	}
	return b.p;
}

/*
 * Follow-ups reply to the first mail's subject, so that mail programs
 * that thread by subject keep the episode together; per_state subjects
 * (or an episode whose first mail is unknown) name the state instead.
 */
static void
notify_subject(char *out, size_t outlen, const struct config *cfg,
    const struct alarm_notification *n, const char *state,
    const struct compose_item *items)
{
	const struct alarm_event *ev = &n->ev[0];
	const char *dev = cfg->devices[n->device].name;
	char shelf[NOTIFY_FIELD], *s, buf[1024];
	size_t i, len = sizeof(buf);

	if (n->kind != ALARM_ACTIVE && !cfg->per_state_subjects &&
	    ev->subject[0] != '\0')
		snprintf(buf, len, "%s%s", strncasecmp(ev->subject, "Re: ",
		    4) == 0 ? "" : "Re: ", ev->subject);
	else if (n->kind == ALARM_SHELVED) {
		notify_duration(shelf, sizeof(shelf),
		    (time_t)(ev->shelve_ms / 1000), 0);
		snprintf(buf, len, "[%s] %s%s on %s shelved for %s (%s)",
		    config_severity_name(ev->severity), ev->name, n->nev > 1 ?
		    " and others" : "", dev, shelf, ev->reason[0] != '\0' ?
		    ev->reason : "chattering");
	} else if (n->kind == ALARM_ESCALATION)
		snprintf(buf, len, "[%s] ESCALATED: %s%s on %s, not "
		    "acknowledged", config_severity_name(ev->severity),
		    ev->name, n->nev > 1 ? " and others" : "", dev);
	else if (n->nev > 1) {
		/* "[critical] 2 alarms on mega_tank: pump_dry_run, tank_low" */
		snprintf(buf, len, "[%s] %zu alarms%s%s on %s: ",
		    config_severity_name(notify_worst(n)), n->nev,
		    n->kind == ALARM_ACTIVE ? "" : " ", n->kind ==
		    ALARM_ACTIVE ? "" : state, dev);
		for (i = 0; i < n->nev && strlen(buf) + strlen(n->ev[i].name) <
		    NOTIFY_SUBJECT_NAMES; i++)
			snprintf(buf + strlen(buf), len - strlen(buf), "%s%s",
			    i > 0 ? ", " : "", n->ev[i].name);
		if (i < n->nev)
			snprintf(buf + strlen(buf), len - strlen(buf),
			    " and %zu more", n->nev - i);
	} else {
		s = compose_template(items[0].subject_tmpl, &items[0].vars);
		strlcpy(buf, s != NULL ? s : items[0].subject_tmpl, len);
		free(s);
	}
	strlcpy(out, buf, outlen);
}

/* Template variables of event i. */
static void
notify_item(const struct config *cfg, const struct alarm_notification *n,
    size_t i, time_t now, const char *state, struct notify_fields *f,
    struct compose_item *it)
{
	const struct alarm_event *ev = &n->ev[i];
	const struct config_rule *r = ev->rule >= 0 ? &cfg->rules[ev->rule] :
	    NULL;

	strlcpy(f->state, state, sizeof(f->state));
	if (ev->has_value) {
		value_format(f->value, sizeof(f->value), ev->value);
		value_format(f->raw, sizeof(f->raw), ev->raw);
	}
	notify_threshold(f->threshold, sizeof(f->threshold), r);
	notify_time(f->since, sizeof(f->since), ev->since);
	notify_duration(f->duration, sizeof(f->duration), now - ev->since, 0);
	notify_time(f->time, sizeof(f->time), now);
	notify_condition(f->condition, sizeof(f->condition), cfg, n, ev, now);
	it->rule = ev->name;
	it->subject_tmpl = r ? r->subject : CONFIG_DEFAULT_SUBJECT;
	it->body_tmpl = r ? r->body : CONFIG_DEFAULT_BODY;
	it->vars.name = ev->name;
	it->vars.device = cfg->devices[n->device].name;
	it->vars.severity = config_severity_name(ev->severity);
	it->vars.state = f->state;
	it->vars.value = f->value;
	it->vars.raw = f->raw;
	it->vars.unit = r ? r->unit : "";
	it->vars.threshold = f->threshold;
	it->vars.since = f->since;
	it->vars.duration = f->duration;
	it->vars.hostname = cfg->hostname;
	it->vars.time = f->time;
	it->vars.reason = ev->reason;
	it->vars.condition = f->condition;
}

/* Bare envelope addresses of to, each once. */
static int
notify_rcpts(struct notify_mail *m, char *const *to, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (config_address_add(&m->rcpts, &m->nrcpt, to[i], 1) == -1)
			return -1;
	return 0;
}

int
notify_build(const struct config *cfg, const struct alarm_notification *n,
    time_t now, unsigned long long rnd, struct notify_mail *m)
{
	struct compose_item *items;
	struct notify_fields *f;
	struct compose_mail cm;
	char headline[NOTIFY_TEXT], *footer = NULL;
	size_t i;
	int rv = -1;

	memset(m, 0, sizeof(*m));
	/* escalation recipients see the alarm as it is: ACTIVE */
	m->state = n->kind == ALARM_ESCALATION ? "ACTIVE" :
	    alarm_kind_name(n->kind);
	items = calloc(n->nev + 1, sizeof(*items));
	f = calloc(n->nev + 1, sizeof(*f));
	if (items == NULL || f == NULL)
		goto out;
	for (i = 0; i < n->nev; i++) {
		notify_item(cfg, n, i, now, m->state, &f[i], &items[i]);
		if (i < 4) {
			if (i > 0)
				strlcat(m->rules, ",", sizeof(m->rules));
			strlcat(m->rules, n->ev[i].name, sizeof(m->rules));
		}
	}
	if (n->nev > 4)
		strlcat(m->rules, ",...", sizeof(m->rules));
	compose_message_id(m->message_id, sizeof(m->message_id), cfg->hostname,
	    now, rnd);
	notify_subject(m->subject, sizeof(m->subject), cfg, n, m->state,
	    items);
	notify_headline(headline, sizeof(headline), n, now);
	memset(&cm, 0, sizeof(cm));
	cm.from = cfg->smtp.from;
	cm.to = n->to;
	cm.nto = n->nto;
	cm.hostname = cfg->hostname;
	cm.date = now;
	cm.message_id = m->message_id;
	/* replies acknowledge (imap:): they must reach the watched mailbox */
	if (cfg->imap.enabled)
		cm.reply_to = cfg->imap.reply_to != NULL ? cfg->imap.reply_to :
		    cfg->smtp.from;
	cm.subject = m->subject;
	cm.intro = headline;
	cm.items = items;
	cm.nitems = n->nev;
	if (n->kind != ALARM_ACTIVE && n->ev[0].thread[0] != '\0')
		cm.in_reply_to = n->ev[0].thread;
	if ((cm.outro = footer = notify_footer(cfg, n)) == NULL ||
	    notify_rcpts(m, n->to, n->nto) == -1 ||
	    (m->data = compose_alarm(&cm, &m->len)) == NULL)
		goto out;
	rv = 0;
out:
	if (rv == -1)
		notify_mail_clear(m);
	free(footer);
	free(items);
	free(f);
	return rv;
}

int
notify_sign_of_life(const struct config *cfg, const struct notify_gateway *gw,
    time_t now, unsigned long long rnd, struct notify_mail *m)
{
	struct compose_text t;
	char *body, subject[256], when[NOTIFY_FIELD], age[NOTIFY_FIELD];

	memset(m, 0, sizeof(*m));
	m->state = "ALIVE";
	strlcpy(m->rules, "sign_of_life", sizeof(m->rules));
	notify_time(when, sizeof(when), now);
	notify_duration(age, sizeof(age), gw->queue_oldest ? now -
	    gw->queue_oldest : 0, 0);
	body = xasprintf("modbus2mail on %s is alive at %s.\n\nDevices:\n%s\n"
	    "Active alarms:\n%s\nQueue: %zu message(s)%s%s\n"
	    "Failed: %zu message(s)%s\n", cfg->hostname,
	    when, gw->devices, gw->alarms[0] ? gw->alarms : "  none\n",
	    gw->queue_len, gw->queue_len ? ", oldest " : "",
	    gw->queue_len ? age : "", gw->failed, gw->failed ? " (see "
	    "`modbus2mail queue`; `retry ID|--all` or `delete ID`)" : "");
	snprintf(subject, sizeof(subject), "[info] %s: daily sign of life",
	    cfg->hostname);
	compose_message_id(m->message_id, sizeof(m->message_id), cfg->hostname,
	    now, rnd);
	memset(&t, 0, sizeof(t));
	t.from = cfg->smtp.from;
	t.to = cfg->sign_of_life.to.v;
	t.nto = cfg->sign_of_life.to.n;
	t.subject = subject;
	t.body = body;
	t.date = now;
	t.message_id = m->message_id;
	return notify_finish(m, &t, body);
}

int
notify_failure(const struct config *cfg, const struct notify_failure *f,
    time_t now, unsigned long long rnd, struct notify_mail *m)
{
	struct compose_text t;
	char *body = NULL;
	size_t blen = 0, i;
	FILE *mem;

	memset(m, 0, sizeof(*m));
	m->state = "UNDELIVERED";
	strlcpy(m->rules, "failure_notice", sizeof(m->rules));
	if (cfg->smtp.failure_notice == NULL ||
	    (mem = open_memstream(&body, &blen)) == NULL)
		return -1;
	fprintf(mem, "This is modbus2mail on %s.\n\nA message could not be "
	    "delivered to some or all of its recipients.\n\nQueue id: %s\n"
	    "Reason: %s\n", cfg->hostname, f->queue_id, f->reason);
	if (f->nfailed > 0)
		fprintf(mem, "Failed recipients:\n");
	for (i = 0; i < f->nfailed; i++)
		fprintf(mem, "  %s\n", f->failed[i]);
	if (f->delivered != NULL && f->delivered[0] != '\0')
		fprintf(mem, "Delivered to: %s\n", f->delivered);
	if (f->headers != NULL)
		fprintf(mem, "\n--- headers of the original message ---\n%s",
		    f->headers);
	if (fclose(mem) == EOF) {
		free(body);
		return -1;
	}
	compose_message_id(m->message_id, sizeof(m->message_id), cfg->hostname,
	    now, rnd);
	memset(&t, 0, sizeof(t));
	t.from = cfg->smtp.from;
	t.to = &cfg->smtp.failure_notice;
	t.nto = 1;
	t.subject = "Undelivered mail (modbus2mail)";
	t.body = body;
	t.date = now;
	t.message_id = m->message_id;
	t.auto_submitted = "auto-replied";
	return notify_finish(m, &t, body);
}

/* Recipients and text of m from t; frees body. 0, or -1 with m cleared. */
static int
notify_finish(struct notify_mail *m, const struct compose_text *t, char *body)
{
	int r = 0;

	if (notify_rcpts(m, t->to, t->nto) == -1 ||
	    (m->data = compose_plain(t, &m->len)) == NULL) {
		notify_mail_clear(m);
		r = -1;
	}
	free(body);
	return r;
}

void
notify_mail_clear(struct notify_mail *m)
{
	util_strv_free(m->rcpts, m->nrcpt);
	free(m->data);
	m->rcpts = NULL;
	m->nrcpt = 0;
	m->data = NULL;
}
