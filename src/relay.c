/*
 * relay.c - delivery thread: spool -> provider with libcurl (SPEC §7).
 *
 * One queue run = scan the spool, deliver every due message through one
 * CURL handle (so curl reuses the connection), then drop the handle. The
 * SMTP transcript is followed through CURLOPT_DEBUGFUNCTION (commands and
 * replies only; AUTH lines are never kept) to learn each recipient's reply
 * and the provider's last answer; curl alone cannot tell which recipient
 * CURLOPT_MAIL_RCPT_ALLLOWFAILS let through.
 *
 * What a failure means comes from verdict.c. A session that does not get
 * past MAIL FROM (connect, TLS, greeting, EHLO, AUTH, a 5xx to MAIL) breaks
 * the mail path: every message stays queued, and the rest of the run is
 * deferred without knocking again. A 5xx to RCPT fails that recipient, a 5xx
 * to DATA the message (failed/, failure notice). Everything else is retried
 * with backoff (retry.initial doubling up to retry.max, +-20% jitter) until
 * retry.give_up_after, then failed/.
 */
#include <sys/stat.h>

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "modbus2mail/compose.h"
#include "modbus2mail/config.h"
#include "modbus2mail/counter.h"
#include "modbus2mail/history.h"
#include "modbus2mail/log.h"
#include "modbus2mail/notify.h"
#include "modbus2mail/relay.h"
#include "modbus2mail/spool.h"
#include "modbus2mail/util.h"
#include "modbus2mail/verdict.h"

#define RELAY_IDLE_MS 1000       /* loop tick while idle (watchdog) */
#define RELAY_RESCAN_MS 10000    /* pick up mail spooled without a wake */
#define RELAY_ROUNDS_MAX 64      /* queue rescans in one run, one connection */
#define RELAY_REPLY_MAX 512
#define RELAY_WHY_MAX 2048       /* a description quoting a reply */
#define RELAY_HEADERS_MAX 8192   /* original headers quoted in a notice */

/* Result of one attempt for one recipient. */
enum relay_rcpt {
	RCPT_PENDING,                /* no answer: retried */
	RCPT_SENT,
	RCPT_TEMP,
	RCPT_PERM,
};

/* One connection's worth of state: a CURL handle and the transcript. */
struct relay_conn {
	CURL *curl;
	const struct config *cfg;
	const char *password;        /* not owned */
	struct relay *r;             /* NULL for test-mail */
	char errbuf[CURL_ERROR_SIZE];
	size_t url;                  /* index: 0 primary, then fallbacks */
	size_t tried;                /* URL of the last attempt */
	char urlbuf[1024];
	enum verdict_stage stage;
	int code;                    /* last final reply code, 0 = none */
	char reply[RELAY_REPLY_MAX]; /* last final reply line */
	enum verdict_stage fail_stage; /* command of the last 4xx/5xx reply */
	int fail_code;               /* 0 = no 4xx/5xx reply */
	char fail_reply[RELAY_REPLY_MAX];
	char *const *rcpts;          /* this message's recipients */
	size_t nrcpt;
	enum relay_rcpt *rstate;     /* per recipient */
	char (*rreply)[RELAY_REPLY_MAX];
	long cur_rcpt;               /* RCPT awaiting its reply, or -1 */
	int mail_ok;                 /* MAIL FROM accepted: the path works */
	int quit;                    /* QUIT sent: later replies ignored */
	int dead;                    /* the mail path broke this run: the */
	char dead_why[RELAY_WHY_MAX]; /* rest of the run is deferred alike */
	FILE *body;                  /* read callback source */
	size_t left;
	long body_off;
};

/* Recipients by outcome: sent ("a, b"), failed ("a: reply"), pending. */
struct relay_sorted {
	char *sent;
	size_t slen, nsent;
	char **perm, **pend;
	char **bare;                 /* addresses of perm, not owned */
	size_t nperm, npend;
};

struct relay {
	const struct config *cfg;
	struct spool *spool;
	char *password;              /* owned, wiped on stop */
	pthread_t thread;
	pthread_mutex_t lock;        /* wake, stop, mail path */
	pthread_cond_t cond;
	int wake, stop;
	atomic_uint_fast64_t alive;
	atomic_int healthy;
	uint64_t rng;
	int broken;                  /* mail path; under lock */
	time_t broken_since;
	char broken_why[RELAY_WHY_LEN];
};

static int	relay_read_password(const struct config *, char **, char *,
		    size_t);
static int	relay_cleartext(const struct config *);
static const char *relay_url(const struct config *, size_t);
static size_t	relay_nurls(const struct config *);
static int	relay_conn_init(struct relay_conn *, const struct config *,
		    const char *, struct relay *);
static void	relay_conn_reset_transcript(struct relay_conn *);
static CURLcode	relay_perform(struct relay_conn *, const char *,
		    char *const *, size_t, FILE *, size_t);
static CURLcode	relay_send(struct relay_conn *, const char *, char *const *,
		    size_t, FILE *, size_t);
static int	relay_unreachable(CURLcode, const struct relay_conn *);
static void	relay_setopt_tls(struct relay_conn *, const char *);
static size_t	relay_discard_cb(char *, size_t, size_t, void *);
static uint64_t	relay_probe(struct relay *, unsigned);
static char	*relay_test_message(const struct config *, const char *,
		    size_t *);
static void	relay_describe(const struct relay_conn *, CURLcode, char *,
		    size_t);
static int	relay_debug_cb(CURL *, curl_infotype, char *, size_t, void *);
static void	relay_reply_line(struct relay_conn *, const char *, size_t);
static size_t	relay_read_cb(char *, size_t, size_t, void *);
static int	relay_progress_cb(void *, curl_off_t, curl_off_t, curl_off_t,
		    curl_off_t);
static void	*relay_main(void *);
static void	relay_health(struct relay *, int);
static void	relay_probe_due(struct relay *, uint64_t *, unsigned *);
static int	relay_run_queue(struct relay *, int, time_t *);
static void	relay_deliver(struct relay *, struct relay_conn *,
		    const struct spool_entry *);
