/*
 * smtp_session.c - one SMTP server session (SPEC §6, RFC 5321, 1870,
 * 2920, 3207, 4954, 6152): commands in, replies out, message text to the
 * shell. Pure: no I/O, no clock (see smtp_session.h).
 *
 * Commands are dispatched through commands[]: check() validates the
 * command in the current state and sends the error reply itself, then
 * proceed() does the work. Every state change goes through
 * smtp_enter_state().
 *
 * DATA is scanned byte by byte. The end of the message is CRLF.CRLF only;
 * a bare CR or LF anywhere marks the message bad and does not end a line,
 * so "\n.\n", "\r.\n" or "\n.\r\n" never end the data early: whatever a
 * smuggler puts after them is swallowed as text, and the whole message is
 * refused with 550 5.6.0 at the real end. So is a message with a NUL.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "modbus2mail/log.h"
#include "modbus2mail/smtp_session.h"
#include "modbus2mail/util.h"

#define SMTP_DATA_CHUNK		8192	/* unstuffed text handed to data() */
#define SMTP_MAX_ERRORS		10
#define SMTP_MAX_AUTH_FAILS	3

enum smtp_state {
	STATE_NEW,		/* before smtp_session_start() */
	STATE_CONNECTED,	/* greeted, no HELO/EHLO yet */
	STATE_HELO,		/* HELO/EHLO seen, no transaction */
	STATE_MAIL,		/* sender given */
	STATE_RCPT,		/* at least one recipient */
	STATE_DATA,		/* reading message text */
	STATE_COMMIT,		/* waiting for smtp_session_commit_done() */
	STATE_AUTH_PLAIN,	/* waiting for the PLAIN response */
	STATE_AUTH_USER,	/* AUTH LOGIN: waiting for the user name */
	STATE_AUTH_PASS,	/* AUTH LOGIN: waiting for the password */
	STATE_AUTH_CHECK,	/* waiting for smtp_session_auth_done() */
	STATE_TLS,		/* waiting for smtp_session_tls_done() */
	STATE_QUIT,		/* closing */
};

enum smtp_cmd {
	CMD_HELO,
	CMD_EHLO,
	CMD_STARTTLS,
	CMD_AUTH,
	CMD_MAIL,
	CMD_RCPT,
	CMD_DATA,
	CMD_RSET,
	CMD_NOOP,
	CMD_QUIT,
	CMD_HELP,
	CMD_VRFY,
	CMD_EXPN,
};

/* Where the DATA scanner is within a line. */
enum smtp_scan {
	SCAN_BOL,		/* at the start of a line */
	SCAN_DOT,		/* "." at the start of a line */
	SCAN_DOTCR,		/* ".\r" at the start of a line */
	SCAN_TEXT,		/* inside a line */
	SCAN_CR,		/* "\r" inside a line */
};

struct smtp_session {
	const struct smtp_session_params *p;
	const struct smtp_session_ops *ops;
	void *arg;
	int state;
	int esmtp;			/* EHLO, not HELO */
	int tls;			/* STARTTLS done */
	int errors;			/* failed commands; closes at max */
	int auth_fails;
	char helo[SMTP_SESSION_ADDR_MAX];
	char auth_user[SMTP_SESSION_ADDR_MAX]; /* "" until AUTH succeeded */
	char login_user[SMTP_SESSION_ADDR_MAX]; /* AUTH: user being checked */
	char line[SMTP_SESSION_LINE_MAX]; /* command being read */
	size_t linelen;
	int overlong;			/* line exceeded, skipping to LF */

	/* transaction */
	char sender[SMTP_SESSION_ADDR_MAX];
	char **rcpts;			/* owned, each owned */
	size_t nrcpt;

	/* DATA */
	enum smtp_scan scan;
	size_t size;			/* unstuffed octets seen */
	int bare;			/* bare CR or LF seen */
	int nul;			/* NUL seen */
	int longline;			/* data(): a header line too long */
	int toobig;			/* over max_size */
	int failed;			/* data() failed */
	int open;			/* begin() succeeded, not ended */
	char chunk[SMTP_DATA_CHUNK];	/* pending unstuffed text */
	size_t chunklen;
};

struct smtp_command {
	enum smtp_cmd cmd;
	const char *name;
	int (*check)(struct smtp_session *, const char *);
	void (*proceed)(struct smtp_session *, const char *);
};

