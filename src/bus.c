/*
 * bus.c - one Modbus link per bus (see bus.h). libmodbus opens the port
 * (termios, RS-485 mode, RTS) or connects, and sends RTU requests with
 * their CRC and RTS toggling; the bus builds its own TCP frames
 * (libmodbus's raw requests all carry transaction id 0) and reads RTU
 * replies itself, so a CRC error, a short frame and another unit's reply
 * are told apart instead of all being "timeout" or "bad data".
 */
#include <errno.h>
#include <fcntl.h>
#include <modbus.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "modbus2mail/bus.h"
#include "modbus2mail/config.h"
#include "modbus2mail/log.h"
#include "modbus2mail/mbframe.h"
#include "modbus2mail/sched.h"
#include "modbus2mail/util.h"

/* USB adapters hand over a frame in chunks up to 16 ms apart. */
#define BUS_GAP_SLACK_MS	50

struct bus {
	const struct config_device *dev; /* whose line or host:port */
	size_t ndev;
	modbus_t *mb;			/* NULL: closed */
	int lock_fd;			/* RTU: holds the port's lock */
	unsigned generation;
	uint16_t tid;			/* TCP: last transaction id */
	size_t timeouts;		/* TCP: in a row, any device */
	uint64_t silence_us;		/* RTU: 3.5 characters */
	uint64_t quiet_at_us;		/* RTU: line free from then on */
	int rs485_warned;
};

static void	bus_wait_quiet(struct bus *);
static int	bus_lock_port(struct bus *, char *, size_t);
static int	bus_open_rtu(struct bus *, char *, size_t);
static int	bus_open_tcp(struct bus *, char *, size_t);
static enum bus_result bus_result_of(enum mbframe_result);
static enum bus_result bus_rtu(struct bus *, struct mbframe_req *,
		    uint64_t, uint8_t *, char *, size_t);
static size_t	bus_rtu_read(struct bus *, const struct mbframe_req *,
		    uint64_t, uint8_t *, int *);
static int	bus_rtu_settle(struct bus *, uint64_t);
static enum bus_result bus_tcp(struct bus *, struct mbframe_req *,
		    uint64_t, uint8_t *, char *, size_t);

struct bus *
bus_new(const struct config_device *dev, size_t ndev)
{
	struct bus *b = xcalloc(1, sizeof(*b));
	const struct config_serial *s = &dev->serial;

	b->dev = dev;
	b->ndev = ndev;
	b->lock_fd = -1;
	if (s->port != NULL)
		b->silence_us = sched_silence_us(s->baud, 1 + s->data_bits +
		    (s->parity != 'N') + s->stop_bits);
	return b;
}

void
bus_free(struct bus *b)
{
	if (b == NULL)
		return;
	bus_close(b);
	free(b);
}

int
bus_is_open(const struct bus *b)
{
	return b->mb != NULL;
}

unsigned
bus_generation(const struct bus *b)
{
	return b->generation;
}

void
bus_close(struct bus *b)
{
	if (b->mb != NULL) {
		modbus_close(b->mb);	/* puts the line settings back */
		modbus_free(b->mb);
		b->mb = NULL;
	}
	if (b->lock_fd != -1) {
		close(b->lock_fd);
		b->lock_fd = -1;
	}
}

int
bus_open(struct bus *b, char *why, size_t whylen)
{
	int r;

	if (b->mb != NULL)
		return 0;
	r = b->dev->serial.port != NULL ? bus_open_rtu(b, why, whylen) :
	    bus_open_tcp(b, why, whylen);
	if (r == -1) {
		bus_close(b);
		return -1;
	}
	b->generation++;
	b->timeouts = 0;
	return 0;
}

