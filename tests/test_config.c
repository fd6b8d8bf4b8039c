/*
 * Unit tests for config.c: the example files load with the right values
 * and defaults; a table of broken configurations each gives exactly the
 * expected "FILE:LINE:COL: error: MESSAGE" lines; value parsers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "modbus2mail/config.h"

static const char *srcdir;

struct broken {
	const char *name;
	const char *yaml;
	const char *errors;
};

/* Lines 1-3: a valid smtp block. */
#define SMTP "smtp:\n  url: smtp://x:587\n  from: a@b.c\n"
/* Lines 1-10: a valid file with device 'plc' and group 'ops'; cases go on
 * from line 11. */
#define BASE                                                                   \
	"smtp:\n"                                                              \
	"  url: smtp://mail.example.com:587\n"                                 \
	"  from: \"GW <gw@example.com>\"\n"                                    \
	"recipients:\n"                                                        \
	"  ops: [ops@example.com]\n"                                           \
	"devices:\n"                                                           \
	"  - name: plc\n"                                                      \
	"    host: 127.0.0.1\n"                                                \
	"defaults:\n"                                                          \
	"  to: [ops]\n"

static const struct broken broken[] = {
	{ "unknown top key",
	    "smtpp:\n"
	    "  url: x\n",
	    "t.yaml:1:1: error: unknown key 'smtpp' (did you mean 'smtp'?)\n"
	    "t.yaml:1:1: error: missing 'smtp' section (the upstream relay)\n" },
	{ "syntax error",
	    "smtp: [\n",
	    "t.yaml:2:1: error: did not find expected node content while parsing a flow node\n" },
	{ "tab indentation",
	    "smtp:\n"
	    "\turl: x\n",
	    "t.yaml:2:1: error: tabs are not allowed for indentation; use spaces (found character that cannot start any token)\n" },
	{ "tab after spaces",
	    "smtp:\n"
	    "  url: x\n"
	    "  \tfrom: y\n",
	    "t.yaml:3:3: error: tabs are not allowed for indentation; use spaces (found a tab character that violates indentation)\n" },
	{ "key indented deeper than its sibling",
	    "smtp:\n"
	    "  url: smtp://x:587\n"
	    "   from: a@b.c\n",
	    "t.yaml:3:8: error: check the indentation of this line and the line above, and the space after each ':' (mapping values are not allowed in this context)\n" },
	{ "key indented less than its sibling",
	    "smtp:\n"
	    "  url: smtp://x:587\n"
	    " from: a@b.c\n",
	    "t.yaml:3:2: error: check the indentation of this line and the line above, and the space after each ':' (did not find expected key)\n" },
	{ "list item key indented wrong",
	    SMTP
	    "devices:\n"
	    "  - name: x\n"
	    "   host: h\n",
	    "t.yaml:6:4: error: check the indentation of this line and the line above, and the space after each ':' (did not find expected '-' indicator)\n" },
	{ "no space after colon",
	    "smtp:\n"
	    "  url:smtp://x:587\n"
	    "  from: a@b.c\n",
	    "t.yaml:3:7: error: check the indentation of this line and the line above, and the space after each ':' (mapping values are not allowed in this context)\n" },
	{ "no space after colon at the end of a block",
	    SMTP
	    "hostname:gw\n"
	    "spool_dir: /x\n",
	    "t.yaml:5:1: error: check the indentation of this line and the line above, and the space after each ':' (could not find expected ':')\n" },
	{ "unclosed double quote",
	    "smtp:\n"
	    "  url: \"smtp://x:587\n"
	    "  from: a@b.c\n"
	    "hostname: gw\n",
	    "t.yaml:2:8: error: unclosed quote: the quote opened on line 2 is never closed (found unexpected end of stream)\n" },
	{ "unclosed single quote",
	    SMTP
	    "hostname: 'gw\n"
	    "spool_dir: /x\n",
	    "t.yaml:4:11: error: unclosed quote: the quote opened on line 4 is never closed (found unexpected end of stream)\n" },
	{ "not a mapping",
	    "- a\n"
	    "- b\n",
	    "t.yaml:1:1: error: expected a mapping\n" },
	{ "missing smtp",
	    "hostname: gw\n",
	    "t.yaml:1:1: error: missing 'smtp' section (the upstream relay)\n" },
	{ "bad url scheme",
	    "smtp:\n"
	    "  url: http://x\n"
	    "  from: a@b.c\n",
	    "t.yaml:2:8: error: bad url 'http://x' (smtp://host:587 for STARTTLS or smtps://host:465)\n" },
	{ "missing from",
	    "smtp:\n"
	    "  url: smtp://x:587\n",
	    "t.yaml:2:3: error: smtp: missing 'from'\n" },
	{ "bad from",
	    "smtp:\n"
	    "  url: smtp://x:587\n"
	    "  from: nobody\n",
	    "t.yaml:3:9: error: bad address 'nobody'\n" },
	{ "bad tls",
	    SMTP
	    "  tls: maybe\n",
	    "t.yaml:4:8: error: bad tls 'maybe' (required or none)\n" },
	{ "bad verify_peer",
	    SMTP
	    "  verify_peer: perhaps\n",
	    "t.yaml:4:16: error: expected true or false, not 'perhaps'\n" },
	{ "bad timeout",
	    SMTP
	    "  timeout: 30x\n",
	    "t.yaml:4:12: error: bad duration '30x' (use e.g. 250ms, 10s, 5m, 2h, 3d)\n" },
	{ "bad retry key",
	    SMTP
	    "  retry: {initial: 30s, maxx: 5m}\n",
	    "t.yaml:4:25: error: unknown key 'maxx' (did you mean 'max'?)\n" },
	{ "username without password",
	    SMTP
	    "  username: u\n",
	    "t.yaml:2:3: error: smtp: 'username' needs 'password_file'\n" },
	{ "password file missing",
	    SMTP
	    "  username: u\n"
	    "  password_file: /nonexistent/secret\n",
	    "t.yaml:5:18: error: cannot read password file /nonexistent/secret: No such file or directory\n" },
	{ "bad size",
	    BASE
	    "listener:\n"
	    "  listen: [\"127.0.0.1:25\"]\n"
	    "  max_message_size: 10MB\n",
	    "t.yaml:13:21: error: bad size '10MB' (use e.g. 512, 64KiB, 10MiB)\n" },
	{ "bad cidr",
	    BASE
	    "listener:\n"
	    "  listen: [\"127.0.0.1:25\"]\n"
	    "  allow: [192.168.1.0/33]\n",
	    "t.yaml:13:11: error: bad CIDR '192.168.1.0/33' (use e.g. 192.168.1.0/24 or ::1/128)\n" },
	{ "open relay",
	    BASE
	    "listener:\n"
	    "  listen: [\"127.0.0.1:25\"]\n"
	    "  users_file: /etc/modbus2mail/users\n"
	    "  tls: {cert: /c.pem, key: /k.pem}\n"
	    "  allow:\n"
	    "    - 192.168.1.0/24\n"
	    "    - 0.0.0.0/0\n"
	    "    - \"::/0\"\n"
	    "    - 100.64.0.0/9\n"
	    "    - \"::ffff:0:0/96\"\n",
	    "t.yaml:17:7: error: allow '0.0.0.0/0' reaches public addresses: without 'recipient_domains' the listener would be an open relay (name the domains mail may go to, or allow only loopback, private, RFC 6598, link-local or ULA ranges)\n"
	    "t.yaml:18:7: error: allow '::/0' reaches public addresses: without 'recipient_domains' the listener would be an open relay (name the domains mail may go to, or allow only loopback, private, RFC 6598, link-local or ULA ranges)\n"
	    "t.yaml:19:7: error: allow '100.64.0.0/9' reaches public addresses: without 'recipient_domains' the listener would be an open relay (name the domains mail may go to, or allow only loopback, private, RFC 6598, link-local or ULA ranges)\n"
	    "t.yaml:20:7: error: allow '::ffff:0:0/96' reaches public addresses: without 'recipient_domains' the listener would be an open relay (name the domains mail may go to, or allow only loopback, private, RFC 6598, link-local or ULA ranges)\n" },
	{ "open relay, scalar allow",
	    BASE
	    "listener:\n"
	    "  listen: [\"127.0.0.1:25\"]\n"
	    "  allow: 8.8.8.0/24\n",
	    "t.yaml:13:10: error: allow '8.8.8.0/24' reaches public addresses: without 'recipient_domains' the listener would be an open relay (name the domains mail may go to, or allow only loopback, private, RFC 6598, link-local or ULA ranges)\n" },
	{ "bad listen",
	    BASE
	    "listener:\n"
	    "  listen: [\"127.0.0.1:0\"]\n",
	    "t.yaml:12:11: error: bad listen address '127.0.0.1:0' (use host:port)\n" },
	{ "listener tls half",
	    BASE
	    "listener:\n"
	    "  listen: [\"127.0.0.1:25\"]\n"
	    "  tls: {cert: /c.pem}\n",
	    "t.yaml:13:8: error: listener tls needs both 'cert' and 'key'\n" },
	{ "duplicate device",
	    SMTP
	    "defaults:\n"
	    "  to: [o@b.c]\n"
	    "devices:\n"
	    "  - name: p\n"
	    "    host: h\n"
	    "  - name: p\n"
	    "    host: h2\n",
	    "t.yaml:9:5: error: duplicate device name 'p'\n" },
	{ "device port range",
	    SMTP
	    "devices:\n"
	    "  - name: p\n"
	    "    host: h\n"
	    "    port: 70000\n"
	    "    link_alarm: false\n",
	    "t.yaml:7:11: error: expected a whole number from 0 to 65535, not '70000'\n" },
	{ "device bad name",
	    SMTP
	    "devices:\n"
	    "  - name: \"my plc\"\n"
	    "    host: h\n"
	    "    link_alarm: false\n",
	    "t.yaml:5:11: error: bad device name 'my plc' (use A-Z a-z 0-9 _ . -)\n" },
	{ "devices not a list",
	    SMTP
	    "devices:\n"
	    "  name: p\n",
	    "t.yaml:5:3: error: expected a list of devices\n" },
	{ "unknown device key near miss",
	    SMTP
	    "devices:\n"
	    "  - name: p\n"
	    "    host: h\n"
	    "    unitid: 3\n"
	    "    link_alarm: false\n",
	    "t.yaml:7:5: error: unknown key 'unitid' (did you mean 'unit_id'?)\n" },
	{ "host and serial",
	    SMTP
	    "devices:\n"
	    "  - name: p\n"
	    "    host: h\n"
	    "    port: 503\n"
	    "    serial: {port: /dev/ttyS0}\n"
	    "    connections: separate\n"
	    "    link_alarm: false\n",
	    "t.yaml:6:11: error: device p: both host and serial (Modbus/TCP or Modbus RTU, not both)\n"
	    "t.yaml:7:11: error: device p: port is for Modbus/TCP (a serial device's port goes in serial.port)\n"
	    "t.yaml:9:18: error: device p: connections is for Modbus/TCP devices (a serial port is always one bus)\n" },
	{ "neither host nor serial",
	    SMTP
	    "devices:\n"
	    "  - name: p\n"
	    "    link_alarm: false\n",
	    "t.yaml:5:5: error: device p: missing 'host' (Modbus/TCP) or 'serial' (Modbus RTU)\n" },
	{ "serial values",
	    SMTP
	    "devices:\n"
	    "  - name: p\n"
	    "    serial: {port: /dev/ttyS0, baud: 19201, parity: mark, data_bits: 6, stop_bits: 3, rts: high}\n"
	    "    unit_id: 0\n"
	    "    link_alarm: false\n"
	    "  - name: q\n"
	    "    serial: {baud: 9600, data_bits: 7, stop_bits: 2}\n"
	    "    unit_id: 248\n"
	    "    connections: both\n"
	    "    link_alarm: false\n",
	    "t.yaml:6:38: error: bad baud '19201' (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200 or 230400)\n"
	    "t.yaml:6:53: error: bad parity 'mark' (none, even or odd)\n"
	    "t.yaml:6:70: error: bad data_bits '6' (7 or 8)\n"
	    "t.yaml:6:84: error: bad stop_bits '3' (1 or 2)\n"
	    "t.yaml:6:92: error: bad rts 'high' (up or down)\n"
	    "t.yaml:7:14: error: device p: unit_id on a serial line must be 1 to 247 (0 is broadcast)\n"
	    "t.yaml:10:13: error: serial: missing 'port' (e.g. /dev/ttyUSB0)\n"
	    "t.yaml:11:14: error: device q: unit_id on a serial line must be 1 to 247 (0 is broadcast)\n"
	    "t.yaml:12:18: error: bad connections 'both' (shared or separate)\n"
	    "t.yaml:12:18: error: device q: connections is for Modbus/TCP devices (a serial port is always one bus)\n" },
	{ "serial port not an absolute path",
	    SMTP
	    "devices:\n"
	    "  - {name: p, serial: {port: ttyUSB0}, link_alarm: false}\n"
	    "  - {name: q, serial: {port: ''}, unit_id: 2, link_alarm: false}\n",
	    "t.yaml:5:30: error: serial: port 'ttyUSB0' is not an absolute path (e.g. /dev/ttyUSB0)\n"
	    "t.yaml:6:30: error: serial: port '' is not an absolute path (e.g. /dev/ttyUSB0)\n" },
	{ "one serial port, two line settings",
	    SMTP
	    "devices:\n"
	    "  - name: p\n"
	    "    serial: {port: /dev/ttyS0}\n"
	    "    link_alarm: false\n"
	    "  - name: q\n"
	    "    serial: {port: /dev/ttyS1, parity: none}\n"
	    "    link_alarm: false\n"
	    "  - name: r\n"
	    "    serial: {port: /dev/ttyS0, baud: 19200, parity: even, data_bits: 8, stop_bits: 1}\n"
	    "    unit_id: 2\n"
	    "    link_alarm: false\n"
	    "  - name: s\n"
	    "    serial: {port: /dev/ttyS0, rts: up}\n"
	    "    unit_id: 3\n"
	    "    link_alarm: false\n"
	    "  - name: t\n"
	    "    serial: {port: /dev/ttyS1, parity: none, stop_bits: 2}\n"
	    "    unit_id: 2\n"
	    "    link_alarm: false\n",
	    "t.yaml:16:13: error: device s: line settings differ from device p on /dev/ttyS0 (one port, one baud, parity, data_bits, stop_bits and rts)\n"
	    "t.yaml:20:13: error: device t: line settings differ from device q on /dev/ttyS1 (one port, one baud, parity, data_bits, stop_bits and rts)\n" },
	{ "rule unknown device",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc2\n"
	    "    coil: 1\n",
	    "t.yaml:13:13: error: rule r: unknown device 'plc2'\n" },
	{ "rule no source",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n",
	    "t.yaml:12:5: error: rule r: exactly one of coil, discrete_input, holding_register, input_register\n" },
	{ "rule two sources",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    coil: 1\n"
	    "    discrete_input: 2\n",
	    "t.yaml:12:5: error: rule r: exactly one of coil, discrete_input, holding_register, input_register\n" },
	{ "threshold on bit",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    coil: 1\n"
	    "    above: 3\n",
	    "t.yaml:15:12: error: rule r: thresholds apply to registers, not to a coil\n" },
	{ "bit out of range",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    holding_register: 1\n"
	    "    bit: 16\n",
	    "t.yaml:15:10: error: bit must be 0..15, not '16'\n" },
	{ "register out of range",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    holding_register: 65536\n"
	    "    above: 1\n",
	    "t.yaml:14:23: error: expected a whole number from 0 to 65535, not '65536'\n" },
	{ "float32 with bit",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    holding_register: 1\n"
	    "    type: float32\n"
	    "    bit: 3\n",
	    "t.yaml:16:10: error: rule r: bit needs a 16-bit type (uint16 or int16)\n" },
	{ "order on 16-bit",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    holding_register: 1\n"
	    "    order: CDAB\n"
	    "    above: 1\n",
	    "t.yaml:15:12: error: rule r: order applies to 32-bit types only\n" },
	{ "bad order",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    holding_register: 1\n"
	    "    type: int32\n"
	    "    order: ACBD\n"
	    "    above: 1\n",
	    "t.yaml:16:12: error: bad order 'ACBD' (ABCD, CDAB, BADC or DCBA)\n" },
	{ "bad type",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    holding_register: 1\n"
	    "    type: float64\n"
	    "    above: 1\n",
	    "t.yaml:15:11: error: bad type 'float64' (uint16, int16, uint32, int32 or float32)\n" },
	{ "bad thread_subjects",
	    BASE
	    "  thread_subjects: sometimes\n",
	    "t.yaml:11:20: error: bad thread_subjects 'sometimes' (reply or per_state)\n" },
	{ "unknown template field",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    coil: 1\n"
	    "    subject: \"{nme} is {state}\"\n",
	    "t.yaml:15:14: error: unknown template field '{nme}' (known: name device severity state value raw unit threshold since duration hostname time reason condition)\n" },
	{ "unknown group",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    coil: 1\n"
	    "    to: [opps]\n",
	    "t.yaml:15:10: error: unknown recipient group 'opps'\n" },
	{ "bad address",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    coil: 1\n"
	    "    to: [\"a@b@c\"]\n",
	    "t.yaml:15:10: error: bad address 'a@b@c'\n" },
	{ "duplicate rule",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    coil: 1\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    coil: 2\n",
	    "t.yaml:15:5: error: duplicate rule name 'r'\n" },
	{ "bad rule name",
	    BASE
	    "rules:\n"
	    "  - name: \"pump 1\"\n"
	    "    device: plc\n"
	    "    coil: 1\n",
	    "t.yaml:12:11: error: bad rule name 'pump 1' (use A-Z a-z 0-9 _ . -)\n" },
	{ "bad severity",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    coil: 1\n"
	    "    severity: high\n",
	    "t.yaml:15:15: error: bad severity 'high' (info, warning or critical)\n" },
	{ "negative deadband",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    holding_register: 1\n"
	    "    above: 5\n"
	    "    deadband: -1\n",
	    "t.yaml:16:15: error: deadband must not be negative\n" },
	{ "active_when 2",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    coil: 1\n"
	    "    active_when: 2\n",
	    "t.yaml:15:18: error: expected a whole number from 0 to 1, not '2'\n" },
	{ "register without threshold",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    input_register: 4\n",
	    "t.yaml:12:5: error: rule r: a register rule needs above, below, equals, not_equals or bit\n" },
	{ "bad duration on_delay",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    coil: 1\n"
	    "    on_delay: soon\n",
	    "t.yaml:15:15: error: bad duration 'soon' (use e.g. 250ms, 10s, 5m, 2h, 3d)\n" },
	{ "rule key near miss",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    coil: 1\n"
	    "    offdelay: 5s\n",
	    "t.yaml:15:5: error: unknown key 'offdelay' (did you mean 'off_delay'?)\n" },
	{ "chatter incomplete",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    coil: 1\n"
	    "    chatter: {raises: 3}\n",
	    "t.yaml:15:14: error: chatter needs raises >= 2, within and shelve\n" },
	{ "escalate without to",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    coil: 1\n"
	    "    escalate: {after: 15m}\n",
	    "t.yaml:15:15: error: escalate needs 'to'\n" },
	{ "sign_of_life bad time",
	    BASE
	    "sign_of_life: {at: \"25:00\", to: [ops]}\n",
	    "t.yaml:11:20: error: bad time '25:00' (use HH:MM)\n" },
	{ "heartbeat without register",
	    SMTP
	    "defaults:\n"
	    "  to: [ops@b.c]\n"
	    "devices:\n"
	    "  - name: p\n"
	    "    host: h\n"
	    "    heartbeat: {stale_after: 10s}\n",
	    "t.yaml:9:16: error: heartbeat needs exactly one of holding_register, input_register\n" },
	{ "heartbeat two registers",
	    SMTP
	    "defaults:\n"
	    "  to: [ops@b.c]\n"
	    "devices:\n"
	    "  - name: p\n"
	    "    host: h\n"
	    "    heartbeat: {holding_register: 1, input_register: 2}\n",
	    "t.yaml:9:16: error: heartbeat needs exactly one of holding_register, input_register\n" },
	{ "link alarm without recipients",
	    SMTP
	    "devices:\n"
	    "  - name: p\n"
	    "    host: h\n",
	    "t.yaml:5:5: error: device p: no recipients for its link and heartbeat alarms (link_alarm.to, defaults.to or a rule with 'to')\n" },
	{ "link alarm: another device's rules do not count",
	    SMTP
	    "devices:\n"
	    "  - name: p\n"
	    "    host: h\n"
	    "  - name: q\n"
	    "    host: h2\n"
	    "rules:\n"
	    "  - name: r\n"
	    "    device: q\n"
	    "    coil: 1\n"
	    "    to: [x@y.z]\n",
	    "t.yaml:5:5: error: device p: no recipients for its link and heartbeat alarms (link_alarm.to, defaults.to or a rule with 'to')\n" },
	{ "ack two bits",
	    BASE
	    "rules:\n"
	    "  - name: r\n"
	    "    device: plc\n"
	    "    coil: 1\n"
	    "    ack: {coil: 2, discrete_input: 3}\n",
	    "t.yaml:15:10: error: ack needs exactly one of coil, discrete_input\n" },
	{ "sign_of_life without recipients",
	    SMTP
	    "sign_of_life: {at: \"07:00\"}\n",
	    "t.yaml:4:15: error: sign_of_life: no recipients ('to' here or in defaults)\n" },
	{ "wrong type list for number",
	    SMTP
	    "  retry: {initial: [1s]}\n",
	    "t.yaml:4:20: error: expected a duration\n" },
	{ "duplicate key",
	    SMTP
	    "  url: smtp://y:587\n",
	    "t.yaml:4:3: error: duplicate key 'url'\n" },
	{ "duplicate top key",
	    SMTP
	    "smtp: {}\n",
	    "t.yaml:4:1: error: duplicate key 'smtp'\n"
	    "t.yaml:4:7: error: smtp: missing 'url'\n"
	    "t.yaml:4:7: error: smtp: missing 'from'\n" },
	{ "empty recipient list",
	    SMTP
	    "defaults:\n"
	    "  to: []\n",
	    "t.yaml:5:7: error: empty recipient list\n" },
	{ "scalar where mapping",
	    "smtp: smtp://x\n",
	    "t.yaml:1:7: error: expected a mapping\n" },
	{ "http without listen, bad allow, half tls",
	    SMTP
	    "http:\n"
	    "  allow: [10.0.0.0/33]\n"
	    "  tls: {cert: /c.pem}\n",
	    "t.yaml:5:3: error: http: missing 'listen'\n"
	    "t.yaml:5:11: error: bad CIDR '10.0.0.0/33' (use e.g. 192.168.1.0/24 or ::1/128)\n"
	    "t.yaml:6:8: error: http tls needs both 'cert' and 'key'\n" },
	{ "http listen without port, unknown key",
	    SMTP
	    "http: {listen: [127.0.0.1], user_file: /u}\n",
	    "t.yaml:4:16: error: http: listen '127.0.0.1' needs a port (e.g. 127.0.0.1:8025)\n"
	    "t.yaml:4:29: error: unknown key 'user_file' (did you mean 'users_file'?)\n" },
	{ "history keep too short",
	    SMTP
	    "history: {keep: 10m}\n",
	    "t.yaml:4:10: error: history: keep must be at least 1h\n" },
	{ "history neither bool nor mapping",
	    SMTP
	    "history: maybe\n",
	    "t.yaml:4:10: error: expected true or false, not 'maybe'\n" },
	{ "imap without url, username, password",
	    SMTP
	    "imap: {poll_interval: 10s}\n",
	    "t.yaml:4:7: error: imap: missing 'url'\n"
	    "t.yaml:4:7: error: imap: missing 'username'\n"
	    "t.yaml:4:7: error: imap: missing 'password_file'\n" },
	{ "imap bad url, folder, interval, reply_to",
	    SMTP
	    "imap:\n"
	    "  url: pop3://x/INBOX\n"
	    "  username: u\n"
	    "  password_file: /nonexistent/imap\n"
	    "  poll_interval: 500ms\n"
	    "  done_folder: 'a\"b'\n"
	    "  reply_to: not an address\n",
	    "t.yaml:5:8: error: bad url 'pop3://x/INBOX' (imaps://host/INBOX, "
	    "or imap://host/INBOX for STARTTLS)\n"
	    "t.yaml:7:18: error: cannot read password file /nonexistent/imap: "
	    "No such file or directory\n"
	    "t.yaml:8:18: error: imap: poll_interval must be at least 1s\n"
	    "t.yaml:9:16: error: imap: bad done_folder 'a\"b' (no quotes, "
	    "backslashes or control characters)\n"
	    "t.yaml:10:13: error: bad address 'not an address'\n" },
};

