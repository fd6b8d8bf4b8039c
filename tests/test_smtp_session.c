/*
 * test_smtp_session.c - the port-25 state machine against exact
 * transcripts (STYLE.md 15). A script is a list of steps:
 *
 *   ">bytes"     fed to the session (the rest is dropped if it waits for TLS)
 *   "<text"      exactly what the server answered since the last "<"
 *   "=text"      the message text handed over since the last "="
 *   "@env"       envelope of the last begin(): "sender>rcpt,rcpt"
 *   "!tls"       TLS handshake done
 *   "!timeout"   idle timeout
 *   "!commit"    a pending commit succeeds (async mode)
 *   "!auth"      a pending AUTH check answers (async mode)
 *   "?state"     smtp_session_wait(): input, commit, auth, tls, close
 *   "#n"         number of commits, aborts as "#commits,aborts"
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "modbus2mail/smtp_session.h"

struct fake {
	struct smtp_session *s;
	char out[65536];
	size_t outlen;
	char msg[65536];
	size_t msglen;
	char env[1024];
	int fail_begin, fail_data, fail_commit, async;
	int commits, aborts, open;
	int auth_ok;			/* the pending AUTH check's answer */
	char pending[4096];		/* unconsumed input while committing */
	size_t pendlen;
};

static char *const domains[] = { "example.com", "example.org" };

static struct smtp_session_params
params(void)
{
	struct smtp_session_params p;

	memset(&p, 0, sizeof(p));
	p.hostname = "gw.test";
	p.max_size = 1000;
	p.max_rcpts = 3;
	p.domains = domains;
	p.ndomains = 2;
	p.starttls = 1;
	p.auth = 1;
	return p;
}

static void
f_output(void *arg, const char *buf, size_t len)
{
	struct fake *f = arg;

	assert_true(f->outlen + len < sizeof(f->out));
	memcpy(f->out + f->outlen, buf, len);
	f->outlen += len;
}

static int
f_begin(void *arg, const char *sender, char *const *rcpts, size_t n)
{
	struct fake *f = arg;
	size_t i;

	assert_false(f->open);
	if (f->fail_begin)
		return -1;
	snprintf(f->env, sizeof(f->env), "%s>", sender);
	for (i = 0; i < n; i++) {
		if (i > 0)
			strncat(f->env, ",", sizeof(f->env) - strlen(f->env) - 1);
		strncat(f->env, rcpts[i], sizeof(f->env) - strlen(f->env) - 1);
	}
	f->open = 1;
	return 0;
}

static int
f_data(void *arg, const char *buf, size_t len)
{
	struct fake *f = arg;

	assert_true(f->open);
	if (f->fail_data)
		return -f->fail_data;	/* 2: a header line too long */
	assert_true(f->msglen + len < sizeof(f->msg));
	memcpy(f->msg + f->msglen, buf, len);
	f->msglen += len;
	return 0;
}

static void
f_end(void *arg)
{
	struct fake *f = arg;

	assert_true(f->open);
	f->open = 0;
	f->commits++;
	if (!f->async)
		smtp_session_commit_done(f->s, f->fail_commit ? NULL : "Q1");
}

static void
f_abort(void *arg)
{
	struct fake *f = arg;

	assert_true(f->open);
	f->open = 0;
	f->aborts++;
}

static void
f_auth(void *arg, const char *user, const char *pass)
{
	struct fake *f = arg;

	f->auth_ok = strcmp(user, "plc") == 0 && strcmp(pass, "s3cret") == 0;
	if (!f->async)
		smtp_session_auth_done(f->s, f->auth_ok);
}

static const struct smtp_session_ops fake_ops = {
	f_output, f_begin, f_data, f_end, f_abort, f_auth,
};

static void
feed(struct fake *f, const char *buf, size_t len)
{
	size_t n;

	n = smtp_session_feed(f->s, buf, len);
	if (n < len && (smtp_session_wait(f->s) == SMTP_WAIT_COMMIT ||
	    smtp_session_wait(f->s) == SMTP_WAIT_AUTH)) {
		assert_true(f->pendlen + len - n < sizeof(f->pending));
		memcpy(f->pending + f->pendlen, buf + n, len - n);
		f->pendlen += len - n;
	}
	/* TLS: the shell drops pipelined plaintext; CLOSE: ignores it. */
}