static int	relay_attempt(struct relay *, struct relay_conn *,
		    const struct spool_entry *, FILE *, size_t, char *, size_t);
static void	relay_path(struct relay *, const char *);
static void	relay_path_load(struct relay *);
static int	relay_sort(const struct relay_conn *, const struct spool_entry *,
		    const char *, struct relay_sorted *);
static void	relay_sorted_free(struct relay_sorted *);
static void	relay_settle(struct relay *, const struct relay_conn *,
		    const struct spool_entry *, char *,
		    const struct relay_sorted *);
static void	relay_record(enum history_kind, const char *, const char *);
static void	relay_defer(struct relay *, const struct spool_entry *,
		    char *const *, size_t, const char *);
static void	relay_notice(struct relay *, const struct spool_entry *,
		    const char *, const char *, char **, size_t);
static char	*relay_headers(struct spool *, const char *);
static uint64_t	relay_backoff_ms(struct relay *, unsigned);
static void	relay_quote(char *, size_t, const char *);

/* AUTH would travel in clear: smtp:// with tls: none. */
static int
relay_cleartext(const struct config *cfg)
{
	return cfg->smtp.tls_none &&
	    strncasecmp(cfg->smtp.url, "smtps://", 8) != 0;
}

static int
relay_read_password(const struct config *cfg, char **pw, char *err,
    size_t errlen)
{
	const char *path = cfg->smtp.password_file;

	*pw = NULL;
	if (cfg->smtp.username == NULL)
		return 0;
	if (relay_cleartext(cfg)) {
		snprintf(err, errlen, "smtp.username is set with tls: none: "
		    "refusing to send the password in clear");
		return -1;
	}
	if (path == NULL) {
		snprintf(err, errlen, "smtp.username is set but no "
		    "smtp.password_file");
		return -1;
	}
	return util_read_secret(path, pw, err, errlen);
}

static size_t
relay_nurls(const struct config *cfg)
{
	return 1 + cfg->smtp.fallback_urls.n;
}

static const char *
relay_url(const struct config *cfg, size_t i)
{
	return i == 0 ? cfg->smtp.url : cfg->smtp.fallback_urls.v[i - 1];
}

static int
relay_conn_init(struct relay_conn *c, const struct config *cfg,
    const char *password, struct relay *r)
{
	memset(c, 0, sizeof(*c));
	c->cfg = cfg;
	c->password = password;
	c->r = r;
	c->cur_rcpt = -1;
	if ((c->curl = curl_easy_init()) == NULL)
		return -1;
	return 0;
}

static void
relay_conn_reset_transcript(struct relay_conn *c)
{
	size_t i;

	c->stage = VERDICT_CONNECT;
	c->code = c->fail_code = c->mail_ok = c->quit = 0;
	c->fail_stage = VERDICT_CONNECT;
	c->reply[0] = c->fail_reply[0] = c->errbuf[0] = '\0';
	c->cur_rcpt = -1;
	for (i = 0; i < c->nrcpt; i++) {
		c->rstate[i] = RCPT_PENDING;
		c->rreply[i][0] = '\0';
	}
}

/* One reply line from the server; only final lines ("250 x") count. */
static void
relay_reply_line(struct relay_conn *c, const char *s, size_t n)
{
	char line[RELAY_REPLY_MAX];
	int code;

	while (n > 0 && (s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	if (n < 3 || (n > 3 && s[3] != ' '))
		return;
	if (n >= sizeof(line))
		n = sizeof(line) - 1;
	memcpy(line, s, n);
	line[n] = '\0';
	code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
	if (code < 200 || code > 599 || c->quit)
		return;
	if (c->stage == VERDICT_MAIL && code < 300)
		c->mail_ok = 1;
	c->code = code;
	strlcpy(c->reply, line, sizeof(c->reply));
	if (code >= 400) {
		c->fail_stage = c->stage;
		c->fail_code = code;
		strlcpy(c->fail_reply, line, sizeof(c->fail_reply));
	}
	if (c->stage == VERDICT_RCPT && c->cur_rcpt >= 0) {
		c->rstate[c->cur_rcpt] = code < 300 ? RCPT_SENT :
		    code < 500 ? RCPT_TEMP : RCPT_PERM;
		strlcpy(c->rreply[c->cur_rcpt], line, RELAY_REPLY_MAX);
		c->cur_rcpt = -1;
	}
}

static int
relay_debug_cb(CURL *h, curl_infotype type, char *data, size_t size,
    void *arg)
{
	struct relay_conn *c = arg;
	const char *nl, *end = data + size, *lt, *gt;
	size_t i, al;

	if (type == CURLINFO_HEADER_IN) {
		for (; data < end; data = (char *)nl + 1) {
			if ((nl = memchr(data, '\n', (size_t)(end - data))) ==
			    NULL)
				nl = end - 1;
			relay_reply_line(c, data, (size_t)(nl - data + 1));
		}
		return 0;
	}
	if (type != CURLINFO_HEADER_OUT)
		return 0;
	/* Only the verb is looked at: AUTH lines carry credentials. */
	if (size >= 4 && strncasecmp(data, "EHLO", 4) == 0)
		c->stage = VERDICT_EHLO;
	else if (size >= 4 && strncasecmp(data, "HELO", 4) == 0)
		c->stage = VERDICT_EHLO;
	else if (size >= 8 && strncasecmp(data, "STARTTLS", 8) == 0)
		c->stage = VERDICT_STARTTLS;
	else if (size >= 4 && strncasecmp(data, "AUTH", 4) == 0)
		c->stage = VERDICT_AUTH;
	else if (size >= 4 && strncasecmp(data, "MAIL", 4) == 0)
		c->stage = VERDICT_MAIL;
	else if (size >= 4 && strncasecmp(data, "DATA", 4) == 0)
		c->stage = VERDICT_DATA;
	else if (size >= 4 && strncasecmp(data, "QUIT", 4) == 0)
		c->quit = 1;
	else if (size >= 4 && strncasecmp(data, "RCPT", 4) == 0) {
		c->stage = VERDICT_RCPT;
		c->cur_rcpt = -1;
		if ((lt = memchr(data, '<', size)) == NULL ||
		    (gt = memchr(lt, '>', (size_t)(end - lt))) == NULL)
			return 0;
		al = (size_t)(gt - lt - 1);
		for (i = 0; i < c->nrcpt; i++)
			if (c->rstate[i] == RCPT_PENDING &&
			    strlen(c->rcpts[i]) == al &&
			    strncasecmp(c->rcpts[i], lt + 1, al) == 0) {
				c->cur_rcpt = (long)i;
				break;
			}
	}
	return 0;
}

static size_t
relay_read_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct relay_conn *c = arg;
	size_t want = size * nitems, n;

	if (want > c->left)
		want = c->left;
	if (want == 0)
		return 0;
	n = fread(buf, 1, want, c->body);
	if (n == 0)
		return CURL_READFUNC_ABORT;
	c->left -= n;
	return n;
}

static int
relay_progress_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
    curl_off_t ultotal, curl_off_t ulnow)
{
	struct relay_conn *c = arg;
	int stop;

	if (c->r == NULL)
		return 0;
	atomic_store(&c->r->alive, util_mono_ms());
	pthread_mutex_lock(&c->r->lock);
	stop = c->r->stop;
	pthread_mutex_unlock(&c->r->lock);
	/* Stopping: give up before DATA, never in the middle of it. */
	return stop && ulnow == 0 && c->stage < VERDICT_DATA;
}

