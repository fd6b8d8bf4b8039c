/*
 * http.h - the web server (libmicrohttpd, its own thread per listen
 * address): the overview, history, queue and configuration pages,
 * /metrics and /healthz. Clients outside http.allow get 403. Actions (ack,
 * shelve, unshelve, retry, delete) need a login against http.users_file,
 * a form's CSRF token, and HTTPS or a loopback client; they go to the
 * daemon through its control socket like the command line's, naming the
 * user. Pages read the snapshot published here, never the pollers.
 */
#ifndef MODBUS2MAIL_HTTP_H
#define MODBUS2MAIL_HTTP_H

#include <stddef.h>

struct config;
struct http;
struct snapshot;
struct spool;

/* Binds every http.listen address and starts serving. NULL with err. */
struct http *http_start(const struct config *, struct spool *, char *err,
	    size_t errlen);
/* The latest snapshot; the caller's reference moves to the server. */
void	http_publish(struct http *, struct snapshot *);
/* Stops the threads (requests in flight finish), frees. */
void	http_stop(struct http *);

#endif
