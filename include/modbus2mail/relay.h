/*
 * relay.h - the delivery thread (SPEC §7): takes messages from the spool
 * and hands them to the upstream provider with libcurl (STARTTLS or
 * implicit TLS, AUTH only over TLS, connection reuse, per-recipient
 * results, exponential backoff, failure notices).
 *
 * Messages spooled with the null sender ("") never get a failure notice:
 * that is how notices themselves are spooled, so spool alarm mail with
 * smtp.from_addr as sender. The envelope sender towards the provider is
 * always smtp.from_addr.
 */
#ifndef MODBUS2MAIL_RELAY_H
#define MODBUS2MAIL_RELAY_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* Enough for relay_path_broken()'s reason. */
#define RELAY_WHY_LEN 512

struct config;
struct spool;
struct relay;

/*
 * Reads the password, warns about verify_peer: false, starts the thread.
 * cfg and spool must outlive the relay. NULL with err filled on failure.
 */
struct relay *relay_start(const struct config *, struct spool *, char *err,
	    size_t errlen);
/* New message or `flush`: retry everything queued now, ignoring next_try. */
void	relay_wake(struct relay *);
/* 0 while the mail path is broken, a queued message has failed at least
 * once or waits longer than smtp.stuck_after, or failed/ holds a message
 * (mail_ok_coil); follows each queue run. */
int	relay_healthy(struct relay *);
/* 1 while the oldest queued message waits longer than smtp.stuck_after. */
int	relay_stuck(struct relay *);
/*
 * 1 while the mail path is broken: no session with the provider got past
 * MAIL FROM since since, for the reason why (a reply or a connection
 * error). 0 when it works.
 */
int	relay_path_broken(struct relay *, time_t *since, char *why,
	    size_t len);
/* Monotonic ms of the thread's last sign of life (systemd watchdog). */
uint64_t relay_last_alive_ms(struct relay *);
/* Finishes the message in flight (no new one starts), joins, frees. */
void	relay_stop(struct relay *);

/*
 * `modbus2mail test-mail --to ADDR`: one message now, synchronously. Prints
 * the provider's final reply to out and returns 0, or prints one line on
 * stderr saying what failed (DNS, connect, TLS, TLS verify, AUTH, sender
 * or recipient rejected, message rejected) and returns 1.
 */
int	relay_test_mail(const struct config *, const char *to, FILE *out);

#endif
