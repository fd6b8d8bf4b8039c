/*
 * http.c - the web server around webpage.c: libmicrohttpd daemons (one per
 * listen address, each with its internal polling thread), access list,
 * sessions with a CSRF token, login, actions through the control socket.
 *
 * Limits: HTTP_CONNS connections (HTTP_PER_IP from one address), 15 s of
 * idle time per connection, request headers within MHD's memory limit,
 * a form body of at most HTTP_BODY_MAX octets (413 beyond). No URL maps to
 * a file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "modbus2mail/config.h"
#include "modbus2mail/ctl.h"
#include "modbus2mail/history.h"
#include "modbus2mail/http.h"
#include "modbus2mail/log.h"
#include "modbus2mail/netaddr.h"
#include "modbus2mail/snapshot.h"
#include "modbus2mail/spool.h"
#include "modbus2mail/users.h"
#include "modbus2mail/util.h"
#include "modbus2mail/webpage.h"

#define HTTP_CONNS		32
#define HTTP_PER_IP		16
#define HTTP_IDLE_S		15
#define HTTP_MEMORY		(32 * 1024)
#define HTTP_BODY_MAX		4096
#define HTTP_SESSIONS		32
#define HTTP_SESSION_MS		(8 * 3600 * 1000ULL)
#define HTTP_TOKEN_HEX		32
#define HTTP_HISTORY_ROWS	1000
#define HTTP_CSV_ROWS		1000000
#define HTTP_NOTICE_MAX		256
#define HTTP_SUBJECT_MAX	256	/* shown of a queued mail's Subject */
#define HTTP_COOKIE		"m2m_session"
#define HTTP_LOGIN_SLOTS	16	/* client addresses remembered */
#define HTTP_LOGIN_FAILS	5	/* failed logins per window ... */
#define HTTP_LOGIN_WINDOW_MS	60000	/* ... before the address waits */

/* Failed logins of one client address (password guessing). */
struct http_login_fail {
	char addr[INET6_ADDRSTRLEN];	/* "" = free */
	unsigned n;
	uint64_t since;			/* monotonic ms of the first */
};

struct http_session {
	char id[HTTP_TOKEN_HEX + 1];	/* "" = free slot */
	char csrf[HTTP_TOKEN_HEX + 1];
	char user[USERS_NAME_MAX];
	uint64_t expires;		/* monotonic ms */
	char notice[HTTP_NOTICE_MAX];	/* shown once by the next page */
	int notice_error;
};

struct http;

struct http_listener {
	struct http *h;
	struct MHD_Daemon *mhd;
	int tls;
};

struct http {
	const struct config *cfg;
	struct spool *spool;
	struct users *users;		/* owned; NULL = no login */
	char *cert, *key;		/* PEM text; owned */
	struct snapshot_board *board;	/* the daemon's */
	pthread_mutex_t lock;		/* sessions, actions */
	int actions_closed;		/* http_actions_close() was called */
	int acting;			/* actions waiting for the daemon */
	struct http_session sessions[HTTP_SESSIONS];
	struct http_login_fail fails[HTTP_LOGIN_SLOTS];	/* under lock */
	struct http_listener *l;	/* owned */
	size_t nl;
	struct netaddr_cidr lo[2];	/* loopback: may log in over HTTP */
};

/* One request: its form body while it arrives (POST). */
struct http_req {
	char body[HTTP_BODY_MAX + 1];
	size_t len;
	int too_big;
};

/* What a handler knows about the request. */
struct http_call {
	struct http *h;
	struct MHD_Connection *c;
	const char *url;
	int secure;			/* HTTPS or a loopback client */
	char addr[INET6_ADDRSTRLEN];	/* the client's, numeric */
	struct http_session s;		/* copy; s.id "" = not logged in */
	const char *body;		/* POST form, NUL-terminated, or NULL */
};

static enum MHD_Result http_handle(void *, struct MHD_Connection *,
		    const char *, const char *, const char *, const char *,
		    size_t *, void **);
static void	http_completed(void *, struct MHD_Connection *, void **,
		    enum MHD_RequestTerminationCode);
static void	http_logger(void *, const char *, va_list);
static int	http_acting(struct http *, int);

