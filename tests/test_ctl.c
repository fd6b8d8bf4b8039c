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

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>

#include <poll.h>
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
	char *dev[] = { "unshelve", "maxi1" };
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
	assert_int_equal(ctl_req_from_args(2, dev, &req, err, sizeof(err)), 0);
	assert_int_equal(req.verb, CTL_UNSHELVE);
	roundtrip(&req, "unshelve maxi1");
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
		{ "unshelve", "malformed unshelve request" },
		{ "unshelve a b", "malformed unshelve request" },
		{ "shelve p", "malformed shelve request" },
		{ "shelve p 10", "malformed shelve request" },
		{ "shelve p x reason", "malformed shelve request" },
		{ "shelve p -1 reason", "malformed shelve request" },
		{ "shelve p 99999999999999999999999 r", "malformed shelve "
		    "request" },
		{ "shelve p 10 a\rb", "malformed shelve request" },
		{ "web= ack p", "malformed web user" },
		{ "web=op", "malformed web user" },
		{ "web=op\x01 ack p", "malformed web user" },
		{ "web=op ack", "malformed ack request" },
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

/* A request from the daemon's web page names its user, both ways. */
static void
test_web_user(void **state)
{
	struct ctl_req req, back;
	char line[1024], err[128];

	(void)state;
	memset(&req, 0, sizeof(req));
	req.verb = CTL_SHELVE;
	strcpy(req.name, "pump1");
	req.ms = 3600000;
	strcpy(req.reason, "by operator1 via the web page");
	strcpy(req.user, "operator1");
	assert_int_equal(ctl_req_encode(&req, line, sizeof(line)), 0);
	assert_string_equal(line, "web=operator1 shelve pump1 3600000 by "
	    "operator1 via the web page");
	assert_int_equal(ctl_req_decode(line, &back, err, sizeof(err)), 0);
	assert_string_equal(back.user, "operator1");
	assert_string_equal(back.name, "pump1");
	assert_string_equal(back.reason, req.reason);
	assert_int_equal(ctl_req_decode("ack pump1", &back, err, sizeof(err)),
	    0);
	assert_string_equal(back.user, "");
	strcpy(req.user, "two words");
	assert_int_equal(ctl_req_encode(&req, line, sizeof(line)), -1);
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

/* The daemon's side in a temporary directory; the handler counts. */
struct server {
	char dir[32], path[128];
	struct ctl *ctl;
	int calls;
	enum ctl_verb last;
	size_t replysize;		/* octets the handler writes */
};

static int
handler(const struct ctl_req *req, FILE *out, void *arg)
{
	struct server *sv = arg;
	size_t i;

	sv->calls++;
	sv->last = req->verb;
	if (req->verb == CTL_ACK) {
		fprintf(out, "no rule '%s'", req->name);
		return -1;
	}
	for (i = 0; i < sv->replysize; i++)
		fputc('a' + (int)(i % 26), out);
	return 0;
}

static void
server_open(struct server *sv)
{
	memset(sv, 0, sizeof(*sv));
	strcpy(sv->dir, "/tmp/m2m-ctl-XXXXXX");
	assert_non_null(mkdtemp(sv->dir));
	snprintf(sv->path, sizeof(sv->path), "%s/control.sock", sv->dir);
	assert_non_null(sv->ctl = ctl_open(sv->path, handler, sv));
}

static void
server_close(struct server *sv)
{
	ctl_close(sv->ctl);
	assert_int_equal(access(sv->path, F_OK), -1);
	rmdir(sv->dir);
}

/* A few turns of the daemon's loop at time now; poll() never waits. */
static void
pump(struct server *sv, uint64_t now)
{
	struct pollfd pfd[CTL_POLLFDS];
	int i, timeout;

	for (i = 0; i < 4; i++) {
		timeout = 5000;
		ctl_pollfds(sv->ctl, pfd, now, &timeout);
		assert_int_not_equal(poll(pfd, CTL_POLLFDS, 0), -1);
		ctl_events(sv->ctl, pfd, now);
	}
}

static int
client(struct server *sv, const char *send_first)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd;

	strcpy(sun.sun_path, sv->path);
	assert_int_not_equal(fd = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)),
	    0);
	if (send_first != NULL)
		assert_int_equal(write(fd, send_first, strlen(send_first)),
		    (ssize_t)strlen(send_first));
	return fd;
}

/* The whole reply up to EOF, the server pumped at now meanwhile. */
static char *
reply(struct server *sv, int fd, uint64_t now, size_t *len)
{
	char *buf = NULL;
	size_t have = 0, cap = 0;
	ssize_t n;
	int turns;

	for (turns = 0; turns < 100000; turns++) {
		pump(sv, now);
		if (cap - have < 65536)
			assert_non_null(buf = realloc(buf, cap += 1 << 20));
		n = recv(fd, buf + have, cap - have - 1, MSG_DONTWAIT);
		if (n == 0)
			break;
		if (n > 0)
			have += (size_t)n;
	}
	assert_true(turns < 100000);
	buf[have] = '\0';
	if (len != NULL)
		*len = have;
	close(fd);
	return buf;
}

