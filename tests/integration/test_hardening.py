#!/usr/bin/python3
"""Local hardening of the daemon and its commands: root working on the
service user's spool (planted FIFOs and links, foreign owners); a slow
control-socket client never holds signals or the systemd watchdog;
`sendmail` input is bounded by the maximum message size.

usage: test_hardening.py MODBUS2MAIL_EXE [unittest names, e.g. SpoolTest.test_fifo_in_queue]
Exits 77 (skipped, for meson) when a test needs root and we are not.
"""
import os
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from harness import Daemon, free_port, tmpdir, wait_until  # noqa: E402
from test_systemd import NotifySocket  # noqa: E402

EXE = None
NOBODY = 65534
CONFIG = """\
spool_dir: {spool}
smtp: {{url: "smtp://127.0.0.1:{port}", from: alarms@example.com, tls: none}}
"""
FIFO_ID = "0000000000000FFFFFF0000"


class WorkDir(unittest.TestCase):
    """A temporary directory with the spool and a config (no devices)."""
    extra_config = ""

    def setUp(self):
        self.dir = tmpdir("m2m-hard-")
        self.spool = os.path.join(self.dir, "spool")
        self.cfg = os.path.join(self.dir, "m2m.yaml")
        with open(self.cfg, "w") as f:
            f.write(CONFIG.format(spool=self.spool, port=free_port()) + self.extra_config)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)


class SpoolTest(WorkDir):
    """The commands root runs (queue, sendmail, recovery at start) on a
    spool the service user can write into."""

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
        self.assertIn("<3>spool: queue/%s.msg is not a regular file" % FIFO_ID, d.logtext())
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


class Dribbler(threading.Thread):
    """A control-socket client sending one byte every 1.5 s (never a whole
    request line) until the daemon closes on it or 10 s have passed."""

    def __init__(self, path):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.connected = time.monotonic()
        self.sent = 0
        self.closed = None

    def run(self):
        try:
            while time.monotonic() - self.connected < 10:
                self.sock.send(b"s")
                self.sent += 1
                readable, _, _ = select.select([self.sock], [], [], 1.5)
                if readable and self.sock.recv(64) == b"":
                    break
        except OSError:
            pass
        self.closed = time.monotonic()
        self.sock.close()


class CtlTest(WorkDir):
    """The daemon's main loop (signals, watchdog pings) against a client
    that dribbles its request into control.sock."""

    def setUp(self):
        super().setUp()
        self.notify = NotifySocket(os.path.join(self.dir, "notify.sock"))
        self.daemon = Daemon(EXE, self.cfg, env={"NOTIFY_SOCKET": self.notify.path,
                                                 "WATCHDOG_USEC": "1000000"}).start()

    def tearDown(self):
        self.daemon.stop()
        self.notify.close()
        super().tearDown()

    def dribbler(self):
        """Connected, and past its second byte: the daemon surely saw it."""
        d = Dribbler(os.path.join(self.spool, "control.sock"))
        d.start()
        wait_until(lambda: d.sent >= 2, timeout=5, what="the dribbler's second byte")
        return d

    def test_dribbling_client(self):
        """SIGHUP and SIGTERM are handled at once and the watchdog keeps
        pinging while a client dribbles; the client is dropped after 2 s."""
        d = self.dribbler()
        t = time.monotonic()
        self.daemon.signal(signal.SIGHUP)
        wait_until(lambda: "daemon: reloaded" in self.daemon.logbytes_since_start(),
                   timeout=10, what="reload")
        self.assertLess(time.monotonic() - t, 0.5, "SIGHUP waited for the client")
        wait_until(lambda: d.closed is not None, timeout=10, what="client dropped")
        self.assertTrue(1.9 <= d.closed - d.connected <= 3.0, d.closed - d.connected)
        self.assertIn("ctl: client did not finish within 2000ms", self.daemon.logtext())
        pings = [p for p in self.notify.times("WATCHDOG=1") if d.connected <= p <= d.closed]
        gaps = [b - a for a, b in zip([d.connected] + pings, pings + [d.closed])]
        self.assertTrue(len(pings) >= 3 and max(gaps) < 0.9, gaps)
        self.assertEqual(self.daemon.cli("status").returncode, 0)

        d = self.dribbler()
        t = time.monotonic()
        self.daemon.signal(signal.SIGTERM)
        self.daemon.proc.wait(timeout=10)
        self.assertLess(time.monotonic() - t, 1.0, "SIGTERM waited for the client")
        self.assertEqual(self.daemon.proc.returncode, 0)


class SendmailTest(WorkDir):
    """`modbus2mail sendmail` reads no more than the size limit allows."""
    extra_config = ("listener: {listen: [\"127.0.0.1:%d\"], max_message_size: 1MiB}\n"
                    % free_port())

    def sendmail(self, data):
        """Exit code and stderr of sendmail fed data, its heap and other
        private data limited to 32 MiB (it has 1 MiB to hold)."""
        def limit():
            resource.setrlimit(resource.RLIMIT_DATA, (32 << 20, 32 << 20))
        r = subprocess.run([EXE, "sendmail", "-c", self.cfg, "ops@example.com"],
                           input=data, capture_output=True, timeout=30, preexec_fn=limit)
        return r.returncode, r.stderr

    def test_huge_line_bounded(self):
        """A 64 MiB line (and 64 MiB of short lines) against a 1 MiB
        limit: EX_DATAERR with a clear message within 32 MiB of memory,
        nothing queued; a message that fits goes through."""
        for data in (b"Subject: big\n\n" + b"x" * (64 << 20),
                     b"Subject: lines\n\n" + b"y\n" * (32 << 20)):
            code, err = self.sendmail(data)
            self.assertEqual(code, 65, err)             # EX_DATAERR
            self.assertIn(b"message larger than 1048576 octets "
                          b"(listener.max_message_size), nothing queued", err)
            self.assertFalse(os.path.exists(self.spool))   # not even opened
        code, err = self.sendmail(b"Subject: fits\n\n" + b"z" * (1000 << 10))
        self.assertEqual(code, 0, err)
        self.assertEqual(len(os.listdir(os.path.join(self.spool, "queue"))), 1)

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
