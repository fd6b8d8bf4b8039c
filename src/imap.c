/*
 * imap.c - the reply mailbox poller; see imap.h. libcurl speaks IMAP: a
 * custom request on the mailbox URL is sent after its SELECT, a URL
 * ending in ";UID=n" fetches that message. Every message found unseen is
 * processed once: the fetch marks it \Seen, and it is then moved (MOVE,
 * else COPY + STORE \Deleted + EXPUNGE) to done_folder, nothing deleted.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modbus2mail/alarm.h"
#include "modbus2mail/compose.h"
#include "modbus2mail/config.h"
#include "modbus2mail/ctl.h"
#include "modbus2mail/imap.h"
#include "modbus2mail/log.h"
#include "modbus2mail/reply.h"
#include "modbus2mail/spool.h"
#include "modbus2mail/util.h"

#define IMAP_MSG_MAX	(1024 * 1024)	/* larger replies are refused */
#define IMAP_BATCH	100		/* messages per check */
#define IMAP_EPISODES	16		/* rules named by one reply */
#define IMAP_WHY_LEN	160

struct imap {
	const struct config *cfg;
	struct spool *spool;
	struct imap_ops ops;
	void *arg;
	char *password;			/* owned, wiped on stop */
	char *mailbox;			/* url with its mailbox, owned */
	CURL *curl;
	char errbuf[CURL_ERROR_SIZE];
	int folder_ok;			/* done_folder exists */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_int stop;
	/* under lock, for status */
	int broken;
	time_t since, last_ok;
	char why[IMAP_WHY_LEN];
};

struct imap_buf {
	char *p;
	size_t len;
};

static size_t
imap_write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct imap_buf *b = ud;
	size_t n = size * nmemb;
	char *np;

	if (b->len + n > IMAP_MSG_MAX ||
	    (np = realloc(b->p, b->len + n + 1)) == NULL)
		return 0;
	memcpy(np + b->len, ptr, n);
	b->p = np;
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* A stop request ends a transfer at once. */
static int
imap_progress_cb(void *ud, curl_off_t a, curl_off_t b, curl_off_t c,
    curl_off_t d)
{
	struct imap *i = ud;

	(void)a, (void)b, (void)c, (void)d;
	return atomic_load(&i->stop);
}

/* One IMAP command (NULL: fetch url) into b; CURLE_OK or why not. */
static CURLcode
imap_request(struct imap *i, const char *url, const char *cmd,
    struct imap_buf *b)
{
	b->p = NULL;
	b->len = 0;
	i->errbuf[0] = '\0';
	curl_easy_setopt(i->curl, CURLOPT_URL, url);
	curl_easy_setopt(i->curl, CURLOPT_CUSTOMREQUEST, cmd);
	curl_easy_setopt(i->curl, CURLOPT_WRITEDATA, b);
	return curl_easy_perform(i->curl);
}

/* The same command, nothing kept of the answer. */
static CURLcode
imap_command(struct imap *i, const char *cmd)
{
	struct imap_buf b;
	CURLcode res = imap_request(i, i->mailbox, cmd, &b);

	free(b.p);
	return res;
}

static void
imap_setopts(struct imap *i)
{
	const struct config_imap *m = &i->cfg->imap;
	CURL *h = i->curl;
	long secs = (long)((m->timeout_ms + 999) / 1000);

	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "imap,imaps");
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, i->errbuf);
	/* imap:// must upgrade with STARTTLS: a password never goes in clear */
	curl_easy_setopt(h, CURLOPT_USE_SSL, (long)CURLUSESSL_ALL);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, m->verify_peer ? 1L : 0L);
	curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, m->verify_peer ? 2L : 0L);
	if (m->ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, m->ca_file);
	curl_easy_setopt(h, CURLOPT_USERNAME, m->username);
	curl_easy_setopt(h, CURLOPT_PASSWORD, i->password);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)m->timeout_ms);
	curl_easy_setopt(h, CURLOPT_SERVER_RESPONSE_TIMEOUT, secs);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, secs);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, imap_write_cb);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, imap_progress_cb);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, i);
}

