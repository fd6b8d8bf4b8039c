/*
 * log.h - leveled logging to stderr with "<N>" syslog priority prefixes,
 * one line per event; journald adds the timestamps (SPEC §8).
 * log_warn/log_err append strerror(errno); the x variants do not.
 */
#ifndef MODBUS2MAIL_LOG_H
#define MODBUS2MAIL_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

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
/*
 * Rate limit for a warning a device may repeat every poll: a message is
 * logged when it differs from the previous one of this limiter; repeats
 * are counted, and the message is logged again at most once a minute as
 * "MSG (repeated N times)". now is monotonic ms. A zeroed struct is
 * ready to use.
 */
#define LOG_LIMIT_MS 60000
struct log_limit {
	char last[256];
	uint64_t since;		/* when last was logged */
	unsigned long repeats;	/* since then, not logged */
};
/* The decision, pure: 1 log it (*repeats = the count to mention), 0 not. */
int	log_limit_pass(struct log_limit *, const char *msg, uint64_t now,
	    unsigned long *repeats);
void	log_warnx_limited(struct log_limit *, uint64_t now, const char *, ...)
	    LOG_FMT(3, 4);
/* Start-up failures and broken invariants: log and exit(1). */
void	fatal(const char *, ...) LOG_FMT(1, 2) __attribute__((noreturn));
void	fatalx(const char *, ...) LOG_FMT(1, 2) __attribute__((noreturn));

#endif