static const char *
waitname(enum smtp_session_wait w)
{
	switch (w) {
	case SMTP_WAIT_INPUT: return "input";
	case SMTP_WAIT_COMMIT: return "commit";
	case SMTP_WAIT_AUTH: return "auth";
	case SMTP_WAIT_TLS: return "tls";
	case SMTP_WAIT_CLOSE: return "close";
	}
	return "?";
}

/* Runs script; bytewise feeds every ">" step one byte at a time. */
static void
run(const struct smtp_session_params *p, struct fake *f,
    enum smtp_session_start how, const char *const *script, int bytewise)
{
	char buf[64];
	size_t i, j, len;

	f->s = smtp_session_new(p, &fake_ops, f);
	assert_non_null(f->s);
	smtp_session_start(f->s, how);
	for (i = 0; script[i] != NULL; i++) {
		const char *st = script[i], *arg = st + 1;

		switch (st[0]) {
		case '>':
			len = strlen(arg);
			if (!bytewise)
				feed(f, arg, len);
			else
				for (j = 0; j < len; j++)
					if (smtp_session_wait(f->s) ==
					    SMTP_WAIT_INPUT)
						feed(f, arg + j, 1);
			break;
		case '<':
			f->out[f->outlen] = '\0';
			if (strcmp(f->out, arg) != 0)
				fail_msg("step %zu: server said\n%s\nexpected"
				    "\n%s", i, f->out, arg);
			f->outlen = 0;
			break;
		case '=':
			assert_int_equal(f->msglen, strlen(arg));
			assert_memory_equal(f->msg, arg, f->msglen);
			f->msglen = 0;
			break;
		case '@':
			assert_string_equal(f->env, arg);
			break;
		case '?':
			assert_string_equal(waitname(smtp_session_wait(f->s)),
			    arg);
			break;
		case '#':
			snprintf(buf, sizeof(buf), "%d,%d", f->commits,
			    f->aborts);
			assert_string_equal(buf, arg);
			break;
		case '!':
			if (strcmp(arg, "tls") == 0)
				smtp_session_tls_done(f->s);
			else if (strcmp(arg, "timeout") == 0)
				smtp_session_timeout(f->s, SMTP_LIMIT_IDLE);
			else if (strcmp(arg, "commit") == 0 ||
			    strcmp(arg, "auth") == 0) {
				if (arg[0] == 'c')
					smtp_session_commit_done(f->s, "Q2");
				else
					smtp_session_auth_done(f->s,
					    f->auth_ok);
				len = f->pendlen;
				f->pendlen = 0;
				feed(f, f->pending, len);
			} else
				fail_msg("bad step %s", st);
			break;
		default:
			fail_msg("bad step %s", st);
		}
	}
	smtp_session_free(f->s);
	assert_false(f->open);
}

/* One run of sc with p, fed as it comes; async: commits wait for "!commit". */
static void
run_once(const struct smtp_session_params *p, const char *const *sc, int async)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->async = async;
	run(p, f, SMTP_START_OK, sc, 0);
	free(f);
}

#define EHLO_PLAIN							\
	"<250-gw.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"		\
	"250-STARTTLS\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n"
#define GREETING "<220 gw.test ESMTP modbus2mail\r\n"

static void
script(const char *const *sc)
{
	struct smtp_session_params p = params();
	struct fake *f;
	int bytewise;

	for (bytewise = 0; bytewise <= 1; bytewise++) {
		f = calloc(1, sizeof(*f));
		assert_non_null(f);
		run(&p, f, SMTP_START_OK, sc, bytewise);
		free(f);
	}
}

/* --- transcripts -------------------------------------------------------- */

static void
test_basic(void **state)
{
	static const char *const sc[] = {
		GREETING,
		">EHLO plc1\r\n", EHLO_PLAIN,
		">MAIL FROM:<dev@plc.local>\r\n", "<250 2.1.0 Ok\r\n",
		">RCPT TO:<ops@example.com>\r\n", "<250 2.1.5 Ok\r\n",
		">RCPT TO:<Maint@EXAMPLE.org>\r\n", "<250 2.1.5 Ok\r\n",
		">DATA\r\n", "<354 End data with <CR><LF>.<CR><LF>\r\n",
		"@dev@plc.local>ops@example.com,Maint@EXAMPLE.org",
		">Subject: hi\r\n\r\nbody\r\n.\r\n",
		"<250 2.0.0 Ok: queued as Q1\r\n",
		"=Subject: hi\r\n\r\nbody\r\n",
		">QUIT\r\n", "<221 2.0.0 Bye\r\n", "?close", "#1,0",
		NULL
	};
	script(sc);
}

