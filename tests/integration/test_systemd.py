#!/usr/bin/python3
"""systemd notify protocol of `modbus2mail run` (SPEC §8), without systemd:
the test owns an AF_UNIX datagram socket, passes it as NOTIFY_SOCKET (and
WATCHDOG_USEC), runs the real daemon against a pymodbus PLC simulator and an
aiosmtpd catcher, and checks what arrives and when.

usage: test_systemd.py MODBUS2MAIL_EXE SOURCE_ROOT [unittest names...]
"""
import os
import signal
import socket
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from catcher import Catcher  # noqa: E402
from harness import Daemon, free_port, tmpdir, wait_until  # noqa: E402
from plc_sim import PlcSim  # noqa: E402

EXE = None
SRC = None

CONFIG = """\
hostname: gw-test
spool_dir: {spool}
stall_grace: {stall_grace}
smtp:
  url: smtp://127.0.0.1:{smtp_port}
  tls: none
  from: alarms@example.com
  timeout: 2s
  retry: {{initial: 1s, max: 2s, give_up_after: 1h}}
{listener}
devices:
  - name: plc
    host: 127.0.0.1
    port: {plc_port}
    poll_interval: {poll_interval}
    timeout: {timeout}
defaults:
  to: [ops@example.com]
rules:
  - name: {rule}
    device: plc
    coil: 12
"""

LISTENER = """\
listener:
  listen: ["127.0.0.1:{port}"]
  allow: ["127.0.0.0/8"]
"""


def listener_in_tree():
    """The port-25 listener exists once src/smtpd.c is there and daemon.c
    starts it; from then on READY=1 must wait for its sockets too."""
    try:
        with open(os.path.join(SRC, "src", "daemon.c")) as f:
            daemon_c = f.read()
    except OSError:
        return False
    return (os.path.exists(os.path.join(SRC, "src", "smtpd.c"))
            and "smtpd_start(" in daemon_c)


class NotifySocket:
    """The systemd side of sd_notify(3): a datagram socket and a log of
    (monotonic time, message) for every datagram, read by a thread. Hooks
    run in that thread right when a message arrives (to probe the daemon at
    the moment it claims to be ready)."""

    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.2)
        self.lock = threading.Lock()
        self.msgs = []
        self.hooks = {}
        self.running = True
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while self.running:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            t = time.monotonic()
            for line in data.decode("utf-8", "replace").split("\n"):
                if not line:
                    continue
                hook = self.hooks.pop(line, None)
                probe = hook() if hook else None
                with self.lock:
                    self.msgs.append((t, line, probe))

    def close(self):
        self.running = False
        self.thread.join(timeout=5)
        self.sock.close()
        os.unlink(self.path)

    def messages(self, since=0.0):
        with self.lock:
            return [m for m in self.msgs if m[0] >= since]

    def lines(self, since=0.0):
        return [m[1] for m in self.messages(since)]

    def times(self, line, since=0.0):
        return [m[0] for m in self.messages(since) if m[1] == line]

    def wait_for(self, pred, since=0.0, timeout=20, what="notify message"):
        """First message after `since` whose line satisfies pred."""
        def found():
            for m in self.messages(since):
                if pred(m[1]):
                    return m
            return None
        return wait_until(found, timeout=timeout, what=what)


