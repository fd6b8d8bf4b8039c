/*
 * poller.c - one thread per device (libmodbus is blocking): connect with
 * capped backoff, execute the read plan, feed the alarm engine, turn its
 * notifications into mail in the spool, write mail_ok_coil.
 *
 * Every request has `timeout` for its whole reply, however slowly it
 * drips in, and every reply is checked (mbframe.h) before it is used. A
 * request answered with an exception or by another unit fails alone; a
 * cycle whose every request failed is a failed cycle for DEVICE.link; a
 * broken frame, a timeout or a socket error close the connection. stop is
 * checked before each request, so stopping waits for one request at most.
 *
 * Locking: p->lock guards the engine and the status fields; it is never
 * held across Modbus I/O, so `status`/`ack` answer while a device hangs.
 * Alarm state is saved after every notification, ack or shelve, to
 * <spool_dir>/alarms/DEVICE.state (tmp + fsync + rename + dir fsync); the
 * mail is committed to the spool first, so a crash between the two may
 * duplicate a mail but never lose one.
 */
#include <errno.h>
#include <modbus.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "modbus2mail/alarm.h"
#include "modbus2mail/config.h"
#include "modbus2mail/history.h"
#include "modbus2mail/log.h"
#include "modbus2mail/mbframe.h"
#include "modbus2mail/notify.h"
#include "modbus2mail/poller.h"
#include "modbus2mail/readplan.h"
#include "modbus2mail/relay.h"
#include "modbus2mail/snapshot.h"
#include "modbus2mail/spool.h"
#include "modbus2mail/util.h"
#include "modbus2mail/value.h"

#define POLLER_BACKOFF_MAX_MS	10000
#define POLLER_MAIL_OK_BACKOFF_MAX_MS 60000

/* A composed mail the spool refused (disk full): retried every cycle. */
struct pending {
	char *data;
	size_t len;
	char **rcpts;
	size_t nrcpt;
	struct pending *next;
};

struct poller {
	const struct config *cfg;
	const struct config_device *dev;
	size_t device;
	struct spool *spool;
	struct relay *relay;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_int stop;		/* set under lock, read anywhere */
#ifdef M2M_TEST_HOOKS
	int test_stall;			/* MODBUS2MAIL_TEST_STALL_POLLER */
#endif

	/* owned by the thread */
	modbus_t *mb;
	uint16_t tid;			/* last transaction id */
	struct readplan plan;
	uint64_t backoff_ms;
	int mail_ok;			/* last value written, -1 unknown */
	uint64_t mail_ok_backoff, mail_ok_retry_at;
	struct log_limit link_lim, mail_ok_lim;
	struct log_limit *req_lim;	/* one per request; NULL: quiet */
	struct pending *pending;
	struct snapshot_poll tally;	/* copied to stats each cycle */

	/* under lock */
	struct alarm_engine *eng;
	int link_up;
	char link_err[ALARM_REASON_MAX];	/* why the link is down */
	char mail_ok_err[ALARM_REASON_MAX];	/* mail_ok_coil write failing */
	time_t last_good;		/* wall clock of the last good poll */
	time_t link_since;		/* wall clock of the last link change */
	_Atomic uint64_t alive_ms;
	int dirty;			/* state to save */
	struct snapshot_poll stats;
	uint64_t (*trans)[SNAPSHOT_NKINDS];	/* per slot, by alarm kind */
};

static void	*poller_main(void *);
static int	poller_stopping(struct poller *);
static int	poller_connect(struct poller *, char *, size_t);
static void	poller_disconnect(struct poller *);
static int	poller_transact(struct poller *, struct mbframe_req *,
		    uint8_t *, char *, size_t);
static int	poller_read(struct poller *, struct readplan *, char *, size_t);
static void	poller_cycle(struct poller *);
static void	poller_mail(struct poller *, time_t);
static void	poller_count(struct poller *, const struct alarm_notification *);
static int	poller_submit(struct poller *, struct pending *);
static void	poller_flush_pending(struct poller *);
static void	poller_mail_ok(struct poller *);
static void	poller_save(struct poller *);
static void	poller_load(struct poller *);
static void	poller_free(struct poller *);
static uint64_t	poller_backoff_cap(const struct poller *);
static void	pending_free(struct pending *);

struct poller *
poller_start(const struct config *cfg, size_t device, struct spool *spool,
    struct relay *relay)
{
	struct poller *p;

