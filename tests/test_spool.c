/*
 * Unit tests for spool.c: commit, metadata, removal, failure, recovery,
 * planted FIFOs and links, directory checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "modbus2mail/spool.h"

#define MSG "Subject: hi\r\n\r\nbody\r\n"

static char *const rcpts2[] = { "a@example.com", "b@example.com" };

struct fixture {
	char dir[64];
	struct spool *sp;
};

static int
count_dir(const char *dir, const char *sub, const char *suffix)
{
	char path[256];
	struct dirent *de;
	DIR *d;
	int n = 0;
	size_t l, s = strlen(suffix);

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL) {
		l = strlen(de->d_name);
		if (de->d_name[0] != '.' && l >= s &&
		    strcmp(de->d_name + l - s, suffix) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void
write_file(const char *path, const char *text)
{
	FILE *fp;

	assert_non_null(fp = fopen(path, "w"));
	fputs(text, fp);
	fclose(fp);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	strcpy(f->dir, "/tmp/m2m-spool-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->sp = spool_open(f->dir, err, sizeof(err));
	assert_non_null(f->sp);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	spool_close(f->sp);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
test_layout(void **state)
{
	struct fixture *f = *state;
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), "%s/queue", f->dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/failed", f->dir);
	assert_int_equal(stat(path, &st), 0);
	snprintf(path, sizeof(path), "%s/tmp", f->dir);
	assert_int_equal(stat(path, &st), 0);
}

static void
test_submit_read(void **state)
{
	struct fixture *f = *state;
	struct spool_entry e, *v;
	char id[SPOOL_ID_MAX], path[256], *data;
	struct stat st;
	size_t len, n;

	assert_int_equal(spool_submit(f->sp, "dev@plc", rcpts2, 2, MSG,
	    strlen(MSG), id, sizeof(id)), 0);
	assert_int_equal(strlen(id), 23);
	snprintf(path, sizeof(path), "%s/queue/%s.msg", f->dir, id);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(count_dir(f->dir, "tmp", ""), 0);

	assert_int_equal(spool_read(f->sp, id, &e, &data, &len), 0);
	assert_int_equal(len, strlen(MSG));
	assert_memory_equal(data, MSG, len);
	assert_string_equal(e.sender, "dev@plc");
	assert_int_equal(e.nrcpt, 2);
	assert_string_equal(e.rcpts[1], "b@example.com");
	assert_int_equal(e.attempts, 0);
	assert_int_equal(e.next_try, 0);
	assert_true(time(NULL) - e.created < 5);
	free(data);
	spool_entry_clear(&e);

	assert_int_equal(spool_scan(f->sp, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, id);
	assert_int_equal(v[0].size, strlen(MSG));
	spool_entries_free(v, n);
}

/* The queue page's Subject: unfolded, from queue/ and from failed/. */
static void
test_subject(void **state)
{
	static const char folded[] = "From: a@b\r\nSubject: pump 1\r\n"
	    " fault\r\nX-A: b\r\n\r\nSubject: not this\r\n";
	static const char nosubj[] = "X: y\r\n\r\nSubject: in the body\r\n";
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX], id2[SPOOL_ID_MAX], subj[64];

	assert_int_equal(spool_submit(f->sp, "", rcpts2, 2, folded,
	    strlen(folded), id, sizeof(id)), 0);
	assert_int_equal(spool_subject(f->sp, id, 0, subj, sizeof(subj)), 0);
	assert_string_equal(subj, "pump 1 fault");
	assert_int_equal(spool_submit(f->sp, "", rcpts2, 2, nosubj,
	    strlen(nosubj), id2, sizeof(id2)), 0);
	assert_int_equal(spool_subject(f->sp, id2, 0, subj, sizeof(subj)), 0);
	assert_string_equal(subj, "");
	assert_int_equal(spool_fail(f->sp, id, "550 no", NULL, 0), 0);
	assert_int_equal(spool_subject(f->sp, id, 0, subj, sizeof(subj)), -1);
	assert_int_equal(spool_subject(f->sp, id, 1, subj, sizeof(subj)), 0);
	assert_string_equal(subj, "pump 1 fault");
}