/* Sends what f holds (closed here) with status and content type. */
static enum MHD_Result
http_send(struct http_call *k, int status, const char *ctype, FILE *f,
    char **bufp, size_t *len, const char *cookie, const char *location)
{
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *buf;

	/* the stream's buffer is known once it is closed */
	if (fclose(f) == EOF) {
		free(*bufp);
		return MHD_NO;
	}
	buf = *bufp;
	if ((r = MHD_create_response_from_buffer(*len, buf,
	    MHD_RESPMEM_MUST_FREE)) == NULL) {
		free(buf);
		return MHD_NO;
	}
	MHD_add_response_header(r, "Content-Type", ctype);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "same-origin");
	MHD_add_response_header(r, "Content-Security-Policy", "default-src "
	    "'none'; style-src 'unsafe-inline'; form-action 'self'; "
	    "frame-ancestors 'none'");
	if (cookie != NULL)
		MHD_add_response_header(r, "Set-Cookie", cookie);
	if (location != NULL)
		MHD_add_response_header(r, "Location", location);
	ret = MHD_queue_response(k->c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
http_error(struct http_call *k, int status, const char *text)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return MHD_NO;
	webpage_error(f, status, text);
	return http_send(k, status, "text/html; charset=utf-8", f, &buf, &len,
	    NULL, NULL);
}

static enum MHD_Result
http_redirect(struct http_call *k, const char *to, const char *cookie)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return MHD_NO;
	webpage_error(f, 303, "See other");
	return http_send(k, 303, "text/html; charset=utf-8", f, &buf, &len,
	    cookie, to);
}

static void
http_token(char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[HTTP_TOKEN_HEX / 2];
	size_t i;

	if (getrandom(b, sizeof(b), 0) != (ssize_t)sizeof(b))
		fatal("http: getrandom");
	for (i = 0; i < sizeof(b); i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[HTTP_TOKEN_HEX] = '\0';
}

/* Compares without an early exit (tokens are secrets). */
static int
http_token_eq(const char *a, const char *b)
{
	size_t i;
	unsigned char d = 0;

	if (strlen(a) != HTTP_TOKEN_HEX || strlen(b) != HTTP_TOKEN_HEX)
		return 0;
	for (i = 0; i < HTTP_TOKEN_HEX; i++)
		d |= (unsigned char)(a[i] ^ b[i]);
	return d == 0;
}

/* The caller's session by cookie into k->s; expired ones are freed. */
static void
http_session_find(struct http_call *k)
{
	const char *id = MHD_lookup_connection_value(k->c, MHD_COOKIE_KIND,
	    HTTP_COOKIE);
	struct http_session *s;
	uint64_t now = util_mono_ms();
	size_t i;

	memset(&k->s, 0, sizeof(k->s));
	pthread_mutex_lock(&k->h->lock);
	for (i = 0; i < HTTP_SESSIONS; i++) {
		s = &k->h->sessions[i];
		if (s->id[0] != '\0' && s->expires <= now)
			memset(s, 0, sizeof(*s));
		if (id != NULL && s->id[0] != '\0' && http_token_eq(s->id, id)) {
			k->s = *s;
			s->notice[0] = '\0';
		}
	}
	pthread_mutex_unlock(&k->h->lock);
}

/* A new session for user (the oldest is replaced when all are taken). */
static void
http_session_new(struct http *h, const char *user, struct http_session *out)
{
	struct http_session *s, *victim = &h->sessions[0];
	size_t i;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < HTTP_SESSIONS; i++) {
		s = &h->sessions[i];
		if (s->id[0] == '\0' || s->expires < victim->expires)
			victim = s;
		if (s->id[0] == '\0')
			break;
	}
	memset(victim, 0, sizeof(*victim));
	http_token(victim->id);
	http_token(victim->csrf);
	strlcpy(victim->user, user, sizeof(victim->user));
	victim->expires = util_mono_ms() + HTTP_SESSION_MS;
	*out = *victim;
	pthread_mutex_unlock(&h->lock);
}

static void
http_session_end(struct http *h, const char *id)
{
	size_t i;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < HTTP_SESSIONS; i++)
		if (http_token_eq(h->sessions[i].id, id))
			memset(&h->sessions[i], 0, sizeof(h->sessions[i]));
	pthread_mutex_unlock(&h->lock);
}

