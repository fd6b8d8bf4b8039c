/*
 * inbound.h - fix-ups of a message received on port 25 or by `sendmail`
 * before it is spooled (SPEC §5). Pure: time and ids are arguments.
 *
 * - a Received: trace line is put on top (RFC 5321 4.4);
 * - a line that is not a header field (nor a continuation) ends the header
 *   block, and the missing blank line is inserted (the Arduino sketch
 *   sends "Subject: x" and then its text directly);
 * - a missing Date:, Message-ID: or From: (= smtp.from) is added;
 * - a From: whose domain differs from smtp.from's (a device's own
 *   "arduino@plc.local") becomes "\"arduino@plc.local via HOSTNAME\"
 *   <smtp.from address>", as mailing lists do, so that providers checking
 *   DMARC alignment accept it; the original goes into Reply-To: unless
 *   the message has one (rewrite_from 0 turns this off);
 * - otherwise the envelope sender goes into Reply-To: when the message
 *   has none.
 * Everything else passes through unchanged. Input is CRLF text (a bare LF
 * also ends a line); the output of what is added is CRLF.
 *
 * A header line over INBOUND_LINE_MAX octets (RFC 5322 2.1.1) would make
 * the provider refuse the message after it was acknowledged: such a
 * message fails with errno EBADMSG and must be refused.
 */
#ifndef MODBUS2MAIL_INBOUND_H
#define MODBUS2MAIL_INBOUND_H

#include <stddef.h>
#include <time.h>

#define INBOUND_HEADER_MAX	(256 * 1024)	/* header kept in memory */
#define INBOUND_LINE_MAX	998		/* header line, without CRLF */

struct inbound;

struct inbound_info {
	const char *hostname;		/* ours: "by", Message-ID domain */
	const char *helo;		/* client's HELO/EHLO, "" if none */
	const char *peer_addr;		/* "192.168.1.7"; NULL: local */
	const char *protocol;		/* "ESMTP", "ESMTPSA", "local"... */
	const char *id;			/* trace id for the Received: line */
	const char *sender;		/* envelope sender, "" = null */
	const char *rcpt;		/* "for <rcpt>" (one recipient) or NULL */
	const char *from;		/* smtp.from, for a missing From: */
	int rewrite_from;		/* listener.rewrite_from */
	time_t now;
	unsigned long long rnd;		/* Message-ID: util_random64() */
};

/*
 * out receives the fixed message in pieces; its -1 makes inbound_write()
 * and inbound_end() fail with -1 too, as does a header line over
 * INBOUND_LINE_MAX (errno EBADMSG). info's strings are copied.
 */
struct inbound *inbound_begin(const struct inbound_info *,
	    int (*out)(void *arg, const void *buf, size_t len), void *arg);
int	inbound_write(struct inbound *, const void *buf, size_t len);
/* Flushes what is still held (a message that is only a header). */
int	inbound_end(struct inbound *);
void	inbound_free(struct inbound *);
/* The whole message at once; malloc'd result, NULL on ENOMEM or EBADMSG. */
char	*inbound_fixup(const struct inbound_info *, const char *msg,
	    size_t len, size_t *outlen);

#endif
