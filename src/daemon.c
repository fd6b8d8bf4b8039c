/*
 * daemon.c - lifecycle of `modbus2mail run` (SPEC §8).
 *
 * Threads: one poller per device, the relay's delivery thread, the
 * listener's event loop. This main thread only waits for signals and
 * control requests, feeds systemd's watchdog while the others are alive,
 * and sends the daily sign of life. The threads meet at the spool. What
 * the pollers know reaches readers (status, the sign of life, STATUS=,
 * the web page) through the snapshot this thread takes each tick.
 */
#include <errno.h>
#include <malloc.h>
#include <poll.h>
#include <pwd.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "modbus2mail/config.h"
#include "modbus2mail/counter.h"
#include "modbus2mail/ctl.h"
#include "modbus2mail/daemon.h"
#include "modbus2mail/history.h"
#include "modbus2mail/http.h"
#include "modbus2mail/imap.h"
#include "modbus2mail/log.h"
#include "modbus2mail/notify.h"
#include "modbus2mail/poller.h"
#include "modbus2mail/relay.h"
#include "modbus2mail/smtpd.h"
#include "modbus2mail/snapshot.h"
#include "modbus2mail/spool.h"
#include "modbus2mail/util.h"

#define DAEMON_TICK_MS		1000
#define DAEMON_MMAP_THRESHOLD	(256 * 1024)
#define DAEMON_ANSWER_WEB_MS	5000	/* web actions in flight, at most */

struct daemon {
	const char *path;
	struct config *cfg;		/* owned; replaced on reload */
	struct spool *spool;		/* owned */
	struct relay *relay;		/* owned */
	struct smtpd *smtpd;		/* owned, NULL without listener */
	struct http *http;		/* owned, NULL without http: */
	struct snapshot_board board;	/* the latest snapshot, for readers */
	time_t started, loaded;		/* wall: start, last (re)load */
	int alive;			/* last daemon_threads_alive() */
	int started_workers;		/* all of them, for d->cfg */
	struct imap *imap;		/* owned, NULL without imap: */
	struct poller **pollers;	/* owned, one per device */
	size_t npollers;
	struct ctl *ctl;		/* owned */
	char ctl_path[108];
	uint64_t watchdog_ms;		/* 0 = no watchdog requested */
	uint64_t last_ping_ms;
	char sign_of_life_day[16];	/* YYYY-MM-DD last sent, "" unknown */
	char status[256];		/* last STATUS= sent */
};

static void	daemon_malloc_tune(void);
static void	daemon_notify(const char *);
static struct config *daemon_load(const char *);
static int	daemon_start_workers(struct daemon *, struct config *);
static void	daemon_stop_workers(struct daemon *);
static void	daemon_answer_web(struct daemon *);
static void	daemon_reload(struct daemon *);
static void	daemon_ctl_socket(struct daemon *);
static int	daemon_threads_alive(struct daemon *);
static void	daemon_tick(struct daemon *);
static void	daemon_mail_summary(struct daemon *, char *, size_t);
static void	daemon_sign_of_life(struct daemon *, time_t);
static void	daemon_submit_sign_of_life(struct daemon *,
		    const struct notify_gateway *, time_t);
static int	daemon_ctl_status(struct daemon *, FILE *);
static void	daemon_status_mail(struct daemon *, FILE *);
static int	daemon_ctl(const struct ctl_req *, FILE *, void *);
static int	daemon_ctl_client(const struct ctl_req *, FILE *, void *);
static int	daemon_ctl_flush(struct daemon *, FILE *);
static void	daemon_fmt_until(char *, size_t, time_t, uint64_t);
static void	daemon_ack_by(char *, size_t, const struct ctl_req *);
static int	daemon_ctl_alarm(struct daemon *, const struct ctl_req *,
		    FILE *);
static void	daemon_wake_relay(void *);
static void	daemon_snapshot(struct daemon *);
static void	daemon_history_shelf(struct daemon *, const struct ctl_req *,
		    const char *);
static size_t	daemon_episode(void *, const char *, const char *,
		    struct alarm_episode *, size_t);
static void	daemon_imap_queued(void *);

/*
 * Buffers of a few hundred KiB and more come and go: the YAML parser's
 * stack, a snapshot of 10,000 alarms each tick, a page or /metrics being
 * rendered. glibc raises its mmap threshold after the first such free and
 * then keeps them in the heap, resident for good; a fixed threshold gives
 * them back to the kernel when freed (a few page faults per tick).
 */
