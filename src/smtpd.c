/*
 * smtpd.c - the port-25 listener (SPEC §6): the I/O shell around
 * smtp_session.c. One thread runs one epoll loop over the listening
 * sockets, an eventfd for stop, and every client connection.
 *
 * Access: a client inside listener.allow may relay; one outside it gets
 * 554 5.7.1 at connect, unless users_file is set: then it may connect but
 * must STARTTLS and AUTH before MAIL. Never an open relay.
 *
 * A message streams through inbound.c into a spool_msg; the 250 is sent
 * only after spool_msg_commit() returned 0 (fsync + rename + dir fsync),
 * any spool failure is 452 4.3.1 and nothing is acknowledged. Commits run
 * on SMTPD_COMMITTERS threads so that the fsyncs of several sessions
 * overlap; password checks (crypt, about a millisecond each) on a thread of
 * their own, so that an AUTH flood delays neither the loop nor commits.
 * The session waits (reads nothing) until its result comes back through
 * the done list and an eventfd.
 */
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "modbus2mail/buf.h"
#include "modbus2mail/config.h"
#include "modbus2mail/counter.h"
#include "modbus2mail/history.h"
#include "modbus2mail/inbound.h"
#include "modbus2mail/log.h"
#include "modbus2mail/netaddr.h"
#include "modbus2mail/smtp_session.h"
#include "modbus2mail/smtpd.h"
#include "modbus2mail/spool.h"
#include "modbus2mail/users.h"
#include "modbus2mail/util.h"

#define SMTPD_LISTEN_MAX	16
#define SMTPD_BACKLOG		128
#define SMTPD_IN_SIZE		16384	/* read buffer per connection */
#define SMTPD_OUT_HIGH		65536	/* stop reading above this backlog */
#define SMTPD_TICK_MS		1000	/* loop turns at least this often */
#define SMTPD_EVENTS		64
#define SMTPD_COMMITTERS	4	/* threads doing spool commits */
#define SMTPD_VIS		1024	/* client text escaped for the log */
#define SMTPD_ACCEPT_PAUSE_MS	1000	/* after EMFILE: stop accepting */
/* Work per connection and per loop turn, so that no client holds the loop. */
#define SMTPD_TURN_BYTES	65536	/* input fed */
#define SMTPD_TURN_LINES	32	/* command lines fed */
#define SMTPD_TURN_ACCEPTS	16	/* connections accepted per listener */
/*
 * Clients outside allow (they must AUTH) get at most half the slots, at
 * most SMTPD_OUTSIDER_PER_IP from one address, and SMTPD_AUTH_LIMIT_MS (or
 * timeout, if shorter) from connect to a successful AUTH; nothing they send
 * extends it. Every session and every DATA phase has a total limit too,
 * a multiple of timeout: one byte per timeout keeps nobody for hours.
 */
#define SMTPD_OUTSIDER_PER_IP	4
#define SMTPD_AUTH_LIMIT_MS	30000
#define SMTPD_SESSION_LIMIT	10	/* x timeout */
#define SMTPD_DATA_LIMIT	2	/* x timeout */

enum smtpd_kind {
	KIND_LISTENER,
	KIND_STOP,
	KIND_DONE,
	KIND_CONN,
	KIND_CLOSED,			/* closed this turn, freed at its end */
};

/* A spool commit or a password check, handed to a worker thread. */
struct smtpd_job {
	struct smtpd_job *next;
	struct smtpd_conn *c;		/* waits meanwhile (c->job) */
	struct spool_msg *msg;		/* commit: freed by spool_msg_commit() */
	char *user, *pass;		/* auth: owned copies */
	int r;				/* commit: 0/-1; auth: 1 valid */
	int err;			/* commit: its errno */
	char id[SPOOL_ID_MAX];
};

/* Worker threads and their FIFO. */
struct smtpd_pool {
	struct smtpd *d;
	void (*run)(struct smtpd_pool *, struct smtpd_job *);
	pthread_mutex_t lock;		/* guards jobs, stop */
	pthread_cond_t cond;
	struct smtpd_job *jobs;
	struct smtpd_job **tail;
	int stop;
	pthread_t threads[SMTPD_COMMITTERS];
	size_t nthreads;
};

struct smtpd_listener {
	enum smtpd_kind kind;		/* first: epoll data points here */
	int fd;
	char name[128];
};

struct smtpd_conn {
	enum smtpd_kind kind;		/* first: epoll data points here */
	struct smtpd *d;
	struct smtpd_conn *prev, *next;
	int fd;
	SSL *ssl;			/* owned; NULL before STARTTLS */
	int handshake;			/* TLS handshake under way */
	int want_write;			/* SSL needs the socket writable */
	int counted;			/* counts against max_clients */
	int outsider;			/* not in allow: AUTH first */
	int dead;			/* I/O error: close now */
	int job;			/* a smtpd_job is out for it */
	int pending;			/* input left over by the turn's budget */
	uint64_t turn;			/* loop turn the budget below is for */
	size_t turn_bytes;
	unsigned turn_lines;
	uint32_t events;		/* epoll interest registered */
	struct smtp_session *s;		/* owned */
	char sid[20];			/* session id, hex */
	char peer[INET6_ADDRSTRLEN];
	uint64_t deadline;		/* mono ms: idle timeout */
	uint64_t session_deadline;	/* mono ms: whole session */
	uint64_t data_deadline;		/* mono ms: the current DATA phase */
	uint64_t auth_deadline;		/* mono ms: outsider's AUTH; 0 none */
	char in[SMTPD_IN_SIZE];
	size_t inoff, inlen;
	struct buf out;			/* replies not yet written */
	size_t outoff;
	struct spool_msg *msg;		/* owned while a message is open */
	struct inbound *ib;		/* owned while a message is open */
	char sender[SMTP_SESSION_ADDR_MAX];
	size_t nrcpt, size;
	unsigned nmsg;			/* messages accepted */
	const char *reason;		/* why it closed */
};