/* One attempt against one URL. */
static CURLcode
relay_perform(struct relay_conn *c, const char *from, char *const *rcpts,
    size_t nrcpt, FILE *body, size_t len)
{
	const struct config *cfg = c->cfg;
	const char *url = relay_url(cfg, c->url), *p;
	struct curl_slist *rl = NULL, *nl;
	char addr[600], iface[300];
	long secs = (long)((cfg->smtp.timeout_ms + 999) / 1000);
	CURLcode res;
	size_t i;
	CURL *h = c->curl;

	/* The URL path is the EHLO name (SPEC §3 hostname). */
	p = strstr(url, "://");
	if (p != NULL && strchr(p + 3, '/') == NULL)
		snprintf(c->urlbuf, sizeof(c->urlbuf), "%s/%s", url,
		    cfg->hostname != NULL ? cfg->hostname : "localhost");
	else
		strlcpy(c->urlbuf, url, sizeof(c->urlbuf));
	for (i = 0; i < nrcpt; i++) {
		snprintf(addr, sizeof(addr), "<%s>", rcpts[i]);
		if ((nl = curl_slist_append(rl, addr)) == NULL) {
			curl_slist_free_all(rl);
			return CURLE_OUT_OF_MEMORY;
		}
		rl = nl;
	}
	relay_conn_reset_transcript(c);
	c->body = body;
	c->left = len;
	if (body != NULL && fseek(body, c->body_off, SEEK_SET) == -1) {
		curl_slist_free_all(rl);
		return CURLE_READ_ERROR;
	}
	curl_easy_reset(h);
	curl_easy_setopt(h, CURLOPT_URL, c->urlbuf);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
	relay_setopt_tls(c, url);
	if (cfg->smtp.source_address != NULL) {
		snprintf(iface, sizeof(iface), "host!%s",
		    cfg->smtp.source_address);
		curl_easy_setopt(h, CURLOPT_INTERFACE, iface);
	}
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    (long)cfg->smtp.timeout_ms);
	curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, secs);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, secs);
	if (from == NULL) {
		/* A probe: the session up to AUTH, then NOOP, no envelope. */
		curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "NOOP");
		curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, relay_discard_cb);
	} else {
		snprintf(addr, sizeof(addr), "<%s>", from);
		curl_easy_setopt(h, CURLOPT_MAIL_FROM, addr);
		curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rl);
		curl_easy_setopt(h, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L);
		curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)len);
		curl_easy_setopt(h, CURLOPT_READFUNCTION, relay_read_cb);
		curl_easy_setopt(h, CURLOPT_READDATA, c);
	}
	curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
	curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, relay_debug_cb);
	curl_easy_setopt(h, CURLOPT_DEBUGDATA, c);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, relay_progress_cb);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, c);
	res = curl_easy_perform(h);
	curl_easy_setopt(h, CURLOPT_MAIL_RCPT, NULL);
	curl_slist_free_all(rl);
	return res;
}

static size_t
relay_discard_cb(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

/*
 * The mail path broke and nothing is queued to show it works again: a
 * session up to AUTH and a NOOP does. Returns the next probe's delay.
 */
static uint64_t
relay_probe(struct relay *r, unsigned n)
{
	struct relay_conn c;
	char why[RELAY_WHY_MAX];
	CURLcode res;

	if (relay_conn_init(&c, r->cfg, r->password, r) == -1)
		return relay_backoff_ms(r, n);
	if ((res = relay_send(&c, NULL, NULL, 0, NULL, 0)) == CURLE_OK)
		relay_path(r, NULL);
	else if (res != CURLE_ABORTED_BY_CALLBACK) {
		relay_describe(&c, res, why, sizeof(why));
		log_warnx("relay: probe: mail path still broken: %s", why);
	}
	curl_easy_cleanup(c.curl);
	return relay_backoff_ms(r, n);
}

/* TLS (STARTTLS unless smtps://), verification and AUTH for url. */
static void
relay_setopt_tls(struct relay_conn *c, const char *url)
{
	const struct config *cfg = c->cfg;
	CURL *h = c->curl;

	if (strncasecmp(url, "smtps://", 8) != 0)
		curl_easy_setopt(h, CURLOPT_USE_SSL, cfg->smtp.tls_none ?
		    (long)CURLUSESSL_NONE : (long)CURLUSESSL_ALL);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER,
	    cfg->smtp.verify_peer ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST,
	    cfg->smtp.verify_peer ? 2L : 0L);
	if (cfg->smtp.ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, cfg->smtp.ca_file);
	if (cfg->smtp.username != NULL && c->password != NULL &&
	    !relay_cleartext(cfg)) {
		curl_easy_setopt(h, CURLOPT_USERNAME, cfg->smtp.username);
		curl_easy_setopt(h, CURLOPT_PASSWORD, c->password);
	}
}

