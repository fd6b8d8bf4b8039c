/*
 * alarm.c - per-rule state machines of one device (SPEC §4).
 *
 *   NORMAL --cond--> PENDING --held on_delay--> ACTIVE (mail)
 *   ACTIVE --normal--> CLEARING --normal off_delay--> NORMAL (CLEARED mail)
 *
 * A latched or unacknowledged-latch alarm stays ACTIVE until acknowledged.
 * Events of one cycle are grouped by kind: a burst of raises is one mail
 * (held for the device's group_wait when it is set), a burst of clears too.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/alarm.h"
#include "modbus2mail/log.h"
#include "modbus2mail/util.h"
#include "modbus2mail/value.h"

#define ALARM_NKINDS 6

enum slot_type {
	SLOT_RULE,
	SLOT_LINK,
	SLOT_HEARTBEAT,
};

enum slot_state {
	STATE_NORMAL,
	STATE_PENDING,		/* condition true, on_delay running */
	STATE_ACTIVE,
	STATE_CLEARING,		/* condition false, off_delay running */
};

struct slot {
	enum slot_type type;
	long rule;				/* config index or -1 */
	const struct config_rule *r;		/* NULL for pseudo-rules */
	char name[128];
	enum config_severity severity;
	const struct config_strlist *to;
	enum slot_state state;
	uint64_t t0;				/* PENDING/CLEARING start */
	uint64_t active_at;			/* monotonic, for escalation */
	time_t since;				/* wall clock of the raise */
	int acked, escalated, notified;
	uint64_t next_reminder;
	uint64_t shelved_until;			/* monotonic, 0 = not */
	time_t shelved_until_wall;
	char reason[128];
	uint64_t *raises;			/* chatter ring */
	size_t nraises;
	int ack_prev;				/* -1 unknown */
	int has_value;
	double value, raw;
	char msgid[ALARM_MSGID_MAX];
};

/* Events of one kind collected during a cycle (or a group_wait window). */
struct batch {
	struct alarm_event *ev;
	size_t *slot;
	size_t n;
};

struct queued {
	struct alarm_notification *n;
	struct queued *next;
};

struct alarm_engine {
	const struct config *cfg;
	const struct config_device *dev;
	size_t device;
	struct slot *slots;
	size_t nslots;
	long link_slot, hb_slot;		/* -1 when not configured */
	uint64_t link_fail_since;		/* 0 = link fine */
	int hb_have;
	uint16_t hb_last;
	uint64_t hb_changed;
	struct batch batch[ALARM_NKINDS];
	uint64_t group_deadline;		/* 0 = no window open */
	struct queued *queue, **tail;
};

static void	slot_enter_state(struct alarm_engine *, struct slot *,
		    enum slot_state);
static const char *slot_strstate(enum slot_state);
static int	slot_shelved(const struct slot *, uint64_t);
static void	emit(struct alarm_engine *, size_t, enum alarm_kind, uint64_t);
static void	flush_batch(struct alarm_engine *, enum alarm_kind);
static void	raise_alarm(struct alarm_engine *, size_t, uint64_t, time_t);
static void	clear_alarm(struct alarm_engine *, size_t, uint64_t);
static void	step(struct alarm_engine *, size_t, int, uint64_t, time_t);
static void	timers(struct alarm_engine *, size_t, uint64_t);
static void	addr_add(char ***, size_t *, const struct config_strlist *);
static long	slot_find(const struct alarm_engine *, const char *);

#define CASE(x) case x: return #x
static const char *
slot_strstate(enum slot_state s)
{
	switch (s) {
	CASE(STATE_NORMAL);
	CASE(STATE_PENDING);
	CASE(STATE_ACTIVE);
	CASE(STATE_CLEARING);
	}
	return "?";
}

const char *
alarm_kind_name(enum alarm_kind k)
{
	static const char *const names[] = { "ACTIVE", "CLEARED", "REMINDER",
		"ACKNOWLEDGED", "ESCALATION", "SHELVED" };

	return (unsigned)k < ALARM_NKINDS ? names[k] : "?";
}

