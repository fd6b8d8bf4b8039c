/*
 * compose.c - RFC 5322 / MIME alarm messages (SPEC §5). Pure: no I/O.
 *
 * Headers are ASCII: values that are not (or are too long for one line)
 * become RFC 2047 "B" encoded words of at most 36 octets of UTF-8 each,
 * never splitting a character, folded one per line. Every value passes
 * through compose_clean() first, so CR/LF from templates or configuration
 * can never start a header line of their own. Bodies are CRLF text, sent
 * 7bit when plain short ASCII, quoted-printable otherwise.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modbus2mail/buf.h"
#include "modbus2mail/compose.h"
#include "modbus2mail/util.h"

#define COMPOSE_WORD_OCTETS 36   /* UTF-8 octets per encoded word */
#define COMPOSE_RAW_MAX 900      /* longer ASCII values are encoded */
#define COMPOSE_FOLD 78
#define COMPOSE_LINE_MAX 998
#define COMPOSE_QP_LINE 76

static char	*compose_clean(const char *);
static int	compose_needs_encoding(const char *);
static size_t	compose_utf8_len(const unsigned char *, size_t);
static void	compose_encode_words(struct buf *, const char *);
static void	compose_b64(struct buf *, const unsigned char *,
		    size_t);
static void	compose_address(struct buf *, const char *);
static void	compose_address_list(struct buf *, const char *,
		    char *const *, size_t);
static const char *compose_var(const struct compose_vars *, const char *,
		    size_t, int *);
static char	*compose_crlf(const char *, int *);
static void	compose_qp(struct buf *, const char *);
static char	*compose_message(const struct compose_text *, const char *,
		    size_t *);

const char *const compose_fields[] = {
#define F(x) #x,
	COMPOSE_FIELDS(F)
#undef F
	NULL
};

