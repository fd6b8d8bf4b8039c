/*
 * sendmail.h - `modbus2mail sendmail [-t] [-f FROM] [-i] [RCPT...]`
 * (SPEC §2): a sendmail-compatible entry for cron jobs and scripts on the
 * gateway. The message on stdin gets the same fix-ups as mail received on
 * port 25 (inbound.h) and goes durably into the spool; the running daemon
 * is woken to relay it (it also finds it by itself within seconds).
 */
#ifndef MODBUS2MAIL_SENDMAIL_H
#define MODBUS2MAIL_SENDMAIL_H

struct config;

/*
 * argv[0] is "sendmail". Options: -t (recipients from To/Cc/Bcc, Bcc
 * removed; command-line recipients are added), -f/-r FROM (envelope
 * sender, default smtp.from), -i and -oi (a lone "." does not end the
 * input), -F NAME and other -o/-B/-b options are accepted and ignored.
 * Returns a sysexits.h code: 0, EX_USAGE (no recipients, bad option),
 * EX_DATAERR (bad address, too large), EX_IOERR (stdin), EX_TEMPFAIL
 * (spool unwritable or full: nothing was queued).
 */
int	sendmail_main(const struct config *, int argc, char **argv);

#endif
