/*
 * alarm.h - the alarm state machines of one device (SPEC §4): its rules
 * plus the pseudo-rules DEVICE.link, DEVICE.read (requests that keep
 * failing while others succeed) and DEVICE.heartbeat. Pure: samples
 * come from a read plan, time is an argument (monotonic ms for timers,
 * wall clock only for texts and persistence), notifications are taken out.
 * Not thread-safe: the caller serialises calls on one engine.
 *
 * Per poll cycle:
 *	alarm_engine_cycle(eng, &plan, link_up, now_ms, time(NULL));
 *	while ((n = alarm_engine_take(eng)) != NULL) {
 *		compose and spool one mail for n;
 *		alarm_engine_set_message_id(eng, n, its Message-ID);
 *		alarm_notification_free(n);
 *	}
 *	then persist alarm_engine_save() (the spooled mails are remembered
 *	as sent: a restart neither re-sends nor forgets).
 *
 * Calling set_message_id before taking the next notification lets
 * follow-ups queued in the same cycle (CLEARED right after ACTIVE) thread
 * to it: the thread of an event is resolved when it is taken.
 *
 * Rule states: NORMAL -> PENDING (condition seen, on_delay running) ->
 * ACTIVE (mail) -> CLEARING (normal again, off_delay running) -> NORMAL
 * (CLEARED mail if notify_clear). CLEARING returns to ACTIVE silently when
 * the condition comes back. A latched rule stays ACTIVE until acknowledged.
 */
#ifndef MODBUS2MAIL_ALARM_H
#define MODBUS2MAIL_ALARM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "modbus2mail/config.h"
#include "modbus2mail/readplan.h"

#define ALARM_MSGID_MAX 160
#define ALARM_REASON_MAX 256
#define ALARM_SUBJECT_MAX 256

enum alarm_kind {
	ALARM_ACTIVE,		/* raised; a burst group is one notification */
	ALARM_CLEARED,		/* back to normal (rules with notify_clear) */
	ALARM_REMINDER,		/* repeat: still active, unacknowledged */
	ALARM_ACKNOWLEDGED,	/* ack bit rising edge or `modbus2mail ack` */
	ALARM_ESCALATION,	/* still unacknowledged: to escalate.to */
	ALARM_SHELVED,		/* chatter: auto-shelved (once per shelf) */
};

/* One rule's part of a notification, with what the templates need. */
struct alarm_event {
	const char *name;		/* rule or "DEVICE.link"; lives as long
					 * as the config and the engine */
	long rule;			/* config index, -1 for pseudo-rules */
	enum config_severity severity;
	int has_value;			/* value/raw were read at least once */
	double value;			/* scaled (bit rules: 0/1) */
	double raw;			/* unscaled register value or bit */
	time_t since;			/* wall clock when it went ACTIVE;
					 * DEVICE.link: when the device stopped
					 * answering; DEVICE.heartbeat: when
					 * the register last changed */
	uint64_t shelve_ms;		/* ALARM_SHELVED: for how long */
	char reason[ALARM_REASON_MAX];	/* ALARM_SHELVED: why; DEVICE.link,
					 * DEVICE.read: what failed */
	char by[ALARM_REASON_MAX];	/* ALARM_ACKNOWLEDGED: who and how,
					 * "the ack bit coil 16" */
	char thread[ALARM_MSGID_MAX];	/* ACTIVE mail's Message-ID or "" */
	char subject[ALARM_SUBJECT_MAX]; /* ... and its Subject, or "" */
};

struct alarm_notification {
	enum alarm_kind kind;
	size_t device;
	struct alarm_event *ev;		/* owned */
	size_t nev;
	char **to;			/* addresses as configured, deduplicated,
					 * owned */
	size_t nto;
	unsigned long group;		/* engine's id of an ACTIVE burst */
};

/* One slot (rule or pseudo-rule) for `status`. */
struct alarm_status {
	const char *name;
	long rule;			/* config index, -1 for pseudo-rules */
	enum config_severity severity;
	const char *state;		/* NORMAL PENDING ACTIVE CLEARING */
	int active;			/* ACTIVE or CLEARING: an alarm is on */
	time_t since;			/* went ACTIVE (wall), when active */
	int acknowledged;
	int shelved;
	time_t shelved_until;		/* wall, when shelved */
	const char *reason;		/* "" when not shelved */
	int has_value;
	double value;
	int unavailable;		/* the link is up, the rule unreadable */
	const char *why;		/* DEVICE.link/read, when active: what
					 * failed; else "" */
};