static void
slot_enter_state(struct alarm_engine *e, struct slot *s, enum slot_state ns)
{
	log_debug("alarm: %s: %s -> %s", s->name, slot_strstate(s->state),
	    slot_strstate(ns));
	s->state = ns;
	(void)e;
}

static int
slot_shelved(const struct slot *s, uint64_t now)
{
	return s->shelved_until != 0 && now < s->shelved_until;
}

struct alarm_engine *
alarm_engine_new(const struct config *cfg, size_t device)
{
	struct alarm_engine *e;
	const struct config_device *d = &cfg->devices[device];
	struct slot *s;
	size_t i, n = 2;

	e = xcalloc(1, sizeof(*e));
	e->cfg = cfg;
	e->dev = d;
	e->device = device;
	e->tail = &e->queue;
	e->link_slot = e->hb_slot = -1;
	for (i = 0; i < cfg->nrules; i++)
		n += cfg->rules[i].device == device;
	e->slots = xcalloc(n, sizeof(*e->slots));
	for (i = 0; i < cfg->nrules; i++) {
		const struct config_rule *r = &cfg->rules[i];

		if (r->device != device)
			continue;
		s = &e->slots[e->nslots++];
		s->type = SLOT_RULE;
		s->rule = (long)i;
		s->r = r;
		strlcpy(s->name, r->name, sizeof(s->name));
		s->severity = r->severity;
		s->to = &r->to;
		if (r->chatter)
			s->raises = xcalloc(r->chatter_raises, sizeof(uint64_t));
	}
	if (d->link_alarm) {
		e->link_slot = (long)e->nslots;
		s = &e->slots[e->nslots++];
		s->type = SLOT_LINK;
		snprintf(s->name, sizeof(s->name), "%s.link", d->name);
	}
	if (d->heartbeat) {
		e->hb_slot = (long)e->nslots;
		s = &e->slots[e->nslots++];
		s->type = SLOT_HEARTBEAT;
		snprintf(s->name, sizeof(s->name), "%s.heartbeat", d->name);
	}
	for (i = 0; i < e->nslots; i++) {
		s = &e->slots[i];
		s->ack_prev = -1;
		if (s->type != SLOT_RULE) {
			s->rule = -1;
			s->severity = d->link_severity;
			s->to = &d->link_to;
		}
	}
	return e;
}

void
alarm_engine_free(struct alarm_engine *e)
{
	struct alarm_notification *n;
	size_t i;

	if (e == NULL)
		return;
	while ((n = alarm_engine_take(e)) != NULL)
		alarm_notification_free(n);
	for (i = 0; i < ALARM_NKINDS; i++) {
		free(e->batch[i].ev);
		free(e->batch[i].slot);
	}
	for (i = 0; i < e->nslots; i++)
		free(e->slots[i].raises);
	free(e->slots);
	free(e);
}

void
alarm_notification_free(struct alarm_notification *n)
{
	size_t i;

	for (i = 0; i < n->nto; i++)
		free(n->to[i]);
	free(n->to);
	free(n->ev);
	free(n);
}

static void
emit(struct alarm_engine *e, size_t idx, enum alarm_kind kind, uint64_t ms)
{
	struct batch *b = &e->batch[kind];
	struct slot *s = &e->slots[idx];
	struct alarm_event *ev;

	b->ev = xreallocarray(b->ev, b->n + 1, sizeof(*b->ev));
	b->slot = xreallocarray(b->slot, b->n + 1, sizeof(*b->slot));
	ev = &b->ev[b->n];
	memset(ev, 0, sizeof(*ev));
	ev->name = s->r != NULL ? s->r->name : s->name;
	ev->rule = s->rule;
	ev->severity = s->severity;
	ev->has_value = s->has_value;
	ev->value = s->value;
	ev->raw = s->raw;
	ev->since = s->since;
	ev->shelve_ms = ms;
	strlcpy(ev->thread, s->msgid, sizeof(ev->thread));
	b->slot[b->n++] = idx;
}

