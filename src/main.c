/*
 * main.c - command line of modbus2mail (SPEC §2): option parsing and
 * dispatch to the module that does the work.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/config.h"
#include "modbus2mail/ctl.h"
#include "modbus2mail/daemon.h"
#include "modbus2mail/log.h"
#include "modbus2mail/poller.h"
#include "modbus2mail/relay.h"
#include "modbus2mail/render.h"
#include "modbus2mail/sendmail.h"
#include "modbus2mail/spool.h"

#define EXIT_USAGE 2

struct cmd {
	const char *name;
	int (*fn)(const char *path, int argc, char **argv);
};

static int	cmd_run(const char *, int, char **);
static int	cmd_check(const char *, int, char **);
static int	cmd_test_mail(const char *, int, char **);
static int	cmd_poll(const char *, int, char **);
static int	cmd_queue(const char *, int, char **);
static int	cmd_ctl(const char *, int, char **);
static int	cmd_render(const char *, int, char **);
static int	cmd_sendmail(const char *, int, char **);
static void	usage(FILE *);
static struct config *load(const char *);

static const struct cmd commands[] = {
	{ "run", cmd_run },
	{ "check", cmd_check },
	{ "test-mail", cmd_test_mail },
	{ "poll", cmd_poll },
	{ "queue", cmd_queue },
	{ "flush", cmd_ctl },
	{ "status", cmd_ctl },
	{ "ack", cmd_ctl },
	{ "shelve", cmd_ctl },
	{ "render", cmd_render },
	{ "sendmail", cmd_sendmail },
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: modbus2mail COMMAND [-c FILE] [ARGS]\n"
	    "  run       [-c FILE] [-v]              run the daemon in the foreground\n"
	    "  check     [-c FILE]                   validate the configuration\n"
	    "  test-mail [-c FILE] --to ADDR         send one message now through the upstream\n"
	    "  poll      [-c FILE] [DEVICE]          read every rule's source once\n"
	    "  queue     [-c FILE]                   list spooled messages\n"
	    "  flush     [-c FILE]                   retry every queued message now\n"
	    "  status    [-c FILE]                   links, active alarms, queue of the daemon\n"
	    "  ack       [-c FILE] RULE              acknowledge an active alarm\n"
	    "  shelve    [-c FILE] RULE DURATION [--reason TEXT]  silence a rule (0 = unshelve)\n"
	    "  render    [-c FILE] RULE              print the ACTIVE mail a rule would send\n"
	    "  sendmail  [-c FILE] [-t] [-f FROM] [-i] [RCPT...]  queue a message from stdin\n"
	    "  --version | --help\n"
	    "The configuration is -c FILE, else $MODBUS2MAIL_CONFIG, else "
	    CONFIG_DEFAULT_PATH ".\n");
}

static struct config *
load(const char *path)
{
	return config_load(path, stderr);
}

static int
cmd_run(const char *path, int argc, char **argv)
{
	int verbose = 0, i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") != 0) {
			fprintf(stderr, "modbus2mail run: unexpected argument "
			    "'%s'\n", argv[i]);
			return EXIT_USAGE;
		}
		verbose++;
	}
	return daemon_run(path, verbose);
}

static int
cmd_check(const char *path, int argc, char **argv)
{
	struct config *cfg;
	size_t i;

	if (argc > 1) {
		fprintf(stderr, "modbus2mail check: unexpected argument '%s'\n",
		    argv[1]);
		return EXIT_USAGE;
	}
	if ((cfg = load(path)) == NULL)
		return 1;
	for (i = 0; i < cfg->warnings.n; i++)
		fprintf(stderr, "%s\n", cfg->warnings.v[i]);
	printf("%s: ok (%zu devices, %zu rules)\n", path, cfg->ndevices,
	    cfg->nrules);
	config_free(cfg);
	return 0;
}

static int
cmd_test_mail(const char *path, int argc, char **argv)
{
	struct config *cfg;
	const char *to = NULL;
	int r;

	if (argc == 3 && strcmp(argv[1], "--to") == 0)
		to = argv[2];
	else if (argc == 2 && strncmp(argv[1], "--to=", 5) == 0)
		to = argv[1] + 5;
	if (to == NULL) {
		fprintf(stderr, "usage: modbus2mail test-mail [-c FILE] "
		    "--to ADDR\n");
		return EXIT_USAGE;
	}
	if ((cfg = load(path)) == NULL)
		return 1;
	r = relay_test_mail(cfg, to, stdout);
	config_free(cfg);
	return r;
}

static int
cmd_poll(const char *path, int argc, char **argv)
{
	struct config *cfg;
	int r;

	if (argc > 2) {
		fprintf(stderr, "usage: modbus2mail poll [-c FILE] [DEVICE]\n");
		return EXIT_USAGE;
	}
	if ((cfg = load(path)) == NULL)
		return 1;
	if (argc == 2 && config_find_device(cfg, argv[1]) == -1) {
		fprintf(stderr, "modbus2mail poll: no device '%s' in %s\n",
		    argv[1], path);
		config_free(cfg);
		return 1;
	}
	r = poller_poll_once(cfg, argc == 2 ? argv[1] : NULL, stdout);
	config_free(cfg);
	return r;
}

static int
cmd_queue(const char *path, int argc, char **argv)
{
	struct config *cfg;
	struct spool *sp;
	char err[256];
	int r;

	if (argc > 1) {
		fprintf(stderr, "usage: modbus2mail queue [-c FILE]\n");
		return EXIT_USAGE;
	}
	if ((cfg = load(path)) == NULL)
		return 1;
	if ((sp = spool_open(cfg->spool_dir, err, sizeof(err))) == NULL) {
		fprintf(stderr, "modbus2mail queue: %s\n", err);
		config_free(cfg);
		return 1;
	}
	r = spool_print_queue(sp, stdout) == 0 ? 0 : 1;
	spool_close(sp);
	config_free(cfg);
	return r;
}

/* flush, status, ack, shelve: one request to the running daemon. */
static int
cmd_ctl(const char *path, int argc, char **argv)
{
	struct ctl_req req;
	struct config *cfg;
	char err[512];
	int r;

	if (ctl_req_from_args(argc, argv, &req, err, sizeof(err)) == -1) {
		fprintf(stderr, "%s\n", err);
		return EXIT_USAGE;
	}
	if ((cfg = load(path)) == NULL)
		return 1;
	r = ctl_request(cfg, &req, stdout, stderr);
	config_free(cfg);
	return r;
}