/* The classic Arduino sketch: space after the colon, println endings. */
static void
test_arduino(void **state)
{
	static const char *const sc[] = {
		GREETING,
		">EHLO 192.168.1.177\r\n", EHLO_PLAIN,
		">MAIL FROM: <arduino@plc.local>\r\n", "<250 2.1.0 Ok\r\n",
		">RCPT TO: <ops@example.com>\r\n", "<250 2.1.5 Ok\r\n",
		">DATA\r\n", "<354 End data with <CR><LF>.<CR><LF>\r\n",
		">Subject: Alarm\r\nPump 1 fault\r\n.\r\n",
		"<250 2.0.0 Ok: queued as Q1\r\n",
		"=Subject: Alarm\r\nPump 1 fault\r\n",
		"@arduino@plc.local>ops@example.com",
		">QUIT\r\n", "<221 2.0.0 Bye\r\n",
		NULL
	};
	script(sc);
}

static void
test_pipelining(void **state)
{
	static const char *const sc[] = {
		GREETING,
		">EHLO a\r\nMAIL FROM:<a@b.c> SIZE=20 BODY=8BITMIME\r\n"
		"RCPT TO:<x@example.com>\r\nRCPT TO:<bad@other.net>\r\n"
		"RCPT TO:<y@example.com>\r\nDATA\r\nhello\r\n.\r\n"
		"MAIL FROM:<>\r\nRCPT TO:<z@example.com>\r\nDATA\r\n"
		"two\r\n.\r\nQUIT\r\n",
		EHLO_PLAIN "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		"550 5.7.1 <bad@other.net>: Relay access denied\r\n"
		"250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
		"250 2.0.0 Ok: queued as Q1\r\n250 2.1.0 Ok\r\n"
		"250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
		"250 2.0.0 Ok: queued as Q1\r\n221 2.0.0 Bye\r\n",
		"=hello\r\ntwo\r\n", "@>z@example.com", "#2,0",
		NULL
	};
	script(sc);
}

/* Commit answered later: the pipelined rest waits, order is kept. */
static void
test_async_commit(void **state)
{
	static const char *const sc[] = {
		GREETING,
		">HELO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@example.com>\r\n"
		"DATA\r\nhello\r\n.\r\nNOOP\r\nQUIT\r\n",
		"<250 gw.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n",
		"?commit",
		"!commit",
		"<250 2.0.0 Ok: queued as Q2\r\n250 2.0.0 Ok\r\n"
		"221 2.0.0 Bye\r\n",
		NULL
	};
	struct smtp_session_params p = params();

	run_once(&p, sc, 1);
}

static void
test_dot_stuffing(void **state)
{
	static const char *const sc[] = {
		GREETING,
		">HELO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@example.com>\r\n"
		"DATA\r\n",
		"<250 gw.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n",
		">..foo\r\n.bar\r\n...\r\nx.\r\n. \r\n\r\n.\r\n",
		"<250 2.0.0 Ok: queued as Q1\r\n",
		"=.foo\r\nbar\r\n..\r\nx.\r\n \r\n\r\n",
		/* empty message */
		">MAIL FROM:<a@b.c>\r\nRCPT TO:<x@example.com>\r\nDATA\r\n"
		".\r\n",
		"<250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"250 2.0.0 Ok: queued as Q1\r\n",
		"=",
		NULL
	};
	script(sc);
}

/*
 * SMTP smuggling: each fake end of data is followed by a smuggled
 * transaction; none of it may run, the message is refused at the real
 * CRLF.CRLF.
 */
static void
smuggle(const char *fake_end)
{
	char in[512];
	const char *sc[] = {
		GREETING,
		">HELO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@example.com>\r\n"
		"DATA\r\n",
		"<250 gw.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n",
		in,
		"<550 5.6.0 Message refused: bare CR or LF in message text "
		"(RFC 5321 2.3.8)\r\n",
		"#0,1", "=",
		">NOOP\r\n", "<250 2.0.0 Ok\r\n",
		NULL
	};

	snprintf(in, sizeof(in), ">Subject: x\r\n\r\nhi%sMAIL FROM:<ceo@"
	    "example.com>\r\nRCPT TO:<x@example.com>\r\nDATA\r\n\r\n"
	    "smuggled\r\n.\r\n", fake_end);
	script(sc);
}

static void
test_smuggling_lf_dot_lf(void **state)
{
	smuggle("\n.\n");
}

static void
test_smuggling_cr_dot_lf(void **state)
{
	smuggle("\r.\n");
}