static void	smtp_enter_state(struct smtp_session *, int);
static void	smtp_reply(struct smtp_session *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	smtp_error(struct smtp_session *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	smtp_command(struct smtp_session *, char *);
static size_t	smtp_feed_line(struct smtp_session *, const char *, size_t);
static size_t	smtp_feed_data(struct smtp_session *, const char *, size_t);
static void	smtp_data_byte(struct smtp_session *, char);
static void	smtp_data_text(struct smtp_session *, char);
static void	smtp_data_refuse(struct smtp_session *, int *);
static void	smtp_data_flush(struct smtp_session *);
static void	smtp_data_end(struct smtp_session *);
static void	smtp_reset(struct smtp_session *);
static void	smtp_abort(struct smtp_session *);
static void	smtp_close(struct smtp_session *, const char *);
static int	smtp_parse_path(const char *, char *, size_t, const char **);
static int	smtp_domain_ok(struct smtp_session *, const char *);
static int	smtp_routed(const char *, const char *);
static int	smtp_mail_params(struct smtp_session *, const char *);
static void	smtp_set_helo(struct smtp_session *, const char *, int);
static void	smtp_auth_response(struct smtp_session *, char *);
static void	smtp_auth_check(struct smtp_session *, const char *,
		    const char *);
static int	smtp_b64_decode(const char *, char *, size_t);

static int	smtp_check_helo(struct smtp_session *, const char *);
static int	smtp_check_starttls(struct smtp_session *, const char *);
static int	smtp_check_auth(struct smtp_session *, const char *);
static int	smtp_check_mail(struct smtp_session *, const char *);
static int	smtp_check_rcpt(struct smtp_session *, const char *);
static int	smtp_check_data(struct smtp_session *, const char *);
static int	smtp_check_noarg(struct smtp_session *, const char *);
static int	smtp_check_any(struct smtp_session *, const char *);
static void	smtp_proceed_helo(struct smtp_session *, const char *);
static void	smtp_proceed_ehlo(struct smtp_session *, const char *);
static void	smtp_proceed_starttls(struct smtp_session *, const char *);
static void	smtp_proceed_auth(struct smtp_session *, const char *);
static void	smtp_proceed_mail(struct smtp_session *, const char *);
static void	smtp_proceed_rcpt(struct smtp_session *, const char *);
static void	smtp_proceed_data(struct smtp_session *, const char *);
static void	smtp_proceed_rset(struct smtp_session *, const char *);
static void	smtp_proceed_noop(struct smtp_session *, const char *);
static void	smtp_proceed_quit(struct smtp_session *, const char *);
static void	smtp_proceed_help(struct smtp_session *, const char *);
static void	smtp_proceed_vrfy(struct smtp_session *, const char *);
static void	smtp_proceed_expn(struct smtp_session *, const char *);

static const struct smtp_command commands[] = {
	{ CMD_HELO, "HELO", smtp_check_helo, smtp_proceed_helo },
	{ CMD_EHLO, "EHLO", smtp_check_helo, smtp_proceed_ehlo },
	{ CMD_STARTTLS, "STARTTLS", smtp_check_starttls,
	    smtp_proceed_starttls },
	{ CMD_AUTH, "AUTH", smtp_check_auth, smtp_proceed_auth },
	{ CMD_MAIL, "MAIL", smtp_check_mail, smtp_proceed_mail },
	{ CMD_RCPT, "RCPT", smtp_check_rcpt, smtp_proceed_rcpt },
	{ CMD_DATA, "DATA", smtp_check_data, smtp_proceed_data },
	{ CMD_RSET, "RSET", smtp_check_noarg, smtp_proceed_rset },
	{ CMD_NOOP, "NOOP", smtp_check_any, smtp_proceed_noop },
	{ CMD_QUIT, "QUIT", smtp_check_noarg, smtp_proceed_quit },
	{ CMD_HELP, "HELP", smtp_check_any, smtp_proceed_help },
	{ CMD_VRFY, "VRFY", smtp_check_any, smtp_proceed_vrfy },
	{ CMD_EXPN, "EXPN", smtp_check_any, smtp_proceed_expn },
};

const char *
smtp_session_strstate(int state)
{
#define CASE(x) case x: return #x
	switch (state) {
	CASE(STATE_NEW);
	CASE(STATE_CONNECTED);
	CASE(STATE_HELO);
	CASE(STATE_MAIL);
	CASE(STATE_RCPT);
	CASE(STATE_DATA);
	CASE(STATE_COMMIT);
	CASE(STATE_AUTH_PLAIN);
	CASE(STATE_AUTH_USER);
	CASE(STATE_AUTH_PASS);
	CASE(STATE_AUTH_CHECK);
	CASE(STATE_TLS);
	CASE(STATE_QUIT);
	default:
		return "STATE_???";
	}
#undef CASE
}

static void
smtp_enter_state(struct smtp_session *s, int newstate)
{
	log_debug("smtp: %p: %s -> %s", (void *)s,
	    smtp_session_strstate(s->state), smtp_session_strstate(newstate));
	s->state = newstate;
}

struct smtp_session *
smtp_session_new(const struct smtp_session_params *p,
    const struct smtp_session_ops *ops, void *arg)
{
	struct smtp_session *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	if ((s->rcpts = calloc(p->max_rcpts + 1, sizeof(*s->rcpts))) == NULL) {
		free(s);
		return NULL;
	}
	s->p = p;
	s->ops = ops;
	s->arg = arg;
	s->state = STATE_NEW;
	return s;
}

void
smtp_session_free(struct smtp_session *s)
{
	if (s == NULL)
		return;
	smtp_abort(s);
	smtp_reset(s);
	free(s->rcpts);
	free(s);
}

void
smtp_session_start(struct smtp_session *s, enum smtp_session_start how)
{
	switch (how) {
	case SMTP_START_OK:
		smtp_enter_state(s, STATE_CONNECTED);
		smtp_reply(s, "220 %s ESMTP modbus2mail", s->p->hostname);
		break;
	case SMTP_START_DENIED:
		smtp_close(s, "554 5.7.1 Access denied");
		break;
	case SMTP_START_BUSY:
		smtp_close(s, "421 4.7.0 Too many connections, try again later");
		break;
	}
}

enum smtp_session_wait
smtp_session_wait(const struct smtp_session *s)
{
	switch (s->state) {
	case STATE_COMMIT:
		return SMTP_WAIT_COMMIT;
	case STATE_AUTH_CHECK:
		return SMTP_WAIT_AUTH;
	case STATE_TLS:
		return SMTP_WAIT_TLS;
	case STATE_QUIT:
	case STATE_NEW:
		return SMTP_WAIT_CLOSE;
	default:
		return SMTP_WAIT_INPUT;
	}
}

int
smtp_session_in_data(const struct smtp_session *s)
{
	return s->state == STATE_DATA;
}

const char *
smtp_session_helo(const struct smtp_session *s)
{
	return s->helo;
}

const char *
smtp_session_protocol(const struct smtp_session *s)
{
	if (!s->esmtp)
		return "SMTP";
	if (s->auth_user[0] != '\0')
		return s->tls ? "ESMTPSA" : "ESMTPA";
	return s->tls ? "ESMTPS" : "ESMTP";
}

const char *
smtp_session_auth_user(const struct smtp_session *s)
{
	return s->auth_user[0] != '\0' ? s->auth_user : NULL;
}

void
smtp_session_timeout(struct smtp_session *s, enum smtp_session_limit why)
{
	static const char *const replies[] = {
		[SMTP_LIMIT_IDLE] = "421 4.4.2 Timeout exceeded, closing",
		[SMTP_LIMIT_SESSION] = "421 4.4.2 Session time limit exceeded, "
		    "closing",
		[SMTP_LIMIT_DATA] = "421 4.4.2 Message time limit exceeded, "
		    "closing",
		[SMTP_LIMIT_AUTH] = "421 4.7.0 Authentication time limit "
		    "exceeded, closing",
	};

	if (s->state != STATE_QUIT)
		smtp_close(s, replies[why]);
}

void
smtp_session_shutdown(struct smtp_session *s)
{
	if (s->state != STATE_QUIT)
		smtp_close(s, "421 4.3.2 Service shutting down, try again "
		    "later");
}

void
smtp_session_commit_done(struct smtp_session *s, const char *id)
{
	if (s->state != STATE_COMMIT)
		return;
	if (id != NULL)
		smtp_reply(s, "250 2.0.0 Ok: queued as %s", id);
	else
		smtp_reply(s, "452 4.3.1 Insufficient system storage");
	smtp_reset(s);
	smtp_enter_state(s, STATE_HELO);
}

void
smtp_session_tls_done(struct smtp_session *s)
{
	if (s->state != STATE_TLS)
		return;
	s->tls = 1;
	s->esmtp = 0;
	s->helo[0] = '\0';
	smtp_enter_state(s, STATE_CONNECTED);
}

size_t
smtp_session_feed(struct smtp_session *s, const char *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		switch (s->state) {
		case STATE_DATA:
			off += smtp_feed_data(s, buf + off, len - off);
			break;
		case STATE_NEW:
		case STATE_COMMIT:
		case STATE_AUTH_CHECK:
		case STATE_TLS:
		case STATE_QUIT:
			return off;
		default:
			off += smtp_feed_line(s, buf + off, len - off);
			break;
		}
	}
	return off;
}

/* Reply, give up the transaction, close. */
static void
smtp_close(struct smtp_session *s, const char *reply)
{
	smtp_reply(s, "%s", reply);
	smtp_abort(s);
	smtp_reset(s);
	smtp_enter_state(s, STATE_QUIT);
}

static void
smtp_reply(struct smtp_session *s, const char *fmt, ...)
{
	char buf[SMTP_SESSION_LINE_MAX];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf) - 2, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(buf) - 3)
		n = sizeof(buf) - 3;
	buf[n++] = '\r';
	buf[n++] = '\n';
	s->ops->output(s->arg, buf, (size_t)n);
}

