/*
 * counter.c - process-wide event counters (relaxed atomics: each is an
 * independent tally, read by /metrics).
 */
#include <stdatomic.h>

#include "modbus2mail/counter.h"

static _Atomic uint64_t counters[COUNTER_N];

void
counter_add(enum counter_id id, uint64_t n)
{
	atomic_fetch_add_explicit(&counters[id], n, memory_order_relaxed);
}

uint64_t
counter_get(enum counter_id id)
{
	return atomic_load_explicit(&counters[id], memory_order_relaxed);
}

void
counter_set(enum counter_id id, uint64_t v)
{
	atomic_store_explicit(&counters[id], v, memory_order_relaxed);
}
