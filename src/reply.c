/*
 * reply.c - the classifier of replies to alarm mail; see reply.h. Reads
 * just enough RFC 5322 and MIME to find the headers that decide and the
 * first line the person typed.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "modbus2mail/config.h"
#include "modbus2mail/reply.h"
#include "modbus2mail/util.h"

#define REPLY_HDR_MAX	128	/* headers read per message or part */
#define REPLY_DEPTH_MAX	4	/* nested multiparts */

struct hdr {
	const char *name;
	size_t nlen;
	char *val;		/* unfolded, trimmed, owned */
};

struct hdrs {
	struct hdr h[REPLY_HDR_MAX];
	size_t n;
	int oom;
	const char *body, *end;
};

static const char *
reply_eol(const char *p, const char *end, size_t *len)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	const char *e = nl != NULL ? nl : end;

	*len = (size_t)(e - p);
	if (*len > 0 && p[*len - 1] == '\r')
		(*len)--;
	return nl != NULL ? nl + 1 : end;
}

static char *
reply_trimdup(const char *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '\t')) {
		p++;
		n--;
	}
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	return strndup(p, n);
}

/* A continuation line joins the header before it, with one space. */
static void
reply_hdr_append(struct hdrs *hs, const char *p, size_t n)
{
	struct hdr *h = &hs->h[hs->n - 1];
	char *add, *nv;

	if ((add = reply_trimdup(p, n)) == NULL ||
	    (nv = realloc(h->val, strlen(h->val) + strlen(add) + 2)) == NULL) {
		free(add);
		hs->oom = 1;
		return;
	}
	h->val = nv;
	if (h->val[0] != '\0' && add[0] != '\0')
		strcat(h->val, " ");
	strcat(h->val, add);
	free(add);
}

static void
reply_hdrs_parse(struct hdrs *hs, const char *p, const char *end)
{
	const char *line, *colon;
	size_t len;
	int last = 0;		/* the previous line started a kept header */

	memset(hs, 0, sizeof(*hs));
	while (p < end) {
		line = p;
		p = reply_eol(p, end, &len);
		if (len == 0)
			break;
		if (line[0] == ' ' || line[0] == '\t') {
			if (last)
				reply_hdr_append(hs, line, len);
			continue;
		}
		last = 0;
		if ((colon = memchr(line, ':', len)) == NULL ||
		    hs->n == REPLY_HDR_MAX)
			continue;
		hs->h[hs->n].name = line;
		hs->h[hs->n].nlen = (size_t)(colon - line);
		while (hs->h[hs->n].nlen > 0 &&
		    isspace((unsigned char)line[hs->h[hs->n].nlen - 1]))
			hs->h[hs->n].nlen--;
		if ((hs->h[hs->n].val = reply_trimdup(colon + 1,
		    len - (size_t)(colon + 1 - line))) == NULL) {
			hs->oom = 1;
			continue;
		}
		hs->n++;
		last = 1;
	}
	hs->body = p;
	hs->end = end;
}

static void
reply_hdrs_free(struct hdrs *hs)
{
	size_t i;

	for (i = 0; i < hs->n; i++)
		free(hs->h[i].val);
	hs->n = 0;
}

/* The topmost header of that name, and how many there are. */
static const char *
reply_hdr(const struct hdrs *hs, const char *name, size_t *count)
{
	const char *v = NULL;
	size_t i, n = 0, len = strlen(name);

	for (i = 0; i < hs->n; i++)
		if (hs->h[i].nlen == len &&
		    strncasecmp(hs->h[i].name, name, len) == 0) {
			if (n++ == 0)
				v = hs->h[i].val;
		}
	if (count != NULL)
		*count = n;
	return v;
}

/* The first word of v, without case, is w. */
static int
reply_word_is(const char *v, const char *w)
{
	size_t n = strlen(w);

	while (*v == ' ' || *v == '\t')
		v++;
	return strncasecmp(v, w, n) == 0 && (v[n] == '\0' || v[n] == ';' ||
	    isspace((unsigned char)v[n]));
}

