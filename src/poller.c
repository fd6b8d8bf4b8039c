/*
 * poller.c - one thread per bus (libmodbus is blocking): a serial port or
 * a shared TCP host:port, its devices served in turn as sched.c decides.
 * Per device: open the link if needed, execute the read plan, feed the
 * alarm engine, turn its notifications into mail in the spool, write
 * mail_ok_coil.
 *
 * Every request has `timeout` for its whole reply, however slowly it
 * drips in, and every reply is checked (bus.h) before it is used. A
 * request answered with an exception, by another unit, with a CRC error
 * or short fails alone; a cycle whose every request failed is a failed
 * cycle for DEVICE.link; a device's cycle stops at its first timeout, and
 * the device is backed off so the others on the bus keep their rate.
 * stop is checked before each request, so stopping waits for one request
 * at most.
 *
 * Locking: p->lock guards a device's engine and status fields; it is
 * never held across Modbus I/O, so `status`/`ack` answer while a device
 * hangs. b->lock guards a bus's device list and its sleep; p->lock is
 * never taken under it.
 * Alarm state is saved after every notification, ack or shelve, to
 * <spool_dir>/alarms/DEVICE.state (tmp + fsync + rename + dir fsync); the
 * mail is committed to the spool first, so a crash between the two may
 * duplicate a mail but never lose one.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "modbus2mail/alarm.h"
#include "modbus2mail/bus.h"
#include "modbus2mail/config.h"
#include "modbus2mail/history.h"
#include "modbus2mail/log.h"
#include "modbus2mail/mbframe.h"
#include "modbus2mail/notify.h"
#include "modbus2mail/poller.h"
#include "modbus2mail/readplan.h"
#include "modbus2mail/relay.h"
#include "modbus2mail/sched.h"
#include "modbus2mail/snapshot.h"
#include "modbus2mail/spool.h"
#include "modbus2mail/util.h"
#include "modbus2mail/value.h"

#define POLLER_MAIL_OK_BACKOFF_MAX_MS 60000

/* A composed mail the spool refused (disk full): retried every cycle. */
struct pending {
	char *data;
	size_t len;
	char **rcpts;
	size_t nrcpt;
	struct pending *next;
};

/* One thread serves the devices of a bus in turn. */
struct poller_bus {
	struct bus *link;		/* used by the thread only */
	pthread_t thread;
	int running;			/* started, not joined */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	atomic_int stop;
	int kick;			/* under lock: look again before sleeping */
	_Atomic uint64_t alive_ms;
	_Atomic uint64_t max_cycle_ms;	/* the longest of its devices' */
#ifdef M2M_TEST_HOOKS
	int test_stall;			/* MODBUS2MAIL_TEST_STALL_POLLER: 1
					 * armed, 2 once served: hang */
#endif
	struct poller **dev;		/* cap slots; n filled, under lock */
	struct sched_unit *unit;	/* per slot, written by the thread */
	size_t n, cap;
	size_t refs;			/* pollers not yet stopped */
};

struct poller {
	const struct config *cfg;
	const struct config_device *dev;
	size_t device;
	struct spool *spool;
	struct relay *relay;
	struct poller_bus *bus;		/* NULL for a one-shot read */
	struct bus *link;		/* the bus's, or the one-shot read's */
	pthread_mutex_t lock;
	atomic_int wake;		/* serve it now (ack, shelve) */