static int
cmd_render(const char *path, int argc, char **argv)
{
	struct config *cfg;
	int r;

	if (argc != 2) {
		fprintf(stderr, "usage: modbus2mail render [-c FILE] RULE\n");
		return EXIT_USAGE;
	}
	if ((cfg = load(path)) == NULL)
		return 1;
	r = render_rule(cfg, argv[1], stdout, stderr);
	config_free(cfg);
	return r;
}

static int
cmd_sendmail(const char *path, int argc, char **argv)
{
	struct config *cfg;
	int r;

	if ((cfg = load(path)) == NULL)
		return 75;	/* EX_TEMPFAIL: the caller keeps its message */
	r = sendmail_main(cfg, argc, argv);
	config_free(cfg);
	return r;
}

int
main(int argc, char **argv)
{
	const char *path, *prog;
	const struct cmd *cmd = NULL;
	char *args[64];
	int nargs = 0, i;
	size_t j;

	log_init(0);
	/* Installed as /usr/sbin/sendmail: cron and scripts call it directly. */
	prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (strcmp(prog, "sendmail") == 0) {
		args[nargs++] = "sendmail";
		for (i = 1; i < argc && nargs < 63; i++)
			args[nargs++] = argv[i];
		args[nargs] = NULL;
		path = getenv("MODBUS2MAIL_CONFIG");
		return cmd_sendmail(path && *path ? path : CONFIG_DEFAULT_PATH,
		    nargs, args);
	}
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("modbus2mail %s\n", M2M_VERSION);
		return 0;
	}
	for (j = 0; j < sizeof(commands) / sizeof(commands[0]); j++)
		if (strcmp(argv[1], commands[j].name) == 0)
			cmd = &commands[j];
	if (cmd == NULL) {
		fprintf(stderr, "modbus2mail: unknown command '%s' "
		    "(try --help)\n", argv[1]);
		return EXIT_USAGE;
	}

	path = getenv("MODBUS2MAIL_CONFIG");
	if (path == NULL || *path == '\0')
		path = CONFIG_DEFAULT_PATH;
	/* -c FILE may stand anywhere after the command; the rest is the command's. */
	args[nargs++] = argv[1];
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0) {
			if (++i == argc) {
				fprintf(stderr, "modbus2mail: -c needs a "
				    "file name\n");
				return EXIT_USAGE;
			}
			path = argv[i];
		} else if (nargs < (int)(sizeof(args) / sizeof(args[0])) - 1)
			args[nargs++] = argv[i];
		else {
			fprintf(stderr, "modbus2mail: too many arguments\n");
			return EXIT_USAGE;
		}
	}
	args[nargs] = NULL;
	return cmd->fn(path, nargs, args);
}