static const char compose_b64chars[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Copy with every control character (CR, LF, TAB...) made a space. */
static char *
compose_clean(const char *s)
{
	char *d;
	size_t i;

	if ((d = strdup(s != NULL ? s : "")) == NULL)
		return NULL;
	for (i = 0; d[i] != '\0'; i++)
		if ((unsigned char)d[i] < 0x20 || d[i] == 0x7f)
			d[i] = ' ';
	return d;
}

static int
compose_needs_encoding(const char *s)
{
	const unsigned char *p;

	if (strlen(s) > COMPOSE_RAW_MAX || strstr(s, "=?") != NULL)
		return 1;
	for (p = (const unsigned char *)s; *p != '\0'; p++)
		if (*p >= 0x80)
			return 1;
	return 0;
}

/* Octets of the UTF-8 sequence at p (1 for a stray byte). */
static size_t
compose_utf8_len(const unsigned char *p, size_t left)
{
	size_t n = 1, i;

	if (*p >= 0xf0 && *p < 0xf8)
		n = 4;
	else if (*p >= 0xe0)
		n = 3;
	else if (*p >= 0xc0)
		n = 2;
	if (n > left)
		return 1;
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 1;
	return n;
}

static void
compose_b64(struct buf *b, const unsigned char *p, size_t n)
{
	char q[4];
	unsigned v;
	size_t i;

	for (i = 0; i < n; i += 3) {
		v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = compose_b64chars[(v >> 18) & 63];
		q[1] = compose_b64chars[(v >> 12) & 63];
		q[2] = i + 1 < n ? compose_b64chars[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? compose_b64chars[v & 63] : '=';
		buf_add(b, q, 4);
	}
}

/* RFC 2047 encoded words, folded: "=?utf-8?B?...?=\r\n =?utf-8?B?...?=". */
static void
compose_encode_words(struct buf *b, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s), n, c;

	if (left == 0)
		return;
	while (left > 0) {
		n = 0;
		while (n < left) {
			c = compose_utf8_len(p + n, left - n);
			if (n + c > COMPOSE_WORD_OCTETS)
				break;
			n += c;
		}
		buf_adds(b, "=?utf-8?B?");
		compose_b64(b, p, n);
		buf_adds(b, "?=");
		p += n;
		left -= n;
		if (left > 0)
			buf_adds(b, "\r\n ");
	}
}

char *
compose_header_value(const char *value)
{
	struct buf b = { 0 };
	char *c;

	if ((c = compose_clean(value)) == NULL)
		return NULL;
	if (!compose_needs_encoding(c))
		return c;
	compose_encode_words(&b, c);
	free(c);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p != NULL ? b.p : strdup("");
}

/* "Name <a@b>" or "a@b", display name quoted or encoded as needed. */
static void
compose_address(struct buf *b, const char *raw)
{
	char *s, *lt, *gt, *name, *end;
	const char *q;

	if ((s = compose_clean(raw)) == NULL) {
		b->oom = 1;
		return;
	}
	lt = strrchr(s, '<');
	gt = lt != NULL ? strchr(lt, '>') : NULL;
	if (lt == NULL || gt == NULL) {
		for (name = s; *name == ' '; name++)
			;
		for (end = name + strlen(name); end > name && end[-1] == ' ';)
			*--end = '\0';
		buf_adds(b, name);
		free(s);
		return;
	}
	*lt = '\0';
	*gt = '\0';
	for (name = s; *name == ' '; name++)
		;
	for (end = lt; end > name && end[-1] == ' ';)
		*--end = '\0';
	if (end - name >= 2 && name[0] == '"' && end[-1] == '"') {
		*--end = '\0';
		name++;
	}
	if (*name != '\0') {
		if (compose_needs_encoding(name))
			compose_encode_words(b, name);
		else if (strpbrk(name, "()<>[]:;@\\,.\"") != NULL) {
			buf_adds(b, "\"");
			for (q = name; *q != '\0'; q++) {
				if (*q == '"' || *q == '\\')
					buf_adds(b, "\\");
				buf_add(b, q, 1);
			}
			buf_adds(b, "\"");
		} else
			buf_adds(b, name);
		buf_adds(b, " ");
	}
	buf_printf(b, "<%s>", lt + 1);
	free(s);
}

/* "Name: a, b,\r\n c" folded before an item that would pass column 78. */
static void
compose_address_list(struct buf *b, const char *name,
    char *const *v, size_t n)
{
	struct buf one;
	size_t i, col;

	buf_printf(b, "%s: ", name);
	col = strlen(name) + 2;
	for (i = 0; i < n; i++) {
		memset(&one, 0, sizeof(one));
		compose_address(&one, v[i]);
		if (one.oom) {
			b->oom = 1;
			free(one.p);
			return;
		}
		if (i > 0) {
			buf_adds(b, ",");
			col++;
			if (col + 1 + one.len > COMPOSE_FOLD) {
				buf_adds(b, "\r\n");
				col = 0;
			}
			buf_adds(b, " ");
			col++;
		}
		if (one.p != NULL)
			buf_add(b, one.p, one.len);
		/* An encoded display name ends after its last fold. */
		if (one.p != NULL && strrchr(one.p, '\n') != NULL)
			col = strlen(strrchr(one.p, '\n'));
		else
			col += one.len;
		free(one.p);
	}
	buf_adds(b, "\r\n");
}

static const char *
compose_var(const struct compose_vars *v, const char *name, size_t len,
    int *ok)
{
	static const size_t off[] = {
#define F(x) offsetof(struct compose_vars, x),
		COMPOSE_FIELDS(F)
#undef F
	};
	const char *val;
	size_t i;

	for (i = 0; compose_fields[i] != NULL; i++)
		if (strlen(compose_fields[i]) == len &&
		    memcmp(compose_fields[i], name, len) == 0) {
			*ok = 1;
			memcpy(&val, (const char *)v + off[i], sizeof(val));
			return val != NULL ? val : "";
		}
	*ok = 0;
	return NULL;
}

char *
compose_template(const char *tmpl, const struct compose_vars *v)
{
	struct buf b = { 0 };
	const char *p, *close, *val;
	int ok;

	for (p = tmpl; *p != '\0'; p++) {
		if (*p != '{') {
			buf_add(&b, p, 1);
			continue;
		}
		if (p[1] == '{') {
			buf_add(&b, "{", 1);
			p++;
			continue;
		}
		if ((close = strchr(p, '}')) == NULL ||
		    (val = compose_var(v, p + 1, (size_t)(close - p - 1),
		    &ok)) == NULL) {
			free(b.p);
			errno = EINVAL;
			return NULL;
		}
		buf_adds(&b, val);
		p = close;
	}
	if (b.oom) {
		free(b.p);
		errno = ENOMEM;
		return NULL;
	}
	return b.p != NULL ? b.p : strdup("");
}

/* \n, \r\n and lone \r all become CRLF; *plain says whether 7bit will do. */
static char *
compose_crlf(const char *s, int *plain)
{
	struct buf b = { 0 };
	size_t col = 0;

	*plain = 1;
	for (; *s != '\0'; s++) {
		if (*s == '\r' || *s == '\n') {
			if (*s == '\r' && s[1] == '\n')
				s++;
			buf_add(&b, "\r\n", 2);
			col = 0;
			continue;
		}
		if ((unsigned char)*s >= 0x80 || ((unsigned char)*s < 0x20 &&
		    *s != '\t') || *s == 0x7f)
			*plain = 0;
		if (++col > COMPOSE_LINE_MAX)
			*plain = 0;
		buf_add(&b, s, 1);
	}
	if (b.len == 0 || b.p[b.len - 1] != '\n')
		buf_add(&b, "\r\n", 2);
	if (b.oom) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* Quoted-printable (RFC 2045 §6.7) of CRLF text, lines <= 76. */
static void
compose_qp(struct buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	char enc[4];
	size_t col = 0, n;
	unsigned char c;
	int last;

	for (; *s != '\0'; s++) {
		if (s[0] == '\r' && s[1] == '\n') {
			buf_adds(b, "\r\n");
			s++;
			col = 0;
			continue;
		}
		c = (unsigned char)*s;
		last = s[1] == '\r' || s[1] == '\0';
		if ((c >= 33 && c <= 126 && c != '=') ||
		    ((c == ' ' || c == '\t') && !last)) {
			enc[0] = (char)c;
			n = 1;
		} else {
			enc[0] = '=';
			enc[1] = hex[c >> 4];
			enc[2] = hex[c & 15];
			n = 3;
		}
		/* Room for the soft break '=' unless the line ends here. */
		if (col + n > (last ? COMPOSE_QP_LINE : COMPOSE_QP_LINE - 1)) {
			buf_adds(b, "=\r\n");
			col = 0;
		}
		buf_add(b, enc, n);
		col += n;
	}
}

/* Headers and body for a ready subject/body; rules NULL = no rule header. */
static char *
compose_message(const struct compose_text *t, const char *rules, size_t *len)
{
	struct buf b = { 0 };
	char date[64], *v, *body;
	int plain;

	compose_address_list(&b, "From", (char *const *)&t->from, 1);
	if (t->reply_to != NULL)
		compose_address_list(&b, "Reply-To",
		    (char *const *)&t->reply_to, 1);
	compose_address_list(&b, "To", t->to, t->nto);
	if ((v = compose_header_value(t->subject)) == NULL)
		goto oom;
	buf_printf(&b, "Subject: ");
	buf_adds(&b, v);
	buf_adds(&b, "\r\n");
	free(v);
	compose_date(date, sizeof(date), t->date);
	buf_printf(&b, "Date: %s\r\n", date);
	if ((v = compose_clean(t->message_id)) == NULL)
		goto oom;
	buf_printf(&b, "Message-ID: %s\r\n", v);
	free(v);
	if (t->in_reply_to != NULL && t->in_reply_to[0] != '\0') {
		if ((v = compose_clean(t->in_reply_to)) == NULL)
			goto oom;
		buf_printf(&b, "In-Reply-To: %s\r\nReferences: %s\r\n", v,
		    v);
		free(v);
	}
	buf_printf(&b, "Auto-Submitted: %s\r\n", t->auto_submitted !=
	    NULL ? t->auto_submitted : "auto-generated");
	if (rules != NULL) {
		buf_adds(&b, "X-Modbus2mail-Rule: ");
		buf_adds(&b, rules);
		buf_adds(&b, "\r\n");
	}
	if ((body = compose_crlf(t->body != NULL ? t->body : "", &plain)) ==
	    NULL)
		goto oom;
	buf_printf(&b, "MIME-Version: 1.0\r\n"
	    "Content-Type: text/plain; charset=utf-8\r\n"
	    "Content-Transfer-Encoding: %s\r\n\r\n",
	    plain ? "7bit" : "quoted-printable");
	if (plain)
		buf_adds(&b, body);
	else
		compose_qp(&b, body);
	free(body);
	if (b.oom)
		goto oom;
	if (len != NULL)
		*len = b.len;
	return b.p;
oom:
	free(b.p);
	errno = ENOMEM;
	return NULL;
}

char *
compose_plain(const struct compose_text *t, size_t *len)
{
	return compose_message(t, NULL, len);
}

char *
compose_alarm(const struct compose_mail *m, size_t *len)
{
	struct buf body = { 0 }, rules = { 0 };
	struct compose_text t;
	const struct compose_item *it;
	char *subject = NULL, *s, *out = NULL, rule[128];
	size_t i, j, col = 20;

	if (m->nitems == 0) {
		errno = EINVAL;
		return NULL;
	}
	if (m->intro != NULL)
		buf_printf(&body, "%s\n\n", m->intro);
	for (i = 0; i < m->nitems; i++) {
		it = &m->items[i];
		/* Rule names are [A-Za-z0-9_.-]; anything else is dropped. */
		for (j = 0; it->rule != NULL && it->rule[j] != '\0' &&
		    j < sizeof(rule) - 1; j++)
			rule[j] = isalnum((unsigned char)it->rule[j]) ||
			    strchr("_.-", it->rule[j]) != NULL ? it->rule[j] :
			    '_';
		rule[j] = '\0';
		if (i > 0) {
			buf_adds(&rules, ",");
			if (col + 2 + j > COMPOSE_FOLD) {
				buf_adds(&rules, "\r\n");
				col = 0;
			}
			buf_adds(&rules, " ");
			col += 2;
		}
		buf_adds(&rules, rule);
		col += j;
		if (m->nitems > 1) {
			s = compose_template(it->subject_tmpl, &it->vars);
			buf_printf(&body, "%s* ", i > 0 ? "\n" : "");
			buf_adds(&body, s != NULL ? s : it->subject_tmpl);
			buf_adds(&body, "\n\n");
			free(s);
		}
		s = compose_template(it->body_tmpl, &it->vars);
		buf_adds(&body, s != NULL ? s : it->body_tmpl);
		free(s);
	}
	if (m->outro != NULL)
		buf_printf(&body, "\n%s", m->outro);
	if (m->subject != NULL)
		subject = strdup(m->subject);
	else {
		subject = compose_template(m->items[0].subject_tmpl,
		    &m->items[0].vars);
		if (subject == NULL && errno != ENOMEM)
			subject = strdup(m->items[0].subject_tmpl);
	}
	if (subject == NULL || body.oom || rules.oom)
		goto out;
	memset(&t, 0, sizeof(t));
	t.from = m->from;
	t.to = m->to;
	t.nto = m->nto;
	t.subject = subject;
	t.body = body.p != NULL ? body.p : "";
	t.date = m->date;
	t.message_id = m->message_id;
	t.in_reply_to = m->in_reply_to;
	t.reply_to = m->reply_to;
	out = compose_message(&t, rules.p != NULL ? rules.p : "", len);
out:
	free(subject);
	free(body.p);
	free(rules.p);
	if (out == NULL)
		errno = ENOMEM;
	return out;
}

void
compose_date(char *buf, size_t len, time_t t)
{
	static const char *const days[] = { "Sun", "Mon", "Tue", "Wed", "Thu",
	    "Fri", "Sat" };
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr",
	    "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;
	long off;

	if (localtime_r(&t, &tm) == NULL) {
		snprintf(buf, len, "Thu, 01 Jan 1970 00:00:00 +0000");
		return;
	}
	off = tm.tm_gmtoff / 60;
	snprintf(buf, len, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld",
	    days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	    tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
	    off < 0 ? '-' : '+', labs(off) / 60, labs(off) % 60);
}

void
compose_message_id(char *buf, size_t len, const char *hostname, time_t t,
    unsigned long long rnd)
{
	char host[256];
	size_t i;

	strlcpy(host, hostname != NULL && hostname[0] != '\0' ? hostname :
	    "localhost", sizeof(host));
	for (i = 0; host[i] != '\0'; i++)
		if (!isalnum((unsigned char)host[i]) && host[i] != '.' &&
		    host[i] != '-')
			host[i] = '-';
	snprintf(buf, len, "<%llx.%llx.m2m@%s>", (unsigned long long)t, rnd,
	    host);
}
