/*
 * test_inbound.c - golden tests of the received-mail fix-ups (SPEC §5):
 * each case is an input message and the exact expected output, run once
 * whole and once fed in every split (streaming must not change a byte).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "modbus2mail/inbound.h"

#define RECEIVED							\
	"Received: from plc1 ([192.168.1.7])\r\n"			\
	"\tby gw-test (modbus2mail) with ESMTP id S1.1\r\n"		\
	"\tfor <ops@example.com>;\r\n"					\
	"\tMon, 21 Sep 2026 14:13:20 +0000\r\n"
#define DATE	"Date: Mon, 21 Sep 2026 14:13:20 +0000\r\n"
#define MSGID	"Message-ID: <6ab13b80.2a.m2m@gw-test>\r\n"
#define FROM	"From: Line 3 Alarms <alarms@example.com>\r\n"
#define REPLYTO	"Reply-To: <arduino@plc.local>\r\n"
#define ADDED	DATE MSGID FROM REPLYTO

struct golden {
	const char *name;
	const char *in;
	const char *out;
	int rewrite;			/* listener.rewrite_from */
};

#define VIA(a)	"From: \"" a " via gw-test\" <alarms@example.com>\r\n"

static const struct golden cases[] = {
	{ "arduino: Subject then text, no blank line",
	    "Subject: Alarm\r\nPump 1 fault\r\n",
	    RECEIVED "Subject: Alarm\r\n" ADDED "\r\nPump 1 fault\r\n", 0 },
	{ "complete message untouched but for Received",
	    "From: a@b.c\r\nDate: Tue, 1 Sep 2026 10:00:00 +0200\r\n"
	    "Message-id: <x@y>\r\nReply-To: r@b.c\r\nSubject: s\r\n\r\n"
	    "Body\r\n\r\nFrom: not a header\r\n",
	    RECEIVED "From: a@b.c\r\nDate: Tue, 1 Sep 2026 10:00:00 +0200\r\n"
	    "Message-id: <x@y>\r\nReply-To: r@b.c\r\nSubject: s\r\n\r\n"
	    "Body\r\n\r\nFrom: not a header\r\n", 0 },
	{ "folded header, blank line present",
	    "Subject: a\r\n  folded\r\nTo: x@example.com\r\n\r\nhi\r\n",
	    RECEIVED "Subject: a\r\n  folded\r\nTo: x@example.com\r\n" ADDED
	    "\r\nhi\r\n", 0 },
	{ "no header at all",
	    "just text\r\nmore\r\n",
	    RECEIVED ADDED "\r\njust text\r\nmore\r\n", 0 },
	{ "continuation first is text",
	    " indented\r\n",
	    RECEIVED ADDED "\r\n indented\r\n", 0 },
	{ "empty message",
	    "",
	    RECEIVED ADDED "\r\n", 0 },
	{ "only a header",
	    "Subject: x\r\n",
	    RECEIVED "Subject: x\r\n" ADDED "\r\n", 0 },
	{ "last header line without line end",
	    "Subject: x",
	    RECEIVED "Subject: x\r\n" ADDED "\r\n", 0 },
	{ "last text line without line end",
	    "Subject: x\r\nhello",
	    RECEIVED "Subject: x\r\n" ADDED "\r\nhello", 0 },
	{ "field name with space is text",
	    "Subject : x\r\n",
	    RECEIVED ADDED "\r\nSubject : x\r\n", 0 },
	{ "from present, case-insensitive",
	    "FROM: plc@plant\r\nsubject: y\r\n\r\n",
	    RECEIVED "FROM: plc@plant\r\nsubject: y\r\n" DATE MSGID REPLYTO
	    "\r\n", 0 },
	{ "bare LF lines (sendmail input)",
	    "Subject: x\nbody\n",
	    RECEIVED "Subject: x\n" ADDED "\r\nbody\n", 0 },
	/* From: rewrite for DMARC alignment */
	{ "foreign From: rewritten, original in Reply-To",
	    "From: arduino@plc.local\r\nSubject: s\r\n\r\nhi\r\n",
	    RECEIVED "Subject: s\r\n" VIA("arduino@plc.local")
	    "Reply-To: <arduino@plc.local>\r\n" DATE MSGID "\r\nhi\r\n", 1 },
	{ "folded From: with a display name",
	    "Subject: s\r\nFrom: Tank sensor\r\n <tank@Plc.Local>\r\n"
	    "To: o@example.com\r\n\r\nhi\r\n",
	    RECEIVED "Subject: s\r\nTo: o@example.com\r\n" VIA("tank@Plc.Local")
	    "Reply-To: <tank@Plc.Local>\r\n" DATE MSGID "\r\nhi\r\n", 1 },
	{ "a Reply-To of the message is kept",
	    "From: a@plc.local\r\nReply-To: desk@plant.example\r\n\r\nhi\r\n",
	    RECEIVED "Reply-To: desk@plant.example\r\n" VIA("a@plc.local")
	    DATE MSGID "\r\nhi\r\n", 1 },
	{ "our own domain passes, any case",
	    "From: Ops <ops@EXAMPLE.com>\r\n\r\nhi\r\n",
	    RECEIVED "From: Ops <ops@EXAMPLE.com>\r\n" DATE MSGID REPLYTO
	    "\r\nhi\r\n", 1 },
	{ "From: last, without line end, no body",
	    "Subject: s\r\nFrom: x@plc.local",
	    RECEIVED "Subject: s\r\n" VIA("x@plc.local")
	    "Reply-To: <x@plc.local>\r\n" DATE MSGID "\r\n", 1 },
	{ "no address in From: the text, the envelope sender as Reply-To",
	    "From: \"PLC\" (line 3)\r\n\r\nhi\r\n",
	    RECEIVED VIA("PLC (line 3)") DATE MSGID REPLYTO "\r\nhi\r\n", 1 },
	{ "a missing From: is ours, nothing to rewrite",
	    "Subject: s\r\n\r\nhi\r\n",
	    RECEIVED "Subject: s\r\n" ADDED "\r\nhi\r\n", 1 },
};

