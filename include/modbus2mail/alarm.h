/*
 * alarm.h - the alarm state machines of one device (SPEC §4): its rules
 * plus the pseudo-rules DEVICE.link and DEVICE.heartbeat. Pure: samples
 * come from a read plan, time is an argument (monotonic ms for timers,
 * wall clock for texts and persistence), notifications are taken out.
 *
 * Each poll cycle: alarm_engine_cycle(), then alarm_engine_take() until
 * NULL; each notification is one mail. After composing an ACTIVE mail the
 * caller gives its Message-ID back with alarm_engine_set_message_id() so
 * REMINDER/ACKNOWLEDGED/CLEARED mails thread to it.
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

enum alarm_kind {
	ALARM_ACTIVE,		/* raised (a burst group is one notification) */
	ALARM_CLEARED,
	ALARM_REMINDER,
	ALARM_ACKNOWLEDGED,
	ALARM_ESCALATION,	/* still unacknowledged: to escalate.to */
	ALARM_SHELVED,		/* chatter: auto-shelved */
};

/* One rule's part of a notification, with what the templates need. */
struct alarm_event {
	const char *name;		/* rule or "DEVICE.link" */
	long rule;			/* config index, -1 for pseudo-rules */
	enum config_severity severity;
	int has_value;
	double value;			/* scaled */
	double raw;
	time_t since;			/* wall clock when it went ACTIVE */
	uint64_t shelve_ms;		/* ALARM_SHELVED: for how long */
	char thread[ALARM_MSGID_MAX];	/* ACTIVE mail's Message-ID or "" */
};

struct alarm_notification {
	enum alarm_kind kind;
	size_t device;
	struct alarm_event *ev;		/* owned */
	size_t nev;
	char **to;			/* addresses (deduplicated), owned */
	size_t nto;
};

struct alarm_engine;

struct alarm_engine *alarm_engine_new(const struct config *, size_t device);
void	alarm_engine_free(struct alarm_engine *);
/*
 * One poll cycle. link_up says whether the plan's reads succeeded; a
 * request whose ok flag is 0 leaves its rules unevaluated (a failed read
 * is never a value) while their timers (reminders, escalation) still run.
 */
void	alarm_engine_cycle(struct alarm_engine *, const struct readplan *,
	    int link_up, uint64_t now, time_t wall);
/* Next notification, or NULL. Free with alarm_notification_free(). */
struct alarm_notification *alarm_engine_take(struct alarm_engine *);
void	alarm_notification_free(struct alarm_notification *);
/* Records the Message-ID of an ACTIVE mail for its rules' episodes. */
void	alarm_engine_set_message_id(struct alarm_engine *,
	    const struct alarm_notification *, const char *msgid);
/*
 * Operator commands. 0 ok; -1 not possible (message in err); 1 the rule is
 * not on this device.
 */
int	alarm_engine_ack(struct alarm_engine *, const char *rule, uint64_t now,
	    char *err, size_t errlen);
int	alarm_engine_shelve(struct alarm_engine *, const char *rule,
	    uint64_t ms, const char *reason, uint64_t now, time_t wall,
	    char *err, size_t errlen);
/* One line per alarm that is not NORMAL or is shelved (SPEC §2 status). */
void	alarm_engine_status(const struct alarm_engine *, FILE *, uint64_t now,
	    time_t wall);
size_t	alarm_engine_active(const struct alarm_engine *);
/* Whether the condition of rule holds for the plan's values: 1, 0, or -1
 * unavailable; value/raw filled when available (for `poll`). */
int	alarm_rule_condition(const struct config_rule *, const struct readplan *,
	    int active, double *value, double *raw);

/* Persistence: text of the state that must survive a restart (malloc'd). */
char	*alarm_engine_save(const struct alarm_engine *, uint64_t now,
	    time_t wall);
/* Restores what alarm_engine_save() wrote; unknown rules are ignored. */
void	alarm_engine_load(struct alarm_engine *, const char *text,
	    uint64_t now, time_t wall);

const char *alarm_kind_name(enum alarm_kind);

#endif
