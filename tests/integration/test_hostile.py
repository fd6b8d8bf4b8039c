#!/usr/bin/python3
"""A broken or hostile PLC can neither silence its alarms nor stall the
gateway: the real daemon against tests/peers/hostile_plc.py (raw sockets,
switchable misbehaviours) and an aiosmtpd catcher. Run against the release
build and an ASan/UBSan build (tests/integration/run_sanitized.sh); a
sanitizer report or an unclean exit fails the test.

usage: test_hostile.py MODBUS2MAIL_EXE [unittest names...]
"""
import os
import signal
import subprocess
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
sys.path.insert(0, HERE)
import test_alarms  # noqa: E402
from test_alarms import first_line  # noqa: E402
from harness import free_port, wait_until  # noqa: E402
from hostile_plc import HostilePlc  # noqa: E402
from plc_sim import PlcSim  # noqa: E402
from test_systemd import NotifySocket  # noqa: E402

TIMEOUT = 0.5          # the device's `timeout`
AFTER = 2.0            # link_alarm.after
SLACK = 1.0            # scheduling on a loaded 2-core machine

# smtp to the catcher, recipients ops and maint (test_rtu.py's too)
HEAD = """\
hostname: gw-test
spool_dir: {spool}
smtp:
  url: smtp://127.0.0.1:{smtp_port}
  tls: none
  from: alarms@example.com
  retry: {{initial: 1s, max: 2s, give_up_after: 1h}}
recipients:
  ops: [ops@example.com]
  maint: [maint@example.com]
"""
CONFIG = HEAD + """\
devices:
  - name: maxi1
    host: 127.0.0.1
    port: {plc_port}
    poll_interval: {poll}
    timeout: 500ms
    link_alarm: {{after: {after}s, to: [maint]}}
{device_extra}
defaults:
  to: [ops]
rules:
  - name: pump_fault
    device: maxi1
    coil: 12
  - name: tank_temp
    device: maxi1
    holding_register: 10
    type: float32
    above: 50
{rules}
"""

INF = [0x7F80, 0x0000]
NEG_INF = [0xFF80, 0x0000]
F100 = [0x42C8, 0x0000]
F20 = [0x41A0, 0x0000]


def figure(what, seconds):
    print("figure: %s %.3fs" % (what, seconds), file=sys.stderr)


class HostileTest(test_alarms.AlarmTest):
    device_extra = ""
    extra_rules = ""
    after = AFTER
    poll = "100ms"

    def make_plc(self):
        return HostilePlc()

    def write_config(self, rules="", device_extra=None):
        with open(self.cfg, "w") as f:
            f.write(CONFIG.format(
                spool=os.path.join(self.work, "spool"), smtp_port=self.smtp_port,
                plc_port=self.plc.port, after=int(self.after), poll=self.poll,
                device_extra=self.device_extra if device_extra is None else device_extra,
                rules=self.extra_rules))

    def stop_daemon(self):
        """Clean exit, no sanitizer report: checked for every test."""
        rc = self.daemon.stop()
        log = self.daemon.logtext()
        for bad in ("runtime error:", "AddressSanitizer", "LeakSanitizer"):
            if bad in log:
                raise AssertionError("sanitizer report:\n" + log[-6000:])
        if rc not in (0, None):
            raise AssertionError("daemon exited %r:\n%s" % (rc, log[-6000:]))

    def status(self):
        return self.daemon.cli("status", timeout=5).stdout

    def device_line(self):
        return [ln for ln in self.status().splitlines() if ln.startswith("  maxi1 ")][0]

    def log_lines(self, text):
        return [ln for ln in self.daemon.logbytes_since_start().splitlines() if text in ln]

    def state_mail(self, rule, state, n=1, timeout=20):
        """The n-th mail of rule whose first body line (what an inbox
        preview shows) starts with state."""
        def found():
            msgs = [m for m in self.mails(rule) if first_line(m).startswith(state)]
            return msgs if len(msgs) >= n else None
        return wait_until(found, timeout=timeout, what="%s %s mail" % (rule, state))[n - 1]

    def link_alarm_within(self, t0, limit, device="maxi1"):
        """The DEVICE.link ACTIVE mail, arrived no later than limit after t0."""
        m = self.state_mail(device + ".link", "ACTIVE", timeout=limit + 10)
        took = time.monotonic() - t0
        self.assertLessEqual(took, limit, "link alarm after %.2fs" % took)
        figure("%s: link alarm mail after" % self.id().split(".")[-1], took)
        return m

    def assert_no_mail(self, rule):
        self.settle(20)
        self.assertEqual(self.mails(rule), [], "no mail for %s" % rule)


