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
/* Delivered: removed. */
int	spool_remove(struct spool *, const char *id);
/* Permanent failure: moved to failed/ with reason. */
int	spool_fail(struct spool *, const char *id, const char *reason);

/* `modbus2mail queue`: postqueue -p style listing of queue/ (SPEC §2). */
int	spool_print_queue(struct spool *, FILE *);

#endif
