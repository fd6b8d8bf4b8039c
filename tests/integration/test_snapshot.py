#!/usr/bin/python3
"""`modbus2mail status`, the web page, /metrics and /healthz read the
daemon's snapshot of the pollers, whose names point into the loaded
configuration. Real peers: the daemon, a pymodbus PLC, an aiosmtpd
provider.

StatusFresh: status is answered from a snapshot taken when the request
arrived (what a mail just told of, an ack or a shelf just made shows).
StalledBus (the test-hooks build, modbus2mail-hooks): a hung bus thread
holds up no reader, and /healthz says so.
ReloadHammer: SIGHUP every ~100 ms with files that add, remove and rename
rules and change the default recipients and a rule's subject, one that
does not load and one that loads but does not start (its web port taken:
the daemon goes back to the running one), while threads fetch /metrics,
the overview, /config, /healthz and `status` and the PLC raises and clears
an alarm that gets acknowledged. Meant for the ASan/UBSan build too
(asan_suites.py): each reload frees the old configuration. The daemon
must survive, stop cleanly (no leak report) and end on the last file.
ReloadRollback: a file that does not start leaves the alarms as they were.

usage: test_snapshot.py MODBUS2MAIL_EXE [unittest names...]
"""
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sys
import threading
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from harness import Daemon, free_port, tmpdir, wait_until  # noqa: E402
from plc_sim import PlcSim  # noqa: E402
from smtp_provider import Provider  # noqa: E402

EXE = None

CONFIG = """\
hostname: gw-snap
spool_dir: {spool}
stall_grace: 1s
smtp:
  url: smtp://127.0.0.1:{smtp_port}
  tls: none
  from: "Line 3 Alarms <alarms@example.com>"
  retry: {{initial: 1s, max: 2s, give_up_after: 1h}}
http:
  listen: ["127.0.0.1:{http_port}"]
history: {{keep: 1h}}
devices:
{devices}
defaults:
  to: {default_to}
rules:
  - name: pump1_fault
    device: maxi1
    coil: 0
{pump_subject}
{rules}
"""
DEVICE = ("  - name: %s\n    host: 127.0.0.1\n    port: %d\n"
          "    poll_interval: %s\n    timeout: 300ms\n")


def get(url, timeout=5):
    """(status, body) of a GET; raises when there is no answer in time."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class SnapshotTest(unittest.TestCase):
    env = None

    def setUp(self):
        self.work = tmpdir("m2m-snap-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.smtp_port, self.http_port = free_port(), free_port()
        self.provider = Provider(self.smtp_port, tls="none").start()
        self.addCleanup(self.provider.stop)
        self.plc = PlcSim()
        self.addCleanup(self.plc.stop)
        self.prepare()
        self.cfg = os.path.join(self.work, "m2m.yaml")
        self.write(0)
        self.daemon = Daemon(EXE, self.cfg, env=self.env).start()
        self.addCleanup(self.daemon.stop)
        self.base = "http://127.0.0.1:%d" % self.http_port

    def prepare(self):
        """Hook: the PLC before the daemon starts."""

    def config(self, gen, http_port=None):
        """The file: maxi1 with pump1_fault (ReloadHammer: of generation
        gen)."""
        return CONFIG.format(spool=os.path.join(self.work, "spool"),
                             smtp_port=self.smtp_port, plc_port=self.plc.port,
                             http_port=self.http_port,
                             devices=DEVICE % ("maxi1", self.plc.port, "100ms"),
                             default_to="[ops@example.com]", pump_subject="",
                             rules="")

    def write(self, gen, text=None):
        tmp = self.cfg + ".new"
        with open(tmp, "w") as f:
            f.write(text if text is not None else self.config(gen))
        os.replace(tmp, self.cfg)

    def mails(self, state):
        return sum(1 for m in self.provider.messages()
                   if m.get_body(("plain",)).get_content().startswith(state + " at "))

    def status_line(self):
        """status's line of pump1_fault, "" when it has none (NORMAL)."""
        out = self.daemon.cli("status", timeout=5).stdout
        m = re.search(r"^  pump1_fault .*$", out, re.M)
        return m.group(0) if m else ""


