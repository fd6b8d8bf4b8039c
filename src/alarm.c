/*
 * alarm.c - per-rule state machines of one device (SPEC §4).
 *
 *   NORMAL --cond--> PENDING --held on_delay--> ACTIVE (ACTIVE mail)
 *   ACTIVE --normal (and acked if latch)--> CLEARING
 *   CLEARING --normal off_delay--> NORMAL (CLEARED mail if notify_clear)
 *   CLEARING --cond--> ACTIVE (silently: deadband/off_delay absorb flapping)
 *
 * Mails are events queued during a cycle and turned into notifications at
 * its end: all raises of the cycle (or of the group_wait window the first
 * one opened) make one ACTIVE notification, a "group"; follow-ups of the
 * same kind and group make one notification each, threaded to that
 * group's Message-ID when they are taken.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
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
	SLOT_READ,
};

enum slot_state {
	STATE_NORMAL,
	STATE_PENDING,		/* condition true, on_delay running */
	STATE_ACTIVE,
	STATE_CLEARING,		/* condition false, off_delay running */
};

/*
 * One per rule and pseudo-rule: 10,000 rules are 10,000 slots, so texts
 * are allocated when set (NULL = ""), most slots never need one.
 */
struct slot {
	enum slot_type type;
	long rule;				/* config index or -1 */
	const struct config_rule *r;		/* NULL for pseudo-rules */
	const char *name;			/* the rule's; owned for
						 * pseudo-rules */
	enum config_severity severity;
	const struct config_strlist *to;
	enum slot_state state;
	uint64_t t0;				/* PENDING/CLEARING start */
	int unseen;				/* a cycle went unevaluated */
	int unavail;				/* up, but not readable */
	uint64_t escalate_at;			/* monotonic, when unacked */
	time_t since;				/* wall clock of the raise */
	int acked, escalated;
	int notified;				/* ACTIVE mail handed out */
	int held;				/* ACTIVE in the group window */
	uint64_t next_reminder;
	uint64_t shelved_until;			/* monotonic, 0 = not */
	time_t shelved_until_wall;
	char *reason;				/* of the shelf */
	char *why;				/* link/read: what failed */
	uint64_t *raises;			/* chatter: recent raise times */
	size_t nraises;
	int ack_prev;				/* -1 unknown */
	int has_value;
	double value, raw;
	unsigned long group;			/* ACTIVE mail of the episode */
	char *msgid;				/* ... and its Message-ID */
	char *subject;				/* ... and its Subject */
	char *by;				/* who acknowledged, how */
};

/* An event waiting for the end of the cycle. */
struct pend {
	enum alarm_kind kind;
	size_t slot;
	uint64_t shelve_ms;
};

/* A notification ready to be taken; slot/group resolve the thread. */
struct queued {
	struct alarm_notification *n;
	size_t *slot;
	unsigned long *group;
	struct queued *next;
};

struct alarm_engine {
	const struct config *cfg;
	const struct config_device *dev;
	size_t device;
	struct slot *slots;
	size_t nslots;
	long link_slot, hb_slot, read_slot;	/* -1 when not configured */
	uint64_t link_fail_since;		/* first failed cycle */
	time_t link_fail_wall;			/* ... on the wall clock */
	int link_failing;
	char link_why[ALARM_REASON_MAX];	/* of the next failed cycle */
	uint64_t *req_fail;			/* per request: failing since
						 * (monotonic + 1), 0 = ok */
	size_t nreq;
	int hb_timing;				/* hb_ref is set (link up) */
	int hb_have;				/* hb_last is a sample */
	uint16_t hb_last;
	uint64_t hb_ref;			/* last change (or first cycle) */
	struct pend *pend;
	size_t npend;
	uint64_t group_deadline;		/* ACTIVE window end, if held */
	int group_open;
	int force_flush;			/* a follow-up needs the ACTIVE */
	unsigned long next_group;
	struct queued *queue, **tail;
};

static const char *slot_strstate(enum slot_state);
static const char *slot_text(const char *);
static void	slot_set(char **, const char *, size_t);
static void	slot_enter_state(struct slot *, enum slot_state);
static int	slot_shelved(const struct slot *, uint64_t);
static int	slot_on(const struct slot *);
static long	slot_find(const struct alarm_engine *, const char *);
static void	emit(struct alarm_engine *, size_t, enum alarm_kind, uint64_t);
static void	raise_alarm(struct alarm_engine *, size_t, uint64_t, time_t);
static void	clear_alarm(struct alarm_engine *, size_t, uint64_t);
static void	step(struct alarm_engine *, size_t, int, uint64_t, time_t);
static void	timers(struct alarm_engine *, size_t, uint64_t);
static void	eval_link(struct alarm_engine *, int, uint64_t, time_t);
static void	eval_heartbeat(struct alarm_engine *, const struct readplan *,
		    int, uint64_t, time_t);
static void	eval_read(struct alarm_engine *, const struct readplan *,
		    int, uint64_t, time_t);
static void	eval_rule(struct alarm_engine *, size_t, const struct readplan *,
		    int, uint64_t, time_t);
static void	flush(struct alarm_engine *, uint64_t);
static void	flush_active(struct alarm_engine *, uint64_t);
static void	flush_followups(struct alarm_engine *);
static void	enqueue(struct alarm_engine *, enum alarm_kind,
		    const struct pend *, size_t);