class Exceptions(HostileTest):
    def test_exception_on_every_request_raises_link_alarm(self):
        self.start()
        self.plc.set("co", 12, 1)
        self.state_mail("pump_fault", "ACTIVE")
        t0 = time.monotonic()
        self.plc.mode(exception=0x0B)
        m = self.link_alarm_within(t0, AFTER + SLACK + 0.5)
        why = "every request answered with exception 0x0B (gateway target failed to respond)"
        self.assertIn(why, m.get_content())
        self.assertIn("maint@example.com", m["To"])
        line = self.device_line()
        self.assertIn("link=down", line)
        self.assertIn('error="%s"' % why, line)
        last_good = line.split("last_good_poll=")[1].split()[0]
        # the gateway answers ~10 times a second: last_good_poll stays, and
        # the warning is logged once, not every cycle
        self.settle(20)
        self.assertIn("last_good_poll=%s " % last_good, self.device_line())
        self.assertLessEqual(len(self.log_lines("exception 0x0B")), 3,
                             "\n".join(self.log_lines("exception 0x0B")))
        # frozen, not cleared: the pump alarm is still on, no CLEARED
        self.assertIn("pump_fault state=ACTIVE", self.status())
        self.plc.mode(reset=True)
        self.state_mail("maxi1.link", "CLEARED")
        self.settle()
        self.assertEqual(len(self.mails("pump_fault")), 1)

    def test_one_request_failing_is_unavailable_then_read_alarm(self):
        self.start()
        t0 = time.monotonic()
        self.plc.mode(exception=0x02, exception_fc=[3])
        wait_until(lambda: "tank_temp state=NORMAL" in self.status(), timeout=10,
                   what="tank_temp listed as unavailable")
        self.assertRegex(self.status(), r"tank_temp state=NORMAL .*value=unavailable")
        self.assertIn("link=up", self.device_line())
        out = self.daemon.cli("poll", check=False, timeout=10).stdout
        self.assertRegex(out, r"tank_temp holding_register 10 unavailable")
        self.assertIn("request holding_register 10+2 failed: exception 0x02 "
                      "(illegal data address)", out)
        m = self.state_mail("maxi1.read", "ACTIVE", timeout=AFTER + 10)
        took = time.monotonic() - t0
        self.assertGreaterEqual(took, AFTER - 0.2)
        self.assertLessEqual(took, AFTER + SLACK + 0.5)
        self.assertIn("holding_register 10+2: exception 0x02 (illegal data address)",
                      m.get_content())
        # the coils still work
        self.plc.set("co", 12, 1)
        self.state_mail("pump_fault", "ACTIVE")
        self.assertEqual(self.mails("maxi1.link"), [])
        self.plc.mode(reset=True)
        self.state_mail("maxi1.read", "CLEARED")
        wait_until(lambda: "value=unavailable" not in self.status(), timeout=10,
                   what="tank_temp readable again")

    def test_exception_codes_named(self):
        self.start()
        for code, text in ((0x0C, "exception 0x0C"), (0x00, "exception 0x00"),
                           (0x04, "exception 0x04 (server device failure)")):
            self.plc.mode(exception=code)
            r = self.daemon.cli("poll", check=False, timeout=10)
            self.assertEqual(r.returncode, 1)
            self.assertIn("read failed (every request answered with %s)" % text, r.stdout)
            self.assertNotIn("Unknown error", r.stdout + r.stderr)
        wait_until(lambda: self.log_lines("exception 0x04 (server device failure)"),
                   timeout=10, what="named exception in the log")
        self.assertEqual(self.log_lines("Unknown error"), [])


class Heartbeat(HostileTest):
    after = 5.0
    device_extra = "    heartbeat: {input_register: 5, stale_after: 1s}\n"

    def test_unreadable_heartbeat_counts_as_stale(self):
        self.plc.mode(tick=["ir", 5])
        self.start()
        self.settle(20)      # a ticking heartbeat: no alarm
        self.assertEqual(self.mails("maxi1.heartbeat"), [])
        t0 = time.monotonic()
        self.plc.mode(exception=0x0B, exception_fc=[4])
        self.state_mail("maxi1.heartbeat", "ACTIVE", timeout=10)
        self.assertLessEqual(time.monotonic() - t0, 1.0 + SLACK + 0.5)
        self.plc.mode(exception=None)
        self.state_mail("maxi1.heartbeat", "CLEARED")


