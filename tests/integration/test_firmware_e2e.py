#!/usr/bin/python3
"""End to end, PLC side to inbox: the modbus2mail daemon polls the firmware
core (behind tests/firmware/m2mfw_shim, standard map, heartbeat running) with
the gateway config docs/firmware.md gives for the example sketch; an alarm
bit set through the shim's control port becomes an alarm mail at the local
aiosmtpd provider (tests/peers/smtp_provider.py: STARTTLS with a test CA made
by openssl, AUTH), clearing it a CLEARED mail, an analogue value over its
threshold another alarm; the daemon writes mail_ok (coil 31) to the PLC.
With --rtu the same over Modbus RTU: the daemon's serial device on one end
of a socat pty pair, the shim (-s) on the other, as a Controllino on RS-485.

usage: test_firmware_e2e.py MODBUS2MAIL_EXE M2MFW_SHIM [--rtu]
"""
import contextlib
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
sys.path.insert(0, os.path.join(HERE, "..", "firmware"))
from harness import Daemon, free_port, tmpdir  # noqa: E402
from smtp_provider import Provider, make_pki  # noqa: E402
from shim import Shim, wait_until  # noqa: E402

CONFIG = """\
hostname: gw-fw
spool_dir: {spool}
smtp:
  url: smtp://127.0.0.1:{smtp_port}
  ca_file: {ca}
  username: alarms@example.com
  password_file: {password_file}
  from: "Line 3 Alarms <alarms@example.com>"
  retry: {{initial: 1s, max: 2s, give_up_after: 1h}}
recipients:
  ops: [ops@example.com]
devices:
  - name: maxi1
{link}
    unit_id: 1
    poll_interval: 100ms
    timeout: 500ms
    heartbeat: {{holding_register: 0, stale_after: 10s}}
    mail_ok_coil: 31
defaults:
  to: [ops]
rules:
  - name: pump1_fault
    device: maxi1
    coil: 0
    severity: critical
    ack: {{coil: 16}}
    subject: "{{severity}}: {{name}} {{state}} on {{device}}"
  - name: tank_level_high
    device: maxi1
    input_register: 0
    scale: 0.1
    unit: "%"
    above: 80.0
    deadband: 2.0
    subject: "{{name}} {{state}} {{value}}{{unit}}"
"""


def rule_mails(provider, rule):
    return [m for m in provider.messages()
            if rule in (m.get("X-Modbus2mail-Rule") or "").split(", ")]


@contextlib.contextmanager
def plc(shim_exe, rtu):
    """The shim, and the device's link lines for the config."""
    if not rtu:
        with Shim(shim_exe, "-H") as s:
            yield s, "    host: 127.0.0.1\n    port: %d" % s.modbus_port
        return
    from pty_pair import PtyPair
    with tempfile.TemporaryDirectory() as tmp, \
            PtyPair(tmp, names=("ttyGateway", "ttyPLC")) as line, \
            Shim(shim_exe, "-H", "-s", line.device_end, "-b", "19200") as s:
        # a pty has no parity: the sketch's 8E1 becomes 8N1 here
        yield s, ("    serial: {port: %s, baud: 19200, parity: none, "
                  "data_bits: 8, stop_bits: 1}" % line.daemon_end)


def main():
    exe, shim_exe = sys.argv[1], sys.argv[2]
    rtu = "--rtu" in sys.argv[3:]
    if rtu and shutil.which("socat") is None:
        print("socat not installed (apt-get install socat)")
        return 77
    work = tmpdir("m2m-fw-")
    smtp_port = free_port()
    pki = make_pki(os.path.join(work, "pki"))
    password_file = os.path.join(work, "smtp.secret")
    with open(password_file, "w") as f:
        f.write("s3cret\n")
    os.chmod(password_file, 0o600)
    provider = Provider(smtp_port, tls="starttls", cert=pki.cert, key=pki.key,
                       user="alarms@example.com", password="s3cret").start()
    daemon = None
    try:
        with plc(shim_exe, rtu) as (shim, link):
            cfg = os.path.join(work, "m2m.yaml")
            with open(cfg, "w") as f:
                f.write(CONFIG.format(spool=os.path.join(work, "spool"), smtp_port=smtp_port,
                                      link=link, ca=pki.ca, password_file=password_file))
            r = Daemon(exe, cfg).cli("check", check=False)
            assert r.returncode == 0, "config check: %s%s" % (r.stdout, r.stderr)
            daemon = Daemon(exe, cfg).start()
            wait_until(lambda: "link=up" in daemon.cli("status").stdout, timeout=20,
                       what="device link up")

            # An alarm bit on the PLC side becomes one ACTIVE mail.
            shim.set("coil", 0, 1)
            wait_until(lambda: rule_mails(provider, "pump1_fault"), timeout=20,
                       what="pump1_fault ACTIVE mail")
            [m] = rule_mails(provider, "pump1_fault")
            assert m["Subject"] == "critical: pump1_fault ACTIVE on maxi1", m["Subject"]
            assert "ops@example.com" in m["To"], m["To"]
            assert m["Auto-Submitted"] == "auto-generated"
            env = provider.envelopes()[0]
            assert env["tls"] and env["auth"] == "alarms@example.com", env

            # The gateway reports a healthy mail path to the PLC (coil 31).
            wait_until(lambda: shim.get("coil", 31) == 1, timeout=20,
                       what="mail_ok coil 31 written 1 by the daemon")
            assert ("coil", "31", "1") in shim.writes()

            # Back to normal: one CLEARED mail in the same thread.
            shim.set("coil", 0, 0)
            wait_until(lambda: len(rule_mails(provider, "pump1_fault")) >= 2, timeout=20,
                       what="pump1_fault CLEARED mail")
            cleared = rule_mails(provider, "pump1_fault")[1]
            # same conversation: "Re: " + the first subject, state in the body
            assert cleared["Subject"] == "Re: " + m["Subject"], cleared["Subject"]
            assert cleared.get_content().startswith("CLEARED at "), cleared.get_content()
            assert cleared["In-Reply-To"] == m["Message-ID"]

            # The analogue input register over its threshold.
            shim.set("ir", 0, 900)
            wait_until(lambda: rule_mails(provider, "tank_level_high"), timeout=20,
                       what="tank_level_high mail")
            t = rule_mails(provider, "tank_level_high")[0]
            assert t["Subject"].startswith("tank_level_high ACTIVE 90"), t["Subject"]

            # The heartbeat kept advancing, so no heartbeat alarm was raised.
            wait_until(lambda: shim.get("hr", 0) > 0, timeout=10, what="heartbeat advancing")
            assert not rule_mails(provider, "maxi1.heartbeat")
            stats = shim.ctl("stats")
            assert int(stats.split()[0].split("=")[1]) > 10, stats
            assert " exceptions=0 " in stats, "daemon caused exceptions: " + stats
            # RTU: every frame of the gateway's arrived whole and checked out
            assert stats.endswith(" dropped=0"), "frames dropped: " + stats
    finally:
        if daemon is not None:
            rc = daemon.stop()
            if rc not in (0, None):
                print(daemon.logtext(), file=sys.stderr)
        provider.stop()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