class NotifyTest(unittest.TestCase):
    poll_interval = "100ms"
    timeout = "300ms"
    watchdog_usec = 2000000
    stall_grace = "30s"
    env = {}

    def setUp(self):
        self.work = tmpdir("m2m-sd-")
        self.spool = os.path.join(self.work, "spool")
        self.smtp_port = free_port()
        self.catcher = Catcher(self.smtp_port).start()
        self.addCleanup(self.catcher.stop)
        self.plc = PlcSim()
        self.addCleanup(self.plc.stop)
        self.listen_port = free_port() if listener_in_tree() else None
        self.cfg = os.path.join(self.work, "m2m.yaml")
        self.write_config()
        self.notify = NotifySocket(os.path.join(self.work, "notify"))
        self.addCleanup(self.notify.close)
        env = {"NOTIFY_SOCKET": self.notify.path,
               "WATCHDOG_USEC": str(self.watchdog_usec)}
        env.update(self.env)
        self.daemon = Daemon(EXE, self.cfg, env=env)
        self.addCleanup(self.stop_daemon)

    def write_config(self, rule="pump_fault", text=None):
        listener = (LISTENER.format(port=self.listen_port)
                    if self.listen_port else "")
        with open(self.cfg, "w") as f:
            f.write(text if text is not None else CONFIG.format(
                spool=self.spool, smtp_port=self.smtp_port, plc_port=self.plc.port,
                listener=listener, poll_interval=self.poll_interval,
                timeout=self.timeout, rule=rule, stall_grace=self.stall_grace))

    def stop_daemon(self):
        rc = self.daemon.stop()
        if not self.daemon.log.closed:
            self.daemon.log.close()
        if rc not in (0, None):
            print(self.daemon.logtext(), file=sys.stderr)

    def probe_ready(self):
        """What is up at the instant READY=1 arrives."""
        probe = {"control": os.path.exists(os.path.join(self.spool, "control.sock"))}
        if self.listen_port:
            try:
                with socket.create_connection(("127.0.0.1", self.listen_port),
                                              timeout=2):
                    probe["listener"] = True
            except OSError:
                probe["listener"] = False
        return probe

    def start(self):
        self.notify.hooks["READY=1"] = self.probe_ready
        self.t0 = time.monotonic()
        self.daemon.start(wait_ready=False)
        return self.notify.wait_for(lambda s: s == "READY=1", what="READY=1")

    def sighup_reload(self, what):
        """SIGHUP: RELOADING=1 arrives, then READY=1 after it."""
        mark = time.monotonic()
        self.daemon.signal(signal.SIGHUP)
        self.notify.wait_for(lambda s: s == "RELOADING=1", since=mark,
                             what="RELOADING=1 (%s)" % what)
        t_rel = self.notify.times("RELOADING=1", mark)[0]
        self.notify.wait_for(lambda s: s == "READY=1", since=t_rel,
                             what="READY=1 after the reload (%s)" % what)

    def sigterm_stopping(self):
        """SIGTERM: STOPPING=1, a clean exit, no ping after STOPPING=1."""
        mark = time.monotonic()
        self.daemon.signal(signal.SIGTERM)
        self.notify.wait_for(lambda s: s == "STOPPING=1", since=mark,
                             what="STOPPING=1")
        self.assertEqual(self.daemon.proc.wait(timeout=20), 0)
        self.assertNotIn("WATCHDOG=1", self.notify.lines(
            self.notify.times("STOPPING=1", mark)[0]))

    def status_lines(self, since=0.0):
        return [s for s in self.notify.lines(since) if s.startswith("STATUS=")]