static struct inbound_info
info(void)
{
	struct inbound_info i;

	memset(&i, 0, sizeof(i));
	i.hostname = "gw-test";
	i.helo = "plc1";
	i.peer_addr = "192.168.1.7";
	i.protocol = "ESMTP";
	i.id = "S1.1";
	i.sender = "arduino@plc.local";
	i.rcpt = "ops@example.com";
	i.from = "Line 3 Alarms <alarms@example.com>";
	i.now = 1790000000;
	i.rnd = 42;
	return i;
}

struct sink {
	char buf[8192];
	size_t len;
	int fail_after;			/* fail the nth call; 0 = never */
	int calls;
};

static int
sink_out(void *arg, const void *p, size_t n)
{
	struct sink *s = arg;

	if (s->fail_after && ++s->calls >= s->fail_after)
		return -1;
	assert_true(s->len + n < sizeof(s->buf));
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return 0;
}

static void
test_golden_whole(void **state)
{
	struct inbound_info in = info();
	size_t i, len;
	char *out;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		in.rewrite_from = cases[i].rewrite;
		out = inbound_fixup(&in, cases[i].in, strlen(cases[i].in),
		    &len);
		assert_non_null(out);
		if (len != strlen(cases[i].out) ||
		    memcmp(out, cases[i].out, len) != 0)
			fail_msg("%s: got\n%.*s\nexpected\n%s", cases[i].name,
			    (int)len, out, cases[i].out);
		free(out);
	}
}

/* Every split point, in two writes, gives the same bytes. */
static void
test_golden_split(void **state)
{
	struct inbound_info in = info();
	struct inbound *ib;
	struct sink s;
	size_t i, cut, n;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		in.rewrite_from = cases[i].rewrite;
		n = strlen(cases[i].in);
		for (cut = 0; cut <= n; cut++) {
			memset(&s, 0, sizeof(s));
			ib = inbound_begin(&in, sink_out, &s);
			assert_non_null(ib);
			assert_int_equal(inbound_write(ib, cases[i].in, cut), 0);
			assert_int_equal(inbound_write(ib, cases[i].in + cut,
			    n - cut), 0);
			assert_int_equal(inbound_end(ib), 0);
			inbound_free(ib);
			assert_int_equal(s.len, strlen(cases[i].out));
			assert_memory_equal(s.buf, cases[i].out, s.len);
		}
	}
}

