/*
 * ctl.h - the control socket between the running daemon and the commands
 * that ask it something (status, flush, ack, shelve): <spool_dir>/control.sock,
 * one request line per connection (struct ctl_req, encoded by this module
 * only), the reply is text ending at EOF whose first line is "ok" or
 * "error: MESSAGE".
 */
#ifndef MODBUS2MAIL_CTL_H
#define MODBUS2MAIL_CTL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_NAME_MAX	128
#define CTL_REASON_MAX	256

struct config;

enum ctl_verb {
	CTL_STATUS,
	CTL_FLUSH,
	CTL_ACK,		/* name = rule */
	CTL_SHELVE,		/* name = rule, ms (0 = unshelve), reason */
};

struct ctl_req {
	enum ctl_verb verb;
	char name[CTL_NAME_MAX];	/* one word, "" when the verb has none */
	uint64_t ms;
	char reason[CTL_REASON_MAX];	/* one line */
};

/* "status", "flush"...; NULL for a value outside the enum. */
const char *ctl_verb_name(enum ctl_verb);
/*
 * Command line (argv[0] is the verb) to a request. 0 ok; -1 with a one-line
 * message in err (usage or a bad argument).
 */
int	ctl_req_from_args(int argc, char **argv, struct ctl_req *, char *err,
	    size_t errlen);
/* Request line without '\n'. 0 ok, -1 a field cannot be sent (too long). */
int	ctl_req_encode(const struct ctl_req *, char *buf, size_t len);
/* Parses a request line. 0 ok; -1 with a one-line message in err. */
int	ctl_req_decode(const char *line, struct ctl_req *, char *err,
	    size_t errlen);

/* Path of the socket for cfg into buf. 0 ok, -1 too long. */
int	ctl_path(const struct config *, char *buf, size_t len);
/* Daemon side: a listening, non-blocking socket (0600). -1 with errno. */
int	ctl_listen(const char *path);
/*
 * Daemon side: accepts one client on fd, reads and decodes its request
 * (bounded wait) and answers with handler(req, out, arg): 0 sends "ok" and
 * what the handler wrote; -1 sends "error: " followed by it (one line, the
 * message without a command prefix). A request that does not decode is
 * answered "error: ..." without calling the handler.
 */
void	ctl_serve(int fd, int (*handler)(const struct ctl_req *, FILE *out,
	    void *arg), void *arg);
/*
 * Client side: sends req, copies the body of an "ok" reply to out; an error
 * goes to err as "modbus2mail VERB: MESSAGE". Returns the exit code: 0 ok,
 * 1 error or daemon not running.
 */
int	ctl_request(const struct config *, const struct ctl_req *, FILE *out,
	    FILE *err);

#endif
