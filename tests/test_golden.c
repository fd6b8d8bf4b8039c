/*
 * Golden-file tests: every kind of mail the gateway writes, byte for byte
 * as it goes to the provider, compared with tests/golden/NAME.eml. One
 * alarm episode is replayed through the real engine, so its follow-ups
 * carry the subject and References of its first mail as they would in
 * the daemon. Times in a zone with an offset (CET) so that every time
 * shows one.
 *
 * After an intended change: M2M_GOLDEN_UPDATE=1 build/tests/test_golden
 * SRCDIR rewrites the files; review the diff like code.
 */
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

#include "modbus2mail/alarm.h"
#include "modbus2mail/config.h"
#include "modbus2mail/inbound.h"
#include "modbus2mail/notify.h"
#include "modbus2mail/readplan.h"
#include "modbus2mail/render.h"
#include "modbus2mail/util.h"

#include "test_common.h"

#define T0 1795422600		/* Mon, 23 Nov 2026 08:30:00 UTC */

static const char *srcdir = ".";

static const char yaml[] =
    "hostname: gw-line3\n"
    "smtp: {url: \"smtp://127.0.0.1:25\", "
    "from: \"Line 3 alarms <alarms@example.com>\", tls: none}\n"
    "recipients:\n"
    "  ops: [\"Ops Team <ops@example.com>\"]\n"
    "  maint: [maint@example.com]\n"
    "defaults: {to: [ops]%s}\n"
    "devices:\n"
    "  - name: mega_tank\n"
    "    host: 192.168.1.10\n"
    "    heartbeat: {holding_register: 0, stale_after: 10s}\n"
    "    link_alarm: {after: 10s}\n"
    "rules:\n"
    "  - name: pump_dry_run\n"
    "    device: mega_tank\n"
    "    coil: 12\n"
    "    severity: critical\n"
    "    ack: {coil: 16}\n"
    "    repeat: 30m\n"
    "    escalate: {after: 15m, to: [maint]}\n"
    "  - name: tank_low\n"
    "    device: mega_tank\n"
    "    discrete_input: 3\n"
    "    active_when: 0\n"
    "  - name: tank_temp_high\n"
    "    device: mega_tank\n"
    "    holding_register: 10\n"
    "    scale: 0.1\n"
    "    unit: \"\xc2\xb0" "C\"\n"
    "    above: 80.0\n"
    "    deadband: 2.0\n"
    "    chatter: {raises: 2, within: 15m, shelve: 30m}\n"
    "sign_of_life: {at: \"07:00\", to: [ops]}\n";

/* The engine of mega_tank with its plan, the config, the mails so far. */
struct ep {
	struct config *cfg;
	struct alarm_engine *e;
	struct readplan plan;
	unsigned long long seq;
	int beat;			/* the PLC program advances HR0 */
	char first_id[ALARM_MSGID_MAX];
	char first_subject[ALARM_SUBJECT_MAX];
};

static struct config *
load(const char *defaults_extra)
{
	char *doc = xasprintf(yaml, defaults_extra);
	struct config *cfg;

	cfg = config_load_buffer("golden.yaml", doc, strlen(doc), stderr);
	free(doc);
	assert_non_null(cfg);
	return cfg;
}

/* Compares text with tests/golden/name (or writes it, when updating). */
static void
golden(const char *name, const char *text, size_t len)
{
	char *path = xasprintf("%s/tests/golden/%s", srcdir, name);
	char *want = NULL;
	size_t wlen = 0;
	FILE *f;

	if (getenv("M2M_GOLDEN_UPDATE") != NULL) {
		f = fopen(path, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(text, 1, len, f), len);
		assert_int_equal(fclose(f), 0);
	}
	if ((f = fopen(path, "rb")) == NULL)
		fail_msg("%s: %s (M2M_GOLDEN_UPDATE=1 writes it)", path,
		    strerror(errno));
	want = malloc(len + 2);
	assert_non_null(want);
	wlen = fread(want, 1, len + 1, f);
	fclose(f);
	if (wlen != len || memcmp(want, text, len) != 0)
		fail_msg("%s differs from the mail written now:\n%.*s", path,
		    (int)len, text);
	free(want);
	free(path);
}

static void
ep_open(struct ep *p, const char *defaults_extra)
{
	size_t i;

	memset(p, 0, sizeof(*p));
	p->cfg = load(defaults_extra);
	p->e = alarm_engine_new(p->cfg, 0);
	assert_int_equal(readplan_build(p->cfg, 0, &p->plan), 0);
	for (i = 0; i < p->plan.nreq; i++)
		p->plan.req[i].ok = 1;
	p->beat = 1;
}

static void
ep_close(struct ep *p)
{
	alarm_engine_free(p->e);
	readplan_free(&p->plan);
	config_free(p->cfg);
}

/*
 * One cycle at T0 + s seconds (link up or down); its one mail (or none
 * when name is NULL) is compared with the golden file name. The first
 * ACTIVE mail's Message-ID and Subject are kept for the threading checks.
 */
