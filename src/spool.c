/*
 * spool.c - the durable message queue (SPEC §7).
 *
 * On-disk format, under spool_dir (0700, subdirectories 0700):
 *
 *   tmp/PID.ID.msg      being written by process PID; never read
 *   tmp/PID.ID.meta     new retry metadata being written
 *   queue/ID.msg        committed message (the rename into queue/ is the
 *                       commit); written once, never modified
 *   queue/ID.meta       retry metadata, replaced whole by tmp + rename;
 *                       absent until the first failed attempt
 *   failed/ID.msg       permanent failure, the message as spooled
 *   failed/ID.reason    why, one line of text
 *
 * ID is 23 upper-case hex digits: wall clock in microseconds (13), the
 * writer's pid (6), a per-process counter (4); ids sort by age.
 *
 * ID.msg is an envelope followed by the RFC 5322 text, verbatim:
 *
 *   M2M-SPOOL 1\n
 *   created UNIX-SECONDS\n
 *   sender ADDR\n          (empty for the null sender, e.g. notices)
 *   rcpt ADDR\n            (one per recipient)
 *   \n
 *   MESSAGE TEXT (CRLF lines)
 *
 * ID.meta holds the state that changes between attempts:
 *
 *   M2M-META 1\n
 *   attempts N\n
 *   next_try UNIX-SECONDS\n
 *   error TEXT\n
 *   rcpt ADDR\n            (recipients still pending, one per line)
 *
 * Every file is created O_CREAT|O_EXCL 0600, written, fsync'd, renamed and
 * the target directory fsync'd, so a power cut leaves either the old or the
 * new version.
 *
 * Root (sendmail, queue) works on the service user's spool: a file is only
 * used when it is a regular file of the spool directory's owner, opened
 * without following links and without blocking (a planted FIFO or symlink
 * is refused, EPERM); what root creates is handed to that owner. The
 * directories must not be group/world writable, and a spool of another
 * user is refused unless we are root. spool_open() removes tmp/ leftovers of writers that are gone
 * (dead pid, or older than a day), .meta files whose message is gone, and
 * moves unreadable queue files to failed/; a damaged .meta is removed when
 * read (the message is then retried to all its recipients).
 */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "modbus2mail/log.h"
#include "modbus2mail/spool.h"
#include "modbus2mail/util.h"

#define SPOOL_MAGIC "M2M-SPOOL 1\n"
#define SPOOL_HEADER_LINE	1000	/* RFC 5322 line limit, and CRLF */
#define SPOOL_HEADER_LINES	200	/* read at most for a Subject */
#define SPOOL_META_MAGIC "M2M-META 1\n"
#define SPOOL_LINE_MAX 1024
#define SPOOL_STALE_TMP (24 * 3600)

struct spool {
	char *dir;                   /* owned */
	int tmpfd, queuefd, failfd;  /* directory fds, O_DIRECTORY */
	int alarmsfd;                /* alarms/: the pollers' state */
	uid_t uid;                   /* owner of dir and of every file */
	gid_t gid;
	pthread_mutex_t lock;        /* counter, stats, metadata replacement */
	unsigned counter;
	struct spool_stats stats;    /* under lock */
	int lockfd;                  /* spool_lock(): the daemon's, or -1 */
	int dirfd;                   /* spool_dir itself: state files */
};

struct spool_msg {
	struct spool *sp;
	FILE *fp;                    /* tmp/PID.ID.msg */
	char id[SPOOL_ID_MAX];
	char tmpname[SPOOL_ID_MAX + 32];
	int failed;                  /* a write failed; errno saved */
	int saved_errno;
};

static int	spool_check_dir(int, const char *, char *, size_t);
static int	spool_subdir(struct spool *, int, const char *, char *, size_t);
static int	spool_open_file(struct spool *, int, const char *, int);
static void	spool_new_id(struct spool *, char *, size_t);
static void	spool_tmpname(const char *, const char *, char *, size_t);
static int	spool_addr_ok(const char *);
static int	spool_write_file(struct spool *, int, const char *,
		    const char *, size_t);
static int	spool_read_envelope(FILE *, struct spool_entry *);
static int	spool_read_meta(struct spool *, const char *,
		    struct spool_entry *);
static int	spool_load(struct spool *, const char *, struct spool_entry *,
		    FILE **, size_t *);
static void	spool_recover(struct spool *);
static int	spool_has_suffix(const char *, const char *, char *, size_t);
static int	spool_cmp(const void *, const void *);
static void	spool_fmt_age(char *, size_t, long long);
static char	*spool_meta_text(unsigned, time_t, const char *, char *const *,
		    size_t, size_t *);
static DIR	*spool_opendir(int);
static size_t	spool_count(int, const char *);
static int	spool_unusable(struct spool *, const char *, int);
static int	spool_unfail(struct spool *, const char *);
static int	spool_rename_new(int, const char *, int, const char *);
static int	spool_id_ok(const char *);
static FILE	*spool_open_msg(struct spool *, int, const char *,
		    struct spool_entry *);
static void	spool_print_failed(struct spool *, FILE *);
static void	spool_print_entry(FILE *, const struct spool_entry *,
		    const char *, const char *, time_t);
static int	spool_load_failed(struct spool *, const char *,
		    struct spool_entry *);