/* Loads yaml as "t.yaml"; returns the config and the error text. */
static struct config *
load(const char *yaml, char **errs)
{
	struct config *cfg;
	size_t len;
	FILE *f;

	*errs = NULL;
	f = open_memstream(errs, &len);
	assert_non_null(f);
	cfg = config_load_buffer("t.yaml", yaml, strlen(yaml), f);
	fclose(f);
	return cfg;
}

static void
test_broken_table(void **state)
{
	struct config *cfg;
	char *errs;
	size_t i, nfail = 0;

	(void)state;
	assert_true(sizeof(broken) / sizeof(broken[0]) >= 30);
	/* every mismatch is printed, then the test fails once */
	for (i = 0; i < sizeof(broken) / sizeof(broken[0]); i++) {
		cfg = load(broken[i].yaml, &errs);
		if (cfg != NULL || strcmp(errs, broken[i].errors) != 0) {
			print_error("case '%s':\nexpected:\n%sgot:\n%s\n",
			    broken[i].name, broken[i].errors, errs);
			nfail++;
		}
		config_free(cfg);
		free(errs);
	}
	assert_int_equal(nfail, 0);
}

static void
test_all_errors_at_once(void **state)
{
	static const char yaml[] =
	    SMTP
	    "  timout: 30s\n"
	    "devices:\n"
	    "  - name: p\n"
	    "    host: h\n"
	    "    port: 99999\n"
	    "rules:\n"
	    "  - name: r\n"
	    "    device: q\n"
	    "    coil: 1\n"
	    "    to: [x@y.z]\n"
	    "    severity: loud\n"
	    "defaults: {to: [x@y.z]}\n";
	char *errs;

	(void)state;
	assert_null(load(yaml, &errs));
	assert_string_equal(errs,
	    "t.yaml:4:3: error: unknown key 'timout' (did you mean 'timeout'?)\n"
	    "t.yaml:8:11: error: expected a whole number from 0 to 65535, not '99999'\n"
	    "t.yaml:11:13: error: rule r: unknown device 'q'\n"
	    "t.yaml:14:15: error: bad severity 'loud' (info, warning or critical)\n");
	free(errs);
}

