/*
 * imap.h - acknowledge by reply: a thread that polls the imap: mailbox
 * with libcurl every poll_interval (one connection, reused), classifies
 * each unseen message (reply.c), carries out what a recipient asked for
 * through the daemon's one action path (a struct ctl_req, the actor
 * "ADDR by reply"), answers a reply it cannot read with one short help
 * mail per episode and sender (never to automatic mail), and moves every
 * processed message to done_folder. It never touches polling or sending:
 * an unreachable mailbox is logged and shown by status.
 */
#ifndef MODBUS2MAIL_IMAP_H
#define MODBUS2MAIL_IMAP_H

#include <stddef.h>
#include <stdio.h>

struct alarm_episode;
struct config;
struct ctl_req;
struct spool;
struct imap;

/* What the thread needs from the daemon (called from the IMAP thread). */
struct imap_ops {
	/* Rules of the open episode msgid over every device, as
	 * alarm_engine_episode(). */
	size_t	(*episode)(void *arg, const char *msgid, const char *addr,
		    struct alarm_episode *ep, size_t max);
	/* The control request handler: 0 done, -1 refused (why in out). */
	int	(*act)(const struct ctl_req *, FILE *out, void *arg);
	/* A help reply was queued. */
	void	(*queued)(void *arg);
};

/* Starts the thread when cfg->imap.enabled (else returns NULL, no error).
 * NULL with a message in err when the password cannot be read. */
struct imap *imap_start(const struct config *, struct spool *,
	    const struct imap_ops *, void *arg, char *err, size_t errlen);
/* Stops and joins the thread (a transfer in progress is cut short). */
void	imap_stop(struct imap *);
/* "imap: ok, last check 14:30" or "imap: BROKEN since 14:30 — AUTH
 * failed"; nothing when i is NULL. */
void	imap_status(struct imap *, FILE *);

#endif