class StatusFresh(SnapshotTest):
    def test_status_after_mail_ack_and_shelf(self):
        # three rounds: a status from the last tick (up to 1 s old) would
        # miss the alarm the mail just told of nearly every time
        for i in range(1, 4):
            self.plc.set("co", 0, [1])
            wait_until(lambda: self.mails("ACTIVE") == i, timeout=30, interval=0.01,
                       what="ACTIVE mail %d" % i)
            self.assertIn("state=ACTIVE", self.status_line())
            self.daemon.cli("ack", "pump1_fault")
            self.assertIn("acknowledged=yes", self.status_line())
            self.daemon.cli("shelve", "pump1_fault", "1h", "--reason", "round %d" % i)
            self.assertRegex(self.status_line(), r'shelved=yes shelved_until=\S+ '
                             r'reason="round %d"' % i)
            # the web page shows the shelf as soon as the shelve answers
            self.assertIn("</span> round %d" % i, get(self.base + "/")[1])
            self.daemon.cli("unshelve", "pump1_fault")
            self.assertIn("shelved=no", self.status_line())
            self.plc.set("co", 0, [0])
            wait_until(lambda: self.mails("CLEARED") == i, timeout=30, interval=0.01,
                       what="CLEARED mail %d" % i)
            self.assertEqual(self.status_line(), "")


    def test_status_sent_late_on_an_open_connection(self):
        """The snapshot is taken when the request line arrives, not when
        the client connected (each wake of the daemon's loop also took
        one: a status then told of the time of the connect)."""
        for i in range(1, 3):
            s = socket.socket(socket.AF_UNIX)
            s.settimeout(10)
            self.addCleanup(s.close)
            s.connect(os.path.join(self.work, "spool", "control.sock"))
            self.plc.set("co", 0, [i % 2])
            state = "ACTIVE" if i % 2 else "CLEARED"
            wait_until(lambda: self.mails(state) == 1, timeout=30, interval=0.01,
                       what="%s mail" % state)
            s.sendall(b"status\n")
            out = b""
            while not out.endswith(b"\n") or b"queue:" not in out:
                b = s.recv(65536)
                if not b:
                    break
                out += b
            line = re.search(r"^  pump1_fault .*$", out.decode(), re.M)
            if i % 2:
                self.assertIn("state=ACTIVE", line.group(0) if line else out.decode())
            else:
                self.assertIsNone(line, out.decode())


class StalledBus(SnapshotTest):
    """The test-hooks build hangs every bus thread after its first turn
    (MODBUS2MAIL_TEST_STALL_POLLER): status, acks and the web page go on
    answering at once, and /healthz turns 503 once the thread counts as
    stalled (its longest cycle + stall_grace)."""
    env = {"MODBUS2MAIL_TEST_STALL_POLLER": "1"}

    def prepare(self):
        self.plc.set("co", 0, [1])      # active in the one turn it takes

    def timed(self, fn, *args):
        t0 = time.monotonic()
        r = fn(*args)
        self.assertLess(time.monotonic() - t0, 2.0, "%s took too long" % fn.__name__)
        return r

    def test_status_and_healthz_answer_while_a_bus_thread_hangs(self):
        t0 = time.monotonic()
        wait_until(lambda: "stalled by MODBUS2MAIL_TEST_STALL_POLLER" in
                   self.daemon.logtext(), timeout=20, what="the bus thread hangs")
        self.provider.wait_count(1)
        self.assertIn("state=ACTIVE", self.timed(self.status_line))
        self.timed(self.daemon.cli, "ack", "pump1_fault")
        self.assertIn("acknowledged=yes", self.timed(self.status_line))
        self.assertIn("<td>acknowledged", self.timed(get, self.base + "/")[1])

        def unhealthy():
            status, body = self.timed(get, self.base + "/healthz")
            return status == 503 and json.loads(body)["threads_alive"] is False
        wait_until(unhealthy, timeout=40, interval=0.5, what="/healthz 503")
        self.assertGreater(time.monotonic() - t0, 5)
        # still stalled, still answering
        self.assertIn("link=up", self.timed(self.daemon.cli, "status").stdout)
        self.assertIn("modbus2mail_alarm_active", self.timed(get, self.base + "/metrics")[1])


SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:|"
                       r"UndefinedBehaviorSanitizer")
DURATION = 12.0         # seconds of hammering
PERIOD = 0.1            # between SIGHUPs


class Readers:
    """Threads reading the web server and the control socket until stopped;
    counts the answers (a reader finding the server mid-restart retries)."""

    def __init__(self, base, daemon):
        self.base, self.daemon = base, daemon
        self.stop = threading.Event()
        self.ok = {}
        self.errors = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.web, args=(p,), daemon=True)
                        for p in ("/metrics", "/", "/healthz", "/config")]
        self.threads.append(threading.Thread(target=self.status, daemon=True))

    def count(self, what):
        with self.lock:
            self.ok[what] = self.ok.get(what, 0) + 1

    def web(self, path):
        while not self.stop.is_set():
            try:
                get(self.base + path, timeout=10)   # 503 from /healthz too
                self.count(path)
            except (OSError, http.client.HTTPException):
                time.sleep(0.01)        # the server restarts with the config

    def status(self):
        while not self.stop.is_set():
            r = self.daemon.cli("status", check=False)
            if r.returncode == 0 and "devices:" in r.stdout:
                self.count("status")
            elif r.returncode > 1:      # 98, 99: a sanitizer report
                with self.lock:
                    self.errors.append(r.stderr)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