/* Health for status; a change is logged once. */
static void
imap_health(struct imap *i, CURLcode res)
{
	char why[IMAP_WHY_LEN];

	if (res == CURLE_LOGIN_DENIED)
		snprintf(why, sizeof(why), "AUTH failed");
	else if (res == CURLE_QUOTE_ERROR)	/* a NO or BAD */
		snprintf(why, sizeof(why), "a command was refused (is "
		    "done_folder %.60s usable?)", i->cfg->imap.done_folder);
	else if (res != CURLE_OK)
		snprintf(why, sizeof(why), "%.60s%s%.90s", curl_easy_strerror(res),
		    i->errbuf[0] ? ": " : "", i->errbuf);
	pthread_mutex_lock(&i->lock);
	if (res == CURLE_OK) {
		if (i->broken)
			log_info("imap: mailbox reachable again");
		i->broken = 0;
		i->last_ok = time(NULL);
	} else if (!i->broken || strcmp(why, i->why) != 0) {
		log_warnx("imap: mailbox unusable: %s", why);
		if (!i->broken)
			i->since = time(NULL);
		i->broken = 1;
		strlcpy(i->why, why, sizeof(i->why));
	}
	pthread_mutex_unlock(&i->lock);
}

/* UIDs of "* SEARCH 3 7 9" into uids; how many. */
static size_t
imap_parse_search(const char *text, unsigned long *uids, size_t max)
{
	const char *p = text != NULL ? strstr(text, "* SEARCH") : NULL;
	char *end;
	size_t n = 0;

	if (p == NULL)
		return 0;
	for (p += 8; n < max; p = end) {
		while (*p == ' ')
			p++;
		if (*p < '0' || *p > '9')
			break;
		uids[n] = strtoul(p, &end, 10);
		if (uids[n] != 0)
			n++;
	}
	return n;
}

/* Processed: into done_folder (MOVE, else COPY, \Deleted, EXPUNGE). */
static CURLcode
imap_move(struct imap *i, unsigned long uid)
{
	const char *f = i->cfg->imap.done_folder;
	char cmd[512];
	CURLcode res;

	snprintf(cmd, sizeof(cmd), "UID MOVE %lu \"%s\"", uid, f);
	if ((res = imap_command(i, cmd)) != CURLE_QUOTE_ERROR)
		return res;
	snprintf(cmd, sizeof(cmd), "UID COPY %lu \"%s\"", uid, f);
	if ((res = imap_command(i, cmd)) != CURLE_OK)
		return res;
	snprintf(cmd, sizeof(cmd), "UID STORE %lu +FLAGS.SILENT (\\Deleted)",
	    uid);
	if ((res = imap_command(i, cmd)) != CURLE_OK)
		return res;
	snprintf(cmd, sizeof(cmd), "UID EXPUNGE %lu", uid);
	return imap_command(i, cmd);
}

/* done_folder, created if missing ("already exists" is a NO: fine). */
static CURLcode
imap_create(struct imap *i)
{
	char cmd[512];
	CURLcode res;

	snprintf(cmd, sizeof(cmd), "CREATE \"%s\"", i->cfg->imap.done_folder);
	if ((res = imap_command(i, cmd)) == CURLE_QUOTE_ERROR)
		res = CURLE_OK;
	i->folder_ok = res == CURLE_OK;
	return res;
}

/* "<msgid> addr" lines of the help replies sent: one per episode and
 * sender, across restarts. */
static char *
imap_help_path(const struct imap *i)
{
	return xasprintf("%s/imap-help", i->cfg->spool_dir);
}

static int
imap_helped(const struct imap *i, const char *key)
{
	char *path = imap_help_path(i), line[512];
	FILE *f = fopen(path, "r");
	int found = 0;

	free(path);
	while (f != NULL && !found && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		found = strcasecmp(line, key) == 0;
	}
	if (f != NULL)
		fclose(f);
	return found;
}

