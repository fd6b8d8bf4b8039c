#!/usr/bin/python3
"""Buses: Modbus RTU units on one serial line and several units behind one
Modbus/TCP host:port, against real peers. The line is a socat pty pair
(tests/peers/pty_pair.py) or the byte-corrupting proxy (rtu_proxy.py);
the units are a pymodbus server (rtu_sim.py) that logs every request per
unit and can make a unit silent; mail goes to an aiosmtpd catcher. Also run
against the ASan/UBSan build (asan_suites.py).

usage: test_rtu.py MODBUS2MAIL_EXE [unittest names...]
"""
import os
import re
import signal
import subprocess
import sys
import termios
import time
import unittest
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
sys.path.insert(0, HERE)
import test_alarms  # noqa: E402
import test_hostile  # noqa: E402
from harness import as_nobody, cpu_seconds, free_port, tmpdir, wait_until  # noqa: E402
from pty_pair import PtyPair  # noqa: E402
from rtu_proxy import RtuProxy  # noqa: E402
from rtu_sim import RtuSim  # noqa: E402
from test_hostile import SLACK, figure  # noqa: E402

AFTER = 2.0            # link_alarm.after
TIMEOUT = 0.3          # every device's `timeout`
KEEP = 0.8             # share of its poll rate a live unit keeps beside a dead one

CONFIG = test_hostile.HEAD + """\
http:
  listen: ["127.0.0.1:{http_port}"]
devices:
{devices}
defaults:
  to: [ops]
rules:
{rules}
"""

DEVICE = """\
  - name: unit{unit}
    {transport}
    unit_id: {unit}
    poll_interval: 100ms
    timeout: {timeout}ms
    link_alarm: {{after: {after}s, to: [maint]}}
"""

RULE = """\
  - name: u{unit}_fault
    device: unit{unit}
    coil: 0
"""


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def per_second(times):
    """Requests per second from the first request to the last."""
    return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0


