#!/usr/bin/python3
"""Acknowledge by reply, end to end: a pymodbus PLC, the real daemon, an
aiosmtpd catcher as the provider and a real Dovecot (imaps, the test CA,
passwd-file users) as the mailbox that receives the replies. Replies are
put into the mailbox by IMAP APPEND, as a provider's delivery would.

usage: test_imap.py MODBUS2MAIL_EXE [unittest names...]
"""
import os
import re
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from catcher import Catcher  # noqa: E402
from harness import Daemon, free_port, tmpdir, wait_until  # noqa: E402
from imap_server import Dovecot, available  # noqa: E402
from plc_sim import PlcSim  # noqa: E402
from smtp_provider import make_pki  # noqa: E402

EXE = None
BOX = "alarms@example.com"
POLL = 1.0      # imap.poll_interval of the tests, seconds

CONFIG = """\
hostname: gw-test
spool_dir: {spool}
smtp:
  url: smtp://127.0.0.1:{smtp_port}
  tls: none
  from: "Line 3 Alarms <alarms@example.com>"
  retry: {{initial: 1s, max: 2s, give_up_after: 1h}}
imap:
  url: imaps://127.0.0.1:{imap_port}/INBOX
  username: alarms@example.com
  password_file: {pwfile}
  ca_file: {ca}
  poll_interval: 1s
  timeout: 5s
devices:
  - name: maxi1
    host: 127.0.0.1
    port: {plc_port}
    poll_interval: 100ms
    timeout: 300ms
rules:
  - name: pump1_fault
    device: maxi1
    coil: 12
    severity: critical
    to: ["Ops <ops@example.com>", boss@example.com]
"""

AR_PASS = ("Authentication-Results: mx.example.com; dkim=pass "
           "header.d=example.com; spf=pass smtp.mailfrom={frm}\r\n")


def reply(in_reply_to, frm="ops@example.com", body="ack", auth=True, extra="",
          subject="Re: critical pump1_fault", mid=None):
    """A reply as a mail client writes it, as raw bytes."""
    mid = mid or "<%d.%f@phone.example.com>" % (os.getpid(), time.time())
    head = AR_PASS.format(frm=frm) if auth else ""
    return ("Return-Path: <%s>\r\n%s%sFrom: %s\r\nTo: alarms@example.com\r\n"
            "Subject: %s\r\nMessage-ID: %s\r\nIn-Reply-To: %s\r\n"
            "References: %s\r\nDate: Mon, 23 Nov 2026 07:05:00 +0000\r\n"
            "\r\n%s\r\n" % (frm, extra, head, frm, subject, mid, in_reply_to,
                            in_reply_to, body)).encode()


def phone_reply(in_reply_to):
    """A phone client's HTML reply: multipart/alternative, quoted-printable
    text with a signature and the quoted original."""
    head = reply(in_reply_to, body="").decode().split("\r\n\r\n")[0]
    return (head + "\r\nMIME-Version: 1.0\r\nContent-Type: multipart/"
            "alternative; boundary=\"Apple-Mail=_9F1\"\r\n\r\n"
            "--Apple-Mail=_9F1\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            "Ack=C2=A0\r\n\r\nSent from my iPhone\r\n\r\n"
            "> On 23 Nov 2026, at 07:00, Line 3 Alarms <alarms@example.com> wr=\r\n"
            "ote:\r\n> =\r\n> critical: pump1_fault ACTIVE\r\n\r\n"
            "--Apple-Mail=_9F1\r\nContent-Type: text/html; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
            "<html><body><div dir=3D\"auto\">Ack&nbsp;</div><blockquote>"
            "critical</blockquote></body></html>\r\n"
            "--Apple-Mail=_9F1--\r\n").encode()


