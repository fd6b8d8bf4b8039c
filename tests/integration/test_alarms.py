#!/usr/bin/python3
"""Alarm path end to end (SPEC §4): a pymodbus PLC simulator, the real
modbus2mail daemon, an aiosmtpd mail catcher. One unittest method per
behaviour; meson runs them as separate tests.

usage: test_alarms.py MODBUS2MAIL_EXE [unittest names...]
"""
import os
import re
import socket
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from catcher import Catcher  # noqa: E402
from harness import Daemon, free_port, tmpdir, wait_until  # noqa: E402
from plc_sim import PlcSim  # noqa: E402

EXE = None

BASE = """\
hostname: gw-test
spool_dir: {spool}
smtp:
  url: smtp://127.0.0.1:{smtp_port}
  tls: none
  from: "Line 3 Alarms <alarms@example.com>"
  retry: {{initial: 1s, max: 2s, give_up_after: 1h}}
recipients:
  ops: [ops@example.com]
  maint: ["Maintenance <maint@example.com>"]
devices:
  - name: maxi1
    host: 127.0.0.1
    port: {plc_port}
    poll_interval: 100ms
    timeout: 300ms
{device_extra}
defaults:
  to: [ops]
rules:
{rules}
"""


# The first body line of a mail: its state and time with the UTC offset.
STATE_LINE = r"^%s at \d\d:\d\d [+-]\d\d:\d\d"


def text(m):
    return m.get_content().replace("\r\n", "\n")


def first_line(m):
    return text(m).splitlines()[0]


def recv_all(sock):
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            return data
        data += chunk


class AlarmTest(unittest.TestCase):
    rules = ""
    device_extra = ""

    def setUp(self):
        self.work = tmpdir()
        self.smtp_port = free_port()
        self.catcher = Catcher(self.smtp_port).start()
        self.addCleanup(self.catcher.stop)
        self.plc = self.make_plc()
        self.addCleanup(self.plc.stop)
        self.cfg = os.path.join(self.work, "m2m.yaml")
        self.write_config(self.rules, self.device_extra)
        self.daemon = Daemon(EXE, self.cfg)
        self.addCleanup(self.stop_daemon)

    def make_plc(self):
        return PlcSim()

    def write_config(self, rules, device_extra=""):
        with open(self.cfg, "w") as f:
            f.write(BASE.format(spool=os.path.join(self.work, "spool"),
                                smtp_port=self.smtp_port, plc_port=self.plc.port,
                                device_extra=device_extra, rules=rules))

    def stop_daemon(self):
        rc = self.daemon.stop()
        if rc not in (0, None, -9):
            print(self.daemon.logtext(), file=sys.stderr)

    def start(self):
        self.daemon.start()
        # the first good poll: the link is up and rule states are known
        wait_until(lambda: "link=up" in self.daemon.cli("status").stdout, timeout=20,
                   what="device link up")

    def mails(self, rule=None):
        msgs = self.catcher.parsed()
        if rule is None:
            return msgs
        return [m for m in msgs if rule in (m.get("X-Modbus2mail-Rule") or "").split(", ")]

    def wait_mails(self, n, rule=None, timeout=20):
        wait_until(lambda: len(self.mails(rule)) >= n, timeout=timeout,
                   what="%d mail(s) for %s" % (n, rule or "any rule"))
        return self.mails(rule)

    def settle(self, cycles=10):
        """Lets the daemon run `cycles` more poll cycles (each reads the PLC at
        least once) and drain its queue, so 'no further mail' is observed, not
        assumed."""
        self.plc.log()
        seen = []
        wait_until(lambda: seen.extend(r for r in self.plc.log() if r[0] in (1, 2, 3, 4))
                   or len(seen) >= cycles, timeout=20, what="%d poll cycles" % cycles)
        wait_until(lambda: "queue: 0 messages" in self.daemon.cli("status").stdout,
                   timeout=20, what="empty queue")