/* Adds the addresses of l not yet in the list (case-sensitive compare). */
static void
addr_add(char ***v, size_t *n, const struct config_strlist *l)
{
	size_t i, j;

	for (i = 0; i < l->n; i++) {
		for (j = 0; j < *n; j++)
			if (strcmp((*v)[j], l->v[i]) == 0)
				break;
		if (j < *n)
			continue;
		*v = xreallocarray(*v, *n + 1, sizeof(**v));
		(*v)[(*n)++] = xstrdup(l->v[i]);
	}
}

static void
flush_batch(struct alarm_engine *e, enum alarm_kind kind)
{
	struct batch *b = &e->batch[kind];
	struct alarm_notification *n;
	struct queued *q;
	size_t i;

	if (b->n == 0)
		return;
	n = xcalloc(1, sizeof(*n));
	n->kind = kind;
	n->device = e->device;
	n->ev = b->ev;
	n->nev = b->n;
	for (i = 0; i < b->n; i++) {
		const struct slot *s = &e->slots[b->slot[i]];

		if (kind == ALARM_ESCALATION)
			addr_add(&n->to, &n->nto, &s->r->escalate_to);
		else
			addr_add(&n->to, &n->nto, s->to);
	}
	free(b->slot);
	memset(b, 0, sizeof(*b));
	q = xcalloc(1, sizeof(*q));
	q->n = n;
	*e->tail = q;
	e->tail = &q->next;
}

struct alarm_notification *
alarm_engine_take(struct alarm_engine *e)
{
	struct queued *q = e->queue;
	struct alarm_notification *n;

	if (q == NULL)
		return NULL;
	e->queue = q->next;
	if (e->queue == NULL)
		e->tail = &e->queue;
	n = q->n;
	free(q);
	return n;
}

void
alarm_engine_set_message_id(struct alarm_engine *e,
    const struct alarm_notification *n, const char *msgid)
{
	size_t i;
	long idx;

	if (n->kind != ALARM_ACTIVE)
		return;
	for (i = 0; i < n->nev; i++)
		if ((idx = slot_find(e, n->ev[i].name)) != -1)
			strlcpy(e->slots[idx].msgid, msgid,
			    sizeof(e->slots[idx].msgid));
}

static long
slot_find(const struct alarm_engine *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->nslots; i++)
		if (strcmp(e->slots[i].name, name) == 0)
			return (long)i;
	return -1;
}

static void
raise_alarm(struct alarm_engine *e, size_t idx, uint64_t now, time_t wall)
{
	struct slot *s = &e->slots[idx];
	const struct config_rule *r = s->r;
	size_t i, recent = 0;

	slot_enter_state(e, s, STATE_ACTIVE);
	s->since = wall;
	s->active_at = now;
	s->acked = s->escalated = s->notified = 0;
	s->msgid[0] = '\0';
	s->next_reminder = r != NULL && r->repeat_ms ? now + r->repeat_ms : 0;
	if (r != NULL && r->chatter && !slot_shelved(s, now)) {
		memmove(s->raises + 1, s->raises,
		    (r->chatter_raises - 1) * sizeof(*s->raises));
		s->raises[0] = now;
		s->nraises += s->nraises < r->chatter_raises;
		for (i = 0; i < s->nraises; i++)
			recent += now - s->raises[i] <= r->chatter_within_ms;
		if (recent >= r->chatter_raises) {
			s->shelved_until = now + r->chatter_shelve_ms;
			s->shelved_until_wall = wall +
			    (time_t)(r->chatter_shelve_ms / 1000);
			snprintf(s->reason, sizeof(s->reason), "chatter: %zu "
			    "raises within %llus", recent,
			    (unsigned long long)(r->chatter_within_ms / 1000));
			s->nraises = 0;
			emit(e, idx, ALARM_SHELVED, r->chatter_shelve_ms);
			return;
		}
	}
	if (!slot_shelved(s, now)) {
		s->notified = 1;
		emit(e, idx, ALARM_ACTIVE, 0);
	}
}

