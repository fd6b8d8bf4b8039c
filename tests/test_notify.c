/*
 * Unit tests for notify.c: template fields, subjects per kind, recipients,
 * Message-ID and thread headers, the sign-of-life mail. Times in UTC.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modbus2mail/alarm.h"
#include "modbus2mail/config.h"
#include "modbus2mail/notify.h"
#include "modbus2mail/util.h"
#include "test_common.h"

#define T0 1795417200 /* Mon, 23 Nov 2026 07:00:00 UTC */

static const char yaml[] =
    "hostname: gw-test\n"
    "smtp: {url: \"smtp://127.0.0.1:25\", "
    "from: \"Line 3 <alarms@example.com>\", tls: none}\n"
    "recipients:\n"
    "  ops: [\"Ops Team <ops@example.com>\", night@example.com]\n"
    "defaults: {to: [ops]}\n"
    "devices:\n"
    "  - {name: maxi1, host: 127.0.0.1}\n"
    "  - {name: maxi2, host: 127.0.0.2}\n"
    "  - {name: vfd3, serial: {port: /dev/ttyUSB0}, unit_id: 3}\n"
    "rules:\n"
    "  - name: tank\n"
    "    device: maxi1\n"
    "    holding_register: 10\n"
    "    scale: 0.1\n"
    "    unit: \"C\"\n"
    "    above: 80\n"
    "    deadband: 2\n"
    "    subject: \"{severity}: {name} {state} {value}{unit}\"\n"
    "    body: \"v={value} raw={raw} thr={threshold} since={since} "
    "dur={duration} host={hostname} time={time} dev={device}\"\n"
    "  - {name: pump, device: maxi1, coil: 3, severity: critical}\n"
    "  - {name: band, device: maxi1, input_register: 1, above: 9, "
    "below: 2}\n"
    "sign_of_life: {at: \"07:00\", to: [ops]}\n";

static struct config *
load(void)
{
	struct config *cfg;

	cfg = config_load_buffer("n.yaml", yaml, strlen(yaml), stderr);
	assert_non_null(cfg);
	return cfg;
}

/* The value of header h (first line only), or NULL. */
static char *
header(const char *msg, const char *h)
{
	static char buf[1024];
	const char *p = msg, *end;
	size_t hl = strlen(h);

	while (p != NULL && strncmp(p, "\r\n", 2) != 0) {
		if (strncmp(p, h, hl) == 0 && p[hl] == ':') {
			end = strstr(p, "\r\n");
			snprintf(buf, sizeof(buf), "%.*s",
			    (int)(end - p - hl - 2), p + hl + 2);
			return buf;
		}
		p = strstr(p, "\r\n");
		if (p != NULL)
			p += 2;
	}
	return NULL;
}

static void
one(struct alarm_notification *n, struct alarm_event *ev,
    const struct config *cfg, const char *rule, enum alarm_kind kind)
{
	long idx = config_find_rule(cfg, rule);

	assert_true(idx >= 0);
	memset(n, 0, sizeof(*n));
	memset(ev, 0, sizeof(*ev));
	ev->name = cfg->rules[idx].name;
	ev->rule = idx;
	ev->severity = cfg->rules[idx].severity;
	ev->since = T0;
	n->kind = kind;
	n->device = cfg->rules[idx].device;
	n->ev = ev;
	n->nev = 1;
	n->to = cfg->rules[idx].to.v;
	n->nto = cfg->rules[idx].to.n;
}