static void
test_smuggling_lf_dot_crlf(void **state)
{
	smuggle("\n.\r\n");
}

static void
test_smuggling_cr_dot_cr(void **state)
{
	smuggle("\r\n.\r");
}

static void
test_bare_cr_in_text(void **state)
{
	static const char *const sc[] = {
		GREETING,
		">HELO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@example.com>\r\n"
		"DATA\r\na\rb\r\n.\r\n",
		"<250 gw.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"550 5.6.0 Message refused: bare CR or LF in message text "
		"(RFC 5321 2.3.8)\r\n",
		"#0,1",
		NULL
	};
	script(sc);
}

/* HELO/EHLO arguments go into Received: and the logs: no controls. */
static void
test_helo_control_chars(void **state)
{
	static const char *const sc[] = {
		GREETING,
		">EHLO evil\rBcc: attacker@evil.example\r\n",
		"<501 5.5.2 Syntax: control character in HELO/EHLO hostname\r\n",
		">EHLO a\r.\rb\r\nHELO \x1b[2Jx\r\nHELO a\tb\r\n"
		"EHLO x\x7f\r\n",
		"<501 5.5.2 Syntax: control character in HELO/EHLO hostname\r\n"
		"501 5.5.2 Syntax: control character in HELO/EHLO hostname\r\n"
		"501 5.5.2 Syntax: control character in HELO/EHLO hostname\r\n"
		"501 5.5.2 Syntax: control character in HELO/EHLO hostname\r\n",
		"?input",
		">HELO plc-1.example\r\n", "<250 gw.test\r\n",
		NULL
	};
	script(sc);
}

/* A routed recipient could reach a domain recipient_domains never saw. */
static void
test_routed_recipients(void **state)
{
	static const char *const sc[] = {
		GREETING,
		">HELO a\r\nMAIL FROM:<a@b.c>\r\n"
		"RCPT TO:<u@evil.com@example.com>\r\n"
		"RCPT TO:<u%evil.com@example.com>\r\n"
		"RCPT TO:<evil.com!u@example.com>\r\n"
		"RCPT TO: <@evil.com,@x.org:u@example.com>\r\n"
		"RCPT TO:<\"u@evil.com\"@example.com>\r\n"
		"RCPT TO:<u.v+tag@example.com>\r\n",
		"<250 gw.test\r\n250 2.1.0 Ok\r\n"
		"553 5.7.1 <u@evil.com@example.com>: Routed address refused\r\n"
		"553 5.7.1 <u%evil.com@example.com>: Routed address refused\r\n"
		"553 5.7.1 <evil.com!u@example.com>: Routed address refused\r\n"
		"553 5.7.1 <u@example.com>: Routed address refused\r\n"
		"553 5.7.1 <\"u@evil.com\"@example.com>: Routed address "
		"refused\r\n"
		"250 2.1.5 Ok\r\n",
		NULL
	};
	script(sc);
}

/* NUL in message text: refused like a bare CR or LF, the session goes on. */
static void
test_nul_in_data(void **state)
{
	static const char in[] = "HELO a\r\nMAIL FROM:<a@b.c>\r\n"
	    "RCPT TO:<x@example.com>\r\nDATA\r\nSubject: x\r\n\r\na\0b\r\n"
	    ".\r\nNOOP\r\n";
	struct smtp_session_params p = params();
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->s = smtp_session_new(&p, &fake_ops, f);
	smtp_session_start(f->s, SMTP_START_OK);
	feed(f, in, sizeof(in) - 1);
	f->out[f->outlen] = '\0';
	assert_string_equal(f->out, "220 gw.test ESMTP modbus2mail\r\n250 gw.test\r\n"
	    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
	    "354 End data with <CR><LF>.<CR><LF>\r\n"
	    "550 5.6.0 Message refused: NUL in message text\r\n"
	    "250 2.0.0 Ok\r\n");
	assert_int_equal(f->commits, 0);
	assert_int_equal(f->aborts, 1);
	smtp_session_free(f->s);
	free(f);
}

