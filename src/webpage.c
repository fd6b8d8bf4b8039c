/*
 * webpage.c - server-rendered pages (no script, no external asset; a phone
 * screen is enough), /metrics and /healthz.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "modbus2mail/config.h"
#include "modbus2mail/counter.h"
#include "modbus2mail/history.h"
#include "modbus2mail/snapshot.h"
#include "modbus2mail/spool.h"
#include "modbus2mail/webpage.h"

#define WEBPAGE_REFRESH_S	5

static const char webpage_css[] =
    "body{font-family:sans-serif;margin:0 auto;max-width:60em;padding:.5em}"
    "table{border-collapse:collapse;width:100%;margin-bottom:1em}"
    "td,th{border-bottom:1px solid #ccc;padding:.3em;text-align:left;"
    "vertical-align:top}nav a{margin-right:1em}"
    ".bad{color:#fff;background:#b00;padding:0 .3em}"
    ".ok{color:#060}.warn{background:#fd0;padding:0 .3em}"
    "form.inline{display:inline}pre{white-space:pre-wrap}"
    "@media(max-width:40em){td,th{display:block;border:0}"
    "tr{display:block;border-bottom:1px solid #ccc}}";

static void	webpage_head(FILE *, const char *, int,
		    const struct webpage_ctx *);
static void	webpage_tail(FILE *);
static void	webpage_time(FILE *, time_t);
static void	webpage_age(FILE *, time_t, time_t);
static void	webpage_form(FILE *, const struct webpage_ctx *,
		    const char *, const char *, const char *, const char *);
static void	webpage_devices(FILE *, const struct snapshot *,
		    const struct webpage_ctx *);
static void	webpage_alarms(FILE *, const struct snapshot *,
		    const struct webpage_ctx *);
static void	webpage_mailpath(FILE *, const struct snapshot *,
		    const struct webpage_ctx *);
static void	webpage_label(FILE *, const char *);
static void	webpage_metric_head(FILE *, const char *, const char *,
		    const char *);

void
webpage_escape(FILE *out, const char *s)
{
	size_t n;

	for (; s != NULL && *s != '\0'; s++) {
		/* the plain run up to the next special character at once */
		if ((n = strcspn(s, "&<>\"'")) > 0) {
			fwrite(s, 1, n, out);
			if (*(s += n) == '\0')
				return;
		}
		switch (*s) {
		case '&': fputs("&amp;", out); break;
		case '<': fputs("&lt;", out); break;
		case '>': fputs("&gt;", out); break;
		case '"': fputs("&quot;", out); break;
		case '\'': fputs("&#39;", out); break;
		default: fputc(*s, out); break;
		}
	}
}

static void
webpage_head(FILE *out, const char *title, int refresh,
    const struct webpage_ctx *ctx)
{
	fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
	    "<meta name=\"viewport\" content=\"width=device-width,"
	    "initial-scale=1\">", out);
	if (refresh)
		fprintf(out, "<meta http-equiv=\"refresh\" content=\"%d\">",
		    WEBPAGE_REFRESH_S);
	fprintf(out, "<title>modbus2mail: %s</title><style>%s</style></head>"
	    "<body><nav><a href=\"/\">Overview</a><a href=\"/history\">"
	    "History</a><a href=\"/queue\">Queue</a><a href=\"/config\">"
	    "Configuration</a>", title, webpage_css);
	if (ctx->user != NULL) {
		fputs("<form class=\"inline\" method=\"post\" action=\"/logout\">"
		    "<input type=\"hidden\" name=\"csrf\" value=\"", out);
		webpage_escape(out, ctx->csrf);
		fputs("\"><button>Log out ", out);
		webpage_escape(out, ctx->user);
		fputs("</button></form>", out);
	} else if (ctx->can_login)
		fputs("<a href=\"/login\">Log in</a>", out);
	fputs("</nav>\n", out);
	if (ctx->notice != NULL) {
		fprintf(out, "<p class=\"%s\" id=\"notice\">", ctx->notice_error ?
		    "bad" : "ok");
		webpage_escape(out, ctx->notice);
		fputs("</p>\n", out);
	}
	fprintf(out, "<h1>%s</h1>\n", title);
}

