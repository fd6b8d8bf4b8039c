/*
 * sendmail.c - `modbus2mail sendmail` (SPEC §2), see sendmail.h.
 *
 * The message is read whole (bounded by listener.max_message_size, else
 * 10MiB: reading stops as soon as it is passed, whatever the line
 * lengths), its lines turned into CRLF, fixed up like mail received on
 * port 25 and submitted to the spool in one durable step. A user who may
 * not write the spool (the daemon runs as another user) hands the message
 * to the running daemon's listener on loopback instead. Nothing is queued
 * unless the exit code is 0.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "modbus2mail/buf.h"
#include "modbus2mail/config.h"
#include "modbus2mail/ctl.h"
#include "modbus2mail/inbound.h"
#include "modbus2mail/netaddr.h"
#include "modbus2mail/sendmail.h"
#include "modbus2mail/spool.h"
#include "modbus2mail/util.h"

#define SENDMAIL_MAX_DEFAULT	(10 * 1024 * 1024)

struct sendmail_rcpts {
	char **v;			/* owned, each owned */
	size_t n;
};

static int	sendmail_add(struct sendmail_rcpts *, const char *);
static int	sendmail_split(struct sendmail_rcpts *, const char *, size_t);
static int	sendmail_read(FILE *, int, size_t, struct buf *);
static int	sendmail_eol(struct buf *, size_t *, int);
static int	sendmail_header(struct buf *, struct sendmail_rcpts *);
static int	sendmail_queue(const struct config *, const char *,
		    struct sendmail_rcpts *, struct buf *);
static void	sendmail_rcpts_free(struct sendmail_rcpts *);
static int	sendmail_listener(const struct config *, const char *,
		    const struct sendmail_rcpts *, const char *, size_t,
		    char *, size_t);
static size_t	sendmail_read_cb(char *, size_t, size_t, void *);

static void
sendmail_rcpts_free(struct sendmail_rcpts *r)
{
	util_strv_free(r->v, r->n);
	r->v = NULL;
	r->n = 0;
}

/* One address as "Name <a@b>", "<a@b>" or "a@b". 0 ok, -1 bad. */
static int
sendmail_add(struct sendmail_rcpts *r, const char *s)
{
	char bare[CONFIG_ADDR_MAX];

	if (config_parse_address(s, bare, sizeof(bare)) == -1) {
		fprintf(stderr, "modbus2mail sendmail: bad recipient address "
		    "'%s'\n", s);
		return -1;
	}
	return util_strv_push(&r->v, &r->n, bare);
}

/* An address-list header value: commas outside quotes and <> separate. */
static int
sendmail_split(struct sendmail_rcpts *r, const char *v, size_t len)
{
	char item[1024];
	size_t i, n = 0, a, b;
	int quote = 0, angle = 0;

	for (i = 0; i <= len; i++) {
		char ch = i < len ? v[i] : ',';

		if (ch == '"' && (i == 0 || v[i - 1] != '\\'))
			quote = !quote;
		else if (!quote && ch == '<')
			angle = 1;
		else if (!quote && ch == '>')
			angle = 0;
		if (ch != ',' || quote || angle) {
			if (n + 1 >= sizeof(item))
				return -1;
			item[n++] = ch == '\r' || ch == '\n' || ch == '\t' ?
			    ' ' : ch;
			continue;
		}
		item[n] = '\0';
		/* group "name: a, b;": drop the display name and ';' */
		if (strchr(item, ':') != NULL && strchr(item, '<') == NULL &&
		    strchr(item, '"') == NULL)
			memmove(item, strchr(item, ':') + 1,
			    strlen(strchr(item, ':') + 1) + 1);
		for (a = 0; item[a] == ' '; a++)
			;
		b = strlen(item);
		while (b > a && (item[b - 1] == ' ' || item[b - 1] == ';'))
			b--;
		item[b] = '\0';
		if (b > a && sendmail_add(r, item + a) == -1)
			return -1;
		n = 0;
	}
	return 0;
}