static void
test_size(void **state)
{
	static char big[1200 + 64];
	static const char *const sc[] = {
		GREETING,
		">EHLO a\r\n", EHLO_PLAIN,
		">MAIL FROM:<a@b.c> SIZE=1001\r\n",
		"<552 5.3.4 Message size exceeds fixed maximum message "
		"size\r\n",
		">MAIL FROM:<a@b.c> SIZE=1000\r\nRCPT TO:<x@example.com>\r\n"
		"DATA\r\n",
		"<250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n",
		big,
		"<552 5.3.4 Message size exceeds fixed maximum message "
		"size\r\n",
		"#0,1",
		/* the session goes on */
		">MAIL FROM:<a@b.c>\r\nRCPT TO:<x@example.com>\r\nDATA\r\n"
		"small\r\n.\r\n",
		"<250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"250 2.0.0 Ok: queued as Q1\r\n",
		"=small\r\n",
		NULL
	};
	size_t i;

	big[0] = '>';
	for (i = 1; i < 1200; i++)
		big[i] = (i % 50) == 49 ? '\n' : ((i % 50) == 48 ? '\r' : 'x');
	memcpy(big + 1200, "\r\n.\r\n", 6);
	script(sc);
}

static void
test_recipients(void **state)
{
	static const char *const sc[] = {
		GREETING,
		">HELO a\r\nMAIL FROM:<a@b.c>\r\n"
		"RCPT TO:<1@example.com>\r\nRCPT TO:<2@example.com>\r\n"
		"RCPT TO:<3@example.com>\r\nRCPT TO:<4@example.com>\r\n"
		"RCPT TO:<x@evil.example.net>\r\nRCPT TO:<nodomain>\r\n"
		"RCPT TO:<>\r\nRCPT TO:<a@example.com> NOTIFY=NEVER\r\n"
		"RCPT TO:<@relay.example.com:r@example.com>\r\n",
		"<250 gw.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		"250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n"
		"452 4.5.3 Error: too many recipients\r\n"
		"550 5.7.1 <x@evil.example.net>: Relay access denied\r\n"
		"501 5.1.3 Bad recipient address syntax\r\n"
		"501 5.1.3 Bad recipient address syntax\r\n"
		"555 5.5.4 Unsupported parameter NOTIFY=NEVER\r\n"
		"553 5.7.1 <r@example.com>: Routed address refused\r\n",
		">DATA\r\n.\r\n",
		"<354 End data with <CR><LF>.<CR><LF>\r\n"
		"250 2.0.0 Ok: queued as Q1\r\n",
		"@a@b.c>1@example.com,2@example.com,3@example.com",
		NULL
	};
	script(sc);
}

static void
test_sequence_and_syntax(void **state)
{
	static const char *const sc[] = {
		GREETING,
		">RCPT TO:<x@example.com>\r\n",
		"<503 5.5.1 Error: need MAIL command\r\n",
		">DATA\r\n", "<503 5.5.1 Error: need RCPT command\r\n",
		">HELO\r\n", "<501 5.5.4 Syntax: HELO/EHLO hostname\r\n",
		/* MAIL before HELO is accepted, as Postfix does */
		">MAIL FROM:<a@b.c>\r\n", "<250 2.1.0 Ok\r\n",
		">MAIL FROM:<a@b.c>\r\n",
		"<503 5.5.1 Error: nested MAIL command\r\n",
		">DATA\r\n", "<503 5.5.1 Error: need RCPT command\r\n",
		">RSET\r\n", "<250 2.0.0 Ok\r\n",
		">MAIL FROM a@b.c\r\n",
		"<501 5.5.4 Syntax: MAIL FROM:<address>\r\n",
		">MAIL FROM:<a b@c>\r\n",
		"<501 5.1.7 Bad sender address syntax\r\n",
		">MAIL FROM:<a@b.c\r\n",
		"<501 5.1.7 Bad sender address syntax\r\n",
		">MAIL FROM:<a@b.c> FOO=1\r\n",
		"<555 5.5.4 Unsupported parameter FOO=1\r\n",
		">mail from:b@c.d size=x\r\n",
		"<501 5.5.4 Bad SIZE parameter\r\n",
		">RCPT TO x@example.com\r\n",
		"<503 5.5.1 Error: need MAIL command\r\n",
		">mail from:b@c.d\r\nrcpt to:x@example.com\r\nRCPT x\r\n",
		"<250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		"501 5.5.4 Syntax: RCPT TO:<address>\r\n",
		">DATA x\r\n", "<501 5.5.4 Syntax: DATA\r\n",
		">QUIT now\r\n",
		"<501 5.5.4 Syntax: no parameters allowed\r\n"
		"421 4.7.0 Too many errors, closing\r\n",
		"?close",
		NULL
	};
	struct smtp_session_params p = params();

	p.max_errors = 14;
	run_once(&p, sc, 0);
}

