/*
 * config.c - loads the YAML configuration with libyaml's document API so
 * that every node keeps its mark, validates it and reports every problem
 * as "FILE:LINE:COL: error: MESSAGE" before giving up.
 *
 * Each section is a table of keys (parser, field, default); cfg_top_keys
 * gives the order of work: recipients first (groups are named
 * everywhere), defaults, then devices before the rules that name them.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "modbus2mail/buf.h"
#include "modbus2mail/compose.h"
#include "modbus2mail/config.h"
#include "modbus2mail/log.h"
#include "modbus2mail/util.h"


/* One diagnostic, printed sorted by position once the file is read. */
struct diag {
	size_t line, col;	/* 1-based */
	size_t seq;		/* order of finding, for a stable sort */
	int error;		/* 0 = warning */
	char *text;		/* the whole "FILE:L:C: error: ..." line, owned */
};

struct ctx {
	const char *file;
	FILE *err;
	int nerr;
	struct diag *diags;	/* owned */
	size_t ndiag;
	yaml_node_t **link_pending; /* per device: node to blame when its
				 * link recipients come from its rules */
	yaml_document_t *doc;
	struct config *cfg;
	/* defaults: block, applied to rules */
	struct config_strlist def_to;
	int def_to_set;
	enum config_severity def_severity;
	int def_notify_clear;
	uint64_t def_repeat_ms;
	int def_per_state_subjects;
	yaml_node_t *link_to;	/* the device's link_alarm.to, while read */
	yaml_node_t *serial;	/* the device's serial:, while read */
	yaml_node_t *unit_id;	/* the device's unit_id:, while read */
	yaml_node_t *thr_node;	/* the rule's last threshold, while read */
};

/*
 * What most of 10,000 rules leave out is shared, not copied per rule (2
 * MB less at that size): the default templates and unit here, the
 * recipients as the configuration's default_to. config_free() knows them.
 */
static char cfg_shared_subject[] = CONFIG_DEFAULT_SUBJECT;
static char cfg_shared_body[] = CONFIG_DEFAULT_BODY;
static char cfg_shared_empty[] = "";

/*
 * Key tables. Each section is one table: the key, how its value is parsed,
 * where it is stored (offsetof in the section's struct) and its default.
 * The unknown-key suggestion reads the same table. A key with a parser
 * function (fn) is parsed by it; its kind then only says how the default
 * is stored. K_NODE keys are looked at by the section's own checks.
 */
enum cfg_kind {
	K_NODE, K_STR, K_BOOL, K_UINT, K_INT, K_MS, K_SIZE, K_DOUBLE,
	K_SEVERITY, K_STRLIST, K_ADDRLIST, K_TEMPLATE,
	K_SECTION		/* a top-level section: fn, in table order */
};

struct cfg_key {
	const char	*name;
	enum cfg_kind	 kind;
	size_t		 off;	/* offsetof() in the section's struct */
	double		 def;	/* default of a number, bool, duration, size */
	unsigned long	 max;	/* K_UINT, K_INT: largest value */
	void		(*fn)(struct ctx *, yaml_node_t *, void *,
			    const struct cfg_key *);
	size_t		 aux;	/* fn's second field (a has_* flag) */
};

#define KEY(n, k, st, f)		{ n, k, offsetof(st, f), 0, 0, NULL, 0 }
#define KEY_DEF(n, k, st, f, d)		{ n, k, offsetof(st, f), d, 0, NULL, 0 }
#define KEY_NUM(n, k, st, f, d, m)	{ n, k, offsetof(st, f), d, m, NULL, 0 }
#define KEY_FN(n, k, st, f, d, fn)	{ n, k, offsetof(st, f), d, 0, fn, 0 }
#define KEY_NODE(n)			{ n, K_NODE, 0, 0, 0, NULL, 0 }
#define KEY_SUB(n, fn)			{ n, K_NODE, 0, 0, 0, fn, 0 }
#define KEY_SECTION(n, fn)		{ n, K_SECTION, 0, 0, 0, fn, 0 }
#define KEY_END				{ NULL, K_NODE, 0, 0, 0, NULL, 0 }
#define NKEYS(t)			(sizeof(t) / sizeof((t)[0]) - 1)
#define FIELD(base, k, type)		((type *)(void *)((char *)(base) + (k)->off))

static void	cfg_diag(struct ctx *, const yaml_node_t *, int, const char *,
		    va_list) __attribute__((format(printf, 4, 0)));
static void	cfg_error(struct ctx *, const yaml_node_t *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static void	cfg_warn(struct ctx *, const yaml_node_t *, const char *, ...)
		    __attribute__((format(printf, 3, 4)));
static int	cfg_diag_cmp(const void *, const void *);
static void	cfg_diag_flush(struct ctx *, struct config *);
static int	cfg_yaml_hint(const char *, size_t, const yaml_parser_t *,
		    yaml_mark_t *, char *, size_t);
static void	cfg_yaml_error(const char *, const char *, size_t,
		    const yaml_parser_t *, FILE *);
static int	cfg_address(struct ctx *, yaml_node_t *, enum config_source,
		    uint16_t *);
static void	cfg_link_recipients(struct ctx *);
static void	cfg_serial_line(struct ctx *, const struct config_device *);
static void	cfg_unit_twin(struct ctx *, yaml_node_t *,
		    const struct config_device *);
static void	strlist_add_unique(struct config_strlist *, const char *);
static yaml_node_t *cfg_node(struct ctx *, int);
static const char *cfg_scalar(struct ctx *, yaml_node_t *, const char *);
static int	cfg_is_mapping(struct ctx *, yaml_node_t *);
static void	cfg_unknown_key(struct ctx *, yaml_node_t *,
		    const struct cfg_key *);
static int	cfg_str(struct ctx *, yaml_node_t *, char **);
static int	cfg_bool(struct ctx *, yaml_node_t *, int *);
static int	cfg_uint(struct ctx *, yaml_node_t *, unsigned long, unsigned long *);
static int	cfg_double(struct ctx *, yaml_node_t *, double *);
static int	cfg_duration(struct ctx *, yaml_node_t *, uint64_t *);
static int	cfg_size(struct ctx *, yaml_node_t *, size_t *);
static int	cfg_severity(struct ctx *, yaml_node_t *, enum config_severity *);
static void	cfg_enum(struct ctx *, yaml_node_t *, const char *const *,
		    const char *, const char *, const char *, int *);
static void	cfg_strlist(struct ctx *, yaml_node_t *, struct config_strlist *);
static void	cfg_addrlist(struct ctx *, yaml_node_t *, struct config_strlist *);
static void	cfg_template(struct ctx *, yaml_node_t *, char **);
static yaml_node_item_t *cfg_items(struct ctx *, yaml_node_t *, const char *,
		    size_t *);
static void	cfg_password(struct ctx *, yaml_node_t *, const char *,
		    char **);
static void	strlist_add(struct config_strlist *, const char *);
static void	strlist_copy(struct config_strlist *, const struct config_strlist *);
static void	strlist_free(struct config_strlist *);
static size_t	edit_distance(const char *, const char *);

/* The cursor's name carries the line so that loops nest without shadowing. */
#define FOREACH_PAIR(ctx, map, k, v)                                           \
	FOREACH_PAIR_AT(ctx, map, k, v, M2M_CAT(pair_, __LINE__))
#define FOREACH_PAIR_AT(ctx, map, k, v, p)                                     \
	for (yaml_node_pair_t *p = (map)->data.mapping.pairs.start;            \
	    p < (map)->data.mapping.pairs.top &&                               \
	    ((k) = cfg_node(ctx, p->key)) != NULL &&                           \
	    ((v) = cfg_node(ctx, p->value)) != NULL; p++)
#define M2M_CAT(a, b)	M2M_CAT_(a, b)
#define M2M_CAT_(a, b)	a##b
#define KEY_IS(k, s) (strcmp((const char *)(k)->data.scalar.value, (s)) == 0)

static void
cfg_diag(struct ctx *c, const yaml_node_t *n, int error, const char *fmt,
    va_list ap)
{
	struct diag *d;
	char *msg;

	if (vasprintf(&msg, fmt, ap) == -1)
		fatal("config: vasprintf");
	c->diags = xreallocarray(c->diags, c->ndiag + 1, sizeof(*c->diags));
	d = &c->diags[c->ndiag];
	d->line = n ? n->start_mark.line + 1 : 1;
	d->col = n ? n->start_mark.column + 1 : 1;
	d->seq = c->ndiag++;
	d->error = error;
	d->text = xasprintf("%s:%zu:%zu: %s: %s", c->file, d->line, d->col,
	    error ? "error" : "warning", msg);
	free(msg);
	c->nerr += error;
}

static void
cfg_error(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_diag(c, n, 1, fmt, ap);
	va_end(ap);
}

static void
cfg_warn(struct ctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfg_diag(c, n, 0, fmt, ap);
	va_end(ap);
}

static int
cfg_diag_cmp(const void *a, const void *b)
{
	const struct diag *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * In file order: with errors, everything goes to errout; a valid file
 * keeps its warnings in cfg (check prints them, the daemon logs them).
 */
static void
cfg_diag_flush(struct ctx *c, struct config *cfg)
{
	size_t i;

	if (c->ndiag > 1)	/* qsort(NULL, 0) is undefined */
		qsort(c->diags, c->ndiag, sizeof(*c->diags), cfg_diag_cmp);
	for (i = 0; i < c->ndiag; i++) {
		if (c->nerr > 0)
			fprintf(c->err, "%s\n", c->diags[i].text);
		else
			strlist_add(&cfg->warnings, c->diags[i].text);
		free(c->diags[i].text);
	}
	free(c->diags);
	c->diags = NULL;
	c->ndiag = 0;
}

/*
 * What a person should do about libyaml's problem, into hint; 0 when there
 * is one, -1 when libyaml's own words are all there is. *at is where to
 * point: an unclosed quote is reported where it opened, not at the end.
 */
static int
cfg_yaml_hint(const char *buf, size_t len, const yaml_parser_t *p,
    yaml_mark_t *at, char *hint, size_t hintlen)
{
	static const char *const indent[] = {
		"mapping values are not allowed",
		"did not find expected key",
		"could not find expected ':'",
		"did not find expected '-' indicator",
	};
	const char *line, *s;
	size_t i;

	*at = p->problem_mark;
	if (p->problem == NULL)
		return -1;
	if (p->context != NULL && strstr(p->context, "quoted scalar") &&
	    strstr(p->problem, "end of stream")) {
		*at = p->context_mark;
		snprintf(hint, hintlen, "unclosed quote: the quote opened on "
		    "line %zu is never closed", at->line + 1);
		return 0;
	}
	/* the problem line's indentation (the mark may sit past it) */
	line = buf + (p->problem_mark.index < len ? p->problem_mark.index : len);
	while (line > buf && line[-1] != '\n')
		line--;
	for (s = line; s < buf + len && (*s == ' ' || *s == '\t'); s++)
		if (*s == '\t') {
			strlcpy(hint, "tabs are not allowed for indentation; "
			    "use spaces", hintlen);
			return 0;
		}
	for (i = 0; i < sizeof(indent) / sizeof(indent[0]); i++)
		if (strstr(p->problem, indent[i]) != NULL) {
			strlcpy(hint, "check the indentation of this line and "
			    "the line above, and the space after each ':'",
			    hintlen);
			return 0;
		}
	return -1;
}

/* "FILE:L:C: error: HINT (libyaml's words)", or only its words. */
static void
cfg_yaml_error(const char *name, const char *buf, size_t len,
    const yaml_parser_t *p, FILE *errout)
{
	const char *problem = p->problem ? p->problem : "YAML syntax error";
	char hint[128];
	yaml_mark_t at;

	if (cfg_yaml_hint(buf, len, p, &at, hint, sizeof(hint)) == 0)
		fprintf(errout, "%s:%zu:%zu: error: %s (%s)\n", name,
		    at.line + 1, at.column + 1, hint, problem);
	else
		fprintf(errout, "%s:%zu:%zu: error: %s%s%s\n", name,
		    at.line + 1, at.column + 1, problem, p->context ? " " : "",
		    p->context ? p->context : "");
}

static yaml_node_t *
cfg_node(struct ctx *c, int id)
{
	return yaml_document_get_node(c->doc, id);
}

static int
cfg_is_mapping(struct ctx *c, yaml_node_t *n)
{
	if (n->type == YAML_MAPPING_NODE) {
		yaml_node_pair_t *p, *q;
		yaml_node_t *k, *v, *k2;

		/* keys must be scalars for KEY_IS */
		FOREACH_PAIR(c, n, k, v)
			if (k->type != YAML_SCALAR_NODE) {
				cfg_error(c, k, "expected a plain key");
				return 0;
			}
		/* libyaml keeps both; YAML says a key appears once */
		for (p = n->data.mapping.pairs.start;
		    p < n->data.mapping.pairs.top; p++)
			for (q = n->data.mapping.pairs.start; q < p; q++) {
				k = cfg_node(c, p->key);
				k2 = cfg_node(c, q->key);
				if (k != NULL && k2 != NULL && strcmp(
				    (const char *)k->data.scalar.value,
				    (const char *)k2->data.scalar.value) == 0) {
					cfg_error(c, k, "duplicate key '%s'",
					    (const char *)k->data.scalar.value);
					break;
				}
			}
		return 1;
	}
	cfg_error(c, n, "expected a mapping");
	return 0;
}

/* The scalar's text, or NULL after an error naming what was expected. */
static const char *
cfg_scalar(struct ctx *c, yaml_node_t *n, const char *what)
{
	if (n->type != YAML_SCALAR_NODE) {
		cfg_error(c, n, "expected %s", what);
		return NULL;
	}
	return (const char *)n->data.scalar.value;
}

static size_t
edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, prev, tmp;
	size_t row[64];

	if (lb >= 64 || la >= 64)
		return 99;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = a[i - 1] == b[j - 1] ? prev :
			    1 + (prev < row[j] ? (prev < row[j - 1] ? prev :
			    row[j - 1]) : (row[j] < row[j - 1] ? row[j] :
			    row[j - 1]));
			prev = tmp;
		}
	}
	return row[lb];
}

