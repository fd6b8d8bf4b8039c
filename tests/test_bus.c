/*
 * Tests for bus.c against peers in this process: a pty pair (the bus
 * opens the slave as its serial port, a thread answers on the master as
 * scripted) and a loopback TCP listener. RTU: a good reply, a CRC error,
 * a short frame and another unit's reply are told apart and the line
 * stays usable; a late reply is flushed, never taken for the next
 * request; the inter-frame silence is kept. TCP: a late reply is skipped
 * by its transaction id on a shared connection, which a timeout does not
 * close; a bus of one closes on a timeout. A held port is refused to a
 * second bus (root too), a regular file or FIFO as the port at once; a
 * line that never goes quiet gets no request.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <pty.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "modbus2mail/bus.h"
#include "modbus2mail/config.h"
#include "modbus2mail/mbframe.h"
#include "modbus2mail/util.h"

enum act {
	ACT_GOOD,		/* regs = unit * 100 + i */
	ACT_CRC,		/* one bit flipped */
	ACT_SHORT,		/* the last two bytes never come */
	ACT_OTHER_UNIT,		/* a sound reply from unit 7 */
	ACT_LATE,		/* silent, the reply after 3 timeouts */
};

struct peer {
	int fd;			/* pty master or TCP connection */
	const enum act *script;
	size_t n;
	uint64_t wrote_us;	/* when writing the last reply began */
	uint64_t min_gap_us;	/* shortest reply-to-next-request gap */
	size_t stall_at;	/* the reply after which the peer stalls */
	useconds_t stall_us;	/* as if preempted between write and stamp */
	int late_done;		/* the late reply is on the line */
	pthread_mutex_t lock;
	pthread_cond_t cond;
};

