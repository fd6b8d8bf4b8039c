/*
 * history.h - every alarm transition, mail event and link change, kept in
 * SQLite (spool_dir/history.db, WAL). One writer thread takes events from
 * a bounded queue: history_add() never waits, and when the queue is full
 * or SQLite fails (full disk, locked or corrupt file) the event is dropped,
 * counted (COUNTER_HISTORY_DROPPED) and a warning logged; alarms and mail
 * go on. Older events than history.keep are deleted hourly.
 */
#ifndef MODBUS2MAIL_HISTORY_H
#define MODBUS2MAIL_HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "modbus2mail/alarm.h"

#define HISTORY_NAME_MAX	128
#define HISTORY_DETAIL_MAX	256

enum history_kind {
	HISTORY_RAISE,
	HISTORY_CLEAR,
	HISTORY_REMINDER,
	HISTORY_ACK,
	HISTORY_ESCALATE,
	HISTORY_SHELVE,
	HISTORY_UNSHELVE,
	HISTORY_MAIL_QUEUED,
	HISTORY_MAIL_SENT,
	HISTORY_MAIL_DEFERRED,
	HISTORY_MAIL_FAILED,
	HISTORY_LINK_UP,
	HISTORY_LINK_DOWN,
	HISTORY_NKINDS
};

struct history_row {
	int64_t t_ms;			/* wall clock, ms since the epoch */
	enum history_kind kind;
	char device[HISTORY_NAME_MAX];	/* "" when none */
	char rule[HISTORY_NAME_MAX];	/* rule, or queue id of a mail */
	char detail[HISTORY_DETAIL_MAX]; /* who acknowledged, reason, reply */
};

struct history_filter {
	int64_t since_ms;		/* 0 = all */
	const char *device;		/* NULL = any */
	const char *rule;		/* NULL = any */
	int kind;			/* -1 = any */
	size_t limit;			/* 0 = no limit; newest first */
};

/* "raise", "mail_sent"...; -1 for an unknown name. */
const char *history_kind_name(enum history_kind);
int	history_kind_parse(const char *);
enum history_kind history_kind_of_alarm(enum alarm_kind);

/*
 * Daemon: opens (creates) spool_dir/history.db and starts the writer.
 * -1 with err when the file cannot be used: history_add() then drops and
 * counts. Nothing happens for history: false.
 */
int	history_start(const struct config *, char *err, size_t errlen);
void	history_stop(void);
/* From any thread; never blocks on I/O. Strings may be NULL. */
void	history_add(enum history_kind, const char *device, const char *rule,
	    const char *detail);

/* Path of the database for cfg into buf. 0, or -1 too long. */
int	history_path(const struct config *, char *buf, size_t len);
/*
 * Reader (its own read-only connection): rows matching f, newest first,
 * each handed to fn (non-zero stops). 0, or -1 with err.
 */
int	history_query(const char *path, const struct history_filter *f,
	    int (*fn)(const struct history_row *, void *), void *arg,
	    char *err, size_t errlen);
/*
 * `modbus2mail history [--since D] [--device D] [--rule R] [--kind K]
 * [--csv]` (argv[0] is "history"): the exit code; 2 for a usage error.
 */
int	history_cli(const struct config *, int argc, char **argv, FILE *out,
	    FILE *err);
/* CSV header line and one row (RFC 4180 quoting, ISO 8601 UTC time). */
void	history_csv_header(FILE *);
void	history_csv_row(FILE *, const struct history_row *);

#endif