static void
cfg_unknown_key(struct ctx *c, yaml_node_t *k, const struct cfg_key *keys)
{
	const char *key = (const char *)k->data.scalar.value, *best = NULL;
	size_t d, bestd = 3;

	for (; keys->name != NULL; keys++)
		if ((d = edit_distance(key, keys->name)) < bestd) {
			bestd = d;
			best = keys->name;
		}
	if (best != NULL)
		cfg_error(c, k, "unknown key '%s' (did you mean '%s'?)", key,
		    best);
	else
		cfg_error(c, k, "unknown key '%s'", key);
}

static int
cfg_str(struct ctx *c, yaml_node_t *n, char **out)
{
	const char *s;

	if ((s = cfg_scalar(c, n, "a string")) == NULL)
		return -1;
	free(*out);
	*out = xstrdup(s);
	return 0;
}

static int
cfg_bool(struct ctx *c, yaml_node_t *n, int *out)
{
	const char *s;

	if ((s = cfg_scalar(c, n, "true or false")) == NULL)
		return -1;
	if (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 ||
	    strcmp(s, "on") == 0)
		*out = 1;
	else if (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 ||
	    strcmp(s, "off") == 0)
		*out = 0;
	else {
		cfg_error(c, n, "expected true or false, not '%s'", s);
		return -1;
	}
	return 0;
}

static int
cfg_uint(struct ctx *c, yaml_node_t *n, unsigned long max, unsigned long *out)
{
	const char *s;

	if ((s = cfg_scalar(c, n, "a number")) == NULL)
		return -1;
	if (util_parse_ulong(s, max, out) == -1) {
		cfg_error(c, n, "expected a whole number from 0 to %lu, not "
		    "'%s'", max, s);
		return -1;
	}
	return 0;
}

/*
 * A Modbus address, 0-based as on the wire. PLC tools and Controllino's
 * library often number registers from 1 with the table's digit in front
 * (holding register 0 is "40001"): such a number loads, with a warning.
 */
static int
cfg_address(struct ctx *c, yaml_node_t *n, enum config_source src,
    uint16_t *out)
{
	static const unsigned long ref[] = { 0, 10001, 40001, 30001 };
	unsigned long ul;

	if (cfg_uint(c, n, 65535, &ul) == -1)
		return -1;
	if (ref[src] != 0 && ul >= ref[src] && ul <= ref[src] + 9998)
		cfg_warn(c, n, "%s %lu looks like a 1-based %luxxxx reference; "
		    "the 0-based address is probably %lu",
		    config_source_name(src), ul, ref[src] / 10000,
		    ul - ref[src]);
	*out = (uint16_t)ul;
	return 0;
}

static int
cfg_double(struct ctx *c, yaml_node_t *n, double *out)
{
	const char *s;

	if ((s = cfg_scalar(c, n, "a number")) == NULL)
		return -1;
	if (util_parse_double(s, out) == -1) {
		cfg_error(c, n, "expected a number, not '%s'", s);
		return -1;
	}
	return 0;
}

static int
cfg_duration(struct ctx *c, yaml_node_t *n, uint64_t *out)
{
	const char *s;

	if ((s = cfg_scalar(c, n, "a duration")) == NULL)
		return -1;
	if (config_parse_duration(s, out) == -1) {
		cfg_error(c, n, "bad duration '%s' (use e.g. 250ms, 10s, 5m, "
		    "2h, 3d)", s);
		return -1;
	}
	return 0;
}

static int
cfg_size(struct ctx *c, yaml_node_t *n, size_t *out)
{
	const char *s;

	if ((s = cfg_scalar(c, n, "a size")) == NULL)
		return -1;
	if (config_parse_size(s, out) == -1) {
		cfg_error(c, n, "bad size '%s' (use e.g. 512, 64KiB, 10MiB)",
		    s);
		return -1;
	}
	return 0;
}

static int
cfg_severity(struct ctx *c, yaml_node_t *n, enum config_severity *out)
{
	const char *s;

	if ((s = cfg_scalar(c, n, "a severity")) == NULL)
		return -1;
	if (strcmp(s, "info") == 0)
		*out = SEVERITY_INFO;
	else if (strcmp(s, "warning") == 0)
		*out = SEVERITY_WARNING;
	else if (strcmp(s, "critical") == 0)
		*out = SEVERITY_CRITICAL;
	else {
		cfg_error(c, n, "bad severity '%s' (info, warning or "
		    "critical)", s);
		return -1;
	}
	return 0;
}

static void
strlist_add(struct config_strlist *l, const char *s)
{
	if (util_strv_push(&l->v, &l->n, s) == -1)
		fatal("config");
}

/* Adds s unless the list has its address already ("Name <a@b>" = a@b). */
static void
strlist_add_unique(struct config_strlist *l, const char *s)
{
	if (config_address_add(&l->v, &l->n, s, 0) == -1 && errno == ENOMEM)
		fatal("config");
}

static void
strlist_copy(struct config_strlist *dst, const struct config_strlist *src)
{
	size_t i;

	for (i = 0; i < src->n; i++)
		strlist_add(dst, src->v[i]);
}

static void
strlist_free(struct config_strlist *l)
{
	util_strv_free(l->v, l->n);
	l->v = NULL;
	l->n = 0;
}

/* A sequence of strings; a single scalar counts as a list of one. */
static void
cfg_strlist(struct ctx *c, yaml_node_t *n, struct config_strlist *out)
{
	yaml_node_item_t *it;
	const char *s;

	strlist_free(out);
	if (n->type == YAML_SCALAR_NODE) {
		strlist_add(out, (const char *)n->data.scalar.value);
		return;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_error(c, n, "expected a list");
		return;
	}
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	    it++)
		if ((s = cfg_scalar(c, cfg_node(c, *it), "a string")) != NULL)
			strlist_add(out, s);
}

/* Addresses and recipient group names, groups expanded. */
static void
cfg_addrlist(struct ctx *c, yaml_node_t *n, struct config_strlist *out)
{
	yaml_node_item_t *it;
	yaml_node_t *item;
	char bare[CONFIG_ADDR_MAX];
	const char *s;
	size_t g, count;
	int found, nerr = c->nerr;

	strlist_free(out);
	if (n->type == YAML_SCALAR_NODE) {
		count = 1;
		it = NULL;
	} else if (n->type == YAML_SEQUENCE_NODE) {
		it = n->data.sequence.items.start;
		count = (size_t)(n->data.sequence.items.top - it);
	} else {
		cfg_error(c, n, "expected a list of addresses or recipient "
		    "groups");
		return;
	}
	for (; count > 0; count--) {
		item = it ? cfg_node(c, *it++) : n;
		if ((s = cfg_scalar(c, item, "an address")) == NULL)
			continue;
		found = 0;
		for (g = 0; g < c->cfg->ngroups && !found; g++)
			if (strcmp(c->cfg->groups[g].name, s) == 0) {
				strlist_copy(out, &c->cfg->groups[g].addrs);
				found = 1;
			}
		if (found)
			continue;
		if (strchr(s, '@') == NULL)
			cfg_error(c, item, "unknown recipient group '%s'", s);
		else if (config_parse_address(s, bare, sizeof(bare)) == -1)
			cfg_error(c, item, "bad address '%s'", s);
		else
			strlist_add(out, s);
	}
	/* only when no entry was reported already */
	if (out->n == 0 && c->nerr == nerr)
		cfg_error(c, n, "empty recipient list");
}