static void
test_streaming_and_abort(void **state)
{
	struct fixture *f = *state;
	struct spool_msg *m;
	char id[SPOOL_ID_MAX], *data;
	struct spool_entry e;
	size_t len;

	assert_non_null(m = spool_msg_begin(f->sp, "", rcpts2, 1));
	assert_int_equal(count_dir(f->dir, "tmp", ".msg"), 1);
	spool_msg_abort(m);
	assert_int_equal(count_dir(f->dir, "tmp", ""), 0);
	assert_int_equal(count_dir(f->dir, "queue", ""), 0);

	assert_non_null(m = spool_msg_begin(f->sp, "", rcpts2, 1));
	assert_int_equal(spool_msg_write(m, "Subject: a\r\n", 12), 0);
	assert_int_equal(spool_msg_write(m, "\r\nx\r\n", 5), 0);
	assert_int_equal(spool_msg_commit(m, id, sizeof(id)), 0);
	assert_int_equal(spool_read(f->sp, id, &e, &data, &len), 0);
	assert_string_equal(data, "Subject: a\r\n\r\nx\r\n");
	assert_string_equal(e.sender, "");
	free(data);
	spool_entry_clear(&e);

	/* Envelope lines can't be smuggled. */
	{
		char *const bad[] = { "x@y\nrcpt evil@z" };
		errno = 0;
		assert_null(spool_msg_begin(f->sp, "", bad, 1));
		assert_int_equal(errno, EINVAL);
		assert_null(spool_msg_begin(f->sp, "a\r\n", rcpts2, 1));
		assert_null(spool_msg_begin(f->sp, "", rcpts2, 0));
	}
}

static void
test_defer_remove_fail(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX], id2[SPOOL_ID_MAX], path[256], buf[256];
	struct spool_entry *v;
	char *const left[] = { "b@example.com" };
	size_t n;
	FILE *fp;

	assert_int_equal(spool_submit(f->sp, "", rcpts2, 2, MSG, strlen(MSG),
	    id, sizeof(id)), 0);
	assert_int_equal(spool_submit(f->sp, "", rcpts2, 2, MSG, strlen(MSG),
	    id2, sizeof(id2)), 0);
	assert_int_equal(spool_defer(f->sp, id, 3, 12345,
	    "451 4.3.0 later\r\nX", left, 1), 0);
	assert_int_equal(spool_scan(f->sp, &v, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0].id, id);    /* oldest first */
	assert_int_equal(v[0].attempts, 3);
	assert_int_equal(v[0].next_try, 12345);
	assert_string_equal(v[0].last_error, "451 4.3.0 later  X");
	assert_int_equal(v[0].nrcpt, 1);
	assert_string_equal(v[0].rcpts[0], "b@example.com");
	assert_int_equal(v[1].nrcpt, 2);
	spool_entries_free(v, n);
	/* The message file itself was never rewritten. */
	assert_int_equal(count_dir(f->dir, "queue", ".meta"), 1);

	assert_int_equal(spool_remove(f->sp, id2), 0);
	assert_int_equal(spool_fail(f->sp, id, "550 5.1.1 no such user", NULL, 0), 0);
	assert_int_equal(count_dir(f->dir, "queue", ""), 0);
	assert_int_equal(count_dir(f->dir, "failed", ".msg"), 1);
	snprintf(path, sizeof(path), "%s/failed/%s.reason", f->dir, id);
	assert_non_null(fp = fopen(path, "r"));
	assert_non_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	assert_string_equal(buf, "550 5.1.1 no such user\n");
	assert_int_equal(spool_remove(f->sp, id2), -1);
	assert_int_equal(errno, ENOENT);
}

