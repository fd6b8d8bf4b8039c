/*
 * Unit tests for alarm.c: every transition with explicit times (SPEC §4).
 * A fake read plan stands in for the poller: values are written into the
 * plan's buffers and its ok flags, then one cycle is run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/alarm.h"
#include "modbus2mail/config.h"
#include "modbus2mail/readplan.h"
#include "modbus2mail/snapshot.h"

#include "test_common.h"

#define T0 1795417200 /* wall clock at now = 0 */

#define MAXN 64

/* One engine with its plan and what it sent so far. */
struct fx {
	struct config *cfg;
	struct alarm_engine *e;
	struct readplan plan;
	struct alarm_notification *n[MAXN];
	size_t nn;
	unsigned ids;
	int link;
};

static void
fx_open(struct fx *f, const char *yaml)
{
	size_t i;

	memset(f, 0, sizeof(*f));
	f->cfg = test_config_load(yaml);
	f->e = alarm_engine_new(f->cfg, 0);
	assert_int_equal(readplan_build(f->cfg, 0, &f->plan), 0);
	for (i = 0; i < f->plan.nreq; i++)
		f->plan.req[i].ok = 1;
	f->link = 1;
}

static void
fx_clear(struct fx *f)
{
	size_t i;

	for (i = 0; i < f->nn; i++)
		alarm_notification_free(f->n[i]);
	f->nn = 0;
}

static void
fx_close(struct fx *f)
{
	fx_clear(f);
	alarm_engine_free(f->e);
	readplan_free(&f->plan);
	config_free(f->cfg);
}

static struct readplan_req *
fx_req(struct fx *f, enum config_source t, uint16_t addr)
{
	return test_plan_req(&f->plan, t, addr);
}

static void
fx_bit(struct fx *f, enum config_source t, uint16_t addr, int v)
{
	test_plan_bit(&f->plan, t, addr, v);
}

static void
fx_reg(struct fx *f, enum config_source t, uint16_t addr, uint16_t v)
{
	test_plan_reg(&f->plan, t, addr, v);
}

static void
fx_coil(struct fx *f, uint16_t addr, int v)
{
	fx_bit(f, SOURCE_COIL, addr, v);
}

/* Runs one cycle at now (ms) and collects its notifications; ACTIVE ones
 * get a Message-ID "<aN@gw>" like the poller gives them. */
static size_t
fx_cycle(struct fx *f, uint64_t now)
{
	struct alarm_notification *n;
	char id[64], subject[64];
	size_t before = f->nn;

	if (!f->link)
		readplan_invalidate(&f->plan);
	alarm_engine_cycle(f->e, &f->plan, f->link, now,
	    (time_t)(T0 + now / 1000));
	while ((n = alarm_engine_take(f->e)) != NULL) {
		assert_true(f->nn < MAXN);
		if (n->kind == ALARM_ACTIVE) {
			snprintf(id, sizeof(id), "<a%u@gw>", ++f->ids);
			snprintf(subject, sizeof(subject), "100%% a%u on", f->ids);
			alarm_engine_set_message_id(f->e, n, id, subject);
		}
		f->n[f->nn++] = n;
	}
	return f->nn - before;
}

/* Cycles every step ms from `from` to `to` inclusive; total sent. */
static size_t
fx_run(struct fx *f, uint64_t from, uint64_t to, uint64_t step)
{
	size_t n = 0;
	uint64_t t;

	for (t = from; t <= to; t += step)
		n += fx_cycle(f, t);
	return n;
}

static void
fx_link(struct fx *f, int up)
{
	size_t i;

	f->link = up;
	for (i = 0; up && i < f->plan.nreq; i++)
		f->plan.req[i].ok = 1;
}

/* The alarm lines of `status` at now, as the daemon prints them from a
 * snapshot of the engine (free it). */
static char *
fx_status(struct fx *f, uint64_t now)
{
	struct alarm_status st;
	struct snapshot *s;
	char *buf = NULL;
	size_t i, len = 0, n = alarm_engine_count(f->e);
	FILE *out;

	s = snapshot_new(0, n);
	for (i = 0; i < n; i++) {
		alarm_engine_get(f->e, i, now, &st);
		snapshot_add_alarm(s, &st);
	}
	out = open_memstream(&buf, &len);
	assert_non_null(out);
	snapshot_status(s, out, out);
	fclose(out);
	snapshot_free(s);
	return buf;
}

/* The last notification: kind, number of events, first event's name. */
static const struct alarm_notification *
last(struct fx *f, enum alarm_kind kind, size_t nev, const char *name)
{
	const struct alarm_notification *n;

	assert_true(f->nn > 0);
	n = f->n[f->nn - 1];
	if (n->kind != kind)
		fail_msg("kind %s, expected %s", alarm_kind_name(n->kind),
		    alarm_kind_name(kind));
	assert_int_equal(n->nev, nev);
	assert_string_equal(n->ev[0].name, name);
	return n;
}

static int
has_rcpt(const struct alarm_notification *n, const char *a)
{
	size_t i;

	for (i = 0; i < n->nto; i++)
		if (strcmp(n->to[i], a) == 0)
			return 1;
	return 0;
}

static void
status_of(struct fx *f, const char *name, uint64_t now, struct alarm_status *st)
{
	size_t i;

	for (i = 0; i < alarm_engine_count(f->e); i++) {
		alarm_engine_get(f->e, i, now, st);
		if (strcmp(st->name, name) == 0)
			return;
	}
	fail_msg("no slot %s", name);
}

static void
test_on_off_delay(void **state)
{
	struct fx f;
	const struct alarm_notification *n;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: p, device: d1, coil: 12, on_delay: 2s, off_delay: 5s, "
	    "severity: critical}\n");
	assert_int_equal(fx_cycle(&f, 0), 0);
	fx_coil(&f, 12, 1);
	assert_int_equal(fx_run(&f, 1000, 2999, 500), 0);	/* PENDING */
	assert_int_equal(fx_cycle(&f, 3000), 1);		/* held 2 s */
	n = last(&f, ALARM_ACTIVE, 1, "p");
	assert_int_equal(n->ev[0].severity, SEVERITY_CRITICAL);
	assert_int_equal(n->ev[0].since, T0 + 3);
	assert_true(n->ev[0].has_value && n->ev[0].value == 1);
	assert_string_equal(n->ev[0].thread, "");
	assert_int_equal(n->nto, 1);
	assert_string_equal(n->to[0], "ops@example.com");
	assert_int_equal(alarm_engine_active(f.e), 1);
	fx_coil(&f, 12, 0);
	assert_int_equal(fx_run(&f, 4000, 8999, 500), 0);	/* CLEARING */
	assert_int_equal(fx_cycle(&f, 9000), 1);
	n = last(&f, ALARM_CLEARED, 1, "p");
	assert_string_equal(n->ev[0].thread, "<a1@gw>");
	assert_int_equal(alarm_engine_active(f.e), 0);
	/* flicker during on_delay starts it over */
	fx_coil(&f, 12, 1);
	fx_cycle(&f, 10000);
	fx_coil(&f, 12, 0);
	fx_cycle(&f, 11000);
	fx_coil(&f, 12, 1);
	assert_int_equal(fx_run(&f, 12000, 13999, 500), 0);
	assert_int_equal(fx_cycle(&f, 14000), 1);
	n = last(&f, ALARM_ACTIVE, 1, "p");
	/* back to ACTIVE inside off_delay: no mail at all */
	fx_coil(&f, 12, 0);
	fx_run(&f, 15000, 18000, 1000);
	fx_coil(&f, 12, 1);
	fx_coil(&f, 12, 1);
	assert_int_equal(fx_run(&f, 19000, 30000, 1000), 0);
	fx_close(&f);
}

