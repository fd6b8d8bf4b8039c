/*
 * sched.h - the bus scheduler (pure): which device of a bus is served
 * next and how long the bus thread sleeps until then. Earliest due first;
 * a device that did not answer (timeout, no connection) is backed off,
 * doubling up to a cap, so the others keep their rate; its alarm timers
 * still run on time as ticks (the alarm engine without I/O).
 *
 *	sched_pick(u, n, now, &nx);
 *	SCHED_POLL: read nx.unit, sched_polled(); SCHED_TICK: run its engine
 *	then sched_timer() with the engine's next deadline either way.
 */
#ifndef MODBUS2MAIL_SCHED_H
#define MODBUS2MAIL_SCHED_H

#include <stddef.h>
#include <stdint.h>

#define SCHED_BACKOFF_MAX_MS	10000
#define SCHED_NEVER		UINT64_MAX

/* One device on a bus; times are monotonic ms. */
struct sched_unit {
	uint64_t due;		/* next poll */
	uint64_t timer;		/* the alarm engine's next deadline, or
				 * SCHED_NEVER */
	uint64_t interval;	/* poll_interval */
	uint64_t cap;		/* longest backoff, sched_cap() */
	uint64_t backoff;	/* 0, or the wait after unanswered polls */
};

enum sched_what {
	SCHED_SLEEP,		/* nothing due: sleep sleep_ms */
	SCHED_POLL,		/* read unit */
	SCHED_TICK,		/* a backed-off unit's timer: engine only */
};

struct sched_next {
	enum sched_what what;
	size_t unit;
	uint64_t sleep_ms;
};

void	sched_pick(const struct sched_unit *, size_t n, uint64_t now,
	    struct sched_next *);
/*
 * After a poll that started at start: answered (1) keeps the unit's rate
 * (polls missed while the bus was busy are caught up, one at a time);
 * not answered (0) backs it off.
 */
void	sched_polled(struct sched_unit *, uint64_t start, uint64_t now,
	    int answered);
/* The engine's next deadline; one not after now counts as none. */
void	sched_timer(struct sched_unit *, uint64_t deadline, uint64_t now);
/* Backoff cap: short enough to see a recovery within link_alarm.after. */
uint64_t sched_cap(int link_alarm, uint64_t link_after_ms);
/* RTU inter-frame silence in µs: 3.5 characters of bits_per_char bits,
 * a fixed 1750 µs above 19200 baud (Modbus over serial line, 2.5.1.1). */
uint64_t sched_silence_us(unsigned baud, unsigned bits_per_char);

#endif