static void
ep_cycle(struct ep *p, time_t s, int up, const char *name,
    struct notify_mail *out)
{
	struct alarm_notification *n;
	struct notify_mail m;
	size_t got = 0;

	if (p->beat)
		test_plan_reg(&p->plan, SOURCE_HOLDING_REGISTER, 0,
		    (uint16_t)s);
	if (!up)
		readplan_invalidate(&p->plan);
	alarm_engine_cycle(p->e, &p->plan, up, (uint64_t)s * 1000, T0 + s);
	while ((n = alarm_engine_take(p->e)) != NULL) {
		assert_int_equal(notify_build(p->cfg, n, T0 + s, ++p->seq, &m),
		    0);
		alarm_engine_set_message_id(p->e, n, m.message_id, m.subject);
		if (n->kind == ALARM_ACTIVE && p->first_id[0] == '\0') {
			strlcpy(p->first_id, m.message_id,
			    sizeof(p->first_id));
			strlcpy(p->first_subject, m.subject,
			    sizeof(p->first_subject));
		}
		alarm_notification_free(n);
		if (name == NULL || got > 0)
			fail_msg("unexpected mail at T0+%lld:\n%s", (long long)s,
			    m.data);
		golden(name, m.data, m.len);
		got++;
		if (out != NULL)
			*out = m;
		else
			notify_mail_clear(&m);
	}
	assert_int_equal(got, name != NULL);
	if (!up)
		for (got = 0; got < p->plan.nreq; got++)
			p->plan.req[got].ok = 1;
}

/* The value of header h, first line only; "" when absent. */
static const char *
hdr(const char *msg, const char *h)
{
	static char buf[1024];
	const char *p = msg, *end;
	size_t hl = strlen(h);

	buf[0] = '\0';
	for (; p != NULL && strncmp(p, "\r\n", 2) != 0;
	    p = (p = strstr(p, "\r\n")) != NULL ? p + 2 : NULL)
		if (strncmp(p, h, hl) == 0 && p[hl] == ':') {
			end = strstr(p, "\r\n");
			snprintf(buf, sizeof(buf), "%.*s",
			    (int)(end - p - hl - 2), p + hl + 2);
			break;
		}
	return buf;
}

/* A follow-up replies to the episode's first mail: subject, references. */
static void
check_reply(const struct ep *p, struct notify_mail *m)
{
	char want[ALARM_SUBJECT_MAX + 8];

	snprintf(want, sizeof(want), "Re: %s", p->first_subject);
	assert_string_equal(m->subject, want);
	assert_string_equal(hdr(m->data, "In-Reply-To"), p->first_id);
	assert_string_equal(hdr(m->data, "References"), p->first_id);
	notify_mail_clear(m);
}

/*
 * The episode: pump runs dry and the tank is low in the same cycle (one
 * group mail), escalation after 15 min, a reminder after 30, the PLC's
 * ack bit, then both clear. Every follow-up is "Re: " + the first subject.
 */
static void
test_episode(void **state)
{
	struct ep p;
	struct notify_mail m;

	(void)state;
	ep_open(&p, "");
	test_plan_bit(&p.plan, SOURCE_DISCRETE_INPUT, 3, 1);
	ep_cycle(&p, 0, 1, NULL, NULL);
	test_plan_bit(&p.plan, SOURCE_COIL, 12, 1);
	test_plan_bit(&p.plan, SOURCE_DISCRETE_INPUT, 3, 0);
	ep_cycle(&p, 1, 1, "episode-1-active-group.eml", &m);
	assert_string_equal(m.subject, "[critical] 2 alarms on mega_tank: "
	    "pump_dry_run, tank_low");
	assert_string_equal(hdr(m.data, "In-Reply-To"), "");
	notify_mail_clear(&m);
	ep_cycle(&p, 901, 1, "episode-2-escalated.eml", &m);
	check_reply(&p, &m);
	ep_cycle(&p, 1801, 1, "episode-3-reminder.eml", &m);
	check_reply(&p, &m);
	test_plan_bit(&p.plan, SOURCE_COIL, 16, 1);
	ep_cycle(&p, 1900, 1, "episode-4-acknowledged.eml", &m);
	check_reply(&p, &m);
	test_plan_bit(&p.plan, SOURCE_COIL, 12, 0);
	test_plan_bit(&p.plan, SOURCE_DISCRETE_INPUT, 3, 1);
	ep_cycle(&p, 2161, 1, "episode-5-cleared.eml", &m);
	check_reply(&p, &m);
	ep_close(&p);
}