/* Templates: every {field} must be known; "{{" is a literal brace. */
static void
cfg_template(struct ctx *c, yaml_node_t *n, char **out)
{
	const char *s, *p, *end;
	const char *const *f;
	size_t len;

	if (cfg_str(c, n, out) == -1)
		return;
	for (s = *out; (p = strchr(s, '{')) != NULL; s = end + 1) {
		if (p[1] == '{') {
			end = p + 1;
			continue;
		}
		if ((end = strchr(p, '}')) == NULL) {
			cfg_error(c, n, "unclosed '{' in template");
			return;
		}
		len = (size_t)(end - p - 1);
		for (f = compose_fields; *f != NULL; f++)
			if (strlen(*f) == len && strncmp(*f, p + 1, len) == 0)
				break;
		if (*f == NULL) {
			struct buf known = BUF_INIT;

			for (f = compose_fields; *f != NULL; f++)
				buf_printf(&known, "%s%s", f == compose_fields ?
				    "" : " ", *f);
			cfg_error(c, n, "unknown template field '{%.*s}' "
			    "(known: %s)", (int)len, p + 1,
			    known.p != NULL ? known.p : "");
			buf_free(&known);
		}
	}
}

static void
cfg_key_defaults(const struct cfg_key *keys, void *base)
{
	for (; keys->name != NULL; keys++) {
		switch (keys->kind) {
		case K_BOOL:
		case K_INT:
			*FIELD(base, keys, int) = (int)keys->def;
			break;
		case K_UINT:
			*FIELD(base, keys, unsigned) = (unsigned)keys->def;
			break;
		case K_MS:
			*FIELD(base, keys, uint64_t) = (uint64_t)keys->def;
			break;
		case K_SIZE:
			*FIELD(base, keys, size_t) = (size_t)keys->def;
			break;
		case K_DOUBLE:
			*FIELD(base, keys, double) = keys->def;
			break;
		case K_SEVERITY:
			*FIELD(base, keys, enum config_severity) =
			    (enum config_severity)keys->def;
			break;
		default:
			break;
		}
	}
}

static void
cfg_key_value(struct ctx *c, yaml_node_t *v, const struct cfg_key *k,
    void *base)
{
	unsigned long ul;

	if (k->fn != NULL && k->kind != K_SECTION) {
		k->fn(c, v, base, k);
		return;
	}
	switch (k->kind) {
	case K_NODE:
	case K_SECTION:
		break;
	case K_STR:
		cfg_str(c, v, FIELD(base, k, char *));
		break;
	case K_BOOL:
		cfg_bool(c, v, FIELD(base, k, int));
		break;
	case K_UINT:
		if (cfg_uint(c, v, k->max, &ul) == 0)
			*FIELD(base, k, unsigned) = (unsigned)ul;
		break;
	case K_INT:
		if (cfg_uint(c, v, k->max, &ul) == 0)
			*FIELD(base, k, int) = (int)ul;
		break;
	case K_MS:
		cfg_duration(c, v, FIELD(base, k, uint64_t));
		break;
	case K_SIZE:
		cfg_size(c, v, FIELD(base, k, size_t));
		break;
	case K_DOUBLE:
		cfg_double(c, v, FIELD(base, k, double));
		break;
	case K_SEVERITY:
		cfg_severity(c, v, FIELD(base, k, enum config_severity));
		break;
	case K_STRLIST:
		cfg_strlist(c, v, FIELD(base, k, struct config_strlist));
		break;
	case K_ADDRLIST:
		cfg_addrlist(c, v, FIELD(base, k, struct config_strlist));
		break;
	case K_TEMPLATE:
		cfg_template(c, v, FIELD(base, k, char *));
		break;
	}
}

/*
 * Parses mapping n against keys into base; seen (NKEYS entries, or NULL)
 * gets the value node of every key present. 0 when n is no mapping.
 */
static int
cfg_section(struct ctx *c, yaml_node_t *n, const struct cfg_key *keys,
    void *base, yaml_node_t **seen)
{
	yaml_node_t *k, *v;
	size_t i;

	if (!cfg_is_mapping(c, n))
		return 0;
	FOREACH_PAIR(c, n, k, v) {
		for (i = 0; keys[i].name != NULL && !KEY_IS(k, keys[i].name);
		    i++)
			;
		if (keys[i].name == NULL) {
			cfg_unknown_key(c, k, keys);
			continue;
		}
		if (seen != NULL)
			seen[i] = v;
		cfg_key_value(c, v, &keys[i], base);
	}
	return 1;
}

/* The value node of key name in a cfg_section's seen array, or NULL. */
static yaml_node_t *
cfg_seen(const struct cfg_key *keys, yaml_node_t *const *seen,
    const char *name)
{
	size_t i;

	for (i = 0; keys[i].name != NULL; i++)
		if (strcmp(keys[i].name, name) == 0)
			return seen[i];
	return NULL;
}

static const struct cfg_key cfg_retry_keys[] = {
	KEY_DEF("initial", K_MS, struct config_retry, initial_ms, 30000),
	KEY_DEF("max", K_MS, struct config_retry, max_ms, 30 * 60000),
	KEY_DEF("give_up_after", K_MS, struct config_retry, give_up_ms,
	    3 * 86400000.0),
	KEY_END
};

static void
cfg_k_retry(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	struct config_smtp *s = base;

	cfg_section(c, v, cfg_retry_keys, &s->retry, NULL);
}

static void
cfg_k_tls(struct ctx *c, yaml_node_t *v, void *base, const struct cfg_key *k)
{
	const char *t = cfg_scalar(c, v, "required or none");

	if (t != NULL && strcmp(t, "none") == 0)
		*FIELD(base, k, int) = 1;
	else if (t != NULL && strcmp(t, "required") == 0)
		*FIELD(base, k, int) = 0;
	else if (t != NULL)
		cfg_error(c, v, "bad tls '%s' (required or none)", t);
}

static void
cfg_k_address(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	char **s = FIELD(base, k, char *), bare[CONFIG_ADDR_MAX];

	if (cfg_str(c, v, s) == 0 &&
	    config_parse_address(*s, bare, sizeof(bare)) == -1)
		cfg_error(c, v, "bad address '%s'", *s);
}

static const struct cfg_key cfg_smtp_keys[] = {
	KEY("url", K_STR, struct config_smtp, url),
	KEY("fallback_urls", K_STRLIST, struct config_smtp, fallback_urls),
	KEY_FN("tls", K_BOOL, struct config_smtp, tls_none, 0, cfg_k_tls),
	KEY_DEF("verify_peer", K_BOOL, struct config_smtp, verify_peer, 1),
	KEY("ca_file", K_STR, struct config_smtp, ca_file),
	KEY("username", K_STR, struct config_smtp, username),
	KEY_NODE("password_file"),
	KEY("from", K_STR, struct config_smtp, from),
	KEY("source_address", K_STR, struct config_smtp, source_address),
	KEY_DEF("timeout", K_MS, struct config_smtp, timeout_ms, 30000),
	KEY_SUB("retry", cfg_k_retry),
	KEY_FN("failure_notice", K_STR, struct config_smtp, failure_notice, 0,
	    cfg_k_address),
	KEY_DEF("stuck_after", K_MS, struct config_smtp, stuck_after_ms,
	    10 * 60000),
	KEY_END
};

static void
cfg_smtp(struct ctx *c, yaml_node_t *n, void *base,
    const struct cfg_key *section)
{
	struct config_smtp *s = &c->cfg->smtp;
	yaml_node_t *seen[NKEYS(cfg_smtp_keys)] = { NULL };
	yaml_node_t *pw;
	char bare[CONFIG_ADDR_MAX];
	size_t i;

	if (!cfg_section(c, n, cfg_smtp_keys, s, seen))
		return;
	s->present = 1;
	pw = cfg_seen(cfg_smtp_keys, seen, "password_file");
	if (s->url == NULL)
		cfg_error(c, n, "smtp: missing 'url'");
	else if ((strncmp(s->url, "smtp://", 7) != 0 &&
	    strncmp(s->url, "smtps://", 8) != 0) || strlen(s->url) < 9 ||
	    strchr(s->url, ' ') != NULL)
		cfg_error(c, cfg_seen(cfg_smtp_keys, seen, "url"), "bad url "
		    "'%s' (smtp://host:587 for STARTTLS or smtps://host:465)",
		    s->url);
	for (i = 0; i < s->fallback_urls.n; i++)
		if (strncmp(s->fallback_urls.v[i], "smtp://", 7) != 0 &&
		    strncmp(s->fallback_urls.v[i], "smtps://", 8) != 0)
			cfg_error(c, n, "bad fallback url '%s'",
			    s->fallback_urls.v[i]);
	if (s->from == NULL)
		cfg_error(c, n, "smtp: missing 'from'");
	else if (config_parse_address(s->from, bare, sizeof(bare)) == -1)
		cfg_error(c, cfg_seen(cfg_smtp_keys, seen, "from"),
		    "bad address '%s'", s->from);
	else
		s->from_addr = xstrdup(bare);
	if (s->username != NULL && pw == NULL && getenv("CREDENTIALS_DIRECTORY")
	    == NULL)
		cfg_error(c, n, "smtp: 'username' needs 'password_file'");
	cfg_password(c, pw, "smtp-password", &s->password_file);
	if (s->retry.initial_ms == 0 || s->retry.max_ms < s->retry.initial_ms)
		cfg_error(c, n, "smtp: retry needs 0 < initial <= max");
}

static void
cfg_k_listen(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	struct config_strlist *l = FIELD(base, k, struct config_strlist);
	char host[256];
	unsigned port;
	size_t i;

	cfg_strlist(c, v, l);
	for (i = 0; i < l->n; i++)
		if (netaddr_split_hostport(l->v[i], host, sizeof(host), &port,
		    25) == -1)
			cfg_error(c, v, "bad listen address '%s' (use "
			    "host:port)", l->v[i]);
}

static const struct cfg_key cfg_listener_tls_keys[] = {
	KEY("cert", K_STR, struct config_listener, tls_cert),
	KEY("key", K_STR, struct config_listener, tls_key),
	KEY_END
};

/* tls: {cert, key} of a section; keys[0] and keys[1] are the two files. */
static void
cfg_tls_files(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *keys, const char *section)
{
	if (cfg_section(c, v, keys, base, NULL) &&
	    (*FIELD(base, &keys[0], char *) == NULL) !=
	    (*FIELD(base, &keys[1], char *) == NULL))
		cfg_error(c, v, "%s tls needs both 'cert' and 'key'", section);
}

static void
cfg_k_listener_tls(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	cfg_tls_files(c, v, base, cfg_listener_tls_keys, "listener");
}

