/*
 * verdict.c - reply stage and code to what happens to the message; see
 * verdict.h. Kept apart from relay.c so that the table is tested alone.
 */
#include "modbus2mail/verdict.h"

enum verdict
verdict_classify(enum verdict_stage stage, int code)
{
	if (code >= 200 && code < 400)
		return VERDICT_OK;
	switch (stage) {
	case VERDICT_RCPT:
		return code >= 500 && code < 600 ? VERDICT_FAIL_RCPT :
		    VERDICT_RETRY;
	case VERDICT_DATA:
		return code >= 500 && code < 600 ? VERDICT_FAIL_MSG :
		    VERDICT_RETRY;
	case VERDICT_MAIL:
		/* A 4xx may be about this one message; a 5xx refuses us. */
		return code >= 400 && code < 500 ? VERDICT_RETRY :
		    VERDICT_PATH_BROKEN;
	default:
		/* No session, whatever the code: nothing is the message's. */
		return VERDICT_PATH_BROKEN;
	}
}

const char *
verdict_name(enum verdict v)
{
	static const char *const names[] = {
		[VERDICT_OK] = "OK",
		[VERDICT_RETRY] = "RETRY",
		[VERDICT_FAIL_RCPT] = "FAIL_RCPT",
		[VERDICT_FAIL_MSG] = "FAIL_MSG",
		[VERDICT_PATH_BROKEN] = "PATH_BROKEN",
	};

	return (unsigned)v < sizeof(names) / sizeof(names[0]) ? names[v] :
	    "?";
}