/* The provider could not be reached at all: try the next URL. */
static int
relay_unreachable(CURLcode res, const struct relay_conn *c)
{
	if (c->code != 0)
		return 0;
	return res == CURLE_COULDNT_RESOLVE_HOST ||
	    res == CURLE_COULDNT_CONNECT || res == CURLE_OPERATION_TIMEDOUT ||
	    res == CURLE_GOT_NOTHING || res == CURLE_RECV_ERROR ||
	    res == CURLE_SEND_ERROR;
}

/* Tries c->url, then the following URLs while they are unreachable. */
static CURLcode
relay_send(struct relay_conn *c, const char *from, char *const *rcpts,
    size_t nrcpt, FILE *body, size_t len)
{
	CURLcode res;
	size_t n = relay_nurls(c->cfg);

	c->body_off = body != NULL ? ftell(body) : 0;
	for (;;) {
		c->tried = c->url;
		res = relay_perform(c, from, rcpts, nrcpt, body, len);
		if (!relay_unreachable(res, c) || c->url + 1 >= n)
			break;
		log_info("relay: url=%s unreachable (%s), trying %s",
		    relay_url(c->cfg, c->url), c->errbuf[0] ? c->errbuf :
		    curl_easy_strerror(res), relay_url(c->cfg, c->url + 1));
		c->url++;
	}
	/* Next message of the run starts at the URL that answered. */
	if (relay_unreachable(res, c) && n > 1)
		c->url = 0;
	return res;
}

/* One line saying what failed, as test-mail prints it and logs store it. */
static void
relay_describe(const struct relay_conn *c, CURLcode res, char *buf,
    size_t len)
{
	const char *url = relay_url(c->cfg, c->tried);
	const char *detail = c->errbuf[0] != '\0' ? c->errbuf :
	    curl_easy_strerror(res);
	size_t i;

	switch (res) {
	case CURLE_COULDNT_RESOLVE_HOST:
		snprintf(buf, len, "DNS: %s: %s", url, detail);
		return;
	case CURLE_COULDNT_CONNECT:
		snprintf(buf, len, "connect: %s: %s", url, detail);
		return;
	case CURLE_OPERATION_TIMEDOUT:
		snprintf(buf, len, "%s: %s: %s", c->code == 0 ? "connect" :
		    "timeout", url, detail);
		return;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
		snprintf(buf, len, "TLS verify: %s: %s", url, detail);
		return;
	case CURLE_USE_SSL_FAILED:
		snprintf(buf, len, "TLS: %s: server offers no STARTTLS "
		    "(smtp.tls is required)", url);
		return;
	case CURLE_SSL_CONNECT_ERROR:
		/* OpenSSL reports verification failures here too. */
		snprintf(buf, len, "TLS%s: %s: %s", strstr(detail,
		    "certificate") != NULL ? " verify" : "", url, detail);
		return;
	case CURLE_LOGIN_DENIED:
		snprintf(buf, len, "AUTH: %s", c->fail_stage == VERDICT_AUTH ?
		    c->fail_reply : detail);
		return;
	default:
		break;
	}
	switch (c->fail_code != 0 ? c->fail_stage : VERDICT_CONNECT) {
	case VERDICT_RCPT:
		for (i = 0; i < c->nrcpt; i++)
			if (c->rstate[i] == RCPT_PERM ||
			    c->rstate[i] == RCPT_TEMP) {
				snprintf(buf, len, "rejected recipient %s: %s",
				    c->rcpts[i], c->rreply[i]);
				return;
			}
		snprintf(buf, len, "recipient rejected: %s", c->fail_reply);
		return;
	case VERDICT_AUTH:
		snprintf(buf, len, "AUTH: %s", c->fail_reply);
		return;
	case VERDICT_MAIL:
		snprintf(buf, len, "sender rejected: %s", c->fail_reply);
		return;
	case VERDICT_DATA:
		snprintf(buf, len, "message rejected: %s", c->fail_reply);
		return;
	case VERDICT_STARTTLS:
		snprintf(buf, len, "TLS: STARTTLS refused: %s", c->fail_reply);
		return;
	case VERDICT_EHLO:
		snprintf(buf, len, "EHLO refused: %s: %s", url, c->fail_reply);
		return;
	case VERDICT_CONNECT:
		if (c->fail_code == 0) {
			snprintf(buf, len, "%s: %s", url, detail);
			return;
		}
		/* A 4xx/5xx greeting. */
		snprintf(buf, len, "%s: %s", url, c->fail_reply);
		return;
	default:
		snprintf(buf, len, "%s: %s", url, c->fail_reply);
		return;
	}
}

static void
relay_quote(char *dst, size_t len, const char *src)
{
	size_t i;

	strlcpy(dst, src, len);
	for (i = 0; dst[i] != '\0'; i++)
		if (dst[i] == '"' || (unsigned char)dst[i] < 0x20)
			dst[i] = '\'';
}

static uint64_t
relay_backoff_ms(struct relay *r, unsigned attempts)
{
	const struct config_retry *rt = &r->cfg->smtp.retry;
	uint64_t d = rt->initial_ms, j;
	unsigned i;

	for (i = 1; i < attempts && d < rt->max_ms; i++)
		d *= 2;
	if (d > rt->max_ms)
		d = rt->max_ms;
	/* +-20% so that messages deferred together spread out. */
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	j = d / 5;
	if (j > 0)
		d = d - j + r->rng % (2 * j + 1);
	return d < 1000 ? 1000 : d;
}

/* Header block of a queued message, for the notice. */
static char *
relay_headers(struct spool *sp, const char *id)
{
	struct spool_entry e;
	char *data, *end;
	size_t len;

	if (spool_read(sp, id, &e, &data, &len) == -1)
		return NULL;
	spool_entry_clear(&e);
	if ((end = strstr(data, "\r\n\r\n")) != NULL)
		end[2] = '\0';
	if (strlen(data) > RELAY_HEADERS_MAX)
		data[RELAY_HEADERS_MAX] = '\0';
	return data;
}

