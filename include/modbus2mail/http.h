/*
 * http.h - the web server (libmicrohttpd, its own thread per listen
 * address): the overview, history, queue and configuration pages,
 * /metrics and /healthz. Clients outside http.allow get 403. Actions (ack,
 * shelve, unshelve, retry, delete) need a login against http.users_file,
 * a form's CSRF token, and HTTPS or a loopback client; they go to the
 * daemon through its control socket like the command line's, naming the
 * user. Pages read the daemon's snapshots, never the pollers.
 */
#ifndef MODBUS2MAIL_HTTP_H
#define MODBUS2MAIL_HTTP_H

#include <stddef.h>

struct config;
struct http;
struct snapshot_board;
struct spool;

/* Binds every http.listen address and starts serving pages drawn from
 * the snapshots on board (the caller's, it outlives the server). NULL
 * with err. */
struct http *http_start(const struct config *, struct spool *,
	    struct snapshot_board *board, char *err, size_t errlen);
/* Refuses actions from now on (503, try again) and says how many still
 * wait for the daemon's answer on its control socket: the daemon answers
 * them before http_stop(), which waits for them (0 for NULL). */
int	http_actions_close(struct http *);
/* Stops the threads (requests in flight finish), frees. */
void	http_stop(struct http *);

#endif