struct spool *
spool_open(const char *dir, char *err, size_t errlen)
{
	struct spool *sp;
	struct stat st;
	int fd = -1;

	if ((sp = calloc(1, sizeof(*sp))) == NULL ||
	    (sp->dir = strdup(dir)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", dir);
		free(sp);
		return NULL;
	}
	sp->tmpfd = sp->queuefd = sp->failfd = sp->lockfd = sp->dirfd = -1;
	sp->alarmsfd = -1;
	pthread_mutex_init(&sp->lock, NULL);
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", dir,
		    strerror(errno));
		goto fail;
	}
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "cannot open %s: %s", dir,
		    strerror(errno));
		goto fail;
	}
	if (spool_check_dir(fd, dir, err, errlen) == -1 ||
	    fstat(fd, &st) == -1)
		goto fail;
	sp->uid = st.st_uid;
	sp->gid = st.st_gid;
	if ((sp->tmpfd = spool_subdir(sp, fd, "tmp", err, errlen)) == -1 ||
	    (sp->queuefd = spool_subdir(sp, fd, "queue", err, errlen)) == -1 ||
	    (sp->failfd = spool_subdir(sp, fd, "failed", err, errlen)) == -1 ||
	    (sp->alarmsfd = spool_subdir(sp, fd, "alarms", err, errlen)) == -1)
		goto fail;
	sp->dirfd = fd;
	spool_recover(sp);
	sp->stats.failed = spool_count(sp->failfd, ".msg");
	return sp;
fail:
	if (fd != -1)
		close(fd);
	spool_close(sp);
	return NULL;
}

void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->tmpfd != -1)
		close(sp->tmpfd);
	if (sp->queuefd != -1)
		close(sp->queuefd);
	if (sp->failfd != -1)
		close(sp->failfd);
	if (sp->alarmsfd != -1)
		close(sp->alarmsfd);
	if (sp->lockfd != -1)
		close(sp->lockfd);
	if (sp->dirfd != -1)
		close(sp->dirfd);
	pthread_mutex_destroy(&sp->lock);
	free(sp->dir);
	free(sp);
}

/* Whoever may write into a spool directory can feed root files. */
static int
spool_check_dir(int fd, const char *path, char *err, size_t errlen)
{
	struct stat st;
	uid_t me = geteuid();

	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "cannot stat %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		snprintf(err, errlen, "%s is group or world writable (mode "
		    "%03o; chmod 700 it)", path, (unsigned)st.st_mode & 0777);
		return -1;
	}
	if (me != 0 && st.st_uid != me && st.st_uid != 0) {
		snprintf(err, errlen, "%s is owned by uid %u, not by this user "
		    "(uid %u) or root", path, (unsigned)st.st_uid,
		    (unsigned)me);
		return -1;
	}
	return 0;
}

