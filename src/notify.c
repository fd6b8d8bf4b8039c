/*
 * notify.c - from alarm notifications to messages: template variables,
 * recipients, Message-ID and thread headers (SPEC §3 templates, §4, §5).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/compose.h"
#include "modbus2mail/notify.h"
#include "modbus2mail/util.h"
#include "modbus2mail/value.h"

#define NOTIFY_FIELD 96
/* DEVICE.link and DEVICE.read say what failed. */
#define NOTIFY_DEVICE_BODY						\
	"Alarm {name} on {device} is {state}: {reason}\n"		\
	"Severity: {severity}\nSince: {since} ({duration})\n"		\
	"Gateway: {hostname}, {time}\n"

/* Per-event text storage for the template variables. */
struct notify_fields {
	char state[16], value[NOTIFY_FIELD], raw[NOTIFY_FIELD];
	char threshold[NOTIFY_FIELD], since[NOTIFY_FIELD];
	char duration[NOTIFY_FIELD], time[NOTIFY_FIELD];
};

static void	notify_time(char *, size_t, time_t);
static void	notify_duration(char *, size_t, time_t);
static void	notify_threshold(char *, size_t, const struct config_rule *);
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

static void
notify_time(char *buf, size_t len, time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
}

/* "45s", "12m 5s", "2h", "3d 4h": the two largest units, zeros left out. */
static void
notify_duration(char *buf, size_t len, time_t secs)
{
	static const struct {
		long long div;
		char unit;
	} u[] = { { 86400, 'd' }, { 3600, 'h' }, { 60, 'm' }, { 1, 's' } };
	long long v = secs < 0 ? 0 : (long long)secs, rest;
	size_t i;

	for (i = 0; i < 3 && v < u[i].div; i++)
		;
	rest = i < 3 ? (v % u[i].div) / u[i + 1].div : 0;
	if (rest != 0)
		snprintf(buf, len, "%lld%c %lld%c", v / u[i].div, u[i].unit,
		    rest, u[i + 1].unit);
	else
		snprintf(buf, len, "%lld%c", v / u[i].div, u[i].unit);
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
    time_t now, unsigned long long seq, struct notify_mail *m)
{
	const struct config_device *d = &cfg->devices[n->device];
	struct compose_item *items;
	struct notify_fields *f;
	struct compose_mail cm;
	const struct alarm_event *ev;
	const struct config_rule *r;
	char subject[512], shelf[NOTIFY_FIELD];
	size_t i;
	int rv = -1;

	memset(m, 0, sizeof(*m));
	/* escalation recipients see the alarm as it is: ACTIVE */
	m->state = n->kind == ALARM_ESCALATION ? "ACTIVE" :
	    alarm_kind_name(n->kind);
	items = xcalloc(n->nev, sizeof(*items));
	f = xcalloc(n->nev, sizeof(*f));
	for (i = 0; i < n->nev; i++) {
		ev = &n->ev[i];
		r = ev->rule >= 0 ? &cfg->rules[ev->rule] : NULL;
		strlcpy(f[i].state, m->state, sizeof(f[i].state));
		if (ev->has_value) {
			value_format(f[i].value, sizeof(f[i].value), ev->value);
			value_format(f[i].raw, sizeof(f[i].raw), ev->raw);
		}
		notify_threshold(f[i].threshold, sizeof(f[i].threshold), r);
		notify_time(f[i].since, sizeof(f[i].since), ev->since);
		notify_duration(f[i].duration, sizeof(f[i].duration),
		    now - ev->since);
		notify_time(f[i].time, sizeof(f[i].time), now);
		items[i].rule = ev->name;
		items[i].subject_tmpl = r ? r->subject : CONFIG_DEFAULT_SUBJECT;
		items[i].body_tmpl = r ? r->body : ev->reason[0] != '\0' ?
		    NOTIFY_DEVICE_BODY : CONFIG_DEFAULT_BODY;
		items[i].vars.name = ev->name;
		items[i].vars.device = d->name;
		items[i].vars.severity = config_severity_name(ev->severity);
		items[i].vars.state = f[i].state;
		items[i].vars.value = f[i].value;
		items[i].vars.raw = f[i].raw;
		items[i].vars.unit = r ? r->unit : "";
		items[i].vars.threshold = f[i].threshold;
		items[i].vars.since = f[i].since;
		items[i].vars.duration = f[i].duration;
		items[i].vars.hostname = cfg->hostname;
		items[i].vars.time = f[i].time;
		items[i].vars.reason = ev->reason;
		if (i < 4) {
			if (i > 0)
				strlcat(m->rules, ",", sizeof(m->rules));
			strlcat(m->rules, ev->name, sizeof(m->rules));
		}
	}
	if (n->nev > 4)
		strlcat(m->rules, ",...", sizeof(m->rules));
	/* each poller counts on its own: the device keeps ids apart */
	compose_message_id(m->message_id, sizeof(m->message_id), cfg->hostname,
	    now, seq * (cfg->ndevices > 0 ? cfg->ndevices : 1) + n->device);
	memset(&cm, 0, sizeof(cm));
	cm.from = cfg->smtp.from;
	cm.to = n->to;
	cm.nto = n->nto;
	cm.hostname = cfg->hostname;
	cm.date = now;
	cm.message_id = m->message_id;
	cm.items = items;
	cm.nitems = n->nev;
	if (n->kind != ALARM_ACTIVE && n->ev[0].thread[0] != '\0')
		cm.in_reply_to = n->ev[0].thread;
	if (n->kind == ALARM_SHELVED) {
		notify_duration(shelf, sizeof(shelf),
		    (time_t)(n->ev[0].shelve_ms / 1000));
		snprintf(subject, sizeof(subject), "[%s] %s%s on %s shelved for "
		    "%s (%s)", config_severity_name(n->ev[0].severity),
		    n->ev[0].name, n->nev > 1 ? " and others" : "", d->name,
		    shelf, n->ev[0].reason[0] != '\0' ?
		    n->ev[0].reason : "chattering");
		cm.subject = subject;
	} else if (n->kind == ALARM_ESCALATION) {
		snprintf(subject, sizeof(subject), "[%s] ESCALATED: %s%s on "
		    "%s, not acknowledged",
		    config_severity_name(n->ev[0].severity), n->ev[0].name,
		    n->nev > 1 ? " and others" : "", d->name);
		cm.subject = subject;
	} else if (n->nev > 1) {
		/* a burst: "[critical] 40 alarms ACTIVE on maxi1" */
		snprintf(subject, sizeof(subject), "[%s] %zu alarms %s on %s",
		    config_severity_name(notify_worst(n)), n->nev, m->state,
		    d->name);
		cm.subject = subject;
	}
	if (notify_rcpts(m, n->to, n->nto) == -1)
		goto out;
	if ((m->data = compose_alarm(&cm, &m->len)) == NULL)
		goto out;
	rv = 0;
out:
	if (rv == -1)
		notify_mail_clear(m);
	free(items);
	free(f);
	return rv;
}

int
notify_sign_of_life(const struct config *cfg, const struct notify_gateway *gw,
    time_t now, unsigned long long seq, struct notify_mail *m)
{
	struct compose_text t;
	char *body, subject[256], when[NOTIFY_FIELD], age[NOTIFY_FIELD];

	memset(m, 0, sizeof(*m));
	m->state = "ALIVE";
	strlcpy(m->rules, "sign_of_life", sizeof(m->rules));
	notify_time(when, sizeof(when), now);
	notify_duration(age, sizeof(age), gw->queue_oldest ? now -
	    gw->queue_oldest : 0);
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
	    now, seq);
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
    time_t now, unsigned long long seq, struct notify_mail *m)
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
	    now, seq);
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
