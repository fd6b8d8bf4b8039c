/*
 * ctl.c - control socket: a UNIX stream socket in the spool directory
 * (only the service user and root can reach it there, 0700).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "modbus2mail/config.h"
#include "modbus2mail/ctl.h"
#include "modbus2mail/log.h"
#include "modbus2mail/spool.h"
#include "modbus2mail/util.h"

#define CTL_LINE_MAX	(CTL_USER_MAX + CTL_NAME_MAX + CTL_REASON_MAX + 64)
#define CTL_CLIENTS	(CTL_POLLFDS - 1)
#define CTL_TIMEOUT_MS	2000
#define CTL_CLIENT_WAIT_S 10	/* for the daemon's answer */

/* One client: its request line comes in, then the whole reply goes out. */
struct ctl_client {
	int fd;				/* -1: free slot */
	long uid;			/* peer's, -1 unknown */
	uint64_t deadline_ms;		/* for the whole exchange */
	char line[CTL_LINE_MAX];
	size_t linelen;
	char *reply;			/* owned; NULL while reading */
	size_t replylen, replyoff;
};

struct ctl {
	int fd;				/* listening socket */
	char path[108];
	int (*handler)(const struct ctl_req *, FILE *, void *);
	void *arg;
	struct ctl_client clients[CTL_CLIENTS];
};

/* Per verb: its name, its operands on the command line, their usage. */
static const struct {
	const char *name;
	const char *usage;
} ctl_verbs[] = {
	[CTL_STATUS] = { "status", "" },
	[CTL_FLUSH] = { "flush", "" },
	[CTL_ACK] = { "ack", " RULE" },
	[CTL_SHELVE] = { "shelve", " RULE|DEVICE DURATION [--reason TEXT]" },
	[CTL_UNSHELVE] = { "unshelve", " RULE|DEVICE" },
	[CTL_RETRY] = { "retry", " ID|--all" },
	[CTL_DELETE] = { "delete", " ID" },
};
#define CTL_NVERBS	(sizeof(ctl_verbs) / sizeof(ctl_verbs[0]))

static int	ctl_word_ok(const char *, size_t);
static int	ctl_line_ok(const char *);
static int	ctl_sockaddr(const char *, struct sockaddr_un *);
static int	ctl_connect(const struct config *, const struct ctl_req *,
		    FILE *);
static int	ctl_listen(const char *);
static long	ctl_peer_uid(int);
static void	ctl_accept(struct ctl *, uint64_t);
static void	ctl_drop(struct ctl_client *);
static void	ctl_read(struct ctl *, struct ctl_client *);
static void	ctl_answer(struct ctl *, struct ctl_client *, const char *);
static void	ctl_write(struct ctl_client *);

const char *
ctl_verb_name(enum ctl_verb v)
{
	return (size_t)v < CTL_NVERBS ? ctl_verbs[v].name : NULL;
}

/* A rule or device name: one word of printable characters. */
static int
ctl_word_ok(const char *s, size_t max)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			return 0;
	return i > 0 && i < max;
}

static int
ctl_line_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			return 0;
	return 1;
}