/* A failed command; too many end the session (RFC 5321 4.5.3.2). */
static void
smtp_error(struct smtp_session *s, const char *fmt, ...)
{
	char buf[SMTP_SESSION_LINE_MAX];
	unsigned max = s->p->max_errors ? s->p->max_errors : SMTP_MAX_ERRORS;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	smtp_reply(s, "%s", buf);
	if ((unsigned)++s->errors >= max && s->state != STATE_QUIT)
		smtp_close(s, "421 4.7.0 Too many errors, closing");
}

/* Drops the message begin() opened, once. */
static void
smtp_abort(struct smtp_session *s)
{
	if (!s->open)
		return;
	s->open = 0;
	if (s->ops->abort != NULL)
		s->ops->abort(s->arg);
}

/* Forgets the transaction (RFC 5321 4.1.1.5). */
static void
smtp_reset(struct smtp_session *s)
{
	size_t i;

	for (i = 0; i < s->nrcpt; i++) {
		free(s->rcpts[i]);
		s->rcpts[i] = NULL;
	}
	s->nrcpt = 0;
	s->sender[0] = '\0';
	s->size = 0;
	s->bare = s->nul = s->longline = s->toobig = s->failed = 0;
	s->chunklen = 0;
}

/* One command line (up to LF) at a time, so state changes apply. */
static size_t
smtp_feed_line(struct smtp_session *s, const char *buf, size_t len)
{
	const char *nl;
	size_t n, take;

	nl = memchr(buf, '\n', len);
	n = nl != NULL ? (size_t)(nl - buf) + 1 : len;
	take = nl != NULL ? n - 1 : n;
	if (s->linelen + take >= sizeof(s->line)) {
		smtp_close(s, "500 5.5.2 Line too long");
		return n;
	}
	memcpy(s->line + s->linelen, buf, take);
	s->linelen += take;
	if (nl == NULL)
		return n;
	if (s->linelen > 0 && s->line[s->linelen - 1] == '\r')
		s->linelen--;
	s->line[s->linelen] = '\0';
	if (memchr(s->line, '\0', s->linelen) != NULL)
		smtp_error(s, "500 5.5.2 Error: NUL in command");
	else if (s->state == STATE_AUTH_PLAIN || s->state == STATE_AUTH_USER ||
	    s->state == STATE_AUTH_PASS)
		smtp_auth_response(s, s->line);
	else
		smtp_command(s, s->line);
	explicit_bzero(s->line, s->linelen);
	s->linelen = 0;
	return n;
}