static int
bus_open_tcp(struct bus *b, char *why, size_t whylen)
{
	char port[8];

	snprintf(port, sizeof(port), "%u", b->dev->port);
	if ((b->mb = modbus_new_tcp_pi(b->dev->host, port)) == NULL) {
		snprintf(why, whylen, "modbus_new_tcp_pi: %s", strerror(errno));
		return -1;
	}
	/*
	 * No byte timeout: libmodbus then bounds the whole reply by the
	 * response timeout (select() counts it down on Linux), where a byte
	 * timeout would restart with every byte a device drips.
	 */
	modbus_set_byte_timeout(b->mb, 0, 0);
	modbus_set_response_timeout(b->mb, (uint32_t)(b->dev->timeout_ms /
	    1000), (uint32_t)(b->dev->timeout_ms % 1000) * 1000);
	if (modbus_connect(b->mb) == -1) {
		snprintf(why, whylen, "connect %s:%u: %s", b->dev->host,
		    b->dev->port, modbus_strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * One owner per line, taken before libmodbus sets the line up: `poll`
 * meets a busy port, never changes or garbles the daemon's line. TIOCEXCL
 * (below) refuses other opens but root's; this lock refuses a second
 * modbus2mail whoever runs it. Anything but a tty is refused here, where
 * a FIFO or a file would otherwise be read as a silent line.
 */
static int
bus_lock_port(struct bus *b, char *why, size_t whylen)
{
	const char *port = b->dev->serial.port;
	struct stat st = { 0 };

	if ((b->lock_fd = open(port, O_RDWR | O_NOCTTY | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		snprintf(why, whylen, "%s: %s", port, errno == EBUSY ? "in use "
		    "(opened exclusively by another modbus2mail or program)" :
		    strerror(errno));
		return -1;
	}
	if (fstat(b->lock_fd, &st) == -1 || !S_ISCHR(st.st_mode) ||
	    !isatty(b->lock_fd)) {
		snprintf(why, whylen, "%s: not a serial port (%s)", port,
		    S_ISREG(st.st_mode) ? "a regular file" :
		    S_ISFIFO(st.st_mode) ? "a FIFO" : S_ISSOCK(st.st_mode) ?
		    "a socket" : "a device that is no tty");
		return -1;
	}
	if (flock(b->lock_fd, LOCK_EX | LOCK_NB) == -1) {
		snprintf(why, whylen, "%s: %s", port, errno == EWOULDBLOCK ?
		    "in use (another modbus2mail holds it)" : strerror(errno));
		return -1;
	}
	return 0;
}

static int
bus_open_rtu(struct bus *b, char *why, size_t whylen)
{
	const struct config_serial *s = &b->dev->serial;

	if (bus_lock_port(b, why, whylen) == -1)
		return -1;
	if ((b->mb = modbus_new_rtu(s->port, (int)s->baud, (char)s->parity,
	    (int)s->data_bits, (int)s->stop_bits)) == NULL) {
		snprintf(why, whylen, "modbus_new_rtu %s: %s", s->port,
		    strerror(errno));
		return -1;
	}
	if (modbus_connect(b->mb) == -1) {
		snprintf(why, whylen, "open %s: %s", s->port,
		    modbus_strerror(errno));
		return -1;
	}
	if (ioctl(modbus_get_socket(b->mb), TIOCEXCL) == -1) {
		snprintf(why, whylen, "%s: TIOCEXCL: %s", s->port,
		    strerror(errno));
		return -1;
	}
	if (s->rts == RTS_NONE)
		return 0;
	/* the kernel's RS-485 mode where the UART driver has one; libmodbus
	 * toggles RTS around each request either way */
	if (modbus_rtu_set_serial_mode(b->mb, MODBUS_RTU_RS485) == -1 &&
	    !b->rs485_warned) {
		log_info("bus: %s: no kernel RS-485 mode (%s); RTS is "
		    "switched by modbus2mail", s->port, strerror(errno));
		b->rs485_warned = 1;
	}
	if (modbus_rtu_set_rts(b->mb, s->rts == RTS_UP ? MODBUS_RTU_RTS_UP :
	    MODBUS_RTU_RTS_DOWN) == -1) {
		snprintf(why, whylen, "%s: rts: %s", s->port,
		    modbus_strerror(errno));
		return -1;
	}
	return 0;
}

static enum bus_result
bus_result_of(enum mbframe_result r)
{
	switch (r) {
	case MBFRAME_OK:
		return BUS_OK;
	case MBFRAME_EXCEPTION:
		return BUS_EXCEPTION;
	case MBFRAME_BAD_UNIT:
		return BUS_WRONG_UNIT;
	case MBFRAME_BAD_CRC:
		return BUS_CRC;
	case MBFRAME_SHORT:
		return BUS_SHORT;
	case MBFRAME_BAD_FRAME:
	case MBFRAME_STALE:
		return BUS_BAD_FRAME;
	}
	fatalx("bus: bad frame result %d", r);
}

enum bus_result
bus_transact(struct bus *b, struct mbframe_req *rq, uint64_t timeout_ms,
    uint8_t *rsp, char *why, size_t whylen)
{
	enum bus_result r;

	if (b->mb == NULL) {
		snprintf(why, whylen, "not connected");
		return BUS_IO;
	}
	rq->tid = ++b->tid;
	r = b->dev->serial.port != NULL ?
	    bus_rtu(b, rq, timeout_ms, rsp, why, whylen) :
	    bus_tcp(b, rq, timeout_ms, rsp, why, whylen);
	if (r == BUS_TIMEOUT)
		snprintf(why, whylen, "no complete reply within %llums",
		    (unsigned long long)timeout_ms);
	if (r == BUS_IO)
		bus_close(b);
	return r;
}

/*
 * TCP: our own frame, libmodbus receives one reply at a time (by its
 * length fields) until the one with our transaction id; replies that
 * came after their own timeout are skipped.
 */
static enum bus_result
bus_tcp(struct bus *b, struct mbframe_req *rq, uint64_t timeout_ms,
    uint8_t *rsp, char *why, size_t whylen)
{
	uint8_t req[MBFRAME_REQ_LEN];
	uint64_t deadline = util_mono_ms() + timeout_ms, now, left;
	enum mbframe_result m;
	int n;

	mbframe_build(rq, req);
	/* 12 bytes into a socket whose previous reply was read */
	if (send(modbus_get_socket(b->mb), req, sizeof(req),
	    MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)sizeof(req)) {
		snprintf(why, whylen, "send: %s", strerror(errno));
		return BUS_IO;
	}
	do {
		/* skipping late replies never extends the deadline */
		errno = ETIMEDOUT;
		n = -1;
		if ((now = util_mono_ms()) < deadline) {
			left = deadline - now;
			modbus_set_response_timeout(b->mb, (uint32_t)(left /
			    1000), (uint32_t)(left % 1000) * 1000);
			n = modbus_receive_confirmation(b->mb, rsp);
		}
		if (n == -1) {
			if (errno != ETIMEDOUT) {
				snprintf(why, whylen, "receive: %s",
				    modbus_strerror(errno));
				return BUS_IO;
			}
			/* a gateway whose every unit is silent is dead */
			if (++b->timeouts >= b->ndev)
				bus_close(b);
			return BUS_TIMEOUT;
		}
		b->timeouts = 0;
		m = mbframe_check(rq, rsp, (size_t)n, why, whylen);
	} while (m == MBFRAME_STALE);
	if (m == MBFRAME_BAD_FRAME)
		bus_close(b);	/* the stream cannot be trusted any more */
	return bus_result_of(m);
}

/* RTU: silence (what came late discarded), send, read, check. */
static enum bus_result
bus_rtu(struct bus *b, struct mbframe_req *rq, uint64_t timeout_ms,
    uint8_t *rsp, char *why, size_t whylen)
{
	uint8_t req[MBFRAME_REQ_LEN];
	enum mbframe_result m;
	size_t len;
	int err = 0;

	mbframe_build(rq, req);
	/* a request sent into noise would only be garbled with it */
	if (bus_rtu_settle(b, timeout_ms) == -1) {
		snprintf(why, whylen, "line never quiet for 3.5 characters "
		    "within %llums (a unit sending noise, or another master)",
		    (unsigned long long)timeout_ms);
		return BUS_NOISE;
	}
	/* unit id and PDU; libmodbus adds the CRC and switches RTS */
	if (modbus_send_raw_request(b->mb, req + MBFRAME_MBAP_LEN - 1,
	    MBFRAME_REQ_LEN - MBFRAME_MBAP_LEN + 1) == -1) {
		snprintf(why, whylen, "send: %s", modbus_strerror(errno));
		return BUS_IO;
	}
	len = bus_rtu_read(b, rq, timeout_ms, rsp, &err);
	if (err != 0) {
		snprintf(why, whylen, "receive: %s", strerror(err));
		return BUS_IO;
	}
	if (len == 0) {
		b->quiet_at_us = util_mono_us() + b->silence_us;
		return BUS_TIMEOUT;
	}
	/* the rest of a bad frame is discarded before the next request */
	m = mbframe_check_rtu(rq, rsp, len, why, whylen);
	if (m == MBFRAME_OK || m == MBFRAME_EXCEPTION)
		mbframe_rtu_to_tcp(rq, rsp, len, rsp);
	b->quiet_at_us = util_mono_us() + b->silence_us;
	return bus_result_of(m);
}

static void
bus_wait_quiet(struct bus *b)
{
	uint64_t now = util_mono_us();
	struct timespec ts;

	if (now >= b->quiet_at_us)
		return;
	ts.tv_sec = (time_t)((b->quiet_at_us - now) / 1000000);
	ts.tv_nsec = (long)((b->quiet_at_us - now) % 1000000) * 1000;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/*
 * Before a request: discards what came late (a unit answering after its
 * timeout) and keeps the silence after it, for timeout_ms at most. 0 when
 * the line is quiet, -1 when bytes kept coming until then.
 */
static int
bus_rtu_settle(struct bus *b, uint64_t timeout_ms)
{
	struct pollfd pfd = { modbus_get_socket(b->mb), POLLIN, 0 };
	uint64_t deadline = util_mono_ms() + timeout_ms;
	uint8_t junk[4096];	/* a backlog of noise goes in a few reads */
	int r = 0;

	for (;;) {
		bus_wait_quiet(b);
		if (poll(&pfd, 1, 0) != 1 || read(pfd.fd, junk,
		    sizeof(junk)) <= 0)
			break;
		b->quiet_at_us = util_mono_us() + b->silence_us;
		if (util_mono_ms() >= deadline) {
			r = -1;
			break;
		}
	}
	/* only before a request: on a noisy line the next attempt drains */
	if (r == 0)
		tcflush(pfd.fd, TCIFLUSH);
	return r;
}

/*
 * Reads one reply: until it has the bytes its request and first bytes
 * call for, the timeout is over, or the bytes stop (a gap of 3.5
 * characters and some slack). The length read; *err set on I/O errors.
 */
static size_t
bus_rtu_read(struct bus *b, const struct mbframe_req *rq,
    uint64_t timeout_ms, uint8_t *rsp, int *err)
{
	struct pollfd pfd = { modbus_get_socket(b->mb), POLLIN, 0 };
	uint64_t deadline = util_mono_ms() + timeout_ms, now, wait;
	uint64_t gap = b->silence_us / 1000 + BUS_GAP_SLACK_MS;
	size_t len = 0, want;
	ssize_t n;
	int r;

	while (len < (want = mbframe_rtu_want(rq, rsp, len)) &&
	    want <= MBFRAME_RTU_MAX && (now = util_mono_ms()) < deadline) {
		wait = deadline - now;
		if (len > 0 && wait > gap)
			wait = gap;
		if ((r = poll(&pfd, 1, (int)wait)) == -1 && errno == EINTR)
			continue;
		if (r == 0)
			break;
		if (r == -1 || (n = read(pfd.fd, rsp + len, want - len)) == 0 ||
		    (n == -1 && errno != EAGAIN && errno != EINTR)) {
			*err = r == -1 || n == -1 ? errno : EIO;
			return 0;
		}
		if (n > 0)
			len += (size_t)n;
	}
	return len;
}