struct smtpd {
	const struct config *cfg;
	struct spool *spool;
	void (*queued)(void *);
	void *qarg;
	struct smtp_session_params params;	/* clients in allow */
	struct smtp_session_params params_auth;	/* others: AUTH first */
	struct smtpd_listener listeners[SMTPD_LISTEN_MAX];
	size_t nlisteners;
	int stopfd;
	enum smtpd_kind stopkind;
	int donefd;			/* workers -> loop */
	enum smtpd_kind donekind;
	pthread_mutex_t dlock;		/* guards done */
	struct smtpd_job *done;		/* back to the loop */
	struct smtpd_pool commits;	/* SMTPD_COMMITTERS threads */
	struct smtpd_pool auths;	/* one thread */
	int epfd;
	SSL_CTX *ssl;			/* owned; NULL without tls */
	struct users *users;		/* owned, NULL without users_file */
	struct smtpd_conn *conns;	/* list, owned */
	struct smtpd_conn *closed;	/* closed this turn; events may follow */
	unsigned nconns;		/* counted ones */
	unsigned noutsiders;		/* counted ones outside allow */
	uint64_t seq;
	uint64_t paused_until;		/* mono ms; listeners out of epoll */
	uint64_t turn;			/* loop turns */
	int pending;			/* some connection has input pending */
	pthread_t thread;
	int running;
	_Atomic uint64_t alive;
};

static int	smtpd_listen(struct smtpd *, const char *, char *, size_t);
static int	smtpd_bind(struct smtpd *, const struct addrinfo *,
		    const char *, char *, size_t);
static int	smtpd_load_tls(struct smtpd *, char *, size_t);
static void	*smtpd_loop(void *);
static void	smtpd_accept(struct smtpd *, struct smtpd_listener *);
static void	smtpd_accept_pause(struct smtpd *, int);
static uint64_t	smtpd_check_timeouts(struct smtpd *, uint64_t);
static int	smtpd_conn_limit(struct smtpd_conn *, uint64_t, uint64_t *);
static enum smtp_session_start smtpd_admit(struct smtpd *,
		    struct smtpd_conn *, const struct sockaddr *);
static void	smtpd_free(struct smtpd *);
static void	smtpd_run_pending(struct smtpd *);
static void	smtpd_conn_io(struct smtpd_conn *);
static int	smtpd_conn_feed(struct smtpd_conn *);
static int	smtpd_conn_read(struct smtpd_conn *);
static int	smtpd_conn_flush(struct smtpd_conn *);
static void	smtpd_conn_interest(struct smtpd_conn *);
static void	smtpd_conn_close(struct smtpd_conn *);
static void	smtpd_reap(struct smtpd *);
static void	smtpd_conn_starttls(struct smtpd_conn *);
static int	smtpd_pool_start(struct smtpd *, struct smtpd_pool *, size_t,
		    void (*)(struct smtpd_pool *, struct smtpd_job *));
static void	smtpd_pool_push(struct smtpd_pool *, struct smtpd_job *);
static void	*smtpd_worker(void *);
static void	smtpd_pool_stop(struct smtpd_pool *);
static void	smtpd_run_commit(struct smtpd_pool *, struct smtpd_job *);
static void	smtpd_run_auth(struct smtpd_pool *, struct smtpd_job *);
static void	smtpd_job_free(struct smtpd_job *);
static void	smtpd_jobs_finish(struct smtpd *);
static void	smtpd_commit_finish(struct smtpd_conn *, struct smtpd_job *);
static void	smtpd_auth_finish(struct smtpd_conn *, struct smtpd_job *);

static void	smtpd_cb_output(void *, const char *, size_t);
static int	smtpd_cb_begin(void *, const char *, char *const *, size_t);
static int	smtpd_cb_data(void *, const char *, size_t);
static void	smtpd_cb_end(void *);
static void	smtpd_cb_abort(void *);
static void	smtpd_cb_auth(void *, const char *, const char *);
static int	smtpd_spool_write(void *, const void *, size_t);

static const struct smtp_session_ops smtpd_ops = {
	smtpd_cb_output, smtpd_cb_begin, smtpd_cb_data, smtpd_cb_end,
	smtpd_cb_abort, smtpd_cb_auth,
};