	/* owned by the bus thread */
	struct readplan plan;
	int mail_ok;			/* last value written, -1 unknown */
	unsigned mail_ok_gen;		/* bus_generation() it was written in */
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

static void	*poller_bus_main(void *);
static struct poller_bus *poller_bus_new(const struct config *, size_t);
static void	poller_bus_attach(struct poller_bus *, struct poller *);
static void	poller_bus_sleep(struct poller_bus *, uint64_t);
static void	poller_bus_join(struct poller_bus *);
static void	poller_bus_release(struct poller_bus *);
static uint64_t	poller_max_cycle(const struct poller *);
static void	poller_tally(struct snapshot_poll *, enum bus_result);
static void	poller_wake(struct poller *);
static void	poller_serve(struct poller *, struct sched_unit *,
		    enum sched_what);
static int	poller_stopping(struct poller *);
static enum bus_result poller_transact(struct poller *, struct mbframe_req *,
		    uint8_t *, char *, size_t);
static int	poller_read(struct poller *, struct readplan *, char *, size_t);
static int	poller_cycle(struct poller *);
static void	poller_tick(struct poller *);
static void	poller_mail(struct poller *, time_t);
static void	poller_count(struct poller *, const struct alarm_notification *);
static int	poller_submit(struct poller *, struct pending *);
static void	poller_flush_pending(struct poller *);
static void	poller_mail_ok(struct poller *);
static void	poller_save(struct poller *);
static void	poller_load(struct poller *);
static void	poller_free(struct poller *);
static void	pending_free(struct pending *);

struct poller *
poller_start(const struct config *cfg, size_t device, struct spool *spool,
    struct relay *relay, struct poller *const *started)
{
	struct poller *p;
	size_t j;

