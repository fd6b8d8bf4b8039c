/*
 * config.h - the YAML configuration (SPEC §3) as typed structs.
 *
 * config_load() reads the whole file, applies defaults, resolves recipient
 * groups and device references, and reports every problem it finds as
 * "FILE:LINE:COL: error: MESSAGE", sorted by line and column, before
 * returning NULL. Warnings (settings that load but are probably wrong) are
 * printed with the errors, or kept in config.warnings when there are none.
 */
#ifndef MODBUS2MAIL_CONFIG_H
#define MODBUS2MAIL_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "modbus2mail/netaddr.h"

#define CONFIG_DEFAULT_PATH "/etc/modbus2mail/modbus2mail.yaml"
#define CONFIG_DEFAULT_SPOOL "/var/lib/modbus2mail/spool"
/* A bare address buffer: an RFC 5321 path is at most 256 octets. */
#define CONFIG_ADDR_MAX 256

/* Templates used when a rule gives no subject/body. */
#define CONFIG_DEFAULT_SUBJECT "[{severity}] {name} {state} on {device}"
#define CONFIG_DEFAULT_BODY						\
	"{condition}\n"							\
	"Since {since}, severity {severity}.\n"

enum config_severity {
	SEVERITY_INFO,
	SEVERITY_WARNING,
	SEVERITY_CRITICAL,
};

enum config_source {
	SOURCE_COIL,             /* FC1 */
	SOURCE_DISCRETE_INPUT,   /* FC2 */
	SOURCE_HOLDING_REGISTER, /* FC3 */
	SOURCE_INPUT_REGISTER,   /* FC4 */
};

enum config_vtype {
	VTYPE_UINT16,
	VTYPE_INT16,
	VTYPE_UINT32,
	VTYPE_INT32,
	VTYPE_FLOAT32,
};

/* 32-bit layout: A is the most significant byte of the value. */
enum config_order {
	ORDER_ABCD,
	ORDER_CDAB,
	ORDER_BADC,
	ORDER_DCBA,
};

struct config_strlist {
	char **v; /* owned, each owned */
	size_t n;
};

struct config_retry {
	uint64_t initial_ms;
	uint64_t max_ms;
	uint64_t give_up_ms;
};

struct config_smtp {
	int present;                 /* an smtp: block was given */
	char *url;                   /* smtp:// or smtps:// */
	struct config_strlist fallback_urls;
	int tls_none;                /* tls: none */
	int verify_peer;             /* default 1 */
	char *ca_file;               /* NULL = system store */
	char *username;              /* NULL = no AUTH */
	char *password_file;         /* resolved: $CREDENTIALS_DIRECTORY wins */
	char *from;                  /* as written, "Name <a@b>" or "a@b" */
	char *from_addr;             /* bare a@b of from */
	char *source_address;        /* NULL = any */
	uint64_t timeout_ms;         /* default 30s */
	struct config_retry retry;   /* 30s, 30m, 3d */
	char *failure_notice;        /* bare address or NULL */
	uint64_t stuck_after_ms;     /* mail_ok_coil 0 past it; 10m */
};

struct config_listener {
	int enabled;                 /* a listener: block was given */
	struct config_strlist listen; /* "host:port", "[v6]:port" */
	struct netaddr_cidr *allow;
	size_t nallow;
	struct config_strlist recipient_domains; /* empty = any */
	size_t max_message_size;     /* default 10MiB */
	unsigned max_recipients;     /* default 50 */
	unsigned max_clients;        /* default 32 */
	uint64_t timeout_ms;         /* default 5m */
	char *tls_cert;              /* NULL = no STARTTLS */
	char *tls_key;
	char *users_file;            /* NULL = no AUTH */
	int rewrite_from;            /* default 1: a From: of another domain
				      * than smtp.from's is rewritten */
};

/* http: the web page, /metrics and /healthz (absent = no web server). */
struct config_http {
	int enabled;                 /* an http: block was given */
	struct config_strlist listen; /* "host:port", "[v6]:port" */
	struct netaddr_cidr *allow;  /* others get 403; default loopback */
	size_t nallow;
	char *users_file;            /* NULL = no actions (read only) */
	char *tls_cert;              /* NULL = plain HTTP */
	char *tls_key;
};

/* history: spool_dir/history.db (on unless `history: false`). */
struct config_history {
	int enabled;                 /* default 1 */
	uint64_t keep_ms;            /* default 90d */
};

/*
 * imap: the mailbox that receives replies to alarm mail; a reply from a
 * recipient acknowledges or shelves the alarm (absent = off).
 */
struct config_imap {
	int enabled;                 /* an imap: block was given */
	char *url;                   /* imaps://host/INBOX, or imap:// with
				      * STARTTLS required */
	char *username;
	char *password_file;         /* resolved: $CREDENTIALS_DIRECTORY
				      * /imap-password wins */
	int verify_peer;             /* default 1 */
	char *ca_file;               /* NULL = system store */
	uint64_t poll_interval_ms;   /* default 30s */
	uint64_t timeout_ms;         /* default 30s */
	char *done_folder;           /* default "modbus2mail-done" */
	int require_auth_sender;     /* require_authenticated_sender,
				      * default 1 */
	char *reply_to;              /* Reply-To of alarm mail; NULL =
				      * smtp.from */
};

struct config_group {
	char *name;
	struct config_strlist addrs;
};

/* RS-485 direction control: none, or RTS high/low while sending. */
enum config_rts {
	RTS_NONE,
	RTS_UP,
	RTS_DOWN,
};