struct smtpd *
smtpd_start(const struct config *cfg, struct spool *spool,
    void (*queued)(void *), void *arg, char *err, size_t errlen)
{
	const struct config_listener *l = &cfg->listener;
	struct epoll_event ev;
	struct smtpd *d;
	char uerr[256];
	size_t i;

	if ((d = calloc(1, sizeof(*d))) == NULL) {
		snprintf(err, errlen, "listener: out of memory");
		return NULL;
	}
	d->cfg = cfg;
	d->spool = spool;
	d->queued = queued;
	d->qarg = arg;
	d->stopfd = d->epfd = d->donefd = -1;
	d->stopkind = KIND_STOP;
	d->donekind = KIND_DONE;
	pthread_mutex_init(&d->dlock, NULL);
	d->params.hostname = cfg->hostname;
	d->params.max_size = l->max_message_size;
	d->params.max_rcpts = l->max_recipients;
	d->params.domains = l->recipient_domains.v;
	d->params.ndomains = l->recipient_domains.n;
	if (l->listen.n == 0 || l->listen.n > SMTPD_LISTEN_MAX) {
		snprintf(err, errlen, "listener: %zu listen addresses (1 to %d)",
		    l->listen.n, SMTPD_LISTEN_MAX);
		goto fail;
	}
	if (l->tls_cert != NULL && smtpd_load_tls(d, err, errlen) == -1)
		goto fail;
	if (l->users_file != NULL && (d->users = users_load(l->users_file,
	    uerr, sizeof(uerr))) == NULL) {
		snprintf(err, errlen, "listener: users_file %s", uerr);
		goto fail;
	}
	d->params.starttls = d->ssl != NULL;
	d->params.auth = d->ssl != NULL && d->users != NULL;
	d->params_auth = d->params;
	d->params_auth.auth_required = 1;
	if ((d->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    (d->stopfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1 ||
	    (d->donefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) == -1) {
		snprintf(err, errlen, "listener: epoll: %s", strerror(errno));
		goto fail;
	}
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = &d->stopkind;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->stopfd, &ev) == -1) {
		snprintf(err, errlen, "listener: epoll: %s", strerror(errno));
		goto fail;
	}
	ev.data.ptr = &d->donekind;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, d->donefd, &ev) == -1) {
		snprintf(err, errlen, "listener: epoll: %s", strerror(errno));
		goto fail;
	}
	for (i = 0; i < l->listen.n; i++)
		if (smtpd_listen(d, l->listen.v[i], err, errlen) == -1)
			goto fail;
	if (smtpd_pool_start(d, &d->commits, SMTPD_COMMITTERS,
	    smtpd_run_commit) == -1 ||
	    smtpd_pool_start(d, &d->auths, 1, smtpd_run_auth) == -1) {
		snprintf(err, errlen, "listener: thread: %s", strerror(errno));
		goto fail;
	}
	atomic_store(&d->alive, util_mono_ms());
	d->running = 1;
	if ((errno = pthread_create(&d->thread, NULL, smtpd_loop, d)) != 0) {
		d->running = 0;
		snprintf(err, errlen, "listener: thread: %s", strerror(errno));
		goto fail;
	}
	for (i = 0; i < d->nlisteners; i++)
		log_info("smtpd: listening on %s", d->listeners[i].name);
	return d;
fail:
	smtpd_free(d);
	return NULL;
}

uint64_t
smtpd_last_alive_ms(struct smtpd *d)
{
	return d == NULL ? util_mono_ms() : atomic_load(&d->alive);
}

void
smtpd_stop(struct smtpd *d)
{
	uint64_t one = 1;

	if (d == NULL)
		return;
	if (d->running) {
		if (write(d->stopfd, &one, sizeof(one)) != sizeof(one))
			log_warn("smtpd: stop");
		pthread_join(d->thread, NULL);
	}
	smtpd_free(d);
}

static void
smtpd_free(struct smtpd *d)
{
	size_t i;

	smtpd_pool_stop(&d->commits);
	smtpd_pool_stop(&d->auths);
	while (d->conns != NULL)
		smtpd_conn_close(d->conns);
	smtpd_reap(d);
	for (i = 0; i < d->nlisteners; i++)
		close(d->listeners[i].fd);
	if (d->stopfd != -1)
		close(d->stopfd);
	if (d->donefd != -1)
		close(d->donefd);
	pthread_mutex_destroy(&d->dlock);
	if (d->epfd != -1)
		close(d->epfd);
	if (d->ssl != NULL)
		SSL_CTX_free(d->ssl);
	users_free(d->users);
	free(d);
}

/*
 * "host:port", "[v6]:port" bound now, so errors show at start; "*:port"
 * is every address: 0.0.0.0 and [::] (IPv6 only, so that IPv4 peers are
 * not v4-mapped), or 0.0.0.0 alone without IPv6.
 */
static int
smtpd_listen(struct smtpd *d, const char *spec, char *err, size_t errlen)
{
	struct addrinfo hints, *res, *ai;
	char host[256], port[16];
	unsigned p;
	int r = 0, any;

	if (netaddr_split_hostport(spec, host, sizeof(host), &p, 25) == -1) {
		snprintf(err, errlen, "listener: bad listen address '%s'", spec);
		return -1;
	}
	any = host[0] == '\0' || strcmp(host, "*") == 0;
	snprintf(port, sizeof(port), "%u", p);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((r = getaddrinfo(any ? NULL : host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "listener: listen %s: %s", spec,
		    gai_strerror(r));
		return -1;
	}
	for (ai = res; ai != NULL && r == 0; ai = any ? ai->ai_next : NULL) {
		if (d->nlisteners == SMTPD_LISTEN_MAX) {
			snprintf(err, errlen, "listener: more than %d sockets",
			    SMTPD_LISTEN_MAX);
			r = -1;
		} else
			r = smtpd_bind(d, ai, any ? NULL : spec, err, errlen);
	}
	freeaddrinfo(res);
	return r;
}

/* One listening socket; name NULL: named after its address. */
static int
smtpd_bind(struct smtpd *d, const struct addrinfo *ai, const char *name,
    char *err, size_t errlen)
{
	struct smtpd_listener *l = &d->listeners[d->nlisteners];
	struct epoll_event ev;
	char host[INET6_ADDRSTRLEN], port[16];
	int fd, on = 1;

	getnameinfo(ai->ai_addr, ai->ai_addrlen, host, sizeof(host), port,
	    sizeof(port), NI_NUMERICHOST | NI_NUMERICSERV);
	if (name != NULL)
		strlcpy(l->name, name, sizeof(l->name));
	else
		snprintf(l->name, sizeof(l->name), ai->ai_family == AF_INET6 ?
		    "[%s]:%s" : "%s:%s", host, port);
	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (fd == -1 && name == NULL && errno == EAFNOSUPPORT) {
		log_info("smtpd: no IPv6, not listening on %s", l->name);
		return 0;
	}
	if (fd == -1)
		goto syserr;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (ai->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
	    listen(fd, SMTPD_BACKLOG) == -1)
		goto syserr;
	l->kind = KIND_LISTENER;
	l->fd = fd;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.ptr = l;
	if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) == -1)
		goto syserr;
	d->nlisteners++;
	return 0;
