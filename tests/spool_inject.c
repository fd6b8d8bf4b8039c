/*
 * spool_inject - test tool for the relay core.
 *
 *   spool_inject inject DIR N [-s SENDER] [-r RCPT]... [-b BODYBYTES]
 *       commits N numbered messages ("Subject: inject I") into the spool.
 *   spool_inject relay|test-mail [options]   (or: run -c IGNORED [options])
 *       runs the relay thread on a spool (until SIGTERM; SIGUSR1 = flush),
 *       or relay_test_mail(), with a struct config built from options
 *       instead of YAML, so the relay is testable without the daemon.
 *   spool_inject queue DIR
 *       spool_print_queue().
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "modbus2mail/compose.h"
#include "modbus2mail/config.h"
#include "modbus2mail/log.h"
#include "modbus2mail/relay.h"
#include "modbus2mail/spool.h"
#include "modbus2mail/util.h"

static volatile sig_atomic_t got_term, got_usr1;

static void
on_signal(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_term = 1;
}

static int
inject(int argc, char **argv)
{
	char *rcpts[16], *msg, id[SPOOL_ID_MAX], err[256], msgid[128];
	const char *sender = "device@example.com";
	size_t nrcpt = 0, bodylen = 0, i, n;
	unsigned long v;
	struct spool *sp;
	char *pad;
	int c;

	while ((c = getopt(argc, argv, "s:r:b:")) != -1) {
		switch (c) {
		case 's':
			sender = optarg;
			break;
		case 'r':
			if (nrcpt < 16)
				rcpts[nrcpt++] = optarg;
			break;
		case 'b':
			if (util_parse_ulong(optarg, 100000000, &v) == -1)
				return 2;
			bodylen = v;
			break;
		default:
			return 2;
		}
	}
	if (argc - optind != 2 || util_parse_ulong(argv[optind + 1], 10000000,
	    &v) == -1)
		return 2;
	n = v;
	if (nrcpt == 0)
		rcpts[nrcpt++] = "ops@example.com";
	if ((sp = spool_open(argv[optind], err, sizeof(err))) == NULL) {
		fprintf(stderr, "spool_inject: %s\n", err);
		return 1;
	}
	pad = xcalloc(1, bodylen + 1);
	for (i = 0; i < bodylen; i++)
		pad[i] = (i % 72 == 71) ? '\n' : 'x';
	for (i = 0; i < n; i++) {
		compose_message_id(msgid, sizeof(msgid), "inject", time(NULL),
		    util_random64());
		msg = xasprintf("From: %s\r\nTo: %s\r\nSubject: inject %zu\r\n"
		    "Message-ID: %s\r\n\r\nseq %zu\r\n%s\r\n", sender, rcpts[0],
		    i, msgid, i, pad);
		if (spool_submit(sp, sender, rcpts, nrcpt, msg, strlen(msg), id,
		    sizeof(id)) == -1) {
			fprintf(stderr, "spool_inject: submit: %s\n",
			    strerror(errno));
			return 1;
		}
		free(msg);
	}
	free(pad);
	spool_close(sp);
	printf("injected %zu\n", n);
	return 0;
}

/* The smtp: part of a config from options (see relay.h for meaning). */
static int
fill_config(struct config *cfg, int argc, char **argv, const char **to)
{
	static const struct option opts[] = {
		{ "spool", required_argument, NULL, 'S' },
		{ "url", required_argument, NULL, 'u' },
		{ "fallback", required_argument, NULL, 'F' },
		{ "tls-none", no_argument, NULL, 'N' },
		{ "no-verify", no_argument, NULL, 'V' },
		{ "ca", required_argument, NULL, 'C' },
		{ "user", required_argument, NULL, 'U' },
		{ "password-file", required_argument, NULL, 'P' },
		{ "from", required_argument, NULL, 'f' },
		{ "source", required_argument, NULL, 's' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ "initial-ms", required_argument, NULL, 'i' },
		{ "max-ms", required_argument, NULL, 'm' },
		{ "give-up-ms", required_argument, NULL, 'g' },
		{ "notice", required_argument, NULL, 'n' },
		{ "to", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	static char bare[512], *fallbacks[8];
	struct config_smtp *s = &cfg->smtp;
	unsigned long v;
	int c;

	memset(cfg, 0, sizeof(*cfg));
	cfg->path = "(options)";
	cfg->hostname = "gw-test";
	s->present = 1;
	s->verify_peer = 1;
	s->timeout_ms = 10000;
	s->retry.initial_ms = 30000;
	s->retry.max_ms = 1800000;
	s->retry.give_up_ms = 3 * 86400000ULL;
	s->from = "Alarms <alarms@example.com>";
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'S': cfg->spool_dir = optarg; break;
		case 'u': s->url = optarg; break;
		case 'F':
			if (s->fallback_urls.n == 8)
				return -1;
			s->fallback_urls.v = fallbacks;
			s->fallback_urls.v[s->fallback_urls.n++] = optarg;
			break;
		case 'N': s->tls_none = 1; break;
		case 'V': s->verify_peer = 0; break;
		case 'C': s->ca_file = optarg; break;
		case 'U': s->username = optarg; break;
		case 'P': s->password_file = optarg; break;
		case 'f': s->from = optarg; break;
		case 's': s->source_address = optarg; break;
		case 'n': s->failure_notice = optarg; break;
		case 'T': *to = optarg; break;
		case 't': case 'i': case 'm': case 'g':
			if (util_parse_ulong(optarg, ULONG_MAX, &v) == -1)
				return -1;
			if (c == 't')
				s->timeout_ms = v;
			else if (c == 'i')
				s->retry.initial_ms = v;
			else if (c == 'm')
				s->retry.max_ms = v;
			else
				s->retry.give_up_ms = v;
			break;
		default:
			return -1;
		}
	}
	if (s->url == NULL)
		return -1;
	if (config_parse_address(s->from, bare, sizeof(bare)) == -1)
		return -1;
	s->from_addr = bare;
	return 0;
}

