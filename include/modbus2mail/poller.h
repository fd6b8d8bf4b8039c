/*
 * poller.h - one thread per bus (a serial port, a shared TCP host:port, or
 * a device with its own connection) serving its devices in turn: read
 * plan, reopen with capped backoff, alarm engine, alarm mail into the
 * spool, mail_ok_coil feedback. Alarm state is persisted under
 * <spool_dir>/alarms/DEVICE.state so a restart neither re-sends nor forgets.
 */
#ifndef MODBUS2MAIL_POLLER_H
#define MODBUS2MAIL_POLLER_H

#include <stdint.h>
#include <stdio.h>

struct alarm_episode;
struct config;
struct readplan;
struct relay;
struct spool;
struct poller;
struct snapshot;

/*
 * Starts the poller of cfg->devices[device]; cfg must outlive it. Devices
 * are started in order, started[] holding those before it: a device on
 * the bus of an earlier one joins its thread, the first starts it.
 */
struct poller *poller_start(const struct config *, size_t device,
	    struct spool *, struct relay *, struct poller *const *started);
/* Asks its bus thread to stop (it finishes its current request at most);
 * lets a caller stop many buses in parallel before poller_stop(). */
void	poller_cancel(struct poller *);
/* Stops and joins its bus thread (the others on the bus are no longer
 * served either; stop them all); the alarm state is saved. */
void	poller_stop(struct poller *);
/* Monotonic ms of its bus thread's last loop iteration (watchdog). */
uint64_t poller_last_alive_ms(const struct poller *);
/* Longest time one loop iteration may legitimately take. */
uint64_t poller_max_cycle_ms(const struct poller *);
/* Control requests. 0 ok; -1 with a message written to out.
 * ENOENT (rule not on this device) is returned as 1, nothing written.
 * by: who acknowledged and how, for the mail ("root via modbus2mail ack"). */
int	poller_ack(struct poller *, const char *rule, const char *by,
	    FILE *out);
int	poller_shelve(struct poller *, const char *rule, uint64_t ms,
	    const char *reason, FILE *out);
/* alarm_engine_episode() of this device's engine, under its lock. */
size_t	poller_episode(struct poller *, const char *msgid, const char *addr,
	    struct alarm_episode *ep, size_t max);

/*
 * One read of cfg->devices[device] into plan (built here; the caller
 * frees it with readplan_free()). 0 (requests may still have failed one
 * by one: their ok flags), -1 unreachable or 1 the reads failed, with why.
 */
int	poller_read_once(const struct config *, size_t device,
	    struct readplan *plan, char *why, size_t whylen);
/* Alarm slots of the device (rules and pseudo-rules). */
size_t	poller_slots(struct poller *);
/* Appends the device and at most max - s->nalarm of its slots to s. */
void	poller_snapshot(struct poller *, struct snapshot *s, size_t max);
/* `modbus2mail poll [DEVICE]`: read once, print values and states. */
int	poller_poll_once(const struct config *, const char *device, FILE *out);

#endif