/* One line for the session's next page. */
static void
http_session_notice(struct http *h, const char *id, const char *text,
    int error)
{
	size_t i;

	pthread_mutex_lock(&h->lock);
	for (i = 0; i < HTTP_SESSIONS; i++)
		if (http_token_eq(h->sessions[i].id, id)) {
			strlcpy(h->sessions[i].notice, text,
			    sizeof(h->sessions[i].notice));
			h->sessions[i].notice_error = error;
		}
	pthread_mutex_unlock(&h->lock);
}

/*
 * Field name of an application/x-www-form-urlencoded body into out
 * ('+' is a space, %XX decoded). 0, or -1 absent or too long.
 */
static int
http_form_get(const char *body, const char *name, char *out, size_t len)
{
	size_t nlen = strlen(name), vlen;
	const char *p = body;

	while (p != NULL && *p != '\0') {
		vlen = strcspn(p, "&");
		if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			if (vlen - nlen - 1 >= len)
				return -1;
			memcpy(out, p + nlen + 1, vlen - nlen - 1);
			out[vlen - nlen - 1] = '\0';
			for (p = out; (p = strchr(p, '+')) != NULL; )
				*(char *)p = ' ';
			MHD_http_unescape(out);
			return 0;
		}
		p = p[vlen] == '&' ? p + vlen + 1 : NULL;
	}
	return -1;
}

/* The page's context for k. */
static void
http_ctx(const struct http_call *k, struct webpage_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->user = k->s.id[0] != '\0' ? k->s.user : NULL;
	ctx->csrf = k->s.csrf;
	ctx->can_login = k->h->users != NULL && k->secure;
	ctx->notice = k->s.notice[0] != '\0' ? k->s.notice : NULL;
	ctx->notice_error = k->s.notice_error;
	ctx->now = time(NULL);
}

/* Pages drawn from the snapshot: overview, configuration, metrics,
 * healthz. 503 until the daemon has published one. */
static enum MHD_Result
http_snapshot_page(struct http_call *k)
{
	struct webpage_ctx ctx;
	struct snapshot *s;
	const char *ctype = "text/html; charset=utf-8";
	char *buf = NULL;
	size_t len = 0;
	int status = 200;
	FILE *f;

	if ((s = snapshot_take(k->h->board)) == NULL)
		return http_error(k, 503, "starting up");
	if ((f = open_memstream(&buf, &len)) == NULL) {
		snapshot_release(k->h->board, s);
		return MHD_NO;
	}
	http_ctx(k, &ctx);
	if (strcmp(k->url, "/metrics") == 0) {
		ctype = "text/plain; version=0.0.4; charset=utf-8";
		webpage_metrics(f, s);
	} else if (strcmp(k->url, "/healthz") == 0) {
		ctype = "application/json";
		status = webpage_healthz(f, s);
	} else if (strcmp(k->url, "/config") == 0)
		webpage_config(f, s, &ctx);
	else
		webpage_overview(f, s, &ctx);
	snapshot_release(k->h->board, s);
	return http_send(k, status, ctype, f, &buf, &len, NULL, NULL);
}