static void
webpage_tail(FILE *out)
{
	fputs("</body></html>\n", out);
}

/* Local time, "-" for none. */
static void
webpage_time(FILE *out, time_t t)
{
	struct tm tm;
	char buf[32];

	if (t == 0) {
		fputs("-", out);
		return;
	}
	localtime_r(&t, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
	fputs(buf, out);
}

/* "3d 4h", "5m 2s" since t. */
static void
webpage_age(FILE *out, time_t now, time_t t)
{
	long long s = t == 0 || now < t ? 0 : (long long)(now - t);

	if (s >= 86400)
		fprintf(out, "%lldd %lldh", s / 86400, s % 86400 / 3600);
	else if (s >= 3600)
		fprintf(out, "%lldh %lldm", s / 3600, s % 3600 / 60);
	else
		fprintf(out, "%lldm %llds", s / 60, s % 60);
}

/*
 * One action button: POST /action with the session's CSRF token; extra is
 * more form fields (already HTML), or "".
 */
static void
webpage_form(FILE *out, const struct webpage_ctx *ctx, const char *verb,
    const char *name, const char *label, const char *extra)
{
	fputs("<form class=\"inline\" method=\"post\" action=\"/action\">"
	    "<input type=\"hidden\" name=\"csrf\" value=\"", out);
	webpage_escape(out, ctx->csrf);
	fprintf(out, "\"><input type=\"hidden\" name=\"verb\" value=\"%s\">"
	    "<input type=\"hidden\" name=\"name\" value=\"", verb);
	webpage_escape(out, name);
	fprintf(out, "\">%s<button name=\"do\" value=\"%s\">%s</button></form>",
	    extra, verb, label);
}

/* "-" without a heartbeat register, "ok", or "stale since T". */
static void
webpage_heartbeat(FILE *out, const struct snapshot *s, size_t dev)
{
	const struct snapshot_device *d = &s->dev[dev];
	const struct snapshot_alarm *a;
	size_t i, n = strlen(d->name);

	if (!s->cfg->devices[dev].heartbeat) {
		fputs("-", out);
		return;
	}
	for (i = d->first; i < d->first + d->nalarm; i++) {
		a = &s->alarm[i];
		if (a->rule == -1 && strncmp(a->name, d->name, n) == 0 &&
		    strcmp(a->name + n, ".heartbeat") == 0 && a->active) {
			fputs("<span class=\"bad\">stale</span> since ", out);
			webpage_time(out, a->since);
			return;
		}
	}
	fputs("<span class=\"ok\">ok</span>", out);
}

static void
webpage_devices(FILE *out, const struct snapshot *s,
    const struct webpage_ctx *ctx)
{
	const struct snapshot_device *d;
	size_t i;

	fputs("<h2>Devices</h2><table><tr><th>device</th><th>link</th>"
	    "<th>last good poll</th><th>poll time</th><th>requests ok / "
	    "exception / failed</th><th>heartbeat</th></tr>\n", out);
	for (i = 0; i < s->ndev; i++) {
		d = &s->dev[i];
		fputs("<tr><td>", out);
		webpage_escape(out, d->name);
		fputs(" <small>", out);
		webpage_escape(out, d->transport);
		fprintf(out, "</small>%s</td><td>", d->shelved ?
		    " <span class=\"warn\">shelved</span>" : "");
		fputs(d->link_up ? "<span class=\"ok\">up</span> since " :
		    "<span class=\"bad\">down</span> since ", out);
		webpage_time(out, d->link_since);
		if (!d->link_up) {
			fputs(": ", out);
			webpage_escape(out, d->why);
		}
		fputs("</td><td>", out);
		webpage_time(out, d->last_good);
		fprintf(out, "</td><td>%.1f ms</td><td>%llu / %llu / %llu</td>"
		    "<td>", d->poll.last_seconds * 1000,
		    (unsigned long long)d->poll.req_ok,
		    (unsigned long long)d->poll.req_exception,
		    (unsigned long long)d->poll.req_failed);
		webpage_heartbeat(out, s, i);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
	(void)ctx;
}

/* Value and unit of a slot, "-" when never read, "unavailable". */
static void
webpage_value(FILE *out, const struct snapshot *s,
    const struct snapshot_alarm *a)
{
	if (a->unavailable)
		fputs("unavailable", out);
	else if (!a->has_value)
		fputs("-", out);
	else {
		fprintf(out, "%g", a->value);
		if (a->rule >= 0 && s->cfg->rules[a->rule].unit[0] != '\0') {
			fputc(' ', out);
			webpage_escape(out, s->cfg->rules[a->rule].unit);
		}
	}
}

static void
webpage_alarm_row(FILE *out, const struct snapshot *s,
    const struct snapshot_alarm *a, const struct webpage_ctx *ctx)
{
	fprintf(out, "<tr class=\"alarm\"><td>%s</td><td>",
	    config_severity_name(a->severity));
	webpage_escape(out, a->name);
	fputs("<br><small>", out);
	webpage_escape(out, s->dev[a->device].name);
	fputs("</small></td><td>", out);
	webpage_time(out, a->since);
	fputs(" (", out);
	webpage_age(out, ctx->now, a->since);
	fputs(")</td><td>", out);
	webpage_value(out, s, a);
	fputs("</td><td>", out);
	fputs(!a->active ? "" : a->acknowledged ? "acknowledged" :
	    "<b>unacknowledged</b>", out);
	if (a->shelved) {
		fputs(" <span class=\"warn\">shelved until ", out);
		webpage_time(out, a->shelved_until);
		fputs("</span> ", out);
		webpage_escape(out, a->reason);
	} else if (a->why != NULL && a->why[0] != '\0') {
		fputs(" ", out);
		webpage_escape(out, a->why);
	}
	fputs("</td><td>", out);
	if (ctx->user != NULL && a->active && !a->acknowledged)
		webpage_form(out, ctx, "ack", a->name, "Ack", "");
	if (ctx->user != NULL && !a->shelved)
		webpage_form(out, ctx, "shelve", a->name, "Shelve",
		    "<select name=\"for\"><option>1h</option><option>8h"
		    "</option><option>1d</option></select>");
	else if (ctx->user != NULL)
		webpage_form(out, ctx, "unshelve", a->name, "Unshelve", "");
	fputs("</td></tr>\n", out);
}

static void
webpage_alarms(FILE *out, const struct snapshot *s,
    const struct webpage_ctx *ctx)
{
	size_t i, n = 0;

	fputs("<h2>Alarms</h2><table id=\"alarms\"><tr><th>severity</th>"
	    "<th>alarm</th><th>since</th><th>value</th><th>state</th><th></th>"
	    "</tr>\n", out);
	for (i = 0; i < s->nalarm; i++)
		if (s->alarm[i].active || s->alarm[i].shelved) {
			webpage_alarm_row(out, s, &s->alarm[i], ctx);
			n++;
		}
	fputs("</table>\n", out);
	if (n == 0)
		fputs("<p class=\"ok\">No active alarm.</p>\n", out);
	else if (ctx->user == NULL && ctx->can_login)
		fputs("<p><a href=\"/login\">Log in</a> to acknowledge or "
		    "shelve.</p>\n", out);
}

static void
webpage_mailpath(FILE *out, const struct snapshot *s,
    const struct webpage_ctx *ctx)
{
	fputs("<h2>Mail</h2><p>Mail path: ", out);
	if (s->path_broken) {
		fputs("<span class=\"bad\">BROKEN</span> since ", out);
		webpage_time(out, s->path_since);
		fputs(": ", out);
		webpage_escape(out, s->path_why);
	} else
		fputs("<span class=\"ok\">OK</span>", out);
	fprintf(out, "</p><p>Queued: %zu", s->queue.queued);
	if (s->queue.oldest != 0) {
		fputs(" (oldest ", out);
		webpage_age(out, ctx->now, s->queue.oldest);
		fputs(")", out);
	}
	fprintf(out, ", failed: %zu%s. Sent since start: %llu, last ",
	    s->queue.failed, s->queue.failed > 0 ? " (<a href=\"/queue\">"
	    "retry or delete</a>)" : "",
	    (unsigned long long)counter_get(COUNTER_MAIL_SENT));
	webpage_time(out, (time_t)counter_get(COUNTER_MAIL_LAST_SENT));
	fputs(".</p>\n", out);
}

void
webpage_overview(FILE *out, const struct snapshot *s,
    const struct webpage_ctx *ctx)
{
	flockfile(out);		/* one lock for the whole page */
	webpage_head(out, "Overview", 1, ctx);
	webpage_alarms(out, s, ctx);
	webpage_devices(out, s, ctx);
	webpage_mailpath(out, s, ctx);
	fputs("<p><small>Gateway ", out);
	webpage_escape(out, s->cfg->hostname);
	fprintf(out, ", modbus2mail %s, up ", M2M_VERSION);
	webpage_age(out, ctx->now, s->started);
	fputs(", updated ", out);
	webpage_time(out, s->taken);
	fputs(".</small></p>\n", out);
	webpage_tail(out);
	funlockfile(out);
}

static void
webpage_entries(FILE *out, const struct spool_entry *v, char *const *subj,
    size_t n, int failed, const struct webpage_ctx *ctx)
{
	size_t i, j;

	fprintf(out, "<table id=\"%s\"><tr><th>id</th><th>subject</th><th>to"
	    "</th><th>queued</th><th>attempts</th><th>next try</th><th>last "
	    "reply</th><th></th></tr>\n", failed ? "failed" : "queued");
	for (i = 0; i < n; i++) {
		fputs("<tr><td>", out);
		webpage_escape(out, v[i].id);
		fputs("</td><td>", out);
		webpage_escape(out, subj != NULL ? subj[i] : NULL);
		fputs("</td><td>", out);
		for (j = 0; j < v[i].nrcpt; j++) {
			webpage_escape(out, v[i].rcpts[j]);
			fputs(j + 1 < v[i].nrcpt ? "<br>" : "", out);
		}
		fputs("</td><td>", out);
		webpage_time(out, v[i].created);
		fprintf(out, "</td><td>%u</td><td>", v[i].attempts);
		if (!failed)
			webpage_time(out, v[i].next_try);
		fputs("</td><td>", out);
		webpage_escape(out, v[i].last_error);
		fputs("</td><td>", out);
		if (failed && ctx->user != NULL) {
			webpage_form(out, ctx, "retry", v[i].id, "Retry", "");
			webpage_form(out, ctx, "delete", v[i].id, "Delete", "");
		}
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

void
webpage_queue(FILE *out, const struct spool_entry *q, char *const *qsubj,
    size_t nq, const struct spool_entry *f, char *const *fsubj, size_t nf,
    const struct webpage_ctx *ctx)
{
	webpage_head(out, "Queue", 0, ctx);
	fprintf(out, "<h2>Queued (%zu)</h2>\n", nq);
	webpage_entries(out, q, qsubj, nq, 0, ctx);
	fprintf(out, "<h2>Failed (%zu)</h2>\n", nf);
	webpage_entries(out, f, fsubj, nf, 1, ctx);
	webpage_tail(out);
}

/* One "key: value" line of the configuration page. */
static void
webpage_kv(FILE *out, const char *key, const char *value)
{
	fprintf(out, "<tr><th>%s</th><td>", key);
	webpage_escape(out, value != NULL ? value : "-");
	fputs("</td></tr>\n", out);
}

static void
webpage_kv_list(FILE *out, const char *key, const struct config_strlist *l)
{
	size_t i;

	fprintf(out, "<tr><th>%s</th><td>", key);
	for (i = 0; i < l->n; i++) {
		webpage_escape(out, l->v[i]);
		fputs(i + 1 < l->n ? ", " : "", out);
	}
	fputs("</td></tr>\n", out);
}

static void
webpage_config_rules(FILE *out, const struct config *cfg)
{
	const struct config_rule *r;
	size_t i;

	fprintf(out, "<h2>Rules (%zu)</h2><table><tr><th>rule</th><th>device"
	    "</th><th>source</th><th>severity</th><th>unit</th></tr>\n",
	    cfg->nrules);
	for (i = 0; i < cfg->nrules; i++) {
		r = &cfg->rules[i];
		fputs("<tr><td>", out);
		webpage_escape(out, r->name);
		fputs("</td><td>", out);
		webpage_escape(out, cfg->devices[r->device].name);
		fprintf(out, "</td><td>%s %u", config_source_name(r->source),
		    (unsigned)r->address);
		if (r->bit >= 0)
			fprintf(out, ".%d", r->bit);
		fprintf(out, "</td><td>%s</td><td>",
		    config_severity_name(r->severity));
		webpage_escape(out, r->unit);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
}

/* The loaded configuration; the password itself is never in it (only
 * where it is read from, shown as set or not). */
void
webpage_config(FILE *out, const struct snapshot *s,
    const struct webpage_ctx *ctx)
{
	const struct config *cfg = s->cfg;
	char transport[128];
	size_t i;

	webpage_head(out, "Configuration", 0, ctx);
	fputs("<p>File ", out);
	webpage_escape(out, cfg->path);
	fputs(", loaded ", out);
	webpage_time(out, s->config_loaded);
	fputs(".</p><table>\n", out);
	webpage_kv(out, "hostname", cfg->hostname);
	webpage_kv(out, "spool_dir", cfg->spool_dir);
	webpage_kv(out, "smtp.url", cfg->smtp.url);
	webpage_kv_list(out, "smtp.fallback_urls", &cfg->smtp.fallback_urls);
	webpage_kv(out, "smtp.from", cfg->smtp.from);
	webpage_kv(out, "smtp.username", cfg->smtp.username);
	webpage_kv(out, "smtp.password", cfg->smtp.password_file != NULL ?
	    "(set, not shown)" : "(none)");
	webpage_kv(out, "smtp.tls", cfg->smtp.tls_none ? "none" : "required");
	webpage_kv(out, "smtp.verify_peer", cfg->smtp.verify_peer ? "true" :
	    "false");
	webpage_kv_list(out, "listener.listen", &cfg->listener.listen);
	webpage_kv_list(out, "http.listen", &cfg->http.listen);
	webpage_kv(out, "history", cfg->history.enabled ? "on" : "off");
	fputs("</table>\n", out);
	fprintf(out, "<h2>Devices (%zu)</h2><table>\n", cfg->ndevices);
	for (i = 0; i < cfg->ndevices; i++) {
		config_transport(&cfg->devices[i], transport,
		    sizeof(transport));
		fputs("<tr><td>", out);
		webpage_escape(out, cfg->devices[i].name);
		fputs("</td><td>", out);
		webpage_escape(out, transport);
		fputs("</td></tr>\n", out);
	}
	fputs("</table>\n", out);
	webpage_config_rules(out, cfg);
	webpage_tail(out);
}

void
webpage_login(FILE *out, const struct webpage_ctx *ctx, const char *error)
{
	webpage_head(out, "Log in", 0, ctx);
	if (error != NULL) {
		fputs("<p class=\"bad\" id=\"error\">", out);
		webpage_escape(out, error);
		fputs("</p>", out);
	}
	if (ctx->can_login)
		fputs("<form method=\"post\" action=\"/login\"><p><label>User "
		    "<input name=\"user\" autocomplete=\"username\"></label></p>"
		    "<p><label>Password <input type=\"password\" name=\"password\" "
		    "autocomplete=\"current-password\"></label></p><p><button "
		    "id=\"login\">Log in</button></p></form>\n", out);
	webpage_tail(out);
}

void
webpage_history_begin(FILE *out, const struct history_filter *f,
    const char *query, const struct webpage_ctx *ctx)
{
	int k;

	webpage_head(out, "History", 0, ctx);
	fputs("<form method=\"get\" action=\"/history\">"
	    "<input name=\"device\" placeholder=\"device\" value=\"", out);
	webpage_escape(out, f->device);
	fputs("\"> <input name=\"rule\" placeholder=\"rule\" value=\"", out);
	webpage_escape(out, f->rule);
	fputs("\"> <select name=\"kind\"><option value=\"\">any kind</option>",
	    out);
	for (k = 0; k < HISTORY_NKINDS; k++)
		fprintf(out, "<option%s>%s</option>", f->kind == k ?
		    " selected" : "", history_kind_name((enum history_kind)k));
	fputs("</select> <select name=\"since\"><option>1h</option><option "
	    "selected>24h</option><option>7d</option><option>90d</option>"
	    "</select> <button>Show</button></form>\n<p><a href=\"/history.csv?",
	    out);
	webpage_escape(out, query);
	fputs("\">Download CSV</a></p><table id=\"history\"><tr><th>time</th>"
	    "<th>kind</th><th>device</th><th>rule or message</th><th>detail"
	    "</th></tr>\n", out);
}

void
webpage_history_row(FILE *out, const struct history_row *r)
{
	fputs("<tr><td>", out);
	webpage_time(out, (time_t)(r->t_ms / 1000));
	fprintf(out, "</td><td>%s</td><td>", history_kind_name(r->kind));
	webpage_escape(out, r->device);
	fputs("</td><td>", out);
	webpage_escape(out, r->rule);
	fputs("</td><td>", out);
	webpage_escape(out, r->detail);
	fputs("</td></tr>\n", out);
}

void
webpage_history_end(FILE *out, const char *error)
{
	fputs("</table>\n", out);
	if (error != NULL) {
		fputs("<p class=\"bad\">", out);
		webpage_escape(out, error);
		fputs("</p>\n", out);
	}
	webpage_tail(out);
}

void
webpage_error(FILE *out, int status, const char *text)
{
	fprintf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset="
	    "\"utf-8\"><title>%d</title></head><body><h1>%d</h1><p>", status,
	    status);
	webpage_escape(out, text);
	fputs("</p><p><a href=\"/\">Overview</a></p></body></html>\n", out);
}

/* A Prometheus label value: backslash, double quote and newline escaped. */
static void
webpage_label(FILE *out, const char *s)
{
	if (strpbrk(s, "\\\"\n") == NULL) {
		fputs(s, out);
		return;
	}
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			fputc('\\', out);
		if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

static void
webpage_metric_head(FILE *out, const char *name, const char *type,
    const char *help)
{
	fprintf(out, "# HELP modbus2mail_%s %s\n# TYPE modbus2mail_%s %s\n",
	    name, help, name, type);
}

static void
webpage_metrics_alarms(FILE *out, const struct snapshot *s)
{
	const struct snapshot_alarm *a;
	size_t i, k;

	webpage_metric_head(out, "alarm_active", "gauge", "1 while the alarm "
	    "is active (ACTIVE or CLEARING).");
	for (i = 0; i < s->nalarm; i++) {
		a = &s->alarm[i];
		fputs("modbus2mail_alarm_active{device=\"", out);
		webpage_label(out, s->dev[a->device].name);
		fputs("\",rule=\"", out);
		webpage_label(out, a->name);
		fputs("\",severity=\"", out);
		fputs(config_severity_name(a->severity), out);
		fputs(a->active ? "\"} 1\n" : "\"} 0\n", out);
	}
	webpage_metric_head(out, "alarm_transitions_total", "counter",
	    "Alarm notifications since start, by kind.");
	for (i = 0; i < s->nalarm; i++)
		for (k = 0; k < SNAPSHOT_NKINDS; k++) {
			a = &s->alarm[i];
			if (a->transitions[k] == 0)
				continue;
			fputs("modbus2mail_alarm_transitions_total{device=\"",
			    out);
			webpage_label(out, s->dev[a->device].name);
			fputs("\",rule=\"", out);
			webpage_label(out, a->name);
			fprintf(out, "\",kind=\"%s\"} %llu\n", history_kind_name(
			    history_kind_of_alarm((enum alarm_kind)k)),
			    (unsigned long long)a->transitions[k]);
		}
}

static void
webpage_metrics_devices(FILE *out, const struct snapshot *s)
{
	const struct snapshot_device *d;
	unsigned long long cum;
	size_t i, b;

	webpage_metric_head(out, "device_up", "gauge", "1 while the device "
	    "answers.");
	for (i = 0; i < s->ndev; i++) {
		fputs("modbus2mail_device_up{device=\"", out);
		webpage_label(out, s->dev[i].name);
		fprintf(out, "\"} %d\n", s->dev[i].link_up);
	}
	webpage_metric_head(out, "poll_duration_seconds", "histogram",
	    "Time of one poll cycle (all requests of a device).");
	for (i = 0; i < s->ndev; i++) {
		d = &s->dev[i];
		for (b = 0, cum = 0; b <= SNAPSHOT_NBUCKETS; b++) {
			cum += d->poll.bucket[b];
			fputs("modbus2mail_poll_duration_seconds_bucket{device=\"",
			    out);
			webpage_label(out, d->name);
			if (b < SNAPSHOT_NBUCKETS)
				fprintf(out, "\",le=\"%g\"} %llu\n",
				    snapshot_buckets[b], cum);
			else
				fprintf(out, "\",le=\"+Inf\"} %llu\n", cum);
		}
		fputs("modbus2mail_poll_duration_seconds_sum{device=\"", out);
		webpage_label(out, d->name);
		fprintf(out, "\"} %.6f\nmodbus2mail_poll_duration_seconds_count"
		    "{device=\"", d->poll.seconds_sum);
		webpage_label(out, d->name);
		fprintf(out, "\"} %llu\n", (unsigned long long)d->poll.cycles);
	}
}

static void
webpage_metrics_requests(FILE *out, const struct snapshot *s)
{
	static const char *results[] = { "ok", "exception", "failed",
		"crc_error", "short_frame", "wrong_unit" };
	uint64_t v[6];
	size_t i, r;

	webpage_metric_head(out, "modbus_requests_total", "counter",
	    "Modbus requests by result (failed: timeout, bad frame, no "
	    "connection; crc_error, short_frame: RTU; wrong_unit: a reply "
	    "from another unit).");
	for (i = 0; i < s->ndev; i++) {
		v[0] = s->dev[i].poll.req_ok;
		v[1] = s->dev[i].poll.req_exception;
		v[2] = s->dev[i].poll.req_failed;
		v[3] = s->dev[i].poll.req_crc;
		v[4] = s->dev[i].poll.req_short;
		v[5] = s->dev[i].poll.req_wrong_unit;
		for (r = 0; r < 6; r++) {
			fputs("modbus2mail_modbus_requests_total{device=\"", out);
			webpage_label(out, s->dev[i].name);
			fprintf(out, "\",result=\"%s\"} %llu\n", results[r],
			    (unsigned long long)v[r]);
		}
	}
}

/* Process-wide counters as one metric with a result label. */
struct webpage_result {
	const char *result;
	enum counter_id id;
};

static const struct webpage_result mail_results[] = {
	{ "sent", COUNTER_MAIL_SENT },
	{ "deferred", COUNTER_MAIL_DEFERRED },
	{ "failed", COUNTER_MAIL_FAILED },
};

static const struct webpage_result session_results[] = {
	{ "accepted", COUNTER_SESSION_ACCEPTED },
	{ "refused", COUNTER_SESSION_REFUSED },
	{ "other", COUNTER_SESSION_OTHER },
};

static void
webpage_counters(FILE *out, const char *name, const char *help,
    const struct webpage_result *v, size_t n)
{
	size_t i;

	webpage_metric_head(out, name, "counter", help);
	for (i = 0; i < n; i++)
		fprintf(out, "modbus2mail_%s{result=\"%s\"} %llu\n", name,
		    v[i].result, (unsigned long long)counter_get(v[i].id));
}

static void
webpage_metrics_mail(FILE *out, const struct snapshot *s)
{
	webpage_metric_head(out, "queue_messages", "gauge", "Messages in the "
	    "spool by state.");
	fprintf(out, "modbus2mail_queue_messages{state=\"queued\"} %zu\n"
	    "modbus2mail_queue_messages{state=\"failed\"} %zu\n",
	    s->queue.queued, s->queue.failed);
	webpage_metric_head(out, "oldest_queued_seconds", "gauge", "Age of "
	    "the oldest queued message, 0 when the queue is empty.");
	fprintf(out, "modbus2mail_oldest_queued_seconds %lld\n",
	    s->queue.oldest == 0 || s->taken < s->queue.oldest ? 0LL :
	    (long long)(s->taken - s->queue.oldest));
	webpage_counters(out, "mail_total", "Delivery attempts by result.",
	    mail_results, 3);
	webpage_metric_head(out, "mail_path_ok", "gauge", "1 while sessions "
	    "with the provider work.");
	fprintf(out, "modbus2mail_mail_path_ok %d\n", !s->path_broken);
	webpage_counters(out, "listener_sessions_total", "Port-25 listener "
	    "sessions by result.", session_results, 3);
}

void
webpage_metrics(FILE *out, const struct snapshot *s)
{
	flockfile(out);		/* one lock for some 10,000 lines */
	webpage_metric_head(out, "build_info", "gauge", "Version of the "
	    "running daemon.");
	fprintf(out, "modbus2mail_build_info{version=\"%s\"} 1\n", M2M_VERSION);
	webpage_metric_head(out, "start_time_seconds", "gauge", "Start of the "
	    "daemon, seconds since the epoch.");
	fprintf(out, "modbus2mail_start_time_seconds %lld\n",
	    (long long)s->started);
	webpage_metrics_alarms(out, s);
	webpage_metrics_devices(out, s);
	webpage_metrics_requests(out, s);
	webpage_metrics_mail(out, s);
	webpage_metric_head(out, "history_dropped_total", "counter", "History "
	    "events lost (queue full, database unusable).");
	fprintf(out, "modbus2mail_history_dropped_total %llu\n",
	    (unsigned long long)counter_get(COUNTER_HISTORY_DROPPED));
	funlockfile(out);
}

int
webpage_healthz(FILE *out, const struct snapshot *s)
{
	int ok = s->threads_alive && !s->path_broken;
	size_t i, up = 0;

	for (i = 0; i < s->ndev; i++)
		up += s->dev[i].link_up;
	fprintf(out, "{\"status\":\"%s\",\"threads_alive\":%s,\"mail_path_ok\""
	    ":%s,\"devices_up\":%zu,\"devices\":%zu,\"active_alarms\":%zu,"
	    "\"queued\":%zu,\"failed\":%zu}\n", ok ? "ok" : "unhealthy",
	    s->threads_alive ? "true" : "false", s->path_broken ? "false" :
	    "true", up, s->ndev, snapshot_active(s), s->queue.queued,
	    s->queue.failed);
	return ok ? 200 : 503;
}