/* Crash leftovers are cleaned by spool_open, live writers are left alone. */
static void
test_recovery(void **state)
{
	struct fixture *f = *state;
	char path[256], id[SPOOL_ID_MAX], err[256];
	struct spool_entry *v;
	struct timespec old[2] = { { 1000, 0 }, { 1000, 0 } };
	pid_t dead;
	size_t n;

	assert_int_equal(spool_submit(f->sp, "", rcpts2, 2, MSG, strlen(MSG),
	    id, sizeof(id)), 0);
	spool_close(f->sp);

	/* A pid that surely is gone: a reaped child. */
	if ((dead = fork()) == 0)
		_exit(0);
	waitpid(dead, NULL, 0);
	snprintf(path, sizeof(path), "%s/tmp/%d.0000000000001000000000001.msg",
	    f->dir, (int)dead);
	write_file(path, "M2M-SPOOL 1\ncreated 1\nsender \nrcpt a@b\n\nhalf");
	snprintf(path, sizeof(path), "%s/tmp/%d.X.meta.new", f->dir, (int)dead);
	write_file(path, "M2M-META 1\natt");
	/* A live writer (our parent) keeps its file... */
	snprintf(path, sizeof(path), "%s/tmp/%d.LIVE.msg", f->dir,
	    (int)getppid());
	write_file(path, "M2M-SPOOL 1\n");
	/* ...unless it is a day old (pid reused after a power cut). */
	snprintf(path, sizeof(path), "%s/tmp/%d.OLD.msg", f->dir,
	    (int)getppid());
	write_file(path, "M2M-SPOOL 1\n");
	assert_int_equal(utimensat(AT_FDCWD, path, old, 0), 0);
	/* Junk without a pid. */
	snprintf(path, sizeof(path), "%s/tmp/garbage", f->dir);
	write_file(path, "x");
	/* Metadata whose message was delivered. */
	snprintf(path, sizeof(path), "%s/queue/0000000000000AAAAAA0000.meta",
	    f->dir);
	write_file(path, "M2M-META 1\nattempts 1\n");
	/* A damaged queue file. */
	snprintf(path, sizeof(path), "%s/queue/0000000000000BBBBBB0000.msg",
	    f->dir);
	write_file(path, "not a spool file\n");
	/* Damaged metadata of a good message: ignored, message kept. */
	snprintf(path, sizeof(path), "%s/queue/%s.meta", f->dir, id);
	write_file(path, "garbage");

	f->sp = spool_open(f->dir, err, sizeof(err));
	assert_non_null(f->sp);
	assert_int_equal(count_dir(f->dir, "tmp", ""), 1);
	snprintf(path, sizeof(path), "%s/tmp/%d.LIVE.msg", f->dir,
	    (int)getppid());
	assert_int_equal(access(path, F_OK), 0);
	assert_int_equal(count_dir(f->dir, "queue", ".meta"), 0);
	assert_int_equal(count_dir(f->dir, "failed", ".msg"), 1);
	assert_int_equal(count_dir(f->dir, "failed", ".reason"), 1);
	assert_int_equal(spool_scan(f->sp, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, id);
	assert_int_equal(v[0].nrcpt, 2);
	assert_int_equal(v[0].attempts, 0);
	spool_entries_free(v, n);
}

/* A full disk surfaces as errno and leaves nothing behind. */
static void
test_write_error(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, lim;
	char big[8192], id[SPOOL_ID_MAX];
	int r, save;

	memset(big, 'x', sizeof(big));
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = 4096;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	r = spool_submit(f->sp, "", rcpts2, 1, big, sizeof(big), id,
	    sizeof(id));
	save = errno;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	assert_int_equal(r, -1);
	assert_int_equal(save, EFBIG);
	assert_int_equal(count_dir(f->dir, "tmp", ""), 0);
	assert_int_equal(count_dir(f->dir, "queue", ""), 0);
}

static void *
submit_many(void *arg)
{
	struct spool *sp = arg;
	char id[SPOOL_ID_MAX];
	int i;

	for (i = 0; i < 50; i++)
		if (spool_submit(sp, "", rcpts2, 2, MSG, strlen(MSG), id,
		    sizeof(id)) == -1)
			return (void *)1;
	return NULL;
}

static void
test_threads(void **state)
{
	struct fixture *f = *state;
	pthread_t t[4];
	struct spool_entry *v;
	void *r;
	size_t n, i;

	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, submit_many,
		    f->sp), 0);
	for (i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &r), 0);
		assert_null(r);
	}
	assert_int_equal(spool_scan(f->sp, &v, &n), 0);
	assert_int_equal(n, 200);
	for (i = 1; i < n; i++)
		assert_true(strcmp(v[i - 1].id, v[i].id) != 0);
	spool_entries_free(v, n);
}

static void
test_print_queue(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX], *out = NULL;
	char *const left[] = { "b@example.com" };
	size_t len = 0;
	FILE *mem;

	assert_non_null(mem = open_memstream(&out, &len));
	assert_int_equal(spool_print_queue(f->sp, mem), 0);
	fclose(mem);
	assert_string_equal(out, "Mail queue is empty\n");
	free(out);

	assert_int_equal(spool_submit(f->sp, "dev@plc", rcpts2, 2, MSG,
	    strlen(MSG), id, sizeof(id)), 0);
	assert_int_equal(spool_defer(f->sp, id, 2, time(NULL) + 600,
	    "451 4.3.0 try later", left, 1), 0);
	assert_non_null(mem = open_memstream(&out, &len));
	assert_int_equal(spool_print_queue(f->sp, mem), 0);
	fclose(mem);
	assert_non_null(strstr(out, "ATTEMPTS"));
	assert_non_null(strstr(out, id));
	assert_non_null(strstr(out, "in 10m"));
	assert_non_null(strstr(out, "dev@plc"));
	assert_non_null(strstr(out, "(451 4.3.0 try later)"));
	assert_non_null(strstr(out, "b@example.com"));
	assert_null(strstr(out, "a@example.com"));
	assert_non_null(strstr(out, "-- 1 message in queue"));
	free(out);
}