static const struct cfg_key cfg_listener_keys[] = {
	KEY_FN("listen", K_STRLIST, struct config_listener, listen, 0,
	    cfg_k_listen),
	KEY_NODE("allow"),
	KEY("recipient_domains", K_STRLIST, struct config_listener,
	    recipient_domains),
	KEY_DEF("max_message_size", K_SIZE, struct config_listener,
	    max_message_size, 10 * 1024 * 1024),
	KEY_NUM("max_recipients", K_UINT, struct config_listener,
	    max_recipients, 50, 100000),
	KEY_NUM("max_clients", K_UINT, struct config_listener, max_clients,
	    32, 10000),
	KEY_DEF("timeout", K_MS, struct config_listener, timeout_ms,
	    5 * 60000),
	KEY("users_file", K_STR, struct config_listener, users_file),
	KEY_DEF("rewrite_from", K_BOOL, struct config_listener, rewrite_from,
	    1),
	KEY_SUB("tls", cfg_k_listener_tls),
	KEY_END
};

/*
 * One allow entry into *v; with relay (the listener), beyond private
 * networks only with recipient_domains.
 */
static void
cfg_allow_item(struct ctx *c, yaml_node_t *n, struct netaddr_cidr *v,
    size_t *nv, int relay)
{
	struct netaddr_cidr *a = &v[*nv];
	const char *s;

	if ((s = cfg_scalar(c, n, "a CIDR")) == NULL)
		return;
	if (netaddr_parse_cidr(s, a) == -1)
		cfg_error(c, n, "bad CIDR '%s' (use e.g. 192.168.1.0/24 or "
		    "::1/128)", s);
	else if (relay && c->cfg->listener.recipient_domains.n == 0 &&
	    !netaddr_cidr_private(a))
		cfg_error(c, n, "allow '%s' reaches public addresses: without "
		    "'recipient_domains' the listener would be an open relay "
		    "(name the domains mail may go to, or allow only loopback, "
		    "private, RFC 6598, link-local or ULA ranges)", s);
	else
		(*nv)++;
}

/* An allow list (one CIDR or a list of them) into *v, *nv. */
static void
cfg_allow(struct ctx *c, yaml_node_t *n, struct netaddr_cidr **v, size_t *nv,
    int relay)
{
	yaml_node_item_t *it;

	/* No allow list: only this host (never an open relay). */
	if (n == NULL) {
		*v = xcalloc(2, sizeof(**v));
		netaddr_parse_cidr("127.0.0.0/8", &(*v)[(*nv)++]);
		netaddr_parse_cidr("::1/128", &(*v)[(*nv)++]);
		return;
	}
	if (n->type == YAML_SCALAR_NODE) {
		*v = xcalloc(1, sizeof(**v));
		cfg_allow_item(c, n, *v, nv, relay);
		return;
	}
	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_error(c, n, "expected a list");
		return;
	}
	*v = xcalloc((size_t)(n->data.sequence.items.top -
	    n->data.sequence.items.start) + 1, sizeof(**v));
	for (it = n->data.sequence.items.start; it < n->data.sequence.items.top;
	    it++)
		cfg_allow_item(c, cfg_node(c, *it), *v, nv, relay);
}

static void
cfg_listener(struct ctx *c, yaml_node_t *n, void *base,
    const struct cfg_key *section)
{
	struct config_listener *l = &c->cfg->listener;
	yaml_node_t *seen[NKEYS(cfg_listener_keys)] = { NULL };

	if (!cfg_section(c, n, cfg_listener_keys, l, seen))
		return;
	l->enabled = 1;
	if (l->listen.n == 0)
		cfg_error(c, n, "listener: missing 'listen'");
	cfg_allow(c, cfg_seen(cfg_listener_keys, seen, "allow"), &l->allow,
	    &l->nallow, 1);
	if (l->users_file != NULL && l->tls_cert == NULL)
		cfg_error(c, n, "listener: users_file needs tls (AUTH is only "
		    "offered after STARTTLS)");
}


static const struct cfg_key cfg_http_tls_keys[] = {
	KEY("cert", K_STR, struct config_http, tls_cert),
	KEY("key", K_STR, struct config_http, tls_key),
	KEY_END
};

static void
cfg_k_http_tls(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	cfg_tls_files(c, v, base, cfg_http_tls_keys, "http");
}

static const struct cfg_key cfg_http_keys[] = {
	KEY_FN("listen", K_STRLIST, struct config_http, listen, 0,
	    cfg_k_listen),
	KEY_NODE("allow"),
	KEY("users_file", K_STR, struct config_http, users_file),
	KEY_SUB("tls", cfg_k_http_tls),
	KEY_END
};

static void
cfg_http(struct ctx *c, yaml_node_t *n, void *base,
    const struct cfg_key *section)
{
	struct config_http *h = &c->cfg->http;
	yaml_node_t *seen[NKEYS(cfg_http_keys)] = { NULL };
	size_t i;

	if (!cfg_section(c, n, cfg_http_keys, h, seen))
		return;
	h->enabled = 1;
	if (h->listen.n == 0)
		cfg_error(c, n, "http: missing 'listen'");
	for (i = 0; i < h->listen.n; i++)
		if (strchr(h->listen.v[i], ':') == NULL)
			cfg_error(c, cfg_seen(cfg_http_keys, seen, "listen"),
			    "http: listen '%s' needs a port (e.g. "
			    "127.0.0.1:8025)", h->listen.v[i]);
	cfg_allow(c, cfg_seen(cfg_http_keys, seen, "allow"), &h->allow,
	    &h->nallow, 0);
}

static const struct cfg_key cfg_history_keys[] = {
	KEY_DEF("keep", K_MS, struct config_history, keep_ms,
	    90 * 86400000.0),
	KEY_END
};

/* `history: false` turns it off; `history: {keep: 30d}` sets retention. */
static void
cfg_history(struct ctx *c, yaml_node_t *n, void *base,
    const struct cfg_key *section)
{
	struct config_history *h = &c->cfg->history;

	if (n->type == YAML_SCALAR_NODE) {
		cfg_bool(c, n, &h->enabled);
		return;
	}
	if (cfg_section(c, n, cfg_history_keys, h, NULL) && h->keep_ms <
	    3600000)
		cfg_error(c, n, "history: keep must be at least 1h");
}

/* password_file n into *file; the systemd credential cred wins. */
static void
cfg_password(struct ctx *c, yaml_node_t *n, const char *cred, char **file)
{
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	struct stat st;
	char *path;

	/* systemd's LoadCredential= wins over the file named here. */
	if (creds != NULL && *creds != '\0') {
		path = xasprintf("%s/%s", creds, cred);
		/* an empty credential (unit installed, secret not set) is skipped */
		if (access(path, R_OK) == 0 && stat(path, &st) == 0 &&
		    st.st_size > 0) {
			free(*file);
			*file = path;
			return;
		}
		free(path);
	}
	if (n == NULL)
		return;
	if (cfg_str(c, n, file) == -1)
		return;
	if (stat(*file, &st) == -1)
		cfg_error(c, n, "cannot read password file %s: %s", *file,
		    strerror(errno));
	else if (st.st_mode & 077)
		cfg_error(c, n, "password file %s is readable by group or "
		    "others (chmod 600 it)", *file);
}

static const struct cfg_key cfg_imap_keys[] = {
	KEY("url", K_STR, struct config_imap, url),
	KEY("username", K_STR, struct config_imap, username),
	KEY_NODE("password_file"),
	KEY_DEF("verify_peer", K_BOOL, struct config_imap, verify_peer, 1),
	KEY("ca_file", K_STR, struct config_imap, ca_file),
	KEY_DEF("poll_interval", K_MS, struct config_imap, poll_interval_ms,
	    30000),
	KEY_DEF("timeout", K_MS, struct config_imap, timeout_ms, 30000),
	KEY("done_folder", K_STR, struct config_imap, done_folder),
	KEY_DEF("require_authenticated_sender", K_BOOL, struct config_imap,
	    require_auth_sender, 1),
	KEY_FN("reply_to", K_STR, struct config_imap, reply_to, 0,
	    cfg_k_address),
	KEY_END
};

static void
cfg_imap(struct ctx *c, yaml_node_t *n, void *base,
    const struct cfg_key *section)
{
	struct config_imap *m = &c->cfg->imap;
	yaml_node_t *seen[NKEYS(cfg_imap_keys)] = { NULL };
	const char *p;

	if (!cfg_section(c, n, cfg_imap_keys, m, seen))
		return;
	m->enabled = 1;
	if (m->url == NULL)
		cfg_error(c, n, "imap: missing 'url'");
	else if ((strncmp(m->url, "imap://", 7) != 0 &&
	    strncmp(m->url, "imaps://", 8) != 0) || strlen(m->url) < 9 ||
	    strpbrk(m->url, " \t\r\n") != NULL)
		cfg_error(c, cfg_seen(cfg_imap_keys, seen, "url"), "bad url "
		    "'%s' (imaps://host/INBOX, or imap://host/INBOX for "
		    "STARTTLS)", m->url);
	if (m->username == NULL)
		cfg_error(c, n, "imap: missing 'username'");
	if (cfg_seen(cfg_imap_keys, seen, "password_file") == NULL &&
	    getenv("CREDENTIALS_DIRECTORY") == NULL)
		cfg_error(c, n, "imap: missing 'password_file'");
	cfg_password(c, cfg_seen(cfg_imap_keys, seen, "password_file"),
	    "imap-password", &m->password_file);
	if (m->poll_interval_ms < 1000)
		cfg_error(c, cfg_seen(cfg_imap_keys, seen, "poll_interval"),
		    "imap: poll_interval must be at least 1s");
	if (m->done_folder == NULL)
		m->done_folder = xstrdup("modbus2mail-done");
	/* it is quoted in IMAP commands: nothing that ends the quote */
	for (p = m->done_folder; *p != '\0'; p++)
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20)
			break;
	if (*p != '\0' || m->done_folder[0] == '\0')
		cfg_error(c, cfg_seen(cfg_imap_keys, seen, "done_folder"),
		    "imap: bad done_folder '%s' (no quotes, backslashes or "
		    "control characters)", m->done_folder);
}

static void
cfg_recipients(struct ctx *c, yaml_node_t *n, void *base,
    const struct cfg_key *section)
{
	struct config *cfg = c->cfg;
	struct config_group *g;
	yaml_node_t *k, *v;

	if (!cfg_is_mapping(c, n))
		return;
	FOREACH_PAIR(c, n, k, v) {
		cfg->groups = xreallocarray(cfg->groups, cfg->ngroups + 1,
		    sizeof(*cfg->groups));
		g = &cfg->groups[cfg->ngroups];
		memset(g, 0, sizeof(*g));
		/* addresses only: a group does not name other groups */
		cfg_addrlist(c, v, &g->addrs);
		g->name = xstrdup((const char *)k->data.scalar.value);
		cfg->ngroups++;
	}
}

