/*
 * notify.h - alarm notifications and the daily sign of life as complete
 * messages (via compose.c) with their envelope recipients. Pure: time and
 * a sequence number for the Message-ID are arguments.
 */
#ifndef MODBUS2MAIL_NOTIFY_H
#define MODBUS2MAIL_NOTIFY_H

#include <stddef.h>
#include <time.h>

#include "modbus2mail/alarm.h"
#include "modbus2mail/config.h"

struct notify_mail {
	char *data;		/* RFC 5322 text, owned */
	size_t len;
	char **rcpts;		/* bare envelope addresses, owned */
	size_t nrcpt;
	char message_id[ALARM_MSGID_MAX];
	char rules[256];	/* for the log line */
	const char *state;	/* ACTIVE, CLEARED, ... */
};

/* The mail for one notification of cfg->devices[n->device]. 0 or -1. */
int	notify_build(const struct config *, const struct alarm_notification *,
	    time_t now, unsigned long long seq, struct notify_mail *);
/* Gateway summary for the daily sign-of-life mail. */
struct notify_gateway {
	const char *devices;	/* one line per device */
	const char *alarms;	/* one line per active alarm, may be "" */
	size_t queue_len;
	time_t queue_oldest;	/* 0 = empty */
};
int	notify_sign_of_life(const struct config *, const struct notify_gateway *,
	    time_t now, unsigned long long seq, struct notify_mail *);
/* Releases what notify_build() allocated. */
void	notify_mail_clear(struct notify_mail *);

#endif
