/*
 * render.c - preview of a rule's ACTIVE mail with the threshold as value.
 */
#include <string.h>
#include <time.h>

#include "modbus2mail/alarm.h"
#include "modbus2mail/config.h"
#include "modbus2mail/notify.h"
#include "modbus2mail/render.h"

int
render_rule(const struct config *cfg, const char *rule, FILE *out, FILE *err)
{
	struct alarm_notification n;
	struct alarm_event ev;
	struct notify_mail m;
	const struct config_rule *r;
	long idx = config_find_rule(cfg, rule);
	size_t i;

	if (idx == -1) {
		fprintf(err, "modbus2mail render: no rule '%s' in %s\n", rule,
		    cfg->path);
		return 1;
	}
	r = &cfg->rules[idx];
	memset(&ev, 0, sizeof(ev));
	ev.name = r->name;
	ev.rule = idx;
	ev.severity = r->severity;
	ev.since = time(NULL);
	/* a plausible value: the threshold itself, or the active bit */
	ev.has_value = 1;
	ev.value = ev.raw = r->has_above ? r->above : r->has_below ? r->below :
	    r->has_equals ? r->equals : r->active_when;
	memset(&n, 0, sizeof(n));
	n.kind = ALARM_ACTIVE;
	n.device = r->device;
	n.ev = &ev;
	n.nev = 1;
	n.to = r->to.v;
	n.nto = r->to.n;
	if (notify_build(cfg, &n, ev.since, 1, &m) == -1) {
		fprintf(err, "modbus2mail render: cannot compose the mail of "
		    "%s\n", rule);
		return 1;
	}
	for (i = 0; i < m.len; i++)
		if (!(m.data[i] == '\r' && i + 1 < m.len && m.data[i + 1] == '\n'))
			fputc(m.data[i], out);
	notify_mail_clear(&m);
	return 0;
}