static void
smtp_command(struct smtp_session *s, char *line)
{
	const struct smtp_command *c = NULL;
	size_t i, vlen;
	char *args;

	vlen = strcspn(line, " ");
	args = line + vlen;
	while (*args == ' ')
		args++;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strlen(commands[i].name) == vlen &&
		    strncasecmp(commands[i].name, line, vlen) == 0) {
			c = &commands[i];
			break;
		}
	if (c == NULL) {
		smtp_error(s, "502 5.5.2 Error: command not recognized");
		return;
	}
	if (!c->check(s, args))
		return;
	c->proceed(s, args);
}

/* --- commands ----------------------------------------------------------- */

/* The argument goes into Received: and the logs: no control characters. */
static int
smtp_check_helo(struct smtp_session *s, const char *args)
{
	const unsigned char *p;

	if (args[0] == '\0') {
		smtp_error(s, "501 5.5.4 Syntax: HELO/EHLO hostname");
		return 0;
	}
	for (p = (const unsigned char *)args; *p != '\0'; p++)
		if (*p < 0x20 || *p == 0x7f) {
			smtp_error(s, "501 5.5.2 Syntax: control character in "
			    "HELO/EHLO hostname");
			return 0;
		}
	return 1;
}

static void
smtp_set_helo(struct smtp_session *s, const char *args, int esmtp)
{
	size_t n = strcspn(args, " ");

	if (n >= sizeof(s->helo))
		n = sizeof(s->helo) - 1;
	memcpy(s->helo, args, n);
	s->helo[n] = '\0';
	s->esmtp = esmtp;
	smtp_reset(s);
	smtp_enter_state(s, STATE_HELO);
}

static void
smtp_proceed_helo(struct smtp_session *s, const char *args)
{
	smtp_set_helo(s, args, 0);
	smtp_reply(s, "250 %s", s->p->hostname);
}

static void
smtp_proceed_ehlo(struct smtp_session *s, const char *args)
{
	smtp_set_helo(s, args, 1);
	smtp_reply(s, "250-%s", s->p->hostname);
	smtp_reply(s, "250-PIPELINING");
	smtp_reply(s, "250-SIZE %zu", s->p->max_size);
	if (s->p->starttls && !s->tls)
		smtp_reply(s, "250-STARTTLS");
	if (s->p->auth && s->tls && s->auth_user[0] == '\0')
		smtp_reply(s, "250-AUTH PLAIN LOGIN");
	smtp_reply(s, "250-8BITMIME");
	smtp_reply(s, "250 ENHANCEDSTATUSCODES");
}

static int
smtp_check_starttls(struct smtp_session *s, const char *args)
{
	if (!s->p->starttls || s->tls) {
		smtp_error(s, "502 5.5.1 Error: STARTTLS not available");
		return 0;
	}
	if (args[0] != '\0') {
		smtp_error(s, "501 5.5.4 Syntax: STARTTLS");
		return 0;
	}
	if (s->state == STATE_MAIL || s->state == STATE_RCPT) {
		smtp_error(s, "503 5.5.1 Error: MAIL transaction in progress");
		return 0;
	}
	return 1;
}