syserr:
	snprintf(err, errlen, "listener: listen %s: %s", l->name,
	    strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

static int
smtpd_load_tls(struct smtpd *d, char *err, size_t errlen)
{
	const struct config_listener *l = &d->cfg->listener;
	const char *what = "context";

	if ((d->ssl = SSL_CTX_new(TLS_server_method())) == NULL)
		goto fail;
	SSL_CTX_set_min_proto_version(d->ssl, TLS1_2_VERSION);
	SSL_CTX_set_mode(d->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	what = l->tls_cert;
	if (SSL_CTX_use_certificate_chain_file(d->ssl, l->tls_cert) != 1)
		goto fail;
	what = l->tls_key;
	if (SSL_CTX_use_PrivateKey_file(d->ssl, l->tls_key,
	    SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(d->ssl) != 1)
		goto fail;
	return 0;
fail:
	snprintf(err, errlen, "listener: tls: %s: %s", what,
	    ERR_reason_error_string(ERR_get_error()));
	ERR_clear_error();
	return -1;
}

/* --- the loop ----------------------------------------------------------- */

static void *
smtpd_loop(void *arg)
{
	struct smtpd *d = arg;
	struct epoll_event evs[SMTPD_EVENTS];
	uint64_t now, next;
	enum smtpd_kind *kind;
	int i, n, stop = 0;

	while (!stop) {
		d->turn++;
		now = util_mono_ms();
		atomic_store(&d->alive, now);
		if (d->paused_until != 0 && now >= d->paused_until)
			smtpd_accept_pause(d, 0);
		next = smtpd_check_timeouts(d, now);
		if (d->paused_until != 0 && d->paused_until < next)
			next = d->paused_until;
		n = epoll_wait(d->epfd, evs, SMTPD_EVENTS, d->pending ? 0 :
		    (int)(next - now));
		if (n == -1 && errno != EINTR) {
			log_warn("smtpd: epoll_wait");
			continue;
		}
		for (i = 0; i < n; i++) {
			kind = evs[i].data.ptr;
			switch (*kind) {
			case KIND_STOP:
				stop = 1;
				break;
			case KIND_DONE:
				smtpd_jobs_finish(d);
				break;
			case KIND_LISTENER:
				smtpd_accept(d, (struct smtpd_listener *)kind);
				break;
			case KIND_CONN:
				smtpd_conn_io((struct smtpd_conn *)kind);
				break;
			case KIND_CLOSED:
				break;
			}
		}
		smtpd_run_pending(d);
		smtpd_reap(d);
	}
	/* Commits under way finish: those clients get their 250 first. */
	smtpd_pool_stop(&d->commits);
	smtpd_pool_stop(&d->auths);
	smtpd_jobs_finish(d);
	while (d->conns != NULL) {
		smtp_session_shutdown(d->conns->s);
		smtpd_conn_flush(d->conns);
		d->conns->reason = "shutdown";
		smtpd_conn_close(d->conns);
	}
	return NULL;
}

/* Goes on with the input that earlier turns' budgets left unread. */
static void
smtpd_run_pending(struct smtpd *d)
{
	struct smtpd_conn *c, *next;

	d->pending = 0;
	for (c = d->conns; c != NULL; c = next) {
		next = c->next;
		if (c->pending)
			smtpd_conn_io(c);
		d->pending |= c->kind == KIND_CONN && c->pending;
	}
}

/* Closes sessions past a time limit; returns when the loop must turn next. */
static uint64_t
smtpd_check_timeouts(struct smtpd *d, uint64_t now)
{
	struct smtpd_conn *c, *next;
	uint64_t wake = now + SMTPD_TICK_MS;
	int limit;

	for (c = d->conns; c != NULL; c = next) {
		next = c->next;
		if (c->job ||
		    (limit = smtpd_conn_limit(c, now, &wake)) == -1)
			continue;
		smtp_session_timeout(c->s, (enum smtp_session_limit)limit);
		c->reason = "timeout";
		smtpd_conn_flush(c);
		smtpd_conn_close(c);
	}
	return wake;
}

/* The time limit c is past (enum smtp_session_limit), or -1 and wake. */
static int
smtpd_conn_limit(struct smtpd_conn *c, uint64_t now, uint64_t *wake)
{
	uint64_t t[4];
	int i, n = 0;

	t[SMTP_LIMIT_IDLE] = c->deadline;
	t[SMTP_LIMIT_SESSION] = c->session_deadline;
	t[SMTP_LIMIT_DATA] = smtp_session_in_data(c->s) ? c->data_deadline :
	    UINT64_MAX;
	t[SMTP_LIMIT_AUTH] = c->auth_deadline != 0 &&
	    smtp_session_auth_user(c->s) == NULL ? c->auth_deadline :
	    UINT64_MAX;
	for (i = 1; i < 4; i++)
		if (t[i] < t[n])
			n = i;
	if (now >= t[n])
		return n;
	if (t[n] < *wake)
		*wake = t[n];
	return -1;
}

static void
smtpd_accept(struct smtpd *d, struct smtpd_listener *l)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct smtpd_conn *c;
	enum smtp_session_start how;
	const struct smtp_session_params *params;
	int fd, on = 1, port, n;

	for (n = 0; n < SMTPD_TURN_ACCEPTS; n++) {
		sslen = sizeof(ss);
		if ((fd = accept4(l->fd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC)) == -1)
			break;
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			log_warnx("smtpd: out of memory, connection refused");
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
		c->kind = KIND_CONN;
		c->d = d;
		c->fd = fd;
		c->reason = "quit";
		if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->
			    sin6_addr, c->peer, sizeof(c->peer));
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		} else {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->
			    sin_addr, c->peer, sizeof(c->peer));
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		}
		snprintf(c->sid, sizeof(c->sid), "%016llx", (unsigned long long)
		    ((util_wall_ms() << 16) ^ ++d->seq));
		how = smtpd_admit(d, c, (struct sockaddr *)&ss);
		params = c->outsider ? &d->params_auth : &d->params;
		if ((c->next = d->conns) != NULL)
			c->next->prev = c;
		d->conns = c;
		if ((c->s = smtp_session_new(params, &smtpd_ops, c)) == NULL) {
			c->reason = "out of memory";
			smtpd_conn_close(c);
			continue;
		}
		log_info("smtpd: session=%s connect peer=%s port=%d%s", c->sid,
		    c->peer, port, how == SMTP_START_DENIED ? " denied=allow" :
		    how == SMTP_START_BUSY ? " denied=max_clients" :
		    c->outsider ? " auth=required" : "");
		if (how != SMTP_START_OK)
			c->reason = "denied";
		smtp_session_start(c->s, how);
		smtpd_conn_io(c);
	}
	if (n == SMTPD_TURN_ACCEPTS)
		return;		/* level-triggered: the rest next turn */
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
	    errno == ENOMEM) {
		/* level-triggered: the listener would wake us in a loop */
		log_warn("smtpd: accept on %s, pausing %dms", l->name,
		    SMTPD_ACCEPT_PAUSE_MS);
		smtpd_accept_pause(d, 1);
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
	    errno != ECONNABORTED)
		log_warn("smtpd: accept on %s", l->name);
}

