/*
 * ctl.h - the control socket between the running daemon and the
 * status/flush/ack/shelve commands: <spool_dir>/control.sock, one request
 * line per connection, the reply is text ending at EOF whose first line is
 * "ok" or "error: MESSAGE".
 */
#ifndef MODBUS2MAIL_CTL_H
#define MODBUS2MAIL_CTL_H

#include <stddef.h>
#include <stdio.h>

struct config;

/* Path of the socket for cfg into buf. 0 ok, -1 too long. */
int	ctl_path(const struct config *, char *buf, size_t len);
/* Daemon side: a listening, non-blocking socket (0600). -1 with errno. */
int	ctl_listen(const char *path);
/*
 * Daemon side: accepts one client on fd, reads its request line (bounded
 * wait) and answers with handler(req, out, arg), whose return says ok (0)
 * or error (-1, the handler wrote the message into out).
 */
void	ctl_serve(int fd, int (*handler)(const char *req, FILE *out, void *arg),
	    void *arg);
/* Client side: sends req, copies the body of the reply to out, errors to
 * err. Returns the exit code: 0 ok, 1 error or daemon not running. */
int	ctl_request(const struct config *, const char *req, FILE *out,
	    FILE *err);

#endif