static void
test_local_and_odd_sender(void **state)
{
	struct inbound_info in = info();
	size_t len;
	char *out;

	in.peer_addr = NULL;
	in.protocol = "local";
	in.rcpt = NULL;
	in.sender = "root";		/* not an address: no Reply-To */
	out = inbound_fixup(&in, "Subject: cron\r\n\r\nok\r\n", 21, &len);
	assert_non_null(out);
	assert_string_equal(out,
	    "Received: by gw-test (modbus2mail) with local id S1.1;\r\n"
	    "\tMon, 21 Sep 2026 14:13:20 +0000\r\n"
	    "Subject: cron\r\n" DATE MSGID FROM "\r\nok\r\n");
	free(out);

	in = info();
	in.helo = "";
	in.sender = "";			/* null sender */
	out = inbound_fixup(&in, "\r\n", 2, &len);
	assert_non_null(out);
	assert_string_equal(out,
	    "Received: from unknown ([192.168.1.7])\r\n"
	    "\tby gw-test (modbus2mail) with ESMTP id S1.1\r\n"
	    "\tfor <ops@example.com>;\r\n"
	    "\tMon, 21 Sep 2026 14:13:20 +0000\r\n" DATE MSGID FROM "\r\n");
	free(out);
}

static void
test_output_failure(void **state)
{
	struct inbound_info in = info();
	struct inbound *ib;
	struct sink s;

	memset(&s, 0, sizeof(s));
	s.fail_after = 2;
	ib = inbound_begin(&in, sink_out, &s);
	assert_non_null(ib);
	assert_int_equal(inbound_write(ib, "Subject: x\r\n\r\nbody\r\n", 20),
	    -1);
	assert_int_equal(inbound_write(ib, "more\r\n", 6), -1);
	assert_int_equal(inbound_end(ib), -1);
	inbound_free(ib);
}

/* A header that never ends is cut at INBOUND_HEADER_MAX, nothing lost. */
static void
test_endless_header(void **state)
{
	struct inbound_info in = info();
	size_t n = INBOUND_HEADER_MAX + 4096, i, len;
	char *msg, *out;

	msg = malloc(n);
	assert_non_null(msg);
	for (i = 0; i < n; i++)
		msg[i] = (i % 64) == 63 ? '\n' : ((i % 64) == 62 ? '\r' :
		    ((i % 64) == 0 ? 'X' : ((i % 64) == 1 ? ':' : 'v')));
	out = inbound_fixup(&in, msg, n, &len);
	assert_non_null(out);
	assert_true(len > n);
	assert_non_null(strstr(out, "Message-ID: <6ab13b80.2a.m2m@gw-test>"));
	free(out);
	free(msg);
}

/* head, then fill times 'x', then the end of the header and a body. */
static size_t
long_line(char *msg, const char *head, size_t fill)
{
	size_t h = strlen(head);

	memcpy(msg, head, h);
	memset(msg + h, 'x', fill);
	memcpy(msg + h + fill, "\r\n\r\nbody\r\n", 11);
	return h + fill + 10;
}

/*
 * Header lines (a field or its continuation) over 998 octets fail with
 * EBADMSG, also when fed in pieces; 998 passes, so does a long body line.
 */
static void
test_long_header_line(void **state)
{
	static const char *const heads[] = { "Subject: ", "X: a\r\n ", NULL };
	struct inbound_info in = info();
	size_t len, n, pre, i, j;
	struct inbound *ib;
	char msg[4096], *out;
	struct sink s;

	for (i = 0; heads[i] != NULL; i++) {
		/* octets of the long line before the fill */
		pre = strlen(heads[i]) - (i == 1 ? 6 : 0);
		n = long_line(msg, heads[i], INBOUND_LINE_MAX - pre);
		out = inbound_fixup(&in, msg, n, &len);
		assert_non_null(out);
		free(out);
		n = long_line(msg, heads[i], INBOUND_LINE_MAX + 1 - pre);
		errno = 0;
		assert_null(inbound_fixup(&in, msg, n, &len));
		assert_int_equal(errno, EBADMSG);
		memset(&s, 0, sizeof(s));
		ib = inbound_begin(&in, sink_out, &s);
		assert_non_null(ib);
		for (j = 0; j < n; j++)
			if (inbound_write(ib, msg + j, 1) == -1)
				break;
		assert_true(j < n - 6);
		assert_int_equal(errno, EBADMSG);
		inbound_free(ib);
	}
	/* the same line in the body is not a header line */
	n = long_line(msg, "Subject: s\r\n\r\n", 2000);
	out = inbound_fixup(&in, msg, n, &len);
	assert_non_null(out);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_whole),
		cmocka_unit_test(test_golden_split),
		cmocka_unit_test(test_local_and_odd_sender),
		cmocka_unit_test(test_output_failure),
		cmocka_unit_test(test_endless_header),
		cmocka_unit_test(test_long_header_line),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
