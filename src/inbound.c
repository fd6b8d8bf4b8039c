/*
 * inbound.c - fix-ups of received mail (SPEC §5); see inbound.h.
 *
 * The header block is held in memory until its end is known (a blank
 * line, a line that is no header field, or the end of the message), then
 * written out with the Received: line on top and the missing fields at
 * its bottom; the body streams through untouched. A From: of a foreign
 * domain is taken out of the held header and written anew at the bottom,
 * the original following it as Reply-To:.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "modbus2mail/buf.h"
#include "modbus2mail/compose.h"
#include "modbus2mail/inbound.h"
#include "modbus2mail/util.h"

enum inbound_have {
	HAVE_DATE = 1,
	HAVE_MSGID = 2,
	HAVE_FROM = 4,
	HAVE_REPLYTO = 8,
};

struct inbound {
	int (*out)(void *, const void *, size_t);
	void *arg;
	int body;			/* header written, streaming */
	int failed;			/* out() failed once */
	int have;			/* enum inbound_have bits */
	size_t nfields;			/* header fields seen */
	char *hdr;			/* held header text; owned */
	size_t hdrlen, hdrcap;
	size_t linestart;		/* offset of the incomplete line */
	char *received;			/* prepared lines; owned */
	char *added[4];			/* Date, Message-ID, From, Reply-To */
	char *hostname;			/* owned */
	char own[256];			/* smtp.from's address; "" = never
					 * rewrite From: */
};

static int	inbound_out(struct inbound *, const void *, size_t);
static int	inbound_line(struct inbound *, const char *, size_t);
static int	inbound_toolong(struct inbound *);
static int	inbound_flush(struct inbound *, size_t, int);
static int	inbound_field(const char *, size_t, int *);
static int	inbound_append(void *, const void *, size_t);
static int	inbound_addr_ok(const char *);
static int	inbound_addr(const char *, char *, size_t);
static int	inbound_header(struct inbound *, size_t);
static int	inbound_find_from(const char *, size_t, size_t *, size_t *);
static char	*inbound_rewrite(const struct inbound *, const char *);

/* Whether sender may go into a header as is. */
static int
inbound_addr_ok(const char *a)
{
	const char *p;

	if (strchr(a, '@') == NULL || strlen(a) > 254)
		return 0;
	for (p = a; *p != '\0'; p++)
		if (*p <= ' ' || *p >= 0x7f || strchr("<>()[],;\\\"", *p))
			return 0;
	return 1;
}

/* The bare address of an address field's value ("Name <a@b>", "a@b"). */
static int
inbound_addr(const char *v, char *buf, size_t len)
{
	const char *s = strrchr(v, '<'), *e = s != NULL ? strchr(s, '>') : NULL;

	if (s != NULL && e != NULL)
		s++;
	else {
		for (s = v; *s == ' ' || *s == '\t'; s++)
			;
		e = s + strcspn(s, " \t(");
	}
	if ((size_t)(e - s) >= len)
		return -1;
	memcpy(buf, s, (size_t)(e - s));
	buf[e - s] = '\0';
	return inbound_addr_ok(buf) ? 0 : -1;
}