static void
test_notify_clear_false_and_startup(void **state)
{
	struct fx f;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: q, device: d1, discrete_input: 3, active_when: 0, "
	    "notify_clear: false}\n");
	/* active at start-up (input 0 = active): notifies like any other */
	assert_int_equal(fx_cycle(&f, 0), 1);
	last(&f, ALARM_ACTIVE, 1, "q");
	fx_bit(&f, SOURCE_DISCRETE_INPUT, 3, 1);
	assert_int_equal(fx_run(&f, 1000, 5000, 1000), 0);
	assert_int_equal(alarm_engine_active(f.e), 0);
	fx_close(&f);
}

static void
test_deadband_flapping(void **state)
{
	static const uint16_t flap[] = { 790, 805, 781, 799, 785, 850, 782 };
	struct fx f;
	const struct alarm_notification *n;
	size_t i;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: temp, device: d1, holding_register: 10, scale: 0.1, "
	    "above: 80, deadband: 2, unit: C}\n");
	fx_reg(&f, SOURCE_HOLDING_REGISTER, 10, 800);	/* 80.0: not above */
	assert_int_equal(fx_cycle(&f, 0), 0);
	fx_reg(&f, SOURCE_HOLDING_REGISTER, 10, 805);
	assert_int_equal(fx_cycle(&f, 1000), 1);
	n = last(&f, ALARM_ACTIVE, 1, "temp");
	assert_true(fabs(n->ev[0].value - 80.5) < 1e-9);
	assert_true(n->ev[0].raw == 805);
	for (i = 0; i < sizeof(flap) / sizeof(flap[0]); i++) {
		fx_reg(&f, SOURCE_HOLDING_REGISTER, 10, flap[i]);
		assert_int_equal(fx_cycle(&f, 2000 + i * 1000), 0);
	}
	fx_reg(&f, SOURCE_HOLDING_REGISTER, 10, 780);	/* 78.0: clears */
	assert_int_equal(fx_cycle(&f, 20000), 1);
	last(&f, ALARM_CLEARED, 1, "temp");
	assert_int_equal(f.nn, 2);	/* one alarm, not a storm */
	fx_close(&f);
}

static void
test_thresholds(void **state)
{
	struct fx f;
	const struct alarm_notification *n;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: low, device: d1, input_register: 1, type: int16, "
	    "below: -5, deadband: 1}\n"
	    "  - {name: band, device: d1, input_register: 2, above: 100, "
	    "below: 10}\n"
	    "  - {name: eq, device: d1, input_register: 3, scale: 0.1, "
	    "equals: 0.3}\n"
	    "  - {name: ne, device: d1, input_register: 4, not_equals: 7}\n"
	    "  - {name: f, device: d1, input_register: 20, type: float32, "
	    "order: CDAB, above: 99.5}\n"
	    "  - {name: word, device: d1, input_register: 30, bit: 3}\n"
	    "  - {name: word0, device: d1, input_register: 30, bit: 15, "
	    "active_when: 0}\n");
	fx_reg(&f, SOURCE_INPUT_REGISTER, 1, 0);
	fx_reg(&f, SOURCE_INPUT_REGISTER, 2, 50);
	fx_reg(&f, SOURCE_INPUT_REGISTER, 3, 4);
	fx_reg(&f, SOURCE_INPUT_REGISTER, 4, 7);
	fx_reg(&f, SOURCE_INPUT_REGISTER, 20, 0x0000);
	fx_reg(&f, SOURCE_INPUT_REGISTER, 21, 0x42C6);	/* 99.0 */
	fx_reg(&f, SOURCE_INPUT_REGISTER, 30, 0x8000);
	assert_int_equal(fx_cycle(&f, 0), 0);
	/* every rule raises in the same cycle: one mail listing them all */
	fx_reg(&f, SOURCE_INPUT_REGISTER, 1, (uint16_t)-6);
	fx_reg(&f, SOURCE_INPUT_REGISTER, 2, 9);
	fx_reg(&f, SOURCE_INPUT_REGISTER, 3, 3);	/* 3 * 0.1 == 0.3 */
	fx_reg(&f, SOURCE_INPUT_REGISTER, 4, 8);
	fx_reg(&f, SOURCE_INPUT_REGISTER, 21, 0x42C8);	/* 100.0 */
	fx_reg(&f, SOURCE_INPUT_REGISTER, 30, 0x0008);
	assert_int_equal(fx_cycle(&f, 1000), 1);
	n = last(&f, ALARM_ACTIVE, 7, "low");
	assert_true(n->ev[0].value == -6);
	assert_true(n->ev[4].value == 100.0);
	assert_true(n->ev[5].value == 1 && n->ev[5].raw == 8);
	/* low clears only at >= -4 (deadband 1) */
	fx_reg(&f, SOURCE_INPUT_REGISTER, 1, (uint16_t)-5);
	assert_int_equal(fx_cycle(&f, 2000), 0);
	fx_reg(&f, SOURCE_INPUT_REGISTER, 1, (uint16_t)-4);
	assert_int_equal(fx_cycle(&f, 3000), 1);
	last(&f, ALARM_CLEARED, 1, "low");
	/* band: above side too, no deadband */
	fx_reg(&f, SOURCE_INPUT_REGISTER, 2, 101);
	assert_int_equal(fx_cycle(&f, 4000), 0);	/* still outside */
	fx_reg(&f, SOURCE_INPUT_REGISTER, 2, 100);
	assert_int_equal(fx_cycle(&f, 5000), 1);
	last(&f, ALARM_CLEARED, 1, "band");
	fx_close(&f);
}

static void
test_latch_and_ack_bit(void **state)
{
	struct fx f;
	const struct alarm_notification *n;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: l, device: d1, coil: 1, latch: true, "
	    "ack: {coil: 2}}\n");
	fx_coil(&f, 2, 1);	/* ack already set at start: not an edge */
	fx_coil(&f, 1, 1);
	assert_int_equal(fx_cycle(&f, 0), 1);
	last(&f, ALARM_ACTIVE, 1, "l");
	fx_coil(&f, 1, 0);
	assert_int_equal(fx_run(&f, 1000, 60000, 1000), 0);	/* latched */
	assert_int_equal(alarm_engine_active(f.e), 1);
	fx_coil(&f, 2, 0);
	assert_int_equal(fx_cycle(&f, 61000), 0);
	fx_coil(&f, 2, 1);	/* rising edge */
	assert_int_equal(fx_cycle(&f, 62000), 2);
	n = f.n[f.nn - 2];
	assert_int_equal(n->kind, ALARM_ACKNOWLEDGED);
	assert_string_equal(n->ev[0].thread, "<a1@gw>");
	assert_string_equal(n->ev[0].subject, "100% a1 on");
	assert_string_equal(n->ev[0].by, "the ack bit coil 2");
	n = last(&f, ALARM_CLEARED, 1, "l");
	assert_string_equal(n->ev[0].thread, "<a1@gw>");
	assert_int_equal(alarm_engine_active(f.e), 0);
	/* latched and acknowledged while still on: clears when normal */
	fx_coil(&f, 2, 0);
	fx_coil(&f, 1, 1);
	assert_int_equal(fx_cycle(&f, 63000), 1);
	fx_coil(&f, 2, 1);
	assert_int_equal(fx_cycle(&f, 64000), 1);
	last(&f, ALARM_ACKNOWLEDGED, 1, "l");
	assert_int_equal(fx_cycle(&f, 65000), 0);
	fx_coil(&f, 1, 0);
	assert_int_equal(fx_cycle(&f, 66000), 1);
	last(&f, ALARM_CLEARED, 1, "l");
	fx_close(&f);
}