/* Why this is an auto-reply, bounce or list message, or NULL. */
static const char *
reply_automatic(const struct hdrs *hs, const char *from)
{
	const char *v;
	const char *at = strchr(from, '@');

	if ((v = reply_hdr(hs, "Auto-Submitted", NULL)) != NULL &&
	    !reply_word_is(v, "no"))
		return "automatic message (Auto-Submitted)";
	if ((v = reply_hdr(hs, "Precedence", NULL)) != NULL &&
	    (reply_word_is(v, "bulk") || reply_word_is(v, "list") ||
	    reply_word_is(v, "junk")))
		return "bulk or list message (Precedence)";
	if ((v = reply_hdr(hs, "Return-Path", NULL)) != NULL &&
	    strcmp(v, "<>") == 0)
		return "bounce (empty envelope sender)";
	if (at != NULL && at - from == 13 &&
	    strncasecmp(from, "mailer-daemon", 13) == 0)
		return "bounce (From: MAILER-DAEMON)";
	if (reply_hdr(hs, "X-Autoreply", NULL) != NULL)
		return "automatic message (X-Autoreply)";
	if (reply_hdr(hs, "List-Id", NULL) != NULL)
		return "mailing-list message (List-Id)";
	return NULL;
}

/*
 * The one address of a From value into out: quoted strings and comments
 * are skipped, "<a@b>" wins over bare text. -1 when there is none, more
 * than one, or it is malformed.
 */
static int
reply_from(const char *v, char *out, size_t len)
{
	const char *p, *s = NULL, *e = NULL, *at;
	int depth = 0, quote = 0, angle = 0;
	size_t n;

	for (p = v; *p != '\0'; p++) {
		if (quote) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				quote = 0;
		} else if (*p == '"' && depth == 0)
			quote = 1;
		else if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (depth > 0)
			continue;
		else if (*p == '<' && angle++ == 0)
			s = p + 1;
		else if (*p == '>' && angle == 1 && e == NULL)
			e = p;
		else if (*p == ',')
			return -1;
	}
	if (angle > 1 || (angle == 1 && e == NULL))
		return -1;
	if (s == NULL) {
		s = v;
		e = v + strlen(v);
		while (s < e && isspace((unsigned char)*s))
			s++;
		while (e > s && isspace((unsigned char)e[-1]))
			e--;
	}
	n = (size_t)(e - s);
	if (n == 0 || n >= len || (at = memchr(s, '@', n)) == NULL ||
	    at == s || at == e - 1 || memchr(at + 1, '@', (size_t)(e - at - 1)))
		return -1;
	for (p = s; p < e; p++)
		if ((unsigned char)*p <= ' ' || *p == '<' || *p == '>' ||
		    *p == '"' || *p == '(' || *p == ')' || *p == ',' ||
		    (unsigned char)*p == 0x7f)
			return -1;
	memcpy(out, s, n);
	out[n] = '\0';
	return 0;
}

/* Appends the "<...>" tokens of v to r->ids (reversed: newest first). */
static void
reply_ids(struct reply *r, const char *v, int reversed)
{
	char tok[REPLY_IDS_MAX][REPLY_ID_MAX];
	const char *p = v, *s, *e;
	size_t n = 0, i;

	while (v != NULL && (s = strchr(p, '<')) != NULL &&
	    (e = strchr(s, '>')) != NULL) {
		p = e + 1;
		if ((size_t)(e - s) + 2 > REPLY_ID_MAX ||
		    strcspn(s, " \t\r\n") < (size_t)(e - s))
			continue;
		if (n < REPLY_IDS_MAX) {
			memcpy(tok[n], s, (size_t)(e - s) + 1);
			tok[n++][e - s + 1] = '\0';
		} else if (reversed) {	/* keep the newest */
			memmove(tok[0], tok[1], sizeof(tok[0]) * (n - 1));
			memcpy(tok[n - 1], s, (size_t)(e - s) + 1);
			tok[n - 1][e - s + 1] = '\0';
		}
	}
	for (i = 0; i < n && r->nids < REPLY_IDS_MAX; i++)
		strlcpy(r->ids[r->nids++], tok[reversed ? n - 1 - i : i],
		    REPLY_ID_MAX);
}

/* a and b are one domain, or one is a subdomain of the other (relaxed
 * alignment; the shorter must still have a dot: never a bare TLD). */
static int
reply_aligned(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	const char *lng = la >= lb ? a : b, *sht = la >= lb ? b : a;
	size_t ll = la >= lb ? la : lb, ls = la >= lb ? lb : la;

	if (ls == 0 || strchr(sht, '.') == NULL)
		return 0;
	if (ll == ls)
		return strcasecmp(a, b) == 0;
	return lng[ll - ls - 1] == '.' && strcasecmp(lng + ll - ls, sht) == 0;
}