class Drip(HostileTest):
    """A reply dripped one byte every 450 ms: each byte inside a per-byte
    timeout, the whole reply far past `timeout`."""

    def setUp(self):
        super().setUp()
        self.other = PlcSim()
        self.addCleanup(self.other.stop)
        self.device_extra = """\
  - name: other
    host: 127.0.0.1
    port: {port}
    poll_interval: 100ms
    timeout: 500ms
""".format(port=self.other.port)
        self.extra_rules = "  - {name: other_fault, device: other, coil: 1}\n"
        self.write_config()
        self.notify = NotifySocket(os.path.join(self.work, "notify.sock"))
        self.addCleanup(self.notify.close)
        self.daemon.env.update(NOTIFY_SOCKET=self.notify.path, WATCHDOG_USEC="2000000")

    def test_drip_bounded_watchdog_pings_stop_in_one_deadline(self):
        self.start()
        self.plc.set("co", 12, 1)
        self.state_mail("pump_fault", "ACTIVE")
        t0 = time.monotonic()
        self.plc.mode(drip=0.45)
        m = self.link_alarm_within(t0, AFTER + TIMEOUT + SLACK + 0.5)
        self.assertIn("no complete reply within 500ms", m.get_content())
        # the other device keeps its pace, control answers at once
        self.other.log()
        polled = []
        wait_until(lambda: polled.extend(r for r in self.other.log() if r[0] == 1)
                   or len(polled) >= 15, timeout=3,
                   what="other device polled >= 5/s during the drip")
        s0 = time.monotonic()
        st = self.status()
        self.assertLess(time.monotonic() - s0, 1.0)
        self.assertRegex(st, r"maxi1 link=down .*error=\"no complete reply within 500ms\"")
        self.assertIn("other link=up", st)
        # poll has the same deadline
        s0 = time.monotonic()
        r = self.daemon.cli("poll", "maxi1", check=False, timeout=10)
        self.assertLess(time.monotonic() - s0, 2 * TIMEOUT + SLACK)
        self.assertIn("read failed (no complete reply within 500ms)", r.stdout)
        # reload is not held up either
        s0 = time.monotonic()
        self.daemon.signal(signal.SIGHUP)
        wait_until(lambda: "daemon: reloaded" in self.daemon.logbytes_since_start(),
                   timeout=10, what="reload")
        self.assertLess(time.monotonic() - s0, TIMEOUT + SLACK)
        # the watchdog pinged all along (WATCHDOG_USEC=2s: every ~1s)
        pings = [t for t in self.notify.times("WATCHDOG=1") if t >= t0]
        self.assertGreaterEqual(len(pings), 4, pings)
        gaps = [b - a for a, b in zip([t0] + pings, pings + [time.monotonic()])]
        self.assertLess(max(gaps), 1.9, "watchdog gaps %r" % gaps)
        # stop within one request deadline
        s0 = time.monotonic()
        self.daemon.signal(signal.SIGTERM)
        self.daemon.proc.wait(timeout=10)
        took = time.monotonic() - s0
        self.assertLess(took, TIMEOUT + 0.5, "stop took %.2fs" % took)
        figure("SIGTERM to exit during the drip", took)
        # the cut-short request is no failed cycle
        self.assertNotIn("maxi1: stopping", self.daemon.logtext())
        figure("largest watchdog gap during the drip", max(gaps))
        self.assertEqual(self.daemon.proc.returncode, 0)


class StopMidCycle(HostileTest):
    def test_stop_between_requests_is_no_failed_cycle(self):
        self.start()
        # the coil reply takes 12 x 30 ms: slow, but inside `timeout`
        self.plc.mode(drip=0.03, drip_fc=[1])
        self.plc.log()
        wait_until(lambda: any(r[0] == 1 for r in self.plc.log()), timeout=10,
                   what="a dripped coil request")
        self.daemon.signal(signal.SIGTERM)
        self.daemon.proc.wait(timeout=10)
        log = self.daemon.logtext()
        self.assertNotIn("link=down", log)
        self.assertNotIn("maxi1: stopping", log)
        self.assertEqual(self.daemon.proc.returncode, 0)


class BadFrames(HostileTest):
    def test_wrong_unit_id_is_no_data(self):
        self.start()
        self.plc.mode(unit=7)
        self.plc.set("co", 12, 1)
        t0 = time.monotonic()
        m = self.link_alarm_within(t0, AFTER + SLACK + 0.5)
        self.assertIn("reply from unit 7, expected 1", m.get_content())
        self.assertEqual(self.mails("pump_fault"), [], "another unit's data was used")
        # unit_id 255: a gateway answering for the unit behind it is fine
        with open(self.cfg) as f:
            text = f.read()
        with open(self.cfg, "w") as f:
            f.write(text.replace("    timeout: 500ms\n", "    timeout: 500ms\n    unit_id: 255\n", 1))
        self.daemon.signal(signal.SIGHUP)
        self.state_mail("pump_fault", "ACTIVE")

    def test_bad_mbap_length_and_protocol_id_are_no_data(self):
        self.start()
        for bad, why in (({"mbap_delta": 1}, "MBAP length"),
                         ({"mbap_delta": -1}, "MBAP length"),
                         ({"protocol": 0x0001}, "protocol id 0x0001"),
                         ({"protocol": 0x0100}, "protocol id 0x0100")):
            self.plc.mode(reset=True, **bad)
            conns = self.plc.connections()
            self.plc.set("co", 12, 1)
            wait_until(lambda: why in self.device_line(), timeout=10,
                       what="status error %r" % why)
            # the connection is dropped and opened again
            wait_until(lambda: self.plc.connections() >= conns + 2, timeout=10,
                       what="reconnects")
            # two more bad replies (reconnects back off, up to `after`)
            self.settle(2)
            self.assertEqual(self.mails("pump_fault"), [], "data of a bad frame used: %r" % bad)
            self.plc.set("co", 12, 0)
        self.state_mail("maxi1.link", "ACTIVE")
        self.plc.mode(reset=True)
        self.plc.set("co", 12, 1)
        self.state_mail("pump_fault", "ACTIVE")
        self.state_mail("maxi1.link", "CLEARED")