/* Errors in file order, also within one line, however they were found. */
static void
test_errors_sorted(void **state)
{
	static const char yaml[] =
	    "rules:\n"
	    "  - {name: r, device: nowhere, coil: 1, severity: loud}\n"
	    "devices:\n"
	    "  - name: p\n"
	    "    port: 99999\n";
	char *errs;

	(void)state;
	assert_null(load(yaml, &errs));
	assert_string_equal(errs,
	    "t.yaml:1:1: error: missing 'smtp' section (the upstream relay)\n"
	    "t.yaml:2:5: error: rule r: no recipients ('to' here or in defaults)\n"
	    "t.yaml:2:23: error: rule r: unknown device 'nowhere'\n"
	    "t.yaml:2:51: error: bad severity 'loud' (info, warning or critical)\n"
	    "t.yaml:4:5: error: device p: missing 'host' (Modbus/TCP) or 'serial' (Modbus RTU)\n"
	    "t.yaml:4:5: error: device p: no recipients for its link and heartbeat alarms (link_alarm.to, defaults.to or a rule with 'to')\n"
	    "t.yaml:5:11: error: expected a whole number from 0 to 65535, not '99999'\n");
	free(errs);
}

/* Loads yaml, which must be valid with exactly these n warnings. */
static struct config *
load_warned(const char *yaml, const char *const *warnings, size_t n)
{
	struct config *cfg;
	char *errs;
	size_t i;

	cfg = load(yaml, &errs);
	assert_non_null(cfg);
	assert_string_equal(errs, "");
	free(errs);
	assert_int_equal(cfg->warnings.n, n);
	for (i = 0; i < n; i++)
		assert_string_equal(cfg->warnings.v[i], warnings[i]);
	return cfg;
}