static void
test_repeat_stops_after_ack(void **state)
{
	struct fx f;
	struct alarm_status st;
	char err[128];
	const struct alarm_notification *n;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: r, device: d1, coil: 1, repeat: 10s}\n"
	    "  - {name: other, device: d1, coil: 3}\n");
	assert_int_equal(alarm_engine_ack(f.e, "r", NULL, 0, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "alarm r is not active");
	assert_int_equal(alarm_engine_ack(f.e, "nosuch", NULL, 0, err,
	    sizeof(err)), 1);
	fx_coil(&f, 1, 1);
	assert_int_equal(fx_cycle(&f, 0), 1);
	assert_int_equal(fx_run(&f, 1000, 9000, 1000), 0);
	assert_int_equal(fx_cycle(&f, 10000), 1);
	n = last(&f, ALARM_REMINDER, 1, "r");
	assert_string_equal(n->ev[0].thread, "<a1@gw>");
	assert_int_equal(fx_run(&f, 11000, 20000, 1000), 1);
	last(&f, ALARM_REMINDER, 1, "r");
	assert_int_equal(alarm_engine_ack(f.e, "r", NULL, 25000, err,
	    sizeof(err)), 0);
	status_of(&f, "r", 25000, &st);
	assert_true(st.active && st.acknowledged);
	assert_string_equal(st.state, "ACTIVE");
	assert_int_equal(fx_cycle(&f, 25001), 1);
	n = last(&f, ALARM_ACKNOWLEDGED, 1, "r");
	assert_string_equal(n->ev[0].thread, "<a1@gw>");
	assert_string_equal(n->ev[0].by, "via modbus2mail ack");
	/* a second ack is fine and silent */
	assert_int_equal(alarm_engine_ack(f.e, "r", NULL, 26000, err,
	    sizeof(err)), 0);
	assert_int_equal(fx_run(&f, 26000, 120000, 1000), 0);
	fx_close(&f);
}

static void
test_escalation_once(void **state)
{
	struct fx f;
	const struct alarm_notification *n;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: e, device: d1, coil: 1, to: [ops@example.com], "
	    "escalate: {after: 15m, to: [boss@example.com]}}\n"
	    "  - {name: e2, device: d1, coil: 2, "
	    "escalate: {after: 1m, to: [boss@example.com]}}\n");
	fx_coil(&f, 1, 1);
	assert_int_equal(fx_cycle(&f, 0), 1);
	assert_int_equal(fx_run(&f, 60000, 899000, 60000), 0);
	assert_int_equal(fx_cycle(&f, 900000), 1);
	n = last(&f, ALARM_ESCALATION, 1, "e");
	assert_int_equal(n->nto, 1);
	assert_true(has_rcpt(n, "boss@example.com"));
	assert_string_equal(n->ev[0].thread, "<a1@gw>");
	assert_int_equal(fx_run(&f, 960000, 3600000, 60000), 0);
	/* acknowledged before the delay: never escalated */
	fx_coil(&f, 2, 1);
	assert_int_equal(fx_cycle(&f, 3600000), 1);
	assert_int_equal(alarm_engine_ack(f.e, "e2", NULL, 3601000, NULL, 0),
	    0);
	assert_int_equal(fx_cycle(&f, 3602000), 1);
	last(&f, ALARM_ACKNOWLEDGED, 1, "e2");
	assert_int_equal(fx_run(&f, 3603000, 3900000, 10000), 0);
	fx_close(&f);
}

/* Acknowledge by reply: an open episode is found by its ACTIVE mail's id;
 * the sender must be a recipient (escalation ones once escalated); a
 * closed episode or another id finds nothing. */
static void
test_episode_by_message_id(void **state)
{
	struct alarm_episode ep[4];
	struct fx f;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: e, device: d1, coil: 1, to: [\"Ops <ops@example.com>\"], "
	    "escalate: {after: 1m, to: [boss@example.com]}}\n");
	assert_int_equal(alarm_engine_episode(f.e, "<a1@gw>", "ops@example.com",
	    ep, 4), 0);
	fx_coil(&f, 1, 1);
	assert_int_equal(fx_cycle(&f, 0), 1);
	assert_int_equal(alarm_engine_episode(f.e, "<a2@gw>", "ops@example.com",
	    ep, 4), 0);
	assert_int_equal(alarm_engine_episode(f.e, "<a1@gw>", "OPS@example.com",
	    ep, 4), 1);
	assert_string_equal(ep[0].name, "e");
	assert_true(ep[0].recipient);
	assert_int_equal(alarm_engine_episode(f.e, "<a1@gw>", "boss@example.com",
	    ep, 4), 1);
	assert_false(ep[0].recipient);		/* not escalated yet */
	assert_int_equal(fx_cycle(&f, 60000), 1);
	assert_int_equal(alarm_engine_episode(f.e, "<a1@gw>", "boss@example.com",
	    ep, 4), 1);
	assert_true(ep[0].recipient);
	assert_int_equal(alarm_engine_episode(f.e, "<a1@gw>", "x@example.com",
	    ep, 4), 1);
	assert_false(ep[0].recipient);
	fx_coil(&f, 1, 0);
	fx_cycle(&f, 61000);
	assert_int_equal(alarm_engine_episode(f.e, "<a1@gw>", "ops@example.com",
	    ep, 4), 0);
	fx_close(&f);
}

static void
test_chatter_shelves_with_one_mail(void **state)
{
	struct fx f;
	struct alarm_status st;
	const struct alarm_notification *n;
	uint64_t t = 0;
	int i;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: flappy, device: d1, coil: 7, notify_clear: false, "
	    "chatter: {raises: 3, within: 1m, shelve: 30m}}\n");
	for (i = 0; i < 10; i++) {
		fx_coil(&f, 7, 1);
		fx_cycle(&f, t += 1000);
		fx_coil(&f, 7, 0);
		fx_cycle(&f, t += 1000);
	}
	/* raises 1 and 2 mailed, the 3rd shelves with one mail, then quiet */
	assert_int_equal(f.nn, 3);
	assert_int_equal(f.n[0]->kind, ALARM_ACTIVE);
	assert_int_equal(f.n[1]->kind, ALARM_ACTIVE);
	n = f.n[2];
	assert_int_equal(n->kind, ALARM_SHELVED);
	assert_int_equal(n->ev[0].shelve_ms, 30 * 60000);
	assert_string_equal(n->ev[0].reason, "chatter: 3 raises within 60s");
	status_of(&f, "flappy", t, &st);
	assert_true(st.shelved);
	assert_int_equal(st.shelved_until, T0 + 5 + 1800);
	/* after the shelf a raise mails again */
	fx_coil(&f, 7, 1);
	assert_int_equal(fx_cycle(&f, t + 1800000), 1);
	last(&f, ALARM_ACTIVE, 1, "flappy");
	status_of(&f, "flappy", t + 1800000, &st);
	assert_false(st.shelved);
	fx_close(&f);
}