	if (cfg->devices[device].serial.port != NULL) {
		log_warnx("poller: %s: Modbus RTU (serial) is not served yet",
		    cfg->devices[device].name);
		return NULL;
	}
	p = xcalloc(1, sizeof(*p));
	p->cfg = cfg;
	p->device = device;
	p->dev = &cfg->devices[device];
	p->spool = spool;
	p->relay = relay;
	p->mail_ok = -1;
#ifdef M2M_TEST_HOOKS
	p->test_stall = getenv("MODBUS2MAIL_TEST_STALL_POLLER") != NULL;
#endif
	p->eng = alarm_engine_new(cfg, device);
	p->trans = xcalloc(alarm_engine_count(p->eng) + 1, sizeof(*p->trans));
	atomic_init(&p->alive_ms, util_mono_ms());
	pthread_mutex_init(&p->lock, NULL);
	util_cond_init(&p->cond);
	if (readplan_build(cfg, device, &p->plan) == -1) {
		log_warnx("poller: %s: read plan too large", p->dev->name);
		poller_free(p);
		return NULL;
	}
	p->req_lim = xcalloc(p->plan.nreq + 1, sizeof(*p->req_lim));
	poller_load(p);
	if ((errno = pthread_create(&p->thread, NULL, poller_main, p)) != 0) {
		log_warn("poller: %s: pthread_create", p->dev->name);
		poller_free(p);
		return NULL;
	}
	return p;
}