class ReloadHammer(SnapshotTest):
    def config(self, gen, http_port=None):
        """Generation gen: renamed and removed rules, another default
        recipient list, the pump rule's own subject or the default one."""
        rules = []
        for i in range(gen % 4 + 1):
            rules.append("  - name: level%d_g%d\n    device: maxi%d\n"
                         "    holding_register: %d\n    above: 50\n"
                         % (i, gen % 3, 1 + i % 2, 10 + i))
        if gen % 2:
            rules.append("  - name: door_open\n    device: maxi2\n"
                         "    discrete_input: 3\n    to: [maint@example.com]\n")
        to = ["ops@example.com"] + (["lead@example.com"] if gen % 3 == 1 else [])
        subject = ('    subject: "pump {state} gen %d"' % gen) if gen % 2 else ""
        devices = (DEVICE % ("maxi1", self.plc.port, "100ms") +
                   DEVICE % ("maxi2", self.plc.port, "150ms"))
        return CONFIG.format(spool=os.path.join(self.work, "spool"),
                             smtp_port=self.smtp_port, plc_port=self.plc.port,
                             http_port=http_port or self.http_port,
                             devices=devices, default_to="[%s]" % ", ".join(to),
                             pump_subject=subject, rules="".join(rules))

    def plc_and_acks(self, stop):
        """Raises and clears pump1_fault, acknowledges it while active."""
        on = 0
        while not stop.is_set():
            on ^= 1
            self.plc.set("co", 0, [on])
            self.plc.set("hr", 10, [99 * on])
            time.sleep(0.15)
            if on:
                self.daemon.cli("ack", "pump1_fault", check=False)

    def test_under_readers(self):
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        stop = threading.Event()
        plc = threading.Thread(target=self.plc_and_acks, args=(stop,), daemon=True)
        plc.start()
        gen, t_end = 0, time.monotonic() + DURATION
        with Readers(self.base, self.daemon) as readers:
            while time.monotonic() < t_end:
                gen += 1
                if gen % 10 == 5:       # does not load: kept running
                    self.write(gen, "devices: [\n")
                elif gen % 10 == 8:     # loads, its web port is taken: back
                    self.write(gen, self.config(gen, taken.getsockname()[1]))
                else:
                    self.write(gen)
                self.daemon.signal(signal.SIGHUP)
                time.sleep(PERIOD)
                self.assertIsNone(self.daemon.proc.poll(), self.daemon.logtext()[-4000:])
            stop.set()
            plc.join(timeout=30)
        last = gen + 1                  # a file that loads and starts
        while last % 10 in (5, 8):
            last += 1
        self.write(last)
        self.daemon.signal(signal.SIGHUP)
        want = "level0_g%d" % (last % 3)
        wait_until(lambda: want in self.daemon.cli("status", check=False).stdout or
                   want in fetch(self.base + "/metrics"), timeout=30,
                   what="the last configuration's rules")
        log = self.daemon.logtext()
        self.assertEqual(readers.errors, [])
        self.assertIsNone(SANITIZER.search(log), log[-6000:])
        reloads = log.count("daemon: reloaded")
        sys.stderr.write("%d SIGHUPs, %d reloads, answers %s, %d mails\n"
                         % (gen, reloads, readers.ok, self.provider.count()))
        self.assertGreater(reloads, 10, "reloads: %d of %d SIGHUPs" % (reloads, gen))
        self.assertIn("reload of %s failed" % self.cfg, log)
        self.assertIn("going back to the previous one", log)
        for what in ("/metrics", "/", "/healthz", "/config", "status"):
            self.assertGreater(readers.ok.get(what, 0), 0, "no answer to %s: %s"
                               % (what, readers.ok))
        self.assertGreater(self.provider.count(), 0)
        # the rules of the last file, no rule of an older one
        wait_until(lambda: "level0_g%d" % (last % 3) in fetch(self.base + "/metrics"),
                   timeout=30, what="the last file's rules on /metrics")
        metrics = fetch(self.base + "/metrics")
        for old in {0, 1, 2} - {last % 3}:
            self.assertNotIn("_g%d\"" % old, metrics)
        # a clean exit: no leak report (exit code 0 under LeakSanitizer)
        self.assertEqual(self.daemon.stop(), 0, self.daemon.logtext()[-6000:])
        self.assertIsNone(SANITIZER.search(self.daemon.logtext()))


class ReloadRollback(SnapshotTest):
    def test_file_that_does_not_start_leaves_alarms_alone(self):
        """A new file whose web port is taken does not start: the running
        one goes on with its alarms as they were (acknowledged), its
        pollers never having run (they would have saved the state of the
        rules it renames, dropping the acknowledged alarm)."""
        self.plc.set("co", 0, [1])
        wait_until(lambda: self.mails("ACTIVE") == 1, timeout=30, what="ACTIVE mail")
        self.daemon.cli("ack", "pump1_fault")
        taken = socket.socket()
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        self.write(1, self.config(1).replace("pump1_fault", "pump1_renamed").replace(
            ":%d\"" % self.http_port, ":%d\"" % taken.getsockname()[1]))
        self.daemon.signal(signal.SIGHUP)
        wait_until(lambda: "going back to the previous one" in self.daemon.logtext(),
                   timeout=30, what="the rollback")
        self.plc.log()
        wait_until(lambda: len(self.plc.log()) > 0, timeout=10, what="a poll after it")
        wait_until(lambda: len(self.plc.log()) > 0, timeout=10, what="another poll")
        self.assertIn("acknowledged=yes", self.status_line())
        self.assertNotIn("pump1_renamed", self.daemon.logtext())
        self.assertEqual(self.mails("ACTIVE"), 1)


def fetch(url):
    """The body of a GET, "" when the server is not there (mid-reload)."""
    try:
        return get(url)[1]
    except (OSError, http.client.HTTPException):
        return ""


if __name__ == "__main__":
    EXE = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