static void
test_manual_shelve(void **state)
{
	struct fx f;
	struct alarm_status st;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: m, device: d1, coil: 8, repeat: 5s}\n");
	assert_int_equal(alarm_engine_shelve(f.e, "m", 600000, "sensor swap",
	    0, T0, NULL, 0), 0);
	assert_int_equal(alarm_engine_shelve(f.e, "zz", 1, "", 0, T0, NULL, 0),
	    1);
	status_of(&f, "m", 0, &st);
	assert_true(st.shelved);
	assert_string_equal(st.reason, "sensor swap");
	fx_coil(&f, 8, 1);
	assert_int_equal(fx_run(&f, 1000, 60000, 1000), 0);	/* silent */
	assert_int_equal(alarm_engine_active(f.e), 1);
	/* unshelved while active: the ACTIVE mail goes out now */
	assert_int_equal(alarm_engine_shelve(f.e, "m", 0, NULL, 61000, T0 + 61,
	    NULL, 0), 0);
	assert_int_equal(fx_cycle(&f, 61000), 1);
	last(&f, ALARM_ACTIVE, 1, "m");
	/* shelved while active: no REMINDER, no CLEARED */
	alarm_engine_shelve(f.e, "m", 20000, "x", 62000, T0 + 62, NULL, 0);
	fx_coil(&f, 8, 0);
	assert_int_equal(fx_run(&f, 62000, 81000, 1000), 0);
	/* the shelf simply ends */
	fx_coil(&f, 8, 1);
	assert_int_equal(fx_cycle(&f, 82000), 1);
	status_of(&f, "m", 82000, &st);
	assert_false(st.shelved);
	assert_string_equal(st.reason, "");
	fx_close(&f);
}

/* rule NULL: every slot of the device, link and heartbeat included. */
static void
test_device_shelve(void **state)
{
	struct fx f;
	const struct alarm_notification *n;
	struct alarm_status st;
	size_t i;

	(void)state;
	fx_open(&f, HDR "    link_alarm: {after: 2s}\n"
	    "    heartbeat: {holding_register: 0, stale_after: 2s}\n"
	    "rules:\n"
	    "  - {name: a, device: d1, coil: 1}\n"
	    "  - {name: b, device: d1, coil: 2}\n");
	assert_int_equal(alarm_engine_shelve(f.e, NULL, 3600000, "motor",
	    0, T0, NULL, 0), 0);
	/* a, b, d1.link, d1.read, d1.heartbeat */
	assert_int_equal(alarm_engine_count(f.e), 5);
	for (i = 0; i < alarm_engine_count(f.e); i++) {
		alarm_engine_get(f.e, i, 0, &st);
		assert_true(st.shelved);
		assert_int_equal(st.shelved_until, T0 + 3600);
		assert_string_equal(st.reason, "motor");
	}
	fx_coil(&f, 1, 1);
	fx_coil(&f, 2, 1);
	assert_int_equal(fx_run(&f, 0, 5000, 1000), 0);
	fx_link(&f, 0);
	assert_int_equal(fx_run(&f, 6000, 20000, 1000), 0);	/* link too */
	fx_link(&f, 1);
	/* lifted: what is still on mails now, as one burst (the counter
	 * never moved, so the heartbeat alarm is on too) */
	assert_int_equal(alarm_engine_shelve(f.e, NULL, 0, NULL, 21000,
	    T0 + 21, NULL, 0), 0);
	assert_int_equal(fx_cycle(&f, 21000), 1);
	n = last(&f, ALARM_ACTIVE, 3, "a");
	assert_string_equal(n->ev[1].name, "b");
	assert_string_equal(n->ev[2].name, "d1.heartbeat");
	for (i = 0; i < alarm_engine_count(f.e); i++) {
		alarm_engine_get(f.e, i, 21000, &st);
		assert_false(st.shelved);
		assert_string_equal(st.reason, "");
	}
	fx_close(&f);
}

static void
test_link_loss(void **state)
{
	struct fx f;
	const struct alarm_notification *n;
	struct alarm_status st;

	(void)state;
	fx_open(&f, "hostname: gw\n"
	    "smtp: {url: \"smtp://127.0.0.1:25\", from: a@example.com, "
	    "tls: none}\n"
	    "defaults: {to: [ops@example.com]}\n"
	    "devices:\n"
	    "  - name: d1\n"
	    "    host: 127.0.0.1\n"
	    "    link_alarm: {after: 10s, severity: critical, "
	    "to: [maint@example.com]}\n"
	    "rules:\n"
	    "  - {name: p, device: d1, coil: 1, off_delay: 1s}\n"
	    "  - {name: q, device: d1, coil: 2, on_delay: 3s}\n");
	fx_coil(&f, 1, 1);
	assert_int_equal(fx_cycle(&f, 0), 1);
	fx_coil(&f, 2, 1);
	fx_cycle(&f, 1000);		/* q PENDING */
	fx_link(&f, 0);
	alarm_engine_link_error(f.e, "Connection refused");
	assert_int_equal(fx_run(&f, 2000, 11999, 1000), 0);
	assert_int_equal(fx_cycle(&f, 12000), 1);	/* 10 s of failures */
	n = last(&f, ALARM_ACTIVE, 1, "d1.link");
	assert_int_equal(n->ev[0].rule, -1);
	/* since: when it stopped answering, not when the alarm fired */
	assert_int_equal(n->ev[0].since, T0 + 2);
	assert_string_equal(n->ev[0].reason, "Connection refused");
	assert_int_equal(n->ev[0].severity, SEVERITY_CRITICAL);
	assert_true(has_rcpt(n, "maint@example.com") && n->nto == 1);
	/* down for an hour: nothing more, rules keep their state */
	assert_int_equal(fx_run(&f, 13000, 3600000, 1000), 0);
	status_of(&f, "p", 3600000, &st);
	assert_string_equal(st.state, "ACTIVE");
	status_of(&f, "q", 3600000, &st);
	assert_string_equal(st.state, "PENDING");
	/* back: one CLEARED for the link, p still on, q must be seen for
	 * its whole on_delay again */
	fx_link(&f, 1);
	assert_int_equal(fx_cycle(&f, 3601000), 1);
	n = last(&f, ALARM_CLEARED, 1, "d1.link");
	assert_string_equal(n->ev[0].thread, "<a2@gw>");
	assert_string_equal(n->ev[0].subject, "100% a2 on");
	assert_int_equal(n->ev[0].since, T0 + 2);
	assert_int_equal(fx_run(&f, 3602000, 3603999, 1000), 0);
	assert_int_equal(fx_cycle(&f, 3604000), 1);
	last(&f, ALARM_ACTIVE, 1, "q");
	/* a short outage below `after` raises nothing */
	fx_link(&f, 0);
	assert_int_equal(fx_run(&f, 3605000, 3614000, 1000), 0);
	fx_link(&f, 1);
	assert_int_equal(fx_run(&f, 3615000, 3620000, 1000), 0);
	fx_close(&f);
}