/*
 * PLC-style 1-based references load with a warning naming the 0-based
 * address; the edges of each range and the other tables do not warn.
 */
static void
test_address_warnings(void **state)
{
	static const char yaml[] =
	    SMTP
	    "defaults: {to: [ops@example.com]}\n"
	    "devices:\n"
	    "  - name: plc\n"
	    "    host: 127.0.0.1\n"
	    "    heartbeat: {holding_register: 40001}\n"
	    "rules:\n"
	    "  - {name: a, device: plc, holding_register: 40011, above: 1}\n"
	    "  - {name: b, device: plc, input_register: 39999, above: 1}\n"
	    "  - {name: c, device: plc, discrete_input: 10001}\n"
	    "  - {name: d, device: plc, coil: 1, ack: {discrete_input: 19999}}\n"
	    "  - {name: e, device: plc, holding_register: 40000, above: 1}\n"
	    "  - {name: f, device: plc, holding_register: 50000, above: 1}\n"
	    "  - {name: g, device: plc, input_register: 40001, above: 1}\n"
	    "  - {name: h, device: plc, coil: 40001}\n"
	    "  - {name: i, device: plc, discrete_input: 10000}\n";
	static const char *const warnings[] = {
	    "t.yaml:8:35: warning: holding_register 40001 looks like a 1-based 4xxxx reference; the 0-based address is probably 0",
	    "t.yaml:10:46: warning: holding_register 40011 looks like a 1-based 4xxxx reference; the 0-based address is probably 10",
	    "t.yaml:11:44: warning: input_register 39999 looks like a 1-based 3xxxx reference; the 0-based address is probably 9998",
	    "t.yaml:12:44: warning: discrete_input 10001 looks like a 1-based 1xxxx reference; the 0-based address is probably 0",
	    "t.yaml:13:59: warning: discrete_input 19999 looks like a 1-based 1xxxx reference; the 0-based address is probably 9998",
	};
	struct config *cfg;

	(void)state;
	cfg = load_warned(yaml, warnings, 5);
	/* the value is taken as written */
	assert_int_equal(cfg->rules[0].address, 40011);
	config_free(cfg);
}