/* The Subject of each entry (NULL when out of memory). */
static char **
http_subjects(struct spool *sp, const struct spool_entry *v, size_t n,
    int failed)
{
	char **s, subj[HTTP_SUBJECT_MAX];
	size_t i;

	if ((s = calloc(n + 1, sizeof(*s))) == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (spool_subject(sp, v[i].id, failed, subj, sizeof(subj)) == 0)
			s[i] = strdup(subj);
	return s;
}

static void
http_subjects_free(char **s, size_t n)
{
	size_t i;

	for (i = 0; s != NULL && i < n; i++)
		free(s[i]);
	free(s);
}

static enum MHD_Result
http_queue_page(struct http_call *k)
{
	struct spool_entry *q = NULL, *fl = NULL;
	struct webpage_ctx ctx;
	size_t nq = 0, nf = 0;
	char *buf = NULL, **qs, **fs;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return MHD_NO;
	/* on request only: a person opened the queue page */
	if (spool_scan(k->h->spool, &q, &nq) == -1)
		nq = 0;
	if (spool_scan_failed(k->h->spool, &fl, &nf) == -1)
		nf = 0;
	qs = http_subjects(k->h->spool, q, nq, 0);
	fs = http_subjects(k->h->spool, fl, nf, 1);
	http_ctx(k, &ctx);
	webpage_queue(f, q, qs, nq, fl, fs, nf, &ctx);
	http_subjects_free(qs, nq);
	http_subjects_free(fs, nf);
	spool_entries_free(q, nq);
	spool_entries_free(fl, nf);
	return http_send(k, 200, "text/html; charset=utf-8", f, &buf, &len,
	    NULL, NULL);
}

/* A query argument, NULL when absent or empty. */
static const char *
http_arg(struct http_call *k, const char *name)
{
	const char *v = MHD_lookup_connection_value(k->c,
	    MHD_GET_ARGUMENT_KIND, name);

	return v != NULL && *v != '\0' ? v : NULL;
}

/* Appends name=value, percent-encoded, to the query string q. */
static void
http_query_add(FILE *q, const char *name, const char *v)
{
	if (v == NULL)
		return;
	if (ftell(q) > 0)
		fputc('&', q);
	fprintf(q, "%s=", name);
	for (; *v != '\0'; v++)
		if ((*v >= 'a' && *v <= 'z') || (*v >= 'A' && *v <= 'Z') ||
		    (*v >= '0' && *v <= '9') || strchr("-._~", *v) != NULL)
			fputc(*v, q);
		else
			fprintf(q, "%%%02X", (unsigned char)*v);
}

/* The history filter of the request; -1 with a message for a bad one. */
static int
http_history_filter(struct http_call *k, struct history_filter *hf,
    char *err, size_t errlen)
{
	const char *since = http_arg(k, "since"), *kind = http_arg(k, "kind");
	uint64_t ms = 86400000;

	memset(hf, 0, sizeof(*hf));
	hf->device = http_arg(k, "device");
	hf->rule = http_arg(k, "rule");
	hf->kind = -1;
	if (since != NULL && config_parse_duration(since, &ms) == -1) {
		snprintf(err, errlen, "bad since '%s' (e.g. 24h, 7d)", since);
		return -1;
	}
	if (kind != NULL && (hf->kind = history_kind_parse(kind)) == -1) {
		snprintf(err, errlen, "unknown kind '%s'", kind);
		return -1;
	}
	hf->since_ms = (int64_t)(util_wall_ms() - ms);
	return 0;
}

static int
http_history_html_row(const struct history_row *r, void *arg)
{
	webpage_history_row(arg, r);
	return 0;
}

static int
http_history_csv_row(const struct history_row *r, void *arg)
{
	history_csv_row(arg, r);
	return 0;
}

static enum MHD_Result
http_history_page(struct http_call *k, int csv)
{
	struct history_filter hf;
	struct webpage_ctx ctx;
	char err[256] = "", path[4096], *buf = NULL, *qs = NULL;
	size_t len = 0, qlen = 0;
	FILE *f, *q;
	int bad;

	if (!k->h->cfg->history.enabled)
		return http_error(k, 404, "history is off (history: false)");
	bad = http_history_filter(k, &hf, err, sizeof(err)) == -1;
	if (bad && csv)
		return http_error(k, 400, err);
	if ((f = open_memstream(&buf, &len)) == NULL)
		return MHD_NO;
	hf.limit = csv ? HTTP_CSV_ROWS : HTTP_HISTORY_ROWS;
	history_path(k->h->cfg, path, sizeof(path));
	if (csv) {
		history_csv_header(f);
		if (history_query(path, &hf, http_history_csv_row, f, err,
		    sizeof(err)) == -1)
			log_warnx("http: %s", err);
		return http_send(k, 200, "text/csv; charset=utf-8", f, &buf,
		    &len, NULL, NULL);
	}
	if ((q = open_memstream(&qs, &qlen)) != NULL) {
		http_query_add(q, "device", hf.device);
		http_query_add(q, "rule", hf.rule);
		http_query_add(q, "kind", http_arg(k, "kind"));
		http_query_add(q, "since", http_arg(k, "since"));
		fclose(q);
	}
	http_ctx(k, &ctx);
	webpage_history_begin(f, &hf, qs != NULL ? qs : "", &ctx);
	free(qs);
	if (!bad && history_query(path, &hf, http_history_html_row, f, err,
	    sizeof(err)) == 0)
		err[0] = '\0';
	webpage_history_end(f, err[0] != '\0' ? err : NULL);
	return http_send(k, 200, "text/html; charset=utf-8", f, &buf, &len,
	    NULL, NULL);
}

static enum MHD_Result
http_login_page(struct http_call *k, const char *error)
{
	struct webpage_ctx ctx;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return MHD_NO;
	http_ctx(k, &ctx);
	if (error == NULL && k->h->users == NULL)
		error = "No users_file in the http section: the page is read "
		    "only.";
	else if (error == NULL && !k->secure)
		error = "Log in over HTTPS or from the gateway itself.";
	webpage_login(f, &ctx, error);
	return http_send(k, error != NULL && k->body != NULL ? 403 : 200,
	    "text/html; charset=utf-8", f, &buf, &len, NULL, NULL);
}

/* A user name as typed, for the log: printable ASCII only. */
static void
http_log_name(char *dst, size_t len, const char *src)
{
	size_t i;

	for (i = 0; i + 1 < len && src[i] != '\0'; i++)
		dst[i] = src[i] > ' ' && src[i] < 0x7f ? src[i] : '?';
	dst[i] = '\0';
}

/*
 * 1 when k's address failed HTTP_LOGIN_FAILS times within the window.
 * With failed, counts one more failure; with ok, forgets the address.
 */
static int
http_login_guard(struct http_call *k, int failed, int ok)
{
	struct http_login_fail *f, *slot = NULL, *old = &k->h->fails[0];
	uint64_t now = util_mono_ms();
	size_t i;
	int blocked = 0;

	pthread_mutex_lock(&k->h->lock);
	for (i = 0; i < HTTP_LOGIN_SLOTS; i++) {
		f = &k->h->fails[i];
		if (f->addr[0] != '\0' && now - f->since >= HTTP_LOGIN_WINDOW_MS)
			memset(f, 0, sizeof(*f));
		if (strcmp(f->addr, k->addr) == 0)
			slot = f;
		if (f->addr[0] == '\0' || f->since < old->since)
			old = f;
	}
	if (slot == NULL && failed) {
		slot = old;
		memset(slot, 0, sizeof(*slot));
		strlcpy(slot->addr, k->addr, sizeof(slot->addr));
		slot->since = now;
	}
	if (slot != NULL) {
		slot->n += failed;
		blocked = slot->n >= HTTP_LOGIN_FAILS;
		if (ok)
			memset(slot, 0, sizeof(*slot));
	}
	pthread_mutex_unlock(&k->h->lock);
	return blocked;
}

static enum MHD_Result
http_login(struct http_call *k)
{
	char user[USERS_NAME_MAX], pass[256], cookie[160], shown[USERS_NAME_MAX];
	struct http_session s;
	int ok;

	if (k->h->users == NULL || !k->secure)
		return http_login_page(k, NULL);
	if (http_login_guard(k, 0, 0)) {
		log_warnx("http: login refused from %s: %d failures within "
		    "%ds", k->addr, HTTP_LOGIN_FAILS, HTTP_LOGIN_WINDOW_MS / 1000);
		return http_error(k, 429, "too many failed logins from this "
		    "address: wait a minute");
	}
	if (http_form_get(k->body, "user", user, sizeof(user)) == -1 ||
	    http_form_get(k->body, "password", pass, sizeof(pass)) == -1)
		return http_login_page(k, "User and password, please.");
	ok = users_check(k->h->users, user, pass);
	explicit_bzero(pass, sizeof(pass));
	http_log_name(shown, sizeof(shown), user);
	http_login_guard(k, !ok, ok);
	if (!ok) {
		log_warnx("http: login failed user=%s from %s", shown, k->addr);
		return http_login_page(k, "Wrong user or password.");
	}
	http_session_new(k->h, user, &s);
	log_info("http: login user=%s", shown);
	snprintf(cookie, sizeof(cookie), HTTP_COOKIE "=%s; Path=/; HttpOnly; "
	    "SameSite=Strict%s", s.id, k->secure && k->h->cert != NULL ?
	    "; Secure" : "");
	return http_redirect(k, "/", cookie);
}

/* The form's token against the session's; 0 when the form may act. */
static int
http_csrf_ok(struct http_call *k)
{
	char token[HTTP_TOKEN_HEX + 2];

	return k->s.id[0] != '\0' && http_form_get(k->body, "csrf", token,
	    sizeof(token)) == 0 && http_token_eq(token, k->s.csrf);
}

static enum MHD_Result
http_logout(struct http_call *k)
{
	if (!http_csrf_ok(k))
		return http_error(k, 403, "bad or missing form token");
	http_session_end(k->h, k->s.id);
	return http_redirect(k, "/", HTTP_COOKIE "=; Path=/; HttpOnly; "
	    "SameSite=Strict; Max-Age=0");
}

/* The form as a control request, checked like the command line's. */
static int
http_action_req(struct http_call *k, struct ctl_req *req, char *err,
    size_t errlen)
{
	char verb[16], name[CTL_NAME_MAX], dur[16] = "1h", reason[128];
	char *argv[5];
	int argc = 2;

	if (http_form_get(k->body, "verb", verb, sizeof(verb)) == -1 ||
	    http_form_get(k->body, "name", name, sizeof(name)) == -1 ||
	    (strcmp(verb, "ack") != 0 && strcmp(verb, "shelve") != 0 &&
	    strcmp(verb, "unshelve") != 0 && strcmp(verb, "retry") != 0 &&
	    strcmp(verb, "delete") != 0)) {
		snprintf(err, errlen, "bad action");
		return -1;
	}
	argv[0] = verb;
	argv[1] = name;
	if (strcmp(verb, "shelve") == 0) {
		http_form_get(k->body, "for", dur, sizeof(dur));
		snprintf(reason, sizeof(reason), "by %s via the web page",
		    k->s.user);
		argv[2] = dur;
		argv[3] = "--reason";
		argv[4] = reason;
		argc = 5;
	}
	if (ctl_req_from_args(argc, argv, req, err, errlen) == -1)
		return -1;
	strlcpy(req->user, k->s.user, sizeof(req->user));
	return 0;
}

/* First line of a control reply, for the notice. */
static void
http_first_line(char *dst, size_t len, const char *text)
{
	strlcpy(dst, text != NULL ? text : "", len);
	dst[strcspn(dst, "\n")] = '\0';
}

/* One more (1) or one less (-1) action waiting for the daemon; -1 when
 * actions are closed. */
static int
http_acting(struct http *h, int delta)
{
	int r = 0;

	pthread_mutex_lock(&h->lock);
	if (delta > 0 && h->actions_closed)
		r = -1;
	else
		h->acting += delta;
	pthread_mutex_unlock(&h->lock);
	return r;
}

int
http_actions_close(struct http *h)
{
	int n;

	if (h == NULL)
		return 0;
	pthread_mutex_lock(&h->lock);
	h->actions_closed = 1;
	n = h->acting;
	pthread_mutex_unlock(&h->lock);
	return n;
}

static enum MHD_Result
http_action(struct http_call *k)
{
	struct ctl_req req;
	char err[256], notice[HTTP_NOTICE_MAX], *out = NULL, *eout = NULL;
	size_t olen = 0, elen = 0;
	FILE *o, *e;
	int rc = -1;

	if (!k->secure)
		return http_error(k, 403, "actions need HTTPS or a client on "
		    "the gateway itself");
	if (k->s.id[0] == '\0')
		return http_error(k, 403, "log in first");
	if (!http_csrf_ok(k))
		return http_error(k, 403, "bad or missing form token");
	if (http_action_req(k, &req, err, sizeof(err)) == -1)
		return http_error(k, 400, err);
	if (http_acting(k->h, 1) == -1)
		return http_error(k, 503, "the gateway is reloading its "
		    "configuration; try again");
	if ((o = open_memstream(&out, &olen)) != NULL &&
	    (e = open_memstream(&eout, &elen)) != NULL) {
		rc = ctl_request(k->h->cfg, &req, o, e);
		fclose(e);
	}
	if (o != NULL)
		fclose(o);
	http_acting(k->h, -1);
	http_first_line(notice, sizeof(notice), rc == 0 ? out : rc == -1 ?
	    "the daemon does not answer on its control socket" : eout);
	free(out);
	free(eout);
	log_info("http: user=%s %s %s: %s", k->s.user, ctl_verb_name(req.verb),
	    req.name, notice);
	http_session_notice(k->h, k->s.id, notice, rc != 0);
	return http_redirect(k, req.verb == CTL_RETRY || req.verb ==
	    CTL_DELETE ? "/queue" : "/", NULL);
}

static enum MHD_Result
http_route(struct http_call *k, const char *method)
{
	const char *u = k->url;

	if (strcmp(method, "POST") == 0) {
		if (strcmp(u, "/login") == 0)
			return http_login(k);
		if (strcmp(u, "/logout") == 0)
			return http_logout(k);
		if (strcmp(u, "/action") == 0)
			return http_action(k);
		return http_error(k, 404, "no such page");
	}
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return http_error(k, 405, "method not allowed");
	if (strcmp(u, "/") == 0 || strcmp(u, "/metrics") == 0 ||
	    strcmp(u, "/healthz") == 0 || strcmp(u, "/config") == 0)
		return http_snapshot_page(k);
	if (strcmp(u, "/queue") == 0)
		return http_queue_page(k);
	if (strcmp(u, "/history") == 0)
		return http_history_page(k, 0);
	if (strcmp(u, "/history.csv") == 0)
		return http_history_page(k, 1);
	if (strcmp(u, "/login") == 0)
		return http_login_page(k, NULL);
	return http_error(k, 404, "no such page");
}

static enum MHD_Result
http_handle(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	struct http_listener *l = cls;
	struct http_req *rq = *con_cls;
	const union MHD_ConnectionInfo *ci;
	struct http_call k;

	memset(&k, 0, sizeof(k));
	k.h = l->h;
	k.c = c;
	k.url = url;
	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || !netaddr_match_any(k.h->cfg->http.allow,
	    k.h->cfg->http.nallow, ci->client_addr))
		return http_error(&k, 403, "this address may not use the "
		    "gateway's web page (http.allow)");
	if (strcmp(method, "POST") == 0) {
		if (rq == NULL) {
			if ((rq = calloc(1, sizeof(*rq))) == NULL)
				return MHD_NO;
			*con_cls = rq;
			return MHD_YES;
		}
		if (*upload_size > 0) {
			if (rq->len + *upload_size > HTTP_BODY_MAX)
				rq->too_big = 1;
			else {
				memcpy(rq->body + rq->len, upload, *upload_size);
				rq->len += *upload_size;
			}
			*upload_size = 0;
			return MHD_YES;
		}
		if (rq->too_big)
			return http_error(&k, 413, "request too large");
		rq->body[rq->len] = '\0';
		k.body = rq->body;
	}
	k.secure = l->tls || netaddr_match_any(k.h->lo, 2, ci->client_addr);
	if (getnameinfo(ci->client_addr, ci->client_addr->sa_family ==
	    AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in),
	    k.addr, sizeof(k.addr), NULL, 0, NI_NUMERICHOST) != 0)
		strlcpy(k.addr, "?", sizeof(k.addr));
	http_session_find(&k);
	return http_route(&k, method);
}

