/*
 * ctl.h - the control socket between the running daemon and the commands
 * that ask it something (status, flush, ack, shelve, retry, delete):
 * <spool_dir>/control.sock,
 * one request line per connection (struct ctl_req, encoded by this module
 * only), the reply is text ending at EOF whose first line is "ok" or
 * "error: MESSAGE".
 */
#ifndef MODBUS2MAIL_CTL_H
#define MODBUS2MAIL_CTL_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CTL_NAME_MAX	128
#define CTL_REASON_MAX	256
#define CTL_USER_MAX	64

struct config;
struct ctl;
struct spool;

enum ctl_verb {
	CTL_STATUS,
	CTL_FLUSH,
	CTL_ACK,		/* name = rule */
	CTL_SHELVE,		/* name = rule or device, ms (0 = unshelve),
				 * reason */
	CTL_UNSHELVE,		/* name = rule or device */
	CTL_RETRY,		/* name = queue id or "--all" */
	CTL_DELETE,		/* name = queue id */
};

struct ctl_req {
	enum ctl_verb verb;
	char name[CTL_NAME_MAX];	/* one word, "" when the verb has none */
	uint64_t ms;
	char reason[CTL_REASON_MAX];	/* one line */
	long uid;			/* server side: the client's uid from
					 * the socket, -1 unknown; never sent */
	char user[CTL_USER_MAX];	/* "" or, from the daemon's own web
					 * page, who is logged in there */
	char actor[CTL_REASON_MAX];	/* server side: who acts, when the
					 * daemon acts for someone ("ops@x by
					 * reply"); never sent, "" otherwise */
};

/* "status", "flush"...; NULL for a value outside the enum. */
const char *ctl_verb_name(enum ctl_verb);
/*
 * Command line (argv[0] is the verb) to a request. 0 ok; -1 with a one-line
 * message in err (usage or a bad argument).
 */
int	ctl_req_from_args(int argc, char **argv, struct ctl_req *, char *err,
	    size_t errlen);
/*
 * Request line without '\n' ("web=USER " first when user is set). 0 ok,
 * -1 a field cannot be sent (too long).
 */
int	ctl_req_encode(const struct ctl_req *, char *buf, size_t len);
/* Parses a request line. 0 ok; -1 with a one-line message in err. */
int	ctl_req_decode(const char *line, struct ctl_req *, char *err,
	    size_t errlen);

/*
 * retry and delete on a spool: by the daemon, or by the command itself when
 * no daemon runs. What was done goes to out; 0, or -1 with the message in
 * out.
 */
int	ctl_spool(struct spool *, const struct ctl_req *, FILE *out);

/* Path of the socket for cfg into buf. 0 ok, -1 too long. */
int	ctl_path(const struct config *, char *buf, size_t len);
/* Entries of the pollfd array ctl_pollfds() fills: listener + clients. */
#define CTL_POLLFDS	9

/*
 * Daemon side: listens on path (mode 0600, an old socket replaced); NULL
 * with errno. handler(req, out, arg) carries out each decoded request: 0
 * sends "ok" and what it wrote into out; -1 sends "error: " followed by
 * that (one line, the message without a command prefix). A request that
 * does not decode is answered "error: ..." without calling it.
 */
struct ctl *ctl_open(const char *path, int (*handler)(const struct ctl_req *,
	    FILE *out, void *arg), void *arg);
/* Drops the clients, closes and removes the socket. */
void	ctl_close(struct ctl *);
/*
 * Nothing here waits for a client, so the caller's loop (signals, the
 * watchdog) never stalls: ctl_pollfds() fills pfd[CTL_POLLFDS] (unused
 * entries have fd -1) and lowers *timeout_ms to the next client deadline;
 * after poll(), ctl_events() accepts, reads, answers, writes what the
 * sockets take and drops a client that has not finished within 2 s.
 */
void	ctl_pollfds(struct ctl *, struct pollfd *pfd, uint64_t now_ms,
	    int *timeout_ms);
void	ctl_events(struct ctl *, const struct pollfd *pfd, uint64_t now_ms);
/*
 * Client side: sends req, copies the body of an "ok" reply to out; an error
 * goes to err as "modbus2mail VERB: MESSAGE". Returns the exit code: 0 ok,
 * 1 error; -1 (nothing printed, errno set) when no daemon listens.
 */
int	ctl_request(const struct config *, const struct ctl_req *, FILE *out,
	    FILE *err);

#endif