/*
 * A unit id twice on one bus warns at the second device's unit_id (at the
 * device when it is the default), naming the first; another port, another
 * host:port or connections: separate is another bus.
 */
static void
test_same_unit_on_one_bus(void **state)
{
	static const char yaml[] =
	    SMTP
	    "defaults: {to: [ops@example.com]}\n"
	    "devices:\n"
	    "  - {name: vfd3, serial: {port: /dev/ttyUSB0}, unit_id: 3}\n"
	    "  - {name: vfd3b, serial: {port: /dev/ttyUSB0}, unit_id: 3}\n"
	    "  - {name: vfd3c, serial: {port: /dev/ttyUSB1}, unit_id: 3}\n"
	    "  - {name: m1, serial: {port: /dev/ttyUSB1}}\n"
	    "  - {name: m1b, serial: {port: /dev/ttyUSB1}}\n"
	    "  - {name: tc1, host: 10.0.0.5, unit_id: 12}\n"
	    "  - {name: tc2, host: 10.0.0.5, unit_id: 12}\n"
	    "  - {name: tc3, host: 10.0.0.5, unit_id: 12, connections: separate}\n"
	    "  - {name: tc4, host: 10.0.0.6, unit_id: 12}\n"
	    "  - {name: tc5, host: 10.0.0.5, port: 503, unit_id: 12}\n"
	    "  - {name: v6, host: '::1', unit_id: 5}\n"
	    "  - {name: v6b, host: '::1', unit_id: 5}\n";
	static const char *const warnings[] = {
	    "t.yaml:7:58: warning: device vfd3b: unit_id 3 on /dev/ttyUSB0 is device vfd3's too (both read one unit; two units with one id garble each other's replies)",
	    "t.yaml:10:5: warning: device m1b: unit_id 1 on /dev/ttyUSB1 is device m1's too (both read one unit; two units with one id garble each other's replies)",
	    "t.yaml:12:42: warning: device tc2: unit_id 12 on 10.0.0.5:502 is device tc1's too (both read one unit; two units with one id garble each other's replies)",
	    "t.yaml:17:39: warning: device v6b: unit_id 5 on [::1]:502 is device v6's too (both read one unit; two units with one id garble each other's replies)",
	};

	(void)state;
	config_free(load_warned(yaml, warnings, 4));
}

/* With an error, warnings are printed among the errors, in file order. */
static void
test_warnings_with_errors(void **state)
{
	static const char yaml[] =
	    BASE
	    "rules:\n"
	    "  - {name: a, device: plc, holding_register: 40001, above: 1}\n"
	    "  - {name: b, device: plc, coil: x}\n";
	char *errs;

	(void)state;
	assert_null(load(yaml, &errs));
	assert_string_equal(errs,
	    "t.yaml:12:46: warning: holding_register 40001 looks like a 1-based 4xxxx reference; the 0-based address is probably 0\n"
	    "t.yaml:13:34: error: expected a whole number from 0 to 65535, not 'x'\n");
	free(errs);
}

/*
 * The smallest sensible file: no defaults.to, no link_alarm.to. Link and
 * heartbeat alarms go to the union of the device's rules' recipients.
 */
static void
test_link_recipients_from_rules(void **state)
{
	static const char yaml[] =
	    SMTP
	    "recipients:\n"
	    "  ops: [ops@example.com]\n"
	    "devices:\n"
	    "  - {name: maxi1, host: 192.168.1.10}\n"
	    "  - {name: other, host: h, link_alarm: {to: [x@example.com]}}\n"
	    "rules:\n"
	    "  - {name: pump1_fault, device: maxi1, coil: 12, to: [ops]}\n"
	    "  - {name: b, device: maxi1, coil: 13,\n"
	    "     to: [\"Ops <ops@example.com>\", maint@example.com]}\n"
	    "  - {name: c, device: other, coil: 1, to: [y@example.com]}\n";
	struct config *cfg;
	char *errs;

	(void)state;
	cfg = load(yaml, &errs);
	assert_non_null(cfg);
	assert_string_equal(errs, "");
	assert_int_equal(cfg->devices[0].link_to.n, 2);
	assert_string_equal(cfg->devices[0].link_to.v[0], "ops@example.com");
	assert_string_equal(cfg->devices[0].link_to.v[1], "maint@example.com");
	/* an explicit list stays as given */
	assert_int_equal(cfg->devices[1].link_to.n, 1);
	assert_string_equal(cfg->devices[1].link_to.v[0], "x@example.com");
	assert_int_equal(cfg->default_to.n, 0);
	config_free(cfg);
	free(errs);
}

