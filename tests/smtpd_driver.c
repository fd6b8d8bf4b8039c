/*
 * smtpd_driver.c - a stand-in for `modbus2mail run` and `modbus2mail
 * sendmail` for the listener's integration tests while the daemon does not
 * start the listener yet: spool + relay + smtpd, the same command line.
 *
 *   smtpd_driver run -c CONFIG [-v]
 *   smtpd_driver sendmail -c CONFIG [sendmail options] [RCPT...]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/config.h"
#include "modbus2mail/log.h"
#include "modbus2mail/relay.h"
#include "modbus2mail/sendmail.h"
#include "modbus2mail/smtpd.h"
#include "modbus2mail/spool.h"

static void
wake(void *arg)
{
	if (arg != NULL)
		relay_wake(arg);
}

static int
run(struct config *cfg, int verbose)
{
	struct spool *sp;
	struct relay *relay = NULL;
	struct smtpd *d;
	char err[256];
	sigset_t mask;
	int sig;

	log_init(verbose);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	pthread_sigmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((sp = spool_open(cfg->spool_dir, err, sizeof(err))) == NULL)
		fatalx("driver: spool: %s", err);
	if (cfg->smtp.present &&
	    (relay = relay_start(cfg, sp, err, sizeof(err))) == NULL)
		fatalx("driver: relay: %s", err);
	if ((d = smtpd_start(cfg, sp, wake, relay, err, sizeof(err))) == NULL)
		fatalx("driver: %s", err);
	log_info("daemon: started (smtpd_driver) listener=on");
	sigwait(&mask, &sig);
	log_info("daemon: stopping");
	smtpd_stop(d);
	if (relay != NULL)
		relay_stop(relay);
	spool_close(sp);
	return 0;
}

int
main(int argc, char **argv)
{
	struct config *cfg;
	int verbose = 0, r;

	if (argc < 4 || strcmp(argv[2], "-c") != 0) {
		fprintf(stderr, "usage: smtpd_driver run|sendmail -c CONFIG "
		    "[ARGS]\n");
		return 2;
	}
	if ((cfg = config_load(argv[3], stderr)) == NULL)
		return 1;
	if (strcmp(argv[1], "run") == 0) {
		verbose = argc > 4 && strcmp(argv[4], "-v") == 0;
		r = run(cfg, verbose);
	} else if (strcmp(argv[1], "sendmail") == 0) {
		argv[3] = "sendmail";
		r = sendmail_main(cfg, argc - 3, argv + 3);
	} else
		r = 2;
	config_free(cfg);
	return r;
}