static void
clear_alarm(struct alarm_engine *e, size_t idx, uint64_t now)
{
	struct slot *s = &e->slots[idx];
	int notify_clear = s->r == NULL || s->r->notify_clear;

	slot_enter_state(e, s, STATE_NORMAL);
	if (s->notified && notify_clear && !slot_shelved(s, now))
		emit(e, idx, ALARM_CLEARED, 0);
	s->notified = s->acked = 0;
}

/* Feeds one evaluated condition to the state machine of a slot. */
static void
step(struct alarm_engine *e, size_t idx, int cond, uint64_t now, time_t wall)
{
	struct slot *s = &e->slots[idx];
	uint64_t on = s->r ? s->r->on_delay_ms : 0;
	uint64_t off = s->r ? s->r->off_delay_ms : 0;
	int latch = s->r ? s->r->latch : 0;

	switch (s->state) {
	case STATE_NORMAL:
		if (!cond)
			break;
		slot_enter_state(e, s, STATE_PENDING);
		s->t0 = now;
		/* FALLTHROUGH */
	case STATE_PENDING:
		if (!cond)
			slot_enter_state(e, s, STATE_NORMAL);
		else if (now - s->t0 >= on)
			raise_alarm(e, idx, now, wall);
		break;
	case STATE_ACTIVE:
		if (cond || (latch && !s->acked))
			break;
		slot_enter_state(e, s, STATE_CLEARING);
		s->t0 = now;
		/* FALLTHROUGH */
	case STATE_CLEARING:
		if (cond)
			slot_enter_state(e, s, STATE_ACTIVE);
		else if (now - s->t0 >= off)
			clear_alarm(e, idx, now);
		break;
	}
}

/* Reminders, escalation, and the mail held back while shelved. */
static void
timers(struct alarm_engine *e, size_t idx, uint64_t now)
{
	struct slot *s = &e->slots[idx];
	const struct config_rule *r = s->r;

	if (s->state != STATE_ACTIVE && s->state != STATE_CLEARING)
		return;
	if (slot_shelved(s, now))
		return;
	if (!s->notified) {
		/* shelf expired or lifted while active: say it now */
		s->notified = 1;
		emit(e, idx, ALARM_ACTIVE, 0);
		return;
	}
	if (r == NULL || s->acked)
		return;
	if (r->repeat_ms && s->next_reminder && now >= s->next_reminder) {
		emit(e, idx, ALARM_REMINDER, 0);
		s->next_reminder = now + r->repeat_ms;
	}
	if (r->escalate && !s->escalated &&
	    now - s->active_at >= r->escalate_after_ms) {
		s->escalated = 1;
		emit(e, idx, ALARM_ESCALATION, 0);
	}
}

int
alarm_rule_condition(const struct config_rule *r, const struct readplan *p,
    int active, double *value, double *raw)
{
	uint16_t regs[2];
	unsigned i, n;
	int bit, hi, lo;
	double v;

	if (r->source == SOURCE_COIL || r->source == SOURCE_DISCRETE_INPUT) {
		if (readplan_bit(p, r->source, r->address, &bit) == -1)
			return -1;
		*value = *raw = bit;
		return bit == r->active_when;
	}
	n = value_nregs(r->type);
	for (i = 0; i < n; i++)
		if (readplan_reg(p, r->source, (uint16_t)(r->address + i),
		    &regs[i]) == -1)
			return -1;
	if (r->bit >= 0) {
		*raw = regs[0];
		*value = value_bit(regs[0], r->bit);
		return value_bit(regs[0], r->bit) == r->active_when;
	}
	v = value_scale(r, value_decode(r->type, r->order, regs, raw));
	*value = v;
	/* Deadband: once active, clearing needs the value back past it. */
	hi = r->has_above && (active ? v > r->above - r->deadband :
	    v > r->above);
	lo = r->has_below && (active ? v < r->below + r->deadband :
	    v < r->below);
	return hi || lo || (r->has_equals && v == r->equals) ||
	    (r->has_not_equals && v != r->not_equals);
}