/* One of the shipped files under config/; it must load cleanly. */
static struct config *
load_example(const char *name)
{
	struct config *cfg;
	char path[4096];

	snprintf(path, sizeof(path), "%s/config/%s", srcdir, name);
	cfg = config_load(path, stderr);
	assert_non_null(cfg);
	return cfg;
}

static void
test_minimal_defaults(void **state)
{
	struct config *cfg = load_example("minimal.yaml");

	(void)state;
	assert_string_equal(cfg->spool_dir, CONFIG_DEFAULT_SPOOL);
	assert_non_null(cfg->hostname);
	assert_int_equal(cfg->smtp.verify_peer, 1);
	assert_int_equal(cfg->smtp.tls_none, 0);
	assert_int_equal(cfg->smtp.timeout_ms, 30000);
	assert_int_equal(cfg->smtp.retry.initial_ms, 30000);
	assert_int_equal(cfg->smtp.retry.max_ms, 1800000);
	assert_int_equal(cfg->smtp.retry.give_up_ms, 3ULL * 86400000);
	assert_int_equal(cfg->smtp.stuck_after_ms, 600000);
	assert_string_equal(cfg->smtp.from_addr, "alarms@example.com");
	assert_int_equal(cfg->listener.enabled, 0);
	assert_int_equal(cfg->ndevices, 1);
	assert_int_equal(cfg->devices[0].port, 502);
	assert_int_equal(cfg->devices[0].unit_id, 1);
	assert_int_equal(cfg->devices[0].poll_interval_ms, 1000);
	assert_int_equal(cfg->devices[0].timeout_ms, 1000);
	assert_int_equal(cfg->devices[0].link_alarm, 1);
	assert_int_equal(cfg->devices[0].link_alarm_after_ms, 10000);
	assert_int_equal(cfg->devices[0].group_wait_ms, 0);
	assert_int_equal(cfg->devices[0].mail_ok_coil, -1);
	assert_int_equal(cfg->devices[0].link_to.n, 1);
	assert_int_equal(cfg->nrules, 1);
	assert_int_equal(cfg->rules[0].source, SOURCE_COIL);
	assert_int_equal(cfg->rules[0].active_when, 1);
	assert_int_equal(cfg->rules[0].severity, SEVERITY_WARNING);
	assert_int_equal(cfg->rules[0].notify_clear, 1);
	assert_int_equal(cfg->rules[0].repeat_ms, 0);
	assert_int_equal(cfg->rules[0].bit, -1);
	assert_string_equal(cfg->rules[0].subject, CONFIG_DEFAULT_SUBJECT);
	assert_string_equal(cfg->rules[0].to.v[0], "ops@example.com");
	assert_int_equal(cfg->sign_of_life.enabled, 0);
	config_free(cfg);
}

/* serial defaults and settings, connections, buses and their names. */
static void
test_serial_and_buses(void **state)
{
	static const char yaml[] =
	    SMTP
	    "defaults: {to: [ops@example.com]}\n"
	    "devices:\n"
	    "  - {name: vfd3, serial: {port: /dev/ttyUSB0}, unit_id: 3}\n"
	    "  - {name: vfd4, serial: {port: /dev/ttyUSB0}, unit_id: 4}\n"
	    "  - name: m1\n"
	    "    serial: {port: /dev/ttyAMA0, baud: 9600, parity: none, data_bits: 7, stop_bits: 2, rts: down}\n"
	    "    unit_id: 247\n"
	    "  - {name: tc1, host: 10.0.0.5, unit_id: 12}\n"
	    "  - {name: tc2, host: 10.0.0.5, unit_id: 13, connections: shared}\n"
	    "  - {name: tc3, host: 10.0.0.5, unit_id: 14, connections: separate}\n"
	    "  - {name: v6, host: '::1', port: 1502, unit_id: 0}\n";
	char *errs, buf[128];
	struct config *cfg;
	const struct config_device *d;

	(void)state;
	cfg = load(yaml, &errs);
	assert_string_equal(errs, "");
	free(errs);
	assert_non_null(cfg);
	d = cfg->devices;
	assert_string_equal(d[0].serial.port, "/dev/ttyUSB0");
	assert_null(d[0].host);
	assert_int_equal(d[0].serial.baud, 19200);
	assert_int_equal(d[0].serial.parity, 'E');
	assert_int_equal(d[0].serial.data_bits, 8);
	assert_int_equal(d[0].serial.stop_bits, 1);
	assert_int_equal(d[0].serial.rts, RTS_NONE);
	assert_int_equal(d[2].serial.rts, RTS_DOWN);
	assert_int_equal(d[3].separate, 0);
	assert_int_equal(d[5].separate, 1);
	assert_null(d[3].serial.port);

	assert_true(config_same_bus(&d[0], &d[1]));
	assert_false(config_same_bus(&d[0], &d[2]));
	assert_false(config_same_bus(&d[0], &d[3]));
	assert_true(config_same_bus(&d[3], &d[4]));
	assert_false(config_same_bus(&d[3], &d[5]));
	assert_false(config_same_bus(&d[3], &d[6]));

	config_transport(&d[0], buf, sizeof(buf));
	assert_string_equal(buf, "rtu /dev/ttyUSB0 19200 8E1 unit 3");
	config_transport(&d[2], buf, sizeof(buf));
	assert_string_equal(buf, "rtu /dev/ttyAMA0 9600 7N2 unit 247");
	config_transport(&d[3], buf, sizeof(buf));
	assert_string_equal(buf, "tcp 10.0.0.5:502 unit 12 shared");
	config_transport(&d[5], buf, sizeof(buf));
	assert_string_equal(buf, "tcp 10.0.0.5:502 unit 14 separate");
	config_transport(&d[6], buf, sizeof(buf));
	assert_string_equal(buf, "tcp [::1]:1502 unit 0 shared");
	config_bus_name(&d[6], buf, sizeof(buf));
	assert_string_equal(buf, "[::1]:1502");
	/* units apart on each bus: no warning */
	assert_int_equal(cfg->warnings.n, 0);
	config_free(cfg);
}