/* Pipelined input after STARTTLS is dropped by the shell (CVE-2011-0411). */
static void
smtp_proceed_starttls(struct smtp_session *s, const char *args)
{
	smtp_reply(s, "220 2.0.0 Ready to start TLS");
	smtp_reset(s);
	smtp_enter_state(s, STATE_TLS);
}

static int
smtp_check_auth(struct smtp_session *s, const char *args)
{
	size_t n = strcspn(args, " ");

	if (!s->p->auth) {
		smtp_error(s, "503 5.5.1 Error: authentication not enabled");
		return 0;
	}
	if (!s->tls) {
		smtp_error(s, "538 5.7.11 Encryption required for requested "
		    "authentication mechanism");
		return 0;
	}
	if (!s->esmtp) {
		smtp_error(s, "503 5.5.1 Error: send EHLO first");
		return 0;
	}
	if (s->auth_user[0] != '\0') {
		smtp_error(s, "503 5.5.1 Error: already authenticated");
		return 0;
	}
	if (s->state == STATE_MAIL || s->state == STATE_RCPT) {
		smtp_error(s, "503 5.5.1 Error: MAIL transaction in progress");
		return 0;
	}
	if (!((n == 5 && strncasecmp(args, "PLAIN", 5) == 0) ||
	    (n == 5 && strncasecmp(args, "LOGIN", 5) == 0))) {
		smtp_error(s, "504 5.5.4 Unrecognized authentication type");
		return 0;
	}
	return 1;
}

static void
smtp_proceed_auth(struct smtp_session *s, const char *args)
{
	const char *initial = args + strcspn(args, " ");
	char buf[SMTP_SESSION_LINE_MAX];

	while (*initial == ' ')
		initial++;
	if (strncasecmp(args, "PLAIN", 5) == 0) {
		smtp_enter_state(s, STATE_AUTH_PLAIN);
		if (*initial == '\0')
			smtp_reply(s, "334 ");
		else {
			strlcpy(buf, initial, sizeof(buf));
			smtp_auth_response(s, buf);
			explicit_bzero(buf, sizeof(buf));
		}
		return;
	}
	smtp_enter_state(s, STATE_AUTH_USER);
	if (*initial == '\0')
		smtp_reply(s, "334 VXNlcm5hbWU6");	/* "Username:" */
	else {
		strlcpy(buf, initial, sizeof(buf));
		smtp_auth_response(s, buf);
	}
}

/* A line answering a 334 challenge (RFC 4954 4). */
static void
smtp_auth_response(struct smtp_session *s, char *line)
{
	char dec[SMTP_SESSION_LINE_MAX];
	const char *user, *pass;
	int n;

	if (strcmp(line, "*") == 0) {
		smtp_enter_state(s, STATE_HELO);
		smtp_error(s, "501 5.7.0 Authentication cancelled");
		return;
	}
	if (strcmp(line, "=") == 0)
		n = 0;
	else if ((n = smtp_b64_decode(line, dec, sizeof(dec) - 1)) == -1) {
		smtp_enter_state(s, STATE_HELO);
		smtp_error(s, "501 5.5.2 Error: cannot decode response");
		return;
	}
	dec[n] = '\0';
	switch (s->state) {
	case STATE_AUTH_PLAIN:
		/* authzid NUL authcid NUL passwd (RFC 4616) */
		user = memchr(dec, '\0', (size_t)n);
		pass = user != NULL ? memchr(user + 1, '\0',
		    (size_t)n - (size_t)(user + 1 - dec)) : NULL;
		if (pass == NULL || (dec[0] != '\0' && strcmp(dec, user + 1))) {
			smtp_enter_state(s, STATE_HELO);
			smtp_error(s, "501 5.5.2 Error: malformed PLAIN "
			    "response");
			break;
		}
		smtp_auth_check(s, user + 1, pass + 1);
		break;
	case STATE_AUTH_USER:
		if (strlcpy(s->login_user, dec, sizeof(s->login_user)) >=
		    sizeof(s->login_user) || (size_t)n != strlen(dec)) {
			smtp_enter_state(s, STATE_HELO);
			smtp_error(s, "501 5.5.2 Error: malformed user name");
			break;
		}
		smtp_enter_state(s, STATE_AUTH_PASS);
		smtp_reply(s, "334 UGFzc3dvcmQ6");	/* "Password:" */
		break;
	case STATE_AUTH_PASS:
		smtp_auth_check(s, s->login_user, dec);
		break;
	default:
		fatalx("smtp: auth response in %s",
		    smtp_session_strstate(s->state));
	}
	explicit_bzero(dec, sizeof(dec));
}

