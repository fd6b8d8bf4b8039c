/*
 * ctl.c - control socket: a UNIX stream socket in the spool directory
 * (only the service user and root can reach it there, 0700).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "modbus2mail/config.h"
#include "modbus2mail/ctl.h"
#include "modbus2mail/log.h"
#include "modbus2mail/util.h"

#define CTL_LINE_MAX	(CTL_NAME_MAX + CTL_REASON_MAX + 64)
#define CTL_TIMEOUT_MS	2000

/* Per verb: its name, its operands on the command line, their usage. */
static const struct {
	const char *name;
	const char *usage;
} ctl_verbs[] = {
	[CTL_STATUS] = { "status", "" },
	[CTL_FLUSH] = { "flush", "" },
	[CTL_ACK] = { "ack", " RULE" },
	[CTL_SHELVE] = { "shelve", " RULE DURATION [--reason TEXT]" },
};
#define CTL_NVERBS	(sizeof(ctl_verbs) / sizeof(ctl_verbs[0]))

static int	ctl_word_ok(const char *, size_t);
static int	ctl_line_ok(const char *);
static int	ctl_sockaddr(const char *, struct sockaddr_un *);
static int	ctl_connect(const struct config *, const struct ctl_req *,
		    FILE *);
static ssize_t	ctl_read_line(int, char *, size_t);

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
	int n;

	if (verb == NULL)
		return -1;
	switch (req->verb) {
	case CTL_ACK:
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
	if (req->verb == CTL_ACK) {
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

int
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

/* Reads up to '\n' within CTL_TIMEOUT_MS; returns the length or -1. */
static ssize_t
ctl_read_line(int fd, char *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t off = 0;
	ssize_t n;
	char *nl;

	while (off < len - 1) {
		if (poll(&pfd, 1, CTL_TIMEOUT_MS) <= 0)
			return -1;
		n = read(fd, buf + off, len - 1 - off);
		if (n <= 0)
			break;
		off += (size_t)n;
		buf[off] = '\0';
		if ((nl = strchr(buf, '\n')) != NULL) {
			*nl = '\0';
			return nl - buf;
		}
	}
	buf[off] = '\0';
	return off > 0 ? (ssize_t)off : -1;
}

void
ctl_serve(int lfd, int (*handler)(const struct ctl_req *, FILE *, void *),
    void *arg)
{
	struct ctl_req req;
	char line[CTL_LINE_MAX], err[128];
	char *body = NULL;
	size_t bodylen = 0;
	FILE *out;
	int fd, r;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return;
	if (ctl_read_line(fd, line, sizeof(line)) == -1) {
		log_warnx("ctl: no request from client");
		close(fd);
		return;
	}
	if (ctl_req_decode(line, &req, err, sizeof(err)) == -1) {
		log_warnx("ctl: %s", err);
		dprintf(fd, "error: %s\n", err);
		close(fd);
		return;
	}
	if ((out = open_memstream(&body, &bodylen)) == NULL) {
		dprintf(fd, "error: out of memory\n");
		close(fd);
		return;
	}
	r = handler(&req, out, arg);
	fclose(out);
	if (r == 0)
		dprintf(fd, "ok\n%s", body);
	else
		dprintf(fd, "error: %s%s", bodylen > 0 ? body : "failed",
		    bodylen > 0 && body[bodylen - 1] == '\n' ? "" : "\n");
	free(body);
	close(fd);
}

/* Connects to the daemon's socket and sends the request line. */
static int
ctl_connect(const struct config *cfg, const struct ctl_req *req, FILE *err)
{
	struct sockaddr_un sun;
	char path[sizeof(sun.sun_path)], line[CTL_LINE_MAX];
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
		fprintf(err, "modbus2mail: daemon not running (cannot connect "
		    "to %s: %s)\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
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

	if ((fd = ctl_connect(cfg, req, err)) == -1)
		return 1;
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