static int
cfg_name_ok(const char *s)
{
	if (*s == '\0')
		return 0;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '_' && *s != '.' &&
		    *s != '-')
			return 0;
	return 1;
}

/* A device or rule name: it appears in mails, logs and commands. */
static void
cfg_name(struct ctx *c, yaml_node_t *v, char **out, const char *what)
{
	if (cfg_str(c, v, out) == 0 && !cfg_name_ok(*out))
		cfg_error(c, v, "bad %s name '%s' (use A-Z a-z 0-9 _ . -)",
		    what, *out);
}

static void
cfg_k_device_name(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	cfg_name(c, v, FIELD(base, k, char *), "device");
}

static const struct cfg_key cfg_link_keys[] = {
	KEY_DEF("after", K_MS, struct config_device, link_alarm_after_ms,
	    10000),
	KEY_DEF("severity", K_SEVERITY, struct config_device, link_severity,
	    SEVERITY_CRITICAL),
	KEY_NODE("to"),
	KEY_END
};

/* link_alarm: false, or a mapping (after, severity, to). */
static void
cfg_k_link(struct ctx *c, yaml_node_t *v, void *base, const struct cfg_key *k)
{
	yaml_node_t *seen[NKEYS(cfg_link_keys)] = { NULL };

	if (v->type == YAML_SCALAR_NODE) {
		cfg_bool(c, v, FIELD(base, k, int));
		return;
	}
	if (cfg_section(c, v, cfg_link_keys, base, seen))
		c->link_to = cfg_seen(cfg_link_keys, seen, "to");
}

static void
cfg_k_heartbeat_source(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	struct config_device *d = base;

	if (strcmp(k->name, "input_register") == 0)
		d->heartbeat_source = SOURCE_INPUT_REGISTER;
	cfg_address(c, v, d->heartbeat_source, &d->heartbeat_address);
}

static const struct cfg_key cfg_heartbeat_keys[] = {
	KEY_SUB("holding_register", cfg_k_heartbeat_source),
	KEY_SUB("input_register", cfg_k_heartbeat_source),
	KEY_DEF("stale_after", K_MS, struct config_device, heartbeat_stale_ms,
	    10000),
	KEY_END
};

static void
cfg_k_heartbeat(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	struct config_device *d = base;
	yaml_node_t *seen[NKEYS(cfg_heartbeat_keys)] = { NULL };

	d->heartbeat_source = SOURCE_HOLDING_REGISTER;
	if (!cfg_section(c, v, cfg_heartbeat_keys, d, seen))
		return;
	d->heartbeat = 1;
	if ((seen[0] != NULL) + (seen[1] != NULL) != 1)
		cfg_error(c, v, "heartbeat needs exactly one of "
		    "holding_register, input_register");
}

/* The standard rates of Modbus RTU adapters (termios has them all). */
static void
cfg_k_baud(struct ctx *c, yaml_node_t *v, void *base, const struct cfg_key *k)
{
	static const unsigned rates[] = { 1200, 2400, 4800, 9600, 19200,
		38400, 57600, 115200, 230400 };
	const char *s;
	unsigned long ul;
	size_t i;

	if ((s = cfg_scalar(c, v, "a baud rate")) == NULL)
		return;
	for (i = 0; util_parse_ulong(s, 230400, &ul) == 0 &&
	    i < sizeof(rates) / sizeof(rates[0]); i++)
		if (rates[i] == ul) {
			*FIELD(base, k, unsigned) = rates[i];
			return;
		}
	cfg_error(c, v, "bad baud '%s' (1200, 2400, 4800, 9600, 19200, "
	    "38400, 57600, 115200 or 230400)", s);
}

static void
cfg_k_parity(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	static const char *const names[] = { "none", "even", "odd", NULL };
	int i = -1;

	cfg_enum(c, v, names, "a parity", "parity", "none, even or odd", &i);
	if (i >= 0)
		*FIELD(base, k, int) = "NEO"[i];
}

/* data_bits (7 or 8) and stop_bits (1 or 2): k->max and k->max - 1. */
static void
cfg_k_bits(struct ctx *c, yaml_node_t *v, void *base, const struct cfg_key *k)
{
	const char *s;
	unsigned long ul;

	if ((s = cfg_scalar(c, v, "a number")) == NULL)
		return;
	if (util_parse_ulong(s, k->max, &ul) == -1 || ul + 1 < k->max)
		cfg_error(c, v, "bad %s '%s' (%lu or %lu)", k->name, s,
		    k->max - 1, k->max);
	else
		*FIELD(base, k, unsigned) = (unsigned)ul;
}

static void
cfg_k_rts(struct ctx *c, yaml_node_t *v, void *base, const struct cfg_key *k)
{
	static const char *const names[] = { "up", "down", NULL };
	int i = -1;

	cfg_enum(c, v, names, "rts", "rts", "up or down", &i);
	if (i >= 0)
		*FIELD(base, k, enum config_rts) = (enum config_rts)(RTS_UP + i);
}

#define KEY_BITS(n, f, d, m)						\
	{ n, K_UINT, offsetof(struct config_device, f), d, m, cfg_k_bits, 0 }

static const struct cfg_key cfg_serial_keys[] = {
	KEY("port", K_STR, struct config_device, serial.port),
	KEY_FN("baud", K_UINT, struct config_device, serial.baud, 19200,
	    cfg_k_baud),
	KEY_FN("parity", K_INT, struct config_device, serial.parity, 'E',
	    cfg_k_parity),
	KEY_BITS("data_bits", serial.data_bits, 8, 8),
	KEY_BITS("stop_bits", serial.stop_bits, 1, 2),
	KEY_FN("rts", K_NODE, struct config_device, serial.rts, 0, cfg_k_rts),
	KEY_END
};

static void
cfg_k_serial(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	yaml_node_t *seen[NKEYS(cfg_serial_keys)] = { NULL };
	struct config_device *d = base;

	if (!cfg_section(c, v, cfg_serial_keys, d, seen))
		return;
	c->serial = v;
	if (d->serial.port == NULL) {
		cfg_error(c, v, "serial: missing 'port' (e.g. /dev/ttyUSB0)");
		d->serial.port = xstrdup("");
	} else if (d->serial.port[0] != '/')
		/* relative to wherever the daemon runs: never what is meant */
		cfg_error(c, cfg_seen(cfg_serial_keys, seen, "port"), "serial: "
		    "port '%s' is not an absolute path (e.g. /dev/ttyUSB0)",
		    d->serial.port);
}

static void
cfg_k_connections(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	static const char *const names[] = { "shared", "separate", NULL };

	cfg_enum(c, v, names, "connections", "connections", "shared or "
	    "separate", FIELD(base, k, int));
}

static const struct cfg_key cfg_device_keys[] = {
	KEY_FN("name", K_STR, struct config_device, name, 0,
	    cfg_k_device_name),
	KEY("host", K_STR, struct config_device, host),
	KEY_NUM("port", K_UINT, struct config_device, port, 502, 65535),
	KEY_SUB("serial", cfg_k_serial),
	KEY_FN("connections", K_INT, struct config_device, separate, 0,
	    cfg_k_connections),
	KEY_NUM("unit_id", K_UINT, struct config_device, unit_id, 1, 255),
	KEY_DEF("poll_interval", K_MS, struct config_device, poll_interval_ms,
	    1000),
	KEY_DEF("timeout", K_MS, struct config_device, timeout_ms, 1000),
	KEY_FN("link_alarm", K_BOOL, struct config_device, link_alarm, 1,
	    cfg_k_link),
	KEY("group_wait", K_MS, struct config_device, group_wait_ms),
	KEY_SUB("heartbeat", cfg_k_heartbeat),
	KEY_NUM("mail_ok_coil", K_INT, struct config_device, mail_ok_coil, -1,
	    65535),
	KEY_END
};

/* host/port (Modbus/TCP) or serial (Modbus RTU), and what goes with each. */
static void
cfg_device_transport(struct ctx *c, yaml_node_t *n, struct config_device *d,
    yaml_node_t *const *seen)
{
	yaml_node_t *v;

	if (d->host == NULL && d->serial.port == NULL) {
		cfg_error(c, n, "device %s: missing 'host' (Modbus/TCP) or "
		    "'serial' (Modbus RTU)", d->name);
		return;
	}
	if (d->serial.port == NULL)
		return;
	if ((v = cfg_seen(cfg_device_keys, seen, "host")) != NULL)
		cfg_error(c, v, "device %s: both host and serial (Modbus/TCP "
		    "or Modbus RTU, not both)", d->name);
	if ((v = cfg_seen(cfg_device_keys, seen, "port")) != NULL)
		cfg_error(c, v, "device %s: port is for Modbus/TCP (a serial "
		    "device's port goes in serial.port)", d->name);
	if ((v = cfg_seen(cfg_device_keys, seen, "connections")) != NULL)
		cfg_error(c, v, "device %s: connections is for Modbus/TCP "
		    "devices (a serial port is always one bus)", d->name);
	if ((v = cfg_seen(cfg_device_keys, seen, "unit_id")) != NULL &&
	    (d->unit_id < 1 || d->unit_id > 247))
		cfg_error(c, v, "device %s: unit_id on a serial line must be "
		    "1 to 247 (0 is broadcast)", d->name);
}

/* 1 when the link recipients are to come from the device's rules. */
static int
cfg_device(struct ctx *c, yaml_node_t *n, struct config_device *d)
{
	yaml_node_t *seen[NKEYS(cfg_device_keys)] = { NULL };

	cfg_key_defaults(cfg_device_keys, d);
	cfg_key_defaults(cfg_serial_keys, d);
	cfg_key_defaults(cfg_link_keys, d);
	cfg_key_defaults(cfg_heartbeat_keys, d);
	c->link_to = NULL;
	c->serial = NULL;
	c->unit_id = NULL;
	if (!cfg_section(c, n, cfg_device_keys, d, seen)) {
		d->name = xstrdup("");
		return 0;
	}
	if (d->name == NULL) {
		cfg_error(c, n, "device: missing 'name'");
		d->name = xstrdup("");
	}
	cfg_device_transport(c, n, d, seen);
	c->unit_id = cfg_seen(cfg_device_keys, seen, "unit_id");
	if (d->poll_interval_ms == 0)
		cfg_error(c, n, "device %s: poll_interval must be above 0",
		    d->name);
	if (d->timeout_ms == 0)
		cfg_error(c, n, "device %s: timeout must be above 0", d->name);
	if (c->link_to != NULL)
		cfg_addrlist(c, c->link_to, &d->link_to);
	else if (c->def_to_set)
		strlist_copy(&d->link_to, &c->def_to);
	else if (d->link_alarm || d->heartbeat)
		return 1;
	return 0;
}