/* A FIFO planted in queue/ blocks neither recovery nor listing. */
static void
test_fifo_in_queue(void **state)
{
	struct fixture *f = *state;
	char path[256], id[SPOOL_ID_MAX], err[256], *out = NULL;
	struct spool_entry *v;
	size_t n, len = 0;
	FILE *mem;

	assert_int_equal(spool_submit(f->sp, "", rcpts2, 2, MSG, strlen(MSG),
	    id, sizeof(id)), 0);
	spool_close(f->sp);
	snprintf(path, sizeof(path), "%s/queue/0000000000000FFFFFF0000.msg",
	    f->dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	snprintf(path, sizeof(path), "%s/queue/%s.meta", f->dir, id);
	assert_int_equal(mkfifo(path, 0600), 0);
	alarm(10);			/* a blocking open() never returns */
	f->sp = spool_open(f->dir, err, sizeof(err));
	assert_non_null(f->sp);
	assert_int_equal(spool_scan(f->sp, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].id, id);
	spool_entries_free(v, n);
	assert_non_null(mem = open_memstream(&out, &len));
	assert_int_equal(spool_print_queue(f->sp, mem), 0);
	fclose(mem);
	alarm(0);
	assert_non_null(strstr(out, id));
	assert_non_null(strstr(out, "-- 1 message in queue"));
	free(out);
	/* the FIFO .meta went like a damaged one; the FIFO .msg is left */
	assert_int_equal(count_dir(f->dir, "queue", ".meta"), 0);
	snprintf(path, sizeof(path), "%s/queue/0000000000000FFFFFF0000.msg",
	    f->dir);
	assert_int_equal(access(path, F_OK), 0);
}

static void
assert_file_text(const char *path, const char *text)
{
	char buf[256];
	size_t n;
	FILE *fp;

	assert_non_null(fp = fopen(path, "r"));
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	fclose(fp);
	buf[n] = '\0';
	assert_string_equal(buf, text);
}

/* Links planted at tmp/ names or in queue/ are never written through. */
static void
test_symlink_not_followed(void **state)
{
	struct fixture *f = *state;
	char secret[256], path[256], id[SPOOL_ID_MAX], id2[SPOOL_ID_MAX];
	struct spool_entry *v, e;
	char *data;
	size_t n, len;

	snprintf(secret, sizeof(secret), "%s/secret", f->dir);
	write_file(secret, "root only\n");
	assert_int_equal(spool_submit(f->sp, "", rcpts2, 2, MSG, strlen(MSG),
	    id, sizeof(id)), 0);
	snprintf(path, sizeof(path), "%s/tmp/%ld.%s.meta.new", f->dir,
	    (long)getpid(), id);
	assert_int_equal(symlink(secret, path), 0);
	assert_int_equal(spool_defer(f->sp, id, 1, 0, "451 later", rcpts2, 1),
	    0);
	snprintf(path, sizeof(path), "%s/tmp/%ld.%s.reason.new", f->dir,
	    (long)getpid(), id);
	assert_int_equal(symlink(secret, path), 0);
	assert_int_equal(spool_fail(f->sp, id, "550 no", NULL, 0), 0);
	assert_file_text(secret, "root only\n");
	snprintf(path, sizeof(path), "%s/failed/%s.reason", f->dir, id);
	assert_file_text(path, "550 no\n");
	assert_int_equal(count_dir(f->dir, "tmp", ""), 0);

	/* a link in queue/ to a well-formed message is no message */
	assert_int_equal(spool_submit(f->sp, "", rcpts2, 2, MSG, strlen(MSG),
	    id2, sizeof(id2)), 0);
	snprintf(path, sizeof(path), "%s/queue/%s.msg", f->dir, id2);
	assert_int_equal(rename(path, secret), 0);
	assert_int_equal(symlink(secret, path), 0);
	assert_int_equal(spool_scan(f->sp, &v, &n), 0);
	assert_int_equal(n, 0);
	free(v);
	assert_int_equal(spool_read(f->sp, id2, &e, &data, &len), -1);
	assert_int_equal(errno, EPERM);
}

/* Directories others may write into are refused, as are linked ones. */
static void
test_dir_checks(void **state)
{
	struct fixture *f = *state;
	char path[256], real[256], err[256];

	spool_close(f->sp);
	f->sp = NULL;
	assert_int_equal(chmod(f->dir, 0770), 0);
	assert_null(spool_open(f->dir, err, sizeof(err)));
	assert_non_null(strstr(err, "group or world writable"));
	assert_int_equal(chmod(f->dir, 0700), 0);
	snprintf(path, sizeof(path), "%s/queue", f->dir);
	assert_int_equal(chmod(path, 0703), 0);
	assert_null(spool_open(f->dir, err, sizeof(err)));
	assert_non_null(strstr(err, "/queue is group or world writable"));
	assert_int_equal(chmod(path, 0700), 0);
	snprintf(real, sizeof(real), "%s/tmp.real", f->dir);
	snprintf(path, sizeof(path), "%s/tmp", f->dir);
	assert_int_equal(rename(path, real), 0);
	assert_int_equal(symlink(real, path), 0);
	assert_null(spool_open(f->dir, err, sizeof(err)));
	assert_non_null(strstr(err, "/tmp: Not a directory"));
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rename(real, path), 0);
	assert_non_null(f->sp = spool_open(f->dir, err, sizeof(err)));
}