class Floats(HostileTest):
    def test_infinite_floats_are_unavailable(self):
        self.start()
        self.plc.set("hr", 10, INF)
        wait_until(lambda: "tank_temp state=NORMAL" in self.status(), timeout=10,
                   what="tank_temp unavailable")
        self.assertIn("value=unavailable", self.status())
        self.assertIn("tank_temp holding_register 10 unavailable",
                      self.daemon.cli("poll").stdout)
        self.assert_no_mail("tank_temp")
        self.plc.set("hr", 10, F100)
        self.state_mail("tank_temp", "ACTIVE")
        self.plc.set("hr", 10, NEG_INF)
        wait_until(lambda: "value=unavailable" in self.status(), timeout=10,
                   what="-Inf unavailable")
        self.settle(20)
        self.assertEqual(len(self.mails("tank_temp")), 1, "-Inf cleared the alarm")
        self.assertIn("tank_temp state=ACTIVE", self.status())
        self.plc.set("hr", 10, F20)
        self.state_mail("tank_temp", "CLEARED")


class MailOkCoil(HostileTest):
    device_extra = "    mail_ok_coil: 50\n"

    def test_refused_mail_ok_write_backs_off_and_shows(self):
        self.plc.mode(write_exception=0x02)
        self.start()
        why = "exception 0x02 (illegal data address)"
        wait_until(lambda: 'mail_ok_coil_error="%s"' % why in self.device_line(),
                   timeout=10, what="mail_ok_coil error in status")
        self.plc.log()
        t0 = time.monotonic()
        self.settle(30)
        writes = [r for r in self.plc.log() if r[0] == 5]
        span = time.monotonic() - t0
        cycles = span / 0.1
        self.assertLessEqual(len(writes), 2 + cycles / 8,
                             "%d writes in %.1fs: no backoff" % (len(writes), span))
        self.assertEqual(len(self.log_lines("write mail_ok_coil")), 1)
        self.assertIn("link=up", self.device_line())
        self.plc.mode(write_exception=None)
        wait_until(lambda: self.plc.get("co", 50) == [1], timeout=70,
                   what="mail_ok_coil written after the backoff")
        wait_until(lambda: "mail_ok_coil_error" not in self.device_line(), timeout=10,
                   what="status error gone")


class Timers(HostileTest):
    """Timers end between polls: the poller wakes for them."""
    poll = "3s"
    extra_rules = "  - {name: slow, device: maxi1, coil: 13, on_delay: 1s}\n"

    def test_on_delay_ends_between_polls(self):
        self.start()
        self.plc.log()
        t = self.plc.set_at("co", 13, [1])
        self.state_mail("slow", "ACTIVE", timeout=10)
        seen = time.monotonic()
        first = min(r[3] for r in self.plc.log() if r[0] == 1 and r[3] >= t)
        late = seen - (first + 1.0)
        figure("on_delay end -> mail seen, poll_interval 3 s", late)
        self.assertLess(late, 0.5, "on_delay mail %.2fs late" % late)


class Backoff(HostileTest):
    def test_backoff_never_delays_link_alarm_or_recovery(self):
        self.start()
        t0 = time.monotonic()
        self.plc.down()
        self.link_alarm_within(t0, AFTER + SLACK)
        # the outage: long enough for an uncapped backoff to grow past 6 s
        time.sleep(8)
        t1 = time.monotonic()
        self.plc.up()
        self.state_mail("maxi1.link", "CLEARED", timeout=AFTER + 10)
        took = time.monotonic() - t1
        self.assertLessEqual(took, AFTER + SLACK, "recovery seen after %.2fs" % took)
        figure("recovery (link CLEARED mail) after the outage", took)


if __name__ == "__main__":
    test_alarms.EXE = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