/*
 * Who may have a session: clients in allow up to max_clients; others only
 * with users_file, in at most half the slots and SMTPD_OUTSIDER_PER_IP per
 * address, so that they can never lock out the devices in allow.
 */
static enum smtp_session_start
smtpd_admit(struct smtpd *d, struct smtpd_conn *c, const struct sockaddr *sa)
{
	const struct config_listener *cl = &d->cfg->listener;
	struct smtpd_conn *o;
	uint64_t now = util_mono_ms();
	unsigned same = 0;

	c->deadline = now + cl->timeout_ms;
	c->session_deadline = now + SMTPD_SESSION_LIMIT * cl->timeout_ms;
	c->outsider = !netaddr_match_any(cl->allow, cl->nallow, sa);
	if (c->outsider && !d->params.auth)
		return SMTP_START_DENIED;
	if (d->nconns >= cl->max_clients)
		return SMTP_START_BUSY;
	if (c->outsider) {
		for (o = d->conns; o != NULL; o = o->next)
			same += o->counted && o->outsider &&
			    strcmp(o->peer, c->peer) == 0;
		if (d->noutsiders >= (cl->max_clients + 1) / 2 ||
		    same >= SMTPD_OUTSIDER_PER_IP)
			return SMTP_START_BUSY;
		c->auth_deadline = now + (cl->timeout_ms < SMTPD_AUTH_LIMIT_MS ?
		    cl->timeout_ms : SMTPD_AUTH_LIMIT_MS);
	}
	c->counted = 1;
	d->nconns++;
	d->noutsiders += c->outsider;
	return SMTP_START_OK;
}

/* Takes the listeners out of epoll for a while (pause) or back in. */
static void
smtpd_accept_pause(struct smtpd *d, int pause)
{
	struct epoll_event ev;
	size_t i;

	if ((d->paused_until != 0) == pause)
		return;
	d->paused_until = pause ? util_mono_ms() + SMTPD_ACCEPT_PAUSE_MS : 0;
	for (i = 0; i < d->nlisteners; i++) {
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = &d->listeners[i];
		if (epoll_ctl(d->epfd, pause ? EPOLL_CTL_DEL : EPOLL_CTL_ADD,
		    d->listeners[i].fd, &ev) == -1)
			log_warn("smtpd: epoll_ctl %s", d->listeners[i].name);
	}
}

/* --- one connection ----------------------------------------------------- */

/*
 * Reads, feeds, writes until the connection would block or its budget for
 * this turn is spent; may close c.
 */
static void
smtpd_conn_io(struct smtpd_conn *c)
{
	enum smtp_session_wait w;
	int r, spent;

	if (c->turn != c->d->turn) {
		c->turn = c->d->turn;
		c->turn_bytes = 0;
		c->turn_lines = 0;
	}
	for (;;) {
		if (c->handshake) {
			smtpd_conn_starttls(c);
			if (c->handshake || c->dead)
				break;
		}
		spent = smtpd_conn_feed(c);
		w = smtp_session_wait(c->s);
		if (w == SMTP_WAIT_TLS) {
			/* Plaintext pipelined after STARTTLS is dropped. */
			c->inoff = c->inlen = 0;
			if (smtpd_conn_flush(c) == -1 || c->outoff < c->out.len)
				break;
			c->handshake = 1;
			continue;
		}
		if (w != SMTP_WAIT_INPUT || c->dead || spent)
			break;
		if (c->inoff == c->inlen)
			c->inoff = c->inlen = 0;
		else if (c->inoff > 0) {
			memmove(c->in, c->in + c->inoff, c->inlen - c->inoff);
			c->inlen -= c->inoff;
			c->inoff = 0;
		}
		if (c->out.len - c->outoff > SMTPD_OUT_HIGH &&
		    (smtpd_conn_flush(c) == -1 ||
		    c->out.len - c->outoff > SMTPD_OUT_HIGH))
			break;
		if ((r = smtpd_conn_read(c)) <= 0) {
			if (r == -1 || r == 0) {
				c->reason = r == 0 ? "disconnect" : "io error";
				c->dead = 1;
			}
			break;
		}
	}
	/* OpenSSL may hold decrypted input that epoll cannot see. */
	c->pending = !c->dead && smtp_session_wait(c->s) == SMTP_WAIT_INPUT &&
	    (c->inoff < c->inlen || (c->ssl != NULL && !c->handshake &&
	    SSL_pending(c->ssl) > 0));
	if (!c->dead)
		smtpd_conn_flush(c);
	/* A job out for c keeps it alive until smtpd_commit_finish(). */
	if (!c->job && (c->dead || (smtp_session_wait(c->s) ==
	    SMTP_WAIT_CLOSE && c->outoff == c->out.len))) {
		smtpd_conn_close(c);
		return;
	}
	smtpd_conn_interest(c);
}