static int
relay(int argc, char **argv)
{
	struct config cfg;
	struct spool *sp;
	struct relay *r;
	const char *to = NULL;
	char err[512];
	struct sigaction sa;

	if (fill_config(&cfg, argc, argv, &to) == -1 || cfg.spool_dir == NULL)
		return 2;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	if ((sp = spool_open(cfg.spool_dir, err, sizeof(err))) == NULL ||
	    (r = relay_start(&cfg, sp, err, sizeof(err))) == NULL) {
		fprintf(stderr, "spool_inject: %s\n", err);
		return 1;
	}
	log_info("daemon: started (spool_inject relay)");
	while (!got_term) {
		if (got_usr1) {
			got_usr1 = 0;
			relay_wake(r);
		}
		usleep(50000);
		if (util_mono_ms() - relay_last_alive_ms(r) > 2 *
		    cfg.smtp.timeout_ms + 5000)
			log_warnx("spool_inject: relay stalled");
	}
	relay_stop(r);
	spool_close(sp);
	return 0;
}

static int
test_mail(int argc, char **argv)
{
	struct config cfg;
	const char *to = NULL;

	if (fill_config(&cfg, argc, argv, &to) == -1 || to == NULL)
		return 2;
	return relay_test_mail(&cfg, to, stdout);
}

static int
queue(int argc, char **argv)
{
	struct spool *sp;
	char err[256];
	int r;

	if (argc != 2)
		return 2;
	if ((sp = spool_open(argv[1], err, sizeof(err))) == NULL) {
		fprintf(stderr, "spool_inject: %s\n", err);
		return 1;
	}
	r = spool_print_queue(sp, stdout) == 0 ? 0 : 1;
	spool_close(sp);
	return r;
}

int
main(int argc, char **argv)
{
	log_init(1);
	if (argc < 2) {
		fprintf(stderr, "usage: spool_inject inject|relay|test-mail|"
		    "queue ...\n");
		return 2;
	}
	if (strcmp(argv[1], "inject") == 0)
		return inject(argc - 1, argv + 1);
	if (strcmp(argv[1], "relay") == 0)
		return relay(argc - 1, argv + 1);
	/* `run -c CONFIG OPTIONS`, as the test harness starts the daemon. */
	if (strcmp(argv[1], "run") == 0 && argc > 3 &&
	    strcmp(argv[2], "-c") == 0) {
		argv[2] = argv[1];
		return relay(argc - 2, argv + 2);
	}
	if (strcmp(argv[1], "test-mail") == 0)
		return test_mail(argc - 1, argv + 1);
	if (strcmp(argv[1], "queue") == 0)
		return queue(argc - 1, argv + 1);
	fprintf(stderr, "spool_inject: unknown command %s\n", argv[1]);
	return 2;
}
