/*
 * notify.h - alarm notifications and the daily sign of life as complete
 * messages (via compose.c) with their envelope recipients. Pure: time and
 * the Message-ID's random part (util_random64()) are arguments.
 *
 * Template fields: {state} is ACTIVE, CLEARED, REMINDER, ACKNOWLEDGED,
 * SHELVED (chatter) or ACTIVE again for the escalation mail; {value}/{raw}
 * are empty until the source was read once; {threshold} reads "> 80",
 * "< 5", "outside 5..80", "= 3", "!= 0" or the active bit; {condition}
 * says it in words ("coil 12 is ON (alarm when ON)", "85.3 °C (limit:
 * above 80, clears at 78)", "PLC maxi1 (192.168.1.10:502) not answering
 * since ..."); {reason} says what failed for DEVICE.link/DEVICE.read;
 * {since} and {time} are local "YYYY-MM-DD HH:MM:SS +01:00"; {duration}
 * is how long the alarm has been on ("12m 5s").
 *
 * A mail's body is its state line ("CLEARED at 10:42 +01:00 after
 * 12 min", what an inbox preview shows), the rule's body per event, and,
 * in mails that ask for action, how to acknowledge; then the gateway,
 * device and rule names. Subjects: the rule's template for one event;
 * "[worst severity] N alarms on DEVICE: a, b" for a group; follow-ups
 * (REMINDER, ESCALATED, ACKNOWLEDGED, SHELVED, CLEARED) "Re: " + the
 * episode's first subject, with In-Reply-To and References to it, unless
 * defaults.thread_subjects is per_state (then the state's own subject;
 * fixed texts for ESCALATION and SHELVED). Besides alarms: the daily sign
 * of life and the relay's failure notice.
 */
#ifndef MODBUS2MAIL_NOTIFY_H
#define MODBUS2MAIL_NOTIFY_H

#include <stddef.h>
#include <time.h>

#include "modbus2mail/alarm.h"
#include "modbus2mail/config.h"

struct notify_mail {
	char *data;		/* RFC 5322 text, CRLF lines, owned */
	size_t len;
	char **rcpts;		/* bare envelope addresses, owned */
	size_t nrcpt;
	char message_id[ALARM_MSGID_MAX];
	char subject[ALARM_SUBJECT_MAX]; /* UTF-8, as the reader sees it */
	char rules[256];	/* for the log line: "a,b,c,d,..." */
	const char *state;	/* ACTIVE, CLEARED, ... (static) */
};

/*
 * The mail for one notification of cfg->devices[n->device]; rnd is the
 * Message-ID's random part. 0, or -1 (bad recipient address, ENOMEM) with
 * m cleared.
 */
int	notify_build(const struct config *, const struct alarm_notification *,
	    time_t now, unsigned long long rnd, struct notify_mail *);
/* Gateway summary for the daily sign-of-life mail. */
struct notify_gateway {
	const char *devices;	/* one line per device */
	const char *alarms;	/* one line per active alarm, may be "" */
	size_t queue_len;
	time_t queue_oldest;	/* 0 = empty */
	size_t failed;		/* messages in failed/ */
};
/* The sign-of-life mail to sign_of_life.to. 0 or -1. */
int	notify_sign_of_life(const struct config *, const struct notify_gateway *,
	    time_t now, unsigned long long rnd, struct notify_mail *);
/* A message the relay could not deliver, for the failure notice. */
struct notify_failure {
	const char *queue_id;
	const char *reason;
	const char *delivered;	/* "a@b, c@d" or NULL: those got it */
	char *const *failed;	/* "addr: reply", one per failed recipient */
	size_t nfailed;
	const char *headers;	/* of the original message, may be NULL */
};
/*
 * The failure notice to smtp.failure_notice (Auto-Submitted: auto-replied;
 * spool it with the null sender so that it never gets a notice itself).
 * 0, or -1 (no failure_notice configured, ENOMEM) with m cleared.
 */
int	notify_failure(const struct config *, const struct notify_failure *,
	    time_t now, unsigned long long rnd, struct notify_mail *);
/* Releases what notify_build() allocated. */
void	notify_mail_clear(struct notify_mail *);

#endif
