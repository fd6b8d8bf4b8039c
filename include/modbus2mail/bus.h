/*
 * bus.h - the link of one bus: a serial port (Modbus RTU) or a TCP
 * connection shared by the devices on it, one libmodbus context, one
 * request at a time with the unit id in each request. Every reply is
 * checked (mbframe.h) before a byte of it is used, and classified so
 * that CRC errors, short frames and replies from another unit are
 * counted apart and never taken for data.
 *
 * RTU: before each request, whatever arrived since the last reply (the
 * rest of a bad frame, a unit answering after its timeout) is discarded
 * and the line kept silent for 3.5 characters after it, so a late reply
 * is never taken for the next unit's; a line that does not go quiet
 * within the request's timeout gets no request at all. TCP skips a late
 * reply by its transaction id. Not thread-safe: one bus thread owns the
 * link.
 */
#ifndef MODBUS2MAIL_BUS_H
#define MODBUS2MAIL_BUS_H

#include <stddef.h>
#include <stdint.h>

struct config_device;
struct mbframe_req;

enum bus_result {
	BUS_OK,
	BUS_EXCEPTION,		/* a well-formed exception reply */
	BUS_WRONG_UNIT,		/* a sound reply from another unit */
	BUS_CRC,		/* RTU: CRC error */
	BUS_SHORT,		/* RTU: the reply stopped short */
	BUS_BAD_FRAME,		/* function, length, echo, ids */
	BUS_TIMEOUT,		/* no reply at all */
	BUS_NOISE,		/* RTU: the line never went quiet, nothing
				 * sent (a unit jabbering, another master) */
	BUS_IO,			/* send/receive failed: link closed */
};

/* Largest reply bus_transact() writes (a TCP ADU). */
#define BUS_RSP_MAX	260

struct bus;

/* The link of dev's bus (its serial line or host:port), to be shared by
 * ndev devices; not open yet. */
struct bus *bus_new(const struct config_device *dev, size_t ndev);
void	bus_free(struct bus *);
/*
 * Opens the port or connects unless open: 0, or -1 with why. A serial
 * port is locked first, so a second modbus2mail (root's too) gets "PORT:
 * in use (another modbus2mail holds it)" before touching the line, and
 * anything but a tty is refused.
 */
int	bus_open(struct bus *, char *why, size_t whylen);
void	bus_close(struct bus *);
int	bus_is_open(const struct bus *);
/* Counts opens: a device that was written to may have restarted since. */
unsigned bus_generation(const struct bus *);
/*
 * Sends rq (its unit set; the transaction id is the bus's) and waits at
 * most timeout_ms for the reply, written to rsp in the TCP layout for
 * mbframe_bits()/mbframe_regs(). why is set unless BUS_OK. The link is
 * closed when it cannot be trusted: an I/O error; over TCP a bad frame,
 * or a timeout when every device on the connection timed out in a row.
 */
enum bus_result bus_transact(struct bus *, struct mbframe_req *rq,
	    uint64_t timeout_ms, uint8_t *rsp, char *why, size_t whylen);

#endif