class BitAlarm(AlarmTest):
    rules = """\
  - name: pump1_fault
    device: maxi1
    coil: 12
    severity: critical
    off_delay: 300ms
    subject: "{severity}: {name} {state} on {device}"
    body: |
      Pump 1 reports a fault since {since}. Value {value}.
"""

    def test_active_then_cleared_threaded(self):
        self.start()
        self.plc.set("co", 12, 1)
        [m] = self.wait_mails(1, "pump1_fault")
        self.assertEqual(m["Subject"], "critical: pump1_fault ACTIVE on maxi1")
        self.assertIn("alarms@example.com", m["From"])
        self.assertIn("ops@example.com", m["To"])
        self.assertEqual(m["Auto-Submitted"], "auto-generated")
        self.assertEqual(m["X-Modbus2mail-Rule"], "pump1_fault")
        self.assertTrue(m["Message-ID"].endswith("@gw-test>"), m["Message-ID"])
        self.assertIsNotNone(m["Date"])
        self.assertEqual(m.get_content_type(), "text/plain")
        self.assertIn("Pump 1 reports a fault since", m.get_content())
        self.assertRegex(first_line(m), STATE_LINE % "ACTIVE")
        self.assertTrue(text(m).endswith(
            "To acknowledge: run `modbus2mail ack pump1_fault` on gw-test.\n"
            "Gateway gw-test, device maxi1, rule pump1_fault.\n"), text(m))
        env = self.catcher.messages[0]
        self.assertEqual(env.mail_from, "alarms@example.com")
        self.assertEqual(env.rcpt_tos, ["ops@example.com"])
        self.plc.set("co", 12, 0)
        msgs = self.wait_mails(2, "pump1_fault")
        # one conversation in mail programs that thread by subject
        self.assertEqual(msgs[1]["Subject"], "Re: critical: pump1_fault ACTIVE on maxi1")
        self.assertRegex(first_line(msgs[1]), STATE_LINE % "CLEARED" + " after ")
        self.assertEqual(msgs[1]["In-Reply-To"], m["Message-ID"])
        self.assertIn(m["Message-ID"], msgs[1]["References"])
        self.settle()
        self.assertEqual(len(self.mails()), 2, "exactly one ACTIVE and one CLEARED")

    def test_restart_with_active_alarm_sends_no_duplicate(self):
        self.start()
        self.plc.set("co", 12, 1)
        self.wait_mails(1, "pump1_fault")
        self.settle()
        self.daemon.stop()
        self.daemon.start()
        wait_until(lambda: "ACTIVE" in self.daemon.cli("status").stdout, timeout=20,
                   what="alarm still active after restart")
        self.settle()
        self.assertEqual(len(self.mails("pump1_fault")), 1)
        # and it was not forgotten: clearing still sends the CLEARED mail
        self.plc.set("co", 12, 0)
        msgs = self.wait_mails(2, "pump1_fault")
        # the thread's subject survived the restart too
        self.assertEqual(msgs[1]["Subject"], "Re: " + msgs[0]["Subject"])
        self.assertRegex(first_line(msgs[1]), STATE_LINE % "CLEARED")

    def test_link_loss_one_alarm_no_spurious_clear(self):
        self.write_config(self.rules, "    link_alarm: {after: 1s, severity: critical, to: [maint]}\n")
        self.start()
        self.plc.set("co", 12, 1)
        self.wait_mails(1, "pump1_fault")
        self.plc.down()
        [link] = self.wait_mails(1, "maxi1.link")
        self.assertIn("ACTIVE", link["Subject"])
        self.assertIn("maint@example.com", link["To"])
        self.assertRegex(text(link),
                         r"\nPLC maxi1 \(127\.0\.0\.1:%d\) not answering since "
                         r"\d\d:\d\d:\d\d [+-]\d\d:\d\d \u2014 last error: \S" % self.plc.port)
        self.plc.up()
        msgs = self.wait_mails(2, "maxi1.link")
        self.assertEqual(msgs[1]["Subject"], "Re: " + link["Subject"])
        self.assertRegex(first_line(msgs[1]), STATE_LINE % "CLEARED")
        self.settle()
        self.assertEqual(len(self.mails("maxi1.link")), 2)
        self.assertEqual(len(self.mails("pump1_fault")), 1, "no spurious CLEARED of the rule")

    def test_poll_status_render_commands(self):
        self.start()
        self.plc.set("co", 12, 1)
        self.wait_mails(1, "pump1_fault")
        out = self.daemon.cli("poll").stdout
        self.assertRegex(out, r"pump1_fault .*coil 12.*raw=1.*active")
        st = self.daemon.cli("status").stdout
        self.assertRegex(st, r"maxi1 link=up")
        self.assertRegex(st, r"pump1_fault state=ACTIVE since=\S+ acknowledged=no shelved=no")
        self.assertRegex(st, r"queue: 0 messages")
        # render reads the PLC: coil 12 is 1 now, the preview says so
        r = self.daemon.cli("render", "pump1_fault")
        self.assertTrue(r.stdout.startswith("Subject: critical: pump1_fault ACTIVE on maxi1\n\n"
                                            "ACTIVE at "), r.stdout)
        self.assertIn("\nPump 1 reports a fault since ", r.stdout)
        self.assertIn("\nX-Modbus2mail-Rule: pump1_fault\n", r.stdout)
        self.assertEqual(r.stderr, "pump1_fault: rendered for its current value 1\n")
        raw = self.daemon.cli("render", "--raw", "pump1_fault").stdout
        self.assertTrue(raw.startswith("From: Line 3 Alarms <alarms@example.com>\n"), raw)
        self.assertIn("\nMIME-Version: 1.0\n", raw)
        link = self.daemon.cli("render", "maxi1.link").stdout
        self.assertRegex(link, r"\nPLC maxi1 \(127\.0\.0\.1:%d\) not answering since " % self.plc.port)
        # the PLC gone: a value that trips the rule, and why
        self.plc.down()
        r = self.daemon.cli("render", "pump1_fault")
        self.assertIn("\nPump 1 reports a fault since ", r.stdout)
        self.assertRegex(r.stderr, r"^pump1_fault: rendered for 1, a value that trips it "
                                   r"\(maxi1 not read: .+\)\n$")
        self.plc.up()
        bad = self.daemon.cli("ack", "no_such_rule", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertEqual(bad.stderr, "modbus2mail ack: no rule 'no_such_rule' in %s\n"
                         % self.cfg)
        # The wire: one request line, the verdict "ok" or "error: MESSAGE".
        for req, want in ((b"reboot\n", b"error: unknown request\n"),
                          (b"ack two words\n", b"error: malformed ack request\n"),
                          (b"ack no_such_rule\n",
                           b"error: no rule 'no_such_rule' in %s\n" % self.cfg.encode()),
                          (b"flush\n", b"ok\nflush: the queue is empty\n")):
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                s.settimeout(10)
                s.connect(os.path.join(self.work, "spool", "control.sock"))
                s.sendall(req)
                s.shutdown(socket.SHUT_WR)
                self.assertEqual(recv_all(s), want, req)


class Coalescing(AlarmTest):
    rules = "".join("""\
  - name: bit{i}
    device: maxi1
    coil: {a}
""".format(i=i, a=100 + i) for i in range(40)) + """\
  - name: temp
    device: maxi1
    holding_register: 10
    above: 50
  - name: level
    device: maxi1
    holding_register: 14
    below: 5
    type: int16
"""

    def test_burst_grouped_and_coalesced_reads(self):
        self.plc.set("hr", 14, 10)
        self.start()
        self.plc.log()
        wait_until(lambda: len(self.plc.log()) > 0, timeout=10, what="a poll cycle")
        reqs = []
        wait_until(lambda: reqs.extend(self.plc.log()) or len(reqs) >= 10, timeout=10,
                   what="ten requests")
        fcs = sorted(set((r[0], r[1], r[2]) for r in reqs))
        # 40 coils in one FC1 request, registers 10..14 in one FC3 request
        self.assertEqual(fcs, [(1, 100, 40), (3, 10, 5)], reqs)
        self.plc.set("co", 100, [1] * 40)
        [m] = self.wait_mails(1)
        self.assertIn("40", m["Subject"])
        body = m.get_content()
        for i in range(40):
            self.assertIn("bit%d" % i, body)
        self.settle()
        self.assertEqual(len(self.mails()), 1, "one mail for the whole burst")


class Thresholds(AlarmTest):
    rules = """\
  - name: tank_temp_high
    device: maxi1
    holding_register: 10
    type: float32
    order: CDAB
    unit: "°C"
    above: 80.0
    deadband: 2.0
    off_delay: 0s
    subject: "{name} {state} {value}{unit}"
"""

    def regs_cdab(self, value):
        import struct
        hi, lo = struct.unpack(">HH", struct.pack(">f", value))
        return [lo, hi]

    def test_float32_cdab_with_deadband(self):
        self.plc.set("hr", 10, self.regs_cdab(20.0))
        self.start()
        self.plc.set("hr", 10, self.regs_cdab(81.5))
        [m] = self.wait_mails(1)
        self.assertIn("tank_temp_high ACTIVE 81.5", m["Subject"])
        # flapping inside the deadband: 79..81 never clears nor re-raises
        for v in (79.0, 80.5, 78.5, 81.0, 79.5):
            self.plc.set("hr", 10, self.regs_cdab(v))
            self.settle(3)
        self.assertEqual(len(self.mails()), 1)
        self.assertIn("\n81.5 °C (limit: above 80, clears at 78)\n", text(m))
        self.plc.set("hr", 10, self.regs_cdab(77.0))
        msgs = self.wait_mails(2)
        self.assertEqual(msgs[1]["Subject"], "Re: " + m["Subject"])
        self.assertRegex(first_line(msgs[1]), STATE_LINE % "CLEARED")


class AckRepeatEscalate(AlarmTest):
    rules = """\
  - name: latched
    device: maxi1
    coil: 1
    latch: true
    ack: {coil: 2}
    subject: "{name} {state}"
  - name: nagging
    device: maxi1
    discrete_input: 5
    repeat: 1s
    escalate: {after: 2s, to: [maint]}
    subject: "{name} {state}"
"""

    def test_latch_and_ack_coil(self):
        self.start()
        self.plc.set("co", 1, 1)
        self.wait_mails(1, "latched")
        self.plc.set("co", 1, 0)
        self.settle()
        self.assertEqual(len(self.mails("latched")), 1, "latched: no CLEARED before ack")
        self.assertIn("state=ACTIVE", self.daemon.cli("status").stdout)
        self.plc.set("co", 2, 1)  # rising edge of the ack bit
        msgs = self.wait_mails(2, "latched")
        self.assertRegex(first_line(msgs[1]),
                         STATE_LINE % "ACKNOWLEDGED" + " by the ack bit coil 2$")
        wait_until(lambda: "latched state=ACTIVE" not in self.daemon.cli("status").stdout,
                   timeout=10, what="latched alarm released")

    def test_reminders_stop_after_ack_and_escalation_once(self):
        self.start()
        self.plc.set("di", 5, 1)
        wait_until(lambda: any(first_line(m).startswith("REMINDER at ")
                               for m in self.mails("nagging")),
                   timeout=15, what="a REMINDER")
        esc = wait_until(lambda: [m for m in self.mails("nagging") if "maint@example.com" in (m["To"] or "")],
                         timeout=15, what="the escalation mail")
        self.assertEqual(len(esc), 1)
        self.assertEqual(self.daemon.cli("ack", "nagging").stdout, "nagging acknowledged\n")
        self.assertIn("acknowledged=yes", self.daemon.cli("status").stdout)
        # the mail says who: the user the control socket saw
        import pwd
        who = pwd.getpwuid(os.getuid()).pw_name
        wait_until(lambda: any(re.search(STATE_LINE % "ACKNOWLEDGED" + " by %s via modbus2mail "
                                         "ack$" % re.escape(who), first_line(m))
                               for m in self.mails("nagging")),
                   timeout=15, what="the ACKNOWLEDGED mail naming %s" % who)
        self.settle()
        n = len(self.mails("nagging"))
        self.settle(25)  # 2.5 s: more than two repeat periods
        self.assertEqual(len(self.mails("nagging")), n, "no REMINDER after ack")
        self.assertEqual(len([m for m in self.mails("nagging") if "maint@example.com" in (m["To"] or "")]), 1)


class ChatterShelve(AlarmTest):
    rules = """\
  - name: flappy
    device: maxi1
    coil: 7
    off_delay: 0s
    notify_clear: false
    chatter: {raises: 3, within: 1m, shelve: 30m}
    subject: "{name} {state}"
  - name: manual
    device: maxi1
    coil: 8
    subject: "{name} {state}"
"""

    def test_chattering_bit_is_shelved_with_one_mail(self):
        self.start()
        for _ in range(6):
            self.plc.set("co", 7, 1)
            wait_until(lambda: "flappy state=ACTIVE" in self.daemon.cli("status").stdout
                       or "shelved=yes" in self.daemon.cli("status").stdout, timeout=10,
                       what="flappy raised")
            self.plc.set("co", 7, 0)
            wait_until(lambda: "flappy state=ACTIVE" not in self.daemon.cli("status").stdout,
                       timeout=10, what="flappy back to normal")
        self.settle()
        msgs = self.mails("flappy")
        shelved = [m for m in msgs if "shelved" in (m["Subject"] + m.get_content()).lower()]
        self.assertEqual(len(shelved), 1, [m["Subject"] for m in msgs])
        self.assertLessEqual(len(msgs), 4, "at most 3 raises + 1 shelve notice")
        self.assertRegex(self.daemon.cli("status").stdout, r"flappy .*shelved=yes")

    def until(self, minutes):
        """What shelve prints for a shelf of that many minutes from now: HH:MM
        (either side of a minute boundary while the command runs)."""
        import datetime
        now = datetime.datetime.now()
        return [(now + datetime.timedelta(minutes=minutes, seconds=s)).strftime("%H:%M")
                for s in (-5, 0, 5)]

    def test_manual_shelve_and_unshelve(self):
        self.start()
        out = self.daemon.cli("shelve", "manual", "10m", "--reason", "sensor swap").stdout
        self.assertRegex(out, r"^manual shelved until \d\d:\d\d\n$")
        self.assertIn(out[len("manual shelved until "):-1], self.until(10))
        st = self.daemon.cli("status").stdout
        self.assertRegex(st, r"manual .*shelved=yes")
        self.assertNotIn("shelved_until", st.split("alarms:")[0], "only one rule is shelved")
        self.plc.set("co", 8, 1)
        self.settle()
        self.assertEqual(self.mails("manual"), [])
        self.assertEqual(self.daemon.cli("shelve", "manual", "0").stdout, "manual unshelved\n")
        self.wait_mails(1, "manual")

    def test_device_shelve_and_unshelve(self):
        """Maintenance on one machine: every alarm of the device, one command."""
        self.start()
        out = self.daemon.cli("shelve", "maxi1", "2h", "--reason", "motor change").stdout
        self.assertRegex(out, r"^every alarm of maxi1 shelved until \d\d:\d\d\n$")
        self.assertIn(out.split(" until ")[1][:-1], self.until(120))
        st = self.daemon.cli("status").stdout
        self.assertRegex(st, r"maxi1 link=up .* shelved_until=\S+\n")
        for name in ("flappy", "manual", "maxi1.link"):
            self.assertRegex(st, r"  %s state=\S+ .*shelved=yes .*reason=\"motor change\"" %
                             re.escape(name))
        self.plc.set("co", 7, 1)
        self.plc.set("co", 8, 1)
        self.settle()
        self.assertEqual(self.mails(), [], "a shelved device mails nothing")
        self.assertEqual(self.daemon.cli("unshelve", "maxi1").stdout,
                         "every alarm of maxi1 unshelved\n")
        self.wait_mails(1, "manual")
        self.wait_mails(1, "flappy")
        st = self.daemon.cli("status").stdout
        self.assertNotIn("shelved_until", st)
        self.assertNotIn("shelved=yes", st)
        bad = self.daemon.cli("unshelve", "maxi2", check=False)
        self.assertEqual((bad.returncode, bad.stdout), (1, ""))
        self.assertEqual(bad.stderr, "modbus2mail unshelve: no rule or device 'maxi2' in %s\n"
                         % self.cfg)


class MailOkCoil(AlarmTest):
    device_extra = "    mail_ok_coil: 200\n"
    rules = """\
  - name: pump
    device: maxi1
    coil: 12
"""

    def test_mail_ok_coil_follows_relay_health(self):
        self.start()
        wait_until(lambda: self.plc.get("co", 200) == [1], timeout=10, what="mail_ok_coil=1")
        self.catcher.tempfail = True
        self.plc.set("co", 12, 1)
        wait_until(lambda: self.plc.get("co", 200) == [0], timeout=20, what="mail_ok_coil=0")
        self.assertEqual(self.daemon.cli("flush").stdout,
                         "flush: 1 message queued for delivery now\n")
        self.catcher.tempfail = False
        self.daemon.cli("flush")
        self.wait_mails(1, "pump")
        wait_until(lambda: self.plc.get("co", 200) == [1], timeout=20, what="mail_ok_coil back to 1")


if __name__ == "__main__":
    EXE = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
