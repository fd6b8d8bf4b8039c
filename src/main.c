/*
 * main.c - command line of modbus2mail (SPEC §2): option parsing and
 * dispatch to the module that does the work.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "modbus2mail/config.h"
#include "modbus2mail/ctl.h"
#include "modbus2mail/daemon.h"
#include "modbus2mail/history.h"
#include "modbus2mail/log.h"
#include "modbus2mail/poller.h"
#include "modbus2mail/readplan.h"
#include "modbus2mail/relay.h"
#include "modbus2mail/render.h"
#include "modbus2mail/sendmail.h"
#include "modbus2mail/spool.h"

#define EXIT_USAGE 2

/*
 * One entry per command: what it runs and its help. args is the synopsis
 * after "[-c FILE]"; text says what it does, options lists the command's
 * own (-c is added for all), example is one command line.
 */
struct cmd {
	const char *name;
	int (*fn)(const char *path, int argc, char **argv);
	const char *args;
	const char *summary;
	const char *text;
	const char *options;
	const char *example;
};

static int	cmd_run(const char *, int, char **);
static int	cmd_check(const char *, int, char **);
static int	cmd_test_mail(const char *, int, char **);
static int	cmd_poll(const char *, int, char **);
static int	cmd_queue(const char *, int, char **);
static int	cmd_ctl(const char *, int, char **);
static int	cmd_render(const char *, int, char **);
static int	cmd_history(const char *, int, char **);
static int	cmd_sendmail(const char *, int, char **);
static int	cmd_help(const char *, int, char **);
static const struct cmd *cmd_find(const char *);
static void	cmd_synopsis(FILE *, const struct cmd *);
static int	cmd_usage(const char *);
static void	usage(FILE *);
static struct config *load(const char *);