static char *
imap_help_text(const struct imap *i, const struct reply *r, size_t *len)
{
	struct compose_text t;
	char msgid[ALARM_MSGID_MAX], *body, *subject, *msg, *to[1];
	time_t now = time(NULL);

	body = xasprintf("modbus2mail on %s could not read a command in your "
	    "reply (first line: \"%s\").\n\nReply to the alarm mail with one "
	    "of these as the first line:\n  ack         acknowledge the alarm "
	    "(also: ok, quit, quittiert)\n  shelve 2h   silence the alarm for "
	    "a time (at most 7d)\n  unshelve    end the shelf\n\nThis help is "
	    "sent once per alarm and sender.\n", i->cfg->hostname,
	    r->command);
	subject = strncasecmp(r->subject, "Re:", 3) == 0 ?
	    xstrdup(r->subject) : xasprintf("Re: %s", r->subject);
	compose_message_id(msgid, sizeof(msgid), i->cfg->hostname, now,
	    util_random64());
	to[0] = (char *)r->from;
	memset(&t, 0, sizeof(t));
	t.from = i->cfg->smtp.from;
	t.to = to;
	t.nto = 1;
	t.subject = subject;
	t.body = body;
	t.date = now;
	t.message_id = msgid;
	t.in_reply_to = r->message_id[0] != '\0' ? r->message_id : NULL;
	t.auto_submitted = "auto-replied";
	msg = compose_plain(&t, len);
	free(body);
	free(subject);
	return msg;
}

/* The one help reply for this episode and sender, with the null sender
 * so that nothing bounces back into the mailbox. */
static void
imap_help(struct imap *i, const struct reply *r, const char *episode)
{
	char *key = xasprintf("%s %s", episode, r->from), *path, *msg;
	char id[SPOOL_ID_MAX], vis[REPLY_ADDR_MAX * 4];
	char *rcpt[1] = { (char *)r->from };
	size_t len;
	FILE *f;

	if (imap_helped(i, key)) {
		log_info("imap: from=%s no command; help was sent before",
		    log_vis(vis, sizeof(vis), r->from));
		free(key);
		return;
	}
	if ((msg = imap_help_text(i, r, &len)) == NULL ||
	    spool_submit(i->spool, "", rcpt, 1, msg, len, id,
	    sizeof(id)) == -1)
		log_warnx("imap: help reply to %s not queued",
		    log_vis(vis, sizeof(vis), r->from));
	else {
		log_info("imap: from=%s no command; help reply queued id=%s",
		    log_vis(vis, sizeof(vis), r->from), id);
		path = imap_help_path(i);
		if ((f = fopen(path, "a")) != NULL) {
			fprintf(f, "%s\n", key);
			fclose(f);
		}
		free(path);
		i->ops.queued(i->arg);
	}
	free(msg);
	free(key);
}

/* The request for what r asks, on rule. */
static void
imap_act_one(struct imap *i, const struct reply *r, const char *rule)
{
	struct ctl_req req;
	char *out = NULL, vis[REPLY_ADDR_MAX * 4];
	size_t olen = 0;
	FILE *o;
	int rc = -1;

	memset(&req, 0, sizeof(req));
	req.verb = r->action == REPLY_ACK ? CTL_ACK : r->action ==
	    REPLY_SHELVE ? CTL_SHELVE : CTL_UNSHELVE;
	strlcpy(req.name, rule, sizeof(req.name));
	req.ms = r->shelve_ms;
	req.uid = -1;
	log_vis(vis, sizeof(vis), r->from);
	snprintf(req.actor, sizeof(req.actor), "%.200s by reply", vis);
	if (req.verb == CTL_SHELVE)
		snprintf(req.reason, sizeof(req.reason), "shelved by reply "
		    "from %.200s", vis);
	if ((o = open_memstream(&out, &olen)) != NULL) {
		rc = i->ops.act(&req, o, i->arg);
		fclose(o);
	}
	if (out != NULL)
		out[strcspn(out, "\n")] = '\0';
	if (rc == 0)
		log_info("imap: rule=%s %s by reply from=%s", rule,
		    reply_action_name(r->action), vis);
	else
		log_warnx("imap: rule=%s %s by reply from=%s refused: %s",
		    rule, reply_action_name(r->action), vis,
		    out != NULL ? out : "out of memory");
	free(out);
}

