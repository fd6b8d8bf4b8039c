/*
 * Unit tests for reply.c: one table of replies as phones, desktop clients,
 * out-of-office responders, bounces and forgers send them, and what each
 * asks for; then the ids' order and the fields the caller uses.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/reply.h"

#define ID	"<6b03e470.9f2c4e1a7b3d5e60.m2m@gw-line3>"
#define AR_OK	"Authentication-Results: mx.example.net; dkim=pass " \
		"header.d=example.com; spf=pass smtp.mailfrom=ops@example.com\r\n"
#define HEAD(from) \
	"Return-Path: <ops@example.com>\r\n" AR_OK \
	"From: " from "\r\nTo: alarms@example.com\r\n" \
	"Subject: Re: [critical] tank ACTIVE\r\n" \
	"Message-ID: <r1@phone.example.com>\r\nIn-Reply-To: " ID "\r\n" \
	"References: " ID "\r\n"
#define PLAIN(text) HEAD("Ops <ops@example.com>") "\r\n" text

/* A phone client's multipart/alternative: quoted-printable text with a
 * signature and the quoted original, and its HTML twin. */
#define PHONE \
	HEAD("\"Doe, Jane\" <ops@example.com>") \
	"MIME-Version: 1.0\r\n" \
	"Content-Type: multipart/alternative; boundary=\"Apple-Mail=_B1\"\r\n" \
	"\r\n--Apple-Mail=_B1\r\n" \
	"Content-Type: text/plain; charset=utf-8\r\n" \
	"Content-Transfer-Encoding: quoted-printable\r\n\r\n" \
	"=C2=A0Ack=20\r\n\r\nSent from my iPhone\r\n\r\n" \
	"> On 23 Nov 2026, at 07:00, alarms@example.com wrote:\r\n" \
	"> =\r\n> tank ACTIVE\r\n" \
	"\r\n--Apple-Mail=_B1\r\n" \
	"Content-Type: text/html; charset=utf-8\r\n\r\n" \
	"<html><body>shelve 1h</body></html>\r\n" \
	"\r\n--Apple-Mail=_B1--\r\n"

/* multipart/mixed around multipart/alternative, base64 text. */
#define NESTED \
	HEAD("ops@example.com") \
	"Content-Type: multipart/mixed; boundary=outer\r\n\r\n" \
	"preamble\r\n--outer\r\n" \
	"Content-Type: multipart/alternative; boundary=inner\r\n\r\n" \
	"--inner\r\nContent-Type: text/plain\r\n" \
	"Content-Transfer-Encoding: base64\r\n\r\n" \
	"cXVpdHRpZXJ0DQoNCi0tIA0KSmFuZQ0K\r\n" \
	"--inner--\r\n--outer--\r\n"