static void
test_unavailable_never_evaluated(void **state)
{
	struct fx f;
	struct readplan_req *rq;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: c, device: d1, coil: 1}\n"
	    "  - {name: t, device: d1, holding_register: 5, type: float32, "
	    "above: 50}\n");
	fx_coil(&f, 1, 1);
	fx_reg(&f, SOURCE_HOLDING_REGISTER, 5, 0x42C8);	/* 100.0 */
	assert_int_equal(fx_cycle(&f, 0), 1);
	last(&f, ALARM_ACTIVE, 2, "c");
	/* the coil request fails (exception) with the link up: its 0 in the
	 * buffer is not a value */
	rq = fx_req(&f, SOURCE_COIL, 1);
	rq->ok = 0;
	rq->bits[0] = 0;
	strcpy(rq->why, "exception 0x02 (illegal data address)");
	/* ... and after link_alarm.after (10 s) d1.read names it */
	assert_int_equal(fx_run(&f, 1000, 20000, 1000), 1);
	last(&f, ALARM_ACTIVE, 1, "d1.read");
	assert_string_equal(f.n[f.nn - 1]->ev[0].reason,
	    "coil 1+1: exception 0x02 (illegal data address)");
	assert_int_equal(alarm_engine_active(f.e), 3);
	/* a NaN float is not a measurement either, nor are ±Inf */
	fx_reg(&f, SOURCE_HOLDING_REGISTER, 5, 0x7FC0);
	assert_int_equal(fx_run(&f, 21000, 30000, 1000), 0);
	fx_reg(&f, SOURCE_HOLDING_REGISTER, 5, 0xFF80);	/* -Inf: no clear */
	assert_int_equal(fx_run(&f, 30500, 30500, 1000), 0);
	assert_int_equal(alarm_engine_active(f.e), 3);
	/* no plan at all with the link "up" */
	alarm_engine_cycle(f.e, NULL, 1, 31000, T0 + 31);
	assert_null(alarm_engine_take(f.e));
	rq->ok = 1;
	assert_int_equal(fx_cycle(&f, 32000), 2);
	assert_string_equal(f.n[f.nn - 2]->ev[0].name, "d1.read");
	last(&f, ALARM_CLEARED, 1, "c");
	fx_close(&f);
}

static void
test_heartbeat(void **state)
{
	struct fx f;
	const struct alarm_notification *n;
	uint64_t t;
	uint16_t hb = 0;

	(void)state;
	fx_open(&f, HDR
	    "    heartbeat: {holding_register: 0, stale_after: 10s}\n"
	    "    link_alarm: false\n");
	for (t = 0; t <= 30000; t += 1000) {
		fx_reg(&f, SOURCE_HOLDING_REGISTER, 0, hb++);
		assert_int_equal(fx_cycle(&f, t), 0);
	}
	/* the PLC program stops: counter frozen at 30 */
	assert_int_equal(fx_run(&f, 31000, 39999, 1000), 0);
	assert_int_equal(fx_cycle(&f, 40000), 1);
	n = last(&f, ALARM_ACTIVE, 1, "d1.heartbeat");
	assert_true(n->ev[0].value == 30);
	/* since: the counter's last change */
	assert_int_equal(n->ev[0].since, T0 + 30);
	assert_int_equal(fx_run(&f, 41000, 100000, 1000), 0);
	/* link down and up again while stale: a fresh first sample does not
	 * clear it, only a change does */
	fx_link(&f, 0);
	fx_run(&f, 101000, 105000, 1000);
	fx_link(&f, 1);
	assert_int_equal(fx_run(&f, 106000, 120000, 1000), 0);
	fx_reg(&f, SOURCE_HOLDING_REGISTER, 0, 31);
	assert_int_equal(fx_cycle(&f, 121000), 1);
	last(&f, ALARM_CLEARED, 1, "d1.heartbeat");
	/* an outage does not count as staleness */
	fx_link(&f, 0);
	fx_run(&f, 122000, 200000, 1000);
	fx_link(&f, 1);
	assert_int_equal(fx_run(&f, 201000, 210000, 1000), 0);
	assert_int_equal(fx_cycle(&f, 211000), 1);	/* 10 s unchanged */
	fx_close(&f);
}

/* A heartbeat register that cannot be read is no sign of life. */
static void
test_heartbeat_unreadable_is_stale(void **state)
{
	struct fx f;
	struct readplan_req *rq;

	(void)state;
	fx_open(&f, HDR
	    "    heartbeat: {input_register: 7, stale_after: 5s}\n"
	    "    link_alarm: false\n"
	    "rules:\n"
	    "  - {name: c, device: d1, coil: 1}\n");
	rq = fx_req(&f, SOURCE_INPUT_REGISTER, 7);
	rq->ok = 0;	/* exception on the heartbeat, coil read fine */
	assert_int_equal(fx_run(&f, 0, 4000, 1000), 0);
	assert_int_equal(fx_cycle(&f, 5000), 1);
	last(&f, ALARM_ACTIVE, 1, "d1.heartbeat");
	/* readable again: the first sample is no change, the next one is */
	rq->ok = 1;
	fx_reg(&f, SOURCE_INPUT_REGISTER, 7, 4);
	assert_int_equal(fx_run(&f, 6000, 8000, 1000), 0);
	fx_reg(&f, SOURCE_INPUT_REGISTER, 7, 5);
	assert_int_equal(fx_cycle(&f, 9000), 1);
	last(&f, ALARM_CLEARED, 1, "d1.heartbeat");
	/* a frozen counter that then becomes unreadable stays stale */
	assert_int_equal(fx_run(&f, 10000, 12000, 1000), 0);
	rq->ok = 0;
	assert_int_equal(fx_run(&f, 13000, 13999, 1000), 0);
	assert_int_equal(fx_cycle(&f, 14000), 1);
	last(&f, ALARM_ACTIVE, 1, "d1.heartbeat");
	fx_close(&f);
}

/* Why the link failed goes into the DEVICE.link mail and status. */
static void
test_link_reason_and_read_alarm(void **state)
{
	static const char why[] = "every request answered with exception "
	    "0x0B (gateway target failed to respond)";
	struct fx f;
	struct readplan_req *rq;
	char *buf;

	(void)state;
	fx_open(&f, HDR
	    "    link_alarm: {after: 2s}\n"
	    "rules:\n"
	    "  - {name: c, device: d1, coil: 1}\n"
	    "  - {name: t, device: d1, input_register: 300, type: float32, "
	    "above: 50}\n");
	assert_int_equal(fx_cycle(&f, 0), 0);
	fx_link(&f, 0);
	alarm_engine_link_error(f.e, why);
	assert_int_equal(fx_run(&f, 100, 2000, 100), 0);
	assert_int_equal(alarm_engine_next_deadline(f.e), 2100);
	assert_int_equal(fx_cycle(&f, 2100), 1);
	assert_string_equal(last(&f, ALARM_ACTIVE, 1, "d1.link")->ev[0].reason,
	    why);
	buf = fx_status(&f, 2100);
	assert_non_null(strstr(buf, "d1.link state=ACTIVE"));
	assert_non_null(strstr(buf, " error=\"every request answered with "));
	free(buf);
	fx_link(&f, 1);
	assert_int_equal(fx_cycle(&f, 2200), 1);
	last(&f, ALARM_CLEARED, 1, "d1.link");
	/* one request keeps failing while the coil is read: unavailable at
	 * once, DEVICE.read after link_alarm.after */
	rq = fx_req(&f, SOURCE_INPUT_REGISTER, 300);
	rq->ok = 0;
	strcpy(rq->why, "exception 0x02 (illegal data address)");
	assert_int_equal(fx_run(&f, 2300, 4200, 100), 0);
	buf = fx_status(&f, 4200);
	assert_non_null(strstr(buf, "  t state=NORMAL since=- acknowledged=no "
	    "shelved=no value=unavailable\n"));
	assert_null(strstr(buf, "  c "));
	free(buf);
	assert_int_equal(alarm_engine_next_deadline(f.e), 4300);
	assert_int_equal(fx_cycle(&f, 4300), 1);
	assert_string_equal(last(&f, ALARM_ACTIVE, 1, "d1.read")->ev[0].reason,
	    "input_register 300+2: exception 0x02 (illegal data address)");
	/* a +Inf float is no value either: no raise, still unavailable */
	rq->ok = 1;
	fx_reg(&f, SOURCE_INPUT_REGISTER, 300, 0x7F80);
	fx_reg(&f, SOURCE_INPUT_REGISTER, 301, 0x0000);
	assert_int_equal(fx_cycle(&f, 4400), 1);
	last(&f, ALARM_CLEARED, 1, "d1.read");
	assert_int_equal(fx_run(&f, 4500, 9000, 100), 0);
	assert_int_equal(alarm_engine_active(f.e), 0);
	fx_close(&f);
}