/*
 * Feeds buffered input to the session within this turn's budget: command
 * lines one at a time, message text in bulk. 1 when the budget is spent.
 */
static int
smtpd_conn_feed(struct smtpd_conn *c)
{
	const char *p, *nl;
	size_t n;

	while (c->inoff < c->inlen &&
	    smtp_session_wait(c->s) == SMTP_WAIT_INPUT) {
		if (c->turn_bytes >= SMTPD_TURN_BYTES ||
		    c->turn_lines >= SMTPD_TURN_LINES)
			return 1;
		p = c->in + c->inoff;
		n = c->inlen - c->inoff;
		if (n > SMTPD_TURN_BYTES - c->turn_bytes)
			n = SMTPD_TURN_BYTES - c->turn_bytes;
		if (!smtp_session_in_data(c->s) &&
		    (nl = memchr(p, '\n', n)) != NULL) {
			n = (size_t)(nl - p) + 1;
			c->turn_lines++;
		}
		n = smtp_session_feed(c->s, p, n);
		c->inoff += n;
		c->turn_bytes += n;
	}
	return c->turn_bytes >= SMTPD_TURN_BYTES ||
	    c->turn_lines >= SMTPD_TURN_LINES;
}

/* >0 bytes read, 0 EOF, -1 error, -2 would block. */
static int
smtpd_conn_read(struct smtpd_conn *c)
{
	size_t room = sizeof(c->in) - c->inlen;
	ssize_t n;
	int e;

	if (room == 0)
		return -2;
	if (c->ssl != NULL) {
		ERR_clear_error();
		n = SSL_read(c->ssl, c->in + c->inlen, (int)room);
		if (n <= 0) {
			e = SSL_get_error(c->ssl, (int)n);
			if (e == SSL_ERROR_WANT_READ)
				return -2;
			if (e == SSL_ERROR_WANT_WRITE) {
				c->want_write = 1;
				return -2;
			}
			return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
		}
	} else if ((n = recv(c->fd, c->in + c->inlen, room, 0)) == -1)
		return errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR ? -2 : -1;
	if (n > 0) {
		c->inlen += (size_t)n;
		c->deadline = util_mono_ms() + c->d->cfg->listener.timeout_ms;
	}
	return (int)(n > 0 ? 1 : 0);
}

/*
 * Writes what it can of the replies; -1 on a dead connection. During the
 * TLS handshake (a timeout, a shutdown) nothing: plain text would only
 * corrupt the TLS stream, the client sees the connection close.
 */
static int
smtpd_conn_flush(struct smtpd_conn *c)
{
	ssize_t n;
	int e;

	if (c->handshake) {
		c->outoff = c->out.len = 0;
		return 0;
	}
	c->want_write = 0;
	while (c->outoff < c->out.len && !c->dead) {
		if (c->ssl != NULL) {
			ERR_clear_error();
			n = SSL_write(c->ssl, c->out.p + c->outoff,
			    (int)(c->out.len - c->outoff));
			if (n <= 0) {
				e = SSL_get_error(c->ssl, (int)n);
				if (e == SSL_ERROR_WANT_WRITE ||
				    e == SSL_ERROR_WANT_READ) {
					c->want_write = 1;
					return 0;
				}
				c->dead = 1;
				break;
			}
		} else if ((n = send(c->fd, c->out.p + c->outoff,
		    c->out.len - c->outoff, MSG_NOSIGNAL)) == -1) {
			if (errno == EAGAIN || errno == EWOULDBLOCK ||
			    errno == EINTR) {
				c->want_write = 1;
				return 0;
			}
			c->dead = 1;
			break;
		}
		c->outoff += (size_t)n;
	}
	if (c->dead) {
		c->reason = "io error";
		return -1;
	}
	c->outoff = c->out.len = 0;
	return 0;
}

