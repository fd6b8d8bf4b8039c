/*
 * m2mfw_shim.c - TEST FIXTURE, not shipped: serves the firmware core
 * (src/firmware/m2mfw.c, standard map) over Modbus/TCP on a loopback port,
 * and with -s over Modbus RTU on a serial line (a pty in the tests), so
 * mbpoll, libmodbus and the modbus2mail daemon can poll it as if it were
 * a Controllino.
 *
 * usage: m2mfw_shim [-p PORT] [-c CTLPORT] [-u UNIT] [-H] [-s TTY [-b BAUD]]
 *   -p  Modbus/TCP port (0 = any free one; default 0)
 *   -c  control port (0 = any free one; default 0)
 *   -u  unit id to answer (default 1; 0 = any, TCP only)
 *   -H  advance the heartbeat register every second, as the sketch does
 *   -s  also answer Modbus RTU on this tty (raw mode; unit id 1..247),
 *       framed as the Arduino glue frames it: bytes timed as they are
 *       read, the silences (m2mfw_rtu.h) those of BAUD
 *   -b  the line's baud rate, for that silence (default 19200)
 * Binds 127.0.0.1 only. Prints "modbus=PORT control=PORT" once ready, and
 * "write TABLE ADDR VALUE" for every coil/register the client writes.
 *
 * Control protocol, one command per line, one reply line each:
 *   set coil|di|hr|ir ADDR VALUE   -> ok | err ...
 *   get coil|di|hr|ir ADDR         -> VALUE | err ...
 *   tick                           -> ok (advance the heartbeat)
 *   stats                          -> requests=N exceptions=N clients=N
 *                                     dropped=N (RTU frames: CRC, length)
 *   quit                           -> bye, then the shim exits 0
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "m2mfw_rtu.h"

#define MAX_CLIENTS	8
#define MAX_CTL		4
#define CTL_LINE	128
#define NPOLL		(3 + MAX_CLIENTS + MAX_CTL)	/* + listeners, tty */

struct conn {				/* a Modbus or a control client */
	int	 fd;			/* -1: free slot */
	uint8_t	 buf[M2MFW_ADU_MAX];	/* control: a NUL-terminated line */
	size_t	 len;
};

struct shim {
	struct m2mfw		 fw;
	struct m2mfw_std_tables	 tables;
	int			 mb_fd;
	int			 ctl_fd;
	struct conn		 mb[MAX_CLIENTS];
	struct conn		 ctl[MAX_CTL];
	int			 tty_fd;	/* RTU line, or -1 */
	struct m2mfw_rtu	 rtu;
	int			 quit;
};

static int	 shim_listen(unsigned long, unsigned short *);
static void	 shim_on_write(void *, enum m2mfw_table, uint16_t, uint16_t);
static void	 shim_accept(int, struct conn *, int);
static void	 shim_read_mb(struct shim *, struct conn *);
static void	 shim_read_ctl(struct shim *, struct conn *);
static void	 shim_command(struct shim *, char *, char *, size_t);
static int	 shim_table(const char *, enum m2mfw_table *);
static int	 shim_number(const char *, unsigned long, unsigned long *);
static int	 write_all(int, const void *, size_t);
static int	 shim_open_tty(const char *);
static void	 shim_read_rtu(struct shim *);
static void	 shim_answer_rtu(struct shim *);
static int	 shim_timeout(const struct shim *);
static int	 shim_setup(struct shim *, unsigned long, const char *,
		    unsigned long);
static void	 shim_dispatch(struct shim *, const struct pollfd *);
static uint64_t	 mono_ms(void);
static uint32_t	 mono_us(void);
static void	 usage(void);

static void
usage(void)
{
	fprintf(stderr, "usage: m2mfw_shim [-p port] [-c ctlport] [-u unit] [-H] "
	    "[-s tty [-b baud]]\n");
	exit(2);
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The RTU clock: microseconds, wrapping at 2^32 like the AVR's micros(). */
static uint32_t
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * 1000000 +
	    (uint64_t)ts.tv_nsec / 1000);
}

static int
shim_number(const char *s, unsigned long max, unsigned long *out)
{
	char		*end;
	unsigned long	 v;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 0);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	*out = v;
	return 0;
}