/*
 * Ends the line that starts at *line in b: CRLF instead of LF or CRLF.
 * Returns 1 when it was a lone "." that ends the message (then dropped).
 */
static int
sendmail_eol(struct buf *b, size_t *line, int dots)
{
	if (b->len > *line && b->p[b->len - 1] == '\r')
		b->p[--b->len] = '\0';
	if (dots && b->len - *line == 1 && b->p[*line] == '.') {
		b->p[b->len = *line] = '\0';
		return 1;
	}
	buf_add(b, "\r\n", 2);
	*line = b->len;
	return 0;
}

/*
 * stdin into CRLF lines; without -i a lone "." ends it. Read in blocks and
 * given up once past max, so no line, however long, takes more memory.
 * 0 or EX_*.
 */
static int
sendmail_read(FILE *in, int dots, size_t max, struct buf *b)
{
	char blk[65536], *nl;
	size_t n, off, line = 0;
	int end = 0;

	while (!end && (n = fread(blk, 1, sizeof(blk), in)) > 0) {
		for (off = 0; off < n && !end; off = (size_t)(nl - blk) + 1) {
			if ((nl = memchr(blk + off, '\n', n - off)) == NULL) {
				buf_add(b, blk + off, n - off);
				break;
			}
			buf_add(b, blk + off, (size_t)(nl - blk) - off);
			end = sendmail_eol(b, &line, dots);
		}
		if (b->len > max)
			break;
	}
	if (!end && b->len > line && b->len <= max)
		sendmail_eol(b, &line, dots);	/* last line, no newline */
	if (b->oom) {
		fprintf(stderr, "modbus2mail sendmail: out of memory\n");
		return EX_OSERR;
	}
	if (b->len > max) {
		fprintf(stderr, "modbus2mail sendmail: message larger than "
		    "%zu octets (listener.max_message_size), nothing queued\n",
		    max);
		return EX_DATAERR;
	}
	if (ferror(in)) {
		fprintf(stderr, "modbus2mail sendmail: reading stdin: %s\n",
		    strerror(errno));
		return EX_IOERR;
	}
	return 0;
}

/* -t: recipients from To/Cc/Bcc of the header; Bcc lines removed. */
static int
sendmail_header(struct buf *b, struct sendmail_rcpts *r)
{
	size_t off = 0, end, fend, k;
	const char *colon;
	int rcpt, bcc;

	while (off < b->len) {
		end = off;
		while (end + 1 < b->len && !(b->p[end] == '\r' &&
		    b->p[end + 1] == '\n'))
			end++;
		if (end == off || (colon = memchr(b->p + off, ':',
		    end - off)) == NULL)
			break;			/* blank line or text: body */
		for (k = off; b->p + k < colon; k++)
			if (b->p[k] <= ' ' || b->p[k] > '~')
				return 0;	/* not a field: body */
		/* the field with its continuation lines */
		fend = end + 2;
		while (fend < b->len && (b->p[fend] == ' ' ||
		    b->p[fend] == '\t')) {
			while (fend + 1 < b->len && !(b->p[fend] == '\r' &&
			    b->p[fend + 1] == '\n'))
				fend++;
			fend += 2;
		}
		if (fend > b->len)
			fend = b->len;
		k = (size_t)(colon - (b->p + off));
		bcc = k == 3 && strncasecmp(b->p + off, "Bcc", 3) == 0;
		rcpt = bcc || (k == 2 && (strncasecmp(b->p + off, "To", 2) == 0
		    || strncasecmp(b->p + off, "Cc", 2) == 0));
		if (rcpt && sendmail_split(r, colon + 1, b->p + fend -
		    (colon + 1)) == -1)
			return -1;
		if (bcc) {
			memmove(b->p + off, b->p + fend, b->len - fend + 1);
			b->len -= fend - off;
		} else
			off = fend;
	}
	return 0;
}