static void
test_table(void **state)
{
	static const struct {
		const char *what, *msg;
		int auth;
		enum reply_action want;
		const char *note;	/* command read, or part of why */
	} t[] = {
		{ "ack", PLAIN("ack\r\n"), 1, REPLY_ACK, "ack" },
		{ "OK.", PLAIN("\r\n  OK.\r\n"), 1, REPLY_ACK, "ok" },
		{ "quit!", PLAIN("Quit!\r\n"), 1, REPLY_ACK, "quit" },
		{ "German", PLAIN("Quittiert\r\n\r\nGruss\r\n"), 1, REPLY_ACK,
		    "quittiert" },
		{ "LF only", "From: ops@example.com\nIn-Reply-To: " ID
		    "\n\nack\n", 0, REPLY_ACK, "ack" },
		{ "shelve", PLAIN("shelve 2h\r\n"), 1, REPLY_SHELVE,
		    "shelve 2h" },
		{ "unshelve", PLAIN("Unshelve\r\n"), 1, REPLY_UNSHELVE,
		    "unshelve" },
		{ "shelve too long", PLAIN("shelve 8d\r\n"), 1, REPLY_HELP,
		    "shelve 8d" },
		{ "shelve no time", PLAIN("shelve\r\n"), 1, REPLY_HELP,
		    "shelve" },
		{ "shelve 0", PLAIN("shelve 0\r\n"), 1, REPLY_HELP,
		    "shelve 0" },
		{ "prose", PLAIN("ok, I am on my way\r\n"), 1, REPLY_HELP,
		    "ok, i am on my way" },
		{ "quoted first", PLAIN("> ack\r\n\r\nthanks\r\n"), 1,
		    REPLY_HELP, "thanks" },
		{ "empty", PLAIN(""), 1, REPLY_HELP, "" },
		{ "phone multipart", PHONE, 1, REPLY_ACK, "ack" },
		{ "nested base64", NESTED, 1, REPLY_ACK, "quittiert" },
		{ "html only", HEAD("ops@example.com")
		    "Content-Type: text/html\r\n\r\n<p>ack</p>\r\n", 1,
		    REPLY_HELP, "" },
		/* never answered: automatic mail */
		{ "out of office", "Auto-Submitted: auto-replied\r\n"
		    PLAIN("I am out of the office\r\n"), 1, REPLY_REFUSE,
		    "Auto-Submitted" },
		{ "Auto-Submitted: no", "Auto-Submitted: no\r\n"
		    PLAIN("ack\r\n"), 1, REPLY_ACK, "ack" },
		{ "bulk", "Precedence: bulk\r\n" PLAIN("ack\r\n"), 1,
		    REPLY_REFUSE, "Precedence" },
		{ "bounce", "Return-Path: <>\r\n" PLAIN("ack\r\n"), 1,
		    REPLY_REFUSE, "bounce" },
		{ "mailer-daemon", HEAD("MAILER-DAEMON@mx.example.com")
		    "\r\nack\r\n", 1, REPLY_REFUSE, "MAILER-DAEMON" },
		{ "X-Autoreply", "X-Autoreply: yes\r\n" PLAIN("ack\r\n"), 1,
		    REPLY_REFUSE, "X-Autoreply" },
		{ "list", "List-Id: <ops.lists.example.com>\r\n"
		    PLAIN("ack\r\n"), 1, REPLY_REFUSE, "List-Id" },
		/* not a reply, or not one sender */
		{ "no thread", "From: ops@example.com\r\n\r\nack\r\n", 0,
		    REPLY_REFUSE, "not a reply" },
		{ "two From", HEAD("ops@example.com, boss@example.com")
		    "\r\nack\r\n", 1, REPLY_REFUSE, "From" },
		{ "no From", "In-Reply-To: " ID "\r\n\r\nack\r\n", 0,
		    REPLY_REFUSE, "From" },
		/* authentication */
		{ "no A-R", "From: ops@example.com\r\nIn-Reply-To: " ID
		    "\r\n\r\nack\r\n", 1, REPLY_REFUSE, "not authenticated" },
		{ "no A-R, not required", "From: ops@example.com\r\n"
		    "In-Reply-To: " ID "\r\n\r\nack\r\n", 0, REPLY_ACK, "ack" },
		{ "dkim other domain", "Authentication-Results: mx; "
		    "dkim=pass header.d=evil.example\r\nFrom: ops@example.com"
		    "\r\nIn-Reply-To: " ID "\r\n\r\nack\r\n", 1, REPLY_REFUSE,
		    "not authenticated" },
		{ "dkim bare TLD", "Authentication-Results: mx; "
		    "dkim=pass header.d=com\r\nFrom: ops@example.com"
		    "\r\nIn-Reply-To: " ID "\r\n\r\nack\r\n", 1, REPLY_REFUSE,
		    "not authenticated" },
		{ "dkim parent domain", "Authentication-Results: mx; "
		    "dkim=pass header.d=example.com\r\n"
		    "From: ops@mail.example.com\r\nIn-Reply-To: " ID
		    "\r\n\r\nack\r\n", 1, REPLY_ACK, "ack" },
		{ "dmarc", "Authentication-Results: mx; dmarc=pass "
		    "(p=reject) header.from=example.com\r\n"
		    "From: ops@example.com\r\nIn-Reply-To: " ID
		    "\r\n\r\nack\r\n", 1, REPLY_ACK, "ack" },
		{ "dmarc other From", "Authentication-Results: mx; dmarc=pass "
		    "header.from=evil.example\r\nFrom: ops@example.com\r\n"
		    "In-Reply-To: " ID "\r\n\r\nack\r\n", 1, REPLY_REFUSE,
		    "not authenticated" },
		{ "spf aligned", "Authentication-Results: mx; spf=pass "
		    "smtp.mailfrom=bounce@example.com\r\n"
		    "From: ops@example.com\r\nIn-Reply-To: " ID
		    "\r\n\r\nack\r\n", 1, REPLY_ACK, "ack" },
		{ "spf unaligned", "Authentication-Results: mx; spf=pass "
		    "smtp.mailfrom=x@evil.example\r\nFrom: ops@example.com\r\n"
		    "In-Reply-To: " ID "\r\n\r\nack\r\n", 1, REPLY_REFUSE,
		    "not authenticated" },
		{ "fails, pass in comment", "Authentication-Results: mx; "
		    "dkim=fail (dkim=pass header.d=example.com) "
		    "header.d=example.com\r\nFrom: ops@example.com\r\n"
		    "In-Reply-To: " ID "\r\n\r\nack\r\n", 1, REPLY_REFUSE,
		    "not authenticated" },
		{ "forged A-R below", "Authentication-Results: mx; dkim=fail "
		    "header.d=example.com\r\n" AR_OK "From: ops@example.com"
		    "\r\nIn-Reply-To: " ID "\r\n\r\nack\r\n", 1, REPLY_REFUSE,
		    "not authenticated" },
		{ "pass as authserv-id", "Authentication-Results: dkim=pass "
		    "header.d=example.com\r\nFrom: ops@example.com\r\n"
		    "In-Reply-To: " ID "\r\n\r\nack\r\n", 1, REPLY_REFUSE,
		    "not authenticated" },
		{ "folded A-R", "Authentication-Results: mx.example.net;\r\n"
		    "\tdkim=pass\r\n\theader.d=example.com\r\n"
		    "From: ops@example.com\r\nIn-Reply-To: " ID
		    "\r\n\r\nack\r\n", 1, REPLY_ACK, "ack" },
	};
	struct reply r;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		enum reply_action a = reply_classify(t[i].msg,
		    strlen(t[i].msg), t[i].auth, &r);

		if (a != t[i].want || (a == REPLY_REFUSE ?
		    strstr(r.why, t[i].note) == NULL :
		    strcmp(r.command, t[i].note) != 0))
			fail_msg("%s: got %s (%s / \"%s\"), want %s \"%s\"",
			    t[i].what, reply_action_name(a),
			    r.why ? r.why : "-", r.command,
			    reply_action_name(t[i].want), t[i].note);
		assert_int_equal(r.action, a);
	}
}