struct inbound *
inbound_begin(const struct inbound_info *info,
    int (*out)(void *, const void *, size_t), void *arg)
{
	struct inbound *ib;
	char date[64], msgid[320];
	const char *helo;
	int r;

	if ((ib = calloc(1, sizeof(*ib))) == NULL)
		return NULL;
	ib->out = out;
	ib->arg = arg;
	compose_date(date, sizeof(date), info->now);
	compose_message_id(msgid, sizeof(msgid), info->hostname, info->now,
	    info->rnd);
	helo = info->helo != NULL && info->helo[0] != '\0' ? info->helo :
	    "unknown";
	if (info->peer_addr != NULL)
		r = asprintf(&ib->received, "Received: from %s ([%s])\r\n"
		    "\tby %s (modbus2mail) with %s id %s%s%s%s;\r\n\t%s\r\n",
		    helo, info->peer_addr, info->hostname, info->protocol,
		    info->id, info->rcpt ? "\r\n\tfor <" : "",
		    info->rcpt ? info->rcpt : "", info->rcpt ? ">" : "", date);
	else
		r = asprintf(&ib->received, "Received: by %s (modbus2mail) "
		    "with %s id %s%s%s%s;\r\n\t%s\r\n", info->hostname,
		    info->protocol, info->id, info->rcpt ? "\r\n\tfor <" : "",
		    info->rcpt ? info->rcpt : "", info->rcpt ? ">" : "", date);
	if (r == -1)
		ib->received = NULL;
	if (asprintf(&ib->added[0], "Date: %s\r\n", date) == -1)
		ib->added[0] = NULL;
	if (asprintf(&ib->added[1], "Message-ID: %s\r\n", msgid) == -1)
		ib->added[1] = NULL;
	if (asprintf(&ib->added[2], "From: %s\r\n", info->from != NULL ?
	    info->from : "MAILER-DAEMON") == -1)
		ib->added[2] = NULL;
	if (info->sender != NULL && inbound_addr_ok(info->sender) &&
	    asprintf(&ib->added[3], "Reply-To: <%s>\r\n", info->sender) == -1)
		ib->added[3] = NULL;
	if (!info->rewrite_from || info->from == NULL ||
	    inbound_addr(info->from, ib->own, sizeof(ib->own)) == -1)
		ib->own[0] = '\0';
	ib->hostname = strdup(info->hostname);
	if (ib->received == NULL || ib->added[0] == NULL ||
	    ib->added[1] == NULL || ib->added[2] == NULL ||
	    ib->hostname == NULL) {
		inbound_free(ib);
		return NULL;
	}
	return ib;
}

void
inbound_free(struct inbound *ib)
{
	size_t i;

	if (ib == NULL)
		return;
	free(ib->hdr);
	free(ib->received);
	free(ib->hostname);
	for (i = 0; i < 4; i++)
		free(ib->added[i]);
	free(ib);
}

static int
inbound_out(struct inbound *ib, const void *buf, size_t len)
{
	if (ib->failed)
		return -1;
	if (len > 0 && ib->out(ib->arg, buf, len) == -1) {
		ib->failed = 1;
		return -1;
	}
	return 0;
}

int
inbound_write(struct inbound *ib, const void *buf, size_t len)
{
	const char *p = buf, *nl;
	size_t n, cap;
	char *nh;

	while (len > 0 && !ib->body) {
		nl = memchr(p, '\n', len);
		n = nl != NULL ? (size_t)(nl - p) + 1 : len;
		if (ib->hdrlen + n > ib->hdrcap) {
			cap = ib->hdrcap ? ib->hdrcap : 1024;
			while (cap < ib->hdrlen + n)
				cap *= 2;
			if ((nh = realloc(ib->hdr, cap)) == NULL)
				return -1;
			ib->hdr = nh;
			ib->hdrcap = cap;
		}
		memcpy(ib->hdr + ib->hdrlen, p, n);
		ib->hdrlen += n;
		p += n;
		len -= n;
		if (inbound_toolong(ib)) {
			ib->failed = 1;
			errno = EBADMSG;
			return -1;
		}
		if (nl != NULL) {
			if (inbound_line(ib, ib->hdr + ib->linestart,
			    ib->hdrlen - ib->linestart) == -1)
				return -1;
			ib->linestart = ib->hdrlen;
		}
		/* An endless header: what is complete is the header. */
		if (!ib->body && ib->hdrlen > INBOUND_HEADER_MAX &&
		    inbound_flush(ib, ib->linestart, 1) == -1)
			return -1;
	}
	if (ib->failed)
		return -1;
	return len > 0 ? inbound_out(ib, p, len) : 0;
}

/* Whether the line being held is a header line over INBOUND_LINE_MAX. */
static int
inbound_toolong(struct inbound *ib)
{
	const char *l = ib->hdr + ib->linestart;
	size_t n = ib->hdrlen - ib->linestart;
	int have = 0;

	while (n > 0 && (l[n - 1] == '\n' || l[n - 1] == '\r'))
		n--;
	if (n <= INBOUND_LINE_MAX)
		return 0;
	if (l[0] == ' ' || l[0] == '\t')
		return ib->nfields > 0;
	return inbound_field(l, n, &have);
}