/* The same episode with per-state subjects: no "Re: ", same thread. */
static void
test_episode_per_state(void **state)
{
	struct ep p;
	struct notify_mail m;

	(void)state;
	ep_open(&p, ", thread_subjects: per_state");
	assert_true(p.cfg->per_state_subjects);
	test_plan_bit(&p.plan, SOURCE_DISCRETE_INPUT, 3, 1);
	test_plan_reg(&p.plan, SOURCE_HOLDING_REGISTER, 10, 853);
	ep_cycle(&p, 0, 1, "single-active.eml", &m);
	assert_string_equal(m.subject, "[warning] tank_temp_high ACTIVE on "
	    "mega_tank");
	notify_mail_clear(&m);
	test_plan_reg(&p.plan, SOURCE_HOLDING_REGISTER, 10, 779);
	ep_cycle(&p, 720, 1, "single-cleared-per-state.eml", &m);
	assert_string_equal(m.subject, "[warning] tank_temp_high CLEARED on "
	    "mega_tank");
	assert_string_equal(hdr(m.data, "References"), p.first_id);
	notify_mail_clear(&m);
	/* raised again within 15 min: chatter, shelved with one mail */
	test_plan_reg(&p.plan, SOURCE_HOLDING_REGISTER, 10, 853);
	ep_cycle(&p, 730, 1, "single-shelved.eml", NULL);
	ep_close(&p);
}

/* `modbus2mail ack` names the user; link loss and a stopped program. */
static void
test_ack_link_heartbeat(void **state)
{
	struct ep p;
	time_t s;

	(void)state;
	ep_open(&p, "");
	test_plan_bit(&p.plan, SOURCE_DISCRETE_INPUT, 3, 1);
	test_plan_bit(&p.plan, SOURCE_COIL, 12, 1);
	ep_cycle(&p, 0, 1, "single-active-ack-bit.eml", NULL);
	assert_int_equal(alarm_engine_ack(p.e, "pump_dry_run",
	    "root via modbus2mail ack", 60000, NULL, 0), 0);
	ep_cycle(&p, 60, 1, "single-acknowledged-command.eml", NULL);
	/* the PLC program stops: HR0 stays at 66 */
	p.beat = 0;
	test_plan_reg(&p.plan, SOURCE_HOLDING_REGISTER, 0, 66);
	for (s = 66; s < 76; s++)
		ep_cycle(&p, s, 1, NULL, NULL);
	ep_cycle(&p, 76, 1, "heartbeat-active.eml", NULL);
	test_plan_reg(&p.plan, SOURCE_HOLDING_REGISTER, 0, 67);
	ep_cycle(&p, 81, 1, "heartbeat-cleared.eml", NULL);
	p.beat = 1;
	alarm_engine_link_error(p.e, "Connection refused");
	for (s = 90; s < 100; s++)
		ep_cycle(&p, s, 0, NULL, NULL);
	ep_cycle(&p, 100, 0, "link-active.eml", NULL);
	ep_cycle(&p, 400, 1, "link-cleared.eml", NULL);
	ep_close(&p);
}

static void
test_sign_of_life(void **state)
{
	struct config *cfg = load("");
	struct notify_gateway gw = {
		.devices = "  mega_tank 192.168.1.10:502 link=up\n",
		.alarms = "  pump_dry_run state=ACTIVE since=2026-11-23T"
		    "06:58:00+01:00 acknowledged=no shelved=no\n",
		.queue_len = 1,
		.queue_oldest = T0 - 90,
	};
	struct notify_mail m;

	(void)state;
	assert_int_equal(notify_sign_of_life(cfg, &gw, T0, 1, &m), 0);
	golden("sign-of-life.eml", m.data, m.len);
	notify_mail_clear(&m);
	config_free(cfg);
}

/* A classic sketch's mail through the listener's fix-ups. */
static void
relayed(const struct config *cfg, const char *name)
{
	static const char sketch[] = "From: arduino@plc.local\r\n"
	    "To: ops@example.com\r\nSubject: Tank 2 overflow\r\n"
	    "Water above the upper probe.\r\n";
	const struct inbound_info info = { .hostname = cfg->hostname,
	    .helo = "arduino", .peer_addr = "192.168.1.50", .protocol = "ESMTP",
	    .id = "S1.1", .sender = "arduino@plc.local",
	    .rcpt = "ops@example.com", .from = cfg->smtp.from,
	    .rewrite_from = cfg->listener.rewrite_from, .now = T0, .rnd = 1 };
	size_t len;
	char *out;

	out = inbound_fixup(&info, sketch, sizeof(sketch) - 1, &len);
	assert_non_null(out);
	golden(name, out, len);
	free(out);
}

static void
test_relayed_device_mail(void **state)
{
	struct config *cfg = load("");

	(void)state;
	assert_true(cfg->listener.rewrite_from);
	relayed(cfg, "relayed-rewritten.eml");
	cfg->listener.rewrite_from = 0;
	relayed(cfg, "relayed-as-sent.eml");
	config_free(cfg);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_episode),
		cmocka_unit_test(test_episode_per_state),
		cmocka_unit_test(test_ack_link_heartbeat),
		cmocka_unit_test(test_sign_of_life),
		cmocka_unit_test(test_relayed_device_mail),
	};

	if (argc > 1)
		srcdir = argv[1];
	setenv("TZ", "CET-1CEST,M3.5.0,M10.5.0/3", 1);
	tzset();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