static void
test_active_fields(void **state)
{
	struct config *cfg = load();
	struct alarm_notification n;
	struct alarm_event ev;
	struct notify_mail m;

	(void)state;
	one(&n, &ev, cfg, "tank", ALARM_ACTIVE);
	ev.has_value = 1;
	ev.value = 81.5;
	ev.raw = 815;
	assert_int_equal(notify_build(cfg, &n, T0 + 125, 7, &m), 0);
	assert_string_equal(header(m.data, "Subject"),
	    "warning: tank ACTIVE 81.5C");
	assert_string_equal(header(m.data, "X-Modbus2mail-Rule"), "tank");
	assert_string_equal(header(m.data, "From"),
	    "Line 3 <alarms@example.com>");
	assert_string_equal(header(m.data, "Message-ID"), m.message_id);
	/* the caller's random part as it is */
	assert_non_null(strstr(m.message_id, ".7.m2m@gw-test>"));
	assert_null(header(m.data, "In-Reply-To"));
	/* the first body line is the state and time; the template follows */
	assert_non_null(strstr(m.data, "\r\n\r\nACTIVE at 07:02 +00:00\r\n"
	    "\r\nv=81.5 raw=815 thr=> 80 since=2026-11-23 07:00:00 +00:00 "
	    "dur=2m 5s host=gw-test time=2026-11-23 07:02:05 +00:00 "
	    "dev=maxi1"));
	/* and the mail ends with how to acknowledge it, and the names */
	assert_non_null(strstr(m.data, "\r\nTo acknowledge: run `modbus2mail "
	    "ack tank` on gw-test.\r\nGateway gw-test, device maxi1, rule "
	    "tank.\r\n"));
	assert_int_equal(m.nrcpt, 2);
	assert_string_equal(m.rcpts[0], "ops@example.com");
	assert_string_equal(m.rcpts[1], "night@example.com");
	assert_string_equal(m.state, "ACTIVE");
	assert_string_equal(m.rules, "tank");
	notify_mail_clear(&m);
	assert_null(m.data);
	config_free(cfg);
}

static void
test_followup_threaded(void **state)
{
	struct config *cfg = load();
	struct alarm_notification n;
	struct alarm_event ev;
	struct notify_mail m;

	(void)state;
	one(&n, &ev, cfg, "pump", ALARM_CLEARED);
	ev.has_value = 1;
	strlcpy(ev.thread, "<abc.1.m2m@gw-test>", sizeof(ev.thread));
	assert_int_equal(notify_build(cfg, &n, T0 + 3 * 3600 + 60, 2, &m), 0);
	assert_string_equal(header(m.data, "Subject"),
	    "[critical] pump CLEARED on maxi1");
	assert_string_equal(header(m.data, "In-Reply-To"),
	    "<abc.1.m2m@gw-test>");
	assert_string_equal(header(m.data, "References"),
	    "<abc.1.m2m@gw-test>");
	assert_non_null(strstr(m.data, "\r\n\r\nCLEARED at 10:01 +00:00 after "
	    "3 h 1 min\r\n\r\ncoil 3 is OFF (alarm when ON)\r\n"));
	/* no "To acknowledge" in a mail that needs no action */
	assert_null(strstr(m.data, "To acknowledge"));
	notify_mail_clear(&m);
	/* the first mail's subject known: the follow-up replies to it */
	strlcpy(ev.subject, "[critical] pump ACTIVE on maxi1",
	    sizeof(ev.subject));
	assert_int_equal(notify_build(cfg, &n, T0 + 3 * 3600 + 60, 2, &m), 0);
	assert_string_equal(header(m.data, "Subject"),
	    "Re: [critical] pump ACTIVE on maxi1");
	assert_string_equal(m.subject, "Re: [critical] pump ACTIVE on maxi1");
	notify_mail_clear(&m);
	ev.subject[0] = '\0';
	n.kind = ALARM_REMINDER;
	assert_int_equal(notify_build(cfg, &n, T0, 3, &m), 0);
	assert_string_equal(header(m.data, "Subject"),
	    "[critical] pump REMINDER on maxi1");
	notify_mail_clear(&m);
	n.kind = ALARM_ACKNOWLEDGED;
	assert_int_equal(notify_build(cfg, &n, T0, 4, &m), 0);
	assert_string_equal(header(m.data, "Subject"),
	    "[critical] pump ACKNOWLEDGED on maxi1");
	notify_mail_clear(&m);
	n.kind = ALARM_ESCALATION;
	assert_int_equal(notify_build(cfg, &n, T0, 5, &m), 0);
	assert_string_equal(header(m.data, "Subject"),
	    "[critical] ESCALATED: pump on maxi1, not acknowledged");
	assert_non_null(strstr(m.data, "\r\n\r\nESCALATED at 07:00 +00:00: "
	    "ACTIVE for 0 s, not acknowledged\r\n"));
	notify_mail_clear(&m);
	n.kind = ALARM_SHELVED;
	ev.shelve_ms = 30 * 60000;
	strlcpy(ev.reason, "chatter: 3 raises within 60s", sizeof(ev.reason));
	ev.thread[0] = '\0';
	assert_int_equal(notify_build(cfg, &n, T0, 6, &m), 0);
	assert_string_equal(header(m.data, "Subject"),
	    "[critical] pump on maxi1 shelved for 30m "
	    "(chatter: 3 raises within 60s)");
	assert_null(header(m.data, "In-Reply-To"));
	assert_string_equal(m.state, "SHELVED");
	notify_mail_clear(&m);
	config_free(cfg);
}