/* A complete header-block line (with its LF). */
static int
inbound_line(struct inbound *ib, const char *line, size_t len)
{
	size_t n = len;

	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		n--;
	if (n == 0)
		return inbound_flush(ib, ib->linestart, 0);
	if (line[0] == ' ' || line[0] == '\t') {
		if (ib->nfields > 0)
			return 0;
	} else if (inbound_field(line, n, &ib->have)) {
		ib->nfields++;
		return 0;
	}
	return inbound_flush(ib, ib->linestart, 1);
}

/* "name:" with name in printable ASCII (RFC 5322 2.2); notes the fields. */
static int
inbound_field(const char *line, size_t len, int *have)
{
	static const struct {
		const char *name;
		int bit;
	} known[] = {
		{ "Date", HAVE_DATE },
		{ "Message-ID", HAVE_MSGID },
		{ "From", HAVE_FROM },
		{ "Reply-To", HAVE_REPLYTO },
	};
	size_t i, n;

	for (n = 0; n < len && line[n] != ':'; n++)
		if (line[n] < 33 || line[n] > 126)
			return 0;
	if (n == 0 || n == len)
		return 0;
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strlen(known[i].name) == n &&
		    strncasecmp(line, known[i].name, n) == 0)
			*have |= known[i].bit;
	return 1;
}

/* Offsets of the first From: field, continuation lines included. */
static int
inbound_find_from(const char *hdr, size_t end, size_t *start, size_t *stop)
{
	const char *nl;
	size_t p = 0;

	while (p < end) {
		nl = memchr(hdr + p, '\n', end - p);
		if (end - p >= 5 && strncasecmp(hdr + p, "From:", 5) == 0) {
			*start = p;
			while (nl != NULL && (size_t)(nl - hdr) + 1 < end &&
			    (nl[1] == ' ' || nl[1] == '\t'))
				nl = memchr(nl + 1, '\n', end - (size_t)(nl +
				    1 - hdr));
			*stop = nl != NULL ? (size_t)(nl - hdr) + 1 : end;
			return 0;
		}
		p = nl != NULL ? (size_t)(nl - hdr) + 1 : end;
	}
	return -1;
}

/*
 * From: (and Reply-To:) in place of value, a From: field's unfolded value,
 * when its domain is not ours; NULL to keep it (or on ENOMEM).
 */
static char *
inbound_rewrite(const struct inbound *ib, const char *value)
{
	char addr[256], name[128], *out = NULL;
	const char *src, *at;
	size_t i, n = 0;
	int ok = inbound_addr(value, addr, sizeof(addr)) == 0;

	at = strrchr(ib->own, '@');
	if (ok && strcasecmp(strrchr(addr, '@'), at) == 0)
		return NULL;
	/* a quoted string of printable ASCII, spaces collapsed: the address,
	 * else the text */
	for (src = ok ? addr : value, i = 0; src[i] != '\0' &&
	    n + 2 < sizeof(name); i++)
		if (src[i] > ' ' && src[i] < 0x7f && src[i] != '"' &&
		    src[i] != '\\')
			name[n++] = src[i];
		else if ((src[i] == ' ' || src[i] == '\t') && n > 0 &&
		    name[n - 1] != ' ')
			name[n++] = ' ';
	while (n > 0 && name[n - 1] == ' ')
		n--;
	name[n] = '\0';
	if (asprintf(&out, "From: \"%s via %s\" <%s>\r\n%s%s%s", name,
	    ib->hostname, ib->own, ok && !(ib->have & HAVE_REPLYTO) ?
	    "Reply-To: <" : "", ok && !(ib->have & HAVE_REPLYTO) ? addr : "",
	    ok && !(ib->have & HAVE_REPLYTO) ? ">\r\n" : "") == -1)
		return NULL;
	return out;
}

