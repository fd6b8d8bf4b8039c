/*
 * spool.h - the durable message queue (SPEC §7). Every message, alarm mail
 * or mail received on port 25, passes through here.
 *
 * Layout under spool_dir (0700): tmp/ (being written), queue/ (committed,
 * waiting), failed/ (permanent failures, with the reason). A message is
 * acknowledged only after spool_msg_commit() returned 0: file fsync'd,
 * renamed into queue/, directory fsync'd. All functions are safe to call
 * from several threads at once on one struct spool.
 */
#ifndef MODBUS2MAIL_SPOOL_H
#define MODBUS2MAIL_SPOOL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#define SPOOL_ID_MAX 40

struct spool;
struct spool_msg;

struct spool_entry {
	char id[SPOOL_ID_MAX];
	time_t created;          /* wall clock, seconds */
	unsigned attempts;
	time_t next_try;         /* 0 = now */
	char last_error[256];    /* "" when none */
	char *sender;            /* envelope sender; owned */
	char **rcpts;            /* remaining recipients; owned */
	size_t nrcpt;
	size_t size;             /* octets of message text */
};

/* Creates dir (0700) and its subdirectories; recovers tmp/ leftovers. */
struct spool *spool_open(const char *dir, char *err, size_t errlen);
void	spool_close(struct spool *);

/*
 * Streaming writer. On failure these return NULL/-1 with errno set (ENOSPC,
 * EDQUOT, EIO...): the caller refuses the message (452 4.3.1), nothing is
 * left behind once spool_msg_abort() is called.
 */
struct spool_msg *spool_msg_begin(struct spool *, const char *sender,
	    char *const *rcpts, size_t nrcpt);
int	spool_msg_write(struct spool_msg *, const void *, size_t);
/* Durable commit; frees msg in every case. id receives the queue id. */
int	spool_msg_commit(struct spool_msg *, char *id, size_t idlen);
void	spool_msg_abort(struct spool_msg *);
/* Whole message in one call. */
int	spool_submit(struct spool *, const char *sender, char *const *rcpts,
	    size_t nrcpt, const char *data, size_t len, char *id, size_t idlen);

/* Queued entries, oldest first. Free with spool_entries_free(). */
int	spool_scan(struct spool *, struct spool_entry **entries, size_t *n);
void	spool_entries_free(struct spool_entry *, size_t);
/*
 * The Subject field of queue/ID (failed: failed/ID) into buf, unfolded,
 * as written (RFC 2047 words not decoded), "" without one. 0 or -1.
 */
int	spool_subject(struct spool *, const char *id, int failed, char *buf,
	    size_t len);
/* failed/ likewise, last_error holding the reason (web queue page). */
int	spool_scan_failed(struct spool *, struct spool_entry **entries,
	    size_t *n);
/* Message text of id (malloc'd, caller frees) and its metadata. */
int	spool_read(struct spool *, const char *id, struct spool_entry *meta,
	    char **data, size_t *len);
void	spool_entry_clear(struct spool_entry *);
/* Same, as a stream positioned at the message text (len octets follow). */
int	spool_open_data(struct spool *, const char *id,
	    struct spool_entry *meta, FILE **fp, size_t *len);
/* Temporary failure: new retry metadata; rcpts = those still pending. */
int	spool_defer(struct spool *, const char *id, unsigned attempts,
	    time_t next_try, const char *error, char *const *rcpts,
	    size_t nrcpt);
/*
 * Delivered: removed. The removal is not fsync'd (nor is Postfix's): after
 * a power cut a delivered message may go out again, but none is lost.
 */
int	spool_remove(struct spool *, const char *id);
/*
 * Permanent failure: moved to failed/ with reason; rcpts (nrcpt > 0) are
 * those a later spool_retry() sends it to, else all of the envelope's.
 */
int	spool_fail(struct spool *, const char *id, const char *reason,
	    char *const *rcpts, size_t nrcpt);
/* `modbus2mail retry`: failed/ID (NULL: all) back to the queue, attempts 0;
 * *n gets how many. -1 with errno (ENOENT: no such failed message). */
int	spool_retry(struct spool *, const char *id, size_t *n);
/* `modbus2mail delete`: ID removed from failed/ or, if not there, queue/. */
int	spool_delete(struct spool *, const char *id);

/*
 * Single instance: an exclusive lock on spool_dir/lock, held until
 * spool_close(). Its holder also moves unusable queue entries to failed/.
 * -1 with err "another modbus2mail (pid N) is running on DIR" when taken.
 */
int	spool_lock(struct spool *, char *err, size_t errlen);

/* A one-line state file spool_dir/name (e.g. the last sign of life):
 * read into buf (newline cut), or written whole and durably. 0 or -1. */
int	spool_state_get(struct spool *, const char *name, char *buf,
	    size_t len);
int	spool_state_put(struct spool *, const char *name, const char *text);
/* A device's alarm state, spool_dir/alarms/DEVICE.state: read whole into
 * buf, or written whole and durably. 0, or -1 (ENOENT: none saved yet). */
int	spool_alarms_get(struct spool *, const char *device, char *buf,
	    size_t len);
int	spool_alarms_put(struct spool *, const char *device, const char *text);

/* Counters kept up to date without reading the queue. */
struct spool_stats {
	size_t queued;
	time_t oldest;		/* created of the oldest queued, 0 = none */
	size_t failed;		/* in failed/ */
	size_t damaged;		/* moved to failed/ as unreadable since open */
	size_t unusable;	/* in queue/ but not usable (see spool.c) */
};
void	spool_stats(struct spool *, struct spool_stats *);

/* `modbus2mail queue`: postqueue -p style listing of queue/, then of
 * failed/ with the reasons. */
int	spool_print_queue(struct spool *, FILE *);

#endif
