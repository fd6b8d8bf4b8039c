/*
 * users.c - users_file loading and password checks with crypt_r(3), for
 * the listener's AUTH and the web page's login.
 */
#include <crypt.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/users.h"
#include "modbus2mail/util.h"

#define USERS_LINE_MAX	1024

struct user {
	char *name;			/* owned */
	char *hash;			/* crypt(3) string; owned */
};

struct users {
	struct user *v;			/* owned */
	size_t n;
};

/* One "name:hash" line into us; -1 when it is not one. */
static int
users_parse_line(struct users *us, char *line)
{
	char *colon = strchr(line, ':');
	struct user *u;

	if (colon == NULL || colon == line || colon[1] != '$')
		return -1;
	*colon = '\0';
	us->v = xreallocarray(us->v, us->n + 1, sizeof(*us->v));
	u = &us->v[us->n++];
	u->name = xstrdup(line);
	u->hash = xstrdup(colon + 1);
	return 0;
}

struct users *
users_load(const char *path, char *err, size_t errlen)
{
	char line[USERS_LINE_MAX];
	struct users *us;
	size_t lineno = 0;
	FILE *f;

	if ((f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	us = xcalloc(1, sizeof(*us));
	while (fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if (users_parse_line(us, line) == -1) {
			snprintf(err, errlen, "%s:%zu: expected user:$6$salt$hash",
			    path, lineno);
			goto fail;
		}
	}
	if (us->n == 0) {
		snprintf(err, errlen, "%s: no users", path);
		goto fail;
	}
	fclose(f);
	explicit_bzero(line, sizeof(line));
	return us;
fail:
	fclose(f);
	explicit_bzero(line, sizeof(line));
	users_free(us);
	return NULL;
}

void
users_free(struct users *us)
{
	size_t i;

	if (us == NULL)
		return;
	for (i = 0; i < us->n; i++) {
		free(us->v[i].name);
		free(us->v[i].hash);
	}
	free(us->v);
	free(us);
}

int
users_check(const struct users *us, const char *name, const char *pass)
{
	struct crypt_data *cd;
	const char *hash = us->v[0].hash, *h;
	size_t i;
	int known = 0, ok;

	for (i = 0; i < us->n && !known; i++)
		if (strcmp(us->v[i].name, name) == 0) {
			hash = us->v[i].hash;
			known = 1;
		}
	if ((cd = calloc(1, sizeof(*cd))) == NULL)
		return 0;
#ifdef XCRYPT_VERSION_MAJOR
	/* libxcrypt; ASan's crypt_r interceptor crashes here */
	h = crypt_rn(pass, hash, cd, (int)sizeof(*cd));
#else
	h = crypt_r(pass, hash, cd);
#endif
	ok = known && h != NULL && strcmp(h, hash) == 0;
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return ok;
}
