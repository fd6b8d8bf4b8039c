/*
 * verdict.h - what one SMTP reply from the provider means for a queued
 * message (pure; the relay follows it). The rule, as Postfix's
 * smtp_sasl_auth_soft_bounce treats AUTH: a failure of the session (no
 * connection, TLS, greeting, EHLO, AUTH, a 5xx to MAIL FROM) is the mail
 * path's fault, not the message's; only a 5xx to RCPT fails that recipient
 * and a 5xx to DATA or its end fails the message.
 */
#ifndef MODBUS2MAIL_VERDICT_H
#define MODBUS2MAIL_VERDICT_H

/* The command a reply answers; CONNECT is the greeting or no reply at all. */
enum verdict_stage {
	VERDICT_CONNECT,
	VERDICT_EHLO,
	VERDICT_STARTTLS,
	VERDICT_AUTH,
	VERDICT_MAIL,
	VERDICT_RCPT,
	VERDICT_DATA,		/* DATA or the end of the message text */
};

enum verdict {
	VERDICT_OK,		/* 2xx/3xx: go on */
	VERDICT_RETRY,		/* this message (recipient) later, backoff */
	VERDICT_FAIL_RCPT,	/* that recipient fails for good */
	VERDICT_FAIL_MSG,	/* the message fails for good */
	VERDICT_PATH_BROKEN,	/* retry, and the mail path is broken */
};

/* code: the reply code, 0 when none came (network, TLS, timeout). */
enum verdict	verdict_classify(enum verdict_stage, int code);
/* "OK", "RETRY", ... for logs and tests. */
const char	*verdict_name(enum verdict);

#endif