static void
daemon_malloc_tune(void)
{
#ifdef __GLIBC__
	mallopt(M_MMAP_THRESHOLD, DAEMON_MMAP_THRESHOLD);
#endif
}

static void
daemon_notify(const char *msg)
{
#ifdef HAVE_LIBSYSTEMD
	sd_notify(0, msg);
#else
	(void)msg;
#endif
}

/* The configuration, its warnings logged (check prints the same). */
static struct config *
daemon_load(const char *path)
{
	struct config *cfg;
	size_t i;

	if ((cfg = config_load(path, stderr)) == NULL)
		return NULL;
	for (i = 0; i < cfg->warnings.n; i++)
		log_warnx("config: %s", cfg->warnings.v[i]);
	return cfg;
}

static void
daemon_wake_relay(void *arg)
{
	relay_wake(arg);
}

/*
 * Acknowledge by reply: the IMAP thread looks up episodes and acts through
 * daemon_ctl() like a control client. What that touches is safe from its
 * thread: each poller locks itself, and the configuration and pollers stay
 * while it runs (it is stopped first).
 */
static size_t
daemon_episode(void *arg, const char *msgid, const char *addr,
    struct alarm_episode *ep, size_t max)
{
	struct daemon *d = arg;
	size_t i, n = 0;

	for (i = 0; i < d->npollers && n == 0; i++)
		n = poller_episode(d->pollers[i], msgid, addr, ep, max);
	return n;
}

static void
daemon_imap_queued(void *arg)
{
	struct daemon *d = arg;

	relay_wake(d->relay);
}

static const struct imap_ops daemon_imap_ops = {
	daemon_episode, daemon_ctl, daemon_imap_queued,
};

/* Spool, relay, listener and pollers for cfg; all or nothing. */
static int
daemon_start_workers(struct daemon *d, struct config *cfg)
{
	char err[256];
	size_t i;

	if ((d->spool = spool_open(cfg->spool_dir, err, sizeof(err))) == NULL) {
		log_errx("daemon: spool: %s", err);
		return -1;
	}
	/* Before anything else touches the spool or the control socket. */
	if (spool_lock(d->spool, err, sizeof(err)) == -1) {
		log_errx("daemon: %s", err);
		goto fail;
	}
	if ((d->relay = relay_start(cfg, d->spool, err, sizeof(err))) == NULL) {
		log_warnx("daemon: relay: %s", err);
		goto fail;
	}
	if (cfg->listener.enabled && (d->smtpd = smtpd_start(cfg, d->spool,
	    daemon_wake_relay, d->relay, err, sizeof(err))) == NULL) {
		log_warnx("daemon: listener: %s", err);
		goto fail;
	}
	/* an unusable history file costs history (counted), never alarms */
	if (history_start(cfg, err, sizeof(err)) == -1)
		log_warnx("daemon: %s; history events are dropped", err);
	/* before the pollers: a new configuration that does not start must
	 * not have polled, mailed or saved alarm state */
	if (cfg->http.enabled && (d->http = http_start(cfg, d->spool,
	    &d->board, err, sizeof(err))) == NULL) {
		log_warnx("daemon: %s", err);
		goto fail;
	}
	d->pollers = xcalloc(cfg->ndevices, sizeof(*d->pollers));
	for (i = 0; i < cfg->ndevices; i++) {
		if ((d->pollers[i] = poller_start(cfg, i, d->spool,
		    d->relay, d->pollers)) == NULL)
			goto fail;
		d->npollers++;
	}
	d->cfg = cfg;
	if (cfg->imap.enabled && (d->imap = imap_start(cfg, d->spool,
	    &daemon_imap_ops, d, err, sizeof(err))) == NULL) {
		log_warnx("daemon: %s", err);
		goto fail;
	}
#ifdef __GLIBC__
	malloc_trim(0);
#endif
	d->started_workers = 1;
	return 0;
fail:
	daemon_stop_workers(d);
	return -1;
}

