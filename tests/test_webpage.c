/*
 * Unit tests for webpage.c: HTML escaping of YAML and PLC strings on every
 * page, the forms' CSRF token, Prometheus text (label escaping, histogram
 * buckets cumulated), /healthz status; and snapshot.c's board and the
 * `status` lines drawn from a snapshot.
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

#include "modbus2mail/history.h"
#include "modbus2mail/snapshot.h"
#include "modbus2mail/spool.h"
#include "modbus2mail/util.h"
#include "modbus2mail/webpage.h"
#include "test_common.h"

static const char yaml[] = HDR
    "rules:\n"
    "  - {name: p1, device: d1, coil: 0}\n"
    "  - {name: t1, device: d1, holding_register: 3, above: 5,\n"
    "     unit: \"<script>alert('x')</script>\"}\n";

/* d1 with both rules active, t1 at 7.5. */
static struct snapshot *
make_snapshot(const struct config *cfg)
{
	struct snapshot *s = snapshot_new(1, 2);

	s->cfg = cfg;
	s->taken = s->started = 1000;
	s->threads_alive = 1;
	s->ndev = 1;
	s->dev[0].name = "d1";
	strlcpy(s->dev[0].transport, "tcp 127.0.0.1\":502 unit 1 shared",
	    sizeof(s->dev[0].transport));
	s->dev[0].link_up = 1;
	s->dev[0].nalarm = 2;
	snapshot_poll_observe(&s->dev[0].poll, 0.003);
	snapshot_poll_observe(&s->dev[0].poll, 0.2);
	s->nalarm = 2;
	s->alarm[0].name = "p<1>";	/* as if a PLC or YAML string */
	s->alarm[0].rule = 0;
	s->alarm[0].severity = SEVERITY_WARNING;
	s->alarm[0].active = 1;
	s->alarm[0].transitions[0] = 2;
	s->alarm[1].name = cfg->rules[1].name;
	s->alarm[1].rule = 1;
	s->alarm[1].active = 1;
	s->alarm[1].has_value = 1;
	s->alarm[1].value = 7.5;
	return s;
}

static char *
render(void (*fn)(FILE *, const struct snapshot *,
    const struct webpage_ctx *), const struct snapshot *s,
    const struct webpage_ctx *ctx)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	assert_non_null(f);
	fn(f, s, ctx);
	fclose(f);
	return buf;
}

static void
test_overview_escaped_and_forms(void **state)
{
	struct config *cfg = test_config_load(yaml);
	struct snapshot *s = make_snapshot(cfg);
	struct webpage_ctx ctx = { "op<x>", "0123456789abcdef0123456789abcdef",
	    1, NULL, 0, 1000 };
	char *html;

	(void)state;
	html = render(webpage_overview, s, &ctx);
	assert_null(strstr(html, "<script>"));
	assert_null(strstr(html, "p<1>"));
	assert_non_null(strstr(html, "7.5 &lt;script&gt;alert(&#39;x&#39;)"
	    "&lt;/script&gt;"));
	assert_non_null(strstr(html, "p&lt;1&gt;"));
	assert_non_null(strstr(html, "tcp 127.0.0.1&quot;:502 unit 1 shared"));
	assert_non_null(strstr(html, "Log out op&lt;x&gt;"));
	assert_non_null(strstr(html, "name=\"csrf\" value=\"0123456789abcdef"
	    "0123456789abcdef\""));
	assert_non_null(strstr(html, "value=\"ack\">Ack</button>"));
	assert_non_null(strstr(html, "</td><td>-</td></tr>"));	/* no heartbeat */
	free(html);
	/* not logged in: no form at all, a way to log in */
	ctx.user = NULL;
	ctx.csrf = "";
	html = render(webpage_overview, s, &ctx);
	assert_null(strstr(html, "<form"));
	assert_non_null(strstr(html, "href=\"/login\""));
	free(html);
	html = render(webpage_config, s, &ctx);
	assert_null(strstr(html, "<script>"));
	assert_non_null(strstr(html, "(none)"));
	free(html);
	snapshot_free(s);
	config_free(cfg);
}