class BusTest(test_hostile.HostileTest):
    """Devices unit1..unitN, one per unit id of the simulator, each with a
    rule on its coil 0."""
    units = (1, 2)

    def setUp(self):
        self.http_port = free_port()
        super().setUp()

    def make_plc(self):
        self.line = PtyPair(self.work)
        self.addCleanup(self.line.stop)
        return RtuSim(self.units, serial=self.line.device_end)

    def transport(self, unit):
        return "serial: {port: %s, baud: 19200, parity: none}" % self.line.daemon_end

    def write_config(self, rules="", device_extra=None):
        devices = "".join(DEVICE.format(unit=u, transport=self.transport(u),
                                        timeout=int(TIMEOUT * 1000), after=int(AFTER))
                          for u in self.units)
        with open(self.cfg, "w") as f:
            f.write(CONFIG.format(spool=os.path.join(self.work, "spool"),
                                  smtp_port=self.smtp_port, http_port=self.http_port,
                                  devices=devices,
                                  rules="".join(RULE.format(unit=u) for u in self.units)))

    def stop_daemon(self):
        if self.daemon.proc is not None:    # the poll tests run none
            super().stop_daemon()

    def start(self):
        self.daemon.start()
        wait_until(lambda: all(" link=up " in self.device_line(u) for u in self.units),
                   timeout=20, what="every unit's link up")

    def device_line(self, unit):
        name = "  unit%d " % unit
        return [ln for ln in self.status().splitlines() if ln.startswith(name)][0]

    def count(self, unit, what):
        m = re.search(r" %s=(\d+)" % what, self.device_line(unit))
        self.assertIsNotNone(m, "no %s= in %r" % (what, self.device_line(unit)))
        return int(m.group(1))

    def wait_count(self, unit, what, n):
        """The count reaches n (a short frame is one once its timeout ran out)."""
        wait_until(lambda: self.count(unit, what) >= n, timeout=10,
                   what="%s=%d or more" % (what, n))

    def settle(self, cycles=10):
        """As AlarmTest.settle: unit 1 polled cycles more times, queue empty."""
        self.plc.log()
        self.record({}, lambda log: len(log.get(1, [])) >= cycles,
                    what="%d polls of unit 1" % cycles)
        wait_until(lambda: "queue: 0 messages" in self.status(), timeout=20,
                   what="empty queue")

    def record(self, log, until, timeout=20, what="requests"):
        """Adds the simulator's request times per unit to log until until(log)."""
        def more():
            for u, reqs in self.plc.log().items():
                log.setdefault(u, []).extend(t for t, _ in reqs)
            return until(log)
        wait_until(more, timeout=timeout, what=what)
        return log

    def beside(self, trouble, coils):
        """Unit 1's poll rate before and after trouble() (unit 2 dead or
        slow; unit2.link on time): (rate before, rate after, unit 1's failed
        reads after, unit 2's requests after). coils: unit: its coil 0 (1:
        its alarm seen first)."""
        for u, v in coils.items():
            self.plc.set("co", 0, v, unit=u)
        self.start()
        for u in self.units:
            if coils.get(u):
                self.state_mail("u%d_fault" % u, "ACTIVE")
        self.plc.log()
        before = self.record({}, lambda log: len(log.get(1, [])) >= 15,
                             what="15 polls of unit 1")
        errors = self.failed_reads(1)
        t0 = time.monotonic()
        trouble()
        self.plc.log()
        after = {}
        self.record(after, lambda log: self.mails("unit2.link"), timeout=AFTER + 10,
                    what="unit2.link mail")
        took = time.monotonic() - t0
        # 6 s: unit 2's backoff grows to its cap in the first 3 (each
        # timeout then may delay unit 1's polls), then it is asked every 2.3 s
        self.record(after, lambda log: len(log.get(1, [])) >= 60,
                    what="60 polls of unit 1 beside unit 2")
        errors = self.failed_reads(1) - errors
        rate0, rate1 = per_second(before[1]), per_second(after[1])
        figure("unit2.link mail after unit 2's trouble began", took)
        print("figure: unit 1 polls %.1f/s before, %.1f/s beside unit 2 (%.0f%%), "
              "%d of %d failed; unit 2 asked %.1f/s (%.1f/s before)" %
              (rate0, rate1, 100 * rate1 / rate0, errors, len(after[1]),
               per_second(after[2]), per_second(before[2])), file=sys.stderr)
        self.assertLessEqual(took, AFTER + TIMEOUT + SLACK, "link alarm after %.2fs" % took)
        self.assertEqual(self.mails("unit1.link"), [], "the live unit's link stayed up")
        self.assertGreaterEqual(rate1, KEEP * rate0)
        return rate0, rate1, errors, len(after[2])

    def results(self, unit):
        """/metrics: {result: requests} of unit."""
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.http_port,
                                    timeout=5) as r:
            text = r.read().decode()
        results = re.findall(r'^modbus2mail_modbus_requests_total\{device="unit%d",'
                             r'result="([a-z_]+)"\} (\d+)$' % unit, text, re.M)
        self.assertIn("ok", dict(results), text)
        return {r: int(n) for r, n in results}

    def failed_reads(self, unit):
        """Requests to unit that did not answer with data (timeouts too)."""
        return sum(n for r, n in self.results(unit).items() if r != "ok")