/* Listener first (no new mail), then pollers (they save state), relay last. */
static void
daemon_stop_workers(struct daemon *d)
{
	size_t i;

	/* first: it acts on the pollers */
	imap_stop(d->imap);
	d->imap = NULL;
	/* the web server first, then the snapshot: it points into pollers
	 * and cfg */
	daemon_answer_web(d);
	d->started_workers = 0;
	http_stop(d->http);
	d->http = NULL;
	snapshot_publish(&d->board, NULL);
	if (d->smtpd != NULL)
		smtpd_stop(d->smtpd);
	d->smtpd = NULL;
	/* in parallel: each may be waiting for one request */
	for (i = 0; i < d->npollers; i++)
		poller_cancel(d->pollers[i]);
	for (i = 0; i < d->npollers; i++)
		poller_stop(d->pollers[i]);
	free(d->pollers);
	if (d->relay != NULL)
		relay_stop(d->relay);
	history_stop();		/* after those whose events it writes */
	if (d->spool != NULL)
		spool_close(d->spool);
	d->pollers = NULL;
	d->npollers = 0;
	d->relay = NULL;
	d->spool = NULL;
}

/*
 * A web action waits for this thread's answer on the control socket, and
 * http_stop() waits for the action: answered here first (they take
 * milliseconds), else a reload or stop would wait out the page's 10 s.
 */
static void
daemon_answer_web(struct daemon *d)
{
	struct pollfd pfd[CTL_POLLFDS];
	uint64_t start = util_mono_ms();
	int tick;

	/* not while a start fails: d->cfg and the pollers may not match */
	while (http_actions_close(d->http) > 0 && d->started_workers &&
	    d->ctl != NULL && util_mono_ms() - start < DAEMON_ANSWER_WEB_MS) {
		tick = 10;
		ctl_pollfds(d->ctl, pfd, util_mono_ms(), &tick);
		if (poll(pfd, CTL_POLLFDS, tick) == -1 && errno != EINTR)
			fatal("daemon: poll");
		ctl_events(d->ctl, pfd, util_mono_ms());
	}
}

/* The control socket lives in spool_dir: (re)create it where that is now. */
static void
daemon_ctl_socket(struct daemon *d)
{
	char path[sizeof(d->ctl_path)];

	if (ctl_path(d->cfg, path, sizeof(path)) == -1)
		fatalx("daemon: control socket path too long in %s",
		    d->cfg->spool_dir);
	if (d->ctl != NULL && strcmp(path, d->ctl_path) == 0)
		return;
	ctl_close(d->ctl);
	strlcpy(d->ctl_path, path, sizeof(d->ctl_path));
	if ((d->ctl = ctl_open(d->ctl_path, daemon_ctl_client, d)) == NULL)
		fatal("daemon: control socket %s", d->ctl_path);
}

/* SIGHUP: an invalid new file is logged and the running config kept. */
static void
daemon_reload(struct daemon *d)
{
	struct config *ncfg, *old = d->cfg;

	daemon_notify("RELOADING=1");
	if ((ncfg = daemon_load(d->path)) == NULL) {
		log_warnx("daemon: reload of %s failed, keeping the running "
		    "configuration", d->path);
		daemon_notify("READY=1");
		return;
	}
	daemon_stop_workers(d);
	if (daemon_start_workers(d, ncfg) == -1) {
		log_warnx("daemon: new configuration does not start, going "
		    "back to the previous one");
		config_free(ncfg);
		if (daemon_start_workers(d, old) == -1)
			fatalx("daemon: previous configuration does not start "
			    "either");
		daemon_notify("READY=1");
		return;
	}
	config_free(old);
	d->loaded = time(NULL);
	daemon_ctl_socket(d);
	log_info("daemon: reloaded %s devices=%zu rules=%zu", d->path,
	    d->cfg->ndevices, d->cfg->nrules);
	daemon_notify("READY=1");
}

/* A thread that stopped looping must make systemd restart us. */
static int
daemon_threads_alive(struct daemon *d)
{
	uint64_t now = util_mono_ms();
	uint64_t grace = d->cfg->stall_grace_ms;
	uint64_t relay_max = 2 * d->cfg->smtp.timeout_ms + grace;
	size_t i;

	if (now - relay_last_alive_ms(d->relay) > relay_max) {
		log_warnx("daemon: relay thread stalled");
		return 0;
	}
	if (d->smtpd != NULL && now - smtpd_last_alive_ms(d->smtpd) > grace) {
		log_warnx("daemon: listener thread stalled");
		return 0;
	}
	for (i = 0; i < d->npollers; i++)
		if (now - poller_last_alive_ms(d->pollers[i]) >
		    poller_max_cycle_ms(d->pollers[i]) + grace) {
			log_warnx("daemon: poller thread of %s stalled",
			    d->cfg->devices[i].name);
			return 0;
		}
	return 1;
}