static void
test_group_and_pseudo_rule(void **state)
{
	struct config *cfg = load();
	struct alarm_notification n;
	struct alarm_event ev[3];
	struct notify_mail m;

	(void)state;
	one(&n, &ev[0], cfg, "tank", ALARM_ACTIVE);
	one(&n, &ev[1], cfg, "pump", ALARM_ACTIVE);
	one(&n, &ev[2], cfg, "band", ALARM_ACTIVE);
	n.ev = ev;
	n.nev = 3;
	assert_int_equal(notify_build(cfg, &n, T0, 1, &m), 0);
	assert_string_equal(header(m.data, "Subject"),
	    "[critical] 3 alarms on maxi1: tank, pump, band");
	assert_non_null(strstr(m.data, "X-Modbus2mail-Rule: tank, pump, band"));
	assert_non_null(strstr(m.data, "\r\ninput register 1 not read yet "
	    "(limit: outside 2..9)\r\n"));
	assert_non_null(strstr(m.data, "\r\nTo acknowledge band: run "
	    "`modbus2mail ack band` on gw-test.\r\n"));
	assert_string_equal(m.rules, "tank,pump,band");
	notify_mail_clear(&m);
	/* DEVICE.link: default templates, no value, no unit */
	memset(&ev[0], 0, sizeof(ev[0]));
	ev[0].name = "maxi2.link";
	ev[0].rule = -1;
	ev[0].severity = SEVERITY_CRITICAL;
	ev[0].since = T0;
	n.ev = ev;
	n.nev = 1;
	n.device = 1;
	n.kind = ALARM_ACTIVE;
	n.to = cfg->devices[1].link_to.v;
	n.nto = cfg->devices[1].link_to.n;
	assert_int_equal(notify_build(cfg, &n, T0 + 10, 1, &m), 0);
	assert_string_equal(header(m.data, "Subject"),
	    "[critical] maxi2.link ACTIVE on maxi2");
	/* no error known: the sentence stops at the time */
	assert_non_null(strstr(m.data, "\r\nPLC maxi2 (127.0.0.2:502) not "
	    "answering since 07:00:00 +00:00\r\n"));
	notify_mail_clear(&m);
	/* DEVICE.read: the device answers, some requests fail */
	ev[0].name = "maxi2.read";
	strlcpy(ev[0].reason, "holding_register 10+2: exception 0x02 "
	    "(illegal data address)", sizeof(ev[0].reason));
	assert_int_equal(notify_build(cfg, &n, T0 + 10, 2, &m), 0);
	assert_non_null(strstr(m.data, "\r\nPLC maxi2 (127.0.0.2:502) "
	    "answers, but reads keep failing since 07:00:00 +00:00: "
	    "holding_register 10+2: exception 0x02 (illegal data address)"
	    "\r\n"));
	notify_mail_clear(&m);
	n.kind = ALARM_CLEARED;
	assert_int_equal(notify_build(cfg, &n, T0 + 70, 3, &m), 0);
	assert_non_null(strstr(m.data, "\r\n\r\nCLEARED at 07:01 +00:00 after "
	    "1 min 10 s\r\n\r\nPLC maxi2 (127.0.0.2:502) reads work again, "
	    "after failing since 07:00:00 +00:00\r\n"));
	notify_mail_clear(&m);
	/* a serial device: its port and unit */
	ev[0].name = "vfd3.link";
	ev[0].reason[0] = '\0';
	n.device = 2;
	n.kind = ALARM_ACTIVE;
	assert_int_equal(notify_build(cfg, &n, T0 + 10, 4, &m), 0);
	assert_non_null(strstr(m.data, "\r\nPLC vfd3 (/dev/ttyUSB0 unit 3) "
	    "not answering since 07:00:00 +00:00\r\n"));
	notify_mail_clear(&m);
	config_free(cfg);
}