/* serial: a Modbus RTU line (instead of host/port). */
struct config_serial {
	char *port;                  /* "/dev/ttyUSB0"; NULL = Modbus/TCP */
	unsigned baud;               /* default 19200 */
	int parity;                  /* 'N', 'E' (default) or 'O' */
	unsigned data_bits;          /* 7 or 8 (default) */
	unsigned stop_bits;          /* 1 (default) or 2 */
	enum config_rts rts;         /* default RTS_NONE */
};

struct config_device {
	char *name;
	char *host;                  /* NULL on a serial device */
	unsigned port;               /* default 502 */
	struct config_serial serial;
	int separate;                /* connections: separate (own TCP
				      * connection); default shared */
	unsigned unit_id;            /* default 1 */
	uint64_t poll_interval_ms;   /* default 1s */
	uint64_t timeout_ms;         /* default 1s */
	int link_alarm;              /* default 1 */
	uint64_t link_alarm_after_ms; /* default 10s */
	enum config_severity link_severity; /* default critical */
	struct config_strlist link_to; /* resolved addresses; default defaults.to */
	uint64_t group_wait_ms;      /* default 0 */
	int heartbeat;               /* heartbeat: given */
	enum config_source heartbeat_source; /* holding or input register */
	uint16_t heartbeat_address;
	uint64_t heartbeat_stale_ms; /* default 10s */
	int mail_ok_coil;            /* -1 = none */
};

struct config_rule {
	char *name;
	size_t device;               /* index into config.devices */
	enum config_source source;
	uint16_t address;
	int bit;                     /* -1, or 0..15 of a 16-bit register */
	int active_when;             /* bit sources: 1 (default) or 0 */
	enum config_severity severity;
	uint64_t on_delay_ms;
	uint64_t off_delay_ms;
	int latch;
	int ack;                     /* an ack bit is configured */
	enum config_source ack_source; /* coil or discrete input */
	uint16_t ack_address;
	struct config_strlist to;    /* resolved addresses (default_to's
				      * own list when the rule has none) */
	char *subject;               /* template, never NULL; read only */
	char *body;                  /* template, never NULL; read only */
	int notify_clear;
	uint64_t repeat_ms;          /* 0 = no reminders */

	/* registers */
	enum config_vtype type;
	enum config_order order;
	double scale;                /* default 1 */
	double offset;
	char *unit;                  /* "" when absent */
	int has_above, has_below, has_equals, has_not_equals;
	double above, below, equals, not_equals;
	double deadband;

	int escalate;
	uint64_t escalate_after_ms;
	struct config_strlist escalate_to;

	int chatter;
	unsigned chatter_raises;
	uint64_t chatter_within_ms;
	uint64_t chatter_shelve_ms;
};

struct config_sign_of_life {
	int enabled;
	unsigned at_minute;          /* minutes after local midnight */
	struct config_strlist to;
};

struct config {
	char *path;
	char *hostname;              /* default: gethostname() */
	char *spool_dir;
	uint64_t stall_grace_ms;     /* a worker thread's slack before it
				      * counts as stalled (watchdog) */
	struct config_smtp smtp;
	struct config_listener listener;
	struct config_http http;
	struct config_history history;
	struct config_imap imap;
	struct config_group *groups;
	size_t ngroups;
	struct config_device *devices;
	size_t ndevices;
	struct config_rule *rules;
	size_t nrules;
	struct config_sign_of_life sign_of_life;
	struct config_strlist default_to; /* defaults.to resolved, may be empty */
	int per_state_subjects;      /* defaults.thread_subjects: per_state */
	struct config_strlist warnings; /* "FILE:L:C: warning: ..." in file
					 * order (check prints, run logs them) */
};

/*
 * Loads and validates path. On any problem every error (and warning) is
 * printed to errout as "FILE:LINE:COL: error: MESSAGE", in file order, and
 * NULL is returned.
 */
struct config *config_load(const char *path, FILE *errout);
/* Same for an in-memory document; name is used in messages (fuzzing, tests). */
struct config *config_load_buffer(const char *name, const char *buf, size_t len,
    FILE *errout);
void config_free(struct config *);

/* "250ms", "10s", "5m", "2h", "3d" (a bare 0 is allowed). 0 ok, -1 bad. */
int config_parse_duration(const char *s, uint64_t *ms);
/* "512", "64KiB", "10MiB", "1GiB". 0 ok, -1 bad. */
int config_parse_size(const char *s, size_t *bytes);
/* "Name <a@b>" or "a@b": copies the bare address. 0 ok, -1 bad. */
int config_parse_address(const char *s, char *bare, size_t len);
/*
 * Appends addr to the vector v unless it has the same bare address already
 * ("Ops <ops@x>" and "ops@x" are one recipient, compared without case);
 * with bare set, the bare address is what is appended. 0 ok, -1 when addr
 * is no address (EINVAL) or memory ran out (ENOMEM).
 */
int config_address_add(char ***v, size_t *n, const char *addr, int bare);

const char *config_severity_name(enum config_severity);
const char *config_source_name(enum config_source);
/* Index of the rule or device with that name, or -1. */
long config_find_rule(const struct config *, const char *name);
long config_find_device(const struct config *, const char *name);
/*
 * 1 when devices a and b are served over one bus: the same serial port,
 * or the same TCP host:port with neither saying connections: separate.
 */
int config_same_bus(const struct config_device *a,
    const struct config_device *b);
/* A bus by its port: "/dev/ttyUSB0", "10.0.0.5:502", "[fd00::5]:502". */
void config_bus_name(const struct config_device *, char *buf, size_t len);
/* "rtu /dev/ttyUSB0 19200 8E1 unit 3", "tcp 10.0.0.5:502 unit 12 shared". */
void config_transport(const struct config_device *, char *buf, size_t len);

#endif