static void
test_full_example(void **state)
{
	struct config *cfg = load_example("modbus2mail.yaml");
	const struct config_rule *r;

	(void)state;
	assert_string_equal(cfg->hostname, "gw-line3");
	assert_int_equal(cfg->smtp.fallback_urls.n, 1);
	assert_string_equal(cfg->smtp.failure_notice, "admin@example.com");
	assert_int_equal(cfg->listener.enabled, 1);
	assert_int_equal(cfg->listener.nallow, 2);
	assert_int_equal(cfg->listener.allow[0].prefix, 24);
	assert_int_equal(cfg->listener.max_message_size, 10 * 1024 * 1024);
	assert_int_equal(cfg->listener.timeout_ms, 300000);
	assert_int_equal(cfg->ngroups, 2);
	assert_int_equal(cfg->devices[0].poll_interval_ms, 500);
	assert_int_equal(cfg->devices[0].heartbeat, 1);
	assert_int_equal(cfg->devices[0].heartbeat_source, SOURCE_HOLDING_REGISTER);
	assert_int_equal(cfg->devices[0].heartbeat_stale_ms, 10000);
	assert_int_equal(cfg->devices[0].mail_ok_coil, 31);
	assert_int_equal(cfg->nrules, 4);
	r = &cfg->rules[0];
	assert_int_equal(r->ack, 1);
	assert_int_equal(r->ack_address, 16);
	assert_int_equal(r->on_delay_ms, 2000);
	/* [ops, maint] expands both groups */
	assert_int_equal(r->to.n, 3);
	assert_string_equal(r->to.v[1], "Night Shift <night@example.com>");
	r = &cfg->rules[1];
	assert_int_equal(r->type, VTYPE_FLOAT32);
	assert_int_equal(r->order, ORDER_CDAB);
	assert_true(r->has_above && r->above == 80.0);
	assert_true(r->deadband == 2.0);
	assert_int_equal(r->repeat_ms, 1800000);
	assert_int_equal(r->escalate, 1);
	assert_string_equal(r->escalate_to.v[0], "maint@example.com");
	assert_int_equal(r->chatter_raises, 3);
	assert_string_equal(r->unit, "°C");
	r = &cfg->rules[2];
	assert_int_equal(r->source, SOURCE_INPUT_REGISTER);
	assert_true(r->scale == 0.1 && r->has_below);
	r = &cfg->rules[3];
	assert_int_equal(r->bit, 3);
	assert_int_equal(r->notify_clear, 0);
	assert_int_equal(cfg->sign_of_life.enabled, 1);
	assert_int_equal(cfg->sign_of_life.at_minute, 7 * 60);
	assert_int_equal(config_find_rule(cfg, "door_open"), 3);
	assert_int_equal(config_find_rule(cfg, "nope"), -1);
	config_free(cfg);
}

static void
test_listener_default_allow(void **state)
{
	static const char yaml[] = "smtp: {url: \"smtp://x:587\", from: a@b.c}\n"
	    "listener: {listen: [\"127.0.0.1:2525\"]}\n";
	struct config *cfg;
	char *errs;

	(void)state;
	cfg = load(yaml, &errs);
	assert_non_null(cfg);
	/* without `allow` only loopback clients may relay */
	assert_int_equal(cfg->listener.nallow, 2);
	assert_int_equal(cfg->listener.allow[0].prefix, 8);
	assert_int_equal(cfg->listener.allow[1].prefix, 128);
	assert_int_equal(cfg->listener.max_clients, 32);
	assert_int_equal(cfg->listener.max_recipients, 50);
	assert_int_equal(cfg->listener.rewrite_from, 1);
	assert_int_equal(cfg->per_state_subjects, 0);
	config_free(cfg);
	free(errs);
	cfg = load("smtp: {url: \"smtp://x:587\", from: a@b.c}\n"
	    "listener: {listen: [\"127.0.0.1:2525\"], rewrite_from: false}\n"
	    "defaults: {thread_subjects: per_state}\n", &errs);
	assert_non_null(cfg);
	assert_int_equal(cfg->listener.rewrite_from, 0);
	assert_int_equal(cfg->per_state_subjects, 1);
	config_free(cfg);
	free(errs);
}

/* http: loopback only without allow; any range allowed (no relaying);
 * history on by default for 90 days, `history: false` turns it off. */
static void
test_http_and_history(void **state)
{
	static const char on[] = "smtp: {url: \"smtp://x:587\", from: a@b.c}\n"
	    "http:\n"
	    "  listen: [\"127.0.0.1:8025\", \"[::1]:8025\"]\n"
	    "  users_file: /etc/modbus2mail/users\n"
	    "  tls: {cert: /c.pem, key: /k.pem}\n"
	    "history: {keep: 30d}\n";
	static const char pub[] = "smtp: {url: \"smtp://x:587\", from: a@b.c}\n"
	    "http: {listen: [\"0.0.0.0:8025\"], allow: [0.0.0.0/0]}\n"
	    "history: false\n";
	struct config *cfg;
	char *errs;

	(void)state;
	cfg = load(SMTP, &errs);
	assert_non_null(cfg);
	assert_int_equal(cfg->http.enabled, 0);
	assert_int_equal(cfg->history.enabled, 1);
	assert_true(cfg->history.keep_ms == 90ULL * 86400000);
	config_free(cfg);
	free(errs);
	cfg = load(on, &errs);
	assert_non_null(cfg);
	assert_int_equal(cfg->http.enabled, 1);
	assert_int_equal(cfg->http.listen.n, 2);
	assert_string_equal(cfg->http.listen.v[1], "[::1]:8025");
	assert_int_equal(cfg->http.nallow, 2);
	assert_int_equal(cfg->http.allow[0].prefix, 8);
	assert_string_equal(cfg->http.users_file, "/etc/modbus2mail/users");
	assert_string_equal(cfg->http.tls_cert, "/c.pem");
	assert_string_equal(cfg->http.tls_key, "/k.pem");
	assert_true(cfg->history.keep_ms == 30ULL * 86400000);
	config_free(cfg);
	free(errs);
	cfg = load(pub, &errs);
	assert_non_null(cfg);
	assert_int_equal(cfg->http.nallow, 1);
	assert_int_equal(cfg->http.allow[0].prefix, 0);
	assert_int_equal(cfg->history.enabled, 0);
	config_free(cfg);
	free(errs);
}

/* Private ranges need no recipient_domains; public ones do. */
static void
test_listener_allow_relay(void **state)
{
	static const char priv[] = "smtp: {url: \"smtp://x:587\", from: a@b.c}\n"
	    "listener:\n"
	    "  listen: [\"127.0.0.1:2525\"]\n"
	    "  allow: [127.0.0.1, 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16,\n"
	    "    100.64.0.0/10, 169.254.0.0/16, \"::1\", \"fe80::/10\",\n"
	    "    \"fc00::/7\"]\n";
	static const char pub[] = "smtp: {url: \"smtp://x:587\", from: a@b.c}\n"
	    "listener:\n"
	    "  allow: [0.0.0.0/0, \"::/0\"]\n"
	    "  listen: [\"127.0.0.1:2525\"]\n"
	    "  recipient_domains: [example.com]\n";
	struct config *cfg;
	char *errs;

	(void)state;
	cfg = load(priv, &errs);
	assert_non_null(cfg);
	assert_string_equal(errs, "");
	assert_int_equal(cfg->listener.nallow, 9);
	config_free(cfg);
	free(errs);
	cfg = load(pub, &errs);
	assert_non_null(cfg);
	assert_string_equal(errs, "");
	assert_int_equal(cfg->listener.nallow, 2);
	assert_int_equal(cfg->listener.allow[0].prefix, 0);
	config_free(cfg);
	free(errs);
}