/*
 * The held header up to end, without a foreign From:, whose rewrite
 * follows; 1 when that brought a Reply-To:, 0, or -1 on failure.
 */
static int
inbound_header(struct inbound *ib, size_t end)
{
	size_t start = end, stop = end, i;
	char *value = NULL, *rw = NULL, last;
	int r = -1;

	if (ib->own[0] != '\0' && (ib->have & HAVE_FROM) &&
	    inbound_find_from(ib->hdr, end, &start, &stop) == 0 &&
	    (value = strndup(ib->hdr + start + 5, stop - start - 5)) != NULL) {
		for (i = 0; value[i] != '\0'; i++)
			if (value[i] == '\r' || value[i] == '\n')
				value[i] = ' ';
		if ((rw = inbound_rewrite(ib, value)) == NULL)
			start = stop = end;
	}
	last = stop < end ? ib->hdr[end - 1] : start > 0 ?
	    ib->hdr[start - 1] : '\n';
	/* hdr is NULL for an empty message: no offset on it */
	if (inbound_out(ib, ib->hdr, start) == -1 ||
	    (end > stop && inbound_out(ib, ib->hdr + stop, end - stop) == -1) ||
	    /* a last header line without line end */
	    (last != '\n' && inbound_out(ib, "\r\n", 2) == -1))
		goto out;
	r = rw != NULL && strstr(rw, "\nReply-To:") != NULL;
	if (rw != NULL && inbound_out(ib, rw, strlen(rw)) == -1)
		r = -1;
out:
	free(value);
	free(rw);
	return r;
}

/*
 * The header ends at offset end of the held text: Received:, the header,
 * the missing fields, a blank line when insert (none was sent), and the
 * rest of the held text, which is body.
 */
static int
inbound_flush(struct inbound *ib, size_t end, int insert)
{
	static const int bits[] = { HAVE_DATE, HAVE_MSGID, HAVE_FROM,
	    HAVE_REPLYTO };
	size_t i;
	int rw;

	ib->body = 1;
	if (inbound_out(ib, ib->received, strlen(ib->received)) == -1)
		return -1;
	if ((rw = inbound_header(ib, end)) == -1)
		return -1;
	if (rw)		/* the original From: went there */
		ib->have |= HAVE_REPLYTO;
	for (i = 0; i < 4; i++)
		if (!(ib->have & bits[i]) && ib->added[i] != NULL &&
		    inbound_out(ib, ib->added[i], strlen(ib->added[i])) == -1)
			return -1;
	if (insert && inbound_out(ib, "\r\n", 2) == -1)
		return -1;
	return end < ib->hdrlen ?
	    inbound_out(ib, ib->hdr + end, ib->hdrlen - end) : 0;
}

int
inbound_end(struct inbound *ib)
{
	size_t end;

	if (ib->body)
		return ib->failed ? -1 : 0;
	/* Only a header: a last line without line end is one more line. */
	end = ib->hdrlen;
	if (ib->linestart < ib->hdrlen) {
		const char *l = ib->hdr + ib->linestart;
		size_t n = ib->hdrlen - ib->linestart;
		int have = ib->have;

		if ((l[0] == ' ' || l[0] == '\t') ? ib->nfields == 0 :
		    !inbound_field(l, n, &have))
			end = ib->linestart;
		ib->have = have;
	}
	return inbound_flush(ib, end, 1);
}

/* The inbound writer's callback onto a buffer. */
static int
inbound_append(void *arg, const void *p, size_t len)
{
	return buf_add(arg, p, len);
}

char *
inbound_fixup(const struct inbound_info *info, const char *msg, size_t len,
    size_t *outlen)
{
	struct buf b = BUF_INIT;
	struct inbound *ib;

	if ((ib = inbound_begin(info, inbound_append, &b)) == NULL)
		return NULL;
	if (inbound_write(ib, msg, len) == -1 || inbound_end(ib) == -1) {
		inbound_free(ib);
		free(b.p);
		if (errno != EBADMSG)
			errno = ENOMEM;
		return NULL;
	}
	inbound_free(ib);
	*outlen = b.len;
	return b.p;
}
