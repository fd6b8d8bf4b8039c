/*
 * reply.h - what a reply to an alarm mail asks for (acknowledge by reply).
 * Pure: the raw message in, a verdict out; no I/O, no daemon state.
 *
 * reply_classify() refuses, with a reason, an auto-reply, bounce or list
 * message (Auto-Submitted other than "no", Precedence bulk/list/junk, an
 * empty Return-Path, a MAILER-DAEMON From, X-Autoreply, List-Id), a
 * message that names no Message-ID in In-Reply-To/References, one without
 * a single From address and, when authentication is required, one whose
 * topmost Authentication-Results does not vouch for the From domain
 * (dmarc=pass, or dkim=pass / spf=pass of an aligned domain). Otherwise
 * the command is the first non-empty line of the text (text/plain, or the
 * first text/plain part of a multipart; quoted-printable and base64
 * decoded) that is not quoted with '>', without case and trailing '.' or
 * '!': ack, ok, quit, quittiert; shelve DURATION (at most 7d); unshelve.
 * Anything else asks for a help reply.
 *
 * The caller checks the rest against the running alarms: that one of ids
 * is the Message-ID of an open episode and that from is one of its
 * recipients.
 */
#ifndef MODBUS2MAIL_REPLY_H
#define MODBUS2MAIL_REPLY_H

#include <stddef.h>
#include <stdint.h>

#define REPLY_IDS_MAX	16
#define REPLY_ID_MAX	160
#define REPLY_ADDR_MAX	256
#define REPLY_SHELVE_MAX_MS (7 * 86400000ULL)

enum reply_action {
	REPLY_REFUSE,		/* why says why */
	REPLY_ACK,
	REPLY_SHELVE,		/* shelve_ms */
	REPLY_UNSHELVE,
	REPLY_HELP,		/* no command understood */
};

struct reply {
	enum reply_action action;
	uint64_t shelve_ms;
	const char *why;		/* REPLY_REFUSE: static text */
	int automatic;			/* auto-reply, bounce, list: never
					 * answered */
	char from[REPLY_ADDR_MAX];	/* bare From address, "" if none */
	char message_id[REPLY_ID_MAX];	/* of the reply, "" if none */
	char subject[256];		/* raw header value, "" if none */
	char ids[REPLY_IDS_MAX][REPLY_ID_MAX]; /* In-Reply-To, then References
					 * newest first; "<...>" each */
	size_t nids;
	char command[64];		/* the line read, for the log */
};

/*
 * Classifies the raw message (CRLF or LF lines). require_auth: see above.
 * Always fills r; returns r->action.
 */
enum reply_action reply_classify(const char *msg, size_t len,
	    int require_auth, struct reply *r);
/* "ack", "shelve", ...; "refuse" for REPLY_REFUSE. */
const char *reply_action_name(enum reply_action);

#endif
