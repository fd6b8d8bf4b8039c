/*
 * counter.h - process-wide event counters for /metrics (mail results,
 * listener sessions, history drops). Lock-free, callable from any thread;
 * they survive a reload, as Prometheus counters should.
 */
#ifndef MODBUS2MAIL_COUNTER_H
#define MODBUS2MAIL_COUNTER_H

#include <stdint.h>

enum counter_id {
	COUNTER_MAIL_SENT,		/* delivered to the provider */
	COUNTER_MAIL_DEFERRED,		/* temporary failure, retried */
	COUNTER_MAIL_FAILED,		/* moved to failed/ */
	COUNTER_SESSION_ACCEPTED,	/* listener: queued a message or more */
	COUNTER_SESSION_REFUSED,	/* listener: refused at connect */
	COUNTER_SESSION_OTHER,		/* listener: ended without a message */
	COUNTER_HISTORY_WRITTEN,	/* history events stored */
	COUNTER_HISTORY_DROPPED,	/* queue full or SQLite failed */
	COUNTER_MAIL_LAST_SENT,		/* wall clock s of the last delivery
					 * (counter_set) */
	COUNTER_N
};

void	 counter_add(enum counter_id, uint64_t);
void	 counter_set(enum counter_id, uint64_t);
uint64_t counter_get(enum counter_id);

#endif
