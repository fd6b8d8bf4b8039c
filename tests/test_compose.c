/* Unit tests for compose.c: templates, header encoding, golden messages. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modbus2mail/compose.h"
#include "modbus2mail/util.h"

#define T0 1795417200 /* Mon, 23 Nov 2026 07:00:00 UTC */

static char *const one_to[] = { "ops@example.com" };

static void
check_lines(const char *msg, size_t len)
{
	const char *p = msg, *nl;
	size_t i;

	for (i = 0; i < len; i++) {
		if (msg[i] == '\n')
			assert_true(i > 0 && msg[i - 1] == '\r');
		if (msg[i] == '\r')
			assert_true(i + 1 < len && msg[i + 1] == '\n');
	}
	while ((nl = strstr(p, "\r\n")) != NULL) {
		assert_true(nl - p <= 998);
		p = nl + 2;
	}
	assert_true(len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n');
}

/* Header block only, up to the blank line. */
static char *
headers_of(const char *msg)
{
	const char *end = strstr(msg, "\r\n\r\n");

	assert_non_null(end);
	return strndup(msg, (size_t)(end - msg) + 2);
}

static void
check_golden(const struct compose_mail *m, const char *golden)
{
	size_t len;
	char *msg;

	msg = compose_alarm(m, &len);
	assert_non_null(msg);
	assert_int_equal(len, strlen(msg));
	assert_string_equal(msg, golden);
	check_lines(msg, len);
	free(msg);
}

static void
test_template(void **state)
{
	struct compose_vars v = { .name = "pump1", .device = "maxi1",
	    .severity = "critical", .state = "ACTIVE", .value = "1" };
	char *s;

	(void)state;
	s = compose_template("{severity}: {name} on {device} = {value}{unit}",
	    &v);
	assert_string_equal(s, "critical: pump1 on maxi1 = 1");
	free(s);
	s = compose_template("{{literal} {name}", &v);
	assert_string_equal(s, "{literal} pump1");
	free(s);
	errno = 0;
	assert_null(compose_template("{nosuch}", &v));
	assert_int_equal(errno, EINVAL);
	assert_null(compose_template("{name", &v));
	s = compose_template("", &v);
	assert_string_equal(s, "");
	free(s);
}

static void
test_header_value(void **state)
{
	char *s;

	(void)state;
	s = compose_header_value("plain ascii");
	assert_string_equal(s, "plain ascii");
	free(s);
	s = compose_header_value("Temp 85 °C");
	assert_string_equal(s, "=?utf-8?B?VGVtcCA4NSDCsEM=?=");
	free(s);
	s = compose_header_value("a\r\nBcc: evil@example.org");
	assert_string_equal(s, "a  Bcc: evil@example.org");
	free(s);
	s = compose_header_value("looks =?like?= a word");
	assert_non_null(strstr(s, "=?utf-8?B?"));
	free(s);
}

/* Long non-ASCII: folded words, each <= 75 chars, no split character. */
static void
test_header_fold(void **state)
{
	char in[600], *s, *p, *line, *save = NULL;
	size_t i, total = 0;

	(void)state;
	in[0] = '\0';
	for (i = 0; i < 100; i++)
		strcat(in, i % 2 ? "ä" : "€x");
	s = compose_header_value(in);
	assert_non_null(s);
	for (p = s; (line = strtok_r(p, "\n", &save)) != NULL; p = NULL) {
		size_t l = strlen(line);
		if (line[l - 1] == '\r')
			line[--l] = '\0';
		if (p == NULL) {
			assert_int_equal(line[0], ' ');
			line++;
			l--;
		}
		assert_true(l <= 75);
		assert_memory_equal(line, "=?utf-8?B?", 10);
		assert_string_equal(line + l - 2, "?=");
		total++;
	}
	assert_true(total > 5);
	free(s);
}

/*
 * A reply naming a Message-ID is trusted (acknowledge by reply), so the id's
 * random part must be 64 unpredictable bits, not a counter or a clock: in
 * 256 draws every bit is seen set and clear (a counter or time keeps its
 * high bits), no value repeats, and the id prints all of it.
 */
static void
test_msgid_random(void **state)
{
	uint64_t v[256], any = 0, all = ~(uint64_t)0;
	char buf[128], hex[32];
	size_t i, j;

	(void)state;
	for (i = 0; i < 256; i++) {
		v[i] = util_random64();
		any |= v[i];
		all &= v[i];
		for (j = 0; j < i; j++)
			assert_true(v[i] != v[j]);
	}
	assert_true(any == ~(uint64_t)0);
	assert_true(all == 0);
	compose_message_id(buf, sizeof(buf), "gw", T0, v[0]);
	snprintf(hex, sizeof(hex), ".%llx.m2m@gw>", (unsigned long long)v[0]);
	assert_non_null(strstr(buf, hex));
}

static void
test_date_msgid(void **state)
{
	char buf[128];

	(void)state;
	compose_date(buf, sizeof(buf), T0);
	assert_string_equal(buf, "Mon, 23 Nov 2026 07:00:00 +0000");
	compose_message_id(buf, sizeof(buf), "gw-line3", T0, 42);
	assert_string_equal(buf, "<6b03e470.2a.m2m@gw-line3>");
	compose_message_id(buf, sizeof(buf), "bad host\r\n", T0, 1);
	assert_string_equal(buf, "<6b03e470.1.m2m@bad-host-->");
	setenv("TZ", "CET-1", 1);
	tzset();
	compose_date(buf, sizeof(buf), T0);
	assert_string_equal(buf, "Mon, 23 Nov 2026 08:00:00 +0100");
	setenv("TZ", "<-0330>3:30", 1);
	tzset();
	compose_date(buf, sizeof(buf), T0);
	assert_string_equal(buf, "Mon, 23 Nov 2026 03:30:00 -0330");
	setenv("TZ", "UTC", 1);
	tzset();
}

static const char golden_single[] =
    "From: Line 3 Alarms <alarms@example.com>\r\n"
    "To: ops@example.com, \"Shift, Night\" <night@example.com>\r\n"
    "Subject: critical: pump1_fault on maxi1\r\n"
    "Date: Mon, 23 Nov 2026 07:00:00 +0000\r\n"
    "Message-ID: <6b03e470.1.m2m@gw-line3>\r\n"
    "Auto-Submitted: auto-generated\r\n"
    "X-Modbus2mail-Rule: pump1_fault\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 7bit\r\n"
    "\r\n"
    "Pump 1 reports a fault since 02:59.\r\n"
    "Value: 1\r\n";

static void
test_golden_single(void **state)
{
	char *const to[] = { "ops@example.com",
	    "\"Shift, Night\" <night@example.com>" };
	struct compose_item it = { .rule = "pump1_fault",
	    .subject_tmpl = "{severity}: {name} on {device}",
	    .body_tmpl = "Pump 1 reports a fault since {since}.\nValue: {value}",
	    .vars = { .name = "pump1_fault", .device = "maxi1",
	    .severity = "critical", .since = "02:59", .value = "1" } };
	struct compose_mail m = { .from = "Line 3 Alarms <alarms@example.com>",
	    .to = to, .nto = 2, .hostname = "gw-line3", .date = T0,
	    .message_id = "<6b03e470.1.m2m@gw-line3>", .items = &it,
	    .nitems = 1 };
	(void)state;
	check_golden(&m, golden_single);
}

static const char golden_utf8[] =
    "From: =?utf-8?B?TGluaWUgM8KgQWxhcm1l?= <alarms@example.com>\r\n"
    "To: ops@example.com\r\n"
    "Subject: =?utf-8?B?W3dhcm5pbmddIFRhbmsgODUgwrBDIENMRUFSRUQ=?=\r\n"
    "Date: Mon, 23 Nov 2026 07:00:00 +0000\r\n"
    "Message-ID: <6b03e470.2.m2m@gw-line3>\r\n"
    "In-Reply-To: <6b03e470.1.m2m@gw-line3>\r\n"
    "References: <6b03e470.1.m2m@gw-line3>\r\n"
    "Auto-Submitted: auto-generated\r\n"
    "X-Modbus2mail-Rule: tank_temp_high\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Temperatur 85 =C2=B0C =3D zu hei=C3=9F\r\n"
    "trailing space=20\r\n";

static void
test_golden_utf8_followup(void **state)
{
	struct compose_item it = { .rule = "tank_temp_high",
	    .subject_tmpl = "[{severity}] Tank {value} {unit} {state}",
	    .body_tmpl = "Temperatur {value} {unit} = zu heiß\r\ntrailing space \n",
	    .vars = { .severity = "warning", .value = "85", .unit = "°C",
	    .state = "CLEARED" } };
	struct compose_mail m = { .from = "Linie 3\xc2\xa0" "Alarme <alarms@example.com>",
	    .to = one_to, .nto = 1, .hostname = "gw-line3", .date = T0,
	    .message_id = "<6b03e470.2.m2m@gw-line3>",
	    .in_reply_to = "<6b03e470.1.m2m@gw-line3>", .items = &it,
	    .nitems = 1 };
	(void)state;
	check_golden(&m, golden_utf8);
}

/* CR/LF in any template value must not produce a header line. */
static void
test_header_injection(void **state)
{
	struct compose_item it = { .rule = "r1\r\nBcc: x@evil.org",
	    .subject_tmpl = "{name} {value}", .body_tmpl = "body {value}",
	    .vars = { .name = "n\r\nBcc: a@evil.org",
	    .value = "1\nX-Injected: yes\r\n\r\nfake body" } };
	struct compose_mail m = { .from = "A\r\nBcc: f@evil.org <a@b.c>",
	    .to = one_to, .nto = 1, .hostname = "h", .date = T0,
	    .message_id = "<1@h>\r\nBcc: m@evil.org",
	    .in_reply_to = "<0@h>\nX-Evil: 1", .items = &it, .nitems = 1 };
	size_t len;
	char *msg, *h;

	(void)state;
	msg = compose_alarm(&m, &len);
	assert_non_null(msg);
	check_lines(msg, len);
	h = headers_of(msg);
	assert_null(strstr(h, "\nBcc:"));
	assert_null(strstr(h, "\nX-Injected"));
	assert_null(strstr(h, "\nX-Evil"));
	assert_null(strstr(h, "\r\n\r\n"));
	assert_non_null(strstr(h, "\r\nSubject: n  Bcc: a@evil.org 1 X-Injected:"
	    " yes    fake body\r\n"));
	assert_non_null(strstr(h, "\r\nX-Modbus2mail-Rule: r1__Bcc__x_evil.org\r\n"));
	free(h);
	free(msg);
}

/*
 * A power dip trips 40 bits: one mail with the caller's subject, the body
 * lists all between the intro and outro paragraphs.
 */
static void
test_burst_group(void **state)
{
	struct compose_item items[40];
	char names[40][16];
	struct compose_mail m = { .from = "alarms@example.com", .to = one_to,
	    .nto = 1, .hostname = "gw", .date = T0, .message_id = "<g@gw>",
	    .subject = "[critical] 40 alarms on maxi1", .intro = "ACTIVE now",
	    .items = items, .nitems = 40, .outro = "Gateway gw.\n" };
	size_t len, i;
	char *msg, *h, *rh, want[64];

	(void)state;
	for (i = 0; i < 40; i++) {
		snprintf(names[i], sizeof(names[i]), "bit_%02zu", i);
		items[i] = (struct compose_item){ .rule = names[i],
		    .subject_tmpl = "{severity}: {name}",
		    .body_tmpl = "Rule {name} is {state}.\n",
		    .vars = { .name = names[i], .device = "maxi1",
		    .severity = i == 17 ? "critical" : "warning",
		    .state = "ACTIVE" } };
	}
	msg = compose_alarm(&m, &len);
	assert_non_null(msg);
	check_lines(msg, len);
	h = headers_of(msg);
	assert_non_null(strstr(h, "\r\nSubject: [critical] 40 alarms on maxi1\r\n"));
	assert_int_equal(strncmp(msg + strlen(h), "\r\nACTIVE now\r\n\r\n"
	    "* warning: bit_00\r\n", 35), 0);
	assert_non_null(strstr(msg + strlen(h), "is ACTIVE.\r\n\r\nGateway "
	    "gw.\r\n"));
	rh = strstr(h, "X-Modbus2mail-Rule: bit_00, bit_01,");
	assert_non_null(rh);
	assert_non_null(strstr(rh, "bit_39\r\n"));
	for (i = 0; i < 40; i++) {
		snprintf(want, sizeof(want), "Rule bit_%02zu is ACTIVE.\r\n", i);
		assert_non_null(strstr(msg + strlen(h), want));
		snprintf(want, sizeof(want), "%s: bit_%02zu",
		    i == 17 ? "critical" : "warning", i);
		assert_non_null(strstr(msg + strlen(h), want));
	}
	/* Every folded rule header line stays short. */
	for (rh = strstr(h, "X-Modbus2mail-Rule"); *rh != '\0' &&
	    strncmp(rh, "\r\nMIME", 6) != 0; rh = strstr(rh, "\r\n") + 2) {
		assert_true(strstr(rh, "\r\n") - rh <= 78);
		if (strncmp(strstr(rh, "\r\n"), "\r\nMIME", 6) == 0)
			break;
	}
	free(h);
	free(msg);
}

/* A 3000-octet ASCII line: quoted-printable keeps lines <= 76. */
static void
test_long_line(void **state)
{
	char body[3001];
	struct compose_item it = { .rule = "r", .subject_tmpl = "s",
	    .body_tmpl = body };
	struct compose_mail m = { .from = "a@b", .to = one_to, .nto = 1,
	    .hostname = "h", .date = T0, .message_id = "<1@h>", .items = &it,
	    .nitems = 1 };
	const char *p, *nl;
	size_t len;
	char *msg;

	(void)state;
	memset(body, 'x', 3000);
	body[3000] = '\0';
	msg = compose_alarm(&m, &len);
	assert_non_null(strstr(msg, "Content-Transfer-Encoding: quoted-printable"));
	check_lines(msg, len);
	for (p = strstr(msg, "\r\n\r\n") + 4; (nl = strstr(p, "\r\n")) != NULL;
	    p = nl + 2)
		assert_true(nl - p <= 76);
	free(msg);
}

static void
test_plain(void **state)
{
	struct compose_text t = { .from = "alarms@example.com", .to = one_to,
	    .nto = 1, .subject = "Undelivered mail", .body = "x\n",
	    .date = T0, .message_id = "<n@h>", .auto_submitted = "auto-replied" };
	size_t len;
	char *msg;

	(void)state;
	msg = compose_plain(&t, &len);
	assert_non_null(strstr(msg, "\r\nAuto-Submitted: auto-replied\r\n"));
	assert_null(strstr(msg, "X-Modbus2mail-Rule"));
	assert_non_null(strstr(msg, "\r\n\r\nx\r\n"));
	check_lines(msg, len);
	free(msg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_template),
		cmocka_unit_test(test_header_value),
		cmocka_unit_test(test_header_fold),
		cmocka_unit_test(test_date_msgid),
		cmocka_unit_test(test_msgid_random),
		cmocka_unit_test(test_golden_single),
		cmocka_unit_test(test_golden_utf8_followup),
		cmocka_unit_test(test_header_injection),
		cmocka_unit_test(test_burst_group),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_plain),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