static void
test_misc_commands(void **state)
{
	static const char *const sc[] = {
		GREETING,
		">NOOP\r\n", "<250 2.0.0 Ok\r\n",
		">VRFY root\r\n",
		"<252 2.5.2 Cannot VRFY user, but will accept message and "
		"attempt delivery\r\n",
		">EXPN staff\r\n", "<502 5.5.1 Error: EXPN is disabled\r\n",
		">HELP\r\n",
		"<214 2.0.0 Commands: HELO EHLO MAIL RCPT DATA RSET NOOP QUIT "
		"HELP STARTTLS AUTH\r\n",
		">FOO bar\r\n", "<502 5.5.2 Error: command not recognized\r\n",
		/* bare LF ends a command line: harmless outside DATA */
		">helo x\nnoop\n", "<250 gw.test\r\n250 2.0.0 Ok\r\n",
		">AUTH PLAIN\r\n",
		"<538 5.7.11 Encryption required for requested authentication "
		"mechanism\r\n",
		">STARTTLS x\r\n", "<501 5.5.4 Syntax: STARTTLS\r\n",
		">QUIT\r\n", "<221 2.0.0 Bye\r\n",
		">NOOP\r\n", "<",
		NULL
	};
	script(sc);
}

static void
test_nul_in_command(void **state)
{
	struct smtp_session_params p = params();
	struct fake f;

	memset(&f, 0, sizeof(f));
	f.s = smtp_session_new(&p, &fake_ops, &f);
	smtp_session_start(f.s, SMTP_START_OK);
	f.outlen = 0;
	assert_int_equal(smtp_session_feed(f.s, "NO\0OP\r\nNOOP\r\n", 14), 14);
	f.out[f.outlen] = '\0';
	assert_string_equal(f.out, "500 5.5.2 Error: NUL in command\r\n"
	    "250 2.0.0 Ok\r\n");
	smtp_session_free(f.s);
}

static void
test_line_too_long(void **state)
{
	static char line[SMTP_SESSION_LINE_MAX + 16];
	static const char *const sc[] = {
		GREETING, line, "<500 5.5.2 Line too long\r\n", "?close",
		NULL
	};

	line[0] = '>';
	memset(line + 1, 'a', SMTP_SESSION_LINE_MAX + 4);
	script(sc);
}

static void
test_start_denied_busy_timeout(void **state)
{
	static const char *const denied[] = {
		"<554 5.7.1 Access denied\r\n", "?close",
		">EHLO x\r\n", "<", NULL
	};
	static const char *const busy[] = {
		"<421 4.7.0 Too many connections, try again later\r\n",
		"?close", NULL
	};
	static const char *const timeout[] = {
		GREETING,
		">HELO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@example.com>\r\n"
		"DATA\r\npartial\r\n",
		"<250 gw.test\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n"
		"354 End data with <CR><LF>.<CR><LF>\r\n",
		"!timeout", "<421 4.4.2 Timeout exceeded, closing\r\n",
		"?close", "#0,1", NULL
	};
	struct smtp_session_params p = params();
	struct fake f;

	memset(&f, 0, sizeof(f));
	run(&p, &f, SMTP_START_DENIED, denied, 0);
	memset(&f, 0, sizeof(f));
	run(&p, &f, SMTP_START_BUSY, busy, 0);
	memset(&f, 0, sizeof(f));
	run(&p, &f, SMTP_START_OK, timeout, 0);
}

static void
test_spool_failures(void **state)
{
	static const char *const tail[4] = {
		/* begin fails: no 354, the text lines are unknown commands */
		"452 4.3.1 Insufficient system storage\r\n"
		"502 5.5.2 Error: command not recognized\r\n"
		"502 5.5.2 Error: command not recognized\r\n"
		"250 2.0.0 Ok\r\n",
		/* data() or the commit fails */
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"452 4.3.1 Insufficient system storage\r\n250 2.0.0 Ok\r\n",
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"452 4.3.1 Insufficient system storage\r\n250 2.0.0 Ok\r\n",
		/* data() finds a header line over 998 octets */
		"354 End data with <CR><LF>.<CR><LF>\r\n"
		"550 5.6.0 Message refused: header line longer than 998 octets "
		"(RFC 5322 2.1.1)\r\n250 2.0.0 Ok\r\n",
	};
	static const char *const counts[4] = { "#0,0", "#0,1", "#1,0", "#0,1" };
	struct smtp_session_params p = params();
	char expect[1024];
	const char *sc[] = {
		GREETING,
		">HELO a\r\nMAIL FROM:<a@b.c>\r\nRCPT TO:<x@example.com>\r\n"
		"DATA\r\nx\r\n.\r\nNOOP\r\n",
		expect, NULL, NULL
	};
	struct fake f;
	int which;

	for (which = 0; which < 4; which++) {
		memset(&f, 0, sizeof(f));
		f.fail_begin = which == 0;
		f.fail_data = which == 1 ? 1 : which == 3 ? 2 : 0;
		f.fail_commit = which == 2;
		snprintf(expect, sizeof(expect), "<250 gw.test\r\n"
		    "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n%s", tail[which]);
		sc[3] = counts[which];
		run(&p, &f, SMTP_START_OK, sc, 0);
	}
}