class Lifecycle(NotifyTest):
    def test_ready_after_sockets_watchdog_rate_status(self):
        _, _, probe = self.start()
        # Nothing but STATUS may precede READY=1; the sockets are up by then.
        before = [s for s in self.notify.lines() if s != "READY=1"]
        first_ready = self.notify.lines().index("READY=1")
        self.assertFalse([s for s in self.notify.lines()[:first_ready]
                          if not s.startswith("STATUS=")], before)
        self.assertTrue(probe["control"], "control socket missing at READY=1")
        if self.listen_port:
            self.assertTrue(probe["listener"],
                            "listener port refused connections at READY=1")

        # Watchdog: pings keep coming, each well inside WATCHDOG_USEC.
        wait_until(lambda: len(self.notify.times("WATCHDOG=1")) >= 6, timeout=15,
                   what="6 WATCHDOG=1 pings")
        pings = self.notify.times("WATCHDOG=1")
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        limit = self.watchdog_usec / 1e6
        self.assertLess(max(gaps), limit * 0.75,
                        "watchdog gaps %r for WATCHDOG_USEC=%d" % (gaps, self.watchdog_usec))
        self.assertGreater(min(gaps), 0.2, "pings far too often: %r" % gaps)

        # STATUS: one line, devices/alarms/queue, following the gateway.
        self.notify.wait_for(
            lambda s: s == "STATUS=devices 1/1 up, 0 active alarms, 0 queued",
            what="STATUS with the device up")
        self.catcher.tempfail = True
        mark = time.monotonic()
        self.plc.set("co", 12, 1)
        self.notify.wait_for(
            lambda s: s == "STATUS=devices 1/1 up, 1 active alarms, 1 queued",
            since=mark, what="STATUS with one alarm and its mail queued")
        self.catcher.tempfail = False
        mark = time.monotonic()
        self.daemon.cli("flush")
        self.notify.wait_for(
            lambda s: s == "STATUS=devices 1/1 up, 1 active alarms, 0 queued",
            since=mark, what="STATUS with the queue drained")
        self.assertEqual(self.catcher.count(), 1)
        mark = time.monotonic()
        self.plc.down()
        self.notify.wait_for(lambda s: s.startswith("STATUS=devices 0/1 up"),
                             since=mark, what="STATUS with the device down")
        for s in self.status_lines():
            self.assertRegex(s, r"^STATUS=devices \d+/1 up, \d+ active alarms, "
                                r"\d+ queued$")

        self.sigterm_stopping()

    def test_reload_valid_and_invalid(self):
        self.start()
        # A valid new file: RELOADING=1, then READY=1, new rule in effect.
        self.write_config(rule="pump_fault_renamed")
        self.sighup_reload("valid file")
        wait_until(lambda: "daemon: reloaded" in self.daemon.logbytes_since_start(),
                   what="reload logged")
        self.plc.set("co", 12, 1)
        wait_until(lambda: "pump_fault_renamed" in self.daemon.cli("status").stdout,
                   what="renamed rule in status")

        # An invalid file: logged, the running configuration kept.
        self.write_config(text="smtp:\n  url: smtp://x:25\n  from: a@b\nbogus_key: 1\n")
        self.sighup_reload("invalid file")
        log = self.daemon.logbytes_since_start()
        self.assertIn("bogus_key", log)
        self.assertIn("keeping the running configuration", log)
        self.assertIsNone(self.daemon.proc.poll(), "daemon died on a bad reload")
        # Still the old configuration: same rule, device still polled,
        # watchdog still fed.
        self.write_config(rule="pump_fault_renamed")
        st = self.daemon.cli("status").stdout
        self.assertIn("pump_fault_renamed", st)
        self.assertIn("plc link=up", st)
        mark = time.monotonic()
        wait_until(lambda: len(self.notify.times("WATCHDOG=1", mark)) >= 2,
                   timeout=10, what="pings after the failed reload")

        self.sigterm_stopping()


class StalledPoller(NotifyTest):
    """A hung poller thread (the test build's hook) must stop the pings.
    The daemon waits its longest cycle (poll_interval + the reconnect
    backoff's cap of 10s + (nreq+2)*timeout) plus stall_grace before it
    calls a poller stalled: 10.4 s + 1 s with these values."""
    poll_interval = "100ms"
    timeout = "100ms"
    stall_grace = "1s"
    env = {"MODBUS2MAIL_TEST_STALL_POLLER": "1"}

    def test_watchdog_stops_when_a_poller_hangs(self):
        self.start()
        wait_until(lambda: "stalled by MODBUS2MAIL_TEST_STALL_POLLER"
                   in self.daemon.logbytes_since_start(), what="poller stall hook")
        t_stall = time.monotonic()
        # Healthy main loop: pings go on for now.
        wait_until(lambda: len(self.notify.times("WATCHDOG=1", t_stall)) >= 2,
                   timeout=10, what="pings while the stall is not yet detected")
        wait_until(lambda: "poller thread of plc stalled"
                   in self.daemon.logbytes_since_start(), timeout=30,
                   interval=0.2, what="stall detected")
        t_detect = time.monotonic()
        last_ping = self.notify.times("WATCHDOG=1")[-1]
        self.assertGreater(t_detect - t_stall, 10.5,
                           "stall reported before the longest cycle + stall_grace")
        # Three watchdog periods of silence, the daemon itself still up.
        wait_until(lambda: time.monotonic() - t_detect > 3 * self.watchdog_usec / 1e6,
                   timeout=10, what="silence window")
        self.assertEqual(self.notify.times("WATCHDOG=1", t_detect + 0.1), [],
                         "WATCHDOG=1 sent after the poller stalled")
        self.assertLess(last_ping, t_detect)
        self.assertIsNone(self.daemon.proc.poll())


if __name__ == "__main__":
    EXE = os.path.abspath(sys.argv[1])
    SRC = os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