static void
test_with_engine(void **state)
{
	struct config *cfg = load();
	struct alarm_engine *e;
	struct alarm_notification *n;
	struct readplan p;
	struct notify_mail m;
	char first[ALARM_MSGID_MAX];
	size_t i;

	(void)state;
	e = alarm_engine_new(cfg, 0);
	assert_int_equal(readplan_build(cfg, 0, &p), 0);
	for (i = 0; i < p.nreq; i++) {
		p.req[i].ok = 1;
		if (p.req[i].table == SOURCE_COIL)
			p.req[i].bits[3 - p.req[i].addr] = 1;
		if (p.req[i].table == SOURCE_INPUT_REGISTER)
			p.req[i].regs[0] = 5;	/* band: inside 2..9 */
	}
	alarm_engine_cycle(e, &p, 1, 0, T0);
	n = alarm_engine_take(e);
	assert_non_null(n);
	assert_int_equal(notify_build(cfg, n, T0, 1, &m), 0);
	alarm_engine_set_message_id(e, n, m.message_id, m.subject);
	strlcpy(first, m.message_id, sizeof(first));
	assert_string_equal(header(m.data, "Subject"),
	    "[critical] pump ACTIVE on maxi1");
	notify_mail_clear(&m);
	alarm_notification_free(n);
	assert_null(alarm_engine_take(e));
	for (i = 0; i < p.nreq; i++)
		if (p.req[i].table == SOURCE_COIL)
			p.req[i].bits[3 - p.req[i].addr] = 0;
	alarm_engine_cycle(e, &p, 1, 1000, T0 + 1);
	n = alarm_engine_take(e);
	assert_non_null(n);
	assert_int_equal(notify_build(cfg, n, T0 + 1, 2, &m), 0);
	assert_string_equal(header(m.data, "In-Reply-To"), first);
	assert_string_not_equal(m.message_id, first);
	notify_mail_clear(&m);
	alarm_notification_free(n);
	alarm_engine_free(e);
	readplan_free(&p);
	config_free(cfg);
}

/* {condition}: what the value means, per kind of rule, in words. */
static void
test_condition_words(void **state)
{
	static const struct {
		const char *rule;
		double value;
		const char *want;
	} c[] = {
		{ "hot", 85.3, "85.3 C (limit: above 80, clears at 78)" },
		{ "low", 12, "12 % (limit: below 20, clears at 25)" },
		{ "band", 1, "1 (limit: outside 2..9, clears inside 3..8)" },
		{ "mode", 3, "3 (alarm when equal to 3)" },
		{ "run", 1, "holding register 30 bit 3 is ON (alarm when ON)" },
		{ "door", 0, "discrete input 7 is OFF (alarm when OFF)" },
	};
	struct config *cfg = test_config_load(HDR "rules:\n"
	    "  - {name: hot, device: d1, holding_register: 1, unit: C, "
	    "above: 80, deadband: 2}\n"
	    "  - {name: low, device: d1, holding_register: 2, unit: \"%\", "
	    "below: 20, deadband: 5}\n"
	    "  - {name: band, device: d1, holding_register: 3, above: 9, "
	    "below: 2, deadband: 1}\n"
	    "  - {name: mode, device: d1, holding_register: 4, equals: 3}\n"
	    "  - {name: run, device: d1, holding_register: 30, bit: 3}\n"
	    "  - {name: door, device: d1, discrete_input: 7, "
	    "active_when: 0}\n");
	struct alarm_notification n;
	struct alarm_event ev;
	struct notify_mail m;
	char want[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		one(&n, &ev, cfg, c[i].rule, ALARM_ACTIVE);
		ev.has_value = 1;
		ev.value = c[i].value;
		assert_int_equal(notify_build(cfg, &n, T0, 1, &m), 0);
		snprintf(want, sizeof(want), "\n%s\r\n", c[i].want);
		if (strstr(m.data, want) == NULL)
			fail_msg("%s: no \"%s\" in\n%s", c[i].rule, c[i].want,
			    m.data);
		notify_mail_clear(&m);
	}
	config_free(cfg);
}