static const struct cmd commands[] = {
	{ "run", cmd_run, "[-v]", "run the daemon in the foreground",
	    "Runs the daemon in the foreground (systemd starts it so): polls the\n"
	    "devices, mails alarms, listens on port 25 when configured, relays\n"
	    "the spool. Stops on SIGTERM, re-reads the configuration on SIGHUP.\n",
	    "  -v               also log debug messages\n",
	    "modbus2mail run -c /etc/modbus2mail/modbus2mail.yaml -v" },
	{ "check", cmd_check, "", "validate the configuration",
	    "Loads the configuration and reports every error and warning as\n"
	    "FILE:LINE:COL: error|warning: MESSAGE, in file order. Exit 0 when it\n"
	    "loads (also with warnings), 1 when it does not. Changes nothing.\n",
	    "",
	    "modbus2mail check -c new.yaml" },
	{ "test-mail", cmd_test_mail, "[--to ADDR]",
	    "send one message now through the provider",
	    "Sends one short message now, directly through the provider (smtp.url,\n"
	    "then the fallbacks), bypassing the spool, and prints the provider's\n"
	    "answer or what failed (DNS, connect, TLS verify, AUTH, ...).\n",
	    "  --to ADDR        the recipient; without it each address of\n"
	    "                   defaults.to, else of sign_of_life.to, gets one\n",
	    "sudo modbus2mail test-mail --to you@example.com" },
	{ "poll", cmd_poll, "[DEVICE]", "read every rule's source once",
	    "Reads every rule's address once, with the daemon's coalesced requests,\n"
	    "and prints raw and scaled values and active/normal. Mails nothing;\n"
	    "works with or without the daemon.\n",
	    "  DEVICE           only this device\n",
	    "modbus2mail poll maxi1" },
	{ "queue", cmd_queue, "", "list queued and failed messages",
	    "Lists the messages waiting for the provider, read from the spool\n"
	    "directory (the daemon need not run): id, size, age, attempts, next\n"
	    "try, last error, recipients; then those in failed/ with the reason.\n"
	    "Creates nothing.\n",
	    "",
	    "sudo modbus2mail queue" },
	{ "flush", cmd_ctl, "", "retry every queued message now",
	    "Asks the running daemon to retry every queued message now, ignoring\n"
	    "the backoff, and says how many there are.\n",
	    "",
	    "sudo modbus2mail flush" },
	{ "status", cmd_ctl, "", "links, alarms and queue of the daemon",
	    "Asks the running daemon for its state: per device the link, the last\n"
	    "good poll, requests per cycle (shelved_until= when every alarm of it\n"
	    "is shelved); each active or shelved alarm; the queue.\n",
	    "",
	    "sudo modbus2mail status" },
	{ "ack", cmd_ctl, "RULE", "acknowledge an active alarm",
	    "Acknowledges the active alarm of RULE (also DEVICE.link or\n"
	    "DEVICE.heartbeat): reminders and escalation stop, the ACKNOWLEDGED\n"
	    "mail goes out, a latched alarm that is normal again clears.\n",
	    "",
	    "sudo modbus2mail ack pump1_fault" },
	{ "shelve", cmd_ctl, "RULE|DEVICE DURATION [--reason TEXT]",
	    "silence a rule or a device for a while",
	    "Silences one rule, or every alarm of a device (its rules, link and\n"
	    "heartbeat alarms: maintenance on one machine), for DURATION (30m, 2h,\n"
	    "1d; 0 unshelves). A shelved alarm mails nothing; one still active when\n"
	    "the shelf ends sends its ACTIVE mail then. A name that is both a rule\n"
	    "and a device means the rule.\n",
	    "  --reason TEXT    why (one line): shown by status, logged;\n"
	    "                   default \"manual\"\n",
	    "sudo modbus2mail shelve maxi1 2h --reason \"motor change\"" },
	{ "unshelve", cmd_ctl, "RULE|DEVICE", "end a shelf now",
	    "Ends the shelf of one rule, or of every alarm of a device, now (as\n"
	    "shelve NAME 0 does). An alarm still active sends its ACTIVE mail.\n",
	    "",
	    "sudo modbus2mail unshelve maxi1" },
	{ "retry", cmd_ctl, "ID|--all", "queue failed messages again",
	    "Puts a failed message (or every one) back in the queue, attempts\n"
	    "reset, for the recipients that did not get it. Through the running\n"
	    "daemon, which relays at once; on the spool itself when none runs.\n",
	    "  --all            every message in failed/\n",
	    "sudo modbus2mail retry --all" },
	{ "delete", cmd_ctl, "ID", "remove a failed or queued message",
	    "Removes message ID from failed/ (or, if not there, from the queue).\n"
	    "Through the running daemon when there is one.\n",
	    "",
	    "sudo modbus2mail delete 660ED0F2A6B1C002B9A0003" },
	{ "history", cmd_history, "[--since T] [--device D] [--rule R] [--csv]",
	    "alarm, mail and link events",
	    "Prints the history kept in spool_dir/history.db, newest first: alarm\n"
	    "transitions (raise, clear, reminder, ack, escalate, shelve, unshelve),\n"
	    "mail events (mail_sent, mail_deferred, mail_failed) and link changes\n"
	    "(link_up, link_down). Works with or without the daemon.\n",
	    "  --since DURATION only events this recent (default 24h)\n"
	    "  --device D       only device D\n"
	    "  --rule R         only rule R (or a queue id for mail events)\n"
	    "  --kind K         only this kind of event\n"
	    "  --csv            CSV (RFC 4180) with a header line\n",
	    "modbus2mail history --since 7d --device maxi1 --csv" },
	{ "render", cmd_render, "[--raw] RULE",
	    "print the ACTIVE mail a rule would send",
	    "Prints the ACTIVE mail of RULE (or DEVICE.link, DEVICE.heartbeat)\n"
	    "as it would read: decoded subject, body, then the header fields;\n"
	    "sends nothing. Reads the device once and uses the current value\n"
	    "when it answers, else a value that trips the rule (a line on\n"
	    "stderr says which). For checking subject and body templates.\n",
	    "  --raw            the message as it goes to the provider\n",
	    "modbus2mail render tank_temp_high" },
	{ "sendmail", cmd_sendmail, "[-t] [-f FROM] [-i] [RCPT...]",
	    "queue a message from stdin",
	    "sendmail-compatible entry point for local scripts: reads a message on\n"
	    "stdin and puts it into the spool for the daemon to deliver. Run under\n"
	    "the name \"sendmail\" (a link or wrapper) it needs no command word.\n",
	    "  -t               recipients from the To:, Cc: and Bcc: headers\n"
	    "  -f FROM          the original sender (kept in Reply-To:)\n"
	    "  -i, -oi          accepted (a lone dot never ends the message)\n",
	    "printf 'Subject: backup done\\n\\nok\\n' | modbus2mail sendmail ops@example.com" },
	{ "help", cmd_help, "[COMMAND]", "this list, or the help of one command",
	    "Prints the list of commands, or what one command does, its options\n"
	    "and an example (as COMMAND --help does).\n",
	    "",
	    "modbus2mail help shelve" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void
usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: modbus2mail COMMAND [-c FILE] [ARGS]\n");
	for (i = 0; i < NCOMMANDS; i++)
		if (strlen(commands[i].args) <= 24)
			fprintf(f, "  %-9s %-24s %s\n", commands[i].name,
			    commands[i].args, commands[i].summary);
		else	/* the summary goes on a line of its own */
			fprintf(f, "  %-9s %s\n  %-9s %-24s %s\n",
			    commands[i].name, commands[i].args, "", "",
			    commands[i].summary);
	fprintf(f, "  --version | --help\n"
	    "The configuration is -c FILE, else $MODBUS2MAIL_CONFIG, else\n"
	    CONFIG_DEFAULT_PATH ".\n"
	    "modbus2mail help COMMAND (or COMMAND --help) tells more.\n");
}

static const struct cmd *
cmd_find(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(name, commands[i].name) == 0)
			return &commands[i];
	return NULL;
}

