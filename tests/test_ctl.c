/*
 * Unit tests for ctl.c: the control protocol (command line to request,
 * request to line and back, what the daemon refuses to decode) and the
 * daemon side of the socket.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <sys/syscall.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "modbus2mail/ctl.h"

#define NARGS(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* Encodes req, decodes the line, and checks nothing changed. */
static void
roundtrip(const struct ctl_req *req, const char *want_line)
{
	struct ctl_req back;
	char line[1024], err[128];

	assert_int_equal(ctl_req_encode(req, line, sizeof(line)), 0);
	assert_string_equal(line, want_line);
	assert_int_equal(ctl_req_decode(line, &back, err, sizeof(err)), 0);
	assert_int_equal(back.verb, req->verb);
	assert_string_equal(back.name, req->name);
	assert_int_equal(back.ms, req->ms);
	assert_string_equal(back.reason, req->reason);
}

static void
test_args_roundtrip(void **state)
{
	char *status[] = { "status" }, *flush[] = { "flush" };
	char *ack[] = { "ack", "pump1_fault" };
	char *shelve[] = { "shelve", "pump1", "2h" };
	char *why[] = { "shelve", "pump1", "30m", "--reason", "valve work, B2" };
	char *unshelve[] = { "shelve", "pump1", "0" };
	struct ctl_req req;
	char err[256];

	(void)state;
	assert_int_equal(ctl_req_from_args(1, status, &req, err,
	    sizeof(err)), 0);
	roundtrip(&req, "status");
	assert_int_equal(ctl_req_from_args(1, flush, &req, err, sizeof(err)), 0);
	roundtrip(&req, "flush");
	assert_int_equal(ctl_req_from_args(2, ack, &req, err, sizeof(err)), 0);
	roundtrip(&req, "ack pump1_fault");
	assert_int_equal(ctl_req_from_args(3, shelve, &req, err,
	    sizeof(err)), 0);
	roundtrip(&req, "shelve pump1 7200000 manual");
	assert_int_equal(ctl_req_from_args(5, why, &req, err, sizeof(err)), 0);
	roundtrip(&req, "shelve pump1 1800000 valve work, B2");
	assert_int_equal(ctl_req_from_args(3, unshelve, &req, err,
	    sizeof(err)), 0);
	roundtrip(&req, "shelve pump1 0 manual");
}

static void
test_args_refused(void **state)
{
	char *status[] = { "status", "x" }, *ack[] = { "ack" };
	char *sp[] = { "ack", "two words" };
	char *dur[] = { "shelve", "p", "soon" };
	char *nl[] = { "shelve", "p", "1h", "--reason", "a\nb" };
	char *opt[] = { "shelve", "p", "1h", "--why", "x" };
	struct ctl_req req;
	char err[256];

	(void)state;
	assert_int_equal(ctl_req_from_args(NARGS(status), status, &req, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "usage: modbus2mail status [-c FILE]");
	assert_int_equal(ctl_req_from_args(NARGS(ack), ack, &req, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "usage: modbus2mail ack [-c FILE] RULE");
	assert_int_equal(ctl_req_from_args(NARGS(sp), sp, &req, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "bad name 'two words'"));
	assert_int_equal(ctl_req_from_args(NARGS(dur), dur, &req, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "bad duration 'soon'"));
	assert_int_equal(ctl_req_from_args(NARGS(nl), nl, &req, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "one line"));
	assert_int_equal(ctl_req_from_args(NARGS(opt), opt, &req, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "usage: modbus2mail shelve"));
}

static void
test_decode_refused(void **state)
{
	static const struct {
		const char *line, *err;
	} bad[] = {
		{ "", "unknown request" },
		{ "reboot", "unknown request" },
		{ "statusx", "unknown request" },
		{ "status now", "malformed status request" },
		{ "flush ", "malformed flush request" },
		{ "ack", "malformed ack request" },
		{ "ack ", "malformed ack request" },
		{ "ack a b", "malformed ack request" },
		{ "ack a\tb", "malformed ack request" },
		{ "shelve p", "malformed shelve request" },
		{ "shelve p 10", "malformed shelve request" },
		{ "shelve p x reason", "malformed shelve request" },
		{ "shelve p -1 reason", "malformed shelve request" },
		{ "shelve p 99999999999999999999999 r", "malformed shelve "
		    "request" },
		{ "shelve p 10 a\rb", "malformed shelve request" },
	};
	struct ctl_req req;
	char err[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (ctl_req_decode(bad[i].line, &req, err, sizeof(err)) != -1)
			fail_msg("decoded '%s'", bad[i].line);
		assert_string_equal(err, bad[i].err);
	}
}

static void
test_encode_limits(void **state)
{
	struct ctl_req req;
	char line[16], err[128];

	(void)state;
	memset(&req, 0, sizeof(req));
	req.verb = CTL_ACK;
	memset(req.name, 'r', sizeof(req.name) - 1);
	assert_int_equal(ctl_req_encode(&req, line, sizeof(line)), -1);
	/* An empty reason survives the trip. */
	req.verb = CTL_SHELVE;
	strcpy(req.name, "p");
	req.ms = 5;
	assert_int_equal(ctl_req_encode(&req, line, sizeof(line)), 0);
	assert_string_equal(line, "shelve p 5 ");
	assert_int_equal(ctl_req_decode(line, &req, err, sizeof(err)), 0);
	assert_string_equal(req.reason, "");
	assert_null(ctl_verb_name((enum ctl_verb)99));
}

static int umask_calls;

/* Interposed: umask() is process-wide, the daemon's threads create files. */
mode_t
umask(mode_t mask)
{
	umask_calls++;
	return (mode_t)syscall(SYS_umask, mask);
}

static void
test_listen_mode_without_umask(void **state)
{
	char dir[] = "/tmp/m2m-ctl-XXXXXX", path[128];
	struct stat st;
	mode_t old;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/control.sock", dir);
	old = (mode_t)syscall(SYS_umask, 0);
	umask_calls = 0;
	fd = ctl_listen(path);
	syscall(SYS_umask, old);
	assert_int_not_equal(fd, -1);
	assert_int_equal(umask_calls, 0);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	close(fd);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_roundtrip),
		cmocka_unit_test(test_args_refused),
		cmocka_unit_test(test_decode_refused),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_listen_mode_without_umask),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