/* What poller_start made; the thread is not (or no longer) running. */
static void
poller_free(struct poller *p)
{
	readplan_free(&p->plan);
	free(p->req_lim);
	alarm_engine_free(p->eng);
	free(p->trans);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void
poller_cancel(struct poller *p)
{
	pthread_mutex_lock(&p->lock);
	atomic_store(&p->stop, 1);
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

void
poller_stop(struct poller *p)
{
	struct pending *pd;

	poller_cancel(p);
	pthread_join(p->thread, NULL);
	/* Unspooled mail: keep the old state so the next start sends it. */
	if (p->pending == NULL)
		poller_save(p);
	else
		log_warnx("poller: %s: alarm mail not spooled at stop (spool "
		    "unwritable); state not saved, it is sent after restart",
		    p->dev->name);
	poller_disconnect(p);
	while ((pd = p->pending) != NULL) {
		p->pending = pd->next;
		pending_free(pd);
	}
	poller_free(p);
}

uint64_t
poller_last_alive_ms(const struct poller *p)
{
	return atomic_load(&p->alive_ms);
}

/* The longest wait between two polls, every request timing out, the connect. */
uint64_t
poller_max_cycle_ms(const struct poller *p)
{
	return p->dev->poll_interval_ms + poller_backoff_cap(p) +
	    (p->plan.nreq + 2) * p->dev->timeout_ms;
}

static int
poller_stopping(struct poller *p)
{
	return atomic_load(&p->stop);
}

static int
poller_connect(struct poller *p, char *why, size_t whylen)
{
	char port[8];
	uint64_t to = p->dev->timeout_ms;

	if (p->dev->serial.port != NULL) {
		snprintf(why, whylen, "Modbus RTU (serial) is not served yet");
		return -1;
	}
	snprintf(port, sizeof(port), "%u", p->dev->port);
	if ((p->mb = modbus_new_tcp_pi(p->dev->host, port)) == NULL) {
		snprintf(why, whylen, "modbus_new_tcp_pi: %s", strerror(errno));
		return -1;
	}
	/*
	 * No byte timeout: libmodbus then bounds the whole reply by the
	 * response timeout (select() counts it down on Linux), where a byte
	 * timeout would restart with every byte a device drips.
	 */
	modbus_set_response_timeout(p->mb, (uint32_t)(to / 1000),
	    (uint32_t)(to % 1000) * 1000);
	modbus_set_byte_timeout(p->mb, 0, 0);
	if (modbus_connect(p->mb) == -1) {
		snprintf(why, whylen, "connect %s:%u: %s", p->dev->host,
		    p->dev->port, modbus_strerror(errno));
		poller_disconnect(p);
		return -1;
	}
	p->mail_ok = -1;	/* a restarted PLC lost what we wrote */
	return 0;
}

static void
poller_disconnect(struct poller *p)
{
	if (p->mb == NULL)
		return;
	modbus_close(p->mb);
	modbus_free(p->mb);
	p->mb = NULL;
}

/*
 * Sends rq (our own frame: libmodbus's raw requests all carry transaction
 * id 0) and receives its reply within the timeout. An mbframe_result, or
 * -1 when the reply did not come (timeout, socket error). why is set
 * unless MBFRAME_OK.
 */
static int
poller_transact(struct poller *p, struct mbframe_req *rq, uint8_t *rsp,
    char *why, size_t whylen)
{
	uint8_t req[MBFRAME_REQ_LEN];
	int n;

	rq->tid = ++p->tid;
	rq->unit = (uint8_t)p->dev->unit_id;
	mbframe_build(rq, req);
	/* 12 bytes into a socket whose previous reply was read */
	if (send(modbus_get_socket(p->mb), req, sizeof(req),
	    MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(req)) {
		snprintf(why, whylen, "send: %s", strerror(errno));
		return -1;
	}
	if ((n = modbus_receive_confirmation(p->mb, rsp)) == -1) {
		if (errno == ETIMEDOUT)
			snprintf(why, whylen, "no complete reply within %llums",
			    (unsigned long long)p->dev->timeout_ms);
		else
			snprintf(why, whylen, "receive: %s",
			    modbus_strerror(errno));
		return -1;
	}
	return (int)mbframe_check(rq, rsp, (size_t)n, why, whylen);
}

static uint8_t
poller_fc(enum config_source table)
{
	switch (table) {
	case SOURCE_COIL:
		return 1;
	case SOURCE_DISCRETE_INPUT:
		return 2;
	case SOURCE_HOLDING_REGISTER:
		return 3;
	case SOURCE_INPUT_REGISTER:
		return 4;
	}
	fatalx("poller: bad table %d", table);
}

/*
 * Executes every request of the plan. 0: at least one succeeded (or there
 * are none); 1: every request failed on a sound connection (exceptions,
 * another unit); -1: the link failed (close it). why is set unless 0.
 */
static int
poller_read(struct poller *p, struct readplan *plan, char *why,
    size_t whylen)
{
	uint8_t rsp[MODBUS_TCP_MAX_ADU_LENGTH];
	struct readplan_req *rq;
	struct mbframe_req mq;
	size_t i, nok = 0;
	int r, same = 1;

	for (i = 0; i < plan->nreq; i++) {
		rq = &plan->req[i];
		if (poller_stopping(p)) {
			snprintf(why, whylen, "stopping");
			return -1;
		}
		memset(&mq, 0, sizeof(mq));
		mq.fc = poller_fc(rq->table);
		mq.addr = rq->addr;
		mq.n = rq->count;
		r = poller_transact(p, &mq, rsp, rq->why, sizeof(rq->why));
		if (r == MBFRAME_OK)
			p->tally.req_ok++;
		else if (r == MBFRAME_EXCEPTION)
			p->tally.req_exception++;
		else
			p->tally.req_failed++;
		if ((rq->ok = r == MBFRAME_OK)) {
			if (rq->bits != NULL)
				mbframe_bits(rsp, rq->count, rq->bits);
			else
				mbframe_regs(rsp, rq->count, rq->regs);
			nok++;
			continue;
		}
		if (r == -1 || r == MBFRAME_BAD_FRAME) {
			strlcpy(why, rq->why, whylen);
			return -1;
		}
		same &= r == MBFRAME_EXCEPTION &&
		    strcmp(rq->why, plan->req[0].why) == 0;
	}
	/* when all fail, the caller logs the cycle instead */
	for (i = 0; nok > 0 && p->req_lim != NULL && i < plan->nreq; i++)
		if (!plan->req[i].ok)
			log_warnx_limited(&p->req_lim[i], util_mono_ms(),
			    "poller: %s: %s %u+%u: %s", p->dev->name,
			    config_source_name(plan->req[i].table),
			    plan->req[i].addr, plan->req[i].count,
			    plan->req[i].why);
	if (plan->nreq == 0 || nok > 0)
		return 0;
	snprintf(why, whylen, same ? "every request answered with %s" :
	    "every request failed (first: %s)", plan->req[0].why);
	return 1;
}

/* Back off (warned once a minute at most) while the PLC refuses it. */
static void
poller_mail_ok(struct poller *p)
{
	uint8_t rsp[MODBUS_TCP_MAX_ADU_LENGTH];
	char why[ALARM_REASON_MAX];
	struct mbframe_req mq;
	uint64_t now = util_mono_ms();
	int ok, r;

	if (p->dev->mail_ok_coil < 0 || p->mb == NULL || poller_stopping(p))
		return;
	ok = relay_healthy(p->relay) && p->pending == NULL;
	if (ok == p->mail_ok || now < p->mail_ok_retry_at)
		return;
	memset(&mq, 0, sizeof(mq));
	mq.fc = MBFRAME_FC_WRITE_COIL;
	mq.addr = (uint16_t)p->dev->mail_ok_coil;
	mq.n = (uint16_t)ok;
	if ((r = poller_transact(p, &mq, rsp, why, sizeof(why))) != MBFRAME_OK) {
		if (r == -1 || r == MBFRAME_BAD_FRAME)
			poller_disconnect(p);
		p->mail_ok_backoff = p->mail_ok_backoff == 0 ?
		    p->dev->poll_interval_ms : p->mail_ok_backoff * 2;
		if (p->mail_ok_backoff > POLLER_MAIL_OK_BACKOFF_MAX_MS)
			p->mail_ok_backoff = POLLER_MAIL_OK_BACKOFF_MAX_MS;
		p->mail_ok_retry_at = now + p->mail_ok_backoff;
		log_warnx_limited(&p->mail_ok_lim, now, "poller: %s: write "
		    "mail_ok_coil %d: %s", p->dev->name, p->dev->mail_ok_coil,
		    why);
		pthread_mutex_lock(&p->lock);
		strlcpy(p->mail_ok_err, why, sizeof(p->mail_ok_err));
		pthread_mutex_unlock(&p->lock);
		return;
	}
	log_info("poller: device=%s mail_ok_coil=%d value=%d", p->dev->name,
	    p->dev->mail_ok_coil, ok);
	p->mail_ok = ok;
	p->mail_ok_backoff = p->mail_ok_retry_at = 0;
	memset(&p->mail_ok_lim, 0, sizeof(p->mail_ok_lim));
	pthread_mutex_lock(&p->lock);
	p->mail_ok_err[0] = '\0';
	pthread_mutex_unlock(&p->lock);
}

/* Reconnect backoff, short enough to see a recovery within link_alarm.after. */
static uint64_t
poller_backoff_cap(const struct poller *p)
{
	if (p->dev->link_alarm && p->dev->link_alarm_after_ms <
	    POLLER_BACKOFF_MAX_MS)
		return p->dev->link_alarm_after_ms;
	return POLLER_BACKOFF_MAX_MS;
}

static void
poller_backoff(struct poller *p, int connected)
{
	uint64_t max = poller_backoff_cap(p);

	if (connected)
		p->backoff_ms = 0;
	else if (p->backoff_ms == 0)
		p->backoff_ms = p->dev->poll_interval_ms;
	else
		p->backoff_ms = p->backoff_ms * 2;
	if (p->backoff_ms > max)
		p->backoff_ms = max;
}

/* One poll cycle: connect if needed, read, evaluate, mail. */
static void
poller_cycle(struct poller *p)
{
	char why[ALARM_REASON_MAX] = "";
	struct timespec t0, t1;
	uint64_t now;
	time_t wall;
	int rc = -1, up;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (p->mb != NULL || poller_connect(p, why, sizeof(why)) == 0) {
		if ((rc = poller_read(p, &p->plan, why, sizeof(why))) == -1)
			poller_disconnect(p);
	} else
		p->tally.req_failed++;
	/* a read cut short by stop is no failed cycle */
	if (poller_stopping(p))
		return;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	snapshot_poll_observe(&p->tally, (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	up = rc == 0;
	now = util_mono_ms();
	wall = time(NULL);
	if (!up) {
		readplan_invalidate(&p->plan);
		log_warnx_limited(&p->link_lim, now, "poller: %s: %s",
		    p->dev->name, why);
	} else
		memset(&p->link_lim, 0, sizeof(p->link_lim));
	pthread_mutex_lock(&p->lock);
	if (up && !p->link_up) {
		log_info("poller: device=%s link=up", p->dev->name);
		history_add(HISTORY_LINK_UP, p->dev->name, NULL, NULL);
	} else if (!up && p->link_up) {
		log_warnx("poller: device=%s link=down: %s", p->dev->name, why);
		history_add(HISTORY_LINK_DOWN, p->dev->name, NULL, why);
	}
	if (up != p->link_up || p->link_since == 0)
		p->link_since = wall;
	p->link_up = up;
	p->stats = p->tally;
	strlcpy(p->link_err, why, sizeof(p->link_err));
	if (up)
		p->last_good = wall;
	else
		alarm_engine_link_error(p->eng, why);
	alarm_engine_cycle(p->eng, &p->plan, up, now, wall);
	pthread_mutex_unlock(&p->lock);
	poller_backoff(p, p->mb != NULL);
	poller_mail(p, wall);
	if (up)
		poller_mail_ok(p);
}

static void
pending_free(struct pending *pd)
{
	util_strv_free(pd->rcpts, pd->nrcpt);
	free(pd->data);
	free(pd);
}

static int
poller_submit(struct poller *p, struct pending *pd)
{
	char id[SPOOL_ID_MAX];

	if (spool_submit(p->spool, p->cfg->smtp.from_addr, pd->rcpts,
	    pd->nrcpt, pd->data, pd->len, id, sizeof(id)) == -1) {
		log_warn("poller: %s: alarm mail not spooled, retrying",
		    p->dev->name);
		return -1;
	}
	log_debug("poller: %s: spooled id=%s", p->dev->name, id);
	history_add(HISTORY_MAIL_QUEUED, p->dev->name, id, "alarm mail");
	return 0;
}

static void
poller_flush_pending(struct poller *p)
{
	struct pending *pd;
	int sent = 0;

	while ((pd = p->pending) != NULL && poller_submit(p, pd) == 0) {
		p->pending = pd->next;
		pending_free(pd);
		sent = 1;
	}
	if (sent)
		relay_wake(p->relay);
}

/* Takes the engine's notifications, composes and spools them. */
static void
poller_mail(struct poller *p, time_t wall)
{
	struct notify_mail nm;
	struct pending *pd, **tail;
	struct alarm_notification *n;
	int any = 0;

	poller_flush_pending(p);
	pthread_mutex_lock(&p->lock);
	while ((n = alarm_engine_take(p->eng)) != NULL) {
		if (notify_build(p->cfg, n, wall, util_random64(), &nm) == -1) {
			log_warnx("poller: %s: cannot compose alarm mail",
			    p->dev->name);
			alarm_notification_free(n);
			continue;
		}
		alarm_engine_set_message_id(p->eng, n, nm.message_id,
		    nm.subject);
		poller_count(p, n);
		pd = xcalloc(1, sizeof(*pd));
		pd->data = nm.data;
		pd->len = nm.len;
		pd->rcpts = nm.rcpts;
		pd->nrcpt = nm.nrcpt;
		log_info("alarm: device=%s rules=%s state=%s rcpts=%zu "
		    "msgid=%s", p->dev->name, nm.rules, nm.state, nm.nrcpt,
		    nm.message_id);
		alarm_notification_free(n);
		for (tail = &p->pending; *tail != NULL; tail = &(*tail)->next)
			;
		*tail = pd;
		any = 1;
	}
	if (any)
		p->dirty = 1;
	pthread_mutex_unlock(&p->lock);
	if (any)
		poller_flush_pending(p);
}

/* Counts n per slot (/metrics) and records it in the history. */
static void
poller_count(struct poller *p, const struct alarm_notification *n)
{
	struct alarm_status st;
	const struct alarm_event *ev;
	size_t i, j, nslots = alarm_engine_count(p->eng);

	for (i = 0; i < n->nev; i++) {
		ev = &n->ev[i];
		history_add(history_kind_of_alarm(n->kind), p->dev->name,
		    ev->name, n->kind == ALARM_ACKNOWLEDGED ? ev->by :
		    ev->reason);
		for (j = 0; j < nslots; j++) {
			alarm_engine_get(p->eng, j, 0, &st);
			if (strcmp(st.name, ev->name) == 0 &&
			    (size_t)n->kind < SNAPSHOT_NKINDS) {
				p->trans[j][n->kind]++;
				break;
			}
		}
	}
}

static void *
poller_main(void *arg)
{
	struct poller *p = arg;
	struct timespec ts;
	uint64_t wait_ms, start, now, deadline;
	int dirty;

	for (;;) {
		start = util_mono_ms();
		atomic_store(&p->alive_ms, start);
		poller_cycle(p);
		/* Mail first, state second: a state that says "notified" is
		 * only written once every mail of it is in the spool. */
		pthread_mutex_lock(&p->lock);
		dirty = p->dirty && p->pending == NULL;
		pthread_mutex_unlock(&p->lock);
		if (dirty)
			poller_save(p);
		wait_ms = p->backoff_ms ? p->backoff_ms : p->dev->poll_interval_ms;
		/* a timer (link alarm, delays) is not held back by the wait */
		pthread_mutex_lock(&p->lock);
		deadline = alarm_engine_next_deadline(p->eng);
		pthread_mutex_unlock(&p->lock);
		now = util_mono_ms();
		if (deadline > now && deadline - now < wait_ms)
			wait_ms = deadline - now;
#ifdef M2M_TEST_HOOKS
		if (p->test_stall) {
			/* behave like a hung thread (the watchdog tests) */
			log_warnx("poller: %s: stalled by "
			    "MODBUS2MAIL_TEST_STALL_POLLER", p->dev->name);
			wait_ms = 1000ULL * 86400 * 365;
		}
#endif
		util_cond_deadline(&ts, wait_ms);
		pthread_mutex_lock(&p->lock);
		while (!p->stop && pthread_cond_timedwait(&p->cond, &p->lock,
		    &ts) != ETIMEDOUT)
			;
		if (p->stop) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

static void
poller_save(struct poller *p)
{
	char *text;

	pthread_mutex_lock(&p->lock);
	text = alarm_engine_save(p->eng, util_mono_ms(), time(NULL));
	p->dirty = 0;
	pthread_mutex_unlock(&p->lock);
	if (text == NULL)
		return;
	if (spool_alarms_put(p->spool, p->dev->name, text) == -1) {
		log_warn("poller: %s: cannot save alarm state in %s/alarms",
		    p->dev->name, p->cfg->spool_dir);
		pthread_mutex_lock(&p->lock);
		p->dirty = 1;
		pthread_mutex_unlock(&p->lock);
	}
	free(text);
}

static void
poller_load(struct poller *p)
{
	char buf[65536];

	if (spool_alarms_get(p->spool, p->dev->name, buf, sizeof(buf)) == -1) {
		if (errno != ENOENT)
			log_warn("poller: %s: alarm state in %s/alarms",
			    p->dev->name, p->cfg->spool_dir);
		return;
	}
	alarm_engine_load(p->eng, buf, util_mono_ms(), time(NULL));
	log_info("poller: device=%s restored alarms=%zu", p->dev->name,
	    alarm_engine_active(p->eng));
}

size_t
poller_episode(struct poller *p, const char *msgid, const char *addr,
    struct alarm_episode *ep, size_t max)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = alarm_engine_episode(p->eng, msgid, addr, ep, max);
	pthread_mutex_unlock(&p->lock);
	return n;
}

int
poller_ack(struct poller *p, const char *rule, const char *by, FILE *out)
{
	char err[256];
	int r;

	pthread_mutex_lock(&p->lock);
	r = alarm_engine_ack(p->eng, rule, by, util_mono_ms(), err,
	    sizeof(err));
	if (r == 0) {
		p->dirty = 1;
		pthread_cond_signal(&p->cond);	/* mail the ACK now */
	}
	pthread_mutex_unlock(&p->lock);
	if (r == -1)
		fprintf(out, "%s\n", err);
	if (r == 0)
		log_info("alarm: rule=%s acknowledged by=\"%s\"", rule, by);
	return r;
}

int
poller_shelve(struct poller *p, const char *rule, uint64_t ms,
    const char *reason, FILE *out)
{
	char err[256];
	int r;

	pthread_mutex_lock(&p->lock);
	r = alarm_engine_shelve(p->eng, rule, ms, reason, util_mono_ms(),
	    time(NULL), err, sizeof(err));
	if (r == 0) {
		p->dirty = 1;
		pthread_cond_signal(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
	if (r == -1)
		fprintf(out, "%s\n", err);
	if (r == 0 && rule != NULL)
		log_info("alarm: rule=%s shelved_ms=%llu reason=\"%s\"", rule,
		    (unsigned long long)ms, reason);
	else if (r == 0)
		log_info("alarm: device=%s all_rules shelved_ms=%llu "
		    "reason=\"%s\"", p->dev->name, (unsigned long long)ms,
		    reason);
	return r;
}

size_t
poller_slots(struct poller *p)
{
	size_t n;

	pthread_mutex_lock(&p->lock);
	n = alarm_engine_count(p->eng);
	pthread_mutex_unlock(&p->lock);
	return n;
}

void
poller_snapshot(struct poller *p, struct snapshot *s, size_t max)
{
	struct snapshot_device *d = &s->dev[s->ndev];
	struct alarm_status st;
	uint64_t now = util_mono_ms();
	size_t i, n;

	pthread_mutex_lock(&p->lock);
	d->name = p->dev->name;
	d->host = p->dev->host;
	d->port = p->dev->port;
	d->link_up = p->link_up;
	d->last_good = p->last_good;
	d->link_since = p->link_since;
	d->nreq = p->plan.nreq;
	d->poll = p->stats;
	if (!p->link_up)
		strlcpy(d->why, p->link_err, sizeof(d->why));
	strlcpy(d->mail_ok_why, p->mail_ok_err, sizeof(d->mail_ok_why));
	d->first = s->nalarm;
	n = alarm_engine_count(p->eng);
	d->shelved = n > 0;
	for (i = 0; i < n && s->nalarm < max; i++) {
		alarm_engine_get(p->eng, i, now, &st);
		memcpy(s->alarm[s->nalarm].transitions, p->trans[i],
		    sizeof(s->alarm[s->nalarm].transitions));
		snapshot_add_alarm(s, &st);
		d->shelved &= st.shelved;
	}
	d->nalarm = s->nalarm - d->first;
	pthread_mutex_unlock(&p->lock);
	s->ndev++;
}

int
poller_read_once(const struct config *cfg, size_t device,
    struct readplan *plan, char *why, size_t whylen)
{
	struct poller p;
	int rc = 0;

	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.dev = &cfg->devices[device];
	readplan_build(cfg, device, plan);
	if (poller_connect(&p, why, whylen) == -1)
		rc = -1;
	else if (poller_read(&p, plan, why, whylen) != 0)
		rc = 1;
	poller_disconnect(&p);
	return rc;
}

/* `modbus2mail poll`: one read of a device, every rule's value. */
static int
poller_poll_device(const struct config *cfg, size_t device, FILE *out)
{
	const struct config_device *d = &cfg->devices[device];
	struct readplan plan;
	char v[32], raw[32], why[ALARM_REASON_MAX];
	double value, rawv;
	size_t i;
	int cond, rc;

	fprintf(out, "%s %s:%u unit %u: ", d->name, d->host, d->port,
	    d->unit_id);
	rc = poller_read_once(cfg, device, &plan, why, sizeof(why));
	if (rc != 0)
		fprintf(out, "%s (%s)\n", rc == -1 ? "unreachable" :
		    "read failed", why);
	else
		fprintf(out, "%zu requests\n", plan.nreq);
	for (i = 0; rc == 0 && i < plan.nreq; i++)
		if (!plan.req[i].ok)
			fprintf(out, "  request %s %u+%u failed: %s\n",
			    config_source_name(plan.req[i].table),
			    plan.req[i].addr, plan.req[i].count,
			    plan.req[i].why);
	for (i = 0; i < cfg->nrules; i++) {
		const struct config_rule *r = &cfg->rules[i];

		if (r->device != device)
			continue;
		cond = rc ? -1 : alarm_rule_condition(r, &plan, 0, &value,
		    &rawv);
		fprintf(out, "  %s %s %u", r->name, config_source_name(r->source),
		    r->address);
		if (r->bit >= 0)
			fprintf(out, " bit %d", r->bit);
		if (cond == -1) {
			fprintf(out, " unavailable\n");
			continue;
		}
		value_format(v, sizeof(v), value);
		value_format(raw, sizeof(raw), rawv);
		fprintf(out, " raw=%s value=%s%s %s\n", raw, v, r->unit,
		    cond ? "active" : "normal");
	}
	readplan_free(&plan);
	return rc != 0;
}

int
poller_poll_once(const struct config *cfg, const char *device, FILE *out)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < cfg->ndevices; i++)
		if (device == NULL || strcmp(cfg->devices[i].name, device) == 0)
			rc |= poller_poll_device(cfg, i, out);
	return rc;
}
