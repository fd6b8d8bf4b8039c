#!/usr/bin/python3
"""Local hardening of the daemon and its commands: root working on the
service user's spool (planted FIFOs and links, foreign owners).

usage: test_hardening.py MODBUS2MAIL_EXE [unittest names, e.g. SpoolTest.test_fifo_in_queue]
Exits 77 (skipped, for meson) when a test needs root and we are not.
"""
import os
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from harness import Daemon, free_port, tmpdir  # noqa: E402

EXE = None
NOBODY = 65534
CONFIG = """\
spool_dir: {spool}
smtp: {{url: "smtp://127.0.0.1:{port}", from: alarms@example.com, tls: none}}
"""
FIFO_ID = "0000000000000FFFFFF0000"


class SpoolTest(unittest.TestCase):
    """The commands root runs (queue, sendmail, recovery at start) on a
    spool the service user can write into."""

    def setUp(self):
        self.dir = tmpdir("m2m-hard-")
        self.spool = os.path.join(self.dir, "spool")
        self.cfg = os.path.join(self.dir, "m2m.yaml")
        with open(self.cfg, "w") as f:
            f.write(CONFIG.format(spool=self.spool, port=free_port()))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args, data=None):
        """One command, bounded: a blocked open() shows up as a timeout."""
        return subprocess.run([EXE] + list(args) + ["-c", self.cfg], input=data,
                              capture_output=True, timeout=10)

    def sendmail(self, subject):
        r = self.cli("sendmail", "ops@example.com", data=b"Subject: %s\n\nx\n" % subject)
        self.assertEqual(r.returncode, 0, r.stderr)

    def queue_dir(self, name=""):
        return os.path.join(self.spool, "queue", name)

    def test_fifo_in_queue(self):
        """A FIFO as queue/X.msg blocks neither queue, sendmail nor the
        daemon's recovery; it is reported and left alone."""
        self.sendmail(b"first")
        os.mkfifo(self.queue_dir(FIFO_ID + ".msg"), 0o600)
        r = self.cli("queue")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"-- 1 message in queue", r.stdout)
        self.assertIn(b"queue/%s.msg is not a regular file" % FIFO_ID.encode(), r.stderr)
        self.sendmail(b"second")
        self.assertIn(b"-- 2 messages in queue", self.cli("queue").stdout)
        d = Daemon(EXE, self.cfg).start()   # recovery ran: it got ready
        d.stop()
        self.assertIn("queue/%s.msg is not a regular file" % FIFO_ID, d.logtext())
        self.assertTrue(os.path.exists(self.queue_dir(FIFO_ID + ".msg")))

    def test_root_on_service_users_spool(self):
        """Root's sendmail hands its message to the spool's owner; what
        that owner plants (links, root's files) is not used; a spool others
        may write into is refused with a clear message."""
        if os.geteuid() != 0:
            self.skipTest("needs root (files of another user)")
        self.sendmail(b"setup")
        for sub in ("", "tmp", "queue", "failed"):
            os.chown(os.path.join(self.spool, sub), NOBODY, NOBODY)
        for name in os.listdir(self.queue_dir()):
            os.chown(self.queue_dir(name), NOBODY, NOBODY)
        secret = os.path.join(self.dir, "secret.msg")
        with open(secret, "w") as f:
            f.write("M2M-SPOOL 1\ncreated 1\nsender root\nrcpt root@localhost\n\nsecret\n")
        os.symlink(secret, self.queue_dir("0000000000000AAAAAA0000.msg"))
        os.lchown(self.queue_dir("0000000000000AAAAAA0000.msg"), NOBODY, NOBODY)
        with open(self.queue_dir("0000000000000BBBBBB0000.msg"), "w") as f:
            f.write("M2M-SPOOL 1\ncreated 1\nsender root\nrcpt x@example.com\n\nx\n")
        self.sendmail(b"by root")
        owners = {n: os.lstat(self.queue_dir(n)).st_uid for n in os.listdir(self.queue_dir())}
        self.assertEqual(sorted(owners.values()), [0, NOBODY, NOBODY, NOBODY], owners)
        r = self.cli("queue")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(b"-- 2 messages in queue", r.stdout)
        self.assertNotIn(b"root@localhost", r.stdout)
        self.assertIn(b"AAAAAA0000.msg is not a regular file of the spool's owner", r.stderr)
        self.assertIn(b"BBBBBB0000.msg is not a regular file of the spool's owner", r.stderr)
        os.chmod(self.queue_dir(), 0o777)
        r = self.cli("queue")
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"queue is group or world writable", r.stderr)
        r = self.cli("sendmail", "ops@example.com", data=b"Subject: refused\n\nx\n")
        self.assertEqual(r.returncode, 75)          # EX_TEMPFAIL, nothing queued
        self.assertEqual(len(os.listdir(self.queue_dir())), 4)


def main():
    global EXE
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    EXE = os.path.abspath(sys.argv[1])
    prog = unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2, exit=False)
    res = prog.result
    if not res.wasSuccessful():
        sys.exit(1)
    sys.exit(77 if res.skipped else 0)


if __name__ == "__main__":
    main()