/* The open episode r names, and what is done with it. */
static void
imap_act(struct imap *i, unsigned long uid, const struct reply *r)
{
	struct alarm_episode ep[IMAP_EPISODES];
	char vis[REPLY_ADDR_MAX * 4];
	size_t k, n = 0, j, acted = 0;

	log_vis(vis, sizeof(vis), r->from);
	for (k = 0; k < r->nids && n == 0; k++)
		n = i->ops.episode(i->arg, r->ids[k], r->from, ep,
		    IMAP_EPISODES);
	if (n == 0) {
		log_warnx("imap: uid=%lu from=%s refused: names no open alarm "
		    "(closed episode or unknown Message-ID)", uid, vis);
		return;
	}
	for (j = 0; j < n && j < IMAP_EPISODES; j++) {
		if (!ep[j].recipient)
			continue;
		acted++;
		if (r->action != REPLY_HELP)
			imap_act_one(i, r, ep[j].name);
	}
	if (acted == 0)
		log_warnx("imap: uid=%lu from=%s refused: not a recipient of "
		    "alarm %s", uid, vis, ep[0].name);
	else if (r->action == REPLY_HELP)
		imap_help(i, r, r->ids[k - 1]);
}

static void
imap_process(struct imap *i, unsigned long uid, const char *msg, size_t len)
{
	struct reply *r = xcalloc(1, sizeof(*r));
	char vis[REPLY_ADDR_MAX * 4];

	if (reply_classify(msg, len, i->cfg->imap.require_auth_sender, r) ==
	    REPLY_REFUSE)
		log_warnx("imap: uid=%lu from=%s refused: %s", uid,
		    r->from[0] ? log_vis(vis, sizeof(vis), r->from) : "-",
		    r->why);
	else
		imap_act(i, uid, r);
	free(r);
}

/* One look at the mailbox; CURLE_OK or the failure that ended it. */
static CURLcode
imap_check(struct imap *i)
{
	unsigned long uids[IMAP_BATCH];
	struct imap_buf b;
	char url[1024];
	size_t n, k;
	CURLcode res;

	if (!i->folder_ok && (res = imap_create(i)) != CURLE_OK)
		return res;
	/* a session sees mail that arrived after its last command only once
	 * the server synchronised it: NOOP does that, SEARCH alone does not */
	if ((res = imap_command(i, "NOOP")) != CURLE_OK)
		return res;
	res = imap_request(i, i->mailbox, "UID SEARCH UNSEEN", &b);
	n = res == CURLE_OK ? imap_parse_search(b.p, uids, IMAP_BATCH) : 0;
	free(b.p);
	if (res == CURLE_OK)
		log_debug("imap: checked, %zu unseen", n);
	for (k = 0; k < n && res == CURLE_OK; k++) {
		snprintf(url, sizeof(url), "%s/;UID=%lu", i->mailbox, uids[k]);
		res = imap_request(i, url, NULL, &b);
		if (res == CURLE_WRITE_ERROR)
			log_warnx("imap: uid=%lu refused: larger than %d "
			    "bytes", uids[k], IMAP_MSG_MAX);
		else if (res == CURLE_OK)
			imap_process(i, uids[k], b.p != NULL ? b.p : "",
			    b.len);
		free(b.p);
		if (res == CURLE_OK || res == CURLE_WRITE_ERROR)
			res = imap_move(i, uids[k]);
		/* refused: done_folder may have been removed since */
		if (res == CURLE_QUOTE_ERROR && (res = imap_create(i)) ==
		    CURLE_OK)
			res = imap_move(i, uids[k]);
	}
	return res;
}