class OneLine(BusTest):
    def test_two_units_alarms_then_dead_unit_backed_off(self):
        failed = self.beside(lambda: self.plc.silent(2), {1: 1, 2: 1})[2]
        self.assertEqual(failed, 0)
        # alive again: recovery mail, and its rule was never cleared meanwhile
        self.plc.silent(2, False)
        self.state_mail("unit2.link", "CLEARED", timeout=AFTER + 10)
        self.assertEqual(len(self.mails("u2_fault")), 1)

    def test_late_reply_never_taken_for_the_next_unit(self):
        """Unit 2 answers after its timeout, its coil 0 = 1: a late reply
        landing in unit 1's turn fails that one read (a wrong unit, the line
        drained), never becomes unit 1's value."""
        _, _, failed, late = self.beside(lambda: self.plc.delay(2, TIMEOUT + 0.1),
                                         {1: 0, 2: 1})
        self.assertLessEqual(failed, late)
        self.assert_no_mail("u1_fault")

    def test_poll_prints_each_units_values(self):
        self.plc.set("co", 0, 1, unit=2)
        r = self.daemon.cli("poll", "unit2")
        self.assertRegex(r.stdout, r"^unit2 rtu %s 19200 8N1 unit 2" %
                         re.escape(self.line.daemon_end))
        self.assertRegex(r.stdout, r"\n  u2_fault coil 0 raw=1 value=1 active\n")
        out = self.daemon.cli("poll").stdout
        self.assertRegex(out, r"\n  u1_fault coil 0 raw=0 value=0 normal\n")
        self.assertRegex(out, r"\n  u2_fault coil 0 raw=1 value=1 active\n")
        self.plc.silent(1)
        r = self.daemon.cli("poll", "unit1", check=False)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stdout, r"^unit1 rtu .* unit 1: (unreachable|read failed) \(")
        self.assertIn("  u1_fault coil 0 unavailable\n", r.stdout)


    def test_poll_refused_while_the_daemon_holds_the_line(self):
        """`poll` as root (TIOCEXCL does not stop root) meets the port's
        lock before it touches the line, another user TIOCEXCL: refused
        with a clear message, the daemon's reads undisturbed; with the
        daemon gone it reads."""
        self.start()
        self.settle(5)
        failed = self.failed_reads(1)
        for _ in range(3):
            r = self.daemon.cli("poll", "unit1", check=False)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertTrue(r.stdout.startswith(
                "unit1 rtu %s 19200 8N1 unit 1: unreachable (%s: in use (another "
                "modbus2mail holds it)); " % ((self.line.daemon_end,) * 2)), r.stdout)
            self.assertIn("  u1_fault coil 0 unavailable\n", r.stdout)
        # another user: TIOCEXCL already refuses the open
        os.chmod(self.work, 0o755)
        os.chmod(self.cfg, 0o644)
        os.chmod(os.path.realpath(self.line.daemon_end), 0o666)
        r = subprocess.run([as_nobody(test_alarms.EXE, self.work), "poll", "unit1",
                            "-c", self.cfg], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(": unreachable (%s: in use (opened exclusively by another "
                      "modbus2mail or program)); " % self.line.daemon_end, r.stdout)
        self.settle(5)
        self.assertEqual(self.failed_reads(1), failed)
        self.assertIn(" link=up ", self.device_line(1))
        self.daemon.stop()
        r = self.daemon.cli("poll", "unit1")
        self.assertIn("  u1_fault coil 0 raw=0 value=0 normal\n", r.stdout)


class PortNames(BusTest):
    """What serial.port may name: a /dev/serial/by-id-style relative link
    to the tty works (and is locked as the tty itself: another name of it
    is refused); a regular file or a FIFO is a clear error, at once."""
    units = (1,)

    def setUp(self):
        self.port = None
        super().setUp()

    def transport(self, unit):
        return "serial: {port: %s, parity: none}" % (self.port or self.line.daemon_end)

    def test_by_id_link_works_and_is_locked_as_the_tty(self):
        by_id = os.path.join(self.work, "serial", "by-id")
        os.makedirs(by_id)
        self.port = os.path.join(by_id, "usb-FTDI_USB-RS485_Cable_FT5KR1PA-if00-port0")
        os.symlink("../../ttyM2M", self.port)
        self.write_config()
        self.plc.set("co", 0, 1, unit=1)
        self.start()
        self.state_mail("u1_fault", "ACTIVE")
        self.assertIn(" transport=\"rtu %s 19200 8N1 unit 1\" " % self.port,
                      self.device_line(1))
        # the same tty by its other name: the daemon holds it
        self.port = self.line.daemon_end
        self.write_config()
        r = self.daemon.cli("poll", "unit1", check=False)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("%s: in use (another modbus2mail holds it)" % self.port, r.stdout)

    def test_file_or_fifo_is_no_serial_port(self):
        for kind in ("a regular file", "a FIFO"):
            self.port = os.path.join(self.work, kind.split()[-1])
            if kind == "a FIFO":
                os.mkfifo(self.port)
            else:
                open(self.port, "w").close()
            self.write_config()
            why = "%s: not a serial port (%s)" % (self.port, kind)
            t0 = time.monotonic()
            r = self.daemon.cli("poll", "unit1", check=False, timeout=10)
            self.assertLess(time.monotonic() - t0, 5)
            self.assertEqual(r.returncode, 1, r.stdout)
            self.assertIn("unreachable (%s)" % why, r.stdout)
            self.daemon.start()
            wait_until(lambda: why in self.device_line(1), timeout=10,
                       what="%r in status" % why)
            self.assertIn(" link=down ", self.device_line(1))
            self.daemon.stop()


class ProxyLine(BusTest):
    """The units behind the byte-corrupting proxy (rtu_proxy.py)."""

    def make_plc(self):
        self.line = RtuProxy(self.work)
        self.addCleanup(self.line.stop)
        return RtuSim(self.units, serial=self.line.device_end)


class NoisyLine(ProxyLine):
    """Replies to unit 1 corrupted on the way: the coil rule's bit flipped
    (normal 0 read as 1), cut short, sent as another unit, too long or with
    a wrong byte count."""
    units = (1,)

    def corrupted(self, n, **mode):
        """Corrupts every second reply until n more are; the link stays up."""
        done = self.line.stats()["corrupted"] + n
        self.line.mode(rate=0.5, fc=1, **mode)
        wait_until(lambda: self.line.stats()["corrupted"] >= done, timeout=20,
                   what="%d corrupted replies" % n)
        self.line.mode(rate=0)

    def test_crc_errors_never_become_values(self):
        self.start()
        self.corrupted(20, kind="flip", byte=3, mask=1)
        self.wait_count(1, "crc_errors", 20)
        self.assertGreaterEqual(self.results(1)["crc_error"], 20)
        self.assert_no_mail("u1_fault")
        self.assertEqual(self.mails("unit1.link"), [], "every second read was good")
        # the same corruption on every reply: the link alarm, still no value
        t0 = time.monotonic()
        self.line.mode(rate=1, fc=1, kind="flip", byte=3, mask=1)
        self.link_alarm_within(t0, AFTER + TIMEOUT + SLACK, device="unit1")
        self.assertRegex(self.device_line(1), r" link=down .*CRC")
        self.line.mode(rate=0)
        self.state_mail("unit1.link", "CLEARED")
        self.assertEqual(self.mails("u1_fault"), [])

    def test_short_frames_and_wrong_unit_counted(self):
        self.start()
        self.corrupted(6, kind="truncate", drop=3)
        self.wait_count(1, "short_frames", 6)
        # another unit's id with a valid CRC, over a flipped coil
        self.corrupted(10, kind="unit", as_unit=7, byte=3, mask=1)
        self.wait_count(1, "wrong_unit", 10)
        results = self.results(1)
        self.assertGreaterEqual(results["short_frame"], 6)
        self.assertGreaterEqual(results["wrong_unit"], 10)
        self.assert_no_mail("u1_fault")

    def test_long_frames_and_wrong_byte_counts_never_values(self):
        """Replies of 256 bytes (its data all 1s, a valid CRC of its own)
        and replies whose byte count does not match their data: failed
        reads, never the coil's value; the rest of a long frame is drained
        before the next request, so the line stays in step."""
        self.start()
        self.corrupted(10, kind="long")
        self.wait_count(1, "crc_errors", 10)
        failed = self.failed_reads(1)
        self.corrupted(10, kind="count")
        wait_until(lambda: self.failed_reads(1) >= failed + 10, timeout=10,
                   what="10 more failed reads")
        self.assert_no_mail("u1_fault")
        self.assertEqual(self.mails("unit1.link"), [], "every second read was good")
        # every reply a long one: the link alarm, no value, then recovery
        t0 = time.monotonic()
        self.line.mode(rate=1, fc=1, kind="long")
        self.link_alarm_within(t0, AFTER + TIMEOUT + SLACK, device="unit1")
        self.line.mode(rate=0)
        self.state_mail("unit1.link", "CLEARED")
        self.assertEqual(self.mails("u1_fault"), [])

    def test_poll_counts_crc_errors(self):
        self.line.mode(rate=1, fc=1, kind="flip", byte=3, mask=1)
        r = self.daemon.cli("poll", "unit1", check=False)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertRegex(r.stdout, r"crc_errors=[1-9]")
        self.assertIn("  u1_fault coil 0 unavailable\n", r.stdout)


class Jabber(ProxyLine):
    """A unit on the line sends random bytes. The line is set to 1200 baud
    (3.5 characters: 29 ms): the proxy's noise, a byte a millisecond from
    Python, then never pauses long enough to look like a quiet line, as
    a UART's noise never does at any rate."""
    units = (1, 2)
    BPS = 1000

    def transport(self, unit):
        return "serial: {port: %s, baud: 1200, parity: none}" % self.line.daemon_end

    def test_jabbering_unit_bounded_no_busy_loop(self):
        """Without pause: no request is sent into the noise, each attempt
        ends within its timeout with 'line never quiet', the daemon does not
        spin, both links alarm, no value comes of the noise, and both links
        clear once the line is quiet. In bursts: the units are served
        between them."""
        self.start()
        pid = self.daemon.proc.pid
        failed0 = {u: self.failed_reads(u) for u in self.units}
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        self.line.jabber(self.BPS)
        for u in self.units:
            self.link_alarm_within(t0, AFTER + 4 * TIMEOUT + SLACK, device="unit%d" % u)
            self.assertIn("line never quiet for 3.5 characters", self.device_line(u))
        self.plc.log()
        t1 = time.monotonic()
        log = self.record({}, lambda log: time.monotonic() - t1 >= 4, what="4 s of noise")
        cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        failed = {u: self.failed_reads(u) - failed0[u] for u in self.units}
        self.line.jabber(0)
        sent = sum(len(log.get(u, [])) for u in self.units)
        print("figure: line full of noise: daemon CPU %.1f%% of a core over %.1f s, "
              "%d requests sent into it in the last 4 s, attempts failed: unit 1 %d, "
              "unit 2 %d, %d bytes of noise" %
              (100 * cpu, time.monotonic() - t0, sent, failed[1], failed[2],
               self.line.stats()["jabbered"]), file=sys.stderr)
        self.assertLess(cpu, 0.10, "the daemon spins on a line full of noise")
        # at most one that slipped through a pause of the Python noise
        self.assertLessEqual(sent, 1)
        # still tried (backed off up to link_alarm.after), each one ended
        for u in self.units:
            self.assertGreaterEqual(failed[u], 3)
        for u in self.units:
            self.state_mail("unit%d.link" % u, "CLEARED", timeout=AFTER + 10)
        # bursts of 50 ms every 500 ms: each unit served between them
        ok = [self.results(u)["ok"] for u in self.units]
        self.line.jabber(self.BPS, on=0.05, off=0.45)
        t1 = time.monotonic()
        self.record({}, lambda log: time.monotonic() - t1 >= 4, what="4 s of bursts")
        self.line.jabber(0)
        for u in self.units:
            self.assertGreaterEqual(self.results(u)["ok"] - ok[u - 1], 10)
            self.assertEqual(len(self.mails("unit%d.link" % u)), 2, "no new link alarm")
        self.assert_no_mail("u1_fault")
        self.assertEqual(self.mails("u2_fault"), [])


class Replug(BusTest):
    """The USB adapter unplugged and plugged in again: the socat pty pair
    killed (its units with it) and made again at the same path."""

    def unplug_replug(self):
        pid = self.daemon.proc.pid
        fds = open_fds(pid)
        k = len(self.mails("unit1.link")) // 2 + 1     # this unplugging's mails
        t0 = time.monotonic()
        self.line.stop()
        self.plc.stop()
        for u in self.units:
            self.state_mail("unit%d.link" % u, "ACTIVE", n=k, timeout=AFTER + 10)
        figure("link alarm after the adapter went", time.monotonic() - t0)
        self.assertLessEqual(time.monotonic() - t0, AFTER + TIMEOUT + SLACK)
        # the port's two descriptors (the lock's, libmodbus's) closed, and
        # no more while it retries
        wait_until(lambda: open_fds(pid) == fds - 2, timeout=10,
                   what="%d descriptors, not %d" % (fds - 2, open_fds(pid)))
        cpu0, t1 = cpu_seconds(pid), time.monotonic()
        time.sleep(3)       # a few reopen attempts (a measuring window)
        cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t1)
        self.assertEqual(open_fds(pid), fds - 2)
        self.assertLess(cpu, 0.05, "the daemon spins on a missing port")
        for end in (self.line.daemon_end, self.line.device_end):
            if os.path.lexists(end):
                os.unlink(end)
        self.line = PtyPair(self.work)
        self.addCleanup(self.line.stop)
        self.plc = RtuSim(self.units, serial=self.line.device_end)
        self.addCleanup(self.plc.stop)
        t2 = time.monotonic()
        for u in self.units:
            self.state_mail("unit%d.link" % u, "CLEARED", n=k, timeout=AFTER + 10)
        figure("link cleared after the adapter came back", time.monotonic() - t2)
        self.assertLessEqual(time.monotonic() - t2, AFTER + 2 * TIMEOUT + SLACK)
        wait_until(lambda: open_fds(pid) == fds, timeout=10,
                   what="%d descriptors, not %d" % (fds, open_fds(pid)))
        print("figure: descriptors %d with the port, %d without (cpu %.1f%% while "
              "it is missing)" % (fds, fds - 2, 100 * cpu), file=sys.stderr)

    def test_adapter_unplugged_and_replugged(self):
        self.start()
        self.settle(5)
        self.unplug_replug()
        self.unplug_replug()
        self.assertEqual(len(self.mails("unit1.link")), 4)