static void
test_burst_forty_bits(void **state)
{
	char yaml[8192], *p;
	struct fx f;
	const struct alarm_notification *n;
	int i;

	(void)state;
	p = yaml + snprintf(yaml, sizeof(yaml), "%srules:\n", HDR);
	for (i = 0; i < 40; i++)
		p += snprintf(p, sizeof(yaml) - (size_t)(p - yaml),
		    "  - {name: b%d, device: d1, coil: %d%s}\n", i, 100 + i,
		    i == 39 ? ", to: [ops@example.com, maint@example.com]" :
		    "");
	fx_open(&f, yaml);
	assert_int_equal(f.plan.nreq, 1);
	assert_int_equal(fx_cycle(&f, 0), 0);
	for (i = 0; i < 40; i++)
		fx_coil(&f, (uint16_t)(100 + i), 1);
	assert_int_equal(fx_cycle(&f, 1000), 1);
	n = last(&f, ALARM_ACTIVE, 40, "b0");
	assert_string_equal(n->ev[39].name, "b39");
	assert_int_equal(n->nto, 2);	/* deduplicated union */
	assert_true(has_rcpt(n, "maint@example.com"));
	for (i = 0; i < 40; i++)
		fx_coil(&f, (uint16_t)(100 + i), 0);
	assert_int_equal(fx_cycle(&f, 2000), 1);
	n = last(&f, ALARM_CLEARED, 40, "b0");
	assert_string_equal(n->ev[20].thread, "<a1@gw>");
	fx_close(&f);
}

static void
test_group_wait(void **state)
{
	struct fx f;
	const struct alarm_notification *n;

	(void)state;
	fx_open(&f, HDR "    group_wait: 5s\n" "rules:\n"
	    "  - {name: a, device: d1, coil: 1}\n"
	    "  - {name: b, device: d1, coil: 2, on_delay: 3s}\n"
	    "  - {name: c, device: d1, coil: 3}\n"
	    "  - {name: d, device: d1, coil: 4}\n");
	fx_coil(&f, 1, 1);
	fx_coil(&f, 2, 1);
	assert_int_equal(fx_cycle(&f, 0), 0);	/* window opens */
	assert_int_equal(alarm_engine_next_deadline(f.e), 3000);
	assert_int_equal(fx_run(&f, 1000, 4000, 1000), 0);	/* b joins */
	assert_int_equal(alarm_engine_next_deadline(f.e), 5000);
	assert_int_equal(fx_cycle(&f, 5000), 1);
	n = last(&f, ALARM_ACTIVE, 2, "a");
	assert_string_equal(n->ev[1].name, "b");
	/* raises after the window open a new one */
	fx_coil(&f, 3, 1);
	assert_int_equal(fx_cycle(&f, 6000), 0);
	/* d raises and clears inside the window: ACTIVE, then CLEARED */
	fx_coil(&f, 4, 1);
	assert_int_equal(fx_cycle(&f, 7000), 0);
	fx_coil(&f, 4, 0);
	assert_int_equal(fx_cycle(&f, 8000), 2);
	n = f.n[f.nn - 2];
	assert_int_equal(n->kind, ALARM_ACTIVE);
	assert_int_equal(n->nev, 2);		/* c and d */
	n = last(&f, ALARM_CLEARED, 1, "d");
	assert_string_equal(n->ev[0].thread, "<a2@gw>");
	assert_int_equal(fx_run(&f, 9000, 20000, 1000), 0);
	fx_close(&f);
}

static void
test_group_wait_zero_never_waits(void **state)
{
	struct fx f;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: a, device: d1, coil: 1}\n"
	    "  - {name: b, device: d1, coil: 2, on_delay: 1s}\n");
	fx_coil(&f, 1, 1);
	fx_coil(&f, 2, 1);
	assert_int_equal(fx_cycle(&f, 0), 1);
	last(&f, ALARM_ACTIVE, 1, "a");
	assert_int_equal(fx_cycle(&f, 1000), 1);
	last(&f, ALARM_ACTIVE, 1, "b");
	fx_close(&f);
}

static void
test_persistence(void **state)
{
	struct fx f;
	const struct alarm_notification *n;
	struct alarm_status st;
	char *text;
	struct alarm_engine *e2;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: a, device: d1, coil: 1, repeat: 1h}\n"
	    "  - {name: b, device: d1, coil: 2, repeat: 1h}\n"
	    "  - {name: s, device: d1, coil: 3}\n"
	    "  - {name: k, device: d1, coil: 4, "
	    "escalate: {after: 10m, to: [boss@example.com]}}\n");
	fx_coil(&f, 1, 1);
	fx_coil(&f, 2, 1);
	fx_coil(&f, 4, 1);
	assert_int_equal(fx_cycle(&f, 0), 1);
	alarm_engine_ack(f.e, "b", NULL, 1000, NULL, 0);
	fx_cycle(&f, 1000);
	alarm_engine_shelve(f.e, "s", 3600000, "new sensor", 1000, T0 + 1,
	    NULL, 0);
	text = alarm_engine_save(f.e, 2000, T0 + 2);
	assert_non_null(text);
	assert_non_null(strstr(text, "msgid=<a1@gw>"));
	/* restart: new engine, monotonic clock starts over, 5 min later */
	e2 = alarm_engine_new(f.cfg, 0);
	alarm_engine_load(e2, "# junk\nnosuch on=1 acked=0 escalated=0 "
	    "notified=1 since=1 shelved_until=0 msgid=- reason=\n"
	    "a on=1 broken\n\n", 500, T0 + 300);
	assert_int_equal(alarm_engine_active(e2), 0);
	alarm_engine_load(e2, text, 500, T0 + 300);
	free(text);
	alarm_engine_free(f.e);
	f.e = e2;
	assert_int_equal(alarm_engine_active(f.e), 3);
	status_of(&f, "s", 500, &st);
	assert_true(st.shelved);
	assert_string_equal(st.reason, "new sensor");
	assert_int_equal(st.shelved_until, T0 + 1 + 3600);
	status_of(&f, "a", 500, &st);
	assert_int_equal(st.since, T0);
	/* still on: no duplicate ACTIVE; escalation counts from the raise
	 * (10 min after T0 = 300 s after the restart) */
	assert_int_equal(fx_run(&f, 1000, 299000, 1000), 0);
	assert_int_equal(fx_run(&f, 300000, 301000, 1000), 1);
	n = last(&f, ALARM_ESCALATION, 1, "k");
	assert_string_equal(n->ev[0].thread, "<a1@gw>");
	/* the subject survived the restart, space and '%' included */
	assert_string_equal(n->ev[0].subject, "100% a1 on");
	/* not forgotten: clearing sends CLEARED, threaded, in one mail */
	fx_coil(&f, 1, 0);
	fx_coil(&f, 2, 0);
	assert_int_equal(fx_cycle(&f, 302000), 1);
	n = last(&f, ALARM_CLEARED, 2, "a");
	assert_string_equal(n->ev[0].thread, "<a1@gw>");
	assert_string_equal(n->ev[1].thread, "<a1@gw>");
	fx_close(&f);
}

