/*
 * libFuzzer target: arbitrary client bytes into one SMTP session (and the
 * message text through inbound.c), fed in chunks the input chooses.
 *
 * Byte 0 picks the session: bit 0 auth_required, bit 1 commits fail,
 * bit 2 data() fails, bit 3 no recipient_domains. Then repeated:
 * one length byte n, n bytes fed at once. "STARTTLS" is completed at once.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/inbound.h"
#include "modbus2mail/smtp_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct fz {
	struct smtp_session *s;
	struct inbound *ib;
	int fail_commit, fail_data;
	size_t out, msg;
};

static void
fz_output(void *arg, const char *buf, size_t len)
{
	struct fz *f = arg;

	/* every reply is whole CRLF lines starting with a 3-digit code */
	if (len < 6 || buf[len - 2] != '\r' || buf[len - 1] != '\n' ||
	    buf[0] < '2' || buf[0] > '5')
		abort();
	f->out += len;
}

static int
fz_sink(void *arg, const void *buf, size_t len)
{
	struct fz *f = arg;

	f->msg += len;
	return 0;
}

static int
fz_begin(void *arg, const char *sender, char *const *rcpts, size_t n)
{
	struct fz *f = arg;
	struct inbound_info i;

	if (f->ib != NULL || n == 0)
		abort();
	memset(&i, 0, sizeof(i));
	i.hostname = "gw.fuzz";
	i.helo = smtp_session_helo(f->s);
	i.peer_addr = "127.0.0.1";
	i.protocol = smtp_session_protocol(f->s);
	i.id = "F1";
	i.sender = sender;
	i.rcpt = rcpts[0];
	i.from = "Fuzz <f@example.com>";
	i.rewrite_from = 1;	/* foreign From: lines are rewritten */
	i.now = 1790000000;
	i.rnd = 1;
	f->ib = inbound_begin(&i, fz_sink, f);
	return f->ib != NULL ? 0 : -1;
}

static int
fz_data(void *arg, const char *buf, size_t len)
{
	struct fz *f = arg;

	if (f->fail_data)
		return -1;
	return inbound_write(f->ib, buf, len);
}

static void
fz_end(void *arg)
{
	struct fz *f = arg;
	int r;

	r = inbound_end(f->ib);
	inbound_free(f->ib);
	f->ib = NULL;
	smtp_session_commit_done(f->s, r == 0 && !f->fail_commit ? "Q" : NULL);
}

static void
fz_abort(void *arg)
{
	struct fz *f = arg;

	if (f->ib == NULL)
		abort();
	inbound_free(f->ib);
	f->ib = NULL;
}

static void
fz_auth(void *arg, const char *user, const char *pass)
{
	struct fz *f = arg;

	smtp_session_auth_done(f->s, strcmp(user, "plc") == 0 &&
	    strcmp(pass, "s3cret") == 0);
}

static const struct smtp_session_ops fz_ops = {
	fz_output, fz_begin, fz_data, fz_end, fz_abort, fz_auth,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *const domains[] = { "example.com" };
	struct smtp_session_params p;
	struct fz f;
	size_t off = 1, n, used;

	if (size < 1)
		return 0;
	memset(&p, 0, sizeof(p));
	memset(&f, 0, sizeof(f));
	p.hostname = "gw.fuzz";
	p.max_size = 4096;
	p.max_rcpts = 4;
	p.domains = domains;
	p.ndomains = (data[0] & 8) ? 0 : 1;
	p.starttls = 1;
	p.auth = 1;
	p.auth_required = data[0] & 1;
	f.fail_commit = (data[0] & 2) != 0;
	f.fail_data = (data[0] & 4) != 0;
	if ((f.s = smtp_session_new(&p, &fz_ops, &f)) == NULL)
		return 0;
	smtp_session_start(f.s, SMTP_START_OK);
	while (off < size && smtp_session_wait(f.s) != SMTP_WAIT_CLOSE) {
		n = data[off++];
		if (n == 0)
			n = 256;
		if (n > size - off)
			n = size - off;
		used = 0;
		while (used < n) {
			used += smtp_session_feed(f.s, (const char *)data +
			    off + used, n - used);
			if (smtp_session_wait(f.s) == SMTP_WAIT_TLS) {
				smtp_session_tls_done(f.s);
				break;		/* the rest of the chunk is dropped */
			}
			if (smtp_session_wait(f.s) != SMTP_WAIT_INPUT)
				break;
		}
		off += n;
	}
	if (data[0] & 16)
		smtp_session_timeout(f.s, (enum smtp_session_limit)(data[0] >> 6));
	smtp_session_free(f.s);
	if (f.ib != NULL)
		abort();		/* begin without end or abort */
	return 0;
}