int
ctl_req_from_args(int argc, char **argv, struct ctl_req *req, char *err,
    size_t errlen)
{
	const char *reason = "manual";
	size_t v;

	memset(req, 0, sizeof(*req));
	for (v = 0; v < CTL_NVERBS; v++)
		if (strcmp(argv[0], ctl_verbs[v].name) == 0)
			break;
	if (v == CTL_NVERBS) {
		snprintf(err, errlen, "modbus2mail: unknown command '%s'",
		    argv[0]);
		return -1;
	}
	req->verb = (enum ctl_verb)v;
	switch (req->verb) {
	case CTL_STATUS:
	case CTL_FLUSH:
		if (argc != 1)
			goto usage;
		return 0;
	case CTL_ACK:
	case CTL_UNSHELVE:
	case CTL_RETRY:
	case CTL_DELETE:
		if (argc != 2)
			goto usage;
		break;
	case CTL_SHELVE:
		if (argc == 5 && strcmp(argv[3], "--reason") == 0)
			reason = argv[4];
		else if (argc != 3)
			goto usage;
		if (config_parse_duration(argv[2], &req->ms) == -1) {
			snprintf(err, errlen, "modbus2mail shelve: bad duration "
			    "'%s' (e.g. 30m, 2h, 0 to unshelve)", argv[2]);
			return -1;
		}
		if (!ctl_line_ok(reason) || strlcpy(req->reason, reason,
		    sizeof(req->reason)) >= sizeof(req->reason)) {
			snprintf(err, errlen, "modbus2mail shelve: the reason "
			    "must be one line of at most %d characters",
			    CTL_REASON_MAX - 1);
			return -1;
		}
		break;
	}
	if (!ctl_word_ok(argv[1], sizeof(req->name))) {
		snprintf(err, errlen, "modbus2mail %s: bad name '%s'", argv[0],
		    argv[1]);
		return -1;
	}
	strlcpy(req->name, argv[1], sizeof(req->name));
	return 0;
usage:
	snprintf(err, errlen, "usage: modbus2mail %s [-c FILE]%s", argv[0],
	    ctl_verbs[v].usage);
	return -1;
}