/* The form body may hold a password: wiped before it is freed. */
static void
http_completed(void *cls, struct MHD_Connection *c, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_req *rq = *con_cls;

	if (rq == NULL)
		return;
	explicit_bzero(rq, sizeof(*rq));
	free(rq);
	*con_cls = NULL;
}

static void
http_logger(void *arg, const char *fmt, va_list ap)
{
	char msg[512];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_warnx("http: %s", msg);
}

/* A listening socket for "host:port" ("*" = every IPv4 address). */
static int
http_bind(const char *spec, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	char host[256], port[8];
	unsigned p;
	int fd = -1, one = 1, rc;

	if (netaddr_split_hostport(spec, host, sizeof(host), &p, 8025) == -1) {
		snprintf(err, errlen, "http: bad listen address %s", spec);
		return -1;
	}
	snprintf(port, sizeof(port), "%u", p);
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(strcmp(host, "*") == 0 ? NULL : host, port,
	    &hints, &res)) != 0) {
		snprintf(err, errlen, "http: listen %s: %s", spec,
		    gai_strerror(rc));
		return -1;
	}
	if ((fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    (res->ai_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)) == -1) ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(fd, 16) == -1) {
		snprintf(err, errlen, "http: listen %s: %s", spec,
		    strerror(errno));
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Whole small file (a PEM) as a string; NULL with err. */
static char *
http_read_pem(const char *path, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0, n;
	char chunk[4096];
	FILE *f, *m;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "http: tls: %s: %s", path,
		    strerror(errno));
		return NULL;
	}
	if ((m = open_memstream(&buf, &len)) == NULL)
		fatal("http: open_memstream");
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0 && len < 1 << 20)
		fwrite(chunk, 1, n, m);
	fclose(m);
	fclose(f);
	explicit_bzero(chunk, sizeof(chunk));
	return buf;
}