/* A property's domain in one resinfo: "header.d=example.com", the part
 * after '@' of "smtp.mailfrom=a@example.com"; "" when absent. */
static void
reply_ar_prop(const char *res, const char *prop, char *out, size_t len)
{
	const char *p = res, *v, *at;
	size_t n = strlen(prop), vn;

	out[0] = '\0';
	for (; (p = strcasestr(p, prop)) != NULL; p += n) {
		if ((p != res && !isspace((unsigned char)p[-1])) || p[n] != '=')
			continue;
		v = p + n + 1;
		vn = strcspn(v, " \t");
		for (at = v; (at = memchr(at, '@', vn - (size_t)(at - v))) !=
		    NULL; at++) {
			vn -= (size_t)(at + 1 - v);
			v = at + 1;
		}
		if (vn < len) {
			memcpy(out, v, vn);
			out[vn] = '\0';
		}
		return;
	}
}

/* One resinfo ("dkim=pass header.d=x") vouches for domain. */
static int
reply_ar_pass(const char *res, const char *domain)
{
	char d[256];

	while (isspace((unsigned char)*res))
		res++;
	if (strncasecmp(res, "dmarc=pass", 10) == 0 && (res[10] == '\0' ||
	    isspace((unsigned char)res[10]))) {
		reply_ar_prop(res, "header.from", d, sizeof(d));
		return d[0] == '\0' || strcasecmp(d, domain) == 0;
	}
	if (strncasecmp(res, "dkim=pass", 9) == 0 && (res[9] == '\0' ||
	    isspace((unsigned char)res[9]))) {
		reply_ar_prop(res, "header.d", d, sizeof(d));
		if (d[0] == '\0')
			reply_ar_prop(res, "header.i", d, sizeof(d));
		return reply_aligned(d, domain);
	}
	if (strncasecmp(res, "spf=pass", 8) == 0 && (res[8] == '\0' ||
	    isspace((unsigned char)res[8]))) {
		reply_ar_prop(res, "smtp.mailfrom", d, sizeof(d));
		return reply_aligned(d, domain);
	}
	return 0;
}

/* The topmost Authentication-Results vouches for from's domain. */
static int
reply_authenticated(const struct hdrs *hs, const char *from)
{
	const char *ar = reply_hdr(hs, "Authentication-Results", NULL);
	const char *domain = strchr(from, '@');
	char *copy, *p, *q, *res, *save = NULL;
	int depth = 0, ok = 0;

	if (ar == NULL || domain == NULL || (copy = strdup(ar)) == NULL)
		return 0;
	/* comments go: "(sender IP is ...)" must never be read as a result */
	for (p = q = copy; *p != '\0'; p++) {
		if (*p == '(')
			depth++;
		else if (*p == ')' && depth > 0)
			depth--;
		else if (depth == 0)
			*q++ = *p;
	}
	*q = '\0';
	/* the first element is the authserv-id */
	if ((res = strtok_r(copy, ";", &save)) != NULL)
		while (!ok && (res = strtok_r(NULL, ";", &save)) != NULL)
			ok = reply_ar_pass(res, domain + 1);
	free(copy);
	return ok;
}

static int
reply_hex(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static char *
reply_qp(const char *p, const char *end)
{
	char *out = malloc((size_t)(end - p) + 1), *o = out;

	if (out == NULL)
		return NULL;
	while (p < end) {
		if (*p != '=') {
			*o++ = *p++;
		} else if (end - p >= 3 && reply_hex(p[1]) >= 0 &&
		    reply_hex(p[2]) >= 0) {
			*o++ = (char)(reply_hex(p[1]) << 4 | reply_hex(p[2]));
			p += 3;
		} else if (end - p >= 2 && p[1] == '\n')
			p += 2;
		else if (end - p >= 3 && p[1] == '\r' && p[2] == '\n')
			p += 3;
		else
			*o++ = *p++;
	}
	*o = '\0';
	return out;
}

static char *
reply_base64(const char *p, const char *end)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((size_t)(end - p) + 1), *o = out;
	const char *c;
	unsigned acc = 0;
	int bits = 0;

	if (out == NULL)
		return NULL;
	for (; p < end && *p != '='; p++) {
		if (*p == '\0' || (c = strchr(a, *p)) == NULL)
			continue;
		acc = (acc << 6 | (unsigned)(c - a)) & 0xffffff;
		if ((bits += 6) >= 8) {
			bits -= 8;
			*o++ = (char)(acc >> bits & 0xff);
		}
	}
	*o = '\0';
	return out;
}