struct alarm_engine;

/* Engine for the rules of cfg->devices[device]; cfg must outlive it. */
struct alarm_engine *alarm_engine_new(const struct config *, size_t device);
void	alarm_engine_free(struct alarm_engine *);
/*
 * One poll cycle. link_up says whether the device answered (plan may be
 * NULL when it did not). An address whose request's ok flag is 0 leaves
 * its rules unevaluated (a failed read is never a value) and their state
 * untouched, while timers (reminders, escalation, shelves) still run.
 */
void	alarm_engine_cycle(struct alarm_engine *, const struct readplan *,
	    int link_up, uint64_t now, time_t wall);
/* Why the device did not answer, for the next cycles with link_up 0:
 * mailed with DEVICE.link ({reason}), shown by status. */
void	alarm_engine_link_error(struct alarm_engine *, const char *why);
/* Next notification in order, or NULL. Free with alarm_notification_free. */
struct alarm_notification *alarm_engine_take(struct alarm_engine *);
void	alarm_notification_free(struct alarm_notification *);
/*
 * Records the Message-ID and Subject of an ACTIVE mail for its rules'
 * episodes (follow-ups reply to it; both survive a restart).
 */
void	alarm_engine_set_message_id(struct alarm_engine *,
	    const struct alarm_notification *, const char *msgid,
	    const char *subject);

/*
 * Monotonic time at which a timer (on/off delay, reminder, escalation,
 * shelf end, group window, link or heartbeat limit) would change something
 * if the samples stayed as they are; UINT64_MAX when none.
 */
uint64_t alarm_engine_next_deadline(const struct alarm_engine *);
/*
 * Operator commands; their mails go out with the next cycle. 0 ok; -1 not
 * possible (message in err, may be NULL); 1 the rule is not on this device.
 * by says who acknowledged and how, for the mail ("root via modbus2mail
 * ack"); NULL = "via modbus2mail ack".
 * shelve with ms 0 unshelves; a rule still active when its shelf ends
 * (or is lifted) then sends its ACTIVE mail. shelve with rule NULL
 * shelves (unshelves) every slot of the device, pseudo-rules included.
 */
int	alarm_engine_ack(struct alarm_engine *, const char *rule,
	    const char *by, uint64_t now, char *err, size_t errlen);
int	alarm_engine_shelve(struct alarm_engine *, const char *rule,
	    uint64_t ms, const char *reason, uint64_t now, time_t wall,
	    char *err, size_t errlen);
/* A rule whose open episode a reply names (acknowledge by reply). */
struct alarm_episode {
	char name[128];
	int recipient;			/* the sender got the episode's mail */
};
/*
 * The rules whose open episode (ACTIVE or CLEARING) began with the mail
 * msgid, up to max into ep; recipient says whether addr (bare, compared
 * without case) is one of the rule's recipients, or of its escalation
 * once it escalated. Returns how many there are.
 */
size_t	alarm_engine_episode(const struct alarm_engine *, const char *msgid,
	    const char *addr, struct alarm_episode *ep, size_t max);
/* Slots (rules, then DEVICE.link, DEVICE.read, DEVICE.heartbeat). */
size_t	alarm_engine_count(const struct alarm_engine *);
void	alarm_engine_get(const struct alarm_engine *, size_t i, uint64_t now,
	    struct alarm_status *);
/* Alarms currently ACTIVE (or CLEARING). */
size_t	alarm_engine_active(const struct alarm_engine *);
/*
 * Whether the condition of rule holds for the plan's values: 1, 0, or -1
 * unavailable (a failed read, a NaN or infinite float). active selects the deadband
 * side (an active alarm clears only past threshold -/+ deadband).
 * value/raw are filled when available (also used by `poll`).
 */
int	alarm_rule_condition(const struct config_rule *, const struct readplan *,
	    int active, double *value, double *raw);

/*
 * Persistence: text of the state that must survive a restart (malloc'd,
 * NULL on ENOMEM). load() restores it into a fresh engine before its first
 * cycle; lines of unknown or removed rules and bad lines are ignored.
 */
char	*alarm_engine_save(const struct alarm_engine *, uint64_t now,
	    time_t wall);
void	alarm_engine_load(struct alarm_engine *, const char *text,
	    uint64_t now, time_t wall);

const char *alarm_kind_name(enum alarm_kind);

#endif
