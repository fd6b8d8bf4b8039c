#!/usr/bin/python3
"""The mail path as an operator sees it, against the real provider peer
(aiosmtpd, STARTTLS + AUTH, a CA made by openssl), a pymodbus PLC and the
real daemon: a wrong password holds alarm mail (mail_ok_coil 0, status says
why) and the fixed password delivers ACTIVE before CLEARED; one daemon per
spool; one sign of life a day across restarts; a damaged queue file is
moved to failed/ loudly; kill -9 while the path is broken loses nothing.

usage: test_relay_path.py MODBUS2MAIL_EXE [unittest names...]
"""
import email
import email.policy
import os
import re
import shutil
import signal
import smtplib
import socket
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from harness import (AS_NOBODY, NOBODY, Daemon, as_nobody, free_port, tmpdir,  # noqa: E402
                     wait_until)
from plc_sim import PlcSim  # noqa: E402
from smtp_provider import Provider, make_pki  # noqa: E402

EXE = None

CONFIG = """\
hostname: gw-test
spool_dir: {spool}
smtp:
  url: smtp://127.0.0.1:{pport}
  tls: required
  ca_file: {ca}
  username: u
  password_file: {pwfile}
  from: "Line 3 Alarms <alarms@example.com>"
  timeout: 5s
  retry: {{initial: 1s, max: 2s, give_up_after: 1h}}
{extra}devices:
  - name: maxi1
    host: 127.0.0.1
    port: {plc_port}
    poll_interval: 100ms
    timeout: 300ms
    mail_ok_coil: 200
defaults:
  to: [ops@example.com]
rules:
  - name: pump
    device: maxi1
    coil: 12
"""


def subject(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)["Subject"]


def state(raw):
    """ACTIVE, CLEARED...: the first body line (follow-ups reply to the
    first subject, so only the body tells)."""
    m = email.message_from_bytes(raw, policy=email.policy.default)
    return m.get_body(("plain",)).get_content().split()[0]


def header(raw, name):
    return email.message_from_bytes(raw, policy=email.policy.default)[name]