/* The decoded body of a leaf part. */
static char *
reply_decode(const struct hdrs *hs)
{
	const char *cte = reply_hdr(hs, "Content-Transfer-Encoding", NULL);

	if (cte != NULL && reply_word_is(cte, "quoted-printable"))
		return reply_qp(hs->body, hs->end);
	if (cte != NULL && reply_word_is(cte, "base64"))
		return reply_base64(hs->body, hs->end);
	return strndup(hs->body, (size_t)(hs->end - hs->body));
}

/* boundary="..." of a Content-Type into out; -1 when none. */
static int
reply_boundary(const char *ct, char *out, size_t len)
{
	const char *p = strcasestr(ct, "boundary="), *e;

	if (p == NULL)
		return -1;
	p += 9;
	if (*p == '"')
		e = strchr(++p, '"');
	else
		e = p + strcspn(p, "; \t");
	if (e == NULL || e == p || (size_t)(e - p) >= len)
		return -1;
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
	return 0;
}

static char *reply_text(const struct hdrs *, int);

/* The first text/plain inside a multipart body. */
static char *
reply_multipart(const struct hdrs *hs, const char *ct, int depth)
{
	char b[204], *text = NULL;
	const char *p = hs->body, *line, *start = NULL, *prev = NULL;
	struct hdrs *part;
	size_t len, blen;

	if (reply_boundary(ct, b + 2, sizeof(b) - 2) == -1 ||
	    (part = malloc(sizeof(*part))) == NULL)
		return NULL;
	b[0] = b[1] = '-';
	blen = strlen(b);
	while (text == NULL && p < hs->end) {
		line = p;
		p = reply_eol(p, hs->end, &len);
		if (len < blen || memcmp(line, b, blen) != 0) {
			prev = line;
			continue;
		}
		/* the line break before the delimiter is the delimiter's */
		if (start != NULL && prev != NULL) {
			reply_hdrs_parse(part, start, line > start &&
			    line[-1] == '\n' ? line - (line - 1 > start &&
			    line[-2] == '\r' ? 2 : 1) : line);
			text = reply_text(part, depth + 1);
			reply_hdrs_free(part);
		}
		if (len >= blen + 2 && memcmp(line + blen, "--", 2) == 0)
			break;
		start = p;
		prev = NULL;
	}
	free(part);
	return text;
}

/* The text of a message or part: text/plain, or found in a multipart. */
static char *
reply_text(const struct hdrs *hs, int depth)
{
	const char *ct = reply_hdr(hs, "Content-Type", NULL);

	if (depth > REPLY_DEPTH_MAX)
		return NULL;
	if (ct != NULL && strncasecmp(ct, "multipart/", 10) == 0)
		return reply_multipart(hs, ct, depth);
	if (ct == NULL || reply_word_is(ct, "text/plain"))
		return reply_decode(hs);
	return NULL;
}

