/*
 * bench_render - time of the web page's pure rendering (webpage.c) for a
 * snapshot of NDEV devices x NRULES rules, NACTIVE of each active: the
 * overview and /metrics into a memory stream, as the web server does.
 * Prints p50/p99/max of the thread's CPU time in ms over the runs (wall
 * time on a loaded machine measures the load). Run by bench_web.py.
 *
 * usage: bench_render [RUNS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modbus2mail/config.h"
#include "modbus2mail/snapshot.h"
#include "modbus2mail/webpage.h"

#define NDEV	20
#define NRULES	500
#define NACTIVE	50

static struct config *
bench_config(void)
{
	char *yaml = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&yaml, &len);
	struct config *cfg;
	int d, r;

	fputs("smtp: {url: \"smtp://127.0.0.1:25\", from: a@example.com, "
	    "tls: none}\ndefaults: {to: [ops@example.com]}\ndevices:\n", f);
	for (d = 0; d < NDEV; d++)
		fprintf(f, "  - {name: d%d, host: 127.0.0.1}\n", d);
	fputs("rules:\n", f);
	for (d = 0; d < NDEV; d++)
		for (r = 0; r < NRULES; r++)
			fprintf(f, "  - {name: d%d_r%d, device: d%d, coil: %d, "
			    "unit: bar}\n", d, r, d, r);
	fclose(f);
	if ((cfg = config_load_buffer("bench.yaml", yaml, len, stderr)) == NULL)
		exit(1);
	free(yaml);
	return cfg;
}

static struct snapshot *
bench_snapshot(const struct config *cfg)
{
	struct snapshot *s = snapshot_new(NDEV, NDEV * NRULES);
	struct snapshot_alarm *a;
	size_t i;

	s->cfg = cfg;
	s->taken = s->started = time(NULL);
	s->threads_alive = 1;
	for (i = 0; i < NDEV; i++) {
		s->dev[i].name = cfg->devices[i].name;
		config_transport(&cfg->devices[i], s->dev[i].transport,
		    sizeof(s->dev[i].transport));
		s->dev[i].link_up = 1;
		snapshot_poll_observe(&s->dev[i].poll, 0.002);
	}
	s->ndev = NDEV;
	for (i = 0; i < cfg->nrules; i++) {
		a = &s->alarm[s->nalarm++];
		a->name = cfg->rules[i].name;
		a->rule = (long)i;
		a->device = cfg->rules[i].device;
		a->active = i % NRULES < NACTIVE;
		a->since = s->taken - 60;
		a->has_value = 1;
		a->value = a->active;
		a->transitions[0] = a->active;
	}
	return s;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* CPU time of this thread: the render's cost, not the machine's load. */
static double
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 +
	    (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

int
main(int argc, char **argv)
{
	struct webpage_ctx ctx = { "operator1",
	    "0123456789abcdef0123456789abcdef", 1, NULL, 0, 0 };
	int runs = argc > 1 ? atoi(argv[1]) : 200, i, page;
	struct config *cfg = bench_config();
	struct snapshot *s = bench_snapshot(cfg);
	double *t = calloc((size_t)runs, sizeof(*t));
	struct timespec t0;
	char *buf;
	size_t len;
	FILE *f;

	ctx.now = s->taken;
	printf("render %d devices x %d rules (%d active), %d runs\n", NDEV,
	    NRULES, NDEV * NACTIVE, runs);
	for (page = 0; page < 2; page++) {
		for (i = 0; i < runs; i++) {
			buf = NULL;
			clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
			f = open_memstream(&buf, &len);
			if (page == 0)
				webpage_overview(f, s, &ctx);
			else
				webpage_metrics(f, s);
			fclose(f);
			t[i] = ms_since(&t0);
			free(buf);
		}
		qsort(t, (size_t)runs, sizeof(*t), cmp);
		printf("  %-10s p50 %6.2f ms  p99 %6.2f ms  max %6.2f ms  %zu bytes\n",
		    page == 0 ? "overview" : "/metrics", t[runs / 2],
		    t[runs * 99 / 100], t[runs - 1], len);
	}
	free(t);
	snapshot_free(s);
	config_free(cfg);
	return 0;
}