/* A failure notice to smtp.failure_notice, itself spooled (null sender). */
static void
relay_notice(struct relay *r, const struct spool_entry *e, const char *why,
    const char *delivered, char **failed, size_t nfailed)
{
	struct notify_failure f;
	struct notify_mail m;
	char id[SPOOL_ID_MAX], *headers;
	int ret;

	if (r->cfg->smtp.failure_notice == NULL || e->sender[0] == '\0')
		return;
	headers = relay_headers(r->spool, e->id);
	f.queue_id = e->id;
	f.reason = why;
	f.delivered = delivered;
	f.failed = failed;
	f.nfailed = nfailed;
	f.headers = headers;
	ret = notify_failure(r->cfg, &f, time(NULL), util_random64(), &m);
	free(headers);
	if (ret == -1) {
		log_warnx("relay: id=%s failure notice not composed", e->id);
		return;
	}
	if (spool_submit(r->spool, "", m.rcpts, m.nrcpt, m.data, m.len, id,
	    sizeof(id)) == 0)
		log_info("relay: id=%s notice=%s to=%s", e->id, id, m.rcpts[0]);
	else
		log_warn("relay: id=%s failure notice not spooled", e->id);
	notify_mail_clear(&m);
}

/*
 * Mail path broken (why) or working again (why NULL); logged on change and
 * kept in spool_dir/mail_path, so that a restart or reload still knows.
 */
static void
relay_path(struct relay *r, const char *why)
{
	char state[RELAY_WHY_LEN + 32];
	time_t now = time(NULL), since;
	int was;

	pthread_mutex_lock(&r->lock);
	was = r->broken;
	since = r->broken_since;
	r->broken = why != NULL;
	if (why != NULL && !was) {
		r->broken_since = now;
		strlcpy(r->broken_why, why, sizeof(r->broken_why));
	}
	pthread_mutex_unlock(&r->lock);
	if ((why != NULL) == was)
		return;
	if (why != NULL) {
		log_errx("relay: mail path BROKEN: %s", why);
		snprintf(state, sizeof(state), "broken %lld %s",
		    (long long)now, why);
	} else {
		log_notice("relay: mail path recovered after %llds",
		    (long long)(now - since));
		strlcpy(state, "ok", sizeof(state));
	}
	if (spool_state_put(r->spool, "mail_path", state) == -1)
		log_warn("relay: cannot record the mail path state");
}

/* The mail path as the previous run left it (see relay_path). */
static void
relay_path_load(struct relay *r)
{
	char state[RELAY_WHY_LEN + 32], *end;
	long long since;

	if (spool_state_get(r->spool, "mail_path", state, sizeof(state)) ==
	    -1 || strncmp(state, "broken ", 7) != 0)
		return;
	since = strtoll(state + 7, &end, 10);
	if (*end != ' ' || since <= 0)
		return;
	r->broken = 1;
	r->broken_since = (time_t)since;
	strlcpy(r->broken_why, end + 1, sizeof(r->broken_why));
	atomic_store(&r->healthy, 0);
}

/* A delivery result for /metrics and the history. */
static void
relay_record(enum history_kind kind, const char *id, const char *detail)
{
	if (kind == HISTORY_MAIL_SENT)
		counter_set(COUNTER_MAIL_LAST_SENT, (uint64_t)time(NULL));
	counter_add(kind == HISTORY_MAIL_SENT ? COUNTER_MAIL_SENT :
	    kind == HISTORY_MAIL_DEFERRED ? COUNTER_MAIL_DEFERRED :
	    COUNTER_MAIL_FAILED, 1);
	history_add(kind, NULL, id, detail);
}

/* Temporary failure: back off, or give up once past give_up_after. */
static void
relay_defer(struct relay *r, const struct spool_entry *e, char *const *rcpts,
    size_t nrcpt, const char *why)
{
	char q[RELAY_WHY_MAX], reason[RELAY_WHY_MAX + 64];
	time_t now = time(NULL);
	unsigned attempts = e->attempts + 1;
	uint64_t delay;

	relay_quote(q, sizeof(q), why);
	if ((uint64_t)(now - e->created) * 1000 >= r->cfg->smtp.retry.give_up_ms) {
		snprintf(reason, sizeof(reason), "gave up after %u attempts: "
		    "%s", attempts, why);
		log_errx("relay: id=%s status=failed attempts=%u "
		    "reason=\"gave up: %s\"", e->id, attempts, q);
		relay_notice(r, e, reason, NULL, (char **)rcpts, nrcpt);
		relay_record(HISTORY_MAIL_FAILED, e->id, reason);
		if (spool_fail(r->spool, e->id, reason, rcpts, nrcpt) == -1)
			log_warn("relay: id=%s move to failed/", e->id);
		return;
	}
	delay = relay_backoff_ms(r, attempts);
	log_warnx("relay: id=%s status=deferred attempts=%u rcpts=%zu "
	    "retry_in=%llus error=\"%s\"", e->id, attempts, nrcpt,
	    (unsigned long long)(delay / 1000), q);
	relay_record(HISTORY_MAIL_DEFERRED, e->id, why);
	if (spool_defer(r->spool, e->id, attempts, now +
	    (time_t)((delay + 999) / 1000), why, rcpts, nrcpt) == -1)
		log_warn("relay: id=%s cannot record retry state", e->id);
}

/*
 * One attempt at e: per-recipient states in c, the mail path's state from
 * what the session reached. -1 when interrupted by relay_stop().
 */