/* Skips blanks, including UTF-8 no-break spaces that phones type. */
static const char *
reply_skip_blank(const char *p, const char *e)
{
	for (;;) {
		if (p < e && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		else if (e - p >= 2 && (unsigned char)p[0] == 0xc2 &&
		    (unsigned char)p[1] == 0xa0)
			p += 2;
		else
			return p;
	}
}

/* e without trailing blanks, no-break spaces, '.' and '!'. */
static const char *
reply_trim_end(const char *p, const char *e)
{
	for (;;) {
		if (e > p && (isspace((unsigned char)e[-1]) || e[-1] == '.' ||
		    e[-1] == '!'))
			e--;
		else if (e - p >= 2 && (unsigned char)e[-2] == 0xc2 &&
		    (unsigned char)e[-1] == 0xa0)
			e -= 2;
		else
			return e;
	}
}

/* The first non-empty, unquoted line, trimmed and lowercased. */
static void
reply_first_line(const char *text, char *out, size_t len)
{
	const char *p, *e, *nl;
	size_t n, i;

	out[0] = '\0';
	for (p = text; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		e = nl != NULL ? nl : p + strlen(p);
		p = reply_skip_blank(p, e);
		e = reply_trim_end(p, e);
		if (p < e && *p != '>') {
			n = (size_t)(e - p) < len - 1 ? (size_t)(e - p) :
			    len - 1;
			for (i = 0; i < n; i++)
				out[i] = (char)tolower((unsigned char)p[i]);
			out[n] = '\0';
			return;
		}
		if (nl == NULL)
			return;
	}
}

static enum reply_action
reply_command(struct reply *r)
{
	static const char *const acks[] = { "ack", "ok", "quit",
	    "quittiert", NULL };
	const char *const *a;
	const char *c = r->command;

	for (a = acks; *a != NULL; a++)
		if (strcmp(c, *a) == 0)
			return REPLY_ACK;
	if (strcmp(c, "unshelve") == 0)
		return REPLY_UNSHELVE;
	if (strncmp(c, "shelve ", 7) == 0 &&
	    config_parse_duration(c + 7 + strspn(c + 7, " "),
	    &r->shelve_ms) == 0 && r->shelve_ms > 0 &&
	    r->shelve_ms <= REPLY_SHELVE_MAX_MS)
		return REPLY_SHELVE;
	r->shelve_ms = 0;
	return REPLY_HELP;
}

static enum reply_action
reply_refuse(struct reply *r, const char *why)
{
	r->action = REPLY_REFUSE;
	r->why = why;
	return REPLY_REFUSE;
}

/* Headers of the message itself: who, which thread, automatic or not. */
static enum reply_action
reply_envelope(const struct hdrs *hs, int require_auth, struct reply *r)
{
	const char *v, *why;
	size_t n;

	if ((v = reply_hdr(hs, "Message-ID", NULL)) != NULL &&
	    v[0] == '<' && strlen(v) < sizeof(r->message_id) &&
	    strcspn(v, " \t") == strlen(v))
		strlcpy(r->message_id, v, sizeof(r->message_id));
	if ((v = reply_hdr(hs, "Subject", NULL)) != NULL)
		strlcpy(r->subject, v, sizeof(r->subject));
	if ((v = reply_hdr(hs, "From", &n)) == NULL || n != 1 ||
	    reply_from(v, r->from, sizeof(r->from)) == -1) {
		r->from[0] = '\0';
		r->automatic = 1;	/* nobody to answer */
		return reply_refuse(r, "not exactly one From address");
	}
	if ((why = reply_automatic(hs, r->from)) != NULL) {
		r->automatic = 1;
		return reply_refuse(r, why);
	}
	reply_ids(r, reply_hdr(hs, "In-Reply-To", NULL), 0);
	reply_ids(r, reply_hdr(hs, "References", NULL), 1);
	if (r->nids == 0)
		return reply_refuse(r, "not a reply (no In-Reply-To or "
		    "References)");
	if (require_auth && !reply_authenticated(hs, r->from))
		return reply_refuse(r, "sender not authenticated (no "
		    "dmarc=pass, aligned dkim=pass or spf=pass in "
		    "Authentication-Results)");
	return REPLY_HELP;
}

enum reply_action
reply_classify(const char *msg, size_t len, int require_auth,
    struct reply *r)
{
	struct hdrs *hs;
	char *text;

	memset(r, 0, sizeof(*r));
	if ((hs = malloc(sizeof(*hs))) == NULL)
		return reply_refuse(r, "out of memory");
	reply_hdrs_parse(hs, msg, msg + len);
	if (hs->oom)
		reply_refuse(r, "out of memory");
	else if (reply_envelope(hs, require_auth, r) != REPLY_REFUSE) {
		if ((text = reply_text(hs, 0)) != NULL)
			reply_first_line(text, r->command, sizeof(r->command));
		free(text);
		r->action = reply_command(r);
	}
	reply_hdrs_free(hs);
	free(hs);
	return r->action;
}

const char *
reply_action_name(enum reply_action a)
{
	static const char *const names[] = {
		[REPLY_REFUSE] = "refuse",
		[REPLY_ACK] = "ack",
		[REPLY_SHELVE] = "shelve",
		[REPLY_UNSHELVE] = "unshelve",
		[REPLY_HELP] = "help",
	};

	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] :
	    "?";
}
