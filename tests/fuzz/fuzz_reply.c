/*
 * libFuzzer target: a message in the reply mailbox, written by anyone who
 * can send mail there. The first byte chooses whether authentication is
 * required; the rest is the raw message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "modbus2mail/reply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct reply r;

	if (size < 1)
		return 0;
	reply_classify((const char *)data + 1, size - 1, data[0] & 1, &r);
	/* what the caller relies on: strings end, the action is one of ours */
	if (memchr(r.from, '\0', sizeof(r.from)) == NULL ||
	    memchr(r.command, '\0', sizeof(r.command)) == NULL ||
	    r.nids > REPLY_IDS_MAX || (r.action == REPLY_REFUSE) !=
	    (r.why != NULL) || (r.action == REPLY_SHELVE && (r.shelve_ms == 0 ||
	    r.shelve_ms > REPLY_SHELVE_MAX_MS)))
		abort();
	return 0;
}
