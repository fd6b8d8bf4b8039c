/*
 * spool_inject - test tool: fills a spool for the relay tests and benches.
 *
 *   spool_inject inject DIR N [-s SENDER] [-r RCPT]... [-b BODYBYTES]
 *       commits N numbered messages ("Subject: inject I") into the spool.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "modbus2mail/compose.h"
#include "modbus2mail/log.h"
#include "modbus2mail/spool.h"
#include "modbus2mail/util.h"

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

int
main(int argc, char **argv)
{
	log_init(1);
	if (argc < 2 || strcmp(argv[1], "inject") != 0) {
		fprintf(stderr, "usage: spool_inject inject DIR N [-s SENDER] "
		    "[-r RCPT]... [-b BODYBYTES]\n");
		return 2;
	}
	return inject(argc - 1, argv + 1);
}