static void
test_starttls_auth(void **state)
{
	static const char *const sc[] = {
		GREETING,
		">EHLO a\r\n", EHLO_PLAIN,
		">MAIL FROM:<a@b.c>\r\n",
		"<530 5.7.0 Must issue a STARTTLS command first\r\n",
		/* plaintext pipelined after STARTTLS is dropped */
		">STARTTLS\r\nMAIL FROM:<evil@x.y>\r\n",
		"<220 2.0.0 Ready to start TLS\r\n", "?tls",
		"!tls",
		">MAIL FROM:<a@b.c>\r\n",
		"<530 5.7.0 Authentication required\r\n",
		">EHLO a\r\n",
		"<250-gw.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
		"250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n"
		"250 ENHANCEDSTATUSCODES\r\n",
		">STARTTLS\r\n", "<502 5.5.1 Error: STARTTLS not available\r\n",
		">AUTH CRAM-MD5\r\n",
		"<504 5.5.4 Unrecognized authentication type\r\n",
		/* \0plc\0wrong */
		">AUTH PLAIN AHBsYwB3cm9uZw==\r\n",
		"<535 5.7.8 Authentication credentials invalid\r\n",
		">AUTH PLAIN\r\n", "<334 \r\n", ">*\r\n",
		"<501 5.7.0 Authentication cancelled\r\n",
		">AUTH LOGIN\r\n", "<334 VXNlcm5hbWU6\r\n",
		">cGxj\r\n", "<334 UGFzc3dvcmQ6\r\n",
		">czNjcmV0\r\n", "<235 2.7.0 Authentication successful\r\n",
		">AUTH LOGIN\r\n", "<503 5.5.1 Error: already authenticated\r\n",
		">MAIL FROM:<a@b.c>\r\nRCPT TO:<x@example.com>\r\n",
		"<250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n",
		NULL
	};
	struct smtp_session_params p = params();

	p.auth_required = 1;
	run_once(&p, sc, 0);
}

static void
test_auth_plain_and_lockout(void **state)
{
	static const char *const sc[] = {
		GREETING,
		">STARTTLS\r\n", "<220 2.0.0 Ready to start TLS\r\n", "!tls",
		">HELO a\r\nAUTH PLAIN AHBsYwBzM2NyZXQ=\r\n",
		"<250 gw.test\r\n503 5.5.1 Error: send EHLO first\r\n",
		">EHLO a\r\n",
		"<250-gw.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
		"250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n"
		"250 ENHANCEDSTATUSCODES\r\n",
		">AUTH PLAIN !!!!\r\n",
		"<501 5.5.2 Error: cannot decode response\r\n",
		">AUTH LOGIN cGxj\r\n", "<334 UGFzc3dvcmQ6\r\n",
		">eA==\r\n", "<535 5.7.8 Authentication credentials invalid\r\n",
		">AUTH PLAIN eABwbGMAczNjcmV0\r\n",	/* authzid x != plc */
		"<501 5.5.2 Error: malformed PLAIN response\r\n",
		">AUTH PLAIN AHBsYwB4\r\nAUTH PLAIN AHBsYwB4\r\n",
		"<535 5.7.8 Authentication credentials invalid\r\n"
		"535 5.7.8 Authentication credentials invalid\r\n"
		"421 4.7.0 Too many authentication failures\r\n",
		"?close",
		NULL
	};
	struct smtp_session_params p = params();

	run_once(&p, sc, 0);
}

