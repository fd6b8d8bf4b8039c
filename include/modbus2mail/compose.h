/*
 * compose.h - RFC 5322 / MIME message building for alarm mail (SPEC §5).
 * Pure: time, ids and host names are arguments; no I/O.
 */
#ifndef MODBUS2MAIL_COMPOSE_H
#define MODBUS2MAIL_COMPOSE_H

#include <stddef.h>
#include <time.h>

/* Values for the template fields of SPEC §3; NULL prints as "". */
/* The fields a subject or body template may name: the one list. */
#define COMPOSE_FIELDS(F)						\
	F(name) F(device) F(severity) F(state) F(value) F(raw) F(unit)	\
	F(threshold) F(since) F(duration) F(hostname) F(time) F(reason)	\
	F(condition)

struct compose_vars {
#define COMPOSE_MEMBER(x)	const char *x;
	COMPOSE_FIELDS(COMPOSE_MEMBER)
#undef COMPOSE_MEMBER
};

/* COMPOSE_FIELDS' names, NULL terminated. */
extern const char *const compose_fields[];

struct compose_item {
	const char *rule;            /* X-Modbus2mail-Rule */
	const char *subject_tmpl;
	const char *body_tmpl;
	struct compose_vars vars;
};

struct compose_mail {
	const char *from;            /* "Name <a@b>" or "a@b" */
	char *const *to;             /* addresses as configured */
	size_t nto;
	const char *hostname;
	time_t date;
	const char *message_id;      /* "<...@hostname>" */
	const char *in_reply_to;     /* NULL, or the ACTIVE mail's Message-ID */
	const char *reply_to;        /* NULL, or where replies go (imap:) */
	const char *subject;         /* NULL: from the first item's template
				      * (a group's is the caller's) */
	const char *intro;           /* NULL, or the body's first paragraph */
	const struct compose_item *items; /* one, or a burst group */
	size_t nitems;
	const char *outro;           /* NULL, or the body's last paragraph */
};

/* A plain text message (failure notices, test mail): no rule header. */
struct compose_text {
	const char *from;            /* "Name <a@b>" or "a@b" */
	char *const *to;
	size_t nto;
	const char *subject;         /* UTF-8, encoded here */
	const char *body;            /* UTF-8, \n or CRLF lines */
	time_t date;
	const char *message_id;
	const char *in_reply_to;     /* NULL = none */
	const char *reply_to;        /* NULL = none */
	const char *auto_submitted;  /* NULL = "auto-generated" */
};

/*
 * Expands {field} references ("{{" is a literal "{"); returns malloc'd text,
 * or NULL with errno EINVAL (unknown field, unclosed brace) or ENOMEM.
 */
char	*compose_template(const char *tmpl, const struct compose_vars *);
/* The whole message, CRLF lines <= 998 octets; malloc'd, NULL on ENOMEM. */
char	*compose_alarm(const struct compose_mail *, size_t *len);
/* compose_alarm's format for a compose_text; malloc'd, NULL on ENOMEM. */
char	*compose_plain(const struct compose_text *, size_t *len);
/* RFC 5322 date of t in local time, e.g. "Mon, 23 Nov 2026 07:00:00 +0100". */
void	compose_date(char *buf, size_t len, time_t t);
/* "<time.random.m2m@hostname>"; rnd is util_random64() (tests pass fixed
 * values): a reply that names the id is trusted, so it must be unguessable. */
void	compose_message_id(char *buf, size_t len, const char *hostname,
	    time_t t, unsigned long long rnd);
/* RFC 2047 encoded-word form of a header value when not ASCII; malloc'd.
 * CR and LF are replaced so a value never starts a new header line. */
char	*compose_header_value(const char *value);

#endif