/* Queue and mail path in a few words for STATUS=, "" when all is well. */
static void
daemon_mail_summary(struct daemon *d, char *buf, size_t len)
{
	struct spool_stats st;
	char why[8], failed[32] = "";
	time_t since;

	spool_stats(d->spool, &st);
	if (st.failed > 0)
		snprintf(failed, sizeof(failed), ", %zu failed", st.failed);
	snprintf(buf, len, "%zu queued%s%s%s", st.queued, failed,
	    relay_stuck(d->relay) ? ", stuck" : "",
	    relay_path_broken(d->relay, &since, why, sizeof(why)) ?
	    ", mail path BROKEN" : "");
}

static void
daemon_tick(struct daemon *d)
{
	char status[256];
	char mail[128];
	struct snapshot *s;
	size_t i, up = 0;
	uint64_t now = util_mono_ms();
	time_t t = time(NULL);
	int ping;

	ping = d->watchdog_ms != 0 && now - d->last_ping_ms >=
	    d->watchdog_ms / 2;
	/* every tick for /healthz, else when the watchdog wants a ping */
	if (ping || d->http != NULL)
		d->alive = daemon_threads_alive(d);
	if (ping && d->alive) {
		daemon_notify("WATCHDOG=1");
		d->last_ping_ms = now;
	}
	daemon_snapshot(d);
	s = snapshot_take(&d->board);
	for (i = 0; i < s->ndev; i++)
		up += s->dev[i].link_up;
	daemon_mail_summary(d, mail, sizeof(mail));
	snprintf(status, sizeof(status), "STATUS=devices %zu/%zu up, %zu "
	    "active alarms, %s", up, s->ndev, snapshot_active(s), mail);
	snapshot_release(&d->board, s);
	if (strcmp(status, d->status) != 0) {
		daemon_notify(status);
		strlcpy(d->status, status, sizeof(d->status));
	}
	daemon_sign_of_life(d, t);
}

/* For every reader: one copy, taken once per tick, for each status and
 * after each ack or shelf (daemon_ctl_client). */
static void
daemon_snapshot(struct daemon *d)
{
	struct snapshot *s;
	size_t i, n = 0;

	for (i = 0; i < d->npollers; i++)
		n += poller_slots(d->pollers[i]);
	s = snapshot_new(d->npollers, n);
	s->taken = time(NULL);
	s->started = d->started;
	s->cfg = d->cfg;
	s->config_loaded = d->loaded;
	for (i = 0; i < d->npollers; i++)
		poller_snapshot(d->pollers[i], s, n);
	spool_stats(d->spool, &s->queue);
	s->path_broken = relay_path_broken(d->relay, &s->path_since,
	    s->path_why, sizeof(s->path_why));
	s->threads_alive = d->alive;
	s->history_enabled = d->cfg->history.enabled;
	snapshot_publish(&d->board, s);
}

/*
 * Once a day, at sign_of_life.at local time or at the first start after it
 * that day. The day last sent is kept in spool_dir/sign_of_life, so a
 * restart never sends it twice.
 */
static void
daemon_sign_of_life(struct daemon *d, time_t t)
{
	const struct config_sign_of_life *sol = &d->cfg->sign_of_life;
	struct snapshot *s;
	struct notify_gateway gw;
	struct tm tm;
	char *devices = NULL, *alarms = NULL, today[16];
	size_t dlen, alen;
	FILE *df, *af;

	localtime_r(&t, &tm);
	if (!sol->enabled ||
	    (unsigned)(tm.tm_hour * 60 + tm.tm_min) < sol->at_minute)
		return;
	strftime(today, sizeof(today), "%Y-%m-%d", &tm);
	if ((d->sign_of_life_day[0] == '\0' && spool_state_get(d->spool,
	    "sign_of_life", d->sign_of_life_day,
	    sizeof(d->sign_of_life_day)) == -1 && errno != ENOENT) ||
	    strcmp(d->sign_of_life_day, today) == 0)
		return;
	strlcpy(d->sign_of_life_day, today, sizeof(d->sign_of_life_day));
	if (spool_state_put(d->spool, "sign_of_life", today) == -1)
		log_err("daemon: cannot record the sign of life of %s", today);
	if ((df = open_memstream(&devices, &dlen)) == NULL)
		return;
	if ((af = open_memstream(&alarms, &alen)) == NULL) {
		fclose(df);
		free(devices);
		return;
	}
	s = snapshot_take(&d->board);	/* the tick's, just taken */
	snapshot_status(s, df, af);
	fclose(df);
	fclose(af);
	memset(&gw, 0, sizeof(gw));
	gw.devices = devices;
	gw.alarms = alarms;
	gw.queue_len = s->queue.queued;
	gw.queue_oldest = s->queue.oldest;
	gw.failed = s->queue.failed;
	snapshot_release(&d->board, s);
	daemon_submit_sign_of_life(d, &gw, t);
	free(devices);
	free(alarms);
}