static int
relay_attempt(struct relay *r, struct relay_conn *c,
    const struct spool_entry *e, FILE *fp, size_t len, char *why,
    size_t wlen)
{
	enum verdict v;
	CURLcode res;
	size_t i;

	why[0] = '\0';
	if (c->dead) {
		/* The path broke earlier this run: don't knock per message. */
		relay_conn_reset_transcript(c);
		strlcpy(why, c->dead_why, wlen);
		return 0;
	}
	if ((res = relay_send(c, r->cfg->smtp.from_addr, e->rcpts, e->nrcpt,
	    fp, len)) == CURLE_ABORTED_BY_CALLBACK)
		return -1;
	if (res != CURLE_OK)
		relay_describe(c, res, why, wlen);
	v = res == CURLE_OK ? VERDICT_OK : verdict_classify(c->fail_code != 0 ?
	    c->fail_stage : c->stage, c->fail_code);
	for (i = 0; i < e->nrcpt; i++) {
		/* curl succeeded: a recipient we did not see answered is in. */
		if (c->rstate[i] == RCPT_PENDING && res == CURLE_OK)
			c->rstate[i] = RCPT_SENT;
		/* Accepted, then the transfer failed: nobody got it. */
		if (c->rstate[i] == RCPT_SENT && res != CURLE_OK) {
			c->rstate[i] = RCPT_PENDING;
			c->rreply[i][0] = '\0';
		}
		if (c->rstate[i] != RCPT_PERM && v == VERDICT_FAIL_MSG)
			c->rstate[i] = RCPT_PERM;
	}
	if (v == VERDICT_PATH_BROKEN) {
		c->dead = 1;
		strlcpy(c->dead_why, why, sizeof(c->dead_why));
		relay_path(r, why);
	} else if (c->mail_ok)
		relay_path(r, NULL);
	return 0;
}

static int
relay_sort(const struct relay_conn *c, const struct spool_entry *e,
    const char *why, struct relay_sorted *o)
{
	FILE *smem;
	size_t i;

	memset(o, 0, sizeof(*o));
	if ((o->pend = calloc(e->nrcpt, sizeof(*o->pend))) == NULL ||
	    (o->perm = calloc(e->nrcpt, sizeof(*o->perm))) == NULL ||
	    (o->bare = calloc(e->nrcpt, sizeof(*o->bare))) == NULL ||
	    (smem = open_memstream(&o->sent, &o->slen)) == NULL)
		return -1;
	for (i = 0; i < e->nrcpt; i++) {
		switch (c->rstate[i]) {
		case RCPT_SENT:
			fprintf(smem, "%s%s", o->nsent++ ? ", " : "",
			    e->rcpts[i]);
			break;
		case RCPT_PERM:
			if (asprintf(&o->perm[o->nperm], "%s: %s", e->rcpts[i],
			    c->rreply[i][0] ? c->rreply[i] : why) != -1)
				o->bare[o->nperm++] = e->rcpts[i];
			break;
		default:
			o->pend[o->npend++] = e->rcpts[i];
			break;
		}
	}
	return fclose(smem) == EOF ? -1 : 0;
}

static void
relay_sorted_free(struct relay_sorted *o)
{
	util_strv_free(o->perm, o->nperm);
	free(o->bare);
	free(o->pend);
	free(o->sent);
}

/* Logs, notice, and the spool's new state for the message. */
static void
relay_settle(struct relay *r, const struct relay_conn *c,
    const struct spool_entry *e, char *why, const struct relay_sorted *o)
{
	char q[RELAY_WHY_MAX], reason[RELAY_WHY_MAX];
	size_t i;

	relay_quote(q, sizeof(q), c->reply);
	if (o->nsent > 0)
		log_info("relay: id=%s status=sent rcpts=%zu url=%s "
		    "reply=\"%s\"", e->id, o->nsent, relay_url(r->cfg, c->tried),
		    q);
	if (o->nperm > 0) {
		snprintf(reason, sizeof(reason), "%s", o->nperm == 1 ?
		    o->perm[0] : why[0] ? why : o->perm[0]);
		relay_quote(q, sizeof(q), reason);
		log_errx("relay: id=%s status=%s rcpts=%zu reason=\"%s\"",
		    e->id, o->nsent > 0 || o->npend > 0 ? "bounced" : "failed",
		    o->nperm, q);
		relay_notice(r, e, reason, o->sent, o->perm, o->nperm);
	}
	if (o->npend > 0) {
		for (i = 0; why[0] == '\0' && i < e->nrcpt; i++)
			if (c->rstate[i] == RCPT_TEMP)
				snprintf(why, RELAY_WHY_MAX, "rejected recipient "
				    "%s: %s", e->rcpts[i], c->rreply[i]);
		relay_defer(r, e, o->pend, o->npend, why[0] ? why :
		    "no reply to RCPT");
	} else if (o->nperm > 0) {
		relay_record(HISTORY_MAIL_FAILED, e->id, reason);
		if (spool_fail(r->spool, e->id, reason, o->bare, o->nperm) == -1)
			log_warn("relay: id=%s move to failed/", e->id);
	} else {
		relay_record(HISTORY_MAIL_SENT, e->id, c->reply);
		if (spool_remove(r->spool, e->id) == -1)
			log_warn("relay: id=%s remove delivered message", e->id);
	}
}

static void
relay_deliver(struct relay *r, struct relay_conn *c,
    const struct spool_entry *ent)
{
	struct spool_entry e;
	struct relay_sorted o;
	char why[RELAY_WHY_MAX];
	size_t len;
	FILE *fp;

	if (spool_open_data(r->spool, ent->id, &e, &fp, &len) == -1) {
		if (errno != ENOENT)
			log_warn("relay: id=%s cannot read", ent->id);
		return;
	}
	c->rcpts = e.rcpts;
	c->nrcpt = e.nrcpt;
	if ((c->rstate = calloc(e.nrcpt, sizeof(*c->rstate))) == NULL ||
	    (c->rreply = calloc(e.nrcpt, sizeof(*c->rreply))) == NULL)
		goto out;
	if (relay_attempt(r, c, &e, fp, len, why, sizeof(why)) == -1)
		goto out;	/* stopping: left as it was */
	if (relay_sort(c, &e, why, &o) == 0)
		relay_settle(r, c, &e, why, &o);
	relay_sorted_free(&o);
out:
	free(c->rstate);
	free(c->rreply);
	c->rstate = NULL;
	c->rreply = NULL;
	c->rcpts = NULL;
	c->nrcpt = 0;
	fclose(fp);
	spool_entry_clear(&e);
}