static int
http_listen(struct http *h, struct http_listener *l, const char *spec,
    char *err, size_t errlen)
{
	struct MHD_OptionItem ops[] = {
		{ MHD_OPTION_EXTERNAL_LOGGER, (intptr_t)http_logger, NULL },
		{ MHD_OPTION_LISTEN_SOCKET, 0, NULL },
		{ MHD_OPTION_CONNECTION_LIMIT, HTTP_CONNS, NULL },
		{ MHD_OPTION_PER_IP_CONNECTION_LIMIT, HTTP_PER_IP, NULL },
		{ MHD_OPTION_CONNECTION_TIMEOUT, HTTP_IDLE_S, NULL },
		{ MHD_OPTION_CONNECTION_MEMORY_LIMIT, HTTP_MEMORY, NULL },
		{ MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)http_completed, NULL },
		{ MHD_OPTION_HTTPS_MEM_KEY, 0, h->key },
		{ MHD_OPTION_HTTPS_MEM_CERT, 0, h->cert },
		{ MHD_OPTION_END, 0, NULL },
	};
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
	    MHD_USE_ERROR_LOG;
	int fd;

	if ((fd = http_bind(spec, err, errlen)) == -1)
		return -1;
	ops[1].value = fd;
	l->h = h;
	l->tls = h->cert != NULL;
	if (l->tls)
		flags |= MHD_USE_TLS;
	else
		ops[7].option = MHD_OPTION_END;	/* no HTTPS keys */
	l->mhd = MHD_start_daemon(flags, 0, NULL, NULL, http_handle, l,
	    MHD_OPTION_ARRAY, ops, MHD_OPTION_END);
	if (l->mhd == NULL) {
		snprintf(err, errlen, "http: cannot serve %s%s", spec, l->tls ?
		    " (check http.tls cert and key)" : "");
		close(fd);
		return -1;
	}
	log_info("http: listening on %s (%s)", spec, l->tls ? "https" : "http");
	return 0;
}