	p = xcalloc(1, sizeof(*p));
	p->cfg = cfg;
	p->device = device;
	p->dev = &cfg->devices[device];
	p->spool = spool;
	p->relay = relay;
	p->mail_ok = -1;
	p->eng = alarm_engine_new(cfg, device);
	p->trans = xcalloc(alarm_engine_count(p->eng) + 1, sizeof(*p->trans));
	pthread_mutex_init(&p->lock, NULL);
	if (readplan_build(cfg, device, &p->plan) == -1) {
		log_warnx("poller: %s: read plan too large", p->dev->name);
		poller_free(p);
		return NULL;
	}
	p->req_lim = xcalloc(p->plan.nreq + 1, sizeof(*p->req_lim));
	poller_load(p);
	/* the bus of an earlier device on the same port or connection */
	for (j = 0; j < device; j++)
		if (config_same_bus(&cfg->devices[j], p->dev)) {
			poller_bus_attach(started[j]->bus, p);
			return p;
		}
	if ((p->bus = poller_bus_new(cfg, device)) == NULL) {
		poller_free(p);
		return NULL;
	}
	poller_bus_attach(p->bus, p);
	if ((errno = pthread_create(&p->bus->thread, NULL, poller_bus_main,
	    p->bus)) != 0) {
		log_warn("poller: %s: pthread_create", p->dev->name);
		poller_bus_release(p->bus);
		poller_free(p);
		return NULL;
	}
	p->bus->running = 1;
	return p;
}

/* A bus for device and those after it on the same port or connection. */
static struct poller_bus *
poller_bus_new(const struct config *cfg, size_t device)
{
	struct poller_bus *b = xcalloc(1, sizeof(*b));
	size_t i;

	for (i = device; i < cfg->ndevices; i++)
		if (i == device || config_same_bus(&cfg->devices[i],
		    &cfg->devices[device]))
			b->cap++;
	b->dev = xcalloc(b->cap, sizeof(*b->dev));
	b->unit = xcalloc(b->cap, sizeof(*b->unit));
	b->link = bus_new(&cfg->devices[device], b->cap);
	atomic_init(&b->alive_ms, util_mono_ms());
	pthread_mutex_init(&b->lock, NULL);
	util_cond_init(&b->cond);
#ifdef M2M_TEST_HOOKS
	b->test_stall = getenv("MODBUS2MAIL_TEST_STALL_POLLER") != NULL;
#endif
	return b;
}

/* The longest wait between two polls, every request timing out, the open. */
static uint64_t
poller_max_cycle(const struct poller *p)
{
	return p->dev->poll_interval_ms + sched_cap(p->dev->link_alarm,
	    p->dev->link_alarm_after_ms) + (p->plan.nreq + 2) *
	    p->dev->timeout_ms;
}

/* Adds p to b, due at once; the thread may already be serving others. */
static void
poller_bus_attach(struct poller_bus *b, struct poller *p)
{
	struct sched_unit *u;

	pthread_mutex_lock(&b->lock);
	if (b->n == b->cap)
		fatalx("poller: bus of %s is full", p->dev->name);
	p->bus = b;
	p->link = b->link;
	u = &b->unit[b->n];
	u->due = util_mono_ms();
	u->timer = SCHED_NEVER;
	u->interval = p->dev->poll_interval_ms;
	u->cap = sched_cap(p->dev->link_alarm, p->dev->link_alarm_after_ms);
	b->dev[b->n++] = p;
	b->refs++;
	if (poller_max_cycle(p) > atomic_load(&b->max_cycle_ms))
		atomic_store(&b->max_cycle_ms, poller_max_cycle(p));
	b->kick = 1;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
}

/* Stops the bus thread (it finishes its current request at most). */
static void
poller_bus_join(struct poller_bus *b)
{
	pthread_mutex_lock(&b->lock);
	atomic_store(&b->stop, 1);
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	if (b->running)
		pthread_join(b->thread, NULL);
	b->running = 0;
}

/* One poller less on b; the last one closes the link. */
static void
poller_bus_release(struct poller_bus *b)
{
	if (--b->refs > 0)
		return;
	bus_free(b->link);
	free(b->dev);
	free(b->unit);
	pthread_cond_destroy(&b->cond);
	pthread_mutex_destroy(&b->lock);
	free(b);
}

/* What poller_start made, but its bus; no thread serves it any more. */
static void
poller_free(struct poller *p)
{
	readplan_free(&p->plan);
	free(p->req_lim);
	alarm_engine_free(p->eng);
	free(p->trans);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void
poller_cancel(struct poller *p)
{
	pthread_mutex_lock(&p->bus->lock);
	atomic_store(&p->bus->stop, 1);
	pthread_cond_signal(&p->bus->cond);
	pthread_mutex_unlock(&p->bus->lock);
}

void
poller_stop(struct poller *p)
{
	struct pending *pd;

	poller_bus_join(p->bus);
	/* Unspooled mail: keep the old state so the next start sends it. */
	if (p->pending == NULL)
		poller_save(p);
	else
		log_warnx("poller: %s: alarm mail not spooled at stop (spool "
		    "unwritable); state not saved, it is sent after restart",
		    p->dev->name);
	while ((pd = p->pending) != NULL) {
		p->pending = pd->next;
		pending_free(pd);
	}
	poller_bus_release(p->bus);
	poller_free(p);
}

uint64_t
poller_last_alive_ms(const struct poller *p)
{
	return atomic_load(&p->bus->alive_ms);
}

uint64_t
poller_max_cycle_ms(const struct poller *p)
{
	return atomic_load(&p->bus->max_cycle_ms);
}

static int
poller_stopping(struct poller *p)
{
	return p->bus != NULL && atomic_load(&p->bus->stop);
}

/* Serve p as soon as the bus is free (an ack or shelve to mail). */
static void
poller_wake(struct poller *p)
{
	atomic_store(&p->wake, 1);
	pthread_mutex_lock(&p->bus->lock);
	p->bus->kick = 1;
	pthread_cond_signal(&p->bus->cond);
	pthread_mutex_unlock(&p->bus->lock);
}

static enum bus_result
poller_transact(struct poller *p, struct mbframe_req *rq, uint8_t *rsp,
    char *why, size_t whylen)
{
	rq->unit = (uint8_t)p->dev->unit_id;
	return bus_transact(p->link, rq, p->dev->timeout_ms, rsp, why,
	    whylen);
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

/* Counts one request's result (/metrics, status, poll). */
static void
poller_tally(struct snapshot_poll *t, enum bus_result r)
{
	switch (r) {
	case BUS_OK:
		t->req_ok++;
		break;
	case BUS_EXCEPTION:
		t->req_exception++;
		break;
	case BUS_WRONG_UNIT:
		t->req_wrong_unit++;
		break;
	case BUS_CRC:
		t->req_crc++;
		break;
	case BUS_SHORT:
		t->req_short++;
		break;
	default:
		t->req_failed++;
		break;
	}
}

/*
 * Executes every request of the plan. 0: at least one succeeded (or there
 * are none); 1: every request failed on a sound link (exceptions, another
 * unit, CRC errors); -1: no answer (timeout) or the link failed. why is
 * set unless 0.
 */
static int
poller_read(struct poller *p, struct readplan *plan, char *why,
    size_t whylen)
{
	uint8_t rsp[BUS_RSP_MAX];
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
		poller_tally(&p->tally, r);
		if ((rq->ok = r == BUS_OK)) {
			if (rq->bits != NULL)
				mbframe_bits(rsp, rq->count, rq->bits);
			else
				mbframe_regs(rsp, rq->count, rq->regs);
			nok++;
			continue;
		}
		/* a unit that times out stops its cycle: the bus is shared
		 * (a line full of noise takes a timeout a request too) */
		if (r == BUS_TIMEOUT || r == BUS_NOISE ||
		    !bus_is_open(p->link)) {
			strlcpy(why, rq->why, whylen);
			return -1;
		}
		same &= r == BUS_EXCEPTION &&
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
	uint8_t rsp[BUS_RSP_MAX];
	char why[ALARM_REASON_MAX];
	struct mbframe_req mq;
	uint64_t now = util_mono_ms();
	int ok;

	if (p->dev->mail_ok_coil < 0 || !bus_is_open(p->link) ||
	    poller_stopping(p))
		return;
	/* reopened: a restarted PLC lost what we wrote */
	if (p->mail_ok_gen != bus_generation(p->link)) {
		p->mail_ok_gen = bus_generation(p->link);
		p->mail_ok = -1;
	}
	ok = relay_healthy(p->relay) && p->pending == NULL;
	if (ok == p->mail_ok || now < p->mail_ok_retry_at)
		return;
	memset(&mq, 0, sizeof(mq));
	mq.fc = MBFRAME_FC_WRITE_COIL;
	mq.addr = (uint16_t)p->dev->mail_ok_coil;
	mq.n = (uint16_t)ok;
	if (poller_transact(p, &mq, rsp, why, sizeof(why)) != BUS_OK) {
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

/* One poll cycle: open the link if needed, read, evaluate, mail. 1 when
 * the device answered, 0 when not (timeout, no link): back it off. */
static int
poller_cycle(struct poller *p)
{
	char why[ALARM_REASON_MAX] = "";
	uint64_t t0 = util_mono_us(), now;
	time_t wall;
	int rc = -1, up;

	if (bus_open(p->link, why, sizeof(why)) == 0)
		rc = poller_read(p, &p->plan, why, sizeof(why));
	else
		p->tally.req_failed++;
	/* a read cut short by stop is no failed cycle */
	if (poller_stopping(p))
		return 1;
	snapshot_poll_observe(&p->tally, (double)(util_mono_us() - t0) / 1e6);
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
	poller_mail(p, wall);
	if (up)
		poller_mail_ok(p);
	return rc != -1;
}

/* A backed-off device's timer: its engine runs on the last (failed) read. */
static void
poller_tick(struct poller *p)
{
	time_t wall = time(NULL);

	pthread_mutex_lock(&p->lock);
	alarm_engine_cycle(p->eng, &p->plan, 0, util_mono_ms(), wall);
	pthread_mutex_unlock(&p->lock);
	poller_mail(p, wall);
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

/* Poll or tick p, save its state, tell the scheduler when it is due. */
static void
poller_serve(struct poller *p, struct sched_unit *u, enum sched_what what)
{
	uint64_t start = util_mono_ms(), deadline;
	int answered = 1, dirty;

	if (what == SCHED_POLL)
		answered = poller_cycle(p);
	else
		poller_tick(p);
	if (poller_stopping(p))
		return;
	/* Mail first, state second: a state that says "notified" is only
	 * written once every mail of it is in the spool. */
	pthread_mutex_lock(&p->lock);
	dirty = p->dirty && p->pending == NULL;
	deadline = alarm_engine_next_deadline(p->eng);
	pthread_mutex_unlock(&p->lock);
	if (dirty)
		poller_save(p);
	if (what == SCHED_POLL)
		sched_polled(u, start, util_mono_ms(), answered);
	/* a timer (link alarm, delays) is not held back by the wait */
	sched_timer(u, deadline, util_mono_ms());
}

/* Sleeps ms at most: stop, an ack or a new device end it early. */
static void
poller_bus_sleep(struct poller_bus *b, uint64_t ms)
{
	struct timespec ts;

	util_cond_deadline(&ts, ms);
	pthread_mutex_lock(&b->lock);
	while (!b->stop && !b->kick && pthread_cond_timedwait(&b->cond,
	    &b->lock, &ts) != ETIMEDOUT)
		;
	b->kick = 0;
	pthread_mutex_unlock(&b->lock);
}

static void *
poller_bus_main(void *arg)
{
	struct poller_bus *b = arg;
	struct sched_next nx;
	uint64_t now;
	size_t i, n;

	while (!atomic_load(&b->stop)) {
		now = util_mono_ms();
		atomic_store(&b->alive_ms, now);
		pthread_mutex_lock(&b->lock);
		n = b->n;
		pthread_mutex_unlock(&b->lock);
		for (i = 0; i < n; i++)
			if (atomic_exchange(&b->dev[i]->wake, 0))
				b->unit[i].timer = now;
		sched_pick(b->unit, n, now, &nx);
#ifdef M2M_TEST_HOOKS
		if (b->test_stall == 2) {
			/* served once: behave like a hung thread (the
			 * watchdog tests) */
			log_warnx("poller: %s: stalled by "
			    "MODBUS2MAIL_TEST_STALL_POLLER", b->dev[0]->dev->name);
			nx.what = SCHED_SLEEP;
			nx.sleep_ms = 1000ULL * 86400 * 365;
		}
#endif
		if (nx.what == SCHED_SLEEP) {
			poller_bus_sleep(b, nx.sleep_ms);
			continue;
		}
		poller_serve(b->dev[nx.unit], &b->unit[nx.unit], nx.what);
#ifdef M2M_TEST_HOOKS
		b->test_stall += b->test_stall == 1;
#endif
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
	if (r == 0)
		p->dirty = 1;
	pthread_mutex_unlock(&p->lock);
	if (r == 0)
		poller_wake(p);		/* mail the ACK now */
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
	if (r == 0)
		p->dirty = 1;
	pthread_mutex_unlock(&p->lock);
	if (r == 0)
		poller_wake(p);
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
	config_transport(p->dev, d->transport, sizeof(d->transport));
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

/* poller_read_once(), counting the results into tally. */
static int
poller_read_link(const struct config *cfg, size_t device,
    struct readplan *plan, struct snapshot_poll *tally, char *why,
    size_t whylen)
{
	struct poller p;
	int rc = 0;

	memset(&p, 0, sizeof(p));
	p.cfg = cfg;
	p.dev = &cfg->devices[device];
	p.link = bus_new(p.dev, 1);
	readplan_build(cfg, device, plan);
	if (bus_open(p.link, why, whylen) == -1)
		rc = -1;
	else if (poller_read(&p, plan, why, whylen) != 0)
		rc = 1;
	bus_free(p.link);
	*tally = p.tally;
	return rc;
}

int
poller_read_once(const struct config *cfg, size_t device,
    struct readplan *plan, char *why, size_t whylen)
{
	struct snapshot_poll tally;

	return poller_read_link(cfg, device, plan, &tally, why, whylen);
}

/* `modbus2mail poll`: one read of a device, every rule's value. */
static int
poller_poll_device(const struct config *cfg, size_t device, FILE *out)
{
	const struct config_device *d = &cfg->devices[device];
	struct readplan plan;
	struct snapshot_poll tally;
	char v[32], raw[32], why[ALARM_REASON_MAX], transport[128];
	double value, rawv;
	size_t i;
	int cond, rc;

	config_transport(d, transport, sizeof(transport));
	fprintf(out, "%s %s: ", d->name, transport);
	rc = poller_read_link(cfg, device, &plan, &tally, why, sizeof(why));
	if (rc != 0)
		fprintf(out, "%s (%s); ", rc == -1 ? "unreachable" :
		    "read failed", why);
	else
		fprintf(out, "%zu requests; ", plan.nreq);
	snapshot_print_bad(out, &tally);
	fputc('\n', out);
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