/* Checks start every poll_interval, however long a check took. */
static void *
imap_thread(void *arg)
{
	struct imap *i = arg;
	uint64_t ms = i->cfg->imap.poll_interval_ms;
	struct timespec ts;
	CURLcode res;

	pthread_mutex_lock(&i->lock);
	while (!i->stop) {
		util_cond_deadline(&ts, ms);
		pthread_mutex_unlock(&i->lock);
		res = imap_check(i);
		if (res != CURLE_ABORTED_BY_CALLBACK)
			imap_health(i, res);
		pthread_mutex_lock(&i->lock);
		while (!i->stop && pthread_cond_timedwait(&i->cond, &i->lock,
		    &ts) != ETIMEDOUT)
			;
	}
	pthread_mutex_unlock(&i->lock);
	return NULL;
}

/* url with a mailbox: "imaps://host" and "imaps://host/" read INBOX. */
static char *
imap_mailbox_url(const char *url)
{
	const char *host = strstr(url, "://") + 3, *path = strchr(host, '/');
	size_t n = strlen(url);

	if (path == NULL || path[1] == '\0')
		return xasprintf("%.*s/INBOX", (int)(path != NULL ?
		    (size_t)(path - url) : n), url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	return xasprintf("%.*s", (int)n, url);
}

struct imap *
imap_start(const struct config *cfg, struct spool *spool,
    const struct imap_ops *ops, void *arg, char *err, size_t errlen)
{
	struct imap *i;
	char why[256];

	if (!cfg->imap.enabled)
		return NULL;
	i = xcalloc(1, sizeof(*i));
	i->cfg = cfg;
	i->spool = spool;
	i->ops = *ops;
	i->arg = arg;
	if (util_read_secret(cfg->imap.password_file, &i->password, why,
	    sizeof(why)) == -1 || (i->curl = curl_easy_init()) == NULL) {
		if (i->password == NULL)
			snprintf(err, errlen, "imap: password: %s", why);
		else
			snprintf(err, errlen, "imap: curl_easy_init failed");
		imap_stop(i);
		return NULL;
	}
	i->mailbox = imap_mailbox_url(cfg->imap.url);
	imap_setopts(i);
	pthread_mutex_init(&i->lock, NULL);
	util_cond_init(&i->cond);
	if ((errno = pthread_create(&i->thread, NULL, imap_thread, i)) != 0)
		fatal("imap: pthread_create");
	log_info("imap: watching %s for replies every %llus", i->mailbox,
	    (unsigned long long)(cfg->imap.poll_interval_ms / 1000));
	return i;
}

void
imap_stop(struct imap *i)
{
	if (i == NULL)
		return;
	if (i->mailbox != NULL) {	/* the thread runs */
		pthread_mutex_lock(&i->lock);
		atomic_store(&i->stop, 1);
		pthread_cond_signal(&i->cond);
		pthread_mutex_unlock(&i->lock);
		pthread_join(i->thread, NULL);
		pthread_mutex_destroy(&i->lock);
		pthread_cond_destroy(&i->cond);
	}
	if (i->curl != NULL)
		curl_easy_cleanup(i->curl);
	if (i->password != NULL)
		explicit_bzero(i->password, strlen(i->password));
	free(i->password);
	free(i->mailbox);
	free(i);
}

void
imap_status(struct imap *i, FILE *out)
{
	char hm[16];
	struct tm tm;

	if (i == NULL)
		return;
	pthread_mutex_lock(&i->lock);
	if (i->broken) {
		localtime_r(&i->since, &tm);
		strftime(hm, sizeof(hm), "%H:%M", &tm);
		fprintf(out, "imap: BROKEN since %s — %s\n", hm, i->why);
	} else if (i->last_ok != 0) {
		localtime_r(&i->last_ok, &tm);
		strftime(hm, sizeof(hm), "%H:%M:%S", &tm);
		fprintf(out, "imap: ok, last check %s\n", hm);
	} else
		fprintf(out, "imap: not checked yet\n");
	pthread_mutex_unlock(&i->lock);
}