static void
smtpd_conn_interest(struct smtpd_conn *c)
{
	struct epoll_event ev;
	uint32_t want = 0;
	int op;

	if (!c->dead && (c->want_write || c->outoff < c->out.len))
		want |= EPOLLOUT;
	if (!c->dead && (c->handshake ||
	    (smtp_session_wait(c->s) == SMTP_WAIT_INPUT &&
	    c->out.len - c->outoff <= SMTPD_OUT_HIGH)))
		want |= EPOLLIN;
	if (want == c->events)
		return;
	if (want == 0) {
		/* waiting for a commit: out of epoll (HUP would spin) */
		epoll_ctl(c->d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		c->events = 0;
		return;
	}
	op = c->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
	memset(&ev, 0, sizeof(ev));
	ev.events = want;
	ev.data.ptr = c;
	if (epoll_ctl(c->d->epfd, op, c->fd, &ev) == -1) {
		log_warn("smtpd: session=%s epoll_ctl", c->sid);
		c->dead = 1;
		return;
	}
	c->events = want;
}

/* Starts or continues the server side of the TLS handshake. */
static void
smtpd_conn_starttls(struct smtpd_conn *c)
{
	int r, e;

	if (c->ssl == NULL) {
		if ((c->ssl = SSL_new(c->d->ssl)) == NULL ||
		    SSL_set_fd(c->ssl, c->fd) != 1) {
			c->reason = "tls setup failed";
			c->dead = 1;
			return;
		}
		c->handshake = 1;
	}
	ERR_clear_error();
	if ((r = SSL_accept(c->ssl)) == 1) {
		c->handshake = 0;
		c->want_write = 0;
		log_info("smtpd: session=%s starttls version=%s cipher=%s",
		    c->sid, SSL_get_version(c->ssl),
		    SSL_get_cipher_name(c->ssl));
		smtp_session_tls_done(c->s);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ)
		c->want_write = 0;
	else if (e == SSL_ERROR_WANT_WRITE)
		c->want_write = 1;
	else {
		log_warnx("smtpd: session=%s peer=%s tls handshake failed: %s",
		    c->sid, c->peer, ERR_reason_error_string(ERR_get_error()));
		c->reason = "tls handshake failed";
		c->dead = 1;
	}
}

static void
smtpd_conn_close(struct smtpd_conn *c)
{
	struct smtpd *d = c->d;
	char helo[SMTPD_VIS], user[SMTPD_VIS];
	const char *u;

	u = c->s != NULL ? smtp_session_auth_user(c->s) : NULL;
	log_info("smtpd: session=%s close peer=%s helo=%s proto=%s user=%s "
	    "msgs=%u reason=%s", c->sid, c->peer, log_vis(helo, sizeof(helo),
	    c->s != NULL ? smtp_session_helo(c->s) : ""), c->s != NULL ?
	    smtp_session_protocol(c->s) : "", log_vis(user, sizeof(user),
	    u != NULL ? u : "-"), c->nmsg, c->reason);
	counter_add(c->nmsg > 0 ? COUNTER_SESSION_ACCEPTED :
	    strcmp(c->reason, "denied") == 0 ? COUNTER_SESSION_REFUSED :
	    COUNTER_SESSION_OTHER, 1);
	smtp_session_free(c->s);	/* aborts an open message */
	c->s = NULL;
	if (c->events != 0)
		epoll_ctl(d->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	if (c->ssl != NULL) {
		if (!c->handshake && !c->dead)
			SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	close(c->fd);
	buf_free(&c->out);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		d->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	d->nconns -= c->counted;
	d->noutsiders -= c->counted && c->outsider;
	/*
	 * Later events of this epoll batch may still point at c (a commit
	 * finished for it before its own event): freed at the turn's end.
	 */
	c->kind = KIND_CLOSED;
	c->next = d->closed;
	d->closed = c;
}

static void
smtpd_reap(struct smtpd *d)
{
	struct smtpd_conn *c;

	while ((c = d->closed) != NULL) {
		d->closed = c->next;
		free(c);
	}
}

/* --- session callbacks -------------------------------------------------- */

static void
smtpd_cb_output(void *arg, const char *buf, size_t len)
{
	struct smtpd_conn *c = arg;
	char line[SMTP_SESSION_LINE_MAX], vis[SMTPD_VIS];
	if (len > 2 && len - 2 < sizeof(line) && (buf[0] == '4' ||
	    buf[0] == '5') && strncmp(buf, "421 4.4.2", 9) != 0) {
		memcpy(line, buf, len - 2);
		line[len - 2] = '\0';
		log_info("smtpd: session=%s peer=%s reply=\"%s\"", c->sid,
		    c->peer, log_vis(vis, sizeof(vis), line));
	}
	if (buf_add(&c->out, buf, len) == -1) {
		c->reason = "out of memory";
		c->dead = 1;
	}
}

static int
smtpd_spool_write(void *arg, const void *buf, size_t len)
{
	return spool_msg_write(arg, buf, len);
}

static int
smtpd_cb_begin(void *arg, const char *sender, char *const *rcpts,
    size_t nrcpt)
{
	struct smtpd_conn *c = arg;
	struct smtpd *d = c->d;
	struct inbound_info info;
	char id[40], lit[8 + INET6_ADDRSTRLEN];

	if ((c->msg = spool_msg_begin(d->spool, sender, rcpts, nrcpt)) ==
	    NULL) {
		log_warn("smtpd: session=%s spool", c->sid);
		return -1;
	}
	snprintf(id, sizeof(id), "%s.%u", c->sid, c->nmsg + 1);
	memset(&info, 0, sizeof(info));
	info.hostname = d->cfg->hostname;
	info.helo = smtp_session_helo(c->s);
	/* RFC 5321 4.1.3 address literal */
	snprintf(lit, sizeof(lit), "%s%s", strchr(c->peer, ':') ? "IPv6:" : "",
	    c->peer);
	info.peer_addr = lit;
	info.protocol = smtp_session_protocol(c->s);
	info.id = id;
	info.sender = sender;
	info.rcpt = nrcpt == 1 ? rcpts[0] : NULL;
	info.from = d->cfg->smtp.from;
	info.rewrite_from = d->cfg->listener.rewrite_from;
	info.now = time(NULL);
	info.rnd = util_random64();
	if ((c->ib = inbound_begin(&info, smtpd_spool_write, c->msg)) ==
	    NULL) {
		spool_msg_abort(c->msg);
		c->msg = NULL;
		return -1;
	}
	strlcpy(c->sender, sender, sizeof(c->sender));
	c->nrcpt = nrcpt;
	c->size = 0;
	c->data_deadline = util_mono_ms() + SMTPD_DATA_LIMIT *
	    d->cfg->listener.timeout_ms;
	return 0;
}

static int
smtpd_cb_data(void *arg, const char *buf, size_t len)
{
	struct smtpd_conn *c = arg;

	c->size += len;
	if (inbound_write(c->ib, buf, len) == -1) {
		if (errno == EBADMSG)
			return -2;
		log_warn("smtpd: session=%s spool write", c->sid);
		return -1;
	}
	return 0;
}

static void
smtpd_cb_end(void *arg)
{
	struct smtpd_conn *c = arg;
	struct smtpd *d = c->d;
	struct smtpd_job *j;
	int r;

	r = inbound_end(c->ib);
	inbound_free(c->ib);
	c->ib = NULL;
	if (r == -1 || (j = calloc(1, sizeof(*j))) == NULL) {
		log_warn("smtpd: session=%s spool write", c->sid);
		spool_msg_abort(c->msg);
		c->msg = NULL;
		smtp_session_commit_done(c->s, NULL);
		return;
	}
	j->c = c;
	j->msg = c->msg;
	c->msg = NULL;
	smtpd_pool_push(&d->commits, j);
}

static int
smtpd_pool_start(struct smtpd *d, struct smtpd_pool *p, size_t n,
    void (*run)(struct smtpd_pool *, struct smtpd_job *))
{
	p->d = d;
	p->run = run;
	p->tail = &p->jobs;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	for (; p->nthreads < n; p->nthreads++)
		if ((errno = pthread_create(&p->threads[p->nthreads], NULL,
		    smtpd_worker, p)) != 0)
			return -1;
	return 0;
}

/* c waits for j (reads nothing, no timeout) until smtpd_jobs_finish(). */
static void
smtpd_pool_push(struct smtpd_pool *p, struct smtpd_job *j)
{
	j->c->job = 1;
	pthread_mutex_lock(&p->lock);
	*p->tail = j;
	p->tail = &j->next;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* Worker thread; drains the queue at stop. */
static void *
smtpd_worker(void *arg)
{
	struct smtpd_pool *p = arg;
	struct smtpd *d = p->d;
	struct smtpd_job *j;
	uint64_t one = 1;

	for (;;) {
		pthread_mutex_lock(&p->lock);
		while (p->jobs == NULL && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if ((j = p->jobs) == NULL) {
			pthread_mutex_unlock(&p->lock);
			break;
		}
		if ((p->jobs = j->next) == NULL)
			p->tail = &p->jobs;
		pthread_mutex_unlock(&p->lock);
		p->run(p, j);
		pthread_mutex_lock(&d->dlock);
		j->next = d->done;
		d->done = j;
		pthread_mutex_unlock(&d->dlock);
		if (write(d->donefd, &one, sizeof(one)) != sizeof(one))
			log_warn("smtpd: worker wake-up");
	}
	return NULL;
}

static void
smtpd_pool_stop(struct smtpd_pool *p)
{
	size_t i;

	if (p->d == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nthreads; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	p->d = NULL;
}

/* fsync, rename, fsync dir. */
static void
smtpd_run_commit(struct smtpd_pool *p, struct smtpd_job *j)
{
	j->r = spool_msg_commit(j->msg, j->id, sizeof(j->id));
	j->err = errno;
	j->msg = NULL;
}

/* users_check(): an unknown user costs what a known one does. */
static void
smtpd_run_auth(struct smtpd_pool *p, struct smtpd_job *j)
{
	j->r = users_check(p->d->users, j->user, j->pass);
}

static void
smtpd_job_free(struct smtpd_job *j)
{
	free(j->user);
	if (j->pass != NULL) {
		explicit_bzero(j->pass, strlen(j->pass));
		free(j->pass);
	}
	free(j);
}

/* Loop side: answers the sessions whose job came back. */
static void
smtpd_jobs_finish(struct smtpd *d)
{
	struct smtpd_job *j, *next;
	struct smtpd_conn *c;
	uint64_t n;

	if (read(d->donefd, &n, sizeof(n)) == -1 && errno != EAGAIN)
		log_warn("smtpd: worker wake-up");
	pthread_mutex_lock(&d->dlock);
	j = d->done;
	d->done = NULL;
	pthread_mutex_unlock(&d->dlock);
	for (; j != NULL; j = next) {
		next = j->next;
		c = j->c;
		c->job = 0;
		c->deadline = util_mono_ms() + d->cfg->listener.timeout_ms;
		if (j->user != NULL)
			smtpd_auth_finish(c, j);
		else
			smtpd_commit_finish(c, j);
		smtpd_job_free(j);
		smtpd_conn_io(c);	/* pipelined commands waiting */
	}
}

static void
smtpd_commit_finish(struct smtpd_conn *c, struct smtpd_job *j)
{
	struct smtpd *d = c->d;
	char vis[SMTPD_VIS];

	if (j->r == -1) {
		errno = j->err;
		log_warn("smtpd: session=%s spool commit", c->sid);
		smtp_session_commit_done(c->s, NULL);
		return;
	}
	c->nmsg++;
	log_info("smtpd: session=%s queued id=%s from=<%s> nrcpt=%zu "
	    "size=%zu", c->sid, j->id, log_vis(vis, sizeof(vis), c->sender),
	    c->nrcpt, c->size);
	history_add(HISTORY_MAIL_QUEUED, NULL, j->id, "from the listener");
	smtp_session_commit_done(c->s, j->id);
	if (d->queued != NULL)
		d->queued(d->qarg);
}

static void
smtpd_auth_finish(struct smtpd_conn *c, struct smtpd_job *j)
{
	char vis[SMTPD_VIS];

	if (j->r)
		log_info("smtpd: session=%s auth user=%s", c->sid,
		    log_vis(vis, sizeof(vis), j->user));
	else
		log_warnx("smtpd: session=%s peer=%s auth failed user=%s",
		    c->sid, c->peer, log_vis(vis, sizeof(vis), j->user));
	smtp_session_auth_done(c->s, j->r);
}

static void
smtpd_cb_abort(void *arg)
{
	struct smtpd_conn *c = arg;

	inbound_free(c->ib);
	c->ib = NULL;
	if (c->msg != NULL)
		spool_msg_abort(c->msg);
	c->msg = NULL;
}

static void
smtpd_cb_auth(void *arg, const char *user, const char *pass)
{
	struct smtpd_conn *c = arg;
	struct smtpd_job *j;

	if ((j = calloc(1, sizeof(*j))) == NULL ||
	    (j->user = strdup(user)) == NULL ||
	    (j->pass = strdup(pass)) == NULL) {
		log_warn("smtpd: session=%s auth", c->sid);
		if (j != NULL)
			smtpd_job_free(j);
		smtp_session_auth_done(c->s, 0);
		return;
	}
	j->c = c;
	smtpd_pool_push(&c->d->auths, j);
}