class ReplyTest(unittest.TestCase):
    password = "mailbox-secret"

    def setUp(self):
        self.work = tmpdir()
        pki = make_pki(os.path.join(self.work, "pki"))
        self.dovecot = Dovecot(pki, {BOX: "mailbox-secret"})
        self.addCleanup(self.dovecot.cleanup)
        self.smtp_port = free_port()
        self.catcher = Catcher(self.smtp_port).start()
        self.addCleanup(self.catcher.stop)
        self.plc = PlcSim()
        self.addCleanup(self.plc.stop)
        pwfile = os.path.join(self.work, "imap.secret")
        with open(os.open(pwfile, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(self.password + "\n")
        self.cfg = os.path.join(self.work, "m2m.yaml")
        with open(self.cfg, "w") as f:
            f.write(CONFIG.format(spool=os.path.join(self.work, "spool"),
                                  smtp_port=self.smtp_port,
                                  imap_port=self.dovecot.port, pwfile=pwfile,
                                  ca=pki.ca, plc_port=self.plc.port))
        self.daemon = Daemon(EXE, self.cfg)
        self.addCleanup(self.daemon.stop)

    def start(self, dovecot=True):
        if dovecot:
            self.dovecot.start()
        self.daemon.start()
        wait_until(lambda: "link=up" in self.status(), timeout=20, what="link up")

    def status(self):
        return self.daemon.cli("status").stdout

    def mails(self, state=None):
        msgs = self.catcher.parsed()
        if state is None:
            return msgs
        return [m for m in msgs
                if m.get_content().lstrip().startswith(state + " at")]

    def wait_mail(self, state, n=1, timeout=20):
        wait_until(lambda: len(self.mails(state)) >= n, timeout=timeout,
                   what="%d %s mail(s)" % (n, state))
        return self.mails(state)[n - 1]

    def raise_alarm(self):
        self.plc.set("co", 12, [1])
        return self.wait_mail("ACTIVE")

    def append(self, raw):
        self.dovecot.append(BOX, "INBOX", raw)

    def wait_processed(self, n, timeout=POLL + 5):
        """n messages were moved to the done folder, the inbox is empty."""
        wait_until(lambda: len(self.dovecot.messages(BOX, "modbus2mail-done")) >= n
                   and not self.dovecot.messages(BOX, "INBOX"),
                   timeout=timeout, what="%d replies in modbus2mail-done" % n)

    def wait_log(self, pattern, timeout=POLL + 5):
        wait_until(lambda: re.search(pattern, self.daemon.logbytes_since_start()),
                   timeout=timeout, what="log line /%s/" % pattern)

    def alarm_line(self):
        return [ln for ln in self.status().splitlines() if "pump1_fault" in ln][0]


class Acknowledge(ReplyTest):
    def test_ack_reply_threaded(self):
        self.start()
        active = self.raise_alarm()
        # replies must reach the watched mailbox
        self.assertEqual(active["Reply-To"], "Line 3 Alarms <alarms@example.com>")
        self.assertIn("acknowledged=no", self.alarm_line())
        self.append(reply(active["Message-ID"]))
        t0 = time.monotonic()
        wait_until(lambda: "acknowledged=yes" in self.alarm_line(),
                   timeout=POLL + 1, what="acknowledged within poll_interval + 1 s")
        print("acknowledged %.2f s after the reply was appended" % (time.monotonic() - t0))
        ack = self.wait_mail("ACKNOWLEDGED")
        self.assertEqual(ack["In-Reply-To"], active["Message-ID"])
        # who acknowledged, in the mail's first line
        self.assertRegex(ack.get_content().splitlines()[0],
                         r"^ACKNOWLEDGED at \d\d:\d\d \S+ by ops@example.com by reply$")
        self.wait_processed(1)
        self.wait_log(r"imap: rule=pump1_fault ack by reply from=ops@example.com")
        # the history records who acknowledged
        wait_until(lambda: "ops@example.com by reply" in self.daemon.cli("history").stdout,
                   timeout=10, what="the acknowledgement in the history")

    def test_shelve_unshelve_and_german_ack(self):
        self.start()
        active = self.raise_alarm()
        self.append(reply(active["Message-ID"], body="Shelve 2h"))
        wait_until(lambda: "shelved=yes" in self.alarm_line(), timeout=POLL + 5,
                   what="shelved by reply")
        self.assertIn('reason="shelved by reply from ops@example.com"', self.alarm_line())
        self.append(reply(active["Message-ID"], frm="boss@example.com", body="unshelve"))
        wait_until(lambda: "shelved=no" in self.alarm_line(), timeout=POLL + 5,
                   what="unshelved by reply")
        self.append(reply(active["Message-ID"], body="Quittiert."))
        wait_until(lambda: "acknowledged=yes" in self.alarm_line(), timeout=POLL + 5,
                   what="acknowledged by 'Quittiert.'")
        self.wait_processed(3)

    def test_phone_multipart_html_reply(self):
        self.start()
        active = self.raise_alarm()
        self.append(phone_reply(active["Message-ID"]))
        wait_until(lambda: "acknowledged=yes" in self.alarm_line(), timeout=POLL + 5,
                   what="acknowledged by a phone's multipart reply")
        self.wait_processed(1)


class Refused(ReplyTest):
    def test_refused_replies_change_nothing(self):
        self.start()
        active = self.raise_alarm()
        mid = active["Message-ID"]
        cases = [
            (reply(mid, frm="stranger@example.com"), r"not a recipient of alarm pump1_fault"),
            (reply(mid, auth=False), r"refused: sender not authenticated"),
            (reply("<6b03e470.deadbeefdeadbeef.m2m@gw-test>"), r"names no open alarm"),
            (reply(mid, body="I am out of the office until Monday.",
                   subject="Automatic reply: critical",
                   extra="Auto-Submitted: auto-replied\r\nX-Autoreply: yes\r\n"),
             r"refused: automatic message \(Auto-Submitted\)"),
        ]
        for n, (raw, pattern) in enumerate(cases, 1):
            self.append(raw)
            self.wait_log(pattern)
            self.wait_processed(n)
        self.assertIn("acknowledged=no", self.alarm_line())
        # nothing but the ACTIVE mail went out: no ACKNOWLEDGED, no help
        # reply (above all none to the out-of-office responder)
        wait_until(lambda: "queue: 0 messages" in self.status(), timeout=10,
                   what="empty queue")
        self.assertEqual(len(self.mails()), 1, [m["Subject"] for m in self.mails()])
        # a reply to an episode that has closed
        self.plc.set("co", 12, [0])
        self.wait_mail("CLEARED")
        self.append(reply(mid))
        self.wait_log(r"from=ops@example.com refused: names no open alarm.*\n(.|\n)*"
                      r"from=ops@example.com refused: names no open alarm")
        self.wait_processed(len(cases) + 1)
        self.assertEqual(self.mails("ACKNOWLEDGED"), [])

    def test_help_reply_once_per_episode_and_sender(self):
        self.start()
        active = self.raise_alarm()
        self.append(reply(active["Message-ID"], body="what does this mean?"))
        wait_until(lambda: [m for m in self.mails() if m["To"] == "ops@example.com"],
                   timeout=POLL + 10, what="help reply")
        help_mail = [m for m in self.mails() if m["To"] == "ops@example.com"][0]
        self.assertEqual(help_mail["Auto-Submitted"], "auto-replied")
        self.assertTrue(help_mail["Subject"].startswith("Re: "))
        self.assertIn("ack ", help_mail.get_content())
        self.append(reply(active["Message-ID"], body="still confused"))
        self.wait_log(r"no command; help was sent before")
        self.wait_processed(2)
        wait_until(lambda: "queue: 0 messages" in self.status(), timeout=10,
                   what="empty queue")
        self.assertEqual(len([m for m in self.mails() if m["To"] == "ops@example.com"]), 1)
        self.assertIn("acknowledged=no", self.alarm_line())


class Interval(ReplyTest):
    def test_checks_every_poll_interval(self):
        """The mailbox is read once per poll_interval, not in a busy loop."""
        self.start()
        stamps = []

        def checks():
            n = self.daemon.logbytes_since_start().count("imap: checked, ")
            while len(stamps) < n:
                stamps.append(time.monotonic())
            return n >= 4
        wait_until(checks, timeout=4 * POLL + 10, interval=0.01, what="4 mailbox checks")
        # three intervals between the first and the fourth check seen
        self.assertGreaterEqual(stamps[3] - stamps[0], 3 * POLL * 0.8, stamps)

    def test_first_check_after_arrival_sees_the_reply(self):
        """A reply is acted on by the first check that starts after it
        arrived, not one later (an IMAP session must be synchronised)."""
        self.start()
        active = self.raise_alarm()
        log = self.daemon.logbytes_since_start
        n0 = log().count("imap: checked, ")
        # right after a check ends, the next one is a poll_interval away
        wait_until(lambda: log().count("imap: checked, ") > n0, timeout=POLL + 5,
                   interval=0.005, what="a check")
        n0 = log().count("imap: checked, ")
        t0 = time.monotonic()
        self.append(reply(active["Message-ID"]))
        self.assertLess(time.monotonic() - t0, POLL / 2, "APPEND took too long "
                        "to tell which check came first")
        self.wait_log(r"imap: rule=pump1_fault ack by reply")
        text = log()
        before_ack = text[:text.index("imap: rule=pump1_fault ack by reply")]
        self.assertEqual(before_ack.count("imap: checked, "), n0 + 1, before_ack[-2000:])


class Outage(ReplyTest):
    def test_imap_down_then_up(self):
        # the mailbox is down from the start: alarms still go out
        self.start(dovecot=False)
        wait_until(lambda: re.search(r"imap: BROKEN since \d\d:\d\d — ", self.status()),
                   timeout=POLL + 10, what="imap BROKEN in status")
        active = self.raise_alarm()
        self.dovecot.start()
        wait_until(lambda: "imap: ok" in self.status(), timeout=POLL + 10,
                   what="imap ok again")
        self.append(reply(active["Message-ID"]))
        wait_until(lambda: "acknowledged=yes" in self.alarm_line(), timeout=POLL + 5,
                   what="acknowledged after the outage")


    def test_done_folder_removed_is_created_again(self):
        self.start()
        active = self.raise_alarm()
        self.append(reply(active["Message-ID"], body="shelve 1h"))
        self.wait_processed(1)
        # someone tidies the mailbox: the folder is gone
        self.dovecot.delete_folder(BOX, "modbus2mail-done")
        self.append(reply(active["Message-ID"]))
        self.wait_processed(1)
        self.assertIn("acknowledged=yes", self.alarm_line())
        self.assertIn("imap: ok", self.status())


class WrongPassword(ReplyTest):
    password = "not-the-mailbox-pw-7f3a"

    def test_wrong_password_in_status(self):
        self.start()
        wait_until(lambda: re.search(r"imap: BROKEN since \d\d:\d\d — AUTH failed",
                                     self.status()),
                   timeout=POLL + 10, what="AUTH failed in status")
        self.raise_alarm()      # sending is not affected
        self.assertNotIn(self.password, self.daemon.logtext())


if __name__ == "__main__":
    EXE = sys.argv.pop(1)
    if not available():
        # meson reports exit 77 as SKIP, never as a pass
        print("dovecot-imapd is not installed (.ci/install-deps installs it)")
        sys.exit(77)
    unittest.main()