static void
daemon_submit_sign_of_life(struct daemon *d, const struct notify_gateway *gw,
    time_t t)
{
	struct notify_mail m;
	char id[SPOOL_ID_MAX];

	if (notify_sign_of_life(d->cfg, gw, t, util_random64(), &m) == -1) {
		log_warnx("daemon: cannot compose the sign-of-life mail");
		return;
	}
	if (spool_submit(d->spool, d->cfg->smtp.from_addr, m.rcpts, m.nrcpt,
	    m.data, m.len, id, sizeof(id)) == -1)
		log_warn("daemon: sign-of-life mail not spooled");
	else {
		log_info("daemon: sign of life id=%s", id);
		relay_wake(d->relay);
	}
	notify_mail_clear(&m);
}

/* `modbus2mail status`: the mail path and the queue. */
static void
daemon_status_mail(struct daemon *d, FILE *out)
{
	struct spool_stats st;
	char why[RELAY_WHY_LEN], hm[8];
	time_t since, now = time(NULL);
	struct tm tm;

	if (relay_path_broken(d->relay, &since, why, sizeof(why))) {
		localtime_r(&since, &tm);
		strftime(hm, sizeof(hm), "%H:%M", &tm);
		fprintf(out, "mail path: BROKEN since %s — upstream %s\n", hm,
		    why);
	} else
		fprintf(out, "mail path: ok\n");
	spool_stats(d->spool, &st);
	fprintf(out, "queue: %zu messages", st.queued);
	if (st.queued > 0)
		fprintf(out, ", oldest %llds%s", (long long)(now - st.oldest),
		    relay_stuck(d->relay) ? " (stuck: older than "
		    "smtp.stuck_after)" : "");
	fprintf(out, ", %zu failed\n", st.failed);
	if (st.damaged > 0 || st.unusable > 0)
		fprintf(out, "unreadable: %zu moved to failed/ since start, %zu "
		    "in queue/ that are not the spool owner's files\n",
		    st.damaged, st.unusable);
	if (counter_get(COUNTER_HISTORY_DROPPED) > 0)
		fprintf(out, "history: %llu events dropped since start (see the "
		    "log)\n", (unsigned long long)counter_get(
		    COUNTER_HISTORY_DROPPED));
}

/* `modbus2mail status`: devices, alarms, mail. */
static int
daemon_ctl_status(struct daemon *d, FILE *out)
{
	struct snapshot *s;
	char *alarms = NULL;
	size_t alen;
	FILE *af;

	if ((af = open_memstream(&alarms, &alen)) == NULL)
		return -1;
	fprintf(out, "devices:\n");
	/* taken now: what changed since the tick (an alarm a mail just
	 * told of, an ack by the PLC) shows */
	daemon_snapshot(d);
	s = snapshot_take(&d->board);
	snapshot_status(s, out, af);
	snapshot_release(&d->board, s);
	fclose(af);
	fprintf(out, "alarms:\n%s", alarms);
	free(alarms);
	daemon_status_mail(d, out);
	imap_status(d->imap, out);
	return 0;
}

static int
daemon_ctl_flush(struct daemon *d, FILE *out)
{
	struct spool_entry *e;
	size_t qlen = 0;

	/* counted first: once woken, the relay may empty the queue; read, as
	 * sendmail may have queued without the daemon */
	if (spool_scan(d->spool, &e, &qlen) == 0)
		spool_entries_free(e, qlen);
	relay_wake(d->relay);
	log_info("daemon: flush requested");
	if (qlen == 0)
		fprintf(out, "flush: the queue is empty\n");
	else
		fprintf(out, "flush: %zu message%s queued for delivery now\n",
		    qlen, qlen == 1 ? "" : "s");
	return 0;
}