/* Counters follow commit, defer, fail, retry, delete without a scan. */
static void
test_stats_retry_delete(void **state)
{
	struct fixture *f = *state;
	char id[SPOOL_ID_MAX], id2[SPOOL_ID_MAX], *one[] = { "b@example.com" };
	struct spool_entry *v;
	struct spool_stats st;
	size_t n;

	spool_stats(f->sp, &st);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.oldest, 0);
	assert_int_equal(spool_submit(f->sp, "s@example.com", rcpts2, 2, MSG,
	    strlen(MSG), id, sizeof(id)), 0);
	assert_int_equal(spool_submit(f->sp, "s@example.com", rcpts2, 2, MSG,
	    strlen(MSG), id2, sizeof(id2)), 0);
	spool_stats(f->sp, &st);
	assert_int_equal(st.queued, 2);
	assert_true(st.oldest > 0 && st.oldest <= time(NULL));
	/* a@ got it, b@ bounced: retry goes to b@ only, attempts 0. */
	assert_int_equal(spool_defer(f->sp, id, 4, time(NULL) + 600, "451 x",
	    rcpts2, 2), 0);
	assert_int_equal(spool_fail(f->sp, id, "b@example.com: 550 no", one,
	    1), 0);
	assert_int_equal(spool_fail(f->sp, id2, "gave up", NULL, 0), 0);
	spool_stats(f->sp, &st);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.oldest, 0);
	assert_int_equal(st.failed, 2);
	assert_int_equal(spool_retry(f->sp, "0000000000000000000FFFF", &n), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_retry(f->sp, "../queue/x", &n), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(spool_retry(f->sp, id, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(spool_scan(f->sp, &v, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(v[0].attempts, 0);
	assert_int_equal(v[0].next_try, 0);
	assert_int_equal(v[0].nrcpt, 1);
	assert_string_equal(v[0].rcpts[0], "b@example.com");
	spool_entries_free(v, n);
	assert_int_equal(count_dir(f->dir, "failed", ".reason"), 1);
	spool_stats(f->sp, &st);
	assert_int_equal(st.queued, 1);
	assert_int_equal(st.failed, 1);
	/* delete: from failed/, then from the queue; then nothing left. */
	assert_int_equal(spool_delete(f->sp, id2), 0);
	assert_int_equal(spool_delete(f->sp, id), 0);
	assert_int_equal(spool_delete(f->sp, id), -1);
	assert_int_equal(errno, ENOENT);
	spool_stats(f->sp, &st);
	assert_int_equal(st.queued, 0);
	assert_int_equal(st.failed, 0);
	assert_int_equal(count_dir(f->dir, "failed", ""), 0);
	assert_int_equal(count_dir(f->dir, "queue", ""), 0);
	assert_int_equal(spool_retry(f->sp, NULL, &n), 0);
	assert_int_equal(n, 0);
}

/* One holder of the lock; it moves damaged entries to failed/, others
 * only count them. */
static void
test_lock_and_damaged(void **state)
{
	struct fixture *f = *state;
	char path[256], err[256], id[SPOOL_ID_MAX], buf[64];
	struct spool *other;
	struct spool_entry *v;
	struct spool_stats st;
	size_t n;

	assert_int_equal(spool_submit(f->sp, "s@example.com", rcpts2, 2, MSG,
	    strlen(MSG), id, sizeof(id)), 0);
	snprintf(path, sizeof(path), "%s/queue/00000000000000000000001.msg",
	    f->dir);
	write_file(path, "M2M-SPOOL 1\ngarbage\n");
	assert_non_null(other = spool_open(f->dir, err, sizeof(err)));
	/* spool_open's recovery moved it (the damage was there before). */
	spool_stats(other, &st);
	assert_int_equal(st.damaged, 1);
	assert_int_equal(st.failed, 1);
	assert_int_equal(spool_lock(f->sp, err, sizeof(err)), 0);
	assert_int_equal(spool_lock(other, err, sizeof(err)), -1);
	snprintf(buf, sizeof(buf), "(pid %ld) is running on ", (long)getpid());
	assert_non_null(strstr(err, "another modbus2mail "));
	assert_non_null(strstr(err, buf));
	/* Damaged after open: the lock holder moves it, others don't. */
	write_file(path, "M2M-SPOOL 1\ngarbage\n");
	assert_int_equal(spool_scan(other, &v, &n), 0);
	spool_entries_free(v, n);
	assert_int_equal(n, 1);
	assert_int_equal(count_dir(f->dir, "queue", ".msg"), 2);
	assert_int_equal(spool_scan(f->sp, &v, &n), 0);
	spool_entries_free(v, n);
	assert_int_equal(n, 1);
	assert_int_equal(count_dir(f->dir, "queue", ".msg"), 1);
	snprintf(path, sizeof(path), "%s/failed/00000000000000000000001.reason",
	    f->dir);
	assert_int_equal(access(path, F_OK), 0);
	spool_stats(f->sp, &st);
	assert_int_equal(st.damaged, 1);
	assert_int_equal(st.queued, 1);
	/* Closing releases the lock. */
	spool_close(f->sp);
	f->sp = other;
	assert_int_equal(spool_lock(other, err, sizeof(err)), 0);
}

/* State files in spool_dir: written whole, read back without newline. */
static void
test_state_files(void **state)
{
	struct fixture *f = *state;
	char buf[32];

	assert_int_equal(spool_state_get(f->sp, "sign_of_life", buf,
	    sizeof(buf)), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_state_put(f->sp, "sign_of_life",
	    "2026-11-29\n"), 0);
	assert_int_equal(spool_state_get(f->sp, "sign_of_life", buf,
	    sizeof(buf)), 0);
	assert_string_equal(buf, "2026-11-29");
	assert_int_equal(count_dir(f->dir, "tmp", ""), 0);
}

/* The pollers' alarm state: whole text back; a planted link is no state. */
static void
test_alarm_state(void **state)
{
	struct fixture *f = *state;
	char buf[64], secret[256], path[256];

	assert_int_equal(spool_alarms_get(f->sp, "maxi1", buf, sizeof(buf)),
	    -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(spool_alarms_put(f->sp, "maxi1", "a=1\nb=2\n"), 0);
	assert_int_equal(spool_alarms_get(f->sp, "maxi1", buf, sizeof(buf)),
	    0);
	assert_string_equal(buf, "a=1\nb=2\n");
	snprintf(path, sizeof(path), "%s/alarms/maxi1.state", f->dir);
	assert_file_text(path, "a=1\nb=2\n");
	snprintf(secret, sizeof(secret), "%s/secret", f->dir);
	write_file(secret, "root only\n");
	snprintf(path, sizeof(path), "%s/alarms/maxi2.state", f->dir);
	assert_int_equal(symlink(secret, path), 0);
	assert_int_equal(spool_alarms_get(f->sp, "maxi2", buf, sizeof(buf)),
	    -1);
	/* written over by a rename: the link goes, the target stays */
	assert_int_equal(spool_alarms_put(f->sp, "maxi2", "c=3\n"), 0);
	assert_file_text(secret, "root only\n");
	assert_file_text(path, "c=3\n");
	assert_int_equal(count_dir(f->dir, "tmp", ""), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_layout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_submit_read, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_subject, setup, teardown),
		cmocka_unit_test_setup_teardown(test_streaming_and_abort,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_defer_remove_fail, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_error, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_print_queue, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_fifo_in_queue, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_symlink_not_followed,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_retry_delete, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lock_and_damaged, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_alarm_state, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_state_files, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_dir_checks, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
