#!/usr/bin/python3
"""The one-minute demo: a simulated Controllino (pymodbus Modbus/TCP server),
a local mail catcher (aiosmtpd), and the real modbus2mail daemon between them.
An alarm bit is set on the PLC and the email it becomes is printed.

usage: /usr/bin/python3 tests/demo.py [path/to/modbus2mail]
"""
import os
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
from catcher import Catcher  # noqa: E402
from harness import Daemon, free_port, wait_until  # noqa: E402
from plc_sim import PlcSim  # noqa: E402

CONFIG = """\
# Demo configuration written by tests/demo.py
hostname: demo-gateway
spool_dir: {spool}
smtp:
  url: smtp://127.0.0.1:{smtp_port}
  tls: none            # the catcher is local; a real provider uses TLS
  from: "Line 3 Alarms <alarms@demo.example>"
  retry: {{initial: 1s, max: 5s, give_up_after: 1h}}
recipients:
  ops: ["Operator <ops@demo.example>"]
devices:
  - name: maxi1
    host: 127.0.0.1
    port: {plc_port}
    poll_interval: 200ms
defaults:
  to: [ops]
rules:
  - name: pump1_fault
    device: maxi1
    coil: 12
    severity: critical
    on_delay: 500ms
    off_delay: 1s
    subject: "{{severity}}: {{name}} {{state}} on {{device}}"
    body: |
      Pump 1 reports a fault since {{since}}.
      Check the motor protection switch in cabinet 3.
"""


def show(env, title):
    print("=" * 72)
    print(title)
    print("envelope: MAIL FROM:<%s> RCPT TO:%s" % (env.mail_from, env.rcpt_tos))
    print("-" * 72)
    print(env.content.decode("utf-8", "replace").replace("\r\n", "\n"))


def main():
    exe = sys.argv[1] if len(sys.argv) > 1 else "build/src/modbus2mail"
    work = tempfile.mkdtemp(prefix="m2m-demo-")
    smtp_port = free_port()
    catcher = Catcher(smtp_port).start()
    plc = PlcSim()
    daemon = None
    try:
        cfg = os.path.join(work, "demo.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(spool=os.path.join(work, "spool"), smtp_port=smtp_port,
                                 plc_port=plc.port))
        print("demo: simulated PLC on 127.0.0.1:%d, mail catcher on 127.0.0.1:%d"
              % (plc.port, smtp_port))
        daemon = Daemon(exe, cfg, args=()).start()
        print("demo: modbus2mail is polling; setting coil 12 (pump1_fault) on the PLC")
        plc.set("co", 12, 1)
        wait_until(lambda: len(catcher.messages) >= 1, timeout=30, what="the ACTIVE mail")
        show(catcher.messages[0], "demo: the alarm became this email:")
        print("demo: clearing coil 12")
        plc.set("co", 12, 0)
        wait_until(lambda: len(catcher.messages) >= 2, timeout=30, what="the CLEARED mail")
        show(catcher.messages[1], "demo: and the all-clear, threaded to the first:")
        print("=" * 72)
        print("demo: done. Daemon log: %s.log" % cfg)
        return 0
    finally:
        if daemon is not None:
            daemon.stop()
        plc.stop()
        catcher.stop()


if __name__ == "__main__":
    sys.exit(main())
