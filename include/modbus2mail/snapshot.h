/*
 * snapshot.h - what the gateway knows right now, for its readers (web
 * page, /metrics, /healthz, `modbus2mail status`, the sign of life):
 * devices, alarm slots, mail path, queue counters. The daemon's main
 * thread builds one each tick, for each status request and after each
 * ack or shelf from the control socket (before it answers); readers
 * take a reference under a short lock and never call into a poller thread
 * or read spool files. Names point into the configuration and the
 * pollers' alarm engines, which outlive every snapshot of them: when the
 * daemon stops or reloads, the web server stops first and the board is
 * emptied before the pollers go.
 */
#ifndef MODBUS2MAIL_SNAPSHOT_H
#define MODBUS2MAIL_SNAPSHOT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "modbus2mail/alarm.h"
#include "modbus2mail/config.h"
#include "modbus2mail/spool.h"

#define SNAPSHOT_WHY_MAX	ALARM_REASON_MAX
/* Poll cycle duration histogram: upper bounds in seconds, then +Inf. */
#define SNAPSHOT_NBUCKETS	8
extern const double snapshot_buckets[SNAPSHOT_NBUCKETS];
/* Alarm transitions counted per slot, by enum alarm_kind. */
#define SNAPSHOT_NKINDS		6

/* Counters a poller keeps for its device (under its lock). */
struct snapshot_poll {
	uint64_t req_ok;		/* Modbus requests answered */
	uint64_t req_exception;		/* answered with an exception */
	uint64_t req_failed;		/* timeout, bad frame, connection */
	uint64_t req_crc;		/* RTU: CRC error */
	uint64_t req_short;		/* RTU: the reply stopped short */
	uint64_t req_wrong_unit;	/* a reply from another unit */
	uint64_t cycles;
	uint64_t bucket[SNAPSHOT_NBUCKETS + 1];	/* last one: +Inf */
	double seconds_sum;
	double last_seconds;		/* last cycle */
};

struct snapshot_device {
	const char *name;
	char transport[SNAPSHOT_WHY_MAX];	/* config_transport() */
	int link_up;
	time_t link_since;		/* wall: link went up or down, 0 never */
	time_t last_good;		/* wall, 0 never */
	size_t nreq;			/* requests per cycle */
	int shelved;			/* the whole device */
	char why[SNAPSHOT_WHY_MAX];	/* link down: what failed */
	char mail_ok_why[SNAPSHOT_WHY_MAX];	/* mail_ok_coil write failing */
	struct snapshot_poll poll;
	size_t first, nalarm;		/* its slots in snapshot.alarm */
};

struct snapshot_alarm {
	const char *name;		/* rule or DEVICE.link/read/heartbeat */
	long rule;			/* config index, -1 pseudo-rule */
	size_t device;
	enum config_severity severity;
	const char *state;		/* NORMAL PENDING ACTIVE CLEARING */
	int active, acknowledged, shelved, unavailable, has_value;
	double value;
	time_t since, shelved_until;
	/* "" when none; set with snapshot_text() (most are "") */
	const char *reason;		/* of the shelf, when shelved */
	const char *why;		/* DEVICE.link/read, when active: what
					 * failed */
	uint64_t transitions[SNAPSHOT_NKINDS];
};

struct snapshot {
	int refs;			/* under the board's lock */
	time_t taken, started;		/* wall clock */
	const struct config *cfg;
	time_t config_loaded;
	struct snapshot_device *dev;	/* owned */
	size_t ndev;
	struct snapshot_alarm *alarm;	/* owned, mapped */
	size_t alarm_len;		/* bytes mapped */
	size_t nalarm;
	struct spool_stats queue;
	int path_broken;
	time_t path_since;
	char path_why[SNAPSHOT_WHY_MAX];
	int threads_alive;
	int history_enabled;
};

/* Where the latest snapshot waits for readers. */
struct snapshot_board {
	pthread_mutex_t lock;
	struct snapshot *cur;		/* one reference held by the board */
};

/* Empty snapshot with room for ndev devices and nalarm slots (x-alloc). */
struct snapshot *snapshot_new(size_t ndev, size_t nalarm);
/* A copy of text for a slot's why, owned by the snapshot ("" is shared). */
const char *snapshot_text(const char *text);
/* Frees a snapshot that was never published. */
void	snapshot_free(struct snapshot *);
void	snapshot_board_init(struct snapshot_board *);
/* Replaces the board's snapshot with s (the caller's reference moves to
 * the board); NULL empties it. */
void	snapshot_publish(struct snapshot_board *, struct snapshot *s);
/* A reference to the latest snapshot, NULL when there is none yet. */
struct snapshot *snapshot_take(struct snapshot_board *);
void	snapshot_release(struct snapshot_board *, struct snapshot *);
void	snapshot_board_destroy(struct snapshot_board *);
/* Appends slot st of device s->ndev (the one being filled); the caller
 * made room for it. */
void	snapshot_add_alarm(struct snapshot *s, const struct alarm_status *st);
/*
 * `modbus2mail status` and the sign of life: one line per device to
 * devices ("  NAME link=up last_good_poll=T requests_per_cycle=N
 * address=H:P", then " shelved_until=T" when every alarm of it is shelved,
 * " error="..."" when down, " mail_ok_coil_error="..."") and one per alarm
 * that is active, shelved or unavailable to alarms ("  NAME state=ACTIVE
 * since=T acknowledged=no shelved=no", when shelved " shelved_until=T
 * reason="..."", " value=unavailable" when the rule cannot be read while
 * the device answers, for an active DEVICE.link or DEVICE.read " error=
 * "what failed"").
 */
void	snapshot_status(const struct snapshot *, FILE *devices, FILE *alarms);
/* "crc_errors=N short_frames=N wrong_unit=N": the replies a bus could
 * not use, for status and poll. */
void	snapshot_print_bad(FILE *, const struct snapshot_poll *);
/* Adds one cycle of secs to a device's histogram. */
void	snapshot_poll_observe(struct snapshot_poll *, double secs);
/* Active alarm slots (ACTIVE or CLEARING). */
size_t	snapshot_active(const struct snapshot *);

#endif
