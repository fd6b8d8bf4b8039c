/*
 * counter.c - process-wide event counters (relaxed atomics: each is an
 * independent tally, read by /metrics).
 */
#include "modbus2mail/counter.h"

static uint64_t counters[COUNTER_N];

void
counter_add(enum counter_id id, uint64_t n)
{
	__atomic_add_fetch(&counters[id], n, __ATOMIC_RELAXED);
}

uint64_t
counter_get(enum counter_id id)
{
	return __atomic_load_n(&counters[id], __ATOMIC_RELAXED);
}

void
counter_set(enum counter_id id, uint64_t v)
{
	__atomic_store_n(&counters[id], v, __ATOMIC_RELAXED);
}