/* Items of a list section; NULL (with an error unless empty) otherwise. */
static yaml_node_item_t *
cfg_items(struct ctx *c, yaml_node_t *n, const char *what, size_t *count)
{
	*count = 0;
	if (n->type == YAML_SCALAR_NODE && n->data.scalar.length == 0)
		return NULL;
	if (n->type != YAML_SEQUENCE_NODE) {
		cfg_error(c, n, "expected a list of %s", what);
		return NULL;
	}
	*count = (size_t)(n->data.sequence.items.top -
	    n->data.sequence.items.start);
	return n->data.sequence.items.start;
}

static void
cfg_devices(struct ctx *c, yaml_node_t *n, void *base,
    const struct cfg_key *section)
{
	struct config *cfg = c->cfg;
	struct config_device *d;
	yaml_node_item_t *it;
	yaml_node_t *dn;
	size_t count;

	if ((it = cfg_items(c, n, "devices", &count)) == NULL)
		return;
	cfg->devices = xcalloc(count, sizeof(*cfg->devices));
	c->link_pending = xcalloc(count, sizeof(*c->link_pending));
	for (; count > 0; count--, it++) {
		dn = cfg_node(c, *it);
		d = &cfg->devices[cfg->ndevices];
		if (cfg_device(c, dn, d))
			c->link_pending[cfg->ndevices] = dn;
		if (config_find_device(cfg, d->name) != -1)
			cfg_error(c, dn, "duplicate device name '%s'", d->name);
		cfg_serial_line(c, d);
		cfg_unit_twin(c, dn, d);
		cfg->ndevices++;
	}
}

/* Devices on one serial port share its line: one set of settings. */
static void
cfg_serial_line(struct ctx *c, const struct config_device *d)
{
	const struct config_serial *a = &d->serial, *b;
	size_t i;

	for (i = 0; c->serial != NULL && i < c->cfg->ndevices; i++) {
		b = &c->cfg->devices[i].serial;
		if (b->port == NULL || strcmp(a->port, b->port) != 0)
			continue;
		if (a->baud != b->baud || a->parity != b->parity ||
		    a->data_bits != b->data_bits ||
		    a->stop_bits != b->stop_bits || a->rts != b->rts)
			cfg_error(c, c->serial, "device %s: line settings "
			    "differ from device %s on %s (one port, one "
			    "baud, parity, data_bits, stop_bits and rts)",
			    d->name, c->cfg->devices[i].name, a->port);
		return;
	}
}

/*
 * Two devices of one unit on one bus: both read the same unit, which may
 * be meant (one machine split in two), but more often a unit id was
 * copied, and two units with one id on a line garble each other's
 * replies. A warning that names the other device.
 */
static void
cfg_unit_twin(struct ctx *c, yaml_node_t *n, const struct config_device *d)
{
	const struct config_device *o;
	char bus[300];
	size_t i;

	if (d->host == NULL && d->serial.port == NULL)
		return;
	for (i = 0; i < c->cfg->ndevices; i++) {
		o = &c->cfg->devices[i];
		if ((o->host == NULL && o->serial.port == NULL) ||
		    o->unit_id != d->unit_id || !config_same_bus(o, d))
			continue;
		config_bus_name(d, bus, sizeof(bus));
		cfg_warn(c, c->unit_id != NULL ? c->unit_id : n, "device %s: "
		    "unit_id %u on %s is device %s's too (both read one "
		    "unit; two units with one id garble each other's "
		    "replies)", d->name, d->unit_id, bus, o->name);
		return;
	}
}

/*
 * Link and heartbeat alarms of a device without link_alarm.to or
 * defaults.to go to everyone its rules mail: whoever watches the machine
 * wants to know that nobody watches it any more.
 */
static void
cfg_link_recipients(struct ctx *c)
{
	struct config *cfg = c->cfg;
	struct config_device *d;
	size_t i, j, k;

	for (i = 0; i < cfg->ndevices && c->link_pending != NULL; i++) {
		if (c->link_pending[i] == NULL)
			continue;
		d = &cfg->devices[i];
		for (j = 0; j < cfg->nrules; j++)
			for (k = 0; cfg->rules[j].device == i &&
			    k < cfg->rules[j].to.n; k++)
				strlist_add_unique(&d->link_to,
				    cfg->rules[j].to.v[k]);
		if (d->link_to.n == 0)
			cfg_error(c, c->link_pending[i], "device %s: no "
			    "recipients for its link and heartbeat alarms "
			    "(link_alarm.to, defaults.to or a rule with 'to')",
			    d->name);
	}
	free(c->link_pending);
	c->link_pending = NULL;
}

/* reply (follow-ups: "Re: " + the first mail's subject) or per_state. */
static void
cfg_k_thread_subjects(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	static const char *const modes[] = { "reply", "per_state", NULL };

	cfg_enum(c, v, modes, "reply or per_state", "thread_subjects",
	    "reply or per_state", FIELD(base, k, int));
}

static const struct cfg_key cfg_defaults_keys[] = {
	KEY("to", K_ADDRLIST, struct ctx, def_to),
	KEY_DEF("severity", K_SEVERITY, struct ctx, def_severity,
	    SEVERITY_WARNING),
	KEY_DEF("notify_clear", K_BOOL, struct ctx, def_notify_clear, 1),
	KEY("repeat", K_MS, struct ctx, def_repeat_ms),
	KEY_FN("thread_subjects", K_BOOL, struct ctx, def_per_state_subjects,
	    0, cfg_k_thread_subjects),
	KEY_END
};

static void
cfg_defaults(struct ctx *c, yaml_node_t *n, void *base,
    const struct cfg_key *section)
{
	yaml_node_t *seen[NKEYS(cfg_defaults_keys)] = { NULL };

	if (cfg_section(c, n, cfg_defaults_keys, c, seen))
		c->def_to_set = cfg_seen(cfg_defaults_keys, seen, "to") != NULL;
}

/* coil, discrete_input, holding_register, input_register: the rule's source. */
static void
cfg_k_source(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	struct config_rule *r = base;
	enum config_source src;

	for (src = SOURCE_COIL; src < SOURCE_INPUT_REGISTER; src++)
		if (strcmp(k->name, config_source_name(src)) == 0)
			break;
	r->source = src;
	cfg_address(c, v, src, &r->address);
}

static void
cfg_k_rule_name(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	cfg_name(c, v, FIELD(base, k, char *), "rule");
}

static void
cfg_k_ack_source(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	struct config_rule *r = base;

	r->ack++;
	r->ack_source = strcmp(k->name, "coil") == 0 ? SOURCE_COIL :
	    SOURCE_DISCRETE_INPUT;
	cfg_address(c, v, r->ack_source, &r->ack_address);
}

static const struct cfg_key cfg_ack_keys[] = {
	KEY_SUB("coil", cfg_k_ack_source),
	KEY_SUB("discrete_input", cfg_k_ack_source),
	KEY_END
};

static void
cfg_k_ack(struct ctx *c, yaml_node_t *v, void *base, const struct cfg_key *k)
{
	struct config_rule *r = base;

	if (!cfg_section(c, v, cfg_ack_keys, r, NULL))
		return;
	if (r->ack != 1)
		cfg_error(c, v, "ack needs exactly one of coil, discrete_input");
	r->ack = r->ack > 0;
}

/* One of names[] (NULL terminated) by its index into *out. */
static void
cfg_enum(struct ctx *c, yaml_node_t *v, const char *const *names,
    const char *what, const char *label, const char *choices, int *out)
{
	const char *s;
	int i;

	if ((s = cfg_scalar(c, v, what)) == NULL)
		return;
	for (i = 0; names[i] != NULL; i++)
		if (strcmp(s, names[i]) == 0) {
			*out = i;
			return;
		}
	cfg_error(c, v, "bad %s '%s' (%s)", label, s, choices);
}

static void
cfg_k_type(struct ctx *c, yaml_node_t *v, void *base, const struct cfg_key *k)
{
	static const char *const types[] = { "uint16", "int16", "uint32",
		"int32", "float32", NULL };
	struct config_rule *r = base;
	int t = (int)r->type;

	cfg_enum(c, v, types, "a type", "type", "uint16, int16, uint32, int32 "
	    "or float32", &t);
	r->type = (enum config_vtype)t;
}

static void
cfg_k_order(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	static const char *const orders[] = { "ABCD", "CDAB", "BADC", "DCBA",
		NULL };
	struct config_rule *r = base;
	int o = (int)r->order;

	cfg_enum(c, v, orders, "a word order", "order", "ABCD, CDAB, BADC or "
	    "DCBA", &o);
	r->order = (enum config_order)o;
}

/* above, below, equals, not_equals: the value and its has_* flag (aux). */
static void
cfg_k_threshold(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	c->thr_node = v;
	*(int *)(void *)((char *)base + k->aux) =
	    cfg_double(c, v, FIELD(base, k, double)) == 0;
}

static void
cfg_k_deadband(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	double *d = FIELD(base, k, double);

	if (cfg_double(c, v, d) == 0 && *d < 0)
		cfg_error(c, v, "deadband must not be negative");
}

static void
cfg_k_bit(struct ctx *c, yaml_node_t *v, void *base, const struct cfg_key *k)
{
	const char *s;
	unsigned long ul;

	if ((s = cfg_scalar(c, v, "a bit number")) == NULL)
		return;
	if (util_parse_ulong(s, 15, &ul) == -1)
		cfg_error(c, v, "bit must be 0..15, not '%s'", s);
	else
		*FIELD(base, k, int) = (int)ul;
}

static const struct cfg_key cfg_escalate_keys[] = {
	KEY("after", K_MS, struct config_rule, escalate_after_ms),
	KEY_NODE("to"),
	KEY_END
};

static void
cfg_k_escalate(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	struct config_rule *r = base;
	yaml_node_t *seen[NKEYS(cfg_escalate_keys)] = { NULL }, *to;

	if (!cfg_section(c, v, cfg_escalate_keys, r, seen))
		return;
	r->escalate = 1;
	if ((to = cfg_seen(cfg_escalate_keys, seen, "to")) == NULL)
		cfg_error(c, v, "escalate needs 'to'");
	else
		cfg_addrlist(c, to, &r->escalate_to);
}

static const struct cfg_key cfg_chatter_keys[] = {
	KEY_NUM("raises", K_UINT, struct config_rule, chatter_raises, 0, 1000),
	KEY("within", K_MS, struct config_rule, chatter_within_ms),
	KEY("shelve", K_MS, struct config_rule, chatter_shelve_ms),
	KEY_END
};

static void
cfg_k_chatter(struct ctx *c, yaml_node_t *v, void *base,
    const struct cfg_key *k)
{
	struct config_rule *r = base;

	if (!cfg_section(c, v, cfg_chatter_keys, r, NULL))
		return;
	r->chatter = 1;
	if (r->chatter_raises < 2 || r->chatter_within_ms == 0 ||
	    r->chatter_shelve_ms == 0)
		cfg_error(c, v, "chatter needs raises >= 2, within and shelve");
}