/*
 * Delivers what is due (everything when force), oldest first; a message due
 * also takes every older one along, so that an alarm's CLEARED never
 * overtakes its ACTIVE held by a longer backoff. Returns the number of
 * messages still queued that have failed before; *next gets the earliest
 * next_try among the rest (0 = none).
 */
static int
relay_run_queue(struct relay *r, int force, time_t *next)
{
	struct spool_entry *v;
	struct relay_conn c;
	size_t n, i, upto, fresh;
	time_t now = time(NULL);
	int stop = 0, conn = 0, failing = 0, round;

	*next = 0;
	/* Mail queued during a run goes out on the same connection: another
	 * round while never-tried messages are due (bounded). */
	for (round = 0; round < RELAY_ROUNDS_MAX && !stop; round++) {
		if (spool_scan(r->spool, &v, &n) == -1) {
			log_warn("relay: scan spool");
			break;
		}
		now = time(NULL);
		for (upto = force && round == 0 ? n : 0, fresh = 0, i = 0;
		    i < n; i++)
			if (v[i].next_try <= now) {
				upto = i + 1;
				fresh += v[i].attempts == 0;
			}
		if (round > 0 && fresh == 0) {
			spool_entries_free(v, n);
			break;
		}
		for (i = 0; i < upto; i++) {
			pthread_mutex_lock(&r->lock);
			stop = r->stop;
			pthread_mutex_unlock(&r->lock);
			if (stop)
				break;
			atomic_store(&r->alive, util_mono_ms());
			/* The mail path already failed this run: keep the
			 * backoff, don't rewrite retry state (SD card wear). */
			if (conn && c.dead && v[i].next_try > now)
				continue;
			if (!conn) {
				if (relay_conn_init(&c, r->cfg, r->password,
				    r) == -1) {
					log_warnx("relay: curl_easy_init failed");
					stop = 1;
					break;
				}
				conn = 1;
			}
			relay_deliver(r, &c, &v[i]);
		}
		spool_entries_free(v, n);
		if (!conn || c.dead)
			break;
	}
	if (conn)
		curl_easy_cleanup(c.curl);
	/* Health and the next wake-up from what is left. */
	if (spool_scan(r->spool, &v, &n) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (v[i].attempts > 0)
			failing++;
		if (v[i].attempts == 0)
			*next = now;
		else if (*next == 0 || v[i].next_try < *next)
			*next = v[i].next_try;
	}
	spool_entries_free(v, n);
	return failing;
}

int
relay_stuck(struct relay *r)
{
	struct spool_stats st;

	spool_stats(r->spool, &st);
	return st.oldest != 0 && (uint64_t)(time(NULL) - st.oldest) * 1000 >=
	    r->cfg->smtp.stuck_after_ms;
}

/*
 * mail_ok_coil: the mail path works, no queued message has failed or waits
 * longer than smtp.stuck_after, nothing lies in failed/.
 */
static void
relay_health(struct relay *r, int failing)
{
	struct spool_stats st;
	int ok, stuck = relay_stuck(r);

	spool_stats(r->spool, &st);
	pthread_mutex_lock(&r->lock);
	ok = failing == 0 && !r->broken && !stuck && st.failed == 0;
	pthread_mutex_unlock(&r->lock);
	if (atomic_exchange(&r->healthy, ok) == ok)
		return;
	if (ok)
		log_notice("relay: health=ok failing=0");
	else
		log_warnx("relay: health=degraded failing=%d failed=%zu "
		    "stuck=%s", failing, st.failed, stuck ? "yes" : "no");
}

/* A probe while the path is broken and nothing queued, with backoff. */
static void
relay_probe_due(struct relay *r, uint64_t *at, unsigned *n)
{
	struct spool_stats st;
	int broken;

	pthread_mutex_lock(&r->lock);
	broken = r->broken;
	pthread_mutex_unlock(&r->lock);
	spool_stats(r->spool, &st);
	if (!broken || st.queued > 0) {
		*at = 0;
		*n = 0;
		return;
	}
	if (util_mono_ms() < *at)
		return;
	*at = util_mono_ms() + relay_probe(r, ++*n);
	relay_health(r, 0);
}

static void *
relay_main(void *arg)
{
	struct relay *r = arg;
	struct timespec ts;
	uint64_t last_scan = 0, now, probe_at = 0;
	unsigned probes = 0;
	time_t next = 0;
	int force, failing, due;

	for (;;) {
		now = util_mono_ms();
		atomic_store(&r->alive, now);
		pthread_mutex_lock(&r->lock);
		if (r->stop) {
			pthread_mutex_unlock(&r->lock);
			break;
		}
		force = r->wake;
		r->wake = 0;
		pthread_mutex_unlock(&r->lock);
		due = next != 0 && time(NULL) >= next;
		if (force || due || last_scan == 0 ||
		    now - last_scan >= RELAY_RESCAN_MS) {
			failing = relay_run_queue(r, force, &next);
			if (failing >= 0)
				relay_health(r, failing);
			last_scan = util_mono_ms();
		}
		relay_probe_due(r, &probe_at, &probes);
		util_cond_deadline(&ts, RELAY_IDLE_MS);
		pthread_mutex_lock(&r->lock);
		if (!r->wake && !r->stop)
			pthread_cond_timedwait(&r->cond, &r->lock, &ts);
		pthread_mutex_unlock(&r->lock);
	}
	return NULL;
}