/* Reads exactly n bytes within 2 s; 0 ok. */
static int
read_n(int fd, uint8_t *b, size_t n)
{
	struct pollfd pfd = { fd, POLLIN, 0 };
	ssize_t r;
	size_t got = 0;

	while (got < n) {
		if (poll(&pfd, 1, 2000) != 1)
			return -1;
		if ((r = read(fd, b + got, n - got)) <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static size_t
rtu_reply(uint8_t unit, uint16_t n, uint8_t *out)
{
	uint16_t i, crc;

	out[0] = unit;
	out[1] = 3;
	out[2] = (uint8_t)(2 * n);
	for (i = 0; i < n; i++) {
		out[3 + 2 * i] = (uint8_t)((unit * 100 + i) >> 8);
		out[4 + 2 * i] = (uint8_t)(unit * 100 + i);
	}
	crc = mbframe_crc16(out, 3 + 2u * n);
	out[3 + 2 * n] = (uint8_t)crc;
	out[4 + 2 * n] = (uint8_t)(crc >> 8);
	return 5 + 2u * n;
}

static void *
rtu_peer(void *arg)
{
	struct peer *p = arg;
	uint8_t rq[8], rsp[64];
	size_t i, len;
	uint64_t t;

	for (i = 0; i < p->n; i++) {
		if (read_n(p->fd, rq, sizeof(rq)) == -1)
			break;
		t = util_mono_us();
		if (p->wrote_us != 0 && t - p->wrote_us < p->min_gap_us)
			p->min_gap_us = t - p->wrote_us;
		assert_int_equal(mbframe_crc16(rq, 6), rq[6] | rq[7] << 8);
		len = rtu_reply(rq[0], (uint16_t)(rq[4] << 8 | rq[5]), rsp);
		switch (p->script[i]) {
		case ACT_GOOD:
			break;
		case ACT_CRC:
			rsp[4] ^= 0x08;
			break;
		case ACT_SHORT:
			len -= 2;
			break;
		case ACT_OTHER_UNIT:
			len = rtu_reply(7, (uint16_t)(rq[4] << 8 | rq[5]), rsp);
			break;
		case ACT_LATE:
			usleep(300000);
			break;
		}
		/*
		 * Stamped before the write: the bus cannot see a reply
		 * before it is written, so the gap measured is never
		 * shorter than the one the bus kept, however late this
		 * thread runs after write() (a stamp after it was).
		 */
		p->wrote_us = util_mono_us();
		assert_int_equal(write(p->fd, rsp, len), (ssize_t)len);
		if (i == p->stall_at)
			usleep(p->stall_us);
		pthread_mutex_lock(&p->lock);
		p->late_done |= p->script[i] == ACT_LATE;
		pthread_cond_signal(&p->cond);
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

static enum bus_result
read2(struct bus *b, uint8_t unit, uint16_t *regs, char *why)
{
	uint8_t rsp[BUS_RSP_MAX];
	struct mbframe_req rq = { 0, unit, 3, 0, 2 };
	enum bus_result r;

	r = bus_transact(b, &rq, 100, rsp, why, 128);
	if (r == BUS_OK)
		mbframe_regs(rsp, 2, regs);
	return r;
}

static void
rtu_dev(struct config_device *d, char *port)
{
	memset(d, 0, sizeof(*d));
	d->name = "vfd";
	d->serial.port = port;
	d->serial.baud = 19200;
	d->serial.parity = 'N';
	d->serial.data_bits = 8;
	d->serial.stop_bits = 1;
	d->timeout_ms = 100;
}

static void
test_rtu(void **state)
{
	static const enum act script[] = { ACT_GOOD, ACT_CRC, ACT_GOOD,
		ACT_SHORT, ACT_OTHER_UNIT, ACT_GOOD, ACT_LATE, ACT_GOOD };
	struct config_device d;
	struct peer p;
	struct bus *b;
	pthread_t th;
	char why[128], name[64];
	uint16_t regs[2];
	int slave;

	(void)state;
	memset(&p, 0, sizeof(p));
	assert_int_equal(openpty(&p.fd, &slave, name, NULL, NULL), 0);
	rtu_dev(&d, name);
	p.script = script;
	p.n = sizeof(script) / sizeof(script[0]);
	p.min_gap_us = UINT64_MAX;
	p.stall_at = 0;
	p.stall_us = 5000;	/* longer than the silence */
	pthread_mutex_init(&p.lock, NULL);
	pthread_cond_init(&p.cond, NULL);
	b = bus_new(&d, 2);
	assert_int_equal(bus_open(b, why, sizeof(why)), 0);
	assert_int_equal(pthread_create(&th, NULL, rtu_peer, &p), 0);

	assert_int_equal(read2(b, 3, regs, why), BUS_OK);
	assert_int_equal(regs[0], 300);
	assert_int_equal(regs[1], 301);
	assert_int_equal(read2(b, 3, regs, why), BUS_CRC);
	assert_string_equal(why, "CRC error");
	assert_int_equal(read2(b, 4, regs, why), BUS_OK);
	assert_int_equal(regs[1], 401);
	assert_int_equal(read2(b, 3, regs, why), BUS_SHORT);
	assert_string_equal(why, "short frame: 7 of 9 bytes");
	assert_int_equal(read2(b, 3, regs, why), BUS_WRONG_UNIT);
	assert_string_equal(why, "reply from unit 7, expected 3");
	assert_int_equal(read2(b, 4, regs, why), BUS_OK);
	/* unit 3 answers after its timeout: not unit 4's reply */
	assert_int_equal(read2(b, 3, regs, why), BUS_TIMEOUT);
	assert_string_equal(why, "no complete reply within 100ms");
	pthread_mutex_lock(&p.lock);
	while (!p.late_done)
		pthread_cond_wait(&p.cond, &p.lock);
	pthread_mutex_unlock(&p.lock);
	assert_int_equal(read2(b, 4, regs, why), BUS_OK);
	assert_int_equal(regs[0], 400);
	assert_true(bus_is_open(b));
	pthread_join(th, NULL);
	/* 3.5 characters of 10 bits at 19200 baud */
	assert_true(p.min_gap_us >= 1823);
	bus_free(b);
	close(slave);
	close(p.fd);
}

/* A second bus on a held port is refused (root too: TIOCEXCL is not
 * enough), before it touches the line; free once the first closes. */
static void
test_rtu_one_owner(void **state)
{
	struct config_device d;
	struct bus *a, *b;
	char why[256], name[64], want[128];
	int master, slave;

	(void)state;
	assert_int_equal(openpty(&master, &slave, name, NULL, NULL), 0);
	rtu_dev(&d, name);
	a = bus_new(&d, 1);
	b = bus_new(&d, 1);
	assert_int_equal(bus_open(a, why, sizeof(why)), 0);
	assert_int_equal(bus_open(b, why, sizeof(why)), -1);
	snprintf(want, sizeof(want), "%s: in use (another modbus2mail holds "
	    "it)", name);
	assert_string_equal(why, want);
	assert_false(bus_is_open(b));
	bus_close(a);
	assert_int_equal(bus_open(b, why, sizeof(why)), 0);
	bus_free(a);
	bus_free(b);
	close(slave);
	close(master);
}

/* A byte every 500 us for 500 ms at least: never the 29 ms of silence
 * of a 1200-baud line, however late this thread runs. */
static void *
rtu_jabber(void *arg)
{
	int fd = *(int *)arg, i;
	uint8_t c = 0x55;

	for (i = 0; i < 1000; i++) {
		if (write(fd, &c, 1) != 1)
			break;
		usleep(500);
	}
	return NULL;
}

/* A line that never goes quiet: no request sent into it, the request
 * over within its timeout (and some scheduling slack). */
static void
test_rtu_noise(void **state)
{
	struct config_device d;
	struct pollfd pfd;
	struct bus *b;
	pthread_t th;
	char why[256], name[64];
	uint16_t regs[2];
	uint64_t t0, took;
	int master, slave;

	(void)state;
	assert_int_equal(openpty(&master, &slave, name, NULL, NULL), 0);
	rtu_dev(&d, name);
	d.serial.baud = 1200;
	b = bus_new(&d, 1);
	assert_int_equal(bus_open(b, why, sizeof(why)), 0);
	assert_int_equal(pthread_create(&th, NULL, rtu_jabber, &master), 0);
	usleep(20000);
	t0 = util_mono_us();
	assert_int_equal(read2(b, 3, regs, why), BUS_NOISE);
	took = util_mono_us() - t0;
	assert_string_equal(why, "line never quiet for 3.5 characters within "
	    "100ms (a unit sending noise, or another master)");
	/* ms clock: the deadline may come up to 1 ms early */
	assert_true(took >= 99000 && took < 1000000);
	pthread_join(th, NULL);
	pfd.fd = master;
	pfd.events = POLLIN;
	assert_int_equal(poll(&pfd, 1, 0), 0);	/* nothing was sent */
	assert_true(bus_is_open(b));
	bus_free(b);
	close(slave);
	close(master);
}

/* A regular file or a FIFO as the port: a clear error, at once. */
static void
test_rtu_not_a_tty(void **state)
{
	char dir[] = "/tmp/test_bus.XXXXXX", file[64], fifo[64], want[128];
	struct config_device d;
	struct bus *b;
	char why[256];
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/file", dir);
	snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
	assert_true((fd = open(file, O_CREAT | O_WRONLY, 0600)) >= 0);
	close(fd);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	rtu_dev(&d, file);
	b = bus_new(&d, 1);
	assert_int_equal(bus_open(b, why, sizeof(why)), -1);
	snprintf(want, sizeof(want), "%s: not a serial port (a regular file)",
	    file);
	assert_string_equal(why, want);
	bus_free(b);
	d.serial.port = fifo;
	b = bus_new(&d, 1);
	assert_int_equal(bus_open(b, why, sizeof(why)), -1);
	snprintf(want, sizeof(want), "%s: not a serial port (a FIFO)", fifo);
	assert_string_equal(why, want);
	bus_free(b);
	unlink(file);
	unlink(fifo);
	rmdir(dir);
}

/* TCP: a listener on 127.0.0.1 whose peer answers request 1 only after
 * request 2 came, then request 2. */
static void *
tcp_peer(void *arg)
{
	struct peer *p = arg;
	uint8_t rq1[12], rq2[12], rsp[13] = { 0, 0, 0, 0, 0, 7, 0, 3, 4, 0,
	    1, 0, 2 };
	int c;

	if ((c = accept(p->fd, NULL, NULL)) == -1)
		return NULL;
	if (read_n(c, rq1, 12) == 0 && read_n(c, rq2, 12) == 0) {
		memcpy(rsp, rq1, 2);
		rsp[6] = rq1[6];
		assert_int_equal(write(c, rsp, sizeof(rsp)), 13);
		memcpy(rsp, rq2, 2);
		rsp[6] = rq2[6];
		rsp[12] = 9;
		assert_int_equal(write(c, rsp, sizeof(rsp)), 13);
	}
	/* a third request is never answered */
	read_n(c, rq1, 12);
	read_n(c, rq1, 1);
	close(c);
	return NULL;
}

/* A peer that answers with earlier transaction ids only, one every
 * millisecond, for 3 s at most. */
static void *
tcp_stale_peer(void *arg)
{
	struct peer *p = arg;
	uint8_t rq[12], rsp[13] = { 0, 0, 0, 0, 0, 7, 12, 3, 4, 0, 1, 0, 2 };
	uint16_t tid;
	int c, i;

	if ((c = accept(p->fd, NULL, NULL)) == -1)
		return NULL;
	if (read_n(c, rq, 12) == 0)
		for (i = 0; i < 3000; i++) {
			tid = (uint16_t)((rq[0] << 8 | rq[1]) - 1 - i % 8);
			rsp[0] = (uint8_t)(tid >> 8);
			rsp[1] = (uint8_t)tid;
			if (send(c, rsp, sizeof(rsp), MSG_NOSIGNAL) != sizeof(rsp))
				break;
			usleep(1000);
		}
	close(c);
	return NULL;
}

/* A bus (open) to a loopback listener whose connection fn serves. */
static struct bus *
tcp_bus(struct config_device *d, struct peer *p, size_t ndev,
    void *(*fn)(void *), pthread_t *th)
{
	static char host[] = "127.0.0.1";
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	struct bus *b;
	char why[128];

	memset(d, 0, sizeof(*d));
	memset(p, 0, sizeof(*p));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	p->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(p->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(p->fd, 1), 0);
	assert_int_equal(getsockname(p->fd, (struct sockaddr *)&sa, &salen),
	    0);
	d->name = "gw";
	d->host = host;
	d->port = ntohs(sa.sin_port);
	d->timeout_ms = 100;
	b = bus_new(d, ndev);
	assert_int_equal(pthread_create(th, NULL, fn, p), 0);
	assert_int_equal(bus_open(b, why, sizeof(why)), 0);
	return b;
}

/*
 * Unit 12 times out on a bus to the peer fn, within its 100 ms (late
 * replies skipped do not extend it); then unit 13 is read when tcp_peer
 * has its reply waiting.
 */
static void
tcp_run(size_t ndev, void *(*fn)(void *))
{
	struct config_device d;
	struct peer p;
	struct bus *b;
	pthread_t th;
	char why[128];
	uint16_t regs[2];
	uint64_t t0;

	b = tcp_bus(&d, &p, ndev, fn, &th);
	t0 = util_mono_us();
	assert_int_equal(read2(b, 12, regs, why), BUS_TIMEOUT);
	assert_true(util_mono_us() - t0 < 1000000);
	if (fn == tcp_peer && ndev == 1) {
		/* alone on it: the connection is not trusted any more */
		assert_false(bus_is_open(b));
		assert_int_equal(read2(b, 13, regs, why), BUS_IO);
	} else if (fn == tcp_peer) {
		/* shared: the late reply to unit 12 is skipped */
		assert_true(bus_is_open(b));
		assert_int_equal(read2(b, 13, regs, why), BUS_OK);
		assert_int_equal(regs[1], 9);
	}
	bus_free(b);
	pthread_join(th, NULL);
	close(p.fd);
}

static void
test_tcp_shared_skips_late_reply(void **state)
{
	(void)state;
	tcp_run(2, tcp_peer);
}

static void
test_tcp_alone_closes_on_timeout(void **state)
{
	(void)state;
	tcp_run(1, tcp_peer);
}

/* Late replies without end do not hold the bus past the timeout. */
static void
test_tcp_stale_replies_end_at_timeout(void **state)
{
	(void)state;
	tcp_run(2, tcp_stale_peer);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rtu),
		cmocka_unit_test(test_rtu_one_owner),
		cmocka_unit_test(test_rtu_noise),
		cmocka_unit_test(test_rtu_not_a_tty),
		cmocka_unit_test(test_tcp_shared_skips_late_reply),
		cmocka_unit_test(test_tcp_alone_closes_on_timeout),
		cmocka_unit_test(test_tcp_stale_replies_end_at_timeout),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