static void
test_persistence_held_raise_not_lost(void **state)
{
	struct fx f;
	struct alarm_engine *e2;
	char *text;

	(void)state;
	fx_open(&f, HDR "    group_wait: 30s\n" "rules:\n"
	    "  - {name: a, device: d1, coil: 1}\n");
	fx_coil(&f, 1, 1);
	assert_int_equal(fx_cycle(&f, 0), 0);	/* held in the window */
	text = alarm_engine_save(f.e, 1000, T0 + 1);
	assert_non_null(strstr(text, "notified=0"));
	e2 = alarm_engine_new(f.cfg, 0);
	alarm_engine_load(e2, text, 0, T0 + 10);
	free(text);
	alarm_engine_free(f.e);
	f.e = e2;
	/* sent after restart, when the new window closes */
	assert_int_equal(fx_run(&f, 1000, 30000, 1000), 0);
	assert_int_equal(fx_cycle(&f, 31000), 1);
	last(&f, ALARM_ACTIVE, 1, "a");
	fx_close(&f);
}

static void
test_next_deadline_and_status(void **state)
{
	struct fx f;
	char *buf;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: a, device: d1, coil: 1, on_delay: 2s, off_delay: 4s, "
	    "repeat: 1m, escalate: {after: 90s, to: [b@example.com]}}\n");
	fx_cycle(&f, 0);
	assert_true(alarm_engine_next_deadline(f.e) == UINT64_MAX);
	fx_coil(&f, 1, 1);
	fx_cycle(&f, 1000);
	assert_int_equal(alarm_engine_next_deadline(f.e), 3000);
	fx_cycle(&f, 3000);
	assert_int_equal(alarm_engine_next_deadline(f.e), 63000);
	fx_run(&f, 63000, 63000, 1);
	assert_int_equal(alarm_engine_next_deadline(f.e), 93000);
	fx_coil(&f, 1, 0);
	fx_cycle(&f, 64000);
	assert_int_equal(alarm_engine_next_deadline(f.e), 68000);
	/* link down after 10 s default */
	fx_link(&f, 0);
	fx_cycle(&f, 65000);
	assert_int_equal(alarm_engine_next_deadline(f.e), 68000);
	/* raised 3 s after T0; every time with its UTC offset */
	setenv("TZ", "CET-1", 1);
	tzset();
	buf = fx_status(&f, 65000);
	assert_non_null(strstr(buf, "  a state=ACTIVE since="
	    "2026-11-23T08:00:03+01:00 acknowledged=no shelved=no\n"));
	setenv("TZ", "UTC", 1);
	tzset();
	assert_null(strstr(buf, "d1.link"));
	free(buf);
	/* a, d1.link, d1.read */
	assert_int_equal(alarm_engine_count(f.e), 3);
	fx_close(&f);
}

/* The timeline of docs/alarms.md, minute by minute (t in s after 08:00). */
static void
test_docs_timeline(void **state)
{
	struct fx f;
	const struct alarm_notification *n;

	(void)state;
	fx_open(&f, "hostname: gw\n"
	    "smtp: {url: \"smtp://127.0.0.1:25\", from: a@example.com, "
	    "tls: none}\n"
	    "recipients: {ops: [ops@example.com], maint: [maint@example.com]}\n"
	    "defaults: {to: [ops]}\n"
	    "devices:\n"
	    "  - {name: maxi1, host: 127.0.0.1}\n"
	    "rules:\n"
	    "  - {name: pump1_fault, device: maxi1, coil: 12, "
	    "severity: critical, on_delay: 2s, off_delay: 5s, latch: true, "
	    "ack: {coil: 100}, repeat: 30m, "
	    "escalate: {after: 15m, to: [maint]}}\n");
	fx_cycle(&f, 0);
	fx_coil(&f, 12, 1);
	assert_int_equal(fx_run(&f, 0, 1999, 500), 0);
	assert_int_equal(fx_cycle(&f, 2000), 1);
	last(&f, ALARM_ACTIVE, 1, "pump1_fault");
	assert_int_equal(fx_run(&f, 3000, 901999, 1000), 0);
	assert_int_equal(fx_cycle(&f, 902000), 1);
	n = last(&f, ALARM_ESCALATION, 1, "pump1_fault");
	assert_true(has_rcpt(n, "maint@example.com") && n->nto == 1);
	assert_int_equal(fx_run(&f, 903000, 1199000, 1000), 0);
	fx_coil(&f, 12, 0);			/* 08:20: latched */
	assert_int_equal(fx_run(&f, 1200000, 1801999, 1000), 0);
	assert_int_equal(fx_cycle(&f, 1802000), 1);
	last(&f, ALARM_REMINDER, 1, "pump1_fault");
	assert_int_equal(fx_run(&f, 1803000, 1859000, 1000), 0);
	fx_coil(&f, 100, 1);			/* 08:31:00 */
	assert_int_equal(fx_cycle(&f, 1860000), 1);
	last(&f, ALARM_ACKNOWLEDGED, 1, "pump1_fault");
	assert_int_equal(fx_run(&f, 1861000, 1864000, 1000), 0);
	assert_int_equal(fx_cycle(&f, 1865000), 1);
	last(&f, ALARM_CLEARED, 1, "pump1_fault");
	assert_int_equal(f.nn, 5);
	fx_close(&f);
}

static void
test_window_interactions(void **state)
{
	struct fx f;
	const struct alarm_notification *n;

	(void)state;
	fx_open(&f, HDR "    group_wait: 10s\n" "rules:\n"
	    "  - {name: a, device: d1, coil: 1}\n"
	    "  - {name: b, device: d1, coil: 2}\n"
	    "  - {name: c, device: d1, coil: 3}\n");
	/* acknowledged inside the window: ACTIVE goes out first */
	fx_coil(&f, 1, 1);
	fx_coil(&f, 2, 1);
	assert_int_equal(fx_cycle(&f, 0), 0);
	assert_int_equal(alarm_engine_ack(f.e, "a", NULL, 1000, NULL, 0), 0);
	assert_int_equal(fx_cycle(&f, 1000), 2);
	assert_int_equal(f.n[0]->kind, ALARM_ACTIVE);
	assert_int_equal(f.n[0]->nev, 2);
	n = last(&f, ALARM_ACKNOWLEDGED, 1, "a");
	assert_string_equal(n->ev[0].thread, "<a1@gw>");
	/* shelved inside the window: dropped, sent when unshelved */
	fx_coil(&f, 3, 1);
	assert_int_equal(fx_cycle(&f, 2000), 0);
	alarm_engine_shelve(f.e, "c", 60000, "test", 3000, T0 + 3, NULL, 0);
	assert_int_equal(fx_run(&f, 3000, 20000, 1000), 0);
	alarm_engine_shelve(f.e, "c", 0, NULL, 21000, T0 + 21, NULL, 0);
	assert_int_equal(fx_run(&f, 21000, 30000, 1000), 0);	/* window */
	assert_int_equal(fx_cycle(&f, 31000), 1);
	last(&f, ALARM_ACTIVE, 1, "c");
	/* clears of two episodes in one cycle: two threads, two mails */
	fx_coil(&f, 1, 0);
	fx_coil(&f, 2, 0);
	fx_coil(&f, 3, 0);
	assert_int_equal(fx_cycle(&f, 32000), 2);
	n = f.n[f.nn - 2];
	assert_int_equal(n->kind, ALARM_CLEARED);
	assert_int_equal(n->nev, 2);
	assert_string_equal(n->ev[1].thread, "<a1@gw>");
	n = last(&f, ALARM_CLEARED, 1, "c");
	assert_string_equal(n->ev[0].thread, "<a2@gw>");
	fx_close(&f);
}