int
ctl_req_encode(const struct ctl_req *req, char *buf, size_t len)
{
	const char *verb = ctl_verb_name(req->verb);
	int n = 0;

	if (verb == NULL)
		return -1;
	if (req->user[0] != '\0') {
		if (!ctl_word_ok(req->user, sizeof(req->user)))
			return -1;
		n = snprintf(buf, len, "web=%s ", req->user);
		if (n < 0 || (size_t)n >= len)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	switch (req->verb) {
	case CTL_ACK:
	case CTL_UNSHELVE:
	case CTL_RETRY:
	case CTL_DELETE:
		n = snprintf(buf, len, "%s %s", verb, req->name);
		break;
	case CTL_SHELVE:
		n = snprintf(buf, len, "%s %s %llu %s", verb, req->name,
		    (unsigned long long)req->ms, req->reason);
		break;
	default:
		n = snprintf(buf, len, "%s", verb);
		break;
	}
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

int
ctl_req_decode(const char *line, struct ctl_req *req, char *err,
    size_t errlen)
{
	const char *p = line;
	char *end;
	size_t v, n;

	memset(req, 0, sizeof(*req));
	/* "web=USER ": asked through the web page by USER */
	if (strncmp(p, "web=", 4) == 0) {
		n = strcspn(p + 4, " ");
		if (n == 0 || n >= sizeof(req->user) || p[4 + n] != ' ') {
			snprintf(err, errlen, "malformed web user");
			return -1;
		}
		memcpy(req->user, p + 4, n);
		if (!ctl_word_ok(req->user, sizeof(req->user))) {
			snprintf(err, errlen, "malformed web user");
			return -1;
		}
		p += 4 + n + 1;
		line = p;
	}
	n = strcspn(p, " ");
	for (v = 0; v < CTL_NVERBS; v++)
		if (strlen(ctl_verbs[v].name) == n &&
		    strncmp(p, ctl_verbs[v].name, n) == 0)
			break;
	if (v == CTL_NVERBS) {
		snprintf(err, errlen, "unknown request");
		return -1;
	}
	req->verb = (enum ctl_verb)v;
	p += n;
	if (!ctl_line_ok(line))
		goto bad;
	if (req->verb == CTL_STATUS || req->verb == CTL_FLUSH) {
		if (*p != '\0')
			goto bad;
		return 0;
	}
	if (*p++ != ' ' || (n = strcspn(p, " ")) >= sizeof(req->name))
		goto bad;
	memcpy(req->name, p, n);
	req->name[n] = '\0';
	if (!ctl_word_ok(req->name, sizeof(req->name)))
		goto bad;
	p += n;
	if (req->verb != CTL_SHELVE) {
		if (*p != '\0')
			goto bad;
		return 0;
	}
	/* shelve NAME MS REASON: the reason is the rest of the line. */
	if (*p++ != ' ' || *p < '0' || *p > '9')
		goto bad;
	errno = 0;
	req->ms = strtoull(p, &end, 10);
	if (errno != 0 || *end != ' ' ||
	    strlcpy(req->reason, end + 1, sizeof(req->reason)) >=
	    sizeof(req->reason))
		goto bad;
	return 0;
bad:
	snprintf(err, errlen, "malformed %s request", ctl_verbs[v].name);
	return -1;
}

int
ctl_path(const struct config *cfg, char *buf, size_t len)
{
	int n;

	n = snprintf(buf, len, "%s/control.sock", cfg->spool_dir);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static int
ctl_sockaddr(const char *path, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlcpy(sun->sun_path, path, sizeof(sun->sun_path)) >=
	    sizeof(sun->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int
ctl_listen(const char *path)
{
	struct sockaddr_un sun;
	int fd;

	if (ctl_sockaddr(path, &sun) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1)
		return -1;
	/* A stale socket of a previous run would make bind fail. */
	if (unlink(path) == -1 && errno != ENOENT)
		goto fail;
	/*
	 * Linux gives the socket file the socket inode's mode (minus the
	 * umask): set it here, as umask() would change it for every thread.
	 */
	if (fchmod(fd, 0600) == -1 ||
	    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1 ||
	    listen(fd, 8) == -1)
		goto fail;
	return fd;
fail:
	close(fd);
	return -1;
}

struct ctl *
ctl_open(const char *path, int (*handler)(const struct ctl_req *, FILE *,
    void *), void *arg)
{
	struct ctl *c;
	size_t i;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	if (strlcpy(c->path, path, sizeof(c->path)) >= sizeof(c->path)) {
		free(c);
		errno = ENAMETOOLONG;
		return NULL;
	}
	if ((c->fd = ctl_listen(path)) == -1) {
		free(c);
		return NULL;
	}
	c->handler = handler;
	c->arg = arg;
	for (i = 0; i < CTL_CLIENTS; i++)
		c->clients[i].fd = -1;
	return c;
}

void
ctl_close(struct ctl *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < CTL_CLIENTS; i++)
		ctl_drop(&c->clients[i]);
	close(c->fd);
	unlink(c->path);
	free(c);
}

static void
ctl_drop(struct ctl_client *cl)
{
	if (cl->fd == -1)
		return;
	close(cl->fd);
	free(cl->reply);
	memset(cl, 0, sizeof(*cl));
	cl->fd = -1;
}

void
ctl_pollfds(struct ctl *c, struct pollfd *pfd, uint64_t now, int *timeout)
{
	struct ctl_client *cl;
	int full = 1;
	size_t i;

	for (i = 0; i < CTL_CLIENTS; i++) {
		cl = &c->clients[i];
		pfd[i + 1].fd = cl->fd;
		pfd[i + 1].events = cl->reply != NULL ? POLLOUT : POLLIN;
		pfd[i + 1].revents = 0;
		if (cl->fd == -1) {
			full = 0;
			continue;
		}
		if (cl->deadline_ms <= now)
			*timeout = 0;
		else if (cl->deadline_ms - now < (uint64_t)*timeout)
			*timeout = (int)(cl->deadline_ms - now);
	}
	/* All slots busy: new clients wait in the backlog, no spinning. */
	pfd[0].fd = full ? -1 : c->fd;
	pfd[0].events = POLLIN;
	pfd[0].revents = 0;
}

void
ctl_events(struct ctl *c, const struct pollfd *pfd, uint64_t now)
{
	struct ctl_client *cl;
	size_t i;

	for (i = 0; i < CTL_CLIENTS; i++) {
		cl = &c->clients[i];
		if (cl->fd == -1 || pfd[i + 1].fd != cl->fd)
			continue;
		if (cl->reply == NULL && pfd[i + 1].revents)
			ctl_read(c, cl);
		else if (pfd[i + 1].revents)
			ctl_write(cl);
		if (cl->fd != -1 && cl->deadline_ms <= now) {
			log_warnx("ctl: client did not finish within %dms, "
			    "dropped", CTL_TIMEOUT_MS);
			ctl_drop(cl);
		}
	}
	if (pfd[0].fd != -1 && pfd[0].revents & POLLIN)
		ctl_accept(c, now);
}

/* Who is asking, from the kernel (an ack mail names them). */
static long
ctl_peer_uid(int fd)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) == -1)
		return -1;
	return (long)cr.uid;
}

static void
ctl_accept(struct ctl *c, uint64_t now)
{
	size_t i;
	int fd;

	for (i = 0; i < CTL_CLIENTS; i++) {
		if (c->clients[i].fd != -1)
			continue;
		if ((fd = accept4(c->fd, NULL, NULL, SOCK_NONBLOCK |
		    SOCK_CLOEXEC)) == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				log_warn("ctl: accept");
			return;
		}
		c->clients[i].fd = fd;
		c->clients[i].uid = ctl_peer_uid(fd);
		c->clients[i].deadline_ms = now + CTL_TIMEOUT_MS;
	}
}

/* Whatever has arrived of the request line; answered once it is whole. */
static void
ctl_read(struct ctl *c, struct ctl_client *cl)
{
	char *nl;
	ssize_t n;

	n = read(cl->fd, cl->line + cl->linelen, sizeof(cl->line) - 1 -
	    cl->linelen);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n > 0) {
		cl->linelen += (size_t)n;
		cl->line[cl->linelen] = '\0';
		if ((nl = memchr(cl->line, '\n', cl->linelen)) != NULL) {
			*nl = '\0';
			ctl_answer(c, cl, cl->line);
		} else if (cl->linelen == sizeof(cl->line) - 1)
			ctl_answer(c, cl, NULL);
		return;
	}
	/* EOF: a last line without its newline still counts. */
	if (n == 0 && cl->linelen > 0)
		ctl_answer(c, cl, cl->line);
	else {
		log_warnx("ctl: no request from client");
		ctl_drop(cl);
	}
}