#define KEY_THR(n, f)	{ n, K_DOUBLE, offsetof(struct config_rule, f), 0, 0, \
			    cfg_k_threshold, offsetof(struct config_rule, has_##f) }

static const struct cfg_key cfg_rule_keys[] = {
	KEY_FN("name", K_STR, struct config_rule, name, 0, cfg_k_rule_name),
	KEY_NODE("device"),
	KEY_SUB("coil", cfg_k_source),
	KEY_SUB("discrete_input", cfg_k_source),
	KEY_SUB("holding_register", cfg_k_source),
	KEY_SUB("input_register", cfg_k_source),
	KEY_NUM("active_when", K_INT, struct config_rule, active_when, 1, 1),
	KEY("severity", K_SEVERITY, struct config_rule, severity),
	KEY("on_delay", K_MS, struct config_rule, on_delay_ms),
	KEY("off_delay", K_MS, struct config_rule, off_delay_ms),
	KEY("latch", K_BOOL, struct config_rule, latch),
	KEY_SUB("ack", cfg_k_ack),
	KEY_NODE("to"),
	KEY("subject", K_TEMPLATE, struct config_rule, subject),
	KEY("body", K_TEMPLATE, struct config_rule, body),
	KEY("notify_clear", K_BOOL, struct config_rule, notify_clear),
	KEY("repeat", K_MS, struct config_rule, repeat_ms),
	KEY_SUB("type", cfg_k_type),
	KEY_SUB("order", cfg_k_order),
	KEY_DEF("scale", K_DOUBLE, struct config_rule, scale, 1.0),
	KEY("offset", K_DOUBLE, struct config_rule, offset),
	KEY("unit", K_STR, struct config_rule, unit),
	KEY_THR("above", above),
	KEY_THR("below", below),
	KEY_THR("equals", equals),
	KEY_THR("not_equals", not_equals),
	KEY_FN("deadband", K_DOUBLE, struct config_rule, deadband, 0,
	    cfg_k_deadband),
	KEY_FN("bit", K_INT, struct config_rule, bit, -1, cfg_k_bit),
	KEY_SUB("escalate", cfg_k_escalate),
	KEY_SUB("chatter", cfg_k_chatter),
	KEY_END
};

/* The checks that need the whole rule (source, thresholds, types). */
static void
cfg_rule_check(struct ctx *c, yaml_node_t *n, struct config_rule *r,
    yaml_node_t *const *seen)
{
	yaml_node_t *type_node, *order_node, *bit_node, *thr_node = c->thr_node;
	size_t i, nsrc = 0;

	for (i = 0; i < NKEYS(cfg_rule_keys); i++)
		nsrc += cfg_rule_keys[i].fn == cfg_k_source && seen[i] != NULL;
	if (nsrc != 1) {
		cfg_error(c, n, "rule %s: exactly one of coil, discrete_input, "
		    "holding_register, input_register", r->name);
		return;
	}
	type_node = cfg_seen(cfg_rule_keys, seen, "type");
	order_node = cfg_seen(cfg_rule_keys, seen, "order");
	bit_node = cfg_seen(cfg_rule_keys, seen, "bit");
	if (r->source == SOURCE_COIL || r->source == SOURCE_DISCRETE_INPUT) {
		if (thr_node != NULL)
			cfg_error(c, thr_node, "rule %s: thresholds apply to "
			    "registers, not to a %s", r->name,
			    config_source_name(r->source));
		if (bit_node != NULL)
			cfg_error(c, bit_node, "rule %s: 'bit' applies to "
			    "registers", r->name);
		if (type_node != NULL || order_node != NULL)
			cfg_error(c, type_node ? type_node : order_node,
			    "rule %s: type/order apply to registers",
			    r->name);
		return;
	}
	if (cfg_seen(cfg_rule_keys, seen, "active_when") != NULL &&
	    r->bit == -1)
		cfg_error(c, cfg_seen(cfg_rule_keys, seen, "active_when"),
		    "rule %s: active_when applies to bits", r->name);
	if (order_node != NULL &&
	    (r->type == VTYPE_UINT16 || r->type == VTYPE_INT16))
		cfg_error(c, order_node, "rule %s: order applies to 32-bit "
		    "types only", r->name);
	if (r->bit != -1) {
		if (r->type != VTYPE_UINT16 && r->type != VTYPE_INT16)
			cfg_error(c, bit_node, "rule %s: bit needs a 16-bit "
			    "type (uint16 or int16)", r->name);
		if (thr_node != NULL)
			cfg_error(c, thr_node, "rule %s: use either bit or a "
			    "threshold", r->name);
	} else if (!r->has_above && !r->has_below && !r->has_equals &&
	    !r->has_not_equals && thr_node == NULL && bit_node == NULL)
		cfg_error(c, n, "rule %s: a register rule needs above, below, "
		    "equals, not_equals or bit", r->name);
	if (r->type >= VTYPE_UINT32 && r->address == 65535)
		cfg_error(c, n, "rule %s: a 32-bit value at 65535 runs past "
		    "the last register", r->name);
}

static void
cfg_rule(struct ctx *c, yaml_node_t *n, struct config_rule *r)
{
	yaml_node_t *seen[NKEYS(cfg_rule_keys)] = { NULL }, *dev, *to;
	const char *s;
	long d;
	int ok;

	cfg_key_defaults(cfg_rule_keys, r);
	r->severity = c->def_severity;
	r->notify_clear = c->def_notify_clear;
	r->repeat_ms = c->def_repeat_ms;
	c->thr_node = NULL;
	ok = cfg_section(c, n, cfg_rule_keys, r, seen);
	if (r->name == NULL) {
		if (ok)
			cfg_error(c, n, "rule: missing 'name'");
		r->name = xstrdup("");
	}
	if (r->unit == NULL)
		r->unit = cfg_shared_empty;
	if (r->subject == NULL)
		r->subject = cfg_shared_subject;
	if (r->body == NULL)
		r->body = cfg_shared_body;
	if (!ok)
		return;
	if ((dev = cfg_seen(cfg_rule_keys, seen, "device")) == NULL)
		cfg_error(c, n, "rule %s: missing 'device'", r->name);
	else if ((s = cfg_scalar(c, dev, "a device name")) != NULL) {
		if ((d = config_find_device(c->cfg, s)) == -1)
			cfg_error(c, dev, "rule %s: unknown device '%s'",
			    r->name, s);
		else
			r->device = (size_t)d;
	}
	if ((to = cfg_seen(cfg_rule_keys, seen, "to")) != NULL)
		cfg_addrlist(c, to, &r->to);
	else if (c->def_to_set)
		r->to = c->def_to;	/* becomes cfg->default_to */
	else
		cfg_error(c, n, "rule %s: no recipients ('to' here or in "
		    "defaults)", r->name);
	cfg_rule_check(c, n, r, seen);
}


static void
cfg_rules(struct ctx *c, yaml_node_t *n, void *base,
    const struct cfg_key *section)
{
	struct config *cfg = c->cfg;
	struct config_rule *r;
	yaml_node_item_t *it;
	yaml_node_t *rn;
	size_t count;

	if ((it = cfg_items(c, n, "rules", &count)) == NULL)
		return;
	cfg->rules = xcalloc(count, sizeof(*cfg->rules));
	for (; count > 0; count--, it++) {
		rn = cfg_node(c, *it);
		r = &cfg->rules[cfg->nrules];
		cfg_rule(c, rn, r);
		if (config_find_rule(cfg, r->name) != -1)
			cfg_error(c, rn, "duplicate rule name '%s'", r->name);
		cfg->nrules++;
	}
}

static void
cfg_k_at(struct ctx *c, yaml_node_t *v, void *base, const struct cfg_key *k)
{
	const char *s;
	unsigned long h, m;
	char buf[8];

	if ((s = cfg_scalar(c, v, "a time HH:MM")) == NULL)
		return;
	if (strlen(s) != 5 || s[2] != ':' ||
	    (strlcpy(buf, s, sizeof(buf)), buf[2] = '\0',
	    util_parse_ulong(buf, 23, &h) == -1) ||
	    util_parse_ulong(buf + 3, 59, &m) == -1)
		cfg_error(c, v, "bad time '%s' (use HH:MM)", s);
	else
		*FIELD(base, k, unsigned) = (unsigned)(h * 60 + m);
}

static const struct cfg_key cfg_sign_of_life_keys[] = {
	KEY_FN("at", K_UINT, struct config_sign_of_life, at_minute, 0,
	    cfg_k_at),
	KEY_NODE("to"),
	KEY_END
};

static void
cfg_sign_of_life(struct ctx *c, yaml_node_t *n, void *base,
    const struct cfg_key *section)
{
	struct config_sign_of_life *sol = &c->cfg->sign_of_life;
	yaml_node_t *seen[NKEYS(cfg_sign_of_life_keys)] = { NULL }, *to;

	if (!cfg_section(c, n, cfg_sign_of_life_keys, sol, seen))
		return;
	sol->enabled = 1;
	if ((to = cfg_seen(cfg_sign_of_life_keys, seen, "to")) != NULL)
		cfg_addrlist(c, to, &sol->to);
	else if (c->def_to_set)
		strlist_copy(&sol->to, &c->def_to);
	else
		cfg_error(c, n, "sign_of_life: no recipients ('to' here or in "
		    "defaults)");
}

/* Sections in the order they are read: groups first (named everywhere),
 * defaults before what they apply to, devices before rules. */
static const struct cfg_key cfg_top_keys[] = {
	KEY("hostname", K_STR, struct config, hostname),
	KEY("spool_dir", K_STR, struct config, spool_dir),
	KEY_DEF("stall_grace", K_MS, struct config, stall_grace_ms, 30000),
	KEY_SECTION("recipients", cfg_recipients),
	KEY_SECTION("defaults", cfg_defaults),
	KEY_SECTION("smtp", cfg_smtp),
	KEY_SECTION("listener", cfg_listener),
	KEY_SECTION("http", cfg_http),
	KEY_SECTION("history", cfg_history),
	KEY_SECTION("imap", cfg_imap),
	KEY_SECTION("devices", cfg_devices),
	KEY_SECTION("rules", cfg_rules),
	KEY_SECTION("sign_of_life", cfg_sign_of_life),
	KEY_END
};

static void
cfg_top(struct ctx *c, yaml_node_t *root)
{
	struct config *cfg = c->cfg;
	yaml_node_t *seen[NKEYS(cfg_top_keys)] = { NULL };
	const struct cfg_key *k;
	char host[256];

	if (root == NULL) {
		cfg_error(c, NULL, "empty configuration");
		return;
	}
	if (!cfg_section(c, root, cfg_top_keys, cfg, seen))
		return;
	for (k = cfg_top_keys; k->name != NULL; k++) {
		if (k->kind == K_SECTION && seen[k - cfg_top_keys] != NULL)
			k->fn(c, seen[k - cfg_top_keys], cfg, k);
		/* the rules' recipients stand in for missing link ones */
		if (k->fn == cfg_rules)
			cfg_link_recipients(c);
	}
	if (cfg_seen(cfg_top_keys, seen, "smtp") == NULL)
		cfg_error(c, root, "missing 'smtp' section (the upstream "
		    "relay)");
	if (cfg->hostname == NULL) {
		if (gethostname(host, sizeof(host)) == -1)
			strlcpy(host, "localhost", sizeof(host));
		host[sizeof(host) - 1] = '\0';
		cfg->hostname = xstrdup(host);
	}
	if (cfg->spool_dir == NULL)
		cfg->spool_dir = xstrdup(CONFIG_DEFAULT_SPOOL);
}


struct config *
config_load_buffer(const char *name, const char *buf, size_t len,
    FILE *errout)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	struct ctx c;
	struct config *cfg;

	memset(&c, 0, sizeof(c));
	c.file = name;
	c.err = errout;
	cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(name);
	/* sections that may be absent still have their defaults */
	cfg_key_defaults(cfg_top_keys, cfg);
	cfg_key_defaults(cfg_defaults_keys, &c);
	cfg_key_defaults(cfg_smtp_keys, &cfg->smtp);
	cfg_key_defaults(cfg_retry_keys, &cfg->smtp.retry);
	cfg_key_defaults(cfg_listener_keys, &cfg->listener);
	cfg_key_defaults(cfg_history_keys, &cfg->history);
	cfg_key_defaults(cfg_imap_keys, &cfg->imap);
	cfg->history.enabled = 1;
	c.cfg = cfg;

	if (!yaml_parser_initialize(&parser))
		fatalx("config: yaml_parser_initialize");
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&parser, &doc)) {
		cfg_yaml_error(name, buf, len, &parser, errout);
		yaml_parser_delete(&parser);
		config_free(cfg);
		return NULL;
	}
	c.doc = &doc;
	cfg_top(&c, yaml_document_get_root_node(&doc));
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	cfg->default_to = c.def_to;
	cfg->per_state_subjects = c.def_per_state_subjects;
	cfg_diag_flush(&c, cfg);
	if (c.nerr > 0) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

