/*
 * webpage.h - the web page's HTML, /metrics (Prometheus text format 0.0.4)
 * and /healthz, rendered from a status snapshot into a stream. Pure: no
 * sockets, no files, time is an argument; every string from the YAML, the
 * PLC or the spool is escaped.
 */
#ifndef MODBUS2MAIL_WEBPAGE_H
#define MODBUS2MAIL_WEBPAGE_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

struct config;
struct history_filter;
struct history_row;
struct snapshot;
struct spool_entry;

/* Who looks at the page and what the forms need. */
struct webpage_ctx {
	const char *user;		/* logged in, or NULL */
	const char *csrf;		/* form token of the session, or "" */
	int can_login;			/* users_file set, and HTTPS or loopback */
	const char *notice;		/* result of the last action, or NULL */
	int notice_error;
	time_t now;
};

/* HTML text and attribute escaping (& < > " '). */
void	webpage_escape(FILE *, const char *);
void	webpage_overview(FILE *, const struct snapshot *,
	    const struct webpage_ctx *);
/* Queued and failed messages; subjects (one per entry, or NULL). */
void	webpage_queue(FILE *, const struct spool_entry *queued,
	    char *const *qsubjects, size_t nq, const struct spool_entry *failed,
	    char *const *fsubjects, size_t nf, const struct webpage_ctx *);
void	webpage_config(FILE *, const struct snapshot *,
	    const struct webpage_ctx *);
void	webpage_login(FILE *, const struct webpage_ctx *, const char *error);
/* History page: the filter form, then one row per call, then the end. */
void	webpage_history_begin(FILE *, const struct history_filter *,
	    const char *query, const struct webpage_ctx *);
void	webpage_history_row(FILE *, const struct history_row *);
void	webpage_history_end(FILE *, const char *error);
/* Error page for status (403, 404...) with one line of text. */
void	webpage_error(FILE *, int status, const char *text);
void	webpage_metrics(FILE *, const struct snapshot *);
/* Small JSON; returns the HTTP status: 200 all well, 503 otherwise. */
int	webpage_healthz(FILE *, const struct snapshot *);

#endif
