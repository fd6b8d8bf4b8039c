/*
 * util.h - allocation wrappers that exit on failure, clocks, number
 * parsing, string vectors, strlcpy/strlcat where libc lacks them.
 *
 * The x*() wrappers are for start-up and for the alarm engine's per-cycle
 * bookkeeping, where exiting is the safe answer to no memory: systemd
 * restarts the service and the alarm state on disk is only ever written
 * after its mail is in the spool, so a restart re-sends, never loses.
 * Paths that serve clients or build mail return ENOMEM instead.
 */
#ifndef MODBUS2MAIL_UTIL_H
#define MODBUS2MAIL_UTIL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <time.h>

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xasprintf(const char *, ...) __attribute__((format(printf, 1, 2)));

/* A vector of owned strings: append a copy (-1 on ENOMEM), free all. */
int	util_strv_push(char ***v, size_t *n, const char *s);
void	util_strv_free(char **v, size_t n);

/*
 * Condition variables on CLOCK_MONOTONIC (a wall clock step neither
 * shortens nor stretches a wait); util_cond_deadline gives the absolute
 * time ms from now for pthread_cond_timedwait on such a variable.
 */
void	util_cond_init(pthread_cond_t *);
void	util_cond_deadline(struct timespec *, uint64_t ms);

/* CLOCK_MONOTONIC and CLOCK_REALTIME in milliseconds; CLOCK_MONOTONIC in
 * microseconds (frame timing on a serial line). */
uint64_t util_mono_ms(void);
uint64_t util_wall_ms(void);
uint64_t util_mono_us(void);

/* Whole decimal string in [0, max]. 0 ok, -1 bad. */
int	util_parse_ulong(const char *s, unsigned long max, unsigned long *out);
/* Whole string as a finite double. 0 ok, -1 bad. */
int	util_parse_double(const char *s, double *out);

/* 64 bits from getrandom(2): Message-IDs must not be guessable, a reply
 * naming one is trusted (acknowledge by reply). Never fails: it blocks
 * until the kernel's pool is ready, and exits if getrandom is missing. */
uint64_t util_random64(void);

/* Local time as 2026-11-29T14:30:00+01:00 (status lines). */
void	util_fmt_time(char *buf, size_t len, time_t t);
/* The UTC offset of a local time: "+01:00". */
void	util_fmt_offset(char *buf, size_t len, const struct tm *);

/* The first line of a password file that only its owner may read, into
 * *out (malloc'd; wipe it after use). 0, or -1 with a message in err. */
int	util_read_secret(const char *path, char **out, char *err, size_t errlen);

/* fsync a directory by path: a rename is durable only after this. */
int	util_fsync_dir(const char *path);

#ifndef HAVE_STRLCPY
size_t	strlcpy(char *, const char *, size_t);
size_t	strlcat(char *, const char *, size_t);
#endif

#endif