void
alarm_engine_cycle(struct alarm_engine *e, const struct readplan *p,
    int link_up, uint64_t now, time_t wall)
{
	const struct config_device *d = e->dev;
	struct slot *s;
	size_t i;
	uint16_t hb;
	int cond, ackbit;

	if (e->link_slot >= 0) {
		i = (size_t)e->link_slot;
		if (!link_up && e->link_fail_since == 0)
			e->link_fail_since = now;
		if (link_up)
			e->link_fail_since = 0;
		step(e, i, !link_up && now - e->link_fail_since >=
		    d->link_alarm_after_ms, now, wall);
	}
	if (e->hb_slot >= 0 && link_up &&
	    readplan_reg(p, d->heartbeat_source, d->heartbeat_address,
	    &hb) == 0) {
		if (!e->hb_have || hb != e->hb_last) {
			e->hb_have = 1;
			e->hb_last = hb;
			e->hb_changed = now;
		}
		s = &e->slots[e->hb_slot];
		s->has_value = 1;
		s->value = s->raw = hb;
		step(e, (size_t)e->hb_slot, now - e->hb_changed >=
		    d->heartbeat_stale_ms, now, wall);
	}
	for (i = 0; i < e->nslots; i++) {
		s = &e->slots[i];
		if (s->r == NULL || !link_up)
			continue;
		/* A failed read is never a value: the state is kept. */
		cond = alarm_rule_condition(s->r, p, s->state == STATE_ACTIVE ||
		    s->state == STATE_CLEARING, &s->value, &s->raw);
		if (cond == -1)
			continue;
		s->has_value = 1;
		if (s->r->ack && readplan_bit(p, s->r->ack_source,
		    s->r->ack_address, &ackbit) == 0) {
			if (s->ack_prev == 0 && ackbit == 1)
				alarm_engine_ack(e, s->name, now, NULL, 0);
			s->ack_prev = ackbit;
		}
		step(e, i, cond, now, wall);
	}
	for (i = 0; i < e->nslots; i++)
		timers(e, i, now);
	for (i = ALARM_CLEARED; i < ALARM_NKINDS; i++)
		flush_batch(e, (enum alarm_kind)i);
	/* Raises: now, or when the group_wait window opened by the first ends. */
	if (e->batch[ALARM_ACTIVE].n > 0 && e->group_deadline == 0)
		e->group_deadline = now + d->group_wait_ms;
	if (e->group_deadline != 0 && now >= e->group_deadline) {
		flush_batch(e, ALARM_ACTIVE);
		e->group_deadline = 0;
	}
}

int
alarm_engine_ack(struct alarm_engine *e, const char *rule, uint64_t now,
    char *err, size_t errlen)
{
	long idx = slot_find(e, rule);
	struct slot *s;

	if (idx == -1)
		return 1;
	s = &e->slots[idx];
	if (s->state != STATE_ACTIVE && s->state != STATE_CLEARING) {
		if (err != NULL)
			snprintf(err, errlen, "alarm %s is not active", rule);
		return -1;
	}
	if (s->acked)
		return 0;
	s->acked = 1;
	if (s->notified && !slot_shelved(s, now))
		emit(e, (size_t)idx, ALARM_ACKNOWLEDGED, 0);
	return 0;
}

int
alarm_engine_shelve(struct alarm_engine *e, const char *rule, uint64_t ms,
    const char *reason, uint64_t now, time_t wall, char *err, size_t errlen)
{
	long idx = slot_find(e, rule);
	struct slot *s;

	(void)err;
	(void)errlen;
	if (idx == -1)
		return 1;
	s = &e->slots[idx];
	if (ms == 0) {
		s->shelved_until = 0;
		s->shelved_until_wall = 0;
		s->reason[0] = '\0';
		return 0;
	}
	s->shelved_until = now + ms;
	s->shelved_until_wall = wall + (time_t)(ms / 1000);
	strlcpy(s->reason, reason, sizeof(s->reason));
	return 0;
}

static void
alarm_fmt_time(char *buf, size_t len, time_t t)
{
	struct tm tm;

	localtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
}

