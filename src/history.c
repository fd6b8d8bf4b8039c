/*
 * history.c - the SQLite history: a bounded ring of events, one writer
 * thread batching them into one transaction, hourly retention, and the
 * read side for `modbus2mail history` and the web page.
 *
 * Schema (PRAGMA user_version 1):
 *   events(id INTEGER PRIMARY KEY, t INTEGER ms, kind TEXT, device TEXT,
 *          rule TEXT, detail TEXT), index on t.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "modbus2mail/config.h"
#include "modbus2mail/counter.h"
#include "modbus2mail/history.h"
#include "modbus2mail/log.h"
#include "modbus2mail/util.h"

#define HISTORY_RING		512
#define HISTORY_PURGE_MS	3600000
#define HISTORY_VERSION		1

struct history {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t thread;
	int stop;			/* under lock */
	struct history_row ring[HISTORY_RING];	/* under lock */
	size_t head, len;
	sqlite3 *db;			/* writer thread only, once started */
	sqlite3_stmt *ins;
	uint64_t keep_ms;
	uint64_t next_purge;		/* monotonic */
	struct log_limit lim;
};

static const char *history_kinds[HISTORY_NKINDS] = {
	[HISTORY_RAISE] = "raise",
	[HISTORY_CLEAR] = "clear",
	[HISTORY_REMINDER] = "reminder",
	[HISTORY_ACK] = "ack",
	[HISTORY_ESCALATE] = "escalate",
	[HISTORY_SHELVE] = "shelve",
	[HISTORY_UNSHELVE] = "unshelve",
	[HISTORY_MAIL_QUEUED] = "mail_queued",
	[HISTORY_MAIL_SENT] = "mail_sent",
	[HISTORY_MAIL_DEFERRED] = "mail_deferred",
	[HISTORY_MAIL_FAILED] = "mail_failed",
	[HISTORY_LINK_UP] = "link_up",
	[HISTORY_LINK_DOWN] = "link_down",
};

/* The running writer; history_add() is a no-op (or counts) without it. */
static pthread_mutex_t history_glock = PTHREAD_MUTEX_INITIALIZER;
static struct history *history_cur;
static int history_on;		/* enabled in the config, under glock */

static int	history_open(struct history *, const char *, char *, size_t);
static void	*history_main(void *);
static void	history_write(struct history *, struct history_row *, size_t);
static void	history_purge(struct history *);

const char *
history_kind_name(enum history_kind k)
{
	return (size_t)k < HISTORY_NKINDS ? history_kinds[k] : NULL;
}

int
history_kind_parse(const char *s)
{
	int k;

	for (k = 0; k < HISTORY_NKINDS; k++)
		if (strcmp(s, history_kinds[k]) == 0)
			return k;
	return -1;
}

enum history_kind
history_kind_of_alarm(enum alarm_kind k)
{
	switch (k) {
	case ALARM_ACTIVE:
		return HISTORY_RAISE;
	case ALARM_CLEARED:
		return HISTORY_CLEAR;
	case ALARM_REMINDER:
		return HISTORY_REMINDER;
	case ALARM_ACKNOWLEDGED:
		return HISTORY_ACK;
	case ALARM_ESCALATION:
		return HISTORY_ESCALATE;
	case ALARM_SHELVED:
		return HISTORY_SHELVE;
	}
	fatalx("history: alarm kind %d", (int)k);
}

