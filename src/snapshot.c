/*
 * snapshot.c - the status snapshot and its board: one pointer swapped
 * under a mutex, reference-counted so a slow reader never holds the lock.
 */
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/snapshot.h"
#include "modbus2mail/util.h"

const double snapshot_buckets[SNAPSHOT_NBUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0
};

struct snapshot *
snapshot_new(size_t ndev, size_t nalarm)
{
	struct snapshot *s = xcalloc(1, sizeof(*s));

	s->refs = 1;
	s->dev = xcalloc(ndev + 1, sizeof(*s->dev));
	s->alarm = xcalloc(nalarm + 1, sizeof(*s->alarm));
	return s;
}

static const char snapshot_empty[] = "";

const char *
snapshot_text(const char *text)
{
	char *t;

	if (text == NULL || *text == '\0' || (t = strdup(text)) == NULL)
		return snapshot_empty;
	return t;
}

void
snapshot_free(struct snapshot *s)
{
	size_t i;

	for (i = 0; i < s->nalarm; i++)
		if (s->alarm[i].why != NULL && s->alarm[i].why != snapshot_empty)
			free((char *)s->alarm[i].why);
	free(s->dev);
	free(s->alarm);
	free(s);
}

void
snapshot_board_init(struct snapshot_board *b)
{
	pthread_mutex_init(&b->lock, NULL);
	b->cur = NULL;
}

void
snapshot_publish(struct snapshot_board *b, struct snapshot *s)
{
	struct snapshot *old;

	pthread_mutex_lock(&b->lock);
	old = b->cur;
	b->cur = s;
	pthread_mutex_unlock(&b->lock);
	if (old != NULL)
		snapshot_release(b, old);
}

struct snapshot *
snapshot_take(struct snapshot_board *b)
{
	struct snapshot *s;

	pthread_mutex_lock(&b->lock);
	if ((s = b->cur) != NULL)
		s->refs++;
	pthread_mutex_unlock(&b->lock);
	return s;
}

void
snapshot_release(struct snapshot_board *b, struct snapshot *s)
{
	int last;

	pthread_mutex_lock(&b->lock);
	last = --s->refs == 0;
	pthread_mutex_unlock(&b->lock);
	if (last)
		snapshot_free(s);
}

void
snapshot_board_destroy(struct snapshot_board *b)
{
	snapshot_publish(b, NULL);
	pthread_mutex_destroy(&b->lock);
}

void
snapshot_poll_observe(struct snapshot_poll *p, double secs)
{
	size_t i;

	for (i = 0; i < SNAPSHOT_NBUCKETS && secs > snapshot_buckets[i]; i++)
		;
	p->bucket[i]++;		/* cumulated when printed */
	p->cycles++;
	p->seconds_sum += secs;
	p->last_seconds = secs;
}

size_t
snapshot_active(const struct snapshot *s)
{
	size_t i, n = 0;

	for (i = 0; i < s->nalarm; i++)
		n += s->alarm[i].active;
	return n;
}