void
alarm_engine_status(const struct alarm_engine *e, FILE *out, uint64_t now,
    time_t wall)
{
	const struct slot *s;
	char since[32], until[32];
	size_t i;
	int active;

	(void)wall;
	for (i = 0; i < e->nslots; i++) {
		s = &e->slots[i];
		active = s->state == STATE_ACTIVE || s->state == STATE_CLEARING;
		if (!active && !slot_shelved(s, now))
			continue;
		alarm_fmt_time(since, sizeof(since), s->since);
		fprintf(out, "  %s state=%s since=%s acknowledged=%s "
		    "shelved=%s", s->name, active ? "ACTIVE" : "NORMAL",
		    active ? since : "-", s->acked ? "yes" : "no",
		    slot_shelved(s, now) ? "yes" : "no");
		if (slot_shelved(s, now)) {
			alarm_fmt_time(until, sizeof(until),
			    s->shelved_until_wall);
			fprintf(out, " shelved_until=%s reason=\"%s\"", until,
			    s->reason);
		}
		fputc('\n', out);
	}
}

size_t
alarm_engine_active(const struct alarm_engine *e)
{
	size_t i, n = 0;

	for (i = 0; i < e->nslots; i++)
		n += e->slots[i].state == STATE_ACTIVE ||
		    e->slots[i].state == STATE_CLEARING;
	return n;
}

/*
 * One line per slot worth keeping:
 *   NAME ACKED ESCALATED NOTIFIED SINCE SHELVED_UNTIL MSGID REASON...
 * times are wall-clock seconds; "-" for an empty Message-ID.
 */
char *
alarm_engine_save(const struct alarm_engine *e, uint64_t now, time_t wall)
{
	const struct slot *s;
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f;

	(void)wall;
	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	fprintf(f, "# modbus2mail alarm state v1\n");
	for (i = 0; i < e->nslots; i++) {
		s = &e->slots[i];
		if (s->state != STATE_ACTIVE && s->state != STATE_CLEARING &&
		    !slot_shelved(s, now))
			continue;
		fprintf(f, "%s %d %d %d %lld %lld %s %s\n", s->name,
		    s->state == STATE_ACTIVE || s->state == STATE_CLEARING ?
		    1 + s->acked : 0, s->escalated, s->notified,
		    (long long)s->since, slot_shelved(s, now) ?
		    (long long)s->shelved_until_wall : 0LL,
		    s->msgid[0] ? s->msgid : "-", s->reason);
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

void
alarm_engine_load(struct alarm_engine *e, const char *text, uint64_t now,
    time_t wall)
{
	char line[512], name[128], msgid[ALARM_MSGID_MAX], *nl;
	const char *p = text;
	long long since, until;
	int st, esc, notified, off;
	struct slot *s;
	long idx;

	while (*p != '\0') {
		nl = strchr(p, '\n');
		snprintf(line, sizeof(line), "%.*s", nl ? (int)(nl - p) :
		    (int)strlen(p), p);
		p = nl ? nl + 1 : p + strlen(p);
		off = 0;
		if (line[0] == '#' || sscanf(line, "%127s %d %d %d %lld %lld "
		    "%159s %n", name, &st, &esc, &notified, &since, &until,
		    msgid, &off) < 7 || off == 0)
			continue;
		if ((idx = slot_find(e, name)) == -1)
			continue;	/* rule removed from the config */
		s = &e->slots[idx];
		if (st > 0) {
			s->state = STATE_ACTIVE;
			s->acked = st == 2;
			s->escalated = esc;
			s->notified = notified;
			s->since = (time_t)since;
			s->active_at = now - (wall > since ?
			    (uint64_t)(wall - since) * 1000 : 0);
			if (s->active_at > now)
				s->active_at = now;
			if (s->r != NULL && s->r->repeat_ms)
				s->next_reminder = now + s->r->repeat_ms;
			if (strcmp(msgid, "-") != 0)
				strlcpy(s->msgid, msgid, sizeof(s->msgid));
		}
		if (until > wall) {
			s->shelved_until = now + (uint64_t)(until - wall) * 1000;
			s->shelved_until_wall = (time_t)until;
			strlcpy(s->reason, line + off, sizeof(s->reason));
		}
	}
}