/*
 * Decodes line (NULL: too long) and has it answered: "ok" and what the
 * handler wrote, or "error: " and why (one line).
 */
static void
ctl_answer(struct ctl *c, struct ctl_client *cl, const char *line)
{
	struct ctl_req req;
	char err[128], *body = NULL;
	size_t bodylen = 0;
	FILE *rep, *out;

	if ((rep = open_memstream(&cl->reply, &cl->replylen)) == NULL) {
		ctl_drop(cl);
		return;
	}
	if (line == NULL || ctl_req_decode(line, &req, err, sizeof(err)) ==
	    -1) {
		if (line == NULL)
			strlcpy(err, "request too long", sizeof(err));
		log_warnx("ctl: %s", err);
		fprintf(rep, "error: %s\n", err);
	} else if ((out = open_memstream(&body, &bodylen)) == NULL)
		fprintf(rep, "error: out of memory\n");
	else {
		req.uid = cl->uid;
		if (c->handler(&req, out, c->arg) == 0) {
			fclose(out);
			fprintf(rep, "ok\n%s", body);
		} else {
			fclose(out);
			fprintf(rep, "error: %s%s", bodylen > 0 ? body :
			    "failed", bodylen > 0 && body[bodylen - 1] == '\n' ?
			    "" : "\n");
		}
		free(body);
	}
	if (fclose(rep) == EOF) {
		ctl_drop(cl);
		return;
	}
	ctl_write(cl);
}