static void
assert_reply(struct server *sv, int fd, uint64_t now, const char *want)
{
	char *got = reply(sv, fd, now, NULL);

	assert_string_equal(got, want);
	free(got);
}

/* A client that stops mid-line holds nobody up and goes at its deadline. */
static void
test_partial_request_never_waits(void **state)
{
	struct server sv;
	char c;
	int slow, fd;

	(void)state;
	server_open(&sv);
	alarm(20);			/* a blocking read never returns */
	slow = client(&sv, "sta");
	pump(&sv, 1000);
	assert_int_equal(sv.calls, 0);
	fd = client(&sv, "status\n");
	assert_reply(&sv, fd, 1500, "ok\n");
	assert_int_equal(sv.calls, 1);
	assert_int_equal(sv.last, CTL_STATUS);
	/* the slow one gets the rest of its 2 s, then EOF */
	pump(&sv, 2999);
	assert_int_equal(recv(slow, &c, 1, MSG_DONTWAIT), -1);
	pump(&sv, 3000);
	assert_int_equal(recv(slow, &c, 1, MSG_DONTWAIT), 0);
	assert_int_equal(sv.calls, 1);
	alarm(0);
	close(slow);
	server_close(&sv);
}

/* Line split over writes, EOF without newline, errors, too long. */
static void
test_requests_and_errors(void **state)
{
	struct server sv;
	char line[2048];
	int fd;

	(void)state;
	server_open(&sv);
	fd = client(&sv, "fl");
	pump(&sv, 0);
	assert_int_equal(write(fd, "ush\n", 4), 4);
	assert_reply(&sv, fd, 0, "ok\n");
	assert_int_equal(sv.last, CTL_FLUSH);
	fd = client(&sv, "status");
	shutdown(fd, SHUT_WR);
	assert_reply(&sv, fd, 0, "ok\n");
	fd = client(&sv, "ack pump1\n");
	assert_reply(&sv, fd, 0, "error: no rule 'pump1'\n");
	fd = client(&sv, "reboot\n");
	assert_reply(&sv, fd, 0, "error: unknown request\n");
	memset(line, 'x', sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	fd = client(&sv, line);
	assert_reply(&sv, fd, 0, "error: request too long\n");
	assert_int_equal(sv.calls, 3);
	/* a client that goes without a word */
	close(client(&sv, NULL));
	pump(&sv, 0);
	server_close(&sv);
}

/* A reply larger than the socket buffer goes out as the client reads. */
static void
test_big_reply_never_blocks(void **state)
{
	struct server sv;
	size_t len, i;
	char *got;
	int fd;

	(void)state;
	server_open(&sv);
	sv.replysize = 4 << 20;
	alarm(20);			/* a blocking write never returns */
	fd = client(&sv, "status\n");
	pump(&sv, 0);			/* the client reads nothing yet */
	got = reply(&sv, fd, 0, &len);
	alarm(0);
	assert_int_equal(len, 3 + sv.replysize);
	assert_memory_equal(got, "ok\n", 3);
	for (i = 0; i < sv.replysize; i++)
		assert_int_equal(got[3 + i], 'a' + (int)(i % 26));
	free(got);
	server_close(&sv);
}

/* All slots taken: the next client waits in the backlog, then is served. */
static void
test_slots_full(void **state)
{
	struct server sv;
	int idle[CTL_POLLFDS - 1], fd;
	size_t i;

	(void)state;
	server_open(&sv);
	for (i = 0; i < CTL_POLLFDS - 1; i++)
		idle[i] = client(&sv, NULL);
	pump(&sv, 0);
	fd = client(&sv, "status\n");
	pump(&sv, 1000);
	assert_int_equal(sv.calls, 0);
	assert_reply(&sv, fd, 2000, "ok\n");
	assert_int_equal(sv.calls, 1);
	for (i = 0; i < CTL_POLLFDS - 1; i++)
		close(idle[i]);
	server_close(&sv);
}

static void
test_listen_mode_without_umask(void **state)
{
	struct server sv;
	struct stat st;
	mode_t old;

	(void)state;
	old = (mode_t)syscall(SYS_umask, 0);
	umask_calls = 0;
	server_open(&sv);
	syscall(SYS_umask, old);
	assert_int_equal(umask_calls, 0);
	assert_int_equal(stat(sv.path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0600);
	server_close(&sv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_args_roundtrip),
		cmocka_unit_test(test_args_refused),
		cmocka_unit_test(test_decode_refused),
		cmocka_unit_test(test_encode_limits),
		cmocka_unit_test(test_web_user),
		cmocka_unit_test(test_partial_request_never_waits),
		cmocka_unit_test(test_requests_and_errors),
		cmocka_unit_test(test_big_reply_never_blocks),
		cmocka_unit_test(test_slots_full),
		cmocka_unit_test(test_listen_mode_without_umask),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
