/*
 * Unit tests for history.c against a real SQLite file in a temporary
 * directory: events written by the writer thread and read back with
 * filters, retention at start, CSV quoting, a corrupt file (events dropped
 * and counted, nothing blocks).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "modbus2mail/counter.h"
#include "modbus2mail/history.h"
#include "modbus2mail/util.h"
#include "test_common.h"

static char dir[64];

static struct config *
history_config(void)
{
	char yaml[512];

	snprintf(yaml, sizeof(yaml), HDR "spool_dir: %s\nhistory: {keep: 1h}\n",
	    dir);
	return test_config_load(yaml);
}

static int
collect(const struct history_row *r, void *arg)
{
	FILE *f = arg;

	fprintf(f, "%s|%s|%s|%s\n", history_kind_name(r->kind), r->device,
	    r->rule, r->detail);
	return 0;
}

static char *
query(const struct config *cfg, const char *device, const char *rule,
    int kind)
{
	struct history_filter f = { 0, device, rule, kind, 0 };
	char path[256], err[256], *buf = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&buf, &len);

	history_path(cfg, path, sizeof(path));
	assert_int_equal(history_query(path, &f, collect, out, err,
	    sizeof(err)), 0);
	fclose(out);
	return buf;
}

/* An event two hours old, written before the daemon starts. */
static void
seed_old_event(const struct config *cfg)
{
	char path[256], sql[256];
	sqlite3 *db;

	history_path(cfg, path, sizeof(path));
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	snprintf(sql, sizeof(sql), "CREATE TABLE events(id INTEGER PRIMARY "
	    "KEY, t INTEGER NOT NULL, kind TEXT NOT NULL, device TEXT, rule "
	    "TEXT, detail TEXT); INSERT INTO events(t, kind, device, rule, "
	    "detail) VALUES(%lld, 'raise', 'd1', 'old', '');",
	    (long long)util_wall_ms() - 7200000);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

static void
test_write_query_purge(void **state)
{
	struct config *cfg = history_config();
	uint64_t written = counter_get(COUNTER_HISTORY_WRITTEN);
	char err[256], *out;

	(void)state;
	seed_old_event(cfg);
	assert_int_equal(history_start(cfg, err, sizeof(err)), 0);
	history_add(HISTORY_RAISE, "d1", "r1", NULL);
	history_add(HISTORY_ACK, "d1", "r1", "operator1 via the web page");
	history_add(HISTORY_LINK_DOWN, "d2", NULL, "connect: refused");
	history_add(HISTORY_MAIL_SENT, NULL, "ID1", "250 ok");
	history_stop();		/* writes what is queued */
	assert_int_equal(counter_get(COUNTER_HISTORY_WRITTEN) - written, 4);
	out = query(cfg, NULL, NULL, -1);
	assert_string_equal(out, "mail_sent||ID1|250 ok\n"
	    "link_down|d2||connect: refused\n"
	    "ack|d1|r1|operator1 via the web page\n"
	    "raise|d1|r1|\n");
	free(out);
	out = query(cfg, "d1", "r1", HISTORY_ACK);
	assert_string_equal(out, "ack|d1|r1|operator1 via the web page\n");
	free(out);
	config_free(cfg);
}

static void
test_corrupt_file_drops_and_counts(void **state)
{
	struct config *cfg = history_config();
	uint64_t dropped = counter_get(COUNTER_HISTORY_DROPPED);
	char path[256], err[256];
	FILE *f;

	(void)state;
	history_path(cfg, path, sizeof(path));
	unlink(path);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("not a database at all, just text\n", f);
	fclose(f);
	assert_int_equal(history_start(cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "history.db"));
	history_add(HISTORY_RAISE, "d1", "r1", NULL);
	history_add(HISTORY_CLEAR, "d1", "r1", NULL);
	assert_int_equal(counter_get(COUNTER_HISTORY_DROPPED) - dropped, 2);
	history_stop();
	history_add(HISTORY_CLEAR, "d1", "r1", NULL);	/* off: not counted */
	assert_int_equal(counter_get(COUNTER_HISTORY_DROPPED) - dropped, 2);
	unlink(path);
	config_free(cfg);
}

static void
test_csv_and_kinds(void **state)
{
	struct history_row r;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int k;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.t_ms = 1795934957000LL;
	r.kind = HISTORY_MAIL_DEFERRED;
	strcpy(r.rule, "ID,1");
	strcpy(r.detail, "451 \"try\"\nlater");
	history_csv_header(f);
	history_csv_row(f, &r);
	fclose(f);
	assert_string_equal(buf, "time,kind,device,rule,detail\r\n"
	    "2026-11-29T06:49:17Z,mail_deferred,,\"ID,1\",\"451 \"\"try\"\"\n"
	    "later\"\r\n");
	free(buf);
	for (k = 0; k < HISTORY_NKINDS; k++)
		assert_int_equal(history_kind_parse(history_kind_name(
		    (enum history_kind)k)), k);
	assert_int_equal(history_kind_parse("raised"), -1);
	assert_int_equal(history_kind_of_alarm(ALARM_ACKNOWLEDGED), HISTORY_ACK);
}

static int
setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/m2m-history-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write_query_purge),
		cmocka_unit_test(test_corrupt_file_drops_and_counts),
		cmocka_unit_test(test_csv_and_kinds),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