/* "14:30" when that is today, else "2026-11-30 14:30" (local time). */
static void
daemon_fmt_until(char *buf, size_t len, time_t now, uint64_t ms)
{
	time_t t = now + (time_t)((ms + 999) / 1000);
	struct tm a, b;

	localtime_r(&now, &a);
	localtime_r(&t, &b);
	if (a.tm_year == b.tm_year && a.tm_yday == b.tm_yday)
		strftime(buf, len, "%H:%M", &b);
	else
		strftime(buf, len, "%Y-%m-%d %H:%M", &b);
}

/*
 * ack RULE; shelve and unshelve a RULE or a DEVICE (every alarm of it).
 * A rule of the same name as a device wins: shelve RULE keeps its meaning.
 */
/* "root via modbus2mail ack" (uid 0 without a passwd entry: "uid 0"),
 * "operator1 via the web page", or the actor the daemon acts for
 * ("ops@example.com by reply"). */
static void
daemon_ack_by(char *buf, size_t len, const struct ctl_req *req)
{
	struct passwd pw, *res = NULL;
	char pwbuf[1024];

	if (req->actor[0] != '\0')
		strlcpy(buf, req->actor, len);
	else if (req->user[0] != '\0')
		snprintf(buf, len, "%s via the web page", req->user);
	else if (req->uid < 0)
		snprintf(buf, len, "via modbus2mail ack");
	else if (getpwuid_r((uid_t)req->uid, &pw, pwbuf, sizeof(pwbuf),
	    &res) == 0 && res != NULL)
		snprintf(buf, len, "%s via modbus2mail ack", pw.pw_name);
	else
		snprintf(buf, len, "uid %ld via modbus2mail ack", req->uid);
}

/* A shelve or unshelve (of a rule, pseudo-rule or device) in the history. */
static void
daemon_history_shelf(struct daemon *d, const struct ctl_req *req,
    const char *detail)
{
	long rule = config_find_rule(d->cfg, req->name);
	long dev = config_find_device(d->cfg, req->name);

	history_add(req->verb == CTL_SHELVE && req->ms > 0 ? HISTORY_SHELVE :
	    HISTORY_UNSHELVE, rule != -1 ? d->cfg->devices[
	    d->cfg->rules[rule].device].name : dev != -1 ? req->name : NULL,
	    rule != -1 || dev == -1 ? req->name : NULL, detail);
}

static int
daemon_ctl_alarm(struct daemon *d, const struct ctl_req *req, FILE *out)
{
	uint64_t ms = req->verb == CTL_SHELVE ? req->ms : 0;
	long dev = config_find_device(d->cfg, req->name);
	const char *all = "";
	char until[32], by[CTL_REASON_MAX];
	size_t i;
	int r = 1;

	if (req->verb != CTL_ACK && dev != -1 &&
	    config_find_rule(d->cfg, req->name) == -1) {
		all = "every alarm of ";
		r = poller_shelve(d->pollers[dev], NULL, ms, req->reason, out);
	}
	daemon_ack_by(by, sizeof(by), req);
	for (i = 0; i < d->npollers && r == 1; i++)
		r = req->verb == CTL_ACK ? poller_ack(d->pollers[i], req->name,
		    by, out) : poller_shelve(d->pollers[i], req->name, ms,
		    req->reason, out);
	if (r == 1)
		fprintf(out, "no %s '%s' in %s\n", req->verb == CTL_ACK ?
		    "rule" : "rule or device", req->name, d->path);
	if (r != 0)
		return -1;
	if (req->verb != CTL_ACK)
		daemon_history_shelf(d, req, ms == 0 ? by : req->reason);
	if (req->verb == CTL_ACK)
		fprintf(out, "%s acknowledged\n", req->name);
	else if (ms == 0)
		fprintf(out, "%s%s unshelved\n", all, req->name);
	else {
		daemon_fmt_until(until, sizeof(until), time(NULL), ms);
		fprintf(out, "%s%s shelved until %s\n", all, req->name, until);
	}
	return 0;
}