struct http *
http_start(const struct config *cfg, struct spool *spool,
    struct snapshot_board *board, char *err, size_t errlen)
{
	const struct config_http *hc = &cfg->http;
	struct http *h = xcalloc(1, sizeof(*h));
	char uerr[256];
	size_t i;

	h->cfg = cfg;
	h->spool = spool;
	pthread_mutex_init(&h->lock, NULL);
	h->board = board;
	netaddr_parse_cidr("127.0.0.0/8", &h->lo[0]);
	netaddr_parse_cidr("::1/128", &h->lo[1]);
	h->l = xcalloc(hc->listen.n, sizeof(*h->l));
	if (hc->users_file != NULL && (h->users = users_load(hc->users_file,
	    uerr, sizeof(uerr))) == NULL) {
		snprintf(err, errlen, "http: users_file %s", uerr);
		goto fail;
	}
	if (hc->tls_cert != NULL && ((h->cert = http_read_pem(hc->tls_cert,
	    err, errlen)) == NULL || (h->key = http_read_pem(hc->tls_key,
	    err, errlen)) == NULL))
		goto fail;
	for (i = 0; i < hc->listen.n; i++, h->nl++)
		if (http_listen(h, &h->l[i], hc->listen.v[i], err, errlen) ==
		    -1)
			goto fail;
	return h;
fail:
	http_stop(h);
	return NULL;
}

void
http_stop(struct http *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->nl; i++)
		MHD_stop_daemon(h->l[i].mhd);
	free(h->l);
	users_free(h->users);
	if (h->key != NULL)
		explicit_bzero(h->key, strlen(h->key));
	free(h->key);
	free(h->cert);
	pthread_mutex_destroy(&h->lock);
	explicit_bzero(h->sessions, sizeof(h->sessions));
	free(h);
}
