/*
 * smtpd.h - the port-25 listener (SPEC §6): sockets, access control by
 * listener.allow, limits, timeouts, optional STARTTLS and AUTH, one event
 * loop in its own thread. Each session is a smtp_session; each message
 * is fixed up (inbound.h) and spooled, and acknowledged with 250 only
 * once spool_msg_commit() succeeded.
 */
#ifndef MODBUS2MAIL_SMTPD_H
#define MODBUS2MAIL_SMTPD_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct spool;
struct smtpd;

/*
 * Binds every listener.listen address, loads the TLS certificate and the
 * users_file, then starts the event-loop thread; returns only once the
 * sockets accept connections. queued(arg) is called from that thread
 * after each committed message (wake the relay). cfg and spool must
 * outlive the listener. NULL with one line in err on failure.
 */
struct smtpd *smtpd_start(const struct config *, struct spool *,
	    void (*queued)(void *arg), void *arg, char *err, size_t errlen);
/* Monotonic ms of the loop's last turn (at least once a second). */
uint64_t smtpd_last_alive_ms(struct smtpd *);
/* Answers open sessions 421, closes everything, joins, frees. */
void	smtpd_stop(struct smtpd *);

#endif