class Reload(BusTest):
    """SIGHUP moves a device to another line and changes a line's settings."""

    def setUp(self):
        self.port_of = {}
        self.baud = 19200
        super().setUp()
        self.line_b = PtyPair(self.work, names=("ttyM2Mb", "ttyDEVb"))
        self.addCleanup(self.line_b.stop)
        self.plc_b = RtuSim((2,), serial=self.line_b.device_end)
        self.addCleanup(self.plc_b.stop)
        self.plc_b.set("co", 0, 1, unit=2)

    def transport(self, unit):
        return "serial: {port: %s, baud: %d, parity: none}" % (
            self.port_of.get(unit, self.line.daemon_end), self.baud)

    def reload(self):
        n = len(self.daemon.logbytes_since_start().split("daemon: reloaded"))
        self.write_config()
        self.daemon.signal(signal.SIGHUP)
        wait_until(lambda: len(self.daemon.logbytes_since_start().split(
            "daemon: reloaded")) > n, timeout=10, what="reloaded")
        wait_until(lambda: all(" link=up " in self.device_line(u) for u in self.units),
                   timeout=20, what="every unit's link up")

    def held(self, unit):
        r = self.daemon.cli("poll", "unit%d" % unit, check=False)
        return "in use (another modbus2mail holds it)" in r.stdout

    def speed(self, port):
        fd = os.open(port, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            return termios.tcgetattr(fd)[4]
        finally:
            os.close(fd)

    def test_reload_moves_a_device_and_changes_line_settings(self):
        self.start()
        self.settle(5)
        pid = self.daemon.proc.pid
        fds = open_fds(pid)
        self.assertEqual(self.speed(self.line.daemon_end), termios.B19200)
        # unit 2 now on line B (its coil 0 is 1 there), line A at 9600
        self.port_of[2] = self.line_b.daemon_end
        self.baud = 9600
        self.reload()
        self.state_mail("u2_fault", "ACTIVE")
        self.assertEqual(self.speed(self.line.daemon_end), termios.B9600)
        self.assertEqual(self.speed(self.line_b.daemon_end), termios.B9600)
        self.assertTrue(self.held(1) and self.held(2))
        self.assertEqual(open_fds(pid), fds + 2)
        # and back: line B let go, unit 2 read on line A again (coil 0 = 0)
        del self.port_of[2]
        self.baud = 19200
        self.reload()
        self.state_mail("u2_fault", "CLEARED")
        self.assertEqual(self.speed(self.line.daemon_end), termios.B19200)
        self.assertEqual(open_fds(pid), fds)
        self.assertEqual(self.mails("unit1.link") + self.mails("unit2.link"), [])


class SharedTcp(BusTest):
    """Three devices behind one Modbus/TCP host:port (a TCP<->RTU gateway)."""
    units = (1, 2, 3)
    separate = ()

    def make_plc(self):
        return RtuSim(self.units)

    def transport(self, unit):
        return "host: 127.0.0.1\n    port: %d%s" % (
            self.plc.port, "\n    connections: separate" if unit in self.separate else "")

    def polled(self, n):
        """Every unit asked n more times (each answering for its own data)."""
        self.plc.log()
        self.record({}, lambda log: all(len(log.get(u, [])) >= n for u in self.units),
                    what="%d polls of each unit" % n)

    def test_three_devices_one_connection_separate_two(self):
        self.plc.set("co", 0, 1, unit=2)
        self.start()
        self.state_mail("u2_fault", "ACTIVE")
        self.polled(10)
        self.assertEqual(self.plc.conns(), {"ok": True, "accepted": 1, "open": 1})
        self.assertEqual([len(self.mails("u%d_fault" % u)) for u in self.units], [0, 1, 0])
        self.assertIn(' transport="tcp 127.0.0.1:%d unit 3 shared" ' % self.plc.port,
                      self.device_line(3))
        self.daemon.stop()
        wait_until(lambda: self.plc.conns()["open"] == 0, timeout=10, what="closed")
        self.separate = (3,)
        self.write_config()
        self.start()
        self.polled(10)
        self.assertEqual(self.plc.conns(), {"ok": True, "accepted": 3, "open": 2})
        self.assertIn(' transport="tcp 127.0.0.1:%d unit 3 separate" ' % self.plc.port,
                      self.device_line(3))

    def test_dead_unit_behind_the_gateway_keeps_the_connection(self):
        failed = self.beside(lambda: self.plc.silent(2), {1: 1, 2: 1})[2]
        self.assertEqual(failed, 0)
        self.assertEqual(self.plc.conns(), {"ok": True, "accepted": 1, "open": 1})

    def test_late_reply_behind_the_gateway_skipped(self):
        """Unit 2's replies come after its timeout on the shared connection:
        skipped by transaction id, so no read of unit 1 fails, none of them
        becomes unit 1's value, and the connection stays."""
        failed = self.beside(lambda: self.plc.delay(2, TIMEOUT + 0.1), {1: 0, 2: 1})[2]
        self.assertEqual(failed, 0)
        self.assert_no_mail("u1_fault")
        self.assertEqual(self.plc.conns(), {"ok": True, "accepted": 1, "open": 1})


BAD_SERIAL = """\
smtp: {url: "smtp://127.0.0.1:25", tls: none, from: a@example.com}
defaults: {to: [ops@example.com]}
devices:
  - name: both
    host: 10.0.0.5
    serial: {port: /dev/ttyUSB0}
  - name: neither
    unit_id: 3
  - name: vfd3
    serial: {port: /dev/ttyUSB1, baud: 19200, parity: none}
    unit_id: 3
  - name: meter7
    serial: {port: /dev/ttyUSB1, baud: 9600, parity: none}
    unit_id: 7
  - name: bad_line
    serial: {port: /dev/ttyUSB2, baud: 14400, parity: mark, data_bits: 9, stop_bits: 3}
    unit_id: 0
    connections: shared
  - name: gw
    host: 10.0.0.6
    connections: sometimes
rules:
  - {name: r, device: vfd3, coil: 1}
"""


class Check(unittest.TestCase):
    def test_bad_serial_settings_each_named_where_it_is(self):
        path = os.path.join(tmpdir(), "bad.yaml")
        with open(path, "w") as f:
            f.write(BAD_SERIAL)
        r = subprocess.run([test_alarms.EXE, "check", "-c", path],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual((r.returncode, r.stdout), (1, ""))
        want = [(5, 11, "both host and serial"), (7, 5, "missing 'host' (Modbus/TCP) or "
                                                 "'serial' (Modbus RTU)"),
                (13, 13, "line settings differ from device vfd3 on /dev/ttyUSB1"),
                (16, 40, "baud '14400'"), (16, 55, "parity 'mark'"),
                (16, 72, "data_bits '9' (7 or 8)"), (16, 86, "stop_bits '3' (1 or 2)"),
                (17, 14, "1 to 247 (0 is broadcast)"),
                (18, 18, "connections is for Modbus/TCP"),
                (21, 18, "connections 'sometimes' (shared or separate)")]
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), len(want), r.stderr)
        for line, (ln, col, what) in zip(lines, want):
            self.assertTrue(line.startswith("%s:%d:%d: error: " % (path, ln, col)), line)
            self.assertIn(what, line)


if __name__ == "__main__":
    test_alarms.EXE = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