/* As much of the reply as the socket takes; closed once it is all out. */
static void
ctl_write(struct ctl_client *cl)
{
	ssize_t n;

	n = send(cl->fd, cl->reply + cl->replyoff, cl->replylen -
	    cl->replyoff, MSG_NOSIGNAL);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n > 0)
		cl->replyoff += (size_t)n;
	if (n <= 0 || cl->replyoff == cl->replylen)
		ctl_drop(cl);
}

/* Connects to the daemon's socket and sends the request line: the socket,
 * -1 (said on err) or -2 when nothing listens (errno set). */
static int
ctl_connect(const struct config *cfg, const struct ctl_req *req, FILE *err)
{
	struct sockaddr_un sun;
	char path[sizeof(sun.sun_path)], line[CTL_LINE_MAX];
	struct timeval tv = { CTL_CLIENT_WAIT_S, 0 };
	int fd;

	if (ctl_req_encode(req, line, sizeof(line)) == -1) {
		fprintf(err, "modbus2mail %s: request too long\n",
		    ctl_verb_name(req->verb));
		return -1;
	}
	if (ctl_path(cfg, path, sizeof(path)) == -1 ||
	    ctl_sockaddr(path, &sun) == -1) {
		fprintf(err, "modbus2mail: control socket path too long "
		    "(spool_dir %s)\n", cfg->spool_dir);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		if (fd != -1)
			close(fd);
		return -2;
	}
	/* a daemon busy reloading must not hold its own web page forever */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	dprintf(fd, "%s\n", line);
	shutdown(fd, SHUT_WR);
	return fd;
}

int
ctl_request(const struct config *cfg, const struct ctl_req *req, FILE *out,
    FILE *err)
{
	char buf[4096], *nl;
	FILE *to = NULL;
	size_t have = 0;
	ssize_t n;
	int fd, ok = 0;

	if ((fd = ctl_connect(cfg, req, err)) < 0)
		return fd == -2 ? -1 : 1;
	/* The first line is the verdict; the rest goes where it says. */
	while ((n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		have += (size_t)n;
		buf[have] = '\0';
		if (to == NULL && (nl = strchr(buf, '\n')) != NULL) {
			if (strncmp(buf, "ok\n", 3) == 0) {
				ok = 1;
				to = out;
				nl = buf + 2;
			} else if (strncmp(buf, "error: ", 7) == 0) {
				to = err;
				fprintf(err, "modbus2mail %s: ",
				    ctl_verb_name(req->verb));
				nl = buf + 6;
			} else
				break;
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have + 1);
		}
		if (to != NULL) {
			fwrite(buf, 1, have, to);
			have = 0;
		} else if (have == sizeof(buf) - 1)
			break;
	}
	close(fd);
	if (to == NULL) {
		fprintf(err, "modbus2mail: no answer from the daemon\n");
		return 1;
	}
	return ok ? 0 : 1;
}

int
ctl_spool(struct spool *sp, const struct ctl_req *req, FILE *out)
{
	int all = strcmp(req->name, "--all") == 0;
	size_t n;

	if (req->verb == CTL_DELETE) {
		if (spool_delete(sp, req->name) == -1) {
			fprintf(out, "no message %s in the queue or failed/ "
			    "(%s)\n", req->name, strerror(errno));
			return -1;
		}
		fprintf(out, "deleted %s\n", req->name);
		log_notice("spool: id=%s deleted by command", req->name);
		return 0;
	}
	if (spool_retry(sp, all ? NULL : req->name, &n) == -1 && n == 0) {
		fprintf(out, "no failed message %s (%s)\n", req->name,
		    strerror(errno));
		return -1;
	}
	fprintf(out, "%zu message%s back in the queue\n", n, n == 1 ? "" : "s");
	log_notice("spool: %zu failed message%s queued again by command (%s)",
	    n, n == 1 ? "" : "s", req->name);
	return 0;
}