/* Hands the credentials to the shell; it answers with ..._auth_done(). */
static void
smtp_auth_check(struct smtp_session *s, const char *user, const char *pass)
{
	smtp_enter_state(s, STATE_AUTH_CHECK);
	if (user != s->login_user &&
	    strlcpy(s->login_user, user, sizeof(s->login_user)) >=
	    sizeof(s->login_user))
		smtp_session_auth_done(s, 0);
	else if (s->ops->auth == NULL)
		smtp_session_auth_done(s, 0);
	else
		s->ops->auth(s->arg, s->login_user, pass);
}

void
smtp_session_auth_done(struct smtp_session *s, int ok)
{
	if (s->state != STATE_AUTH_CHECK)
		return;
	smtp_enter_state(s, STATE_HELO);
	if (ok) {
		strlcpy(s->auth_user, s->login_user, sizeof(s->auth_user));
		explicit_bzero(s->login_user, sizeof(s->login_user));
		smtp_reply(s, "235 2.7.0 Authentication successful");
		return;
	}
	explicit_bzero(s->login_user, sizeof(s->login_user));
	if (++s->auth_fails >= SMTP_MAX_AUTH_FAILS) {
		smtp_reply(s, "535 5.7.8 Authentication credentials invalid");
		smtp_close(s, "421 4.7.0 Too many authentication failures");
		return;
	}
	smtp_error(s, "535 5.7.8 Authentication credentials invalid");
}

static int
smtp_b64_decode(const char *in, char *out, size_t outlen)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned acc = 0, bits = 0;
	size_t n = 0, i, pad = 0;
	const char *p;

	for (i = 0; in[i] != '\0'; i++) {
		if (in[i] == '=') {
			pad++;
			continue;
		}
		if (pad > 0 || (p = strchr(tab, in[i])) == NULL || in[i] == '\0')
			return -1;
		acc = (acc << 6) | (unsigned)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n >= outlen)
				return -1;
			out[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	if ((i % 4) != 0 || pad > 2)
		return -1;
	return (int)n;
}

/* "<a@b> PARAMS", "<>", "a@b" (liberal); source routes dropped. */
static int
smtp_parse_path(const char *args, char *out, size_t outlen, const char **rest)
{
	const char *p = args, *start, *end;
	int quoted = 0;
	size_t n;

	while (*p == ' ')
		p++;
	if (*p == '<') {
		start = ++p;
		for (; *p != '\0'; p++) {
			if (*p == '\\' && quoted && p[1] != '\0')
				p++;
			else if (*p == '"')
				quoted = !quoted;
			else if (*p == '>' && !quoted)
				break;
		}
		if (*p != '>')
			return -1;
		end = p;
		if (*start == '@') {
			/* <@a,@b:u@d>: the route goes (RFC 5321 C). */
			if ((start = memchr(start, ':',
			    (size_t)(end - start))) == NULL)
				return -1;
			start++;
		}
	} else {
		start = p;
		p += strcspn(p, " ");
		end = p;
		if (start == end)
			return -1;
	}
	n = (size_t)(end - start);
	if (n >= outlen)
		return -1;
	for (p = start; p < end; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f ||
		    (*p == ' ' && *start != '"'))
			return -1;
	memcpy(out, start, n);
	out[n] = '\0';
	if (strchr(out, '@') != NULL && strrchr(out, '@')[1] == '\0')
		return -1;
	p = end + (*end == '>');
	while (*p == ' ')
		p++;
	*rest = p;
	return 0;
}

/* SIZE=n, BODY=, AUTH= (RFC 1870, 6152, 4954). */
static int
smtp_mail_params(struct smtp_session *s, const char *p)
{
	unsigned long size;
	char param[64];
	size_t n;

	while (*p != '\0') {
		n = strcspn(p, " ");
		if (n >= sizeof(param)) {
			smtp_error(s, "555 5.5.4 Unsupported parameter");
			return 0;
		}
		memcpy(param, p, n);
		param[n] = '\0';
		p += n;
		while (*p == ' ')
			p++;
		if (strncasecmp(param, "SIZE=", 5) == 0) {
			if (util_parse_ulong(param + 5, (unsigned long)-1,
			    &size) == -1) {
				smtp_error(s, "501 5.5.4 Bad SIZE parameter");
				return 0;
			}
			if (size > s->p->max_size) {
				smtp_error(s, "552 5.3.4 Message size exceeds "
				    "fixed maximum message size");
				return 0;
			}
		} else if (strcasecmp(param, "BODY=7BIT") != 0 &&
		    strcasecmp(param, "BODY=8BITMIME") != 0 &&
		    strncasecmp(param, "AUTH=", 5) != 0) {
			smtp_error(s, "555 5.5.4 Unsupported parameter %s",
			    param);
			return 0;
		}
	}
	return 1;
}