static int
sendmail_queue(const struct config *cfg, const char *sender,
    struct sendmail_rcpts *r, struct buf *b)
{
	static const struct ctl_req flush = { .verb = CTL_FLUSH };
	struct inbound_info info;
	struct spool *sp;
	char err[1024], id[SPOOL_ID_MAX], tid[32];
	char *data;
	size_t len;
	FILE *null;
	int rc;

	snprintf(tid, sizeof(tid), "L%ld.%lu", (long)getpid(),
	    (unsigned long)getuid());
	memset(&info, 0, sizeof(info));
	info.hostname = cfg->hostname;
	info.protocol = "local";
	info.id = tid;
	info.sender = sender;
	info.rcpt = r->n == 1 ? r->v[0] : NULL;
	info.from = cfg->smtp.from;
	info.rewrite_from = cfg->listener.rewrite_from;
	info.now = time(NULL);
	info.rnd = util_random64();
	if ((data = inbound_fixup(&info, b->p ? b->p : "", b->len, &len)) ==
	    NULL && errno == EBADMSG) {
		fprintf(stderr, "modbus2mail sendmail: a header line is longer "
		    "than %d octets (RFC 5322 2.1.1); nothing queued\n",
		    INBOUND_LINE_MAX);
		return EX_DATAERR;
	}
	if (data == NULL) {
		fprintf(stderr, "modbus2mail sendmail: out of memory\n");
		return EX_OSERR;
	}
	if ((sp = spool_open(cfg->spool_dir, err, sizeof(err))) == NULL) {
		/* Not ours to write: the daemon takes it over port 25. */
		rc = sendmail_listener(cfg, sender, r, data, len, err,
		    sizeof(err));
		if (rc == -1)
			fprintf(stderr, "modbus2mail sendmail: %s\n", err);
		free(data);
		return rc == 0 ? 0 : EX_TEMPFAIL;
	}
	rc = spool_submit(sp, sender, r->v, r->n, data, len, id, sizeof(id));
	if (rc == -1)
		fprintf(stderr, "modbus2mail sendmail: cannot queue the message "
		    "in %s: %s\n", cfg->spool_dir, strerror(errno));
	spool_close(sp);
	free(data);
	if (rc == -1)
		return EX_TEMPFAIL;
	/* Wake the daemon; it also finds the message by itself. */
	if ((null = fopen("/dev/null", "we")) != NULL) {
		ctl_request(cfg, &flush, null, null);
		fclose(null);
	}
	return 0;
}

struct sendmail_src {
	const char *p;
	size_t left;
};

static size_t
sendmail_read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct sendmail_src *src = arg;
	size_t n = size * nitems < src->left ? size * nitems : src->left;

	memcpy(buf, src->p, n);
	src->p += n;
	src->left -= n;
	return n;
}

/*
 * The message over SMTP to the first listener address (a wildcard means
 * loopback), where the daemon spools it as its own user. 0, or -1 with
 * err saying why (err holds spool_open()'s reason on entry).
 */
static int
sendmail_listener(const struct config *cfg, const char *sender,
    const struct sendmail_rcpts *r, const char *data, size_t len, char *err,
    size_t errlen)
{
	struct sendmail_src src = { data, len };
	struct curl_slist *rl = NULL, *nl;
	char host[256], url[300], addr[CONFIG_ADDR_MAX + 2];
	char cerr[CURL_ERROR_SIZE] = "", why[256];
	unsigned port;
	size_t i;
	CURL *h;
	CURLcode res = CURLE_OUT_OF_MEMORY;

	strlcpy(why, err, sizeof(why));
	if (!cfg->listener.enabled || netaddr_split_hostport(
	    cfg->listener.listen.v[0], host, sizeof(host), &port, 25) == -1) {
		snprintf(err, errlen, "%s (and no listener to hand the message "
		    "to)", why);
		return -1;
	}
	if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0' ||
	    strcmp(host, "*") == 0)
		strlcpy(host, "127.0.0.1", sizeof(host));
	else if (strcmp(host, "::") == 0)
		strlcpy(host, "::1", sizeof(host));
	snprintf(url, sizeof(url), strchr(host, ':') ? "smtp://[%s]:%u" :
	    "smtp://%s:%u", host, port);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if ((h = curl_easy_init()) == NULL)
		goto out;
	for (i = 0; i < r->n; i++) {
		snprintf(addr, sizeof(addr), "<%s>", r->v[i]);
		if ((nl = curl_slist_append(rl, addr)) == NULL)
			goto out;
		rl = nl;
	}
	snprintf(addr, sizeof(addr), "<%s>", sender);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp");
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(h, CURLOPT_MAIL_FROM, addr);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rl);
	curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(h, CURLOPT_READFUNCTION, sendmail_read_cb);
	curl_easy_setopt(h, CURLOPT_READDATA, &src);
	res = curl_easy_perform(h);