/* Control requests, decoded by ctl.c. */
static int
daemon_ctl(const struct ctl_req *req, FILE *out, void *arg)
{
	struct daemon *d = arg;
	int r;

	/* only the daemon's own web server names a web user */
	if (req->user[0] != '\0' && req->uid != (long)geteuid()) {
		log_warnx("daemon: control client uid %ld named web user %s: "
		    "refused", req->uid, req->user);
		fprintf(out, "only the daemon's web page may name a web user\n");
		return -1;
	}
	switch (req->verb) {
	case CTL_FLUSH:
		return daemon_ctl_flush(d, out);
	case CTL_STATUS:
		return daemon_ctl_status(d, out);
	case CTL_ACK:
	case CTL_SHELVE:
	case CTL_UNSHELVE:
		return daemon_ctl_alarm(d, req, out);
	case CTL_RETRY:
	case CTL_DELETE:
		r = ctl_spool(d->spool, req, out);
		relay_wake(d->relay);	/* deliver, and mail_ok_coil follows */
		return r;
	}
	fatalx("daemon: control verb %d", (int)req->verb);
}

/*
 * A control socket client (the CLI, the web page). After an ack or a
 * shelf the board is renewed before the answer goes: the page the web
 * server shows next, or a status, already has it.
 */
static int
daemon_ctl_client(const struct ctl_req *req, FILE *out, void *arg)
{
	struct daemon *d = arg;
	int r;

	r = daemon_ctl(req, out, arg);
	if (req->verb == CTL_ACK || req->verb == CTL_SHELVE ||
	    req->verb == CTL_UNSHELVE)
		daemon_snapshot(d);
	return r;
}

int
daemon_run(const char *path, int verbose)
{
	struct daemon d;
	struct config *cfg;
	struct pollfd pfd[1 + CTL_POLLFDS];
	struct signalfd_siginfo si;
	sigset_t mask;
	uint64_t usec = 0;
	int sfd, tick, running = 1;

	log_init(verbose);
	daemon_malloc_tune();
	memset(&d, 0, sizeof(d));
	d.path = path;
	snapshot_board_init(&d.board);
	if ((cfg = daemon_load(path)) == NULL)
		return 1;
	/* Signals are read synchronously; worker threads inherit the mask. */
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((sfd = signalfd(-1, &mask, SFD_CLOEXEC)) == -1)
		fatal("daemon: signalfd");
	if (!cfg->smtp.verify_peer)
		log_warnx("daemon: smtp.verify_peer is false: the provider's "
		    "certificate is NOT verified");
	if (cfg->smtp.tls_none)
		log_warnx("daemon: smtp.tls is none: mail to the provider is "
		    "NOT encrypted");
	if (daemon_start_workers(&d, cfg) == -1) {
		config_free(cfg);
		snapshot_board_destroy(&d.board);
		return 1;
	}
	daemon_ctl_socket(&d);
	d.started = d.loaded = time(NULL);
#ifdef HAVE_LIBSYSTEMD
	if (sd_watchdog_enabled(0, &usec) > 0)
		d.watchdog_ms = usec / 1000;
#endif
	log_info("daemon: started version=%s config=%s devices=%zu rules=%zu "
	    "listener=%s", M2M_VERSION, path, d.cfg->ndevices, d.cfg->nrules,
	    d.cfg->listener.enabled ? "on" : "off");
	daemon_notify("READY=1");
	daemon_tick(&d);

	while (running) {
		pfd[0].fd = sfd;
		pfd[0].events = POLLIN;
		/* a tick often enough for a short WatchdogSec too */
		tick = DAEMON_TICK_MS;
		if (d.watchdog_ms != 0 && d.watchdog_ms / 4 < (uint64_t)tick)
			tick = (int)(d.watchdog_ms / 4);
		ctl_pollfds(d.ctl, pfd + 1, util_mono_ms(), &tick);
		if (poll(pfd, 1 + CTL_POLLFDS, tick) == -1 && errno != EINTR)
			fatal("daemon: poll");
		/* before a reload may replace d.ctl; it never waits */
		ctl_events(d.ctl, pfd + 1, util_mono_ms());
		if (pfd[0].revents & POLLIN &&
		    read(sfd, &si, sizeof(si)) == sizeof(si)) {
			if (si.ssi_signo == SIGHUP)
				daemon_reload(&d);
			else
				running = 0;
		}
		if (running)
			daemon_tick(&d);
	}

	daemon_notify("STOPPING=1");
	log_info("daemon: stopping");
	daemon_stop_workers(&d);	/* answers web actions under way */
	ctl_close(d.ctl);
	snapshot_board_destroy(&d.board);
	config_free(d.cfg);
	close(sfd);
	return 0;
}