static int
shim_listen(unsigned long port, unsigned short *bound)
{
	struct sockaddr_in	sin;
	socklen_t		slen = sizeof(sin);
	int			fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((unsigned short)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 16) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &slen) == -1) {
		close(fd);
		return -1;
	}
	*bound = ntohs(sin.sin_port);
	return fd;
}

static int
write_all(int fd, const void *p, size_t n)
{
	const uint8_t	*b = p;
	ssize_t		 w;

	while (n > 0) {
		w = write(fd, b, n);
		if (w == -1 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

static void
shim_on_write(void *arg, enum m2mfw_table t, uint16_t addr, uint16_t v)
{
	(void)arg;
	printf("write %s %u %u\n", t == M2MFW_COILS ? "coil" : "hr",
	    (unsigned)addr, (unsigned)v);
	fflush(stdout);
}

static void
shim_accept(int lfd, struct conn *slots, int nslots)
{
	int	fd, i;

	if ((fd = accept(lfd, NULL, NULL)) == -1)
		return;
	for (i = 0; i < nslots; i++) {
		if (slots[i].fd == -1) {
			slots[i].fd = fd;
			slots[i].len = 0;
			return;
		}
	}
	close(fd);		/* full, like a W5100 out of sockets */
}

/* The same stream loop the Arduino wrapper runs: frame, answer, consume. */
static void
shim_read_mb(struct shim *s, struct conn *c)
{
	uint8_t	resp[M2MFW_ADU_MAX];
	ssize_t	r;
	int	n, rl;

	r = read(c->fd, c->buf + c->len, sizeof(c->buf) - c->len);
	if (r <= 0)
		goto drop;
	c->len += (size_t)r;
	while ((n = m2mfw_frame_len(c->buf, c->len)) > 0) {
		rl = m2mfw_handle(&s->fw, c->buf, c->len, resp, sizeof(resp));
		if (rl < 0)
			goto drop;
		if (rl > 0 && write_all(c->fd, resp, (size_t)rl) == -1)
			goto drop;
		memmove(c->buf, c->buf + n, c->len - (size_t)n);
		c->len -= (size_t)n;
	}
	if (n == M2MFW_EPROTO)
		goto drop;
	return;
drop:
	close(c->fd);
	c->fd = -1;
}

static int
shim_table(const char *name, enum m2mfw_table *t)
{
	if (name == NULL)
		return -1;
	if (strcmp(name, "coil") == 0)
		*t = M2MFW_COILS;
	else if (strcmp(name, "di") == 0)
		*t = M2MFW_DISCRETE;
	else if (strcmp(name, "hr") == 0)
		*t = M2MFW_HOLDING;
	else if (strcmp(name, "ir") == 0)
		*t = M2MFW_INPUT;
	else
		return -1;
	return 0;
}

static void
shim_command(struct shim *s, char *line, char *out, size_t outlen)
{
	char			*argv[5], *p = line;
	enum m2mfw_table	 t;
	unsigned long		 addr, v;
	uint16_t		 w;
	int			 argc = 0, bit, i, n;

	/* Split on blanks; no strtok (STYLE.md banned list). */
	while (argc < 5) {
		p += strspn(p, " \t\r");
		if (*p == '\0')
			break;
		argv[argc++] = p;
		p += strcspn(p, " \t\r");
		if (*p != '\0')
			*p++ = '\0';
	}
	if (argc == 0) {
		snprintf(out, outlen, "err empty\n");
	} else if (strcmp(argv[0], "set") == 0 && argc == 4 &&
	    shim_table(argv[1], &t) == 0 &&
	    shim_number(argv[2], 0xFFFF, &addr) == 0 &&
	    shim_number(argv[3], 0xFFFF, &v) == 0) {
		if (t == M2MFW_COILS || t == M2MFW_DISCRETE)
			i = v > 1 ? -1 : m2mfw_set_bit(&s->fw, t,
			    (uint16_t)addr, (int)v);
		else
			i = m2mfw_set_word(&s->fw, t, (uint16_t)addr,
			    (uint16_t)v);
		snprintf(out, outlen, i == 0 ? "ok\n" : "err range\n");
	} else if (strcmp(argv[0], "get") == 0 && argc == 3 &&
	    shim_table(argv[1], &t) == 0 &&
	    shim_number(argv[2], 0xFFFF, &addr) == 0) {
		if (t == M2MFW_COILS || t == M2MFW_DISCRETE) {
			bit = m2mfw_get_bit(&s->fw, t, (uint16_t)addr);
			if (bit < 0)
				snprintf(out, outlen, "err range\n");
			else
				snprintf(out, outlen, "%d\n", bit);
		} else if (m2mfw_get_word(&s->fw, t, (uint16_t)addr, &w) == 0)
			snprintf(out, outlen, "%u\n", (unsigned)w);
		else
			snprintf(out, outlen, "err range\n");
	} else if (strcmp(argv[0], "tick") == 0 && argc == 1) {
		m2mfw_tick(&s->fw);
		snprintf(out, outlen, "ok\n");
	} else if (strcmp(argv[0], "stats") == 0 && argc == 1) {
		for (i = 0, n = 0; i < MAX_CLIENTS; i++)
			n += s->mb[i].fd != -1;
		snprintf(out, outlen,
		    "requests=%u exceptions=%u clients=%d dropped=%u\n",
		    (unsigned)s->fw.requests, (unsigned)s->fw.exceptions, n,
		    (unsigned)s->rtu.dropped);
	} else if (strcmp(argv[0], "quit") == 0 && argc == 1) {
		snprintf(out, outlen, "bye\n");
		s->quit = 1;
	} else
		snprintf(out, outlen, "err usage\n");
}

static void
shim_read_ctl(struct shim *s, struct conn *c)
{
	char	 reply[96];
	char	*line = (char *)c->buf, *nl;
	ssize_t	 r;
	size_t	 used;

	r = read(c->fd, line + c->len, CTL_LINE - 1 - c->len);
	if (r <= 0)
		goto drop;
	c->len += (size_t)r;
	line[c->len] = '\0';
	while ((nl = strchr(line, '\n')) != NULL) {
		*nl = '\0';
		used = (size_t)(nl - line) + 1;
		shim_command(s, line, reply, sizeof(reply));
		if (write_all(c->fd, reply, strlen(reply)) == -1)
			goto drop;
		memmove(line, line + used, c->len - used + 1);
		c->len -= used;
	}
	if (c->len == CTL_LINE - 1)
		goto drop;		/* line too long */
	return;
drop:
	close(c->fd);
	c->fd = -1;
}

static int
shim_open_tty(const char *path)
{
	struct termios	t;
	int		fd;

	if ((fd = open(path, O_RDWR | O_NOCTTY)) == -1)
		return -1;
	if (tcgetattr(fd, &t) == -1) {
		close(fd);
		return -1;
	}
	cfmakeraw(&t);
	if (tcsetattr(fd, TCSANOW, &t) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Every byte the line has, stamped as it is read (as the sketch's glue). */
static void
shim_read_rtu(struct shim *s)
{
	uint8_t	buf[64];
	ssize_t	r, i;

	r = read(s->tty_fd, buf, sizeof(buf));
	if (r == -1 && errno == EINTR)
		return;
	if (r <= 0) {
		fprintf(stderr, "m2mfw_shim: tty: %s\n",
		    r == 0 ? "end of file" : strerror(errno));
		close(s->tty_fd);
		s->tty_fd = -1;
		return;
	}
	for (i = 0; i < r; i++)
		m2mfw_rtu_rx(&s->rtu, buf[i], mono_us());
}

static void
shim_answer_rtu(struct shim *s)
{
	uint8_t	resp[M2MFW_RTU_ADU_MAX];
	int	n;

	n = m2mfw_rtu_poll(&s->rtu, mono_us(), resp, sizeof(resp));
	if (n > 0 && write_all(s->tty_fd, resp, (size_t)n) == -1)
		fprintf(stderr, "m2mfw_shim: tty write: %s\n",
		    strerror(errno));
}

/* poll() timeout: 100 ms, or until a pending RTU frame's t3.5 is over. */
static int
shim_timeout(const struct shim *s)
{
	uint32_t waited;

	if (s->tty_fd == -1 || s->rtu.len == 0)
		return 100;
	waited = mono_us() - s->rtu.last;
	if (waited >= s->rtu.t35)
		return 0;
	return (int)((s->rtu.t35 - waited + 999) / 1000);
}

static int
shim_setup(struct shim *s, unsigned long unit, const char *tty,
    unsigned long baud)
{
	struct m2mfw_config	cfg;
	int			i;

	memset(s, 0, sizeof(*s));
	m2mfw_std_config(&cfg, &s->tables, (uint8_t)unit);
	cfg.on_write = shim_on_write;
	if (m2mfw_init(&s->fw, &cfg) == -1) {
		fprintf(stderr, "m2mfw_shim: bad map\n");
		return -1;
	}
	for (i = 0; i < MAX_CLIENTS; i++)
		s->mb[i].fd = -1;
	for (i = 0; i < MAX_CTL; i++)
		s->ctl[i].fd = -1;
	s->tty_fd = -1;
	if (tty == NULL)
		return 0;
	if (m2mfw_rtu_init(&s->rtu, &s->fw, (uint32_t)baud) == -1) {
		fprintf(stderr, "m2mfw_shim: RTU needs a unit id 1..247 "
		    "and a baud rate > 0\n");
		return -1;
	}
	if ((s->tty_fd = shim_open_tty(tty)) == -1) {
		fprintf(stderr, "m2mfw_shim: %s: %s\n", tty, strerror(errno));
		return -1;
	}
	return 0;
}

static void
shim_dispatch(struct shim *s, const struct pollfd *pfd)
{
	int	i;

	if (pfd[0].revents & POLLIN)
		shim_accept(s->mb_fd, s->mb, MAX_CLIENTS);
	if (pfd[1].revents & POLLIN)
		shim_accept(s->ctl_fd, s->ctl, MAX_CTL);
	for (i = 0; i < MAX_CLIENTS; i++)
		if (s->mb[i].fd != -1 && pfd[2 + i].revents)
			shim_read_mb(s, &s->mb[i]);
	for (i = 0; i < MAX_CTL; i++)
		if (s->ctl[i].fd != -1 && pfd[2 + MAX_CLIENTS + i].revents)
			shim_read_ctl(s, &s->ctl[i]);
	if (s->tty_fd != -1 && pfd[NPOLL - 1].revents)
		shim_read_rtu(s);
}

int
main(int argc, char *argv[])
{
	struct shim		 s;
	struct pollfd		 pfd[NPOLL];
	const char		*tty = NULL;
	unsigned long		 port = 0, ctlport = 0, unit = 1, baud = 19200;
	unsigned short		 mbp, ctlp;
	uint64_t		 next_tick;
	int			 ch, i, n, heartbeat = 0;

	while ((ch = getopt(argc, argv, "p:c:u:Hs:b:")) != -1) {
		switch (ch) {
		case 'p':
			if (shim_number(optarg, 65535, &port) == -1)
				usage();
			break;
		case 'c':
			if (shim_number(optarg, 65535, &ctlport) == -1)
				usage();
			break;
		case 'u':
			if (shim_number(optarg, 255, &unit) == -1)
				usage();
			break;
		case 'H':
			heartbeat = 1;
			break;
		case 's':
			tty = optarg;
			break;
		case 'b':
			if (shim_number(optarg, 4000000, &baud) == -1)
				usage();
			break;
		default:
			usage();
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (shim_setup(&s, unit, tty, baud) == -1)
		return 1;
	if ((s.mb_fd = shim_listen(port, &mbp)) == -1 ||
	    (s.ctl_fd = shim_listen(ctlport, &ctlp)) == -1) {
		perror("m2mfw_shim: listen");
		return 1;
	}
	printf("modbus=%u control=%u\n", (unsigned)mbp, (unsigned)ctlp);
	fflush(stdout);

	next_tick = mono_ms() + 1000;
	while (!s.quit) {
		pfd[0].fd = s.mb_fd;
		pfd[1].fd = s.ctl_fd;
		for (i = 0; i < MAX_CLIENTS; i++)
			pfd[2 + i].fd = s.mb[i].fd;
		for (i = 0; i < MAX_CTL; i++)
			pfd[2 + MAX_CLIENTS + i].fd = s.ctl[i].fd;
		pfd[NPOLL - 1].fd = s.tty_fd;
		for (i = 0; i < NPOLL; i++) {
			pfd[i].events = POLLIN;
			pfd[i].revents = 0;
		}
		n = poll(pfd, NPOLL, shim_timeout(&s));
		if (n == -1 && errno != EINTR) {
			perror("m2mfw_shim: poll");
			return 1;
		}
		if (heartbeat && mono_ms() >= next_tick) {
			m2mfw_tick(&s.fw);
			next_tick += 1000;
		}
		if (n > 0)
			shim_dispatch(&s, pfd);
		if (s.tty_fd != -1)
			shim_answer_rtu(&s);
	}
	return 0;
}
