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
/* 0 while a queued message has failed at least once (mail_ok_coil). */
int	relay_healthy(struct relay *);
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