struct config *
config_load(const char *path, FILE *errout)
{
	struct config *cfg;
	FILE *f;
	char *buf;
	long len;

	if ((f = fopen(path, "rb")) == NULL) {
		fprintf(errout, "%s: error: cannot open: %s\n", path,
		    strerror(errno));
		return NULL;
	}
	if (fseek(f, 0, SEEK_END) == -1 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) == -1) {
		fprintf(errout, "%s: error: cannot read: %s\n", path,
		    strerror(errno));
		fclose(f);
		return NULL;
	}
	buf = xmalloc((size_t)len + 1);
	if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fprintf(errout, "%s: error: cannot read: %s\n", path,
		    strerror(errno));
		fclose(f);
		free(buf);
		return NULL;
	}
	fclose(f);
	buf[len] = '\0';
	cfg = config_load_buffer(path, buf, (size_t)len, errout);
	free(buf);
	return cfg;
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->hostname);
	free(cfg->spool_dir);
	free(cfg->smtp.url);
	strlist_free(&cfg->smtp.fallback_urls);
	free(cfg->smtp.ca_file);
	free(cfg->smtp.username);
	free(cfg->smtp.password_file);
	free(cfg->smtp.from);
	free(cfg->smtp.from_addr);
	free(cfg->smtp.source_address);
	free(cfg->smtp.failure_notice);
	strlist_free(&cfg->listener.listen);
	free(cfg->listener.allow);
	strlist_free(&cfg->listener.recipient_domains);
	free(cfg->listener.tls_cert);
	free(cfg->listener.tls_key);
	free(cfg->listener.users_file);
	strlist_free(&cfg->http.listen);
	free(cfg->http.allow);
	free(cfg->http.users_file);
	free(cfg->http.tls_cert);
	free(cfg->http.tls_key);
	free(cfg->imap.url);
	free(cfg->imap.username);
	free(cfg->imap.password_file);
	free(cfg->imap.ca_file);
	free(cfg->imap.done_folder);
	free(cfg->imap.reply_to);
	for (i = 0; i < cfg->ngroups; i++) {
		free(cfg->groups[i].name);
		strlist_free(&cfg->groups[i].addrs);
	}
	free(cfg->groups);
	for (i = 0; i < cfg->ndevices; i++) {
		free(cfg->devices[i].name);
		free(cfg->devices[i].host);
		free(cfg->devices[i].serial.port);
		strlist_free(&cfg->devices[i].link_to);
	}
	free(cfg->devices);
	for (i = 0; i < cfg->nrules; i++) {
		struct config_rule *r = &cfg->rules[i];

		free(r->name);
		if (r->to.v != cfg->default_to.v)
			strlist_free(&r->to);
		if (r->subject != cfg_shared_subject)
			free(r->subject);
		if (r->body != cfg_shared_body)
			free(r->body);
		if (r->unit != cfg_shared_empty)
			free(r->unit);
		strlist_free(&r->escalate_to);
	}
	free(cfg->rules);
	strlist_free(&cfg->sign_of_life.to);
	strlist_free(&cfg->default_to);
	strlist_free(&cfg->warnings);
	free(cfg);
}

int
config_parse_duration(const char *s, uint64_t *ms)
{
	static const struct {
		const char *suffix;
		uint64_t mult;
	} units[] = { { "ms", 1 }, { "s", 1000 }, { "m", 60000 },
		{ "h", 3600000 }, { "d", 86400000 } };
	char num[32];
	unsigned long v;
	size_t n, i, sl;

	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++)
		;
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	if (util_parse_ulong(num, 1000000000UL, &v) == -1)
		return -1;
	if (s[n] == '\0') {
		if (v != 0)
			return -1;	/* a unit is required, but 0 is 0 */
		*ms = 0;
		return 0;
	}
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		sl = strlen(units[i].suffix);
		if (strcmp(s + n, units[i].suffix) == 0 && sl > 0) {
			*ms = (uint64_t)v * units[i].mult;
			return 0;
		}
	}
	return -1;
}

int
config_parse_size(const char *s, size_t *bytes)
{
	static const struct {
		const char *suffix;
		size_t mult;
	} units[] = { { "", 1 }, { "KiB", 1024 }, { "MiB", 1024 * 1024 },
		{ "GiB", 1024UL * 1024 * 1024 } };
	char num[32];
	unsigned long v;
	size_t n, i;

	for (n = 0; s[n] >= '0' && s[n] <= '9'; n++)
		;
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	if (util_parse_ulong(num, 1UL << 30, &v) == -1)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(s + n, units[i].suffix) == 0) {
			if (v > SIZE_MAX / units[i].mult)
				return -1;
			*bytes = v * units[i].mult;
			return 0;
		}
	return -1;
}

int
config_address_add(char ***v, size_t *n, const char *addr, int bare)
{
	char a[CONFIG_ADDR_MAX], b[CONFIG_ADDR_MAX];
	size_t i;

	if (config_parse_address(addr, a, sizeof(a)) == -1) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < *n; i++)
		if (config_parse_address((*v)[i], b, sizeof(b)) == 0 &&
		    strcasecmp(a, b) == 0)
			return 0;
	return util_strv_push(v, n, bare ? a : addr);
}

int
config_parse_address(const char *s, char *bare, size_t len)
{
	const char *lt, *gt, *a, *at;
	size_t n, i;

	if ((lt = strrchr(s, '<')) != NULL) {
		if ((gt = strchr(lt, '>')) == NULL || gt[1] != '\0')
			return -1;
		a = lt + 1;
		n = (size_t)(gt - a);
	} else {
		a = s;
		n = strlen(s);
	}
	if (n == 0 || n >= len)
		return -1;
	at = memchr(a, '@', n);
	if (at == NULL || at == a || at == a + n - 1)
		return -1;
	for (i = 0; i < n; i++)
		if ((unsigned char)a[i] <= ' ' || a[i] == '<' || a[i] == '>' ||
		    a[i] == ',' || a[i] == '"' || a[i] == '\\' ||
		    (a[i] == '@' && a + i != at))
			return -1;
	memcpy(bare, a, n);
	bare[n] = '\0';
	return 0;
}

const char *
config_severity_name(enum config_severity s)
{
	switch (s) {
	case SEVERITY_INFO:
		return "info";
	case SEVERITY_WARNING:
		return "warning";
	case SEVERITY_CRITICAL:
		return "critical";
	}
	return "?";
}

const char *
config_source_name(enum config_source s)
{
	switch (s) {
	case SOURCE_COIL:
		return "coil";
	case SOURCE_DISCRETE_INPUT:
		return "discrete_input";
	case SOURCE_HOLDING_REGISTER:
		return "holding_register";
	case SOURCE_INPUT_REGISTER:
		return "input_register";
	}
	return "?";
}

long
config_find_rule(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->nrules; i++)
		if (strcmp(cfg->rules[i].name, name) == 0)
			return (long)i;
	return -1;
}

long
config_find_device(const struct config *cfg, const char *name)
{
	size_t i;

	for (i = 0; i < cfg->ndevices; i++)
		if (cfg->devices[i].name != NULL &&
		    strcmp(cfg->devices[i].name, name) == 0)
			return (long)i;
	return -1;
}

int
config_same_bus(const struct config_device *a, const struct config_device *b)
{
	if (a->serial.port != NULL || b->serial.port != NULL)
		return a->serial.port != NULL && b->serial.port != NULL &&
		    strcmp(a->serial.port, b->serial.port) == 0;
	return !a->separate && !b->separate && a->port == b->port &&
	    strcmp(a->host, b->host) == 0;
}

void
config_bus_name(const struct config_device *d, char *buf, size_t len)
{
	if (d->serial.port != NULL)
		snprintf(buf, len, "%s", d->serial.port);
	else
		snprintf(buf, len, "%s%s%s:%u",
		    strchr(d->host, ':') != NULL ? "[" : "", d->host,
		    strchr(d->host, ':') != NULL ? "]" : "", d->port);
}

void
config_transport(const struct config_device *d, char *buf, size_t len)
{
	const struct config_serial *s = &d->serial;
	char bus[300];

	config_bus_name(d, bus, sizeof(bus));
	if (s->port != NULL)
		snprintf(buf, len, "rtu %s %u %u%c%u unit %u", bus, s->baud,
		    s->data_bits, s->parity, s->stop_bits, d->unit_id);
	else
		snprintf(buf, len, "tcp %s unit %u %s", bus, d->unit_id,
		    d->separate ? "separate" : "shared");
}