static int
smtp_check_mail(struct smtp_session *s, const char *args)
{
	const char *rest;

	if (s->state == STATE_MAIL || s->state == STATE_RCPT) {
		smtp_error(s, "503 5.5.1 Error: nested MAIL command");
		return 0;
	}
	if (s->p->auth_required && s->auth_user[0] == '\0') {
		smtp_error(s, s->p->starttls && !s->tls ?
		    "530 5.7.0 Must issue a STARTTLS command first" :
		    "530 5.7.0 Authentication required");
		return 0;
	}
	if (strncasecmp(args, "FROM:", 5) != 0) {
		smtp_error(s, "501 5.5.4 Syntax: MAIL FROM:<address>");
		return 0;
	}
	if (smtp_parse_path(args + 5, s->sender, sizeof(s->sender),
	    &rest) == -1) {
		s->sender[0] = '\0';
		smtp_error(s, "501 5.1.7 Bad sender address syntax");
		return 0;
	}
	if (!smtp_mail_params(s, rest)) {
		s->sender[0] = '\0';
		return 0;
	}
	return 1;
}

static void
smtp_proceed_mail(struct smtp_session *s, const char *args)
{
	smtp_enter_state(s, STATE_MAIL);
	smtp_reply(s, "250 2.1.0 Ok");
}

static int
smtp_domain_ok(struct smtp_session *s, const char *addr)
{
	const char *dom = strrchr(addr, '@');
	size_t i;

	if (s->p->ndomains == 0)
		return 1;
	for (i = 0; i < s->p->ndomains; i++)
		if (strcasecmp(dom + 1, s->p->domains[i]) == 0)
			return 1;
	return 0;
}

/*
 * Source routes, '%', '!' or a second '@' could make the provider relay
 * to another domain than the one recipient_domains checked (RFC 5321
 * 3.6.1, C): refused, as Postfix does.
 */
static int
smtp_routed(const char *args, const char *addr)
{
	const char *at = strrchr(addr, '@');

	while (*args == ' ')
		args++;
	return strncmp(args, "<@", 2) == 0 || strcspn(addr, "%!") <
	    (size_t)(at - addr) || memchr(addr, '@', (size_t)(at - addr));
}

static int
smtp_check_rcpt(struct smtp_session *s, const char *args)
{
	char addr[SMTP_SESSION_ADDR_MAX];
	const char *rest;

	if (s->state != STATE_MAIL && s->state != STATE_RCPT) {
		smtp_error(s, "503 5.5.1 Error: need MAIL command");
		return 0;
	}
	if (strncasecmp(args, "TO:", 3) != 0) {
		smtp_error(s, "501 5.5.4 Syntax: RCPT TO:<address>");
		return 0;
	}
	if (smtp_parse_path(args + 3, addr, sizeof(addr), &rest) == -1 ||
	    strchr(addr, '@') == NULL || addr[0] == '@') {
		smtp_error(s, "501 5.1.3 Bad recipient address syntax");
		return 0;
	}
	if (*rest != '\0') {
		smtp_error(s, "555 5.5.4 Unsupported parameter %s", rest);
		return 0;
	}
	if (smtp_routed(args + 3, addr)) {
		smtp_error(s, "553 5.7.1 <%s>: Routed address refused", addr);
		return 0;
	}
	if (!smtp_domain_ok(s, addr)) {
		smtp_error(s, "550 5.7.1 <%s>: Relay access denied", addr);
		return 0;
	}
	if (s->nrcpt >= s->p->max_rcpts) {
		/* Not an error: the client sends the rest later. */
		smtp_reply(s, "452 4.5.3 Error: too many recipients");
		return 0;
	}
	return 1;
}

static void
smtp_proceed_rcpt(struct smtp_session *s, const char *args)
{
	char addr[SMTP_SESSION_ADDR_MAX];
	const char *rest;

	smtp_parse_path(args + 3, addr, sizeof(addr), &rest);
	if ((s->rcpts[s->nrcpt] = strdup(addr)) == NULL) {
		smtp_reply(s, "451 4.3.0 Error: out of memory");
		return;
	}
	s->nrcpt++;
	smtp_enter_state(s, STATE_RCPT);
	smtp_reply(s, "250 2.1.5 Ok");
}

static int
smtp_check_data(struct smtp_session *s, const char *args)
{
	if (args[0] != '\0') {
		smtp_error(s, "501 5.5.4 Syntax: DATA");
		return 0;
	}
	if (s->state != STATE_RCPT) {
		smtp_error(s, "503 5.5.1 Error: need RCPT command");
		return 0;
	}
	return 1;
}

static void
smtp_proceed_data(struct smtp_session *s, const char *args)
{
	if (s->ops->begin != NULL && s->ops->begin(s->arg, s->sender,
	    s->rcpts, s->nrcpt) == -1) {
		smtp_reply(s, "452 4.3.1 Insufficient system storage");
		smtp_reset(s);
		smtp_enter_state(s, STATE_HELO);
		return;
	}
	s->open = 1;
	s->scan = SCAN_BOL;
	smtp_enter_state(s, STATE_DATA);
	smtp_reply(s, "354 End data with <CR><LF>.<CR><LF>");
}

static int
smtp_check_noarg(struct smtp_session *s, const char *args)
{
	if (args[0] != '\0') {
		smtp_error(s, "501 5.5.4 Syntax: no parameters allowed");
		return 0;
	}
	return 1;
}

