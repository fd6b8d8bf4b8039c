/*
 * users.h - a users_file: "user:$6$salt$hash" lines (SHA-512 crypt, made
 * with `openssl passwd -6` or `mkpasswd -m sha-512`), '#' comments and
 * blank lines skipped. Used by the listener's AUTH and the web page's login.
 */
#ifndef MODBUS2MAIL_USERS_H
#define MODBUS2MAIL_USERS_H

#include <stddef.h>

#define USERS_NAME_MAX	64

struct users;

/* NULL with "PATH:LINE: ..." or "PATH: ..." in err. */
struct users *users_load(const char *path, char *err, size_t errlen);
void	users_free(struct users *);
/*
 * 1 when pass is name's password, else 0. An unknown name costs what a
 * known one does (hashed against a real user's hash), so timing does not
 * tell which names exist. Thread-safe.
 */
int	users_check(const struct users *, const char *name, const char *pass);

#endif
