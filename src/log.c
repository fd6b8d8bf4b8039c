/*
 * log.c - stderr logging with syslog priority prefixes for journald.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "modbus2mail/log.h"
#include "modbus2mail/util.h"

static int	log_verbose;

static void	log_vwrite(int, int, const char *, va_list) LOG_FMT(3, 0);

void
log_init(int verbose)
{
	log_verbose = verbose;
}

static void
log_vwrite(int pri, int with_errno, const char *fmt, va_list ap)
{
	char msg[2048];
	int saved = errno;

	if (pri == LOG_DEBUG && !log_verbose)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* One fprintf per line: stdio locks the stream, so threads don't interleave. */
	if (with_errno)
		fprintf(stderr, "<%d>%s: %s\n", pri, msg, strerror(saved));
	else
		fprintf(stderr, "<%d>%s\n", pri, msg);
	errno = saved;
}

#define LOG_FN(fn, pri, with_errno)                                            \
	void fn(const char *fmt, ...)                                          \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_vwrite(pri, with_errno, fmt, ap);                          \
		va_end(ap);                                                    \
	}

LOG_FN(log_debug, LOG_DEBUG, 0)
LOG_FN(log_info, LOG_INFO, 0)
LOG_FN(log_notice, LOG_NOTICE, 0)
LOG_FN(log_warn, LOG_WARNING, 1)
LOG_FN(log_warnx, LOG_WARNING, 0)
LOG_FN(log_err, LOG_ERR, 1)
LOG_FN(log_errx, LOG_ERR, 0)

const char *
log_vis(char *buf, size_t len, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t n = 0;

	for (; *p != '\0'; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '\\' && *p != '"') {
			if (n + 1 >= len)
				break;
			buf[n++] = (char)*p;
			continue;
		}
		if (n + 4 >= len)
			break;
		buf[n++] = '\\';
		buf[n++] = 'x';
		buf[n++] = hex[*p >> 4];
		buf[n++] = hex[*p & 15];
	}
	if (len > 0)
		buf[n] = '\0';
	return buf;
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, 1, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_CRIT, 0, fmt, ap);
	va_end(ap);
	exit(1);
}

int
log_limit_pass(struct log_limit *l, const char *msg, uint64_t now,
    unsigned long *repeats)
{
	*repeats = 0;
	if (strncmp(l->last, msg, sizeof(l->last) - 1) != 0) {
		strlcpy(l->last, msg, sizeof(l->last));
		l->since = now;
		l->repeats = 0;
		return 1;
	}
	l->repeats++;
	if (now - l->since < LOG_LIMIT_MS)
		return 0;
	*repeats = l->repeats;
	l->repeats = 0;
	l->since = now;
	return 1;
}

void
log_warnx_limited(struct log_limit *l, uint64_t now, const char *fmt, ...)
{
	char msg[1024];
	unsigned long repeats;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!log_limit_pass(l, msg, now, &repeats))
		return;
	if (repeats > 0)
		log_warnx("%s (repeated %lu times)", msg, repeats);
	else
		log_warnx("%s", msg);
}