out:
	if (res != CURLE_OK)
		snprintf(err, errlen, "%s, and the daemon's listener at %s "
		    "did not take it: %s", why, url, cerr[0] ? cerr :
		    curl_easy_strerror(res));
	curl_slist_free_all(rl);
	if (h != NULL)
		curl_easy_cleanup(h);
	return res == CURLE_OK ? 0 : -1;
}

int
sendmail_main(const struct config *cfg, int argc, char **argv)
{
	struct sendmail_rcpts r = { NULL, 0 };
	struct buf b = BUF_INIT;
	char sender[CONFIG_ADDR_MAX];
	const char *from = NULL, *a;
	size_t max;
	int i, t = 0, dots = 1, rc = EX_USAGE;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0';
	    i++) {
		a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "-t") == 0)
			t = 1;
		else if (strcmp(a, "-i") == 0 || strcmp(a, "-oi") == 0)
			dots = 0;
		else if (a[1] == 'f' || a[1] == 'r' || a[1] == 'F') {
			const char *v = a[2] != '\0' ? a + 2 : argv[++i];

			if (v == NULL) {
				fprintf(stderr, "modbus2mail sendmail: %s needs "
				    "an argument\n", a);
				goto done;
			}
			if (a[1] != 'F')
				from = v;
		} else if (a[1] != 'o' && a[1] != 'B' && a[1] != 'b' &&
		    a[1] != 'v' && a[1] != 'm') {
			fprintf(stderr, "modbus2mail sendmail: unknown option "
			    "%s\nusage: modbus2mail sendmail [-c FILE] [-t] "
			    "[-f FROM] [-i] [RCPT...]\n", a);
			goto done;
		}
	}
	if (from == NULL)
		strlcpy(sender, cfg->smtp.from_addr ? cfg->smtp.from_addr : "",
		    sizeof(sender));
	else if (from[0] == '\0' || strcmp(from, "<>") == 0)
		sender[0] = '\0';
	else if (config_parse_address(from, sender, sizeof(sender)) == -1) {
		fprintf(stderr, "modbus2mail sendmail: bad sender address "
		    "'%s'\n", from);
		rc = EX_DATAERR;
		goto done;
	}
	rc = EX_DATAERR;
	for (; i < argc; i++)
		if (sendmail_split(&r, argv[i], strlen(argv[i])) == -1)
			goto done;
	max = cfg->listener.enabled ? cfg->listener.max_message_size :
	    SENDMAIL_MAX_DEFAULT;
	if ((rc = sendmail_read(stdin, dots, max, &b)) != 0)
		goto done;
	rc = EX_DATAERR;
	if (t && sendmail_header(&b, &r) == -1)
		goto done;
	if (r.n == 0) {
		fprintf(stderr, "modbus2mail sendmail: no recipients "
		    "given\n");
		rc = EX_USAGE;
		goto done;
	}
	rc = sendmail_queue(cfg, sender, &r, &b);
done:
	sendmail_rcpts_free(&r);
	buf_free(&b);
	return rc;
}
