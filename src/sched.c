/*
 * sched.c - the bus scheduler: earliest due first, backoff for units
 * that do not answer, alarm timers kept (see sched.h).
 */
#include "modbus2mail/sched.h"

static uint64_t	sched_when(const struct sched_unit *, enum sched_what *);

/* When u wants the bus next, and for what. */
static uint64_t
sched_when(const struct sched_unit *u, enum sched_what *what)
{
	*what = SCHED_POLL;
	if (u->timer >= u->due)
		return u->due;
	/* a healthy unit is read for its timer (fresh values), a backed-off
	 * one only ticks: its link alarm needs no I/O to fire */
	if (u->backoff != 0)
		*what = SCHED_TICK;
	return u->timer;
}

void
sched_pick(const struct sched_unit *u, size_t n, uint64_t now,
    struct sched_next *nx)
{
	enum sched_what what, best_what = SCHED_SLEEP;
	uint64_t t, best = SCHED_NEVER;
	size_t i, bi = 0;

	for (i = 0; i < n; i++) {
		t = sched_when(&u[i], &what);
		/* ties: ticks first (no I/O), then the earliest due */
		if (t < best || (t == best && (what > best_what ||
		    (what == best_what && u[i].due < u[bi].due)))) {
			best = t;
			best_what = what;
			bi = i;
		}
	}
	nx->unit = bi;
	nx->sleep_ms = 0;
	nx->what = best_what;
	if (best > now) {
		nx->what = SCHED_SLEEP;
		nx->sleep_ms = best - now;
	}
}

void
sched_polled(struct sched_unit *u, uint64_t start, uint64_t now,
    int answered)
{
	if (answered) {
		u->backoff = 0;
		/* early for a timer: from now on; late (the bus was busy):
		 * catch up, so a slow neighbour costs no polls */
		if (start < u->due)
			u->due = start + u->interval;
		else if ((u->due += u->interval) < start)
			u->due = start;
		return;
	}
	u->backoff = u->backoff == 0 ? u->interval : u->backoff * 2;
	if (u->backoff > u->cap)
		u->backoff = u->cap;
	u->due = now + u->backoff;
}

void
sched_timer(struct sched_unit *u, uint64_t deadline, uint64_t now)
{
	u->timer = deadline > now ? deadline : SCHED_NEVER;
}

uint64_t
sched_cap(int link_alarm, uint64_t link_after_ms)
{
	if (link_alarm && link_after_ms < SCHED_BACKOFF_MAX_MS)
		return link_after_ms;
	return SCHED_BACKOFF_MAX_MS;
}

uint64_t
sched_silence_us(unsigned baud, unsigned bits_per_char)
{
	if (baud > 19200)
		return 1750;
	return (35ULL * bits_per_char * 1000000 + 10ULL * baud - 1) /
	    (10ULL * baud);
}