static void	fill_event(const struct alarm_engine *, const struct slot *,
		    struct alarm_event *,
		    uint64_t);
static void	addr_add(char ***, size_t *, const struct config_strlist *);
static int	near_equal(double, double);
static const char *save_field(const char *, const char *, size_t *);
static void	save_escaped(FILE *, const char *);
static void	load_escaped(char *, size_t, const char *, size_t);
static void	load_line(struct alarm_engine *, const char *, uint64_t,
		    time_t);

static const char *
slot_strstate(enum slot_state s)
{
	switch (s) {
	case STATE_NORMAL:
		return "NORMAL";
	case STATE_PENDING:
		return "PENDING";
	case STATE_ACTIVE:
		return "ACTIVE";
	case STATE_CLEARING:
		return "CLEARING";
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

static const char *
slot_text(const char *t)
{
	return t != NULL ? t : "";
}

/* A copy of the first max - 1 bytes of t in *f (as the fixed buffers of
 * the mails and the state file hold); "" frees it. */
static void
slot_set(char **f, const char *t, size_t max)
{
	size_t n = t != NULL ? strnlen(t, max - 1) : 0;

	if (n > 0 && *f != NULL && strncmp(*f, t, n) == 0 && (*f)[n] == '\0')
		return;		/* the link error comes every cycle */
	free(*f);
	*f = NULL;
	if (n == 0)
		return;
	*f = xmalloc(n + 1);
	memcpy(*f, t, n);
	(*f)[n] = '\0';
}

static void
slot_enter_state(struct slot *s, enum slot_state ns)
{
	log_debug("alarm: rule=%s %s -> %s", s->name, slot_strstate(s->state),
	    slot_strstate(ns));
	s->state = ns;
}

static int
slot_shelved(const struct slot *s, uint64_t now)
{
	return s->shelved_until != 0 && now < s->shelved_until;
}

/* An alarm is on: ACTIVE, or normal again but off_delay not yet over. */
static int
slot_on(const struct slot *s)
{
	return s->state == STATE_ACTIVE || s->state == STATE_CLEARING;
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

struct alarm_engine *
alarm_engine_new(const struct config *cfg, size_t device)
{
	const struct config_device *d = &cfg->devices[device];
	struct alarm_engine *e;
	struct slot *s;
	size_t i, n = 3;

	e = xcalloc(1, sizeof(*e));
	e->cfg = cfg;
	e->dev = d;
	e->device = device;
	e->tail = &e->queue;
	e->link_slot = e->hb_slot = e->read_slot = -1;
	e->next_group = 1;
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
		s->name = r->name;
		s->severity = r->severity;
		s->to = &r->to;
		if (r->chatter && r->chatter_raises > 0)
			s->raises = xcalloc(r->chatter_raises,
			    sizeof(*s->raises));
	}
	if (d->link_alarm) {
		e->link_slot = (long)e->nslots;
		s = &e->slots[e->nslots++];
		s->type = SLOT_LINK;
		s->name = xasprintf("%s.link", d->name);
		e->read_slot = (long)e->nslots;
		s = &e->slots[e->nslots++];
		s->type = SLOT_READ;
		s->name = xasprintf("%s.read", d->name);
	}
	if (d->heartbeat) {
		e->hb_slot = (long)e->nslots;
		s = &e->slots[e->nslots++];
		s->type = SLOT_HEARTBEAT;
		s->name = xasprintf("%s.heartbeat", d->name);
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
	struct slot *s;
	size_t i;

	if (e == NULL)
		return;
	while ((n = alarm_engine_take(e)) != NULL)
		alarm_notification_free(n);
	for (i = 0; i < e->nslots; i++) {
		s = &e->slots[i];
		if (s->type != SLOT_RULE)
			free((char *)s->name);
		free(s->raises);
		free(s->reason);
		free(s->why);
		free(s->msgid);
		free(s->subject);
		free(s->by);
	}
	free(e->slots);
	free(e->req_fail);
	free(e->pend);
	free(e);
}

void
alarm_notification_free(struct alarm_notification *n)
{
	if (n == NULL)
		return;
	util_strv_free(n->to, n->nto);
	free(n->ev);
	free(n);
}

/* Queues an event of slot idx for the end of the cycle. */
static void
emit(struct alarm_engine *e, size_t idx, enum alarm_kind kind, uint64_t ms)
{
	struct pend *p;

	log_debug("alarm: rule=%s event=%s", e->slots[idx].name,
	    alarm_kind_name(kind));
	if (kind != ALARM_ACTIVE && e->slots[idx].held)
		e->force_flush = 1;	/* the ACTIVE mail must go first */
	e->pend = xreallocarray(e->pend, e->npend + 1, sizeof(*e->pend));
	p = &e->pend[e->npend++];
	p->kind = kind;
	p->slot = idx;
	p->shelve_ms = ms;
}

static void
raise_alarm(struct alarm_engine *e, size_t idx, uint64_t now, time_t wall)
{
	struct slot *s = &e->slots[idx];
	const struct config_rule *r = s->r;
	char reason[ALARM_REASON_MAX];
	size_t i, recent = 0;

	slot_enter_state(s, STATE_ACTIVE);
	/* a link or heartbeat episode began when the device went quiet */
	if (s->type == SLOT_LINK)
		s->since = e->link_fail_wall;
	else if (s->type == SLOT_HEARTBEAT)
		s->since = wall - (time_t)((now - e->hb_ref) / 1000);
	else
		s->since = wall;
	s->escalate_at = r != NULL ? now + r->escalate_after_ms : 0;
	s->acked = s->escalated = s->notified = s->held = 0;
	s->group = 0;
	slot_set(&s->msgid, NULL, 1);
	slot_set(&s->subject, NULL, 1);
	slot_set(&s->by, NULL, 1);
	if (r != NULL && r->chatter && s->raises != NULL &&
	    !slot_shelved(s, now)) {
		memmove(s->raises + 1, s->raises,
		    (r->chatter_raises - 1) * sizeof(*s->raises));
		s->raises[0] = now;
		if (s->nraises < r->chatter_raises)
			s->nraises++;
		for (i = 0; i < s->nraises; i++)
			recent += now - s->raises[i] <= r->chatter_within_ms;
		if (recent >= r->chatter_raises) {
			/* flapping: one mail says so, then silence */
			s->shelved_until = now + r->chatter_shelve_ms;
			s->shelved_until_wall = wall +
			    (time_t)(r->chatter_shelve_ms / 1000);
			snprintf(reason, sizeof(reason), "chatter: %zu raises "
			    "within %llus", recent,
			    (unsigned long long)(r->chatter_within_ms / 1000));
			slot_set(&s->reason, reason, sizeof(reason));
			s->nraises = 0;
			emit(e, idx, ALARM_SHELVED, r->chatter_shelve_ms);
			return;
		}
	}
	if (!slot_shelved(s, now)) {
		s->held = 1;
		emit(e, idx, ALARM_ACTIVE, 0);
	}
}

static void
clear_alarm(struct alarm_engine *e, size_t idx, uint64_t now)
{
	struct slot *s = &e->slots[idx];
	int notify_clear = s->r == NULL || s->r->notify_clear;

	slot_enter_state(s, STATE_NORMAL);
	if ((s->notified || s->held) && notify_clear && !slot_shelved(s, now))
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

	/* a delay only counts time the condition was actually seen */
	if (s->unseen && (s->state == STATE_PENDING ||
	    s->state == STATE_CLEARING))
		s->t0 = now;
	s->unseen = 0;
	switch (s->state) {
	case STATE_NORMAL:
		if (!cond)
			break;
		slot_enter_state(s, STATE_PENDING);
		s->t0 = now;
		/* FALLTHROUGH */
	case STATE_PENDING:
		if (!cond)
			slot_enter_state(s, STATE_NORMAL);
		else if (now - s->t0 >= on)
			raise_alarm(e, idx, now, wall);
		break;
	case STATE_ACTIVE:
		if (cond || (latch && !s->acked))
			break;
		slot_enter_state(s, STATE_CLEARING);
		s->t0 = now;
		/* FALLTHROUGH */
	case STATE_CLEARING:
		if (cond)
			slot_enter_state(s, STATE_ACTIVE);
		else if (now - s->t0 >= off)
			clear_alarm(e, idx, now);
		break;
	}
}

/* Reminders, escalation, and the ACTIVE mail held back by a shelf. */
static void
timers(struct alarm_engine *e, size_t idx, uint64_t now)
{
	struct slot *s = &e->slots[idx];
	const struct config_rule *r = s->r;

	if (s->shelved_until != 0 && !slot_shelved(s, now)) {
		log_info("alarm: rule=%s shelf over", s->name);
		s->shelved_until = 0;
		s->shelved_until_wall = 0;
		slot_set(&s->reason, NULL, 1);
	}
	if (!slot_on(s) || slot_shelved(s, now) || s->held)
		return;
	if (!s->notified) {
		/* raised while shelved and still on: say it now */
		s->held = 1;
		emit(e, idx, ALARM_ACTIVE, 0);
		return;
	}
	if (r == NULL || s->acked)
		return;
	if (r->repeat_ms && now >= s->next_reminder) {
		emit(e, idx, ALARM_REMINDER, 0);
		s->next_reminder = now + r->repeat_ms;
	}
	if (r->escalate && !s->escalated &&
	    now >= s->escalate_at) {
		s->escalated = 1;
		emit(e, idx, ALARM_ESCALATION, 0);
	}
}

/* Relative tolerance: 0.1 * 3 must equal 0.3. */
static int
near_equal(double a, double b)
{
	return fabs(a - b) <= 1e-9 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

int
alarm_rule_condition(const struct config_rule *r, const struct readplan *p,
    int active, double *value, double *raw)
{
	uint16_t regs[2];
	int bit, hi, lo;
	double v, w;

	if (p == NULL)
		return -1;
	if (r->source == SOURCE_COIL || r->source == SOURCE_DISCRETE_INPUT) {
		if (readplan_bit(p, r->source, r->address, &bit) == -1)
			return -1;
		*value = *raw = bit;
		return bit == (r->active_when != 0);
	}
	if (r->bit >= 0) {
		if (readplan_reg(p, r->source, r->address, &regs[0]) == -1)
			return -1;
		bit = value_bit(regs[0], r->bit);
		*raw = regs[0];
		*value = bit;
		return bit == (r->active_when != 0);
	}
	if (readplan_regs(p, r->source, r->address, value_nregs(r->type),
	    regs) == -1)
		return -1;
	v = value_scale(r, value_decode(r->type, r->order, regs, &w));
	if (!isfinite(v) || !isfinite(w))
		return -1;	/* NaN, ±Inf: not a measurement, keep the state */
	*raw = w;
	*value = v;
	/* Deadband: once active, clearing needs the value back past it. */
	hi = r->has_above && (active ? v > r->above - r->deadband :
	    v > r->above);
	lo = r->has_below && (active ? v < r->below + r->deadband :
	    v < r->below);
	return hi || lo || (r->has_equals && near_equal(v, r->equals)) ||
	    (r->has_not_equals && !near_equal(v, r->not_equals));
}

static void
eval_link(struct alarm_engine *e, int link_up, uint64_t now, time_t wall)
{
	struct slot *s;
	int cond;

	if (!link_up && !e->link_failing) {
		e->link_failing = 1;
		e->link_fail_since = now;
		e->link_fail_wall = wall;
	}
	if (link_up)
		e->link_failing = 0;
	if (e->link_slot < 0)
		return;
	s = &e->slots[e->link_slot];
	if (!link_up && e->link_why[0] != '\0')
		slot_set(&s->why, e->link_why, ALARM_REASON_MAX);
	/* raised after `after` of failures; once raised, down = still on */
	cond = !link_up && (slot_on(s) ||
	    now - e->link_fail_since >= e->dev->link_alarm_after_ms);
	step(e, (size_t)e->link_slot, cond, now, wall);
}

static void
eval_heartbeat(struct alarm_engine *e, const struct readplan *p, int link_up,
    uint64_t now, time_t wall)
{
	const struct config_device *d = e->dev;
	struct slot *s;
	uint16_t hb;

	if (e->hb_slot < 0)
		return;
	s = &e->slots[e->hb_slot];
	/* a new connection starts a new comparison */
	if (!link_up)
		e->hb_have = e->hb_timing = 0;
	if (!link_up || p == NULL) {
		s->unseen = 1;
		return;
	}
	/* staleness is timed from the first cycle of a connection, unless
	 * already alarmed: then only a real change clears it */
	if (!e->hb_timing) {
		e->hb_timing = 1;
		if (!slot_on(s))
			e->hb_ref = now;
	}
	/* an unreadable heartbeat is no sign of life: it ages as stale */
	if (readplan_reg(p, d->heartbeat_source, d->heartbeat_address,
	    &hb) == 0) {
		if (e->hb_have && hb != e->hb_last)
			e->hb_ref = now;
		e->hb_have = 1;
		e->hb_last = hb;
		s->has_value = 1;
		s->value = s->raw = hb;
	}
	step(e, (size_t)e->hb_slot, now - e->hb_ref >= d->heartbeat_stale_ms,
	    now, wall);
}

/*
 * DEVICE.read: requests that keep failing (exception, another unit's
 * reply) while the device answers others. Raised when one has failed for
 * link_alarm.after, naming every such request; on while any fails.
 */
static void
eval_read(struct alarm_engine *e, const struct readplan *p, int link_up,
    uint64_t now, time_t wall)
{
	const struct readplan_req *rq;
	struct slot *s;
	char buf[ALARM_REASON_MAX] = "";
	size_t i, len;
	int cond = 0, any = 0;

	if (e->read_slot < 0 || p == NULL)
		return;
	s = &e->slots[e->read_slot];
	if (e->nreq != p->nreq) {
		free(e->req_fail);
		e->req_fail = xcalloc(p->nreq + 1, sizeof(*e->req_fail));
		e->nreq = p->nreq;
	}
	if (!link_up) {
		/* like a delay, failing time only counts while seen */
		memset(e->req_fail, 0, e->nreq * sizeof(*e->req_fail));
		s->unseen = 1;
		return;
	}
	for (i = 0; i < p->nreq; i++) {
		rq = &p->req[i];
		if (rq->ok) {
			e->req_fail[i] = 0;
			continue;
		}
		any = 1;
		if (e->req_fail[i] == 0)
			e->req_fail[i] = now + 1;
		if (now + 1 - e->req_fail[i] < e->dev->link_alarm_after_ms)
			continue;
		cond = 1;
		len = strlen(buf);
		snprintf(buf + len, sizeof(buf) - len, "%s%s %u+%u: %s",
		    len > 0 ? "; " : "", config_source_name(rq->table),
		    rq->addr, rq->count, rq->why);
	}
	if (cond)
		slot_set(&s->why, buf, ALARM_REASON_MAX);
	step(e, (size_t)e->read_slot, cond || (slot_on(s) && any), now, wall);
}

static void
eval_rule(struct alarm_engine *e, size_t idx, const struct readplan *p,
    int link_up, uint64_t now, time_t wall)
{
	struct slot *s = &e->slots[idx];
	const struct config_rule *r = s->r;
	char where[48], by[ALARM_REASON_MAX];
	double value, raw;
	int cond, ackbit;

	if (!link_up || p == NULL) {
		s->unseen = 1;
		return;
	}
	if (r->ack && readplan_bit(p, r->ack_source, r->ack_address,
	    &ackbit) == 0) {
		if (s->ack_prev == 0 && ackbit == 1 && slot_on(s)) {
			log_info("alarm: rule=%s acknowledged by=ack_bit",
			    s->name);
			value_address_words(where, sizeof(where),
			    r->ack_source, r->ack_address);
			snprintf(by, sizeof(by), "the ack bit %s", where);
			alarm_engine_ack(e, s->name, by, now, NULL, 0);
		}
		s->ack_prev = ackbit;
	}
	/* A failed read is never a value: the state is kept. */
	cond = alarm_rule_condition(r, p, slot_on(s), &value, &raw);
	s->unavail = cond == -1;
	if (cond == -1) {
		s->unseen = 1;
		return;
	}
	s->has_value = 1;
	s->value = value;
	s->raw = raw;
	step(e, idx, cond, now, wall);
}

void
alarm_engine_cycle(struct alarm_engine *e, const struct readplan *p,
    int link_up, uint64_t now, time_t wall)
{
	size_t i;

	eval_link(e, link_up, now, wall);
	eval_heartbeat(e, p, link_up, now, wall);
	eval_read(e, p, link_up, now, wall);
	for (i = 0; i < e->nslots; i++)
		if (e->slots[i].type == SLOT_RULE)
			eval_rule(e, i, p, link_up, now, wall);
	for (i = 0; i < e->nslots; i++)
		timers(e, i, now);
	flush(e, now);
}

/*
 * Adds the addresses of l not yet in the list: "Ops <ops@x>" and "ops@x"
 * are one recipient.
 */
static void
addr_add(char ***v, size_t *n, const struct config_strlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		if (config_address_add(v, n, l->v[i], 0) == -1 &&
		    errno == ENOMEM)
			fatal("alarm");
}

static void
fill_event(const struct alarm_engine *e, const struct slot *s,
    struct alarm_event *ev, uint64_t shelve_ms)
{
	memset(ev, 0, sizeof(*ev));
	ev->name = s->r != NULL ? s->r->name : s->name;
	ev->rule = s->rule;
	ev->severity = s->severity;
	ev->has_value = s->has_value;
	ev->value = s->value;
	ev->raw = s->raw;
	ev->since = s->since;
	ev->shelve_ms = shelve_ms;
	strlcpy(ev->reason, slot_text(shelve_ms != 0 ? s->reason : s->why),
	    sizeof(ev->reason));
	strlcpy(ev->by, slot_text(s->by), sizeof(ev->by));
}

/* One notification of kind from the n events of p. */
static void
enqueue(struct alarm_engine *e, enum alarm_kind kind, const struct pend *p,
    size_t n)
{
	struct alarm_notification *an;
	struct queued *q;
	const struct slot *s;
	size_t i;

	an = xcalloc(1, sizeof(*an));
	q = xcalloc(1, sizeof(*q));
	an->kind = kind;
	an->device = e->device;
	an->ev = xcalloc(n, sizeof(*an->ev));
	q->slot = xcalloc(n, sizeof(*q->slot));
	q->group = xcalloc(n, sizeof(*q->group));
	for (i = 0; i < n; i++) {
		s = &e->slots[p[i].slot];
		fill_event(e, s, &an->ev[an->nev++], p[i].shelve_ms);
		q->slot[i] = p[i].slot;
		q->group[i] = s->group;
		addr_add(&an->to, &an->nto, kind == ALARM_ESCALATION ?
		    &s->r->escalate_to : s->to);
	}
	an->group = kind == ALARM_ACTIVE ? q->group[0] : 0;
	q->n = an;
	*e->tail = q;
	e->tail = &q->next;
}

/* The raises of the window as one notification (SPEC §4 burst grouping). */
static void
flush_active(struct alarm_engine *e, uint64_t now)
{
	struct pend *act;
	struct slot *s;
	size_t i, j, n = 0;
	unsigned long group = e->next_group++;

	act = xcalloc(e->npend, sizeof(*act));
	for (i = j = 0; i < e->npend; i++) {
		if (e->pend[i].kind != ALARM_ACTIVE) {
			e->pend[j++] = e->pend[i];
			continue;
		}
		s = &e->slots[e->pend[i].slot];
		s->held = 0;
		if (slot_shelved(s, now))
			continue;	/* shelved meanwhile: sends nothing */
		/* also when it cleared in the window: ACTIVE, then CLEARED */
		s->notified = slot_on(s);
		s->group = group;
		slot_set(&s->msgid, NULL, 1);
		if (s->r != NULL)
			s->next_reminder = now + s->r->repeat_ms;
		act[n++] = e->pend[i];
	}
	e->npend = j;
	if (n > 0)
		enqueue(e, ALARM_ACTIVE, act, n);
	free(act);
	e->group_open = 0;
	e->force_flush = 0;
}

/* Follow-ups: one notification per kind and ACTIVE group, in order. */
static void
flush_followups(struct alarm_engine *e)
{
	struct pend *grp;
	char *done;
	unsigned long g;
	size_t i, j, n;
	enum alarm_kind k;

	grp = xcalloc(e->npend + 1, sizeof(*grp));
	done = xcalloc(e->npend + 1, 1);
	for (i = 0; i < e->npend; i++) {
		if (done[i] || e->pend[i].kind == ALARM_ACTIVE)
			continue;
		k = e->pend[i].kind;
		g = e->slots[e->pend[i].slot].group;
		for (j = i, n = 0; j < e->npend; j++) {
			if (done[j] || e->pend[j].kind != k ||
			    e->slots[e->pend[j].slot].group != g)
				continue;
			grp[n++] = e->pend[j];
			done[j] = 1;
		}
		enqueue(e, k, grp, n);
	}
	/* only raises held for the group window remain */
	for (i = j = 0; i < e->npend; i++)
		if (!done[i])
			e->pend[j++] = e->pend[i];
	e->npend = j;
	free(done);
	free(grp);
}

static void
flush(struct alarm_engine *e, uint64_t now)
{
	size_t i;
	int any = 0;

	if (e->npend == 0)
		return;
	for (i = 0; i < e->npend; i++)
		any |= e->pend[i].kind == ALARM_ACTIVE;
	if (any && !e->group_open) {
		e->group_open = 1;
		e->group_deadline = now + e->dev->group_wait_ms;
	}
	if (any && (e->force_flush || now >= e->group_deadline))
		flush_active(e, now);
	flush_followups(e);
}

struct alarm_notification *
alarm_engine_take(struct alarm_engine *e)
{
	struct queued *q = e->queue;
	struct alarm_notification *n;
	const struct slot *s;
	size_t i;

	if (q == NULL)
		return NULL;
	e->queue = q->next;
	if (e->queue == NULL)
		e->tail = &e->queue;
	n = q->n;
	for (i = 0; n->kind != ALARM_ACTIVE && i < n->nev; i++) {
		s = &e->slots[q->slot[i]];
		if (q->group[i] == 0 || s->group != q->group[i])
			continue;
		strlcpy(n->ev[i].thread, slot_text(s->msgid),
		    sizeof(n->ev[i].thread));
		strlcpy(n->ev[i].subject, slot_text(s->subject),
		    sizeof(n->ev[i].subject));
	}
	free(q->slot);
	free(q->group);
	free(q);
	return n;
}

void
alarm_engine_set_message_id(struct alarm_engine *e,
    const struct alarm_notification *n, const char *msgid,
    const char *subject)
{
	struct slot *s;
	size_t i;

	if (n->kind != ALARM_ACTIVE || n->group == 0)
		return;
	for (i = 0; i < e->nslots; i++) {
		s = &e->slots[i];
		if (s->group != n->group)
			continue;
		slot_set(&s->msgid, msgid, ALARM_MSGID_MAX);
		slot_set(&s->subject, subject, ALARM_SUBJECT_MAX);
	}
}

void
alarm_engine_link_error(struct alarm_engine *e, const char *why)
{
	strlcpy(e->link_why, why, sizeof(e->link_why));
}

uint64_t
alarm_engine_next_deadline(const struct alarm_engine *e)
{
	const struct slot *s;
	uint64_t t, best = UINT64_MAX;
	size_t i;

#define CAND(x) do { t = (x); if (t < best) best = t; } while (0)
	if (e->group_open)
		CAND(e->group_deadline);
	if (e->link_slot >= 0 && e->link_failing &&
	    !slot_on(&e->slots[e->link_slot]))
		CAND(e->link_fail_since + e->dev->link_alarm_after_ms);
	if (e->hb_slot >= 0 && e->hb_timing &&
	    !slot_on(&e->slots[e->hb_slot]))
		CAND(e->hb_ref + e->dev->heartbeat_stale_ms);
	for (i = 0; e->read_slot >= 0 && i < e->nreq; i++)
		if (e->req_fail[i] != 0 && !slot_on(&e->slots[e->read_slot]))
			CAND(e->req_fail[i] - 1 + e->dev->link_alarm_after_ms);
	for (i = 0; i < e->nslots; i++) {
		s = &e->slots[i];
		if (s->shelved_until != 0)
			CAND(s->shelved_until);
		if (s->state == STATE_PENDING)
			CAND(s->t0 + (s->r ? s->r->on_delay_ms : 0));
		if (s->state == STATE_CLEARING)
			CAND(s->t0 + (s->r ? s->r->off_delay_ms : 0));
		if (!slot_on(s) || !s->notified || s->acked || s->r == NULL)
			continue;
		if (s->r->repeat_ms)
			CAND(s->next_reminder);
		if (s->r->escalate && !s->escalated)
			CAND(s->escalate_at);
	}
#undef CAND
	return best;
}

int
alarm_engine_ack(struct alarm_engine *e, const char *rule, const char *by,
    uint64_t now, char *err, size_t errlen)
{
	long idx = slot_find(e, rule);
	struct slot *s;

	if (idx == -1)
		return 1;
	s = &e->slots[idx];
	if (!slot_on(s)) {
		if (err != NULL)
			snprintf(err, errlen, "alarm %s is not active", rule);
		return -1;
	}
	if (s->acked)
		return 0;
	s->acked = 1;
	slot_set(&s->by, by != NULL ? by : "via modbus2mail ack",
	    ALARM_REASON_MAX);
	if ((s->notified || s->held) && !slot_shelved(s, now))
		emit(e, (size_t)idx, ALARM_ACKNOWLEDGED, 0);
	return 0;
}

int
alarm_engine_shelve(struct alarm_engine *e, const char *rule, uint64_t ms,
    const char *reason, uint64_t now, time_t wall, char *err, size_t errlen)
{
	long idx = rule != NULL ? slot_find(e, rule) : 0;
	size_t i, end;
	struct slot *s;

	if (idx == -1)
		return 1;
	if (now + ms < now) {
		if (err != NULL)
			snprintf(err, errlen, "shelve duration too long");
		return -1;
	}
	end = rule != NULL ? (size_t)idx + 1 : e->nslots;
	for (i = (size_t)idx; i < end; i++) {
		s = &e->slots[i];
		/* ms 0: the next cycle's timers() mails a still-active alarm */
		s->shelved_until = ms != 0 ? now + ms : 0;
		s->shelved_until_wall = ms != 0 ?
		    wall + (time_t)((ms + 999) / 1000) : 0;
		slot_set(&s->reason, ms != 0 ? reason : NULL,
		    ALARM_REASON_MAX);
	}
	return 0;
}

size_t
alarm_engine_count(const struct alarm_engine *e)
{
	return e->nslots;
}

void
alarm_engine_get(const struct alarm_engine *e, size_t i, uint64_t now,
    struct alarm_status *st)
{
	const struct slot *s = &e->slots[i];

	memset(st, 0, sizeof(*st));
	st->name = s->name;
	st->rule = s->rule;
	st->severity = s->severity;
	st->state = slot_strstate(s->state);
	st->active = slot_on(s);
	st->since = st->active ? s->since : 0;
	st->acknowledged = st->active && s->acked;
	st->shelved = slot_shelved(s, now);
	st->shelved_until = st->shelved ? s->shelved_until_wall : 0;
	st->reason = st->shelved ? slot_text(s->reason) : "";
	st->has_value = s->has_value;
	st->value = s->value;
	st->unavailable = s->unavail;
	st->why = st->active ? slot_text(s->why) : "";
}

/* addr (bare) is one of l's addresses, without case. */
static int
alarm_addr_in(const struct config_strlist *l, const char *addr)
{
	char bare[CONFIG_ADDR_MAX];
	size_t i;

	for (i = 0; i < l->n; i++)
		if (config_parse_address(l->v[i], bare, sizeof(bare)) == 0 &&
		    strcasecmp(bare, addr) == 0)
			return 1;
	return 0;
}

size_t
alarm_engine_episode(const struct alarm_engine *e, const char *msgid,
    const char *addr, struct alarm_episode *ep, size_t max)
{
	const struct slot *s;
	size_t i, n = 0;

	for (i = 0; i < e->nslots; i++) {
		s = &e->slots[i];
		if (!slot_on(s) || s->msgid == NULL ||
		    strcmp(s->msgid, msgid) != 0)
			continue;
		if (n < max) {
			strlcpy(ep[n].name, s->name, sizeof(ep[n].name));
			ep[n].recipient = alarm_addr_in(s->to, addr) ||
			    (s->r != NULL && s->r->escalate && s->escalated &&
			    alarm_addr_in(&s->r->escalate_to, addr));
		}
		n++;
	}
	return n;
}

size_t
alarm_engine_active(const struct alarm_engine *e)
{
	size_t i, n = 0;

	for (i = 0; i < e->nslots; i++)
		n += slot_on(&e->slots[i]);
	return n;
}

/*
 * Format, one line per slot that is on or shelved (wall-clock seconds):
 *   NAME on=0|1 acked=0|1 escalated=0|1 notified=0|1 since=T
 *       shelved_until=T msgid=<id>|- subject=TEXT|- reason=TEXT TO END
 *       OF LINE
 * (subject with space, '%' and control characters as %XX).
 * An ACTIVE mail still waiting in the group window counts as not
 * notified, so a restart sends it instead of losing it.
 */
char *
alarm_engine_save(const struct alarm_engine *e, uint64_t now, time_t wall)
{
	const struct slot *s;
	char *buf = NULL;
	size_t len = 0, i;
	FILE *f;
	int shelved;

	(void)wall;
	if ((f = open_memstream(&buf, &len)) == NULL)
		return NULL;
	fprintf(f, "# modbus2mail alarm state v2\n");
	for (i = 0; i < e->nslots; i++) {
		s = &e->slots[i];
		shelved = slot_shelved(s, now);
		if (!slot_on(s) && !shelved)
			continue;
		fprintf(f, "%s on=%d acked=%d escalated=%d notified=%d "
		    "since=%lld shelved_until=%lld msgid=%s subject=",
		    s->name, slot_on(s), s->acked, s->escalated, s->notified,
		    (long long)s->since,
		    shelved ? (long long)s->shelved_until_wall : 0LL,
		    s->msgid != NULL ? s->msgid : "-");
		save_escaped(f, slot_text(s->subject));
		fprintf(f, " reason=%s\n", slot_text(s->reason));
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* TEXT of a "key=TEXT" of the state file; "-" when empty. */
static void
save_escaped(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	if (*p == '\0')
		fputc('-', f);
	for (; *p != '\0'; p++)
		if (*p <= ' ' || *p == '%' || *p == 0x7f)
			fprintf(f, "%%%02X", *p);
		else
			fputc(*p, f);
}

/* Undoes save_escaped() into buf. */
static void
load_escaped(char *buf, size_t size, const char *v, size_t len)
{
	char hex[3];
	size_t i, n = 0;

	if (len == 1 && v[0] == '-')
		len = 0;
	for (i = 0; i < len && n + 1 < size; i++) {
		if (v[i] == '%' && i + 2 < len &&
		    isxdigit((unsigned char)v[i + 1]) &&
		    isxdigit((unsigned char)v[i + 2])) {
			memcpy(hex, v + i + 1, 2);
			hex[2] = '\0';
			buf[n++] = (char)strtoul(hex, NULL, 16);
			i += 2;
		} else
			buf[n++] = v[i];
	}
	buf[n] = '\0';
}

/*
 * Value of " key=" in line (up to the next space, or the end of the line
 * for the last key "reason"); NULL when absent. *len gets its length.
 */
static const char *
save_field(const char *line, const char *key, size_t *len)
{
	size_t klen = strlen(key);
	const char *p = line, *v, *end;

	while ((p = strchr(p, ' ')) != NULL) {
		p++;
		if (strncmp(p, key, klen) != 0 || p[klen] != '=')
			continue;
		v = p + klen + 1;
		if (strcmp(key, "reason") == 0)
			end = v + strlen(v);
		else if ((end = strchr(v, ' ')) == NULL)
			end = v + strlen(v);
		*len = (size_t)(end - v);
		return v;
	}
	return NULL;
}

static void
load_line(struct alarm_engine *e, const char *line, uint64_t now,
    time_t wall)
{
	static const char *const keys[] = { "on", "acked", "escalated",
		"notified", "since", "shelved_until" };
	unsigned long num[6];
	uint64_t elapsed;
	char name[128], tok[ALARM_MSGID_MAX], buf[ALARM_SUBJECT_MAX];
	const char *v, *sp;
	struct slot *s;
	size_t i, len;
	long idx, j;

	if ((sp = strchr(line, ' ')) == NULL || line[0] == '#')
		return;
	snprintf(name, sizeof(name), "%.*s", (int)(sp - line), line);
	if ((idx = slot_find(e, name)) == -1)
		return;		/* rule removed from the config */
	for (i = 0; i < 6; i++) {
		if ((v = save_field(line, keys[i], &len)) == NULL ||
		    len >= sizeof(tok))
			return;
		snprintf(tok, sizeof(tok), "%.*s", (int)len, v);
		/* flags 0/1, times in seconds well inside time_t */
		if (util_parse_ulong(tok, i < 4 ? 1 : 1UL << 40,
		    &num[i]) == -1)
			return;
	}
	s = &e->slots[idx];
	if (num[0]) {
		s->state = STATE_ACTIVE;
		s->acked = num[1] != 0;
		s->escalated = num[2] != 0;
		s->notified = num[3] != 0;
		s->since = (time_t)num[4];
		/* escalation keeps counting from the real raise */
		elapsed = wall > s->since ? (uint64_t)(wall - s->since) * 1000 :
		    0;
		if (s->r != NULL)
			s->escalate_at = now + (elapsed < s->r->escalate_after_ms ?
			    s->r->escalate_after_ms - elapsed : 0);
		if (s->r != NULL)
			s->next_reminder = now + s->r->repeat_ms;
		if ((v = save_field(line, "msgid", &len)) != NULL &&
		    len < ALARM_MSGID_MAX && !(len == 1 && v[0] == '-')) {
			snprintf(buf, sizeof(buf), "%.*s", (int)len, v);
			slot_set(&s->msgid, buf, ALARM_MSGID_MAX);
			/* slots of one burst share its thread again */
			s->group = 0;
			for (j = 0; j < (long)e->nslots; j++)
				if (j != idx && e->slots[j].group != 0 &&
				    strcmp(slot_text(e->slots[j].msgid),
				    buf) == 0)
					s->group = e->slots[j].group;
			if (s->group == 0)
				s->group = e->next_group++;
		}
		if ((v = save_field(line, "subject", &len)) != NULL) {
			load_escaped(buf, sizeof(buf), v, len);
			slot_set(&s->subject, buf, ALARM_SUBJECT_MAX);
		}
	}
	if ((time_t)num[5] > wall) {
		s->shelved_until = now + (uint64_t)((time_t)num[5] - wall) *
		    1000;
		s->shelved_until_wall = (time_t)num[5];
		if ((v = save_field(line, "reason", &len)) != NULL) {
			snprintf(buf, sizeof(buf), "%.*s", (int)len, v);
			slot_set(&s->reason, buf, ALARM_REASON_MAX);
		}
	}
}

void
alarm_engine_load(struct alarm_engine *e, const char *text, uint64_t now,
    time_t wall)
{
	char line[1024];
	const char *p = text, *nl;
	size_t len;

	while (p != NULL && *p != '\0') {
		nl = strchr(p, '\n');
		len = nl != NULL ? (size_t)(nl - p) : strlen(p);
		if (len < sizeof(line)) {
			memcpy(line, p, len);
			line[len] = '\0';
			load_line(e, line, now, wall);
		}
		p = nl != NULL ? nl + 1 : NULL;
	}
}