static void
test_fields(void **state)
{
	const char *m = "From: \"Ops (night)\" <Ops@Example.com> (pager)\r\n"
	    "Message-ID: <r2@x>\r\nSubject: Re: tank\r\n"
	    "In-Reply-To: <b@gw>\r\nReferences: <a@gw>\r\n <b@gw> <bad id@gw>"
	    "\r\n\r\nshelve 30m\r\n";
	struct reply r;

	(void)state;
	assert_int_equal(reply_classify(m, strlen(m), 0, &r), REPLY_SHELVE);
	assert_int_equal(r.shelve_ms, 30 * 60000);
	assert_string_equal(r.from, "Ops@Example.com");
	assert_string_equal(r.message_id, "<r2@x>");
	assert_string_equal(r.subject, "Re: tank");
	/* In-Reply-To first, then References newest first */
	assert_int_equal(r.nids, 3);
	assert_string_equal(r.ids[0], "<b@gw>");
	assert_string_equal(r.ids[1], "<b@gw>");
	assert_string_equal(r.ids[2], "<a@gw>");
	assert_int_equal(r.automatic, 0);
	m = "Auto-Submitted: auto-replied\r\nFrom: ops@example.com\r\n"
	    "In-Reply-To: <b@gw>\r\n\r\nack\r\n";
	assert_int_equal(reply_classify(m, strlen(m), 0, &r), REPLY_REFUSE);
	assert_int_equal(r.automatic, 1);
	assert_string_equal(reply_action_name(REPLY_UNSHELVE), "unshelve");
}

/* Cut anywhere, a message never reads past its end (ASan in the fuzz
 * build sees what this misses). */
static void
test_truncated(void **state)
{
	const char *m = PHONE;
	struct reply r;
	char *cut;
	size_t n;

	(void)state;
	for (n = 0; n <= strlen(m); n++) {
		/* exactly n bytes, no terminating NUL to lean on */
		cut = malloc(n > 0 ? n : 1);
		assert_non_null(cut);
		memcpy(cut, m, n);
		reply_classify(cut, n, 1, &r);
		free(cut);
	}
	assert_int_equal(reply_classify(m, strlen(m), 1, &r), REPLY_ACK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_truncated),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