/* A burst of 40: the subject names as many as fit, then counts. */
static void
test_group_subject_names(void **state)
{
	struct config *cfg = test_config_load(HDR "rules:\n"
	    "  - {name: compressor_overload_left, device: d1, coil: 1}\n"
	    "  - {name: compressor_overload_right, device: d1, coil: 2}\n"
	    "  - {name: conveyor_stopped, device: d1, coil: 3}\n"
	    "  - {name: hopper_empty, device: d1, coil: 4}\n"
	    "  - {name: door_open, device: d1, coil: 5}\n"
	    "  - {name: estop, device: d1, coil: 6}\n");
	struct alarm_notification n;
	struct alarm_event ev[6];
	struct notify_mail m;
	size_t i;

	(void)state;
	for (i = 0; i < 6; i++)
		one(&n, &ev[i], cfg, cfg->rules[i].name, ALARM_ACTIVE);
	n.ev = ev;
	n.nev = 6;
	assert_int_equal(notify_build(cfg, &n, T0, 1, &m), 0);
	assert_string_equal(m.subject, "[warning] 6 alarms on d1: "
	    "compressor_overload_left, compressor_overload_right, "
	    "conveyor_stopped and 3 more");
	notify_mail_clear(&m);
	config_free(cfg);
}

static void
test_bad_address(void **state)
{
	struct config *cfg = load();
	struct alarm_notification n;
	struct alarm_event ev;
	struct notify_mail m;
	char *bad[] = { "not an address" };

	(void)state;
	one(&n, &ev, cfg, "pump", ALARM_ACTIVE);
	n.to = bad;
	n.nto = 1;
	assert_int_equal(notify_build(cfg, &n, T0, 1, &m), -1);
	assert_null(m.data);
	assert_int_equal(m.nrcpt, 0);
	config_free(cfg);
}

/* One envelope recipient per address, however it is spelled. */
static void
test_rcpts_once(void **state)
{
	struct config *cfg = load();
	struct alarm_notification n;
	struct alarm_event ev;
	struct notify_mail m;
	char *to[] = { "Ops Team <ops@example.com>", "night@example.com",
	    "Ops <OPS@example.com>", "ops@example.com" };

	(void)state;
	one(&n, &ev, cfg, "pump", ALARM_ACTIVE);
	n.to = to;
	n.nto = 4;
	assert_int_equal(notify_build(cfg, &n, T0, 1, &m), 0);
	assert_int_equal(m.nrcpt, 2);
	assert_string_equal(m.rcpts[0], "ops@example.com");
	assert_string_equal(m.rcpts[1], "night@example.com");
	notify_mail_clear(&m);
	config_free(cfg);
}

static void
test_sign_of_life(void **state)
{
	struct config *cfg = load();
	struct notify_gateway gw = { .devices = "  maxi1 link=up\n",
	    .alarms = "", .queue_len = 0 };
	struct notify_mail m;

	(void)state;
	assert_int_equal(notify_sign_of_life(cfg, &gw, T0, 99, &m), 0);
	assert_string_equal(header(m.data, "Subject"),
	    "[info] gw-test: daily sign of life");
	assert_non_null(strstr(m.data, "maxi1 link=up"));
	assert_non_null(strstr(m.data, "Active alarms:\r\n  none"));
	assert_non_null(strstr(m.data, "Queue: 0 message(s)\r\n"));
	assert_int_equal(m.nrcpt, 2);
	notify_mail_clear(&m);
	gw.alarms = "  pump state=ACTIVE\n";
	gw.queue_len = 3;
	gw.queue_oldest = T0 - 7200;
	assert_int_equal(notify_sign_of_life(cfg, &gw, T0, 100, &m), 0);
	assert_non_null(strstr(m.data, "pump state=ACTIVE"));
	assert_non_null(strstr(m.data, "Queue: 3 message(s), oldest 2h"));
	assert_non_null(strstr(m.data, "Failed: 0 message(s)\r\n"));
	notify_mail_clear(&m);
	gw.failed = 2;
	assert_int_equal(notify_sign_of_life(cfg, &gw, T0, 101, &m), 0);
	assert_non_null(strstr(m.data, "Failed: 2 message(s) (see "
	    "`modbus2mail queue`; `retry ID|--all` or `delete ID`)\r\n"));
	notify_mail_clear(&m);
	config_free(cfg);
}

