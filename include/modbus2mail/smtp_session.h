/*
 * smtp_session.h - the server side of one SMTP session on port 25
 * (SPEC §6, RFC 5321), as a pure state machine: the caller feeds it the
 * bytes read from the client and it answers through callbacks: reply text
 * to send, the envelope when DATA starts, the unstuffed message text, the
 * end of the message. No I/O, no clock: smtpd.c is the shell around it,
 * the unit tests and the fuzzer drive it directly.
 */
#ifndef MODBUS2MAIL_SMTP_SESSION_H
#define MODBUS2MAIL_SMTP_SESSION_H

#include <stddef.h>

#define SMTP_SESSION_LINE_MAX	2048	/* command line incl. CRLF (AUTH) */
#define SMTP_SESSION_ADDR_MAX	256	/* RFC 5321 path */

struct smtp_session;

struct smtp_session_params {
	const char *hostname;		/* greeting and EHLO name */
	size_t max_size;		/* message octets, SIZE n */
	unsigned max_rcpts;
	char *const *domains;		/* recipient_domains; n = 0: any */
	size_t ndomains;
	int starttls;			/* STARTTLS can be offered */
	int auth;			/* AUTH offered, once under TLS */
	int auth_required;		/* MAIL only after AUTH (not in allow) */
	unsigned max_errors;		/* 0: 10; then 421 and close */
};

/*
 * Callbacks; arg is the one given to smtp_session_new(). Only output is
 * mandatory.
 * - output: reply text (whole CRLF lines) to send, in order.
 * - begin: DATA accepted, open the message; -1: 452 4.3.1, no 354.
 * - data: message text, dot-unstuffed, CRLF lines; -1: the message is
 *   refused (452 4.3.1) at its end, the rest is read and dropped; -2:
 *   the same with 550 5.6.0, a header line is over 998 octets.
 * - end: the whole message arrived intact: commit it and answer with
 *   smtp_session_commit_done(), now or later; until then the session
 *   consumes no input.
 * - abort: the message opened by begin is refused, drop it.
 * - auth: check user/password (copy them) and answer with
 *   smtp_session_auth_done(), now or later; until then the session
 *   consumes no input. Without it, AUTH always fails.
 */
struct smtp_session_ops {
	void	(*output)(void *arg, const char *buf, size_t len);
	int	(*begin)(void *arg, const char *sender, char *const *rcpts,
		    size_t nrcpt);
	int	(*data)(void *arg, const char *buf, size_t len);
	void	(*end)(void *arg);
	void	(*abort)(void *arg);
	void	(*auth)(void *arg, const char *user, const char *password);
};

enum smtp_session_start {
	SMTP_START_OK,			/* 220 greeting */
	SMTP_START_DENIED,		/* 554 5.7.1 and close */
	SMTP_START_BUSY,		/* 421 4.7.0 and close */
};

/* What the shell must do after a feed. */
enum smtp_session_wait {
	SMTP_WAIT_INPUT,		/* read more */
	SMTP_WAIT_COMMIT,		/* call smtp_session_commit_done() */
	SMTP_WAIT_AUTH,			/* call smtp_session_auth_done() */
	SMTP_WAIT_TLS,			/* drop unread input, handshake, tls_done */
	SMTP_WAIT_CLOSE,		/* send pending output, close */
};

/* params (and the strings it points to) must outlive the session. */
struct smtp_session *smtp_session_new(const struct smtp_session_params *,
	    const struct smtp_session_ops *, void *arg);
void	smtp_session_free(struct smtp_session *);
void	smtp_session_start(struct smtp_session *, enum smtp_session_start);
/*
 * Consumes client bytes and returns how many; fewer than len only when
 * the session stopped reading (see smtp_session_wait): the shell keeps
 * the rest and feeds it again once the wait is over.
 */
size_t	smtp_session_feed(struct smtp_session *, const char *buf, size_t len);
enum smtp_session_wait smtp_session_wait(const struct smtp_session *);
/* 1 while message text is read (after 354, before its end). */
int	smtp_session_in_data(const struct smtp_session *);
/* id: queued as id (250); NULL: spool failure (452 4.3.1). */
void	smtp_session_commit_done(struct smtp_session *, const char *id);
/* ok: the credentials given to ops->auth are valid (235), else 535. */
void	smtp_session_auth_done(struct smtp_session *, int ok);
/* TLS is up: back to the greeted state, EHLO expected again (RFC 3207). */
void	smtp_session_tls_done(struct smtp_session *);
/* Which time limit ran out (the shell keeps the clock). */
enum smtp_session_limit {
	SMTP_LIMIT_IDLE,		/* no input for the timeout: 421 4.4.2 */
	SMTP_LIMIT_SESSION,		/* session too long: 421 4.4.2 */
	SMTP_LIMIT_DATA,		/* message text too slow: 421 4.4.2 */
	SMTP_LIMIT_AUTH,		/* no AUTH in time: 421 4.7.0 */
};

/* A time limit ran out: 421, close. */
void	smtp_session_timeout(struct smtp_session *, enum smtp_session_limit);
/* Server shutting down: 421 4.3.2, close. */
void	smtp_session_shutdown(struct smtp_session *);

/* For the Received: line and the logs. */
const char *smtp_session_helo(const struct smtp_session *); /* "" if none */
const char *smtp_session_protocol(const struct smtp_session *); /* ESMTPSA.. */
const char *smtp_session_auth_user(const struct smtp_session *); /* or NULL */
const char *smtp_session_strstate(int);

#endif
