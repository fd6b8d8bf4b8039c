/*
 * Unit tests for render.c: what `modbus2mail render` prints for a rule,
 * DEVICE.link and DEVICE.heartbeat, with and without the device's values,
 * and the decoding of a message for people.
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

#include "modbus2mail/config.h"
#include "modbus2mail/readplan.h"
#include "modbus2mail/render.h"

#include "test_common.h"

#define T0 1795417200 /* Mon, 23 Nov 2026 07:00:00 UTC */

static const char yaml[] = HDR
    "    heartbeat: {holding_register: 0, stale_after: 10s}\n"
    "rules:\n"
    "  - name: hot\n"
    "    device: d1\n"
    "    holding_register: 10\n"
    "    scale: 0.1\n"
    "    unit: \"\xc2\xb0" "C\"\n"
    "    above: 80\n"
    "    subject: \"Temp\xc3\xa9rature {value}{unit} on {device}\"\n";

static int
starts(const char *s, const char *prefix)
{
	if (strncmp(s, prefix, strlen(prefix)) == 0)
		return 1;
	print_error("got:\n%s\nexpected it to start with:\n%s\n", s, prefix);
	return 0;
}

/* Output and note of one render_rule() call; returns its exit code. */
static int
render(const struct config *cfg, const char *rule,
    const struct render_input *in, char **out, char **note)
{
	size_t olen, nlen;
	FILE *o, *n;
	int r;

	o = open_memstream(out, &olen);
	n = open_memstream(note, &nlen);
	assert_non_null(o);
	assert_non_null(n);
	r = render_rule(cfg, rule, in, o, n);
	fclose(o);
	fclose(n);
	return r;
}

static void
test_rule_without_device(void **state)
{
	struct config *cfg = test_config_load(yaml);
	struct render_input in = { .why = "Connection refused", .now = T0 };
	char *out, *note;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	assert_int_equal(render(cfg, "hot", &in, &out, &note), 0);
	/* the preview: decoded subject first, body, then the fields */
	assert_true(starts(out, "Subject: Temp\xc3\xa9rature 81\xc2\xb0"
	    "C on d1\n\nACTIVE at 07:00 +00:00\n\n81 \xc2\xb0" "C (limit: "
	    "above 80)\n"));
	assert_non_null(strstr(out, "\nTo acknowledge: run `modbus2mail ack "
	    "hot` on gw.\n"));
	assert_non_null(strstr(out, "\n-- header fields as sent, decoded --\n"
	    "From: a@example.com\nTo: ops@example.com\nSubject: Temp\xc3\xa9"
	    "rature 81\xc2\xb0" "C on d1\n"));
	assert_null(strchr(out, '\r'));
	assert_string_equal(note, "hot: rendered for 81, a value that trips "
	    "it (d1 not read: Connection refused)\n");
	free(out);
	free(note);
	/* the wire form: encoded subject, quoted-printable body, CRLF */
	in.raw = 1;
	assert_int_equal(render(cfg, "hot", &in, &out, &note), 0);
	assert_true(starts(out, "From: a@example.com\r\n"));
	assert_non_null(strstr(out, "\r\nSubject: =?utf-8?B?"));
	assert_non_null(strstr(out, "\r\n81 =C2=B0C (limit: above 80)\r\n"));
	free(out);
	free(note);
	assert_int_equal(render(cfg, "nosuch", &in, &out, &note), 1);
	assert_string_equal(out, "");
	assert_string_equal(note, "modbus2mail render: no rule 'nosuch' in "
	    "test.yaml (nor a DEVICE.link or DEVICE.heartbeat alarm)\n");
	free(out);
	free(note);
	config_free(cfg);
}

/* The device answered: the mail shows what it reads now. */
static void
test_current_values(void **state)
{
	struct config *cfg = test_config_load(yaml);
	struct render_input in = { .now = T0 };
	struct readplan plan;
	char *out, *note;
	size_t i;

	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	assert_int_equal(readplan_build(cfg, 0, &plan), 0);
	for (i = 0; i < plan.nreq; i++)
		plan.req[i].ok = 1;
	test_plan_reg(&plan, SOURCE_HOLDING_REGISTER, 10, 653);
	test_plan_reg(&plan, SOURCE_HOLDING_REGISTER, 0, 66);
	in.plan = &plan;
	assert_int_equal(render(cfg, "hot", &in, &out, &note), 0);
	assert_non_null(strstr(out, "\n65.3 \xc2\xb0" "C (limit: above 80)\n"));
	assert_string_equal(note, "hot: rendered for its current value "
	    "65.3\n");
	free(out);
	free(note);
	assert_int_equal(render(cfg, "d1.heartbeat", &in, &out, &note), 0);
	assert_non_null(strstr(out, "\nPLC program on d1 looks stopped: "
	    "holding register 0 stuck at 66 since 06:59:50 +00:00\n"));
	free(out);
	free(note);
	/* a link alarm of a device that answers: an example error */
	assert_int_equal(render(cfg, "d1.link", &in, &out, &note), 0);
	assert_true(starts(out, "Subject: [critical] d1.link ACTIVE on "
	    "d1\n"));
	assert_non_null(strstr(out, "\nPLC d1 (127.0.0.1:502) not answering "
	    "since 06:59:50 +00:00 \xe2\x80\x94 last error: Connection timed "
	    "out\n"));
	free(out);
	free(note);
	readplan_free(&plan);
	config_free(cfg);
}

/* Encoded words (B and Q, folded), and quoted-printable soft breaks. */
static void
test_preview_decodes(void **state)
{
	static const char msg[] = "From: =?utf-8?Q?J=C3=BCrgen_M?= <j@x.y>\r\n"
	    "Subject: =?utf-8?B?w5xiZXI=?=\r\n =?utf-8?B?aGl0emU=?= at 9\r\n"
	    "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
	    "a=C3=A4b long=\r\nline\r\n";
	char *out = NULL;
	size_t len;
	FILE *f;

	(void)state;
	f = open_memstream(&out, &len);
	assert_non_null(f);
	render_preview(msg, sizeof(msg) - 1, f);
	fclose(f);
	assert_string_equal(out, "Subject: \xc3\x9c" "berhitze at 9\n\n"
	    "a\xc3\xa4" "b longline\n\n-- header fields as sent, decoded --\n"
	    "From: J\xc3\xbcrgen M <j@x.y>\n"
	    "Subject: \xc3\x9c" "berhitze at 9\n"
	    "Content-Transfer-Encoding: quoted-printable\n");
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rule_without_device),
		cmocka_unit_test(test_current_values),
		cmocka_unit_test(test_preview_decodes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
