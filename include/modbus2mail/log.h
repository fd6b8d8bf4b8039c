/*
 * log.h - leveled logging to stderr with "<N>" syslog priority prefixes,
 * one line per event; journald adds the timestamps (SPEC §8).
 * log_warn/log_err append strerror(errno); the x variants do not.
 */
#ifndef MODBUS2MAIL_LOG_H
#define MODBUS2MAIL_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define LOG_FMT(a, b) __attribute__((format(printf, a, b)))

/* verbose > 0 also prints debug lines. Safe to call from any thread. */
void	log_init(int verbose);
void	log_debug(const char *, ...) LOG_FMT(1, 2);
void	log_info(const char *, ...) LOG_FMT(1, 2);
void	log_notice(const char *, ...) LOG_FMT(1, 2);
void	log_warn(const char *, ...) LOG_FMT(1, 2);
void	log_warnx(const char *, ...) LOG_FMT(1, 2);
void	log_err(const char *, ...) LOG_FMT(1, 2);
void	log_errx(const char *, ...) LOG_FMT(1, 2);
/*
 * Text from the network made safe inside one log line: control and
 * non-ASCII bytes, backslash and '"' become \xNN; cut to fit. Returns buf.
 */
const char *log_vis(char *buf, size_t len, const char *s);
/* Start-up failures and broken invariants: log and exit(1). */
void	fatal(const char *, ...) LOG_FMT(1, 2) __attribute__((noreturn));
void	fatalx(const char *, ...) LOG_FMT(1, 2) __attribute__((noreturn));

#endif