static void
cmd_synopsis(FILE *f, const struct cmd *c)
{
	fprintf(f, "usage: modbus2mail %s [-c FILE]%s%s\n", c->name,
	    *c->args ? " " : "", c->args);
}

/* The synopsis on stderr; returns the exit code of a usage error. */
static int
cmd_usage(const char *name)
{
	cmd_synopsis(stderr, cmd_find(name));
	return EXIT_USAGE;
}

static int
cmd_help(const char *path, int argc, char **argv)
{
	const struct cmd *c;

	(void)path;
	if (argc == 1) {
		usage(stdout);
		return 0;
	}
	if (argc > 2)
		return cmd_usage("help");
	if ((c = cmd_find(argv[1])) == NULL) {
		fprintf(stderr, "modbus2mail help: unknown command '%s' (the "
		    "list: modbus2mail help)\n", argv[1]);
		return EXIT_USAGE;
	}
	cmd_synopsis(stdout, c);
	printf("\n%s\noptions:\n"
	    "  -c FILE          the configuration (default: $MODBUS2MAIL_CONFIG,\n"
	    "                   else " CONFIG_DEFAULT_PATH ")\n"
	    "%s\nexample:\n  %s\n", c->text, c->options, c->example);
	return 0;
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

/* Without --to: whoever gets mail anyway, defaults.to or sign_of_life.to. */
static int
cmd_test_mail(const char *path, int argc, char **argv)
{
	const struct config_strlist *rcpts;
	struct config *cfg;
	char *to = NULL;
	size_t i;
	int r = 0;

	if (argc == 3 && strcmp(argv[1], "--to") == 0)
		to = argv[2];
	else if (argc == 2 && strncmp(argv[1], "--to=", 5) == 0)
		to = argv[1] + 5;
	else if (argc != 1)
		return cmd_usage("test-mail");
	if ((cfg = load(path)) == NULL)
		return 1;
	rcpts = cfg->default_to.n > 0 ? &cfg->default_to : &cfg->sign_of_life.to;
	if (to != NULL)
		r = relay_test_mail(cfg, to, stdout);
	else if (rcpts->n == 0) {
		fprintf(stderr, "modbus2mail test-mail: no --to, and %s has "
		    "neither defaults.to nor sign_of_life.to\n", path);
		r = EXIT_USAGE;
	} else
		for (i = 0; i < rcpts->n; i++)
			if (relay_test_mail(cfg, rcpts->v[i], stdout) != 0)
				r = 1;
	config_free(cfg);
	return r;
}

static int
cmd_poll(const char *path, int argc, char **argv)
{
	struct config *cfg;
	int r;

	if (argc > 2)
		return cmd_usage("poll");
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
	struct stat st;
	char err[256];
	int r;

	if (argc > 1)
		return cmd_usage("queue");
	if ((cfg = load(path)) == NULL)
		return 1;
	/* a read-only look: never create the spool (or its owner is wrong) */
	if (stat(cfg->spool_dir, &st) == -1 && errno == ENOENT) {
		printf("Mail queue is empty (no spool directory %s yet)\n",
		    cfg->spool_dir);
		config_free(cfg);
		return 0;
	}
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

static int
cmd_history(const char *path, int argc, char **argv)
{
	struct config *cfg;
	int r;

	if ((cfg = load(path)) == NULL)
		return 1;
	r = history_cli(cfg, argc, argv, stdout, stderr);
	config_free(cfg);
	return r;
}

/* retry, delete without a daemon: on the spool, holding its lock. */
static int
cmd_spool_ctl(const struct config *cfg, const struct ctl_req *req)
{
	struct spool *sp;
	char err[512], *out = NULL;
	size_t len;
	FILE *mem;
	int r = 1;

	if ((sp = spool_open(cfg->spool_dir, err, sizeof(err))) == NULL ||
	    spool_lock(sp, err, sizeof(err)) == -1) {
		fprintf(stderr, "modbus2mail %s: %s\n",
		    ctl_verb_name(req->verb), err);
		spool_close(sp);
		return 1;
	}
	if ((mem = open_memstream(&out, &len)) != NULL) {
		r = ctl_spool(sp, req, mem) == 0 ? 0 : 1;
		fclose(mem);
		if (r == 0)
			fputs(out, stdout);
		else
			fprintf(stderr, "modbus2mail %s: %s",
			    ctl_verb_name(req->verb), out);
		free(out);
	}
	spool_close(sp);
	return r;
}

/*
 * flush, status, ack, shelve, retry, delete: one request to the running
 * daemon; retry and delete work on the spool when none runs.
 */
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
	if ((r = ctl_request(cfg, &req, stdout, stderr)) == -1) {
		if (req.verb == CTL_RETRY || req.verb == CTL_DELETE)
			r = cmd_spool_ctl(cfg, &req);
		else {
			fprintf(stderr, "modbus2mail: daemon not running "
			    "(cannot connect to %s/control.sock: %s)\n",
			    cfg->spool_dir, strerror(errno));
			r = 1;
		}
	}
	config_free(cfg);
	return r;
}

/* The mail for the device's current values when it answers. */
static int
cmd_render(const char *path, int argc, char **argv)
{
	struct render_input in = { .now = time(NULL) };
	struct readplan plan;
	struct config *cfg;
	const char *rule = NULL, *dot;
	char why[256], dev[128];
	long d;
	int i, r, read = 0;

	for (i = 1; i < argc; i++)
		if (strcmp(argv[i], "--raw") == 0)
			in.raw = 1;
		else if (rule == NULL && argv[i][0] != '-')
			rule = argv[i];
		else
			return cmd_usage("render");
	if (rule == NULL)
		return cmd_usage("render");
	if ((cfg = load(path)) == NULL)
		return 1;
	/* the rule's device, or DEVICE of DEVICE.link/DEVICE.heartbeat */
	if ((d = config_find_rule(cfg, rule)) >= 0)
		d = (long)cfg->rules[d].device;
	else if ((dot = strrchr(rule, '.')) != NULL) {
		snprintf(dev, sizeof(dev), "%.*s", (int)(dot - rule), rule);
		d = config_find_device(cfg, dev);
	}
	if (d >= 0) {
		read = 1;
		if (poller_read_once(cfg, (size_t)d, &plan, why,
		    sizeof(why)) == 0)
			in.plan = &plan;
		else
			in.why = why;
	}
	r = render_rule(cfg, rule, &in, stdout, stderr);
	if (read)
		readplan_free(&plan);
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
	if ((cmd = cmd_find(argv[1])) == NULL) {
		fprintf(stderr, "modbus2mail: unknown command '%s' (the list: "
		    "modbus2mail help)\n", argv[1]);
		return EXIT_USAGE;
	}
	/* COMMAND --help (or -h right after it) is help COMMAND */
	for (i = 2; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || (i == 2 &&
		    strcmp(argv[i], "-h") == 0))
			return cmd_help(NULL, 2, (char *[]){ "help", argv[1] });

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