static int
smtp_check_any(struct smtp_session *s, const char *args)
{
	return 1;
}

static void
smtp_proceed_rset(struct smtp_session *s, const char *args)
{
	smtp_reset(s);
	if (s->state != STATE_CONNECTED)
		smtp_enter_state(s, STATE_HELO);
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
smtp_proceed_noop(struct smtp_session *s, const char *args)
{
	smtp_reply(s, "250 2.0.0 Ok");
}

static void
smtp_proceed_quit(struct smtp_session *s, const char *args)
{
	smtp_close(s, "221 2.0.0 Bye");
}

static void
smtp_proceed_help(struct smtp_session *s, const char *args)
{
	smtp_reply(s, "214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET "
	    "NOOP QUIT HELP%s", s->p->starttls ? " STARTTLS AUTH" : "");
}

static void
smtp_proceed_vrfy(struct smtp_session *s, const char *args)
{
	smtp_reply(s, "252 2.5.2 Cannot VRFY user, but will accept message "
	    "and attempt delivery");
}

static void
smtp_proceed_expn(struct smtp_session *s, const char *args)
{
	smtp_reply(s, "502 5.5.1 Error: EXPN is disabled");
}

/* --- DATA --------------------------------------------------------------- */

static size_t
smtp_feed_data(struct smtp_session *s, const char *buf, size_t len)
{
	size_t i;
	char c;

	for (i = 0; i < len; i++) {
		c = buf[i];
		switch (s->scan) {
		case SCAN_BOL:
			if (c == '.')
				s->scan = SCAN_DOT;
			else
				smtp_data_text(s, c);
			break;
		case SCAN_DOT:
			/* The leading dot goes: "..x" is ".x" (4.5.2). */
			if (c == '\r')
				s->scan = SCAN_DOTCR;
			else
				smtp_data_text(s, c);
			break;
		case SCAN_DOTCR:
			if (c == '\n') {
				smtp_data_end(s);
				return i + 1;
			}
			smtp_data_refuse(s, &s->bare);
			smtp_data_text(s, c);
			break;
		case SCAN_CR:
			if (c == '\n') {
				smtp_data_byte(s, '\r');
				smtp_data_byte(s, '\n');
				s->scan = SCAN_BOL;
				break;
			}
			smtp_data_refuse(s, &s->bare);
			smtp_data_text(s, c);
			break;
		case SCAN_TEXT:
			smtp_data_text(s, c);
			break;
		}
	}
	return len;
}

/* A byte inside a line; a bare LF never starts a new line. */
static void
smtp_data_text(struct smtp_session *s, char c)
{
	if (c == '\r') {
		s->scan = SCAN_CR;
		return;
	}
	if (c == '\n')
		smtp_data_refuse(s, &s->bare);
	else if (c == '\0')
		smtp_data_refuse(s, &s->nul);
	smtp_data_byte(s, c);
	s->scan = SCAN_TEXT;
}

static void
smtp_data_byte(struct smtp_session *s, char c)
{
	if (++s->size > s->p->max_size && !s->toobig)
		smtp_data_refuse(s, &s->toobig);
	if (!s->open)
		return;
	s->chunk[s->chunklen++] = c;
	if (s->chunklen == sizeof(s->chunk))
		smtp_data_flush(s);
}

static void
smtp_data_flush(struct smtp_session *s)
{
	int r;

	if (s->open && s->chunklen > 0 && s->ops->data != NULL &&
	    (r = s->ops->data(s->arg, s->chunk, s->chunklen)) < 0)
		smtp_data_refuse(s, r == -2 ? &s->longline : &s->failed);
	s->chunklen = 0;
}

/* The message will be refused: drop it now, read on to the end. */
static void
smtp_data_refuse(struct smtp_session *s, int *why)
{
	*why = 1;
	s->chunklen = 0;
	smtp_abort(s);
}

static void
smtp_data_end(struct smtp_session *s)
{
	smtp_data_flush(s);
	if (s->open) {
		s->open = 0;
		smtp_enter_state(s, STATE_COMMIT);
		if (s->ops->end != NULL)
			s->ops->end(s->arg);
		else
			smtp_session_commit_done(s, NULL);
		return;
	}
	if (s->bare)
		smtp_reply(s, "550 5.6.0 Message refused: bare CR or LF in "
		    "message text (RFC 5321 2.3.8)");
	else if (s->nul)
		smtp_reply(s, "550 5.6.0 Message refused: NUL in message text");
	else if (s->longline)
		smtp_reply(s, "550 5.6.0 Message refused: header line longer "
		    "than 998 octets (RFC 5322 2.1.1)");
	else if (s->toobig)
		smtp_reply(s, "552 5.3.4 Message size exceeds fixed maximum "
		    "message size");
	else
		smtp_reply(s, "452 4.3.1 Insufficient system storage");
	smtp_reset(s);
	smtp_enter_state(s, STATE_HELO);
}