int
history_path(const struct config *cfg, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s/history.db", cfg->spool_dir);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int
history_open(struct history *h, const char *path, char *err, size_t errlen)
{
	static const char schema[] =
	    "PRAGMA journal_mode=WAL;"
	    "PRAGMA synchronous=NORMAL;"
	    "PRAGMA cache_size=-256;"	/* KiB: a writer needs little */
	    /* the WAL shares the spool's file system: keep it small */
	    "PRAGMA wal_autocheckpoint=256;"
	    "PRAGMA journal_size_limit=1048576;"
	    "CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY, "
	    "t INTEGER NOT NULL, kind TEXT NOT NULL, device TEXT, rule TEXT, "
	    "detail TEXT);"
	    "CREATE INDEX IF NOT EXISTS events_t ON events(t);"
	    "PRAGMA user_version=1;";
	const char *what = "open";

	if (sqlite3_open_v2(path, &h->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(h->db, 1000);
	what = "schema";
	if (sqlite3_exec(h->db, schema, NULL, NULL, NULL) != SQLITE_OK)
		goto fail;
	what = "prepare";
	if (sqlite3_prepare_v2(h->db, "INSERT INTO events(t, kind, device, "
	    "rule, detail) VALUES(?, ?, ?, ?, ?)", -1, &h->ins, NULL) !=
	    SQLITE_OK)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "history: %s %s: %s", what, path,
	    h->db != NULL ? sqlite3_errmsg(h->db) : "out of memory");
	sqlite3_close(h->db);
	h->db = NULL;
	return -1;
}

int
history_start(const struct config *cfg, char *err, size_t errlen)
{
	struct history *h;
	char path[4096];

	pthread_mutex_lock(&history_glock);
	history_on = cfg->history.enabled;
	pthread_mutex_unlock(&history_glock);
	if (!cfg->history.enabled)
		return 0;
	if (history_path(cfg, path, sizeof(path)) == -1) {
		snprintf(err, errlen, "history: spool_dir path too long");
		return -1;
	}
	h = xcalloc(1, sizeof(*h));
	if (history_open(h, path, err, errlen) == -1) {
		free(h);
		return -1;
	}
	h->keep_ms = cfg->history.keep_ms;
	pthread_mutex_init(&h->lock, NULL);
	pthread_cond_init(&h->cond, NULL);
	if (pthread_create(&h->thread, NULL, history_main, h) != 0)
		fatal("history: pthread_create");
	pthread_mutex_lock(&history_glock);
	history_cur = h;
	pthread_mutex_unlock(&history_glock);
	return 0;
}

void
history_stop(void)
{
	struct history *h;

	pthread_mutex_lock(&history_glock);
	h = history_cur;
	history_cur = NULL;
	history_on = 0;
	pthread_mutex_unlock(&history_glock);
	if (h == NULL)
		return;
	pthread_mutex_lock(&h->lock);
	h->stop = 1;
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_join(h->thread, NULL);
	sqlite3_finalize(h->ins);
	sqlite3_close(h->db);
	pthread_cond_destroy(&h->cond);
	pthread_mutex_destroy(&h->lock);
	free(h);
}

static void
history_copy(char *dst, size_t len, const char *src)
{
	strlcpy(dst, src != NULL ? src : "", len);
}

void
history_add(enum history_kind kind, const char *device, const char *rule,
    const char *detail)
{
	struct history_row *r;
	struct history *h;

	pthread_mutex_lock(&history_glock);
	if ((h = history_cur) == NULL) {
		/* on, but the file is unusable: the event is lost, counted */
		if (history_on)
			counter_add(COUNTER_HISTORY_DROPPED, 1);
		pthread_mutex_unlock(&history_glock);
		return;
	}
	pthread_mutex_lock(&h->lock);
	if (h->len == HISTORY_RING) {
		pthread_mutex_unlock(&h->lock);
		pthread_mutex_unlock(&history_glock);
		counter_add(COUNTER_HISTORY_DROPPED, 1);
		return;
	}
	r = &h->ring[(h->head + h->len++) % HISTORY_RING];
	r->t_ms = (int64_t)util_wall_ms();
	r->kind = kind;
	history_copy(r->device, sizeof(r->device), device);
	history_copy(r->rule, sizeof(r->rule), rule);
	history_copy(r->detail, sizeof(r->detail), detail);
	pthread_cond_signal(&h->cond);
	pthread_mutex_unlock(&h->lock);
	pthread_mutex_unlock(&history_glock);
}

/* Takes what the ring holds (a batch), writes it outside the lock. */
static void *
history_main(void *arg)
{
	struct history *h = arg;
	struct history_row *batch;
	size_t n, i;
	int stop = 0;

	batch = xcalloc(HISTORY_RING, sizeof(*batch));
	history_purge(h);
	while (!stop) {
		pthread_mutex_lock(&h->lock);
		while (h->len == 0 && !h->stop)
			pthread_cond_wait(&h->cond, &h->lock);
		for (n = 0; h->len > 0; n++, h->len--) {
			batch[n] = h->ring[h->head];
			h->head = (h->head + 1) % HISTORY_RING;
		}
		stop = h->stop;
		pthread_mutex_unlock(&h->lock);
		if (n > 0)
			history_write(h, batch, n);
		if (util_mono_ms() >= h->next_purge)
			history_purge(h);
	}
	for (i = 0; i < HISTORY_RING; i++)
		explicit_bzero(&batch[i], sizeof(batch[i]));
	free(batch);
	return NULL;
}

/* One transaction for the batch; on any error the batch is dropped. */
static void
history_write(struct history *h, struct history_row *v, size_t n)
{
	size_t i;
	int rc = sqlite3_exec(h->db, "BEGIN", NULL, NULL, NULL);

	for (i = 0; i < n && rc == SQLITE_OK; i++) {
		sqlite3_reset(h->ins);
		sqlite3_bind_int64(h->ins, 1, v[i].t_ms);
		sqlite3_bind_text(h->ins, 2, history_kinds[v[i].kind], -1,
		    SQLITE_STATIC);
		sqlite3_bind_text(h->ins, 3, v[i].device, -1, SQLITE_STATIC);
		sqlite3_bind_text(h->ins, 4, v[i].rule, -1, SQLITE_STATIC);
		sqlite3_bind_text(h->ins, 5, v[i].detail, -1, SQLITE_STATIC);
		if ((rc = sqlite3_step(h->ins)) == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
	if (rc == SQLITE_OK) {
		counter_add(COUNTER_HISTORY_WRITTEN, n);
		return;
	}
	log_warnx_limited(&h->lim, util_mono_ms(), "history: %zu event%s "
	    "dropped: %s", n, n == 1 ? "" : "s", sqlite3_errmsg(h->db));
	sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
	counter_add(COUNTER_HISTORY_DROPPED, n);
}

static void
history_purge(struct history *h)
{
	char sql[96];

	h->next_purge = util_mono_ms() + HISTORY_PURGE_MS;
	snprintf(sql, sizeof(sql), "DELETE FROM events WHERE t < %lld",
	    (long long)(util_wall_ms() - h->keep_ms));
	if (sqlite3_exec(h->db, sql, NULL, NULL, NULL) != SQLITE_OK)
		log_warnx_limited(&h->lim, util_mono_ms(), "history: purge: "
		    "%s", sqlite3_errmsg(h->db));
}

/* WHERE clause of f with ? for its values, bound in the same order. */
static void
history_where(const struct history_filter *f, char *sql, size_t len)
{
	snprintf(sql, len, "SELECT t, kind, device, rule, detail FROM events "
	    "WHERE t >= ?1%s%s%s ORDER BY t DESC, id DESC LIMIT ?5",
	    f->device != NULL ? " AND device = ?2" : "",
	    f->rule != NULL ? " AND rule = ?3" : "",
	    f->kind >= 0 ? " AND kind = ?4" : "");
}

static void
history_column(sqlite3_stmt *st, int col, char *dst, size_t len)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	history_copy(dst, len, (const char *)s);
}

int
history_query(const char *path, const struct history_filter *f,
    int (*fn)(const struct history_row *, void *), void *arg, char *err,
    size_t errlen)
{
	struct history_row row;
	sqlite3_stmt *st = NULL;
	sqlite3 *db = NULL;
	char sql[256];
	int rc;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK)
		goto fail;
	sqlite3_busy_timeout(db, 1000);
	history_where(f, sql, sizeof(sql));
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_int64(st, 1, f->since_ms);
	if (f->device != NULL)
		sqlite3_bind_text(st, 2, f->device, -1, SQLITE_STATIC);
	if (f->rule != NULL)
		sqlite3_bind_text(st, 3, f->rule, -1, SQLITE_STATIC);
	if (f->kind >= 0)
		sqlite3_bind_text(st, 4, history_kinds[f->kind], -1,
		    SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, f->limit > 0 ? (sqlite3_int64)f->limit : -1);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		memset(&row, 0, sizeof(row));
		row.t_ms = sqlite3_column_int64(st, 0);
		row.kind = (enum history_kind)history_kind_parse(
		    (const char *)sqlite3_column_text(st, 1));
		history_column(st, 2, row.device, sizeof(row.device));
		history_column(st, 3, row.rule, sizeof(row.rule));
		history_column(st, 4, row.detail, sizeof(row.detail));
		if ((int)row.kind >= 0 && fn(&row, arg) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return 0;
fail:
	snprintf(err, errlen, "history %s: %s", path, db != NULL ?
	    sqlite3_errmsg(db) : "out of memory");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return -1;
}

void
history_csv_header(FILE *out)
{
	fputs("time,kind,device,rule,detail\r\n", out);
}

/* RFC 4180: a field with a comma, quote or line break is quoted. */
static void
history_csv_field(FILE *out, const char *s, int last)
{
	if (strpbrk(s, ",\"\r\n") != NULL) {
		fputc('"', out);
		for (; *s != '\0'; s++) {
			if (*s == '"')
				fputc('"', out);
			fputc(*s, out);
		}
		fputc('"', out);
	} else
		fputs(s, out);
	fputs(last ? "\r\n" : ",", out);
}

void
history_csv_row(FILE *out, const struct history_row *r)
{
	time_t t = (time_t)(r->t_ms / 1000);
	struct tm tm;
	char ts[32];

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	history_csv_field(out, ts, 0);
	history_csv_field(out, history_kinds[r->kind], 0);
	history_csv_field(out, r->device, 0);
	history_csv_field(out, r->rule, 0);
	history_csv_field(out, r->detail, 1);
}

static int
history_print_row(const struct history_row *r, void *arg)
{
	time_t t = (time_t)(r->t_ms / 1000);
	struct tm tm;
	char ts[32];

	localtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(arg, "%s %-13s %-12s %-20s %s\n", ts, history_kinds[r->kind],
	    r->device[0] != '\0' ? r->device : "-", r->rule[0] != '\0' ?
	    r->rule : "-", r->detail);
	return 0;
}

static int
history_csv_cb(const struct history_row *r, void *arg)
{
	history_csv_row(arg, r);
	return 0;
}

/* The command line's options into f; -1 with the message on err. */
static int
history_args(int argc, char **argv, struct history_filter *f, int *csv,
    FILE *err)
{
	uint64_t ms = 86400000;
	int i;

	memset(f, 0, sizeof(*f));
	f->kind = -1;
	*csv = 0;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--csv") == 0) {
			*csv = 1;
			continue;
		}
		if (i + 1 == argc)
			goto usage;
		if (strcmp(argv[i], "--since") == 0) {
			if (config_parse_duration(argv[++i], &ms) == -1) {
				fprintf(err, "modbus2mail history: bad duration "
				    "'%s' (e.g. 30m, 24h, 7d)\n", argv[i]);
				return -1;
			}
		} else if (strcmp(argv[i], "--device") == 0)
			f->device = argv[++i];
		else if (strcmp(argv[i], "--rule") == 0)
			f->rule = argv[++i];
		else if (strcmp(argv[i], "--kind") == 0) {
			if ((f->kind = history_kind_parse(argv[++i])) == -1) {
				fprintf(err, "modbus2mail history: unknown kind "
				    "'%s'\n", argv[i]);
				return -1;
			}
		} else
			goto usage;
	}
	f->since_ms = (int64_t)(util_wall_ms() - ms);
	return 0;
usage:
	fprintf(err, "usage: modbus2mail history [-c FILE] [--since T] "
	    "[--device D] [--rule R] [--csv]\n");
	return -2;
}

int
history_cli(const struct config *cfg, int argc, char **argv, FILE *out,
    FILE *err)
{
	struct history_filter f;
	char path[4096], msg[512];
	int csv, r;

	if ((r = history_args(argc, argv, &f, &csv, err)) < 0)
		return r == -2 ? 2 : 1;
	if (!cfg->history.enabled) {
		fprintf(err, "modbus2mail history: history is off in %s "
		    "(history: false)\n", cfg->path);
		return 1;
	}
	if (history_path(cfg, path, sizeof(path)) == -1 ||
	    access(path, R_OK) == -1) {
		fprintf(err, "modbus2mail history: no history yet (%s: %s)\n",
		    path, strerror(errno));
		return 1;
	}
	if (csv)
		history_csv_header(out);
	if (history_query(path, &f, csv ? history_csv_cb : history_print_row,
	    out, msg, sizeof(msg)) == -1) {
		fprintf(err, "modbus2mail %s\n", msg);
		return 1;
	}
	return 0;
}
