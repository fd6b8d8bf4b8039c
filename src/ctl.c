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

#define CTL_REQ_MAX	1024
#define CTL_TIMEOUT_MS	2000

static int	ctl_sockaddr(const char *, struct sockaddr_un *);
static ssize_t	ctl_read_line(int, char *, size_t);

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
ctl_serve(int lfd, int (*handler)(const char *, FILE *, void *), void *arg)
{
	char req[CTL_REQ_MAX];
	char *body = NULL;
	size_t bodylen = 0;
	FILE *out;
	int fd, r;

	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1)
		return;
	if (ctl_read_line(fd, req, sizeof(req)) == -1) {
		log_warnx("ctl: no request from client");
		close(fd);
		return;
	}
	if ((out = open_memstream(&body, &bodylen)) == NULL) {
		close(fd);
		return;
	}
	r = handler(req, out, arg);
	fclose(out);
	dprintf(fd, "%s\n%s", r == 0 ? "ok" : "error", body);
	free(body);
	close(fd);
}

int
ctl_request(const struct config *cfg, const char *req, FILE *out, FILE *err)
{
	struct sockaddr_un sun;
	char path[sizeof(sun.sun_path)], buf[4096];
	ssize_t n;
	size_t have = 0;
	int fd, ok = -1;

	if (ctl_path(cfg, path, sizeof(path)) == -1 ||
	    ctl_sockaddr(path, &sun) == -1) {
		fprintf(err, "modbus2mail: control socket path too long "
		    "(spool_dir %s)\n", cfg->spool_dir);
		return 1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(err, "modbus2mail: daemon not running (cannot connect "
		    "to %s: %s)\n", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return 1;
	}
	dprintf(fd, "%s\n", req);
	shutdown(fd, SHUT_WR);
	/* First line is the verdict; on error the rest is the message. */
	while ((n = read(fd, buf + have, sizeof(buf) - 1 - have)) > 0) {
		char *nl;

		have += (size_t)n;
		buf[have] = '\0';
		if (ok == -1 && (nl = strchr(buf, '\n')) != NULL) {
			ok = strncmp(buf, "ok\n", 3) == 0;
			have -= (size_t)(nl + 1 - buf);
			memmove(buf, nl + 1, have + 1);
		}
		if (ok != -1) {
			fwrite(buf, 1, have, ok ? out : err);
			have = 0;
		} else if (have == sizeof(buf) - 1)
			break;
	}
	close(fd);
	if (ok == -1) {
		fprintf(err, "modbus2mail: no answer from the daemon\n");
		return 1;
	}
	return ok ? 0 : 1;
}