static void
test_metrics_text(void **state)
{
	struct config *cfg = test_config_load(yaml);
	struct snapshot *s = make_snapshot(cfg);
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	s->dev[0].name = "d\"1\\";
	s->dev[0].poll.req_crc = 7;
	s->dev[0].poll.req_short = 8;
	s->dev[0].poll.req_wrong_unit = 9;
	webpage_metrics(f, s);
	fclose(f);
	assert_non_null(strstr(buf, "modbus2mail_modbus_requests_total{device="
	    "\"d\\\"1\\\\\",result=\"crc_error\"} 7\n"));
	assert_non_null(strstr(buf, "result=\"short_frame\"} 8\n"));
	assert_non_null(strstr(buf, "result=\"wrong_unit\"} 9\n"));
	assert_non_null(strstr(buf, "# TYPE modbus2mail_alarm_active gauge\n"));
	assert_non_null(strstr(buf, "modbus2mail_alarm_active{device=\"d\\\"1"
	    "\\\\\",rule=\"p<1>\",severity=\"warning\"} 1\n"));
	assert_non_null(strstr(buf, "modbus2mail_alarm_transitions_total{"
	    "device=\"d\\\"1\\\\\",rule=\"p<1>\",kind=\"raise\"} 2\n"));
	/* 3 ms in the first bucket, 200 ms from le=0.25 on, cumulated */
	assert_non_null(strstr(buf, "le=\"0.005\"} 1\n"));
	assert_non_null(strstr(buf, "le=\"0.1\"} 1\n"));
	assert_non_null(strstr(buf, "le=\"0.25\"} 2\n"));
	assert_non_null(strstr(buf, "le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(buf, "modbus2mail_mail_path_ok 1\n"));
	free(buf);
	snapshot_free(s);
	config_free(cfg);
}

static void
test_healthz(void **state)
{
	struct config *cfg = test_config_load(yaml);
	struct snapshot *s = make_snapshot(cfg);
	FILE *f = fopen("/dev/null", "w");

	(void)state;
	assert_int_equal(webpage_healthz(f, s), 200);
	s->path_broken = 1;
	assert_int_equal(webpage_healthz(f, s), 503);
	s->path_broken = 0;
	s->threads_alive = 0;
	assert_int_equal(webpage_healthz(f, s), 503);
	fclose(f);
	snapshot_free(s);
	config_free(cfg);
}

static void
test_queue_and_history_escaped(void **state)
{
	struct webpage_ctx ctx = { "op", "0123456789abcdef0123456789abcdef",
	    1, "done <ok>", 0, 1000 };
	struct spool_entry e;
	struct history_row r;
	struct history_filter hf = { 0, "<d>", NULL, -1, 0 };
	char *rcpt = "<x@y>", *buf = NULL, *subj[] = { "[critical] <p1>" };
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	(void)state;
	memset(&e, 0, sizeof(e));
	strcpy(e.id, "ID1");
	strcpy(e.last_error, "550 <bad>");
	e.rcpts = &rcpt;
	e.nrcpt = 1;
	memset(&r, 0, sizeof(r));
	r.kind = HISTORY_ACK;
	strcpy(r.rule, "r<1>");
	strcpy(r.detail, "op via the web page & co");
	webpage_queue(f, NULL, NULL, 0, &e, subj, 1, &ctx);
	webpage_history_begin(f, &hf, "device=%3Cd%3E&x=1", &ctx);
	webpage_history_row(f, &r);
	webpage_history_end(f, NULL);
	fclose(f);
	assert_null(strstr(buf, "<x@y>"));
	assert_null(strstr(buf, "<bad>"));
	assert_null(strstr(buf, "r<1>"));
	assert_non_null(strstr(buf, "&lt;x@y&gt;"));
	assert_non_null(strstr(buf, "<td>[critical] &lt;p1&gt;</td>"));
	assert_non_null(strstr(buf, "done &lt;ok&gt;"));
	assert_non_null(strstr(buf, "value=\"retry\">Retry</button>"));
	assert_non_null(strstr(buf, "value=\"&lt;d&gt;\""));
	assert_non_null(strstr(buf, "href=\"/history.csv?device=%3Cd%3E&amp;"
	    "x=1\""));
	assert_non_null(strstr(buf, "<td>ack</td>"));
	assert_non_null(strstr(buf, "web page &amp; co"));
	free(buf);
}

/* A reader's reference keeps a snapshot alive past a newer publish. */
static void
test_board_references(void **state)
{
	struct snapshot_board b;
	struct snapshot *a, *t;

	(void)state;
	snapshot_board_init(&b);
	assert_null(snapshot_take(&b));
	a = snapshot_new(0, 0);
	snapshot_publish(&b, a);
	t = snapshot_take(&b);
	assert_ptr_equal(t, a);
	snapshot_publish(&b, snapshot_new(0, 0));
	assert_int_equal(t->refs, 1);
	snapshot_release(&b, t);
	t = snapshot_take(&b);
	assert_ptr_not_equal(t, NULL);
	snapshot_release(&b, t);
	snapshot_board_destroy(&b);
}

/* `status` (and the sign of life) from a snapshot: device line with its
 * errors and whole-device shelf; only alarms on, shelved or unavailable. */
static void
test_status_lines(void **state)
{
	struct alarm_status st = { .name = "d1.link", .rule = -1,
	    .state = "NORMAL", .reason = "", .why = "" };
	struct snapshot *s = snapshot_new(1, 2);
	char *dev = NULL, *al = NULL;
	size_t dlen, alen;
	FILE *df, *af;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	s->dev[0].name = "d1";
	s->dev[0].nreq = 3;
	strlcpy(s->dev[0].transport, "tcp 10.0.0.5:502 unit 1 shared",
	    sizeof(s->dev[0].transport));
	s->dev[0].poll.req_crc = 4;
	s->dev[0].poll.req_short = 5;
	s->dev[0].poll.req_wrong_unit = 6;
	strlcpy(s->dev[0].why, "connect 10.0.0.5:502: timeout",
	    sizeof(s->dev[0].why));
	strlcpy(s->dev[0].mail_ok_why, "exception 2",
	    sizeof(s->dev[0].mail_ok_why));
	st.shelved = 1;
	st.shelved_until = 3600;
	st.reason = "maintenance";
	snapshot_add_alarm(s, &st);
	st.name = "p1";
	st.rule = 0;
	st.state = "ACTIVE";
	st.active = 1;
	st.since = 60;
	st.shelved_until = 7200;
	st.why = "";
	snapshot_add_alarm(s, &st);
	s->dev[0].nalarm = 2;
	s->ndev = 1;
	df = open_memstream(&dev, &dlen);
	af = open_memstream(&al, &alen);
	snapshot_status(s, df, af);
	fclose(df);
	fclose(af);
	assert_string_equal(dev, "  d1 link=down last_good_poll=never "
	    "requests_per_cycle=3 transport=\"tcp 10.0.0.5:502 unit 1 shared\" "
	    "crc_errors=4 short_frames=5 wrong_unit=6 shelved_until="
	    "1970-01-01T01:00:00+00:00 error=\"connect 10.0.0.5:502: timeout\" "
	    "mail_ok_coil_error=\"exception 2\"\n");
	assert_string_equal(al, "  d1.link state=NORMAL since=- "
	    "acknowledged=no shelved=yes shelved_until=1970-01-01T01:00:00+00:00 "
	    "reason=\"maintenance\"\n"
	    "  p1 state=ACTIVE since=1970-01-01T00:01:00+00:00 acknowledged=no "
	    "shelved=yes shelved_until=1970-01-01T02:00:00+00:00 "
	    "reason=\"maintenance\"\n");
	/* one slot not shelved: the device is not */
	s->alarm[0].shelved = 0;
	free(dev);
	df = open_memstream(&dev, &dlen);
	snapshot_status(s, df, df);
	fclose(df);
	assert_non_null(strstr(dev, "wrong_unit=6 error="));
	free(dev);
	free(al);
	snapshot_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_overview_escaped_and_forms),
		cmocka_unit_test(test_metrics_text),
		cmocka_unit_test(test_healthz),
		cmocka_unit_test(test_queue_and_history_escaped),
		cmocka_unit_test(test_board_references),
		cmocka_unit_test(test_status_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