/* dir/name, created 0700 for the spool's owner; never through a link. */
static int
spool_subdir(struct spool *sp, int dirfd, const char *name, char *err,
    size_t errlen)
{
	char path[4096];
	int fd, created;

	snprintf(path, sizeof(path), "%s/%s", sp->dir, name);
	if (!(created = mkdirat(dirfd, name, 0700) == 0) && errno != EEXIST) {
		snprintf(err, errlen, "cannot create %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1) {
		/* a link to a directory: ENOTDIR, to anything else: ELOOP */
		snprintf(err, errlen, "cannot open %s: %s", path,
		    strerror(errno == ELOOP ? ENOTDIR : errno));
		return -1;
	}
	if (created && geteuid() == 0 && fchown(fd, sp->uid, sp->gid) == -1) {
		snprintf(err, errlen, "cannot hand %s to uid %u: %s", path,
		    (unsigned)sp->uid, strerror(errno));
		close(fd);
		return -1;
	}
	if (spool_check_dir(fd, path, err, errlen) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * dirfd/name as a regular file of the spool's owner, or -1 (EPERM for a
 * link, FIFO, device or another owner's file). Files root creates go to
 * the owner, so the service can read them.
 */
static int
spool_open_file(struct spool *sp, int dirfd, const char *name, int flags)
{
	struct stat st;
	int fd, save;

	if ((fd = openat(dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC, 0600)) == -1) {
		if (errno == ELOOP)
			errno = EPERM;
		return -1;
	}
	if ((flags & O_CREAT) && geteuid() == 0 && sp->uid != 0 &&
	    fchown(fd, sp->uid, sp->gid) == -1)
		goto fail;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode) || st.st_uid != sp->uid) {
		errno = EPERM;
		goto fail;
	}
	return fd;
fail:
	save = errno;
	close(fd);
	if (flags & O_CREAT)
		unlinkat(dirfd, name, 0);
	errno = save;
	return -1;
}

static void
spool_new_id(struct spool *sp, char *id, size_t len)
{
	unsigned c;

	pthread_mutex_lock(&sp->lock);
	c = sp->counter++;
	pthread_mutex_unlock(&sp->lock);
	snprintf(id, len, "%013" PRIX64 "%06X%04X",
	    (uint64_t)((util_wall_ms() * 1000 + c % 1000) & 0xFFFFFFFFFFFFFULL),
	    (unsigned)getpid() & 0xFFFFFF, c & 0xFFFF);
}

static void
spool_tmpname(const char *id, const char *suffix, char *buf, size_t len)
{
	snprintf(buf, len, "%ld.%s.%s", (long)getpid(), id, suffix);
}

/* One line per address in the file: no control characters. */
static int
spool_addr_ok(const char *a)
{
	if (a == NULL || strlen(a) > 512)
		return 0;
	for (; *a != '\0'; a++)
		if ((unsigned char)*a < 0x20 || *a == 0x7f)
			return 0;
	return 1;
}

struct spool_msg *
spool_msg_begin(struct spool *sp, const char *sender, char *const *rcpts,
    size_t nrcpt)
{
	struct spool_msg *m;
	int fd, save;
	size_t i;

	if (sender == NULL)
		sender = "";
	if (!spool_addr_ok(sender) || nrcpt == 0) {
		errno = EINVAL;
		return NULL;
	}
	for (i = 0; i < nrcpt; i++)
		if (!spool_addr_ok(rcpts[i]) || rcpts[i][0] == '\0') {
			errno = EINVAL;
			return NULL;
		}
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	m->sp = sp;
	for (;;) {
		spool_new_id(sp, m->id, sizeof(m->id));
		spool_tmpname(m->id, "msg", m->tmpname, sizeof(m->tmpname));
		fd = spool_open_file(sp, sp->tmpfd, m->tmpname,
		    O_WRONLY | O_CREAT | O_EXCL);
		if (fd != -1 || errno != EEXIST)
			break;
	}
	if (fd == -1 || (m->fp = fdopen(fd, "w")) == NULL) {
		save = errno;
		if (fd != -1) {
			close(fd);
			unlinkat(sp->tmpfd, m->tmpname, 0);
		}
		free(m);
		errno = save;
		return NULL;
	}
	fprintf(m->fp, "%screated %lld\nsender %s\n", SPOOL_MAGIC,
	    (long long)time(NULL), sender);
	for (i = 0; i < nrcpt; i++)
		fprintf(m->fp, "rcpt %s\n", rcpts[i]);
	fputs("\n", m->fp);
	if (ferror(m->fp)) {
		save = errno;
		spool_msg_abort(m);
		errno = save;
		return NULL;
	}
	return m;
}

int
spool_msg_write(struct spool_msg *m, const void *buf, size_t len)
{
	if (m->failed) {
		errno = m->saved_errno;
		return -1;
	}
	if (len > 0 && fwrite(buf, 1, len, m->fp) != len) {
		m->failed = 1;
		m->saved_errno = errno != 0 ? errno : EIO;
		errno = m->saved_errno;
		return -1;
	}
	return 0;
}

int
spool_msg_commit(struct spool_msg *m, char *id, size_t idlen)
{
	struct spool *sp = m->sp;
	char final[SPOOL_ID_MAX + 8];
	int save;

	if (m->failed) {
		save = m->saved_errno;
		goto fail;
	}
	if (fflush(m->fp) == EOF || fsync(fileno(m->fp)) == -1) {
		save = errno;
		goto fail;
	}
	if (fclose(m->fp) == EOF) {
		m->fp = NULL;
		save = errno;
		goto fail;
	}
	m->fp = NULL;
	snprintf(final, sizeof(final), "%s.msg", m->id);
	/* NOREPLACE: an id collision must never clobber a queued message. */
	if (spool_rename_new(sp->tmpfd, m->tmpname, sp->queuefd, final) ==
	    -1) {
		save = errno;
		goto fail;
	}
	if (fsync(sp->queuefd) == -1) {
		save = errno;
		log_warn("spool: id=%s fsync queue/", m->id);
		/* The rename happened; the message is there, maybe not durable. */
		unlinkat(sp->queuefd, final, 0);
		fsync(sp->queuefd);
		free(m);
		errno = save;
		return -1;
	}
	pthread_mutex_lock(&sp->lock);
	if (sp->stats.queued++ == 0 || sp->stats.oldest > time(NULL))
		sp->stats.oldest = time(NULL);
	pthread_mutex_unlock(&sp->lock);
	if (id != NULL)
		strlcpy(id, m->id, idlen);
	free(m);
	return 0;
fail:
	spool_msg_abort(m);
	errno = save;
	return -1;
}

void
spool_msg_abort(struct spool_msg *m)
{
	if (m == NULL)
		return;
	if (m->fp != NULL)
		fclose(m->fp);
	unlinkat(m->sp->tmpfd, m->tmpname, 0);
	free(m);
}

int
spool_submit(struct spool *sp, const char *sender, char *const *rcpts,
    size_t nrcpt, const char *data, size_t len, char *id, size_t idlen)
{
	struct spool_msg *m;
	int save;

	if ((m = spool_msg_begin(sp, sender, rcpts, nrcpt)) == NULL)
		return -1;
	if (spool_msg_write(m, data, len) == -1) {
		save = errno;
		spool_msg_abort(m);
		errno = save;
		return -1;
	}
	return spool_msg_commit(m, id, idlen);
}

/* Writes dirfd/name whole and durably: tmp file, fsync, rename, fsync dir. */
static int
spool_write_file(struct spool *sp, int dirfd, const char *name,
    const char *buf, size_t len)
{
	char tmp[NAME_MAX + 1];
	int fd, save;
	ssize_t w;
	size_t off = 0;

	if (strlen(name) + 32 > sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	spool_tmpname(name, "new", tmp, sizeof(tmp));
	/* A leftover (or planted) name is replaced, never written through. */
	if ((fd = spool_open_file(sp, sp->tmpfd, tmp, O_WRONLY | O_CREAT |
	    O_EXCL)) == -1 && errno == EEXIST &&
	    unlinkat(sp->tmpfd, tmp, 0) == 0)
		fd = spool_open_file(sp, sp->tmpfd, tmp, O_WRONLY | O_CREAT |
		    O_EXCL);
	if (fd == -1)
		return -1;
	while (off < len) {
		if ((w = write(fd, buf + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)w;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (renameat(sp->tmpfd, tmp, dirfd, name) == -1)
		goto fail;
	return fsync(dirfd);
fail:
	save = errno;
	if (fd != -1)
		close(fd);
	unlinkat(sp->tmpfd, tmp, 0);
	errno = save;
	return -1;
}

/* Reads the envelope of an ID.msg stream; leaves fp at the message text. */
static int
spool_read_envelope(FILE *fp, struct spool_entry *e)
{
	char line[SPOOL_LINE_MAX];
	unsigned long v;
	size_t l;

	if (fgets(line, sizeof(line), fp) == NULL ||
	    strcmp(line, SPOOL_MAGIC) != 0)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL) {
		l = strlen(line);
		if (l == 0 || line[l - 1] != '\n')
			return -1;
		line[--l] = '\0';
		if (l == 0)
			return e->sender != NULL && e->nrcpt > 0 ? 0 : -1;
		if (strncmp(line, "created ", 8) == 0) {
			if (util_parse_ulong(line + 8, ULONG_MAX, &v) == -1)
				return -1;
			e->created = (time_t)v;
		} else if (strncmp(line, "sender ", 7) == 0) {
			free(e->sender);
			if ((e->sender = strdup(line + 7)) == NULL)
				return -1;
		} else if (strncmp(line, "rcpt ", 5) == 0) {
			if (util_strv_push(&e->rcpts, &e->nrcpt, line + 5) == -1)
				return -1;
		} else
			return -1;
	}
	return -1;
}

/* Overlays queue/ID.meta, when there is one, on e. */
static int
spool_read_meta(struct spool *sp, const char *id, struct spool_entry *e)
{
	char name[SPOOL_ID_MAX + 8], line[SPOOL_LINE_MAX];
	char **rcpts = NULL;
	size_t nrcpt = 0, l;
	unsigned long v;
	FILE *fp;
	int fd;

	snprintf(name, sizeof(name), "%s.meta", id);
	if ((fd = spool_open_file(sp, sp->queuefd, name, O_RDONLY)) == -1) {
		if (errno != EPERM)
			return errno == ENOENT ? 0 : -1;
		/* Not ours: like a damaged one, it only loses retry state. */
		log_warnx("spool: id=%s metadata is not a regular file of the "
		    "spool's owner, removed", id);
		unlinkat(sp->queuefd, name, 0);
		return 0;
	}
	if ((fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return -1;
	}
	if (fgets(line, sizeof(line), fp) == NULL ||
	    strcmp(line, SPOOL_META_MAGIC) != 0)
		goto bad;
	while (fgets(line, sizeof(line), fp) != NULL) {
		l = strlen(line);
		if (l > 0 && line[l - 1] == '\n')
			line[--l] = '\0';
		if (strncmp(line, "attempts ", 9) == 0 &&
		    util_parse_ulong(line + 9, UINT_MAX, &v) == 0)
			e->attempts = (unsigned)v;
		else if (strncmp(line, "next_try ", 9) == 0 &&
		    util_parse_ulong(line + 9, ULONG_MAX, &v) == 0)
			e->next_try = (time_t)v;
		else if (strncmp(line, "error ", 6) == 0)
			strlcpy(e->last_error, line + 6, sizeof(e->last_error));
		else if (strncmp(line, "rcpt ", 5) == 0) {
			if (util_strv_push(&rcpts, &nrcpt, line + 5) == -1)
				goto bad;
		}
	}
	fclose(fp);
	if (nrcpt > 0) {
		util_strv_free(e->rcpts, e->nrcpt);
		e->rcpts = rcpts;
		e->nrcpt = nrcpt;
	}
	return 0;
bad:
	/* A damaged .meta only loses retry state: deliver to everyone. */
	fclose(fp);
	util_strv_free(rcpts, nrcpt);
	log_warnx("spool: id=%s unreadable metadata removed", id);
	unlinkat(sp->queuefd, name, 0);
	return 0;
}

/* A queue id as spool_new_id() makes them: a file name, never a path. */
static int
spool_id_ok(const char *id)
{
	size_t n = strspn(id, "0123456789ABCDEF");

	if (n == 0 || n >= SPOOL_ID_MAX || id[n] != '\0') {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* dirfd/ID.msg as a stream; e cleared, its id set. NULL with errno. */
static FILE *
spool_open_msg(struct spool *sp, int dirfd, const char *id,
    struct spool_entry *e)
{
	char name[SPOOL_ID_MAX + 8];
	FILE *fp;
	int fd;

	memset(e, 0, sizeof(*e));
	if (spool_id_ok(id) == -1)
		return NULL;
	strlcpy(e->id, id, sizeof(e->id));
	snprintf(name, sizeof(name), "%s.msg", id);
	if ((fd = spool_open_file(sp, dirfd, name, O_RDONLY)) == -1)
		return NULL;
	if ((fp = fdopen(fd, "r")) == NULL)
		close(fd);
	return fp;
}

/* Opens queue/ID.msg, fills meta, returns the stream at the message text. */
static int
spool_load(struct spool *sp, const char *id, struct spool_entry *e, FILE **fpp,
    size_t *len)
{
	struct stat st;
	FILE *fp;
	int fd;
	long off;

	if ((fp = spool_open_msg(sp, sp->queuefd, id, e)) == NULL)
		return -1;
	fd = fileno(fp);
	if (spool_read_envelope(fp, e) == -1 || fstat(fd, &st) == -1 ||
	    (off = ftell(fp)) == -1) {
		fclose(fp);
		spool_entry_clear(e);
		errno = EBADMSG;
		return -1;
	}
	e->size = (size_t)(st.st_size - off);
	if (spool_read_meta(sp, id, e) == -1) {
		fclose(fp);
		spool_entry_clear(e);
		return -1;
	}
	if (len != NULL)
		*len = e->size;
	if (fpp != NULL)
		*fpp = fp;
	else
		fclose(fp);
	return 0;
}

void
spool_entry_clear(struct spool_entry *e)
{
	free(e->sender);
	util_strv_free(e->rcpts, e->nrcpt);
	e->sender = NULL;
	e->rcpts = NULL;
	e->nrcpt = 0;
}

void
spool_entries_free(struct spool_entry *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		spool_entry_clear(&v[i]);
	free(v);
}

static int
spool_has_suffix(const char *name, const char *suffix, char *id, size_t len)
{
	size_t n = strlen(name), s = strlen(suffix);

	if (n <= s || strcmp(name + n - s, suffix) != 0 || n - s >= len)
		return 0;
	memcpy(id, name, n - s);
	id[n - s] = '\0';
	return 1;
}

static int
spool_cmp(const void *a, const void *b)
{
	const struct spool_entry *x = a, *y = b;

	if (x->created != y->created)
		return x->created < y->created ? -1 : 1;
	return strcmp(x->id, y->id);
}

/*
 * A queued message that cannot be used (err: errno of spool_load). The
 * daemon (holding the lock) moves a damaged or unreadable one to failed/
 * with the reason; what is not a file of ours stays (see the top). Returns
 * 1 while it stays in queue/.
 */
static int
spool_unusable(struct spool *sp, const char *id, int err)
{
	char reason[128];

	if (err == EPERM || sp->lockfd == -1)
		return 1;
	snprintf(reason, sizeof(reason), "unreadable spool file: %s",
	    err == EBADMSG ? "damaged envelope" : strerror(err));
	log_errx("spool: id=%s %s, moved to failed/", id, reason);
	if (spool_fail(sp, id, reason, NULL, 0) == -1) {
		log_err("spool: id=%s move to failed/", id);
		return 1;
	}
	pthread_mutex_lock(&sp->lock);
	sp->stats.damaged++;
	pthread_mutex_unlock(&sp->lock);
	return 0;
}

int
spool_lock(struct spool *sp, char *err, size_t errlen)
{
	char path[4096], pid[32];
	struct stat st;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/lock", sp->dir);
	if ((fd = openat(sp->dirfd, "lock", O_RDWR | O_CREAT | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC, 0600)) == -1 || fstat(fd, &st) == -1 ||
	    !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "cannot open %s: %s", path, fd == -1 ?
		    strerror(errno) : "not a regular file");
		goto fail;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		n = errno == EWOULDBLOCK ? pread(fd, pid, sizeof(pid) - 1, 0) :
		    -1;
		pid[n > 0 ? (size_t)n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (n >= 0)
			snprintf(err, errlen, "another modbus2mail (pid %s) is "
			    "running on %s", pid[0] ? pid : "?", sp->dir);
		else
			snprintf(err, errlen, "cannot lock %s: %s", path,
			    strerror(errno));
		goto fail;
	}
	if ((geteuid() == 0 && st.st_uid != sp->uid &&
	    fchown(fd, sp->uid, sp->gid) == -1) || ftruncate(fd, 0) == -1 ||
	    dprintf(fd, "%ld\n", (long)getpid()) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	sp->lockfd = fd;
	return 0;
fail:
	if (fd != -1)
		close(fd);
	return -1;
}

/* dirfd/name whole into buf (NUL terminated, cut at len - 1). */
static int
spool_read_file(struct spool *sp, int dirfd, const char *name, char *buf,
    size_t len)
{
	ssize_t n;
	size_t off = 0;
	int fd;

	if ((fd = spool_open_file(sp, dirfd, name, O_RDONLY)) == -1)
		return -1;
	while (off < len - 1 && (n = read(fd, buf + off, len - 1 - off)) != 0) {
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	close(fd);
	buf[off] = '\0';
	return 0;
}

static int
spool_put_locked(struct spool *sp, int dirfd, const char *name,
    const char *text)
{
	int r, save;

	pthread_mutex_lock(&sp->lock);
	r = spool_write_file(sp, dirfd, name, text, strlen(text));
	save = errno;
	pthread_mutex_unlock(&sp->lock);
	errno = save;
	return r;
}

int
spool_state_get(struct spool *sp, const char *name, char *buf, size_t len)
{
	if (spool_read_file(sp, sp->dirfd, name, buf, len) == -1)
		return -1;
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

int
spool_state_put(struct spool *sp, const char *name, const char *text)
{
	return spool_put_locked(sp, sp->dirfd, name, text);
}

int
spool_alarms_get(struct spool *sp, const char *device, char *buf, size_t len)
{
	char name[NAME_MAX + 1];

	snprintf(name, sizeof(name), "%s.state", device);
	return spool_read_file(sp, sp->alarmsfd, name, buf, len);
}

int
spool_alarms_put(struct spool *sp, const char *device, const char *text)
{
	char name[NAME_MAX + 1];

	snprintf(name, sizeof(name), "%s.state", device);
	return spool_put_locked(sp, sp->alarmsfd, name, text);
}

void
spool_stats(struct spool *sp, struct spool_stats *st)
{
	pthread_mutex_lock(&sp->lock);
	*st = sp->stats;
	pthread_mutex_unlock(&sp->lock);
}

/* A directory stream over dirfd (which stays open), or NULL. */
static DIR *
spool_opendir(int dirfd)
{
	DIR *d;
	int fd;

	if ((fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		return NULL;
	if ((d = fdopendir(fd)) == NULL)
		close(fd);
	return d;
}

/* Entries of dirfd whose name ends in suffix. */
static size_t
spool_count(int dirfd, const char *suffix)
{
	char id[SPOOL_ID_MAX];
	struct dirent *de;
	size_t n = 0;
	DIR *d;

	if ((d = spool_opendir(dirfd)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		if (spool_has_suffix(de->d_name, suffix, id, sizeof(id)))
			n++;
	closedir(d);
	return n;
}

int
spool_scan(struct spool *sp, struct spool_entry **entries, size_t *n)
{
	struct spool_entry *v = NULL, *nv;
	size_t cnt = 0, cap = 0, bad = 0;
	struct dirent *de;
	char id[SPOOL_ID_MAX];
	DIR *d;

	*entries = NULL;
	*n = 0;
	if ((d = spool_opendir(sp->queuefd)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (!spool_has_suffix(de->d_name, ".msg", id, sizeof(id)))
			continue;
		if (cnt == cap) {
			cap = cap ? cap * 2 : 64;
			if ((nv = reallocarray(v, cap, sizeof(*v))) == NULL)
				goto fail;
			v = nv;
		}
		if (spool_load(sp, id, &v[cnt], NULL, NULL) == 0)
			cnt++;
		else if (errno != ENOENT)	/* ENOENT: delivered meanwhile */
			bad += (size_t)spool_unusable(sp, id, errno);
	}
	closedir(d);
	if (cnt > 0)
		qsort(v, cnt, sizeof(*v), spool_cmp);
	pthread_mutex_lock(&sp->lock);
	sp->stats.queued = cnt;
	sp->stats.oldest = cnt > 0 ? v[0].created : 0;
	sp->stats.unusable = bad;
	pthread_mutex_unlock(&sp->lock);
	*entries = v;
	*n = cnt;
	return 0;
fail:
	closedir(d);
	spool_entries_free(v, cnt);
	errno = ENOMEM;
	return -1;
}

int
spool_read(struct spool *sp, const char *id, struct spool_entry *meta,
    char **data, size_t *len)
{
	FILE *fp;
	char *buf;
	size_t l;

	if (spool_load(sp, id, meta, &fp, &l) == -1)
		return -1;
	if ((buf = malloc(l + 1)) == NULL || fread(buf, 1, l, fp) != l) {
		free(buf);
		fclose(fp);
		spool_entry_clear(meta);
		errno = EIO;
		return -1;
	}
	fclose(fp);
	buf[l] = '\0';
	*data = buf;
	*len = l;
	return 0;
}

int
spool_open_data(struct spool *sp, const char *id, struct spool_entry *meta,
    FILE **fp, size_t *len)
{
	return spool_load(sp, id, meta, fp, len);
}

/* The text of an ID.meta file; NULL on ENOMEM. */
static char *
spool_meta_text(unsigned attempts, time_t next_try, const char *error,
    char *const *rcpts, size_t nrcpt, size_t *len)
{
	char *buf = NULL, errline[256];
	size_t i;
	FILE *mem;

	strlcpy(errline, error != NULL ? error : "", sizeof(errline));
	for (i = 0; errline[i] != '\0'; i++)
		if ((unsigned char)errline[i] < 0x20)
			errline[i] = ' ';
	if ((mem = open_memstream(&buf, len)) == NULL)
		return NULL;
	fprintf(mem, "%sattempts %u\nnext_try %lld\nerror %s\n",
	    SPOOL_META_MAGIC, attempts, (long long)next_try, errline);
	for (i = 0; i < nrcpt; i++)
		if (spool_addr_ok(rcpts[i]))
			fprintf(mem, "rcpt %s\n", rcpts[i]);
	if (fclose(mem) == EOF) {
		free(buf);
		return NULL;
	}
	return buf;
}

int
spool_defer(struct spool *sp, const char *id, unsigned attempts,
    time_t next_try, const char *error, char *const *rcpts, size_t nrcpt)
{
	char name[SPOOL_ID_MAX + 8], *buf;
	size_t blen;
	int r, save;

	if ((buf = spool_meta_text(attempts, next_try, error, rcpts, nrcpt,
	    &blen)) == NULL)
		return -1;
	snprintf(name, sizeof(name), "%s.meta", id);
	pthread_mutex_lock(&sp->lock);
	r = spool_write_file(sp, sp->queuefd, name, buf, blen);
	save = errno;
	pthread_mutex_unlock(&sp->lock);
	free(buf);
	errno = save;
	return r;
}

int
spool_remove(struct spool *sp, const char *id)
{
	char name[SPOOL_ID_MAX + 8];
	int r;

	pthread_mutex_lock(&sp->lock);
	snprintf(name, sizeof(name), "%s.msg", id);
	r = unlinkat(sp->queuefd, name, 0);
	if (r == 0) {
		if (sp->stats.queued > 0 && --sp->stats.queued == 0)
			sp->stats.oldest = 0;
		snprintf(name, sizeof(name), "%s.meta", id);
		unlinkat(sp->queuefd, name, 0);
	}
	pthread_mutex_unlock(&sp->lock);
	return r;
}

int
spool_fail(struct spool *sp, const char *id, const char *reason,
    char *const *rcpts, size_t nrcpt)
{
	char name[SPOOL_ID_MAX + 8], line[1024], *meta = NULL;
	size_t i, mlen;
	int r = -1, save;

	snprintf(line, sizeof(line), "%s\n", reason != NULL ? reason : "");
	for (i = 0; line[i] != '\0' && line[i + 1] != '\0'; i++)
		if ((unsigned char)line[i] < 0x20)
			line[i] = ' ';
	if (nrcpt > 0 && (meta = spool_meta_text(0, 0, reason, rcpts, nrcpt,
	    &mlen)) == NULL)
		return -1;
	pthread_mutex_lock(&sp->lock);
	/* Reason first: a failed message never lacks its reason. */
	snprintf(name, sizeof(name), "%s.reason", id);
	if (spool_write_file(sp, sp->failfd, name, line, strlen(line)) == -1)
		goto out;
	/* Whom `retry` sends it to: those who did not get it. */
	snprintf(name, sizeof(name), "%s.meta", id);
	if (meta != NULL && spool_write_file(sp, sp->failfd, name, meta,
	    mlen) == -1)
		goto out;
	snprintf(name, sizeof(name), "%s.msg", id);
	if (renameat(sp->queuefd, name, sp->failfd, name) == -1 ||
	    fsync(sp->failfd) == -1)
		goto out;
	if (sp->stats.queued > 0 && --sp->stats.queued == 0)
		sp->stats.oldest = 0;
	sp->stats.failed++;
	snprintf(name, sizeof(name), "%s.meta", id);
	unlinkat(sp->queuefd, name, 0);
	r = fsync(sp->queuefd);
out:
	save = errno;
	pthread_mutex_unlock(&sp->lock);
	free(meta);
	errno = save;
	return r;
}

/* rename that never replaces (where the file system cannot say so: plain). */
static int
spool_rename_new(int fromfd, const char *from, int tofd, const char *to)
{
	if (renameat2(fromfd, from, tofd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL)
		return -1;
	return renameat(fromfd, from, tofd, to);
}

/* failed/ID back into queue/ with its pending recipients, attempts 0. */
static int
spool_unfail(struct spool *sp, const char *id)
{
	char name[SPOOL_ID_MAX + 8];
	struct stat st;
	int r = -1, save;

	pthread_mutex_lock(&sp->lock);
	/* Recipients first: the message in queue/ is the commit. */
	snprintf(name, sizeof(name), "%s.msg", id);
	if (fstatat(sp->failfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		goto out;
	snprintf(name, sizeof(name), "%s.meta", id);
	if (spool_rename_new(sp->failfd, name, sp->queuefd, name) == -1 &&
	    errno != ENOENT)
		goto out;
	snprintf(name, sizeof(name), "%s.msg", id);
	if (spool_rename_new(sp->failfd, name, sp->queuefd, name) == -1 ||
	    fsync(sp->queuefd) == -1)
		goto out;
	snprintf(name, sizeof(name), "%s.reason", id);
	unlinkat(sp->failfd, name, 0);
	r = fsync(sp->failfd);
	if (sp->stats.queued++ == 0 || sp->stats.oldest > time(NULL))
		sp->stats.oldest = time(NULL);
	if (sp->stats.failed > 0)
		sp->stats.failed--;
out:
	save = errno;
	pthread_mutex_unlock(&sp->lock);
	errno = save;
	return r;
}

/* ids: one queue id, or NULL for every failed message. */
int
spool_retry(struct spool *sp, const char *id, size_t *n)
{
	char name[SPOOL_ID_MAX];
	struct dirent *de;
	DIR *d;
	int r = 0;

	*n = 0;
	if (id != NULL) {
		if (spool_id_ok(id) == -1 || spool_unfail(sp, id) == -1)
			return -1;
		*n = 1;
		return 0;
	}
	if ((d = spool_opendir(sp->failfd)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (spool_has_suffix(de->d_name, ".msg", name, sizeof(name))) {
			if (spool_unfail(sp, name) == 0)
				(*n)++;
			else
				r = -1;
		}
	closedir(d);
	return r;
}

int
spool_delete(struct spool *sp, const char *id)
{
	char name[SPOOL_ID_MAX + 8];
	int r, save;

	if (spool_id_ok(id) == -1)
		return -1;
	pthread_mutex_lock(&sp->lock);
	snprintf(name, sizeof(name), "%s.msg", id);
	if ((r = unlinkat(sp->failfd, name, 0)) == 0) {
		snprintf(name, sizeof(name), "%s.meta", id);
		unlinkat(sp->failfd, name, 0);
		snprintf(name, sizeof(name), "%s.reason", id);
		unlinkat(sp->failfd, name, 0);
		r = fsync(sp->failfd);
		if (sp->stats.failed > 0)
			sp->stats.failed--;
	}
	save = errno;
	pthread_mutex_unlock(&sp->lock);
	if (r == -1 && save == ENOENT)
		return spool_remove(sp, id);	/* a queued one */
	errno = save;
	return r;
}

/* Crash leftovers; see the format comment at the top. */
static void
spool_recover(struct spool *sp)
{
	char id[SPOOL_ID_MAX], name[SPOOL_ID_MAX + 8];
	struct spool_entry e;
	struct dirent *de;
	struct stat st;
	unsigned long pid;
	char *dot, pidbuf[32];
	time_t now = time(NULL);
	DIR *d;

	if ((d = spool_opendir(sp->tmpfd)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_name[0] == '.')
				continue;
			strlcpy(pidbuf, de->d_name, sizeof(pidbuf));
			if ((dot = strchr(pidbuf, '.')) != NULL)
				*dot = '\0';
			/* Another live process (sendmail, listener) may be writing. */
			if (util_parse_ulong(pidbuf, INT_MAX, &pid) == 0 &&
			    (pid_t)pid != getpid() &&
			    (kill((pid_t)pid, 0) == 0 || errno == EPERM) &&
			    fstatat(sp->tmpfd, de->d_name, &st,
			    AT_SYMLINK_NOFOLLOW) == 0 &&
			    now - st.st_mtime < SPOOL_STALE_TMP)
				continue;
			log_info("spool: removed incomplete tmp/%s", de->d_name);
			unlinkat(sp->tmpfd, de->d_name, 0);
		}
		closedir(d);
		fsync(sp->tmpfd);
	}

	if ((d = spool_opendir(sp->queuefd)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (spool_has_suffix(de->d_name, ".meta", id, sizeof(id))) {
			snprintf(name, sizeof(name), "%s.msg", id);
			if (fstatat(sp->queuefd, name, &st, 0) == -1 &&
			    errno == ENOENT) {
				log_info("spool: removed orphan queue/%s",
				    de->d_name);
				unlinkat(sp->queuefd, de->d_name, 0);
			}
		} else if (spool_has_suffix(de->d_name, ".msg", id,
		    sizeof(id))) {
			if (spool_load(sp, id, &e, NULL, NULL) == 0) {
				spool_entry_clear(&e);
				continue;
			}
			if (errno == EPERM)
				log_errx("spool: queue/%s is not a regular "
				    "file of the spool's owner (uid %u), left "
				    "alone", de->d_name, (unsigned)sp->uid);
			else if (errno == EBADMSG) {
				log_errx("spool: id=%s damaged envelope, "
				    "moved to failed/", id);
				if (spool_fail(sp, id, "unreadable spool file: "
				    "damaged envelope", NULL, 0) == 0)
					sp->stats.damaged++;
			}
		}
	}
	closedir(d);
}

static void
spool_fmt_age(char *buf, size_t len, long long s)
{
	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, len, "%llds", s);
	else if (s < 7200)
		snprintf(buf, len, "%lldm", s / 60);
	else if (s < 172800)
		snprintf(buf, len, "%lldh", s / 3600);
	else
		snprintf(buf, len, "%lldd", s / 86400);
}

/* One listed message: header line, (why), recipients. */
static void
spool_print_entry(FILE *out, const struct spool_entry *e, const char *next,
    const char *why, time_t now)
{
	char age[16];
	size_t j;

	spool_fmt_age(age, sizeof(age), (long long)(now - e->created));
	fprintf(out, "%-23s %9zu %5s %8u %-9s %s\n", e->id, e->size, age,
	    e->attempts, next, e->sender[0] != '\0' ? e->sender : "<>");
	if (why[0] != '\0')
		fprintf(out, "%24s(%s)\n", "", why);
	for (j = 0; j < e->nrcpt; j++)
		fprintf(out, "%40s%s\n", "", e->rcpts[j]);
}

/* failed/ID.msg's envelope and failed/ID.reason into e. */
static int
spool_load_failed(struct spool *sp, const char *id, struct spool_entry *e)
{
	char name[SPOOL_ID_MAX + 8];
	struct stat st;
	FILE *fp;
	int fd;

	if ((fp = spool_open_msg(sp, sp->failfd, id, e)) == NULL)
		return -1;
	if (spool_read_envelope(fp, e) == -1 || fstat(fileno(fp), &st) == -1) {
		/* A damaged file moved here: listed by id and reason only. */
		spool_entry_clear(e);
		e->sender = strdup("?");
		e->created = 0;
	} else
		e->size = (size_t)(st.st_size - ftell(fp));
	fclose(fp);
	snprintf(name, sizeof(name), "%s.reason", id);
	if ((fd = spool_open_file(sp, sp->failfd, name, O_RDONLY)) != -1 &&
	    (fp = fdopen(fd, "r")) != NULL) {
		if (fgets(e->last_error, sizeof(e->last_error), fp) != NULL)
			e->last_error[strcspn(e->last_error, "\n")] = '\0';
		fclose(fp);
	} else if (fd != -1)
		close(fd);
	return e->sender != NULL ? 0 : -1;
}

int
spool_scan_failed(struct spool *sp, struct spool_entry **entries, size_t *np)
{
	struct spool_entry *v = NULL, *nv;
	struct dirent *de;
	char id[SPOOL_ID_MAX];
	size_t n = 0;
	DIR *d;

	*entries = NULL;
	*np = 0;
	if ((d = spool_opendir(sp->failfd)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (spool_has_suffix(de->d_name, ".msg", id, sizeof(id)) &&
		    (nv = reallocarray(v, n + 1, sizeof(*v))) != NULL) {
			v = nv;
			if (spool_load_failed(sp, id, &v[n]) == 0)
				n++;
		}
	closedir(d);
	if (n > 0)
		qsort(v, n, sizeof(*v), spool_cmp);
	*entries = v;
	*np = n;
	return 0;
}

int
spool_subject(struct spool *sp, const char *id, int failed, char *buf,
    size_t len)
{
	struct spool_entry e;
	char line[SPOOL_HEADER_LINE];
	int in = 0, lines = 0;
	FILE *fp;

	buf[0] = '\0';
	if ((fp = spool_open_msg(sp, failed ? sp->failfd : sp->queuefd, id,
	    &e)) == NULL)
		return -1;
	if (spool_read_envelope(fp, &e) == -1) {
		spool_entry_clear(&e);
		fclose(fp);
		return -1;
	}
	spool_entry_clear(&e);
	/* the header only, bounded; a folded Subject is unfolded */
	while (lines++ < SPOOL_HEADER_LINES && fgets(line, sizeof(line), fp)) {
		line[strcspn(line, "\r\n")] = '\0';
		if (in && (line[0] == ' ' || line[0] == '\t'))
			strlcat(buf, line, len);
		else if (in || line[0] == '\0')
			break;
		else if (strncasecmp(line, "Subject:", 8) == 0) {
			in = 1;
			strlcpy(buf, line + 8 + (line[8] == ' '), len);
		}
	}
	fclose(fp);
	return 0;
}

/* failed/, oldest first, each with its reason. */
static void
spool_print_failed(struct spool *sp, FILE *out)
{
	struct spool_entry *v;
	size_t n, i;
	time_t now = time(NULL);

	if (spool_scan_failed(sp, &v, &n) == -1)
		return;
	if (n > 0)
		fprintf(out, "-- %zu failed message%s in %s/failed (modbus2mail "
		    "retry ID|--all, delete ID):\n", n, n == 1 ? "" : "s",
		    sp->dir);
	for (i = 0; i < n; i++)
		spool_print_entry(out, &v[i], "failed", v[i].last_error, now);
	spool_entries_free(v, n);
}

int
spool_print_queue(struct spool *sp, FILE *out)
{
	struct spool_entry *e;
	char age[16], next[24];
	size_t n, i;
	time_t now = time(NULL);

	if (spool_scan(sp, &e, &n) == -1)
		return -1;
	if (n == 0)
		fprintf(out, "Mail queue is empty\n");
	else
		fprintf(out, "%-23s %9s %5s %8s %-9s %s\n", "ID", "SIZE",
		    "AGE", "ATTEMPTS", "NEXT-TRY", "SENDER/RECIPIENTS");
	for (i = 0; i < n; i++) {
		if (e[i].next_try <= now)
			strlcpy(next, "now", sizeof(next));
		else {
			strlcpy(next, "in ", sizeof(next));
			spool_fmt_age(next + 3, sizeof(next) - 3,
			    (long long)(e[i].next_try - now));
		}
		spool_print_entry(out, &e[i], next, e[i].last_error, now);
	}
	if (n > 0) {
		spool_fmt_age(age, sizeof(age), (long long)(now - e[0].created));
		fprintf(out, "-- %zu message%s in queue, oldest %s\n", n,
		    n == 1 ? "" : "s", age);
	}
	spool_print_failed(sp, out);
	spool_entries_free(e, n);
	return ferror(out) ? -1 : 0;
}