/* The relay's failure notice: reason, recipients, original headers. */
static void
test_failure_notice(void **state)
{
	struct config *cfg = test_config_load(HDR);
	struct config *with;
	char *failed[] = { "gone@example.com: 550 5.1.1 no such user" };
	struct notify_failure f = { .queue_id = "ABC", .reason = "550 5.1.1 "
	    "no such user", .delivered = "ops@example.com", .failed = failed,
	    .nfailed = 1, .headers = "Subject: pump\r\n" };
	struct notify_mail m;

	(void)state;
	/* No smtp.failure_notice: nothing to send. */
	assert_int_equal(notify_failure(cfg, &f, T0, 7, &m), -1);
	with = test_config_load("hostname: gw\n"
	    "smtp: {url: \"smtp://127.0.0.1:25\", from: a@example.com, "
	    "tls: none, failure_notice: admin@example.com}\n"
	    "defaults: {to: [ops@example.com]}\n"
	    "devices:\n  - name: d1\n    host: 127.0.0.1\n");
	assert_int_equal(notify_failure(with, &f, T0, 7, &m), 0);
	assert_int_equal(m.nrcpt, 1);
	assert_string_equal(m.rcpts[0], "admin@example.com");
	assert_string_equal(header(m.data, "Subject"),
	    "Undelivered mail (modbus2mail)");
	assert_string_equal(header(m.data, "Auto-Submitted"), "auto-replied");
	assert_non_null(strstr(m.data, "Queue id: ABC\r\n"));
	assert_non_null(strstr(m.data, "  gone@example.com: 550 5.1.1 no such "
	    "user\r\n"));
	assert_non_null(strstr(m.data, "Delivered to: ops@example.com\r\n"));
	assert_non_null(strstr(m.data, "--- headers of the original message "
	    "---\r\nSubject: pump\r\n"));
	notify_mail_clear(&m);
	config_free(with);
	config_free(cfg);
}

/* With imap: alarm mail carries Reply-To, the watched mailbox (smtp.from
 * unless imap.reply_to says otherwise); without it, none. */
static void
test_reply_to(void **state)
{
	struct config *cfg = load();
	struct alarm_notification n;
	struct alarm_event ev;
	struct notify_mail m;

	(void)state;
	one(&n, &ev, cfg, "pump", ALARM_ACTIVE);
	assert_int_equal(notify_build(cfg, &n, T0, 1, &m), 0);
	assert_null(header(m.data, "Reply-To"));
	notify_mail_clear(&m);
	cfg->imap.enabled = 1;
	assert_int_equal(notify_build(cfg, &n, T0, 2, &m), 0);
	assert_string_equal(header(m.data, "Reply-To"),
	    "Line 3 <alarms@example.com>");
	notify_mail_clear(&m);
	cfg->imap.reply_to = xstrdup("acks@example.com");
	assert_int_equal(notify_build(cfg, &n, T0, 3, &m), 0);
	assert_string_equal(header(m.data, "Reply-To"), "acks@example.com");
	notify_mail_clear(&m);
	config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_active_fields),
		cmocka_unit_test(test_followup_threaded),
		cmocka_unit_test(test_group_and_pseudo_rule),
		cmocka_unit_test(test_with_engine),
		cmocka_unit_test(test_condition_words),
		cmocka_unit_test(test_group_subject_names),
		cmocka_unit_test(test_bad_address),
		cmocka_unit_test(test_rcpts_once),
		cmocka_unit_test(test_sign_of_life),
		cmocka_unit_test(test_failure_notice),
		cmocka_unit_test(test_reply_to),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