static void
test_password_file_mode(void **state)
{
	char path[] = "/tmp/m2m-secret-XXXXXX", yaml[512], *errs, want[512];
	struct config *cfg;
	int fd;

	(void)state;
	unsetenv("CREDENTIALS_DIRECTORY");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "pw\n", 3), 3);
	close(fd);
	snprintf(yaml, sizeof(yaml), "smtp:\n  url: smtps://x:465\n  from: a@b.c\n"
	    "  username: u\n  password_file: %s\n", path);
	chmod(path, 0644);
	assert_null(load(yaml, &errs));
	snprintf(want, sizeof(want), "t.yaml:5:18: error: password file %s is "
	    "readable by group or others (chmod 600 it)\n", path);
	assert_string_equal(errs, want);
	free(errs);
	chmod(path, 0600);
	cfg = load(yaml, &errs);
	assert_non_null(cfg);
	assert_string_equal(cfg->smtp.password_file, path);
	config_free(cfg);
	free(errs);
	unlink(path);
}

/* A systemd credentials directory holding the credential name; its path
 * into file. Undone by creds_remove(). */
static void
creds_make(char *dir, const char *name, char *file, size_t len)
{
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(file, len, "%s/%s", dir, name);
	f = fopen(file, "w");
	assert_non_null(f);
	fputs("pw\n", f);
	fclose(f);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
}

static void
creds_remove(const char *dir, const char *file)
{
	unsetenv("CREDENTIALS_DIRECTORY");
	unlink(file);
	rmdir(dir);
}

static void
test_credentials_directory(void **state)
{
	char dir[] = "/tmp/m2m-creds-XXXXXX", file[256], *errs;
	static const char yaml[] = "smtp:\n  url: smtps://x:465\n  from: a@b.c\n"
	    "  username: u\n";
	struct config *cfg;

	(void)state;
	creds_make(dir, "smtp-password", file, sizeof(file));
	cfg = load(yaml, &errs);
	assert_non_null(cfg);
	assert_string_equal(cfg->smtp.password_file, file);
	config_free(cfg);
	free(errs);
	creds_remove(dir, file);
}

/* imap: defaults, and the credential imap-password under systemd. */
static void
test_imap(void **state)
{
	char dir[] = "/tmp/m2m-creds-XXXXXX", file[256], *errs;
	static const char yaml[] = "smtp:\n  url: smtps://x:465\n  from: a@b.c\n"
	    "imap:\n  url: imaps://imap.example.com\n  username: u\n";
	struct config *cfg;

	(void)state;
	creds_make(dir, "imap-password", file, sizeof(file));
	cfg = load(yaml, &errs);
	assert_non_null(cfg);
	assert_true(cfg->imap.enabled);
	assert_string_equal(cfg->imap.password_file, file);
	assert_string_equal(cfg->imap.done_folder, "modbus2mail-done");
	assert_int_equal(cfg->imap.poll_interval_ms, 30000);
	assert_int_equal(cfg->imap.timeout_ms, 30000);
	assert_true(cfg->imap.require_auth_sender);
	assert_true(cfg->imap.verify_peer);
	assert_null(cfg->imap.reply_to);
	assert_null(cfg->smtp.password_file);	/* that one has none */
	config_free(cfg);
	free(errs);
	creds_remove(dir, file);
	cfg = load("smtp:\n  url: smtps://x:465\n  from: a@b.c\n", &errs);
	assert_non_null(cfg);
	assert_false(cfg->imap.enabled);
	config_free(cfg);
	free(errs);
}

static void
test_parsers(void **state)
{
	static const struct {
		const char *s;
		int ok;
		uint64_t ms;
	} durs[] = { { "250ms", 0, 250 }, { "10s", 0, 10000 },
		{ "5m", 0, 300000 }, { "2h", 0, 7200000 },
		{ "3d", 0, 259200000 }, { "0", 0, 0 }, { "0s", 0, 0 },
		{ "10", -1, 0 }, { "s", -1, 0 }, { "1.5s", -1, 0 },
		{ "-1s", -1, 0 }, { "5 m", -1, 0 }, { "", -1, 0 },
		{ "10sec", -1, 0 } };
	static const struct {
		const char *s;
		int ok;
		size_t bytes;
	} sizes[] = { { "512", 0, 512 }, { "64KiB", 0, 65536 },
		{ "10MiB", 0, 10485760 }, { "1GiB", 0, 1073741824 },
		{ "10MB", -1, 0 }, { "KiB", -1, 0 }, { "-5", -1, 0 } };
	static const struct {
		const char *s;
		const char *bare;
	} addrs[] = { { "a@b.c", "a@b.c" }, { "Name <a@b.c>", "a@b.c" },
		{ "\"Night Shift\" <night@example.com>", "night@example.com" },
		{ "nobody", NULL }, { "a@", NULL }, { "@b", NULL },
		{ "<a@b.c> trailing", NULL }, { "a b@c.d", NULL },
		{ "a@b@c", NULL }, { "<>", NULL } };
	char bare[320];
	uint64_t ms;
	size_t i, sz;

	(void)state;
	for (i = 0; i < sizeof(durs) / sizeof(durs[0]); i++) {
		ms = 12345;
		assert_int_equal(config_parse_duration(durs[i].s, &ms),
		    durs[i].ok);
		if (durs[i].ok == 0)
			assert_int_equal(ms, durs[i].ms);
	}
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		assert_int_equal(config_parse_size(sizes[i].s, &sz),
		    sizes[i].ok);
		if (sizes[i].ok == 0)
			assert_int_equal(sz, sizes[i].bytes);
	}
	for (i = 0; i < sizeof(addrs) / sizeof(addrs[0]); i++) {
		if (addrs[i].bare == NULL) {
			assert_int_equal(config_parse_address(addrs[i].s, bare,
			    sizeof(bare)), -1);
			continue;
		}
		assert_int_equal(config_parse_address(addrs[i].s, bare,
		    sizeof(bare)), 0);
		assert_string_equal(bare, addrs[i].bare);
	}
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_broken_table),
		cmocka_unit_test(test_all_errors_at_once),
		cmocka_unit_test(test_errors_sorted),
		cmocka_unit_test(test_address_warnings),
		cmocka_unit_test(test_warnings_with_errors),
		cmocka_unit_test(test_same_unit_on_one_bus),
		cmocka_unit_test(test_link_recipients_from_rules),
		cmocka_unit_test(test_minimal_defaults),
		cmocka_unit_test(test_full_example),
		cmocka_unit_test(test_serial_and_buses),
		cmocka_unit_test(test_listener_default_allow),
		cmocka_unit_test(test_listener_allow_relay),
		cmocka_unit_test(test_http_and_history),
		cmocka_unit_test(test_password_file_mode),
		cmocka_unit_test(test_imap),
		cmocka_unit_test(test_credentials_directory),
		cmocka_unit_test(test_parsers),
	};

	srcdir = argc > 1 ? argv[1] : ".";
	return cmocka_run_group_tests(tests, NULL, NULL);
}