struct relay *
relay_start(const struct config *cfg, struct spool *sp, char *err,
    size_t errlen)
{
	struct relay *r;

	if (cfg->smtp.url == NULL) {
		snprintf(err, errlen, "no smtp.url configured");
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init failed");
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->cfg = cfg;
	r->spool = sp;
	r->rng = (util_wall_ms() << 16) ^ (uint64_t)getpid() ^ 0x9e3779b97f4a7c15ULL;
	atomic_init(&r->alive, util_mono_ms());
	atomic_init(&r->healthy, 1);
	relay_path_load(r);
	if (relay_read_password(cfg, &r->password, err, errlen) == -1) {
		free(r);
		return NULL;
	}
	if (!cfg->smtp.verify_peer)
		log_warnx("relay: smtp.verify_peer is false: the provider's "
		    "certificate and host name are NOT verified");
	if (cfg->smtp.tls_none)
		log_warnx("relay: smtp.tls is none: mail to %s travels "
		    "unencrypted", cfg->smtp.url);
	pthread_mutex_init(&r->lock, NULL);
	util_cond_init(&r->cond);
	if ((errno = pthread_create(&r->thread, NULL, relay_main, r)) != 0) {
		snprintf(err, errlen, "pthread_create: %s", strerror(errno));
		pthread_cond_destroy(&r->cond);
		pthread_mutex_destroy(&r->lock);
		if (r->password != NULL)
			explicit_bzero(r->password, strlen(r->password));
		free(r->password);
		free(r);
		return NULL;
	}
	log_info("relay: started url=%s fallbacks=%zu tls=%s auth=%s",
	    cfg->smtp.url, cfg->smtp.fallback_urls.n, cfg->smtp.tls_none ?
	    "none" : "required", cfg->smtp.username != NULL ? "yes" : "no");
	return r;
}

void
relay_wake(struct relay *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	r->wake = 1;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

int
relay_healthy(struct relay *r)
{
	if (r == NULL)
		return 1;
	/* stuck is checked now: a run may hang in one long session */
	return atomic_load(&r->healthy) && !relay_stuck(r);
}

int
relay_path_broken(struct relay *r, time_t *since, char *why, size_t len)
{
	int broken;

	if (r == NULL)
		return 0;
	pthread_mutex_lock(&r->lock);
	broken = r->broken;
	*since = r->broken_since;
	strlcpy(why, r->broken_why, len);
	pthread_mutex_unlock(&r->lock);
	return broken;
}

uint64_t
relay_last_alive_ms(struct relay *r)
{
	return r == NULL ? util_mono_ms() : atomic_load(&r->alive);
}

void
relay_stop(struct relay *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->lock);
	r->stop = 1;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->lock);
	pthread_join(r->thread, NULL);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
	if (r->password != NULL)
		explicit_bzero(r->password, strlen(r->password));
	free(r->password);
	free(r);
	log_info("relay: stopped");
}

/* The text test-mail sends to `to`. */
static char *
relay_test_message(const struct config *cfg, const char *to, size_t *len)
{
	struct compose_text t;
	char msgid[300], date[64], *body, *msg, *tohdr[1];
	time_t now = time(NULL);

	compose_date(date, sizeof(date), now);
	compose_message_id(msgid, sizeof(msgid), cfg->hostname, now,
	    util_random64());
	body = xasprintf("This is a test message from modbus2mail on %s, "
	    "sent by `modbus2mail test-mail` at %s.\nIf you can read it, mail "
	    "from the gateway reaches you.\n", cfg->hostname, date);
	tohdr[0] = (char *)to;
	memset(&t, 0, sizeof(t));
	t.from = cfg->smtp.from != NULL ? cfg->smtp.from : cfg->smtp.from_addr;
	t.to = tohdr;
	t.nto = 1;
	t.subject = "modbus2mail test message";
	t.body = body;
	t.date = now;
	t.message_id = msgid;
	msg = compose_plain(&t, len);
	free(body);
	return msg;
}

int
relay_test_mail(const struct config *cfg, const char *to, FILE *out)
{
	struct relay_conn c;
	char *password = NULL, *msg = NULL, err[RELAY_WHY_MAX], bare[CONFIG_ADDR_MAX];
	char *rcpt[1];
	enum relay_rcpt rstate[1];
	char rreply[1][RELAY_REPLY_MAX];
	size_t len;
	FILE *fp = NULL;
	CURLcode res;
	int ret = 1;

	if (cfg->smtp.url == NULL) {
		fprintf(stderr, "test-mail: no smtp.url in %s\n", cfg->path);
		return 1;
	}
	if (config_parse_address(to, bare, sizeof(bare)) == -1) {
		fprintf(stderr, "test-mail: bad address '%s'\n", to);
		return 1;
	}
	if (relay_read_password(cfg, &password, err, sizeof(err)) == -1) {
		fprintf(stderr, "test-mail: %s\n", err);
		return 1;
	}
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!cfg->smtp.verify_peer)
		fprintf(stderr, "test-mail: warning: smtp.verify_peer is false:"
		    " the provider's certificate is not verified\n");
	if ((msg = relay_test_message(cfg, to, &len)) == NULL ||
	    (fp = fmemopen(msg, len, "r")) == NULL) {
		fprintf(stderr, "test-mail: out of memory\n");
		goto out;
	}
	if (relay_conn_init(&c, cfg, password, NULL) == -1) {
		fprintf(stderr, "test-mail: curl_easy_init failed\n");
		goto out;
	}
	rcpt[0] = bare;
	c.rcpts = rcpt;
	c.nrcpt = 1;
	c.rstate = rstate;
	c.rreply = rreply;
	res = relay_send(&c, cfg->smtp.from_addr, rcpt, 1, fp, len);
	if (res == CURLE_OK && rstate[0] == RCPT_SENT) {
		fprintf(out, "test-mail: sent to %s via %s: %s\n", bare,
		    relay_url(cfg, c.tried), c.reply);
		ret = 0;
	} else {
		err[0] = '\0';
		relay_describe(&c, res == CURLE_OK ? CURLE_SEND_ERROR : res,
		    err, sizeof(err));
		fprintf(stderr, "test-mail: %s\n", err[0] ? err :
		    "delivery failed");
	}
	curl_easy_cleanup(c.curl);
out:
	if (fp != NULL)
		fclose(fp);
	free(msg);
	if (password != NULL)
		explicit_bzero(password, strlen(password));
	free(password);
	return ret;
}