static void
test_restart_while_link_down(void **state)
{
	struct fx f;
	struct alarm_engine *e2;
	char *text;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: a, device: d1, coil: 1, repeat: 10m}\n");
	fx_coil(&f, 1, 1);
	fx_cycle(&f, 0);
	alarm_engine_ack(f.e, "a", NULL, 500, NULL, 0);
	fx_link(&f, 0);
	fx_run(&f, 1000, 11000, 1000);
	last(&f, ALARM_ACTIVE, 1, "d1.link");
	text = alarm_engine_save(f.e, 11000, T0 + 11);
	e2 = alarm_engine_new(f.cfg, 0);
	alarm_engine_load(e2, text, 0, T0 + 20);
	free(text);
	alarm_engine_free(f.e);
	f.e = e2;
	fx_clear(&f);
	/* still down after the restart: neither CLEARED nor a new raise,
	 * and the acknowledged alarm sends no reminders */
	assert_int_equal(fx_run(&f, 1000, 3600000, 1000), 0);
	fx_link(&f, 1);
	assert_int_equal(fx_cycle(&f, 3601000), 1);
	last(&f, ALARM_CLEARED, 1, "d1.link");
	assert_int_equal(fx_run(&f, 3602000, 5000000, 10000), 0);
	fx_close(&f);
}

static void
test_recipients_deduplicated(void **state)
{
	struct fx f;
	const struct alarm_notification *n;

	(void)state;
	fx_open(&f, HDR "rules:\n"
	    "  - {name: a, device: d1, coil: 1, "
	    "to: [\"Ops <ops@example.com>\", x@example.com]}\n"
	    "  - {name: b, device: d1, coil: 2, "
	    "to: [OPS@example.com, y@example.com]}\n");
	fx_coil(&f, 1, 1);
	fx_coil(&f, 2, 1);
	assert_int_equal(fx_cycle(&f, 0), 1);
	n = last(&f, ALARM_ACTIVE, 2, "a");
	assert_int_equal(n->nto, 3);
	assert_string_equal(n->to[0], "Ops <ops@example.com>");
	assert_string_equal(n->to[1], "x@example.com");
	assert_string_equal(n->to[2], "y@example.com");
	fx_close(&f);
}

/* The state file is ours, but a torn or edited one must not hurt. */
static void
test_load_garbage(void **state)
{
	struct fx f;
	char big[4096], line[1000];
	size_t i;

	(void)state;
	fx_open(&f, HDR "rules:\n  - {name: a, device: d1, coil: 1}\n");
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	alarm_engine_load(f.e, big, 0, T0);
	alarm_engine_load(f.e, "", 0, T0);
	alarm_engine_load(f.e, "a", 0, T0);
	alarm_engine_load(f.e, "a \n a on=1\n", 0, T0);
	alarm_engine_load(f.e, "a on=2 acked=0 escalated=0 notified=1 since=1 "
	    "shelved_until=0 msgid=- reason=", 0, T0);
	alarm_engine_load(f.e, "a on=1 acked=0 escalated=0 notified=1 "
	    "since=18446744073709551615 shelved_until=0 msgid=- reason=", 0,
	    T0);
	alarm_engine_load(f.e, "a on=1 acked=0 escalated=0 notified=1 since=-1 "
	    "shelved_until=0 msgid=- reason=", 0, T0);
	assert_int_equal(alarm_engine_active(f.e), 0);
	/* over-long message id and reason are dropped or cut, not overrun */
	for (i = 0; i < 300; i++)
		big[i] = 'm';
	snprintf(big + 300, sizeof(big) - 300, "x");
	snprintf(line, sizeof(line), "a on=1 acked=0 escalated=0 notified=1 "
	    "since=%d shelved_until=%d msgid=<%.200s> reason=%.300s", T0 - 5,
	    T0 + 60, big, big);
	alarm_engine_load(f.e, line, 0, T0);
	assert_int_equal(alarm_engine_active(f.e), 1);
	fx_coil(&f, 1, 1);
	assert_int_equal(fx_run(&f, 0, 5000, 1000), 0);
	fx_close(&f);
}

/* 10,000 rules are 10,000 slots: a slot holds no text buffers until one
 * is set (1.5 KB per rule before, most of it never used). */
static void
test_slots_small(void **state)
{
	struct config *cfg = test_config_many(10000);
	struct alarm_engine *e;
	size_t used;

	(void)state;
	used = test_heap_in_use();
	e = alarm_engine_new(cfg, 1);
	used = test_heap_in_use() - used;
	assert_int_equal(alarm_engine_count(e), 10002);
	assert_true(used / alarm_engine_count(e) <= 256);
	alarm_engine_free(e);
	config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_on_off_delay),
		cmocka_unit_test(test_notify_clear_false_and_startup),
		cmocka_unit_test(test_deadband_flapping),
		cmocka_unit_test(test_thresholds),
		cmocka_unit_test(test_latch_and_ack_bit),
		cmocka_unit_test(test_repeat_stops_after_ack),
		cmocka_unit_test(test_escalation_once),
		cmocka_unit_test(test_episode_by_message_id),
		cmocka_unit_test(test_chatter_shelves_with_one_mail),
		cmocka_unit_test(test_manual_shelve),
		cmocka_unit_test(test_device_shelve),
		cmocka_unit_test(test_link_loss),
		cmocka_unit_test(test_unavailable_never_evaluated),
		cmocka_unit_test(test_heartbeat),
		cmocka_unit_test(test_heartbeat_unreadable_is_stale),
		cmocka_unit_test(test_link_reason_and_read_alarm),
		cmocka_unit_test(test_burst_forty_bits),
		cmocka_unit_test(test_group_wait),
		cmocka_unit_test(test_group_wait_zero_never_waits),
		cmocka_unit_test(test_persistence),
		cmocka_unit_test(test_persistence_held_raise_not_lost),
		cmocka_unit_test(test_next_deadline_and_status),
		cmocka_unit_test(test_docs_timeline),
		cmocka_unit_test(test_window_interactions),
		cmocka_unit_test(test_restart_while_link_down),
		cmocka_unit_test(test_recipients_deduplicated),
		cmocka_unit_test(test_load_garbage),
		cmocka_unit_test(test_slots_small),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
