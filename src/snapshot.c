/*
 * snapshot.c - the status snapshot and its board: one pointer swapped
 * under a mutex, reference-counted so a slow reader never holds the lock.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "modbus2mail/log.h"
#include "modbus2mail/snapshot.h"
#include "modbus2mail/util.h"

const double snapshot_buckets[SNAPSHOT_NBUCKETS] = {
	0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0
};

/*
 * The alarm array is 1.5 MB at 10,000 rules and there is a new one each
 * second while readers may still hold older ones: mapped on its own, a
 * freed one goes back to the kernel instead of leaving a resident hole
 * in the heap for the next to fill.
 */
static void *
snapshot_map(size_t n, size_t size, size_t *len)
{
	void *p;

	if (n > SIZE_MAX / size)
		fatalx("snapshot: %zu entries", n);
	*len = n * size;
	if ((p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE |
	    MAP_ANONYMOUS, -1, 0)) == MAP_FAILED)
		fatal("snapshot: mmap %zu bytes", *len);
	return p;		/* zero-filled */
}

struct snapshot *
snapshot_new(size_t ndev, size_t nalarm)
{
	struct snapshot *s = xcalloc(1, sizeof(*s));

	s->refs = 1;
	s->dev = xcalloc(ndev + 1, sizeof(*s->dev));
	s->alarm = snapshot_map(nalarm + 1, sizeof(*s->alarm), &s->alarm_len);
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

static void
snapshot_text_free(const char *t)
{
	if (t != NULL && t != snapshot_empty)
		free((char *)t);
}

void
snapshot_free(struct snapshot *s)
{
	size_t i;

	for (i = 0; i < s->nalarm; i++) {
		snapshot_text_free(s->alarm[i].reason);
		snapshot_text_free(s->alarm[i].why);
	}
	free(s->dev);
	munmap(s->alarm, s->alarm_len);
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

void
snapshot_add_alarm(struct snapshot *s, const struct alarm_status *st)
{
	struct snapshot_alarm *a = &s->alarm[s->nalarm++];

	a->name = st->name;
	a->device = s->ndev;
	a->rule = st->rule;
	a->severity = st->severity;
	a->state = st->state;
	a->active = st->active;
	a->acknowledged = st->acknowledged;
	a->shelved = st->shelved;
	a->unavailable = st->unavailable;
	a->has_value = st->has_value;
	a->value = st->value;
	a->since = st->since;
	a->shelved_until = st->shelved_until;
	a->reason = snapshot_text(st->reason);
	a->why = snapshot_text(st->why);
}

static const char *
snapshot_str(const char *s)
{
	return s != NULL ? s : "";
}

/* " shelved_until=T" when every alarm of the device is shelved. */
static void
snapshot_device_shelf(const struct snapshot *s,
    const struct snapshot_device *d, FILE *out)
{
	time_t until = 0;
	char buf[32];
	size_t i;

	for (i = d->first; i < d->first + d->nalarm; i++) {
		if (!s->alarm[i].shelved)
			return;
		if (until == 0 || s->alarm[i].shelved_until < until)
			until = s->alarm[i].shelved_until;
	}
	if (d->nalarm == 0)
		return;
	util_fmt_time(buf, sizeof(buf), until);
	fprintf(out, " shelved_until=%s", buf);
}

static void
snapshot_alarm_line(const struct snapshot_alarm *a, FILE *out)
{
	char since[32], until[32];

	util_fmt_time(since, sizeof(since), a->since);
	fprintf(out, "  %s state=%s since=%s acknowledged=%s shelved=%s",
	    a->name, a->active ? "ACTIVE" : "NORMAL", a->active ? since : "-",
	    a->acknowledged ? "yes" : "no", a->shelved ? "yes" : "no");
	if (a->shelved) {
		util_fmt_time(until, sizeof(until), a->shelved_until);
		fprintf(out, " shelved_until=%s reason=\"%s\"", until,
		    snapshot_str(a->reason));
	}
	if (a->unavailable)
		fputs(" value=unavailable", out);
	if (a->why != NULL && a->why[0] != '\0')
		fprintf(out, " error=\"%s\"", a->why);
	fputc('\n', out);
}

void
snapshot_print_bad(FILE *out, const struct snapshot_poll *t)
{
	fprintf(out, "crc_errors=%llu short_frames=%llu wrong_unit=%llu",
	    (unsigned long long)t->req_crc, (unsigned long long)t->req_short,
	    (unsigned long long)t->req_wrong_unit);
}

void
snapshot_status(const struct snapshot *s, FILE *devices, FILE *alarms)
{
	const struct snapshot_device *d;
	char last[32];
	size_t i;

	for (i = 0; i < s->ndev; i++) {
		d = &s->dev[i];
		strlcpy(last, "never", sizeof(last));
		if (d->last_good != 0)
			util_fmt_time(last, sizeof(last), d->last_good);
		fprintf(devices, "  %s link=%s last_good_poll=%s "
		    "requests_per_cycle=%zu transport=\"%s\" ", d->name,
		    d->link_up ? "up" : "down", last, d->nreq, d->transport);
		snapshot_print_bad(devices, &d->poll);
		snapshot_device_shelf(s, d, devices);
		if (!d->link_up && d->why[0] != '\0')
			fprintf(devices, " error=\"%s\"", d->why);
		if (d->mail_ok_why[0] != '\0')
			fprintf(devices, " mail_ok_coil_error=\"%s\"",
			    d->mail_ok_why);
		fputc('\n', devices);
	}
	for (i = 0; i < s->nalarm; i++)
		if (s->alarm[i].active || s->alarm[i].shelved ||
		    s->alarm[i].unavailable)
			snapshot_alarm_line(&s->alarm[i], alarms);
}