class PathTest(unittest.TestCase):
    extra = ""

    def setUp(self):
        self.dir = tmpdir("m2m-path-")
        self.addCleanup(self.cleanup)
        self.pki = make_pki(os.path.join(self.dir, "pki"))
        self.pport = free_port()
        self.provider = Provider(self.pport, tls="starttls", cert=self.pki.cert,
                                 key=self.pki.key, user="u", password="right").start()
        self.addCleanup(self.provider.stop)
        self.plc = PlcSim()
        self.addCleanup(self.plc.stop)
        self.spool = os.path.join(self.dir, "spool")
        self.pwfile = os.path.join(self.dir, "smtp.secret")
        self.set_password("wrong")
        self.cfg = os.path.join(self.dir, "m2m.yaml")
        with open(self.cfg, "w") as f:
            f.write(CONFIG.format(spool=self.spool, pport=self.pport, ca=self.pki.ca,
                                  pwfile=self.pwfile, plc_port=self.plc.port,
                                  extra=self.extra))
        self.daemon = Daemon(EXE, self.cfg)
        # whichever daemon the test ends with (some tests start another)
        self.addCleanup(lambda: self.daemon.stop())

    def cleanup(self):
        if os.environ.get("M2M_KEEP") or not self._outcome_ok():
            print("kept %s" % self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _outcome_ok(self):
        res = getattr(self, "_outcome", None)
        return not any(e for _, e in getattr(res, "errors", []) if res) if res else True

    def set_password(self, pw):
        with open(self.pwfile, "w") as f:
            f.write(pw + "\n")
        os.chmod(self.pwfile, 0o600)

    def status(self):
        return self.daemon.cli("status").stdout

    def coil(self):
        return self.plc.get("co", 200)

    def queued(self, sub="queue"):
        d = os.path.join(self.spool, sub)
        return sorted(f for f in os.listdir(d) if f.endswith(".msg")) if os.path.isdir(d) else []

    def queued_ids(self):
        """Message-IDs of everything in queue/ now."""
        out = set()
        for f in self.queued():
            try:
                with open(os.path.join(self.spool, "queue", f), "rb") as fp:
                    data = fp.read()
            except FileNotFoundError:
                continue
            m = re.search(rb"^Message-ID: (\S+)\r?$", data, re.M | re.I)
            if m:
                out.add(m.group(1).decode())
        return out

    def sendmail(self, subj):
        r = subprocess.run([EXE, "sendmail", "-c", self.cfg, "ops@example.com"],
                           input="Subject: %s\n\nx\n" % subj, capture_output=True,
                           text=True, timeout=20)
        self.assertEqual(r.returncode, 0, r.stderr)


class MailPath(PathTest):
    # Wrong password: held, coil 0, status says why; fixed + SIGHUP: ACTIVE
    # then CLEARED, threaded, in that order.
    def test_wrong_password_then_fixed_in_order(self):
        self.daemon.start()
        wait_until(lambda: self.coil() == [1], what="mail_ok_coil 1 at start")
        self.plc.set("co", 12, 1)
        wait_until(lambda: self.coil() == [0], what="mail_ok_coil 0 after the AUTH failure")
        st = self.status()
        self.assertRegex(st, r"mail path: BROKEN since \d\d:\d\d — upstream AUTH: 535 5\.7\.8 ")
        self.assertRegex(st, r"queue: 1 messages, oldest \d+s, 0 failed")
        self.plc.set("co", 12, 0)
        wait_until(lambda: "queue: 2 messages" in self.status(), what="CLEARED queued too")
        # held, not failed, and nothing reached the provider
        self.assertEqual(self.queued("failed"), [])
        self.assertEqual(self.provider.count(), 0)
        log = self.daemon.logtext()
        self.assertIn("<3>relay: mail path BROKEN: AUTH: 535 5.7.8", log)
        self.assertRegex(log, r"<4>relay: id=\w+ status=deferred ")
        self.assertNotIn("status=failed", log)
        self.set_password("right")
        self.daemon.signal(signal.SIGHUP)
        self.provider.wait_count(2)
        raws = self.provider.raw()
        self.assertEqual([state(x) for x in raws], ["ACTIVE", "CLEARED"])
        self.assertEqual(header(raws[1], "In-Reply-To"), header(raws[0], "Message-ID"))
        wait_until(lambda: self.coil() == [1], what="mail_ok_coil back to 1")
        self.assertIn("<5>relay: mail path recovered after ", self.daemon.logtext())
        self.assertRegex(self.status(), r"mail path: ok\nqueue: 0 messages, 0 failed")
        self.assertEqual(self.provider.count(), 2)

    # One daemon per spool: the second exits 1 at once and says who runs.
    def test_second_run_refused(self):
        self.set_password("right")
        self.daemon.start()
        t0 = time.monotonic()
        r = subprocess.run([EXE, "run", "-c", self.cfg], capture_output=True, text=True,
                           timeout=20)
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(r.returncode, 1)
        self.assertIn("another modbus2mail (pid %d) is running on %s"
                      % (self.daemon.proc.pid, self.spool), r.stderr)
        # The first one is untouched: its control socket still answers.
        self.assertIn("mail path: ok", self.status())
        self.plc.set("co", 12, 1)
        self.provider.wait_count(1)
        self.assertEqual(state(self.provider.raw()[0]), "ACTIVE")

    # A queue file damaged while the daemon runs: error line, moved to
    # failed/ with its reason, counted; delete brings mail_ok_coil back.
    def test_damaged_entry_moved_to_failed(self):
        self.set_password("right")
        self.daemon.start()
        wait_until(lambda: self.coil() == [1], what="mail_ok_coil 1")
        bad = "0000000000001ABCDEF0001"
        with open(os.path.join(self.spool, "queue", bad + ".msg"), "w") as f:
            f.write("M2M-SPOOL 1\nnonsense\n")
        self.daemon.cli("flush")
        wait_until(lambda: os.path.exists(os.path.join(self.spool, "failed", bad + ".reason")),
                   what="damaged entry in failed/")
        with open(os.path.join(self.spool, "failed", bad + ".reason")) as f:
            self.assertEqual(f.read(), "unreadable spool file: damaged envelope\n")
        self.assertIn("<3>spool: id=%s unreadable spool file: damaged envelope, moved to failed/"
                      % bad, self.daemon.logtext())
        st = self.status()
        self.assertIn("0 messages, 1 failed", st)
        self.assertIn("unreadable: 1 moved to failed/ since start", st)
        wait_until(lambda: self.coil() == [0], what="mail_ok_coil 0 while failed/ holds mail")
        q = self.daemon.cli("queue").stdout
        self.assertIn("(unreadable spool file: damaged envelope)", q)
        self.assertEqual(self.daemon.cli("delete", bad).stdout, "deleted %s\n" % bad)
        wait_until(lambda: self.coil() == [1], what="mail_ok_coil 1 after delete")
        # Without a daemon, retry and delete work on the spool themselves.
        with open(os.path.join(self.spool, "queue", bad + ".msg"), "w") as f:
            f.write("M2M-SPOOL 1\nnonsense\n")
        self.daemon.cli("flush")
        wait_until(lambda: self.queued("failed") == [bad + ".msg"], what="in failed/ again")
        self.daemon.stop()
        r = self.daemon.cli("retry", "--all")
        self.assertEqual(r.stdout, "1 message back in the queue\n")
        self.assertEqual(self.queued(), [bad + ".msg"])
        self.assertEqual(self.daemon.cli("delete", bad).stdout, "deleted %s\n" % bad)
        self.assertEqual(self.queued(), [])

    # kill -9 again and again while the path is broken: every message the
    # listener acknowledged and every alarm mail that reached the spool
    # arrives once the password is fixed.
    def test_kill9_loop_while_broken(self):
        lport = free_port()
        with open(self.cfg, "a") as f:
            f.write("listener:\n  listen: [\"127.0.0.1:%d\"]\n"
                    "  recipient_domains: [example.com]\n" % lport)
        acked, spooled = set(), set()
        n = 0
        for k in range(4):
            self.daemon.start()
            if k == 0:
                wait_until(lambda: "mail path: BROKEN" in self.status() or
                           self.coil() == [1], what="daemon up")
            self.plc.set("co", 12, (k + 1) % 2)     # ACTIVE, CLEARED, ...
            for _ in range(5):
                n += 1
                with smtplib.SMTP("127.0.0.1", lport, timeout=10) as s:
                    s.sendmail("device@example.com", ["ops@example.com"],
                               "Subject: kill9 %d\r\n\r\nbody\r\n" % n)
                acked.add("kill9 %d" % n)
            wait_until(lambda: len(self.queued()) >= n + k + 1, what="alarm mail %d spooled" % k)
            self.daemon.kill9()
            spooled |= self.queued_ids()
            self.assertEqual(self.queued("failed"), [], "nothing failed while the path was broken")
        self.assertEqual(self.provider.count(), 0)
        self.set_password("right")
        self.daemon.start()
        wait_until(lambda: acked <= {subject(r) for r in self.provider.raw()},
                   timeout=60, what="every acknowledged message delivered")
        wait_until(lambda: spooled <= {header(r, "Message-ID") for r in self.provider.raw()},
                   timeout=60, what="every spooled message delivered")
        wait_until(lambda: self.queued() == [], what="queue empty")
        self.assertEqual(self.queued("failed"), [])
        self.assertEqual(os.listdir(os.path.join(self.spool, "tmp")), [])
        got = [header(r, "Message-ID") for r in self.provider.raw()]
        print("acked=%d spooled=%d delivered=%d duplicates=%d"
              % (len(acked), len(spooled), len(got), len(got) - len(set(got))))


class SignOfLife(PathTest):
    extra = "sign_of_life: {at: \"00:00\", to: [ops@example.com]}\n"

    # Sent once a day: the first start after `at` sends it, three restarts
    # the same day do not.
    def test_three_restarts_one_sign_of_life(self):
        self.set_password("right")
        for k in range(4):
            self.daemon.start()
            # The daemon answers control requests only after its first
            # tick, which spools the sign of life if it is due; a marker
            # queued after that goes out after it: its arrival proves
            # whether there was one.
            self.status()
            self.sendmail("marker %d" % k)
            wait_until(lambda: "marker %d" % k in [subject(x) for x in self.provider.raw()],
                       what="marker %d" % k)
            self.daemon.stop()
        subjects = [subject(x) for x in self.provider.raw()]
        sol = [s for s in subjects if "daily sign of life" in s]
        self.assertEqual(len(sol), 1, subjects)
        self.assertEqual(subjects.index(sol[0]), 0)
        with open(os.path.join(self.spool, "sign_of_life")) as f:
            self.assertEqual(f.read(), time.strftime("%Y-%m-%d"))


class Stuck(PathTest):
    # A message older than smtp.stuck_after: mail_ok_coil 0, status and
    # systemd's STATUS= say so, while the session still hangs (a provider
    # that accepts the connection and never greets).
    def test_stuck_message_clears_mail_ok(self):
        silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        self.addCleanup(silent.close)
        with open(self.cfg) as f:
            text = f.read()
        text = text.replace("smtp://127.0.0.1:%d" % self.pport,
                            "smtp://127.0.0.1:%d" % silent.getsockname()[1])
        text = text.replace("  timeout: 5s\n", "  timeout: 60s\n  stuck_after: 1s\n")
        with open(self.cfg, "w") as f:
            f.write(text)
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(os.path.join(self.dir, "notify.sock"))
        notify.setblocking(False)
        self.addCleanup(notify.close)
        self.daemon = Daemon(EXE, self.cfg,
                             env={"NOTIFY_SOCKET": os.path.join(self.dir, "notify.sock")})
        self.daemon.start()
        wait_until(lambda: self.coil() == [1], what="mail_ok_coil 1")
        self.plc.set("co", 12, 1)
        wait_until(lambda: self.coil() == [0], timeout=15, what="mail_ok_coil 0 when stuck")
        self.assertRegex(self.status(), r"queue: 1 messages, oldest \d+s "
                         r"\(stuck: older than smtp.stuck_after\), 0 failed")
        seen = []

        def status_stuck():
            try:
                while True:
                    seen.extend(notify.recv(4096).decode().splitlines())
            except BlockingIOError:
                pass
            return "STATUS=devices 1/1 up, 1 active alarms, 1 queued, stuck" in seen
        wait_until(status_stuck, what="STATUS= with stuck")
        # still the first session: the path is not known to be broken
        self.assertNotIn("mail path BROKEN", self.daemon.logtext())
        self.assertIn("mail path: ok", self.status())


class CrossUser(PathTest):
    """sendmail and the daemon as different users: root's sendmail with the
    daemon running unprivileged (as the unit's DynamicUser does), and an
    unprivileged sendmail with the daemon running as root."""
    extra = ""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (setpriv to nobody)")
        super().setUp()
        # nobody must reach the config, the CA and its own files
        os.chmod(self.dir, 0o755)
        for f in (self.cfg, self.pki.ca):
            os.chmod(f, 0o644)
        os.chmod(os.path.dirname(self.pki.ca), 0o755)

    def sendmail_as(self, prefix, subj):
        return subprocess.run(prefix + [EXE, "sendmail", "-c", self.cfg, "ops@example.com"],
                              input="Subject: %s\n\nx\n" % subj, capture_output=True,
                              text=True, timeout=60)

    def test_root_sendmail_unprivileged_daemon(self):
        self.set_password("right")
        os.chown(self.pwfile, NOBODY, NOBODY)
        os.makedirs(self.spool, 0o700)
        os.chown(self.spool, NOBODY, NOBODY)
        self.daemon = Daemon(as_nobody(EXE, self.dir), self.cfg)
        self.daemon.start()
        self.assertEqual(os.stat(os.path.join(self.spool, "queue")).st_uid, NOBODY)
        r = self.sendmail_as([], "from root, daemon up")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.provider.wait_count(1)
        self.daemon.stop()
        # No daemon: queued durably, for the spool's owner; the next start
        # relays it.
        r = self.sendmail_as([], "from root, daemon down")
        self.assertEqual(r.returncode, 0, r.stderr)
        owners = {os.stat(os.path.join(self.spool, "queue", f)).st_uid for f in self.queued()}
        self.assertEqual(owners, {NOBODY})
        self.daemon.start()
        self.provider.wait_count(2)
        self.assertEqual([subject(x) for x in self.provider.raw()],
                         ["from root, daemon up", "from root, daemon down"])
        wait_until(lambda: self.queued() == [], what="queue empty")
        self.assertNotIn("<3>", self.daemon.logtext())

    def test_unprivileged_sendmail_root_daemon(self):
        self.set_password("right")
        lport = free_port()
        with open(self.cfg, "a") as f:
            f.write("listener:\n  listen: [\"127.0.0.1:%d\"]\n" % lport)
        # No daemon, a spool nobody may not write: refused, nothing queued.
        r = self.sendmail_as(AS_NOBODY, "nobody, daemon down")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertRegex(r.stderr, r"Permission denied, and the daemon's listener at "
                         r"smtp://127\.0\.0\.1:%d did not take it" % lport)
        self.daemon.start()
        self.assertEqual(os.stat(self.spool).st_mode & 0o777, 0o700)
        r = self.sendmail_as(AS_NOBODY, "nobody, daemon up")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.provider.wait_count(1)
        m = email.message_from_bytes(self.provider.raw()[0], policy=email.policy.default)
        self.assertEqual(m["Subject"], "nobody, daemon up")
        self.assertIn("with local", str(m))
        self.assertEqual(self.provider.count(), 1)


if __name__ == "__main__":
    EXE = os.path.abspath(sys.argv[1])
    res = unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2, exit=False).result
    # 77: meson counts a skipped test as skipped, not passed
    sys.exit(1 if not res.wasSuccessful() else 77 if res.skipped else 0)