/* The check runs elsewhere: pipelined commands wait for its answer. */
static void
test_auth_async(void **state)
{
	static const char *const sc[] = {
		GREETING,
		">STARTTLS\r\n", "<220 2.0.0 Ready to start TLS\r\n", "!tls",
		">EHLO a\r\n",
		"<250-gw.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
		"250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n"
		"250 ENHANCEDSTATUSCODES\r\n",
		">AUTH PLAIN AHBsYwB4\r\nNOOP\r\n", "<", "?auth",
		"!auth", "<535 5.7.8 Authentication credentials invalid\r\n"
		"250 2.0.0 Ok\r\n",
		">AUTH LOGIN\r\n", "<334 VXNlcm5hbWU6\r\n",
		">cGxj\r\n", "<334 UGFzc3dvcmQ6\r\n",
		">czNjcmV0\r\nMAIL FROM:<a@b.c>\r\n", "<", "?auth",
		"!auth", "<235 2.7.0 Authentication successful\r\n"
		"250 2.1.0 Ok\r\n", "?input",
		NULL
	};
	struct smtp_session_params p = params();

	p.auth_required = 1;
	run_once(&p, sc, 1);
}

static void
test_auth_plain_ok(void **state)
{
	static const char *const sc[] = {
		GREETING,
		">EHLO a\r\nSTARTTLS\r\n", EHLO_PLAIN
		"220 2.0.0 Ready to start TLS\r\n",
		"!tls",
		">EHLO a\r\nAUTH PLAIN AHBsYwBzM2NyZXQ=\r\n"
		"MAIL FROM:<a@b.c>\r\n",
		"<250-gw.test\r\n250-PIPELINING\r\n250-SIZE 1000\r\n"
		"250-AUTH PLAIN LOGIN\r\n250-8BITMIME\r\n"
		"250 ENHANCEDSTATUSCODES\r\n"
		"235 2.7.0 Authentication successful\r\n250 2.1.0 Ok\r\n",
		NULL
	};
	struct smtp_session_params p = params();

	p.auth_required = 1;
	run_once(&p, sc, 0);
}

static void
test_protocol_names(void **state)
{
	static const char *const sc[] = { GREETING, ">EHLO a\r\n",
		NULL };
	struct smtp_session_params p = params();
	struct fake f;

	memset(&f, 0, sizeof(f));
	f.s = smtp_session_new(&p, &fake_ops, &f);
	smtp_session_start(f.s, SMTP_START_OK);
	assert_string_equal(smtp_session_protocol(f.s), "SMTP");
	assert_string_equal(smtp_session_helo(f.s), "");
	smtp_session_feed(f.s, sc[1] + 1, strlen(sc[1] + 1));
	assert_string_equal(smtp_session_protocol(f.s), "ESMTP");
	assert_string_equal(smtp_session_helo(f.s), "a");
	assert_null(smtp_session_auth_user(f.s));
	smtp_session_feed(f.s, "STARTTLS\r\n", 10);
	smtp_session_tls_done(f.s);
	smtp_session_feed(f.s, "EHLO b\r\nAUTH PLAIN AHBsYwBzM2NyZXQ=\r\n",
	    37);
	assert_string_equal(smtp_session_protocol(f.s), "ESMTPSA");
	assert_string_equal(smtp_session_auth_user(f.s), "plc");
	smtp_session_shutdown(f.s);
	assert_int_equal(smtp_session_wait(f.s), SMTP_WAIT_CLOSE);
	smtp_session_free(f.s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_arduino),
		cmocka_unit_test(test_pipelining),
		cmocka_unit_test(test_async_commit),
		cmocka_unit_test(test_dot_stuffing),
		cmocka_unit_test(test_smuggling_lf_dot_lf),
		cmocka_unit_test(test_smuggling_cr_dot_lf),
		cmocka_unit_test(test_smuggling_lf_dot_crlf),
		cmocka_unit_test(test_smuggling_cr_dot_cr),
		cmocka_unit_test(test_bare_cr_in_text),
		cmocka_unit_test(test_helo_control_chars),
		cmocka_unit_test(test_routed_recipients),
		cmocka_unit_test(test_nul_in_data),
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_recipients),
		cmocka_unit_test(test_sequence_and_syntax),
		cmocka_unit_test(test_misc_commands),
		cmocka_unit_test(test_nul_in_command),
		cmocka_unit_test(test_line_too_long),
		cmocka_unit_test(test_start_denied_busy_timeout),
		cmocka_unit_test(test_spool_failures),
		cmocka_unit_test(test_starttls_auth),
		cmocka_unit_test(test_auth_plain_and_lockout),
		cmocka_unit_test(test_auth_plain_ok),
		cmocka_unit_test(test_auth_async),
		cmocka_unit_test(test_protocol_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
