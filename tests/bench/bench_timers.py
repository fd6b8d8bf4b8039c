#!/usr/bin/python3
"""Alarm timers on time (run on demand, prints a table; not part of meson
test). The daemon polls every second; its poller must wake for an alarm
deadline, not wait for the next poll or reconnect. For three timers, the
time from the deadline to the mail accepted by a local aiosmtpd catcher:

- link loss: every request answered with exception 0x0B; deadline = the
  first such answer + link_alarm.after (2 s),
- heartbeat stale: the counter stops; deadline = its last change seen +
  stale_after (2 s),
- on_delay: a coil goes to 1; deadline = the first read that saw it +
  on_delay (1.5 s).

Times come from one clock: the hostile PLC logs each request with
time.monotonic(), the catcher stamps acceptance with it too, and a thread
stamps the daemon's log line of the raise ("alarm: device=... state=ACTIVE",
written when the mail is composed, before the spool's fsync), which splits
the figure into the timer's part and the mail path's. Goal: p99 <= 100 ms
on loopback.

usage: bench_timers.py path/to/modbus2mail [--samples 20]
"""
import argparse
import os
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
sys.path.insert(0, HERE)
from bench_alarm import TimedCatcher, pct  # noqa: E402
from harness import Daemon, free_port, tmpdir, wait_until  # noqa: E402
from hostile_plc import HostilePlc  # noqa: E402

CONFIG = """\
hostname: bench
spool_dir: {spool}
smtp:
  url: smtp://127.0.0.1:{smtp_port}
  tls: none
  from: bench@example.com
  retry: {{initial: 1s, max: 2s, give_up_after: 1h}}
defaults:
  to: [ops@example.com]
  notify_clear: false
devices:
  - name: plc
    host: 127.0.0.1
    port: {plc_port}
    poll_interval: 1s
    timeout: 500ms
{device}
rules:
  - name: bit
    device: plc
    coil: 12
    on_delay: 1500ms
"""


class StampedDaemon(Daemon):
    """The daemon with its log read line by line as it comes, stamped."""

    def start(self):
        self.stamped = []
        self.proc = subprocess.Popen([self.exe, "run", "-c", self.config],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=self.env, text=True)
        threading.Thread(target=self._read, daemon=True).start()
        wait_until(lambda: any("daemon: started" in ln for _, ln in self.stamped),
                   timeout=20, what="daemon start")
        return self

    def _read(self):
        for line in self.proc.stdout:
            self.stamped.append((time.monotonic(), line))

    def raised(self, rule, n):
        """When the n-th ACTIVE of rule was logged."""
        return [t for t, ln in list(self.stamped)
                if "rules=%s state=ACTIVE" % rule in ln][n - 1]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=15)


class Bench:
    def __init__(self, exe, device):
        self.work = tmpdir("m2m-bench-")
        self.catcher = TimedCatcher(free_port()).start()
        self.plc = HostilePlc()
        cfg = os.path.join(self.work, "b.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(spool=os.path.join(self.work, "spool"),
                                  smtp_port=self.catcher.controller.port,
                                  plc_port=self.plc.port, device=device))
        self.daemon = StampedDaemon(exe, cfg, args=())

    def __enter__(self):
        self.daemon.start()
        wait_until(lambda: "link=up" in self.daemon.cli("status").stdout, what="link up")
        return self

    def __exit__(self, *exc):
        self.daemon.stop()
        self.plc.stop()
        self.catcher.stop()

    def mail(self, rule, state, n):
        """Acceptance time of the n-th (1-based) mail of rule in state."""
        def found():
            got = [e for e, m in zip(list(self.catcher.messages), self.catcher.parsed())
                   if m["X-Modbus2mail-Rule"] == rule and
                   m.get_content().lstrip().startswith(state)]
            return got[n - 1] if len(got) >= n else None
        return wait_until(found, timeout=20, interval=0.005,
                          what="%s %s mail %d" % (rule, state, n)).accepted_at

    def sample(self, deadline, rule, n, accepted):
        """(deadline -> raise logged, deadline -> mail accepted) in ms."""
        return ((self.daemon.raised(rule, n) - deadline) * 1000,
                (accepted - deadline) * 1000)

    def reads(self, fc):
        return [r[3] for r in self.plc.log() if r[0] == fc]


def link_loss(exe, samples):
    out = []
    with Bench(exe, "    link_alarm: {after: 2s}") as b:
        for i in range(1, samples + 1):
            b.plc.log()
            t = b.plc.mode_at(exception=0x0B)
            accepted = b.mail("plc.link", "ACTIVE", i)
            first = min(r for r in b.reads(1) if r >= t)
            out.append(b.sample(first + 2.0, "plc.link", i, accepted))
            b.plc.mode(reset=True)
            b.mail("plc.link", "CLEARED", i)
    return out


def heartbeat(exe, samples):
    out = []
    with Bench(exe, "    link_alarm: false\n"
               "    heartbeat: {input_register: 5, stale_after: 2s}") as b:
        b.plc.mode(tick=["ir", 5])
        for i in range(1, samples + 1):
            b.plc.log()
            seen = []
            wait_until(lambda: seen.extend(b.reads(4)) or seen, timeout=10,
                       what="a heartbeat read")
            t = b.plc.mode_at(tick=None)
            seen += b.reads(4)
            last_change = max(r for r in seen if r < t)
            accepted = b.mail("plc.heartbeat", "ACTIVE", i)
            out.append(b.sample(last_change + 2.0, "plc.heartbeat", i, accepted))
            b.plc.mode(tick=["ir", 5])
            b.mail("plc.heartbeat", "CLEARED", i)
    return out


def on_delay(exe, samples):
    out = []
    with Bench(exe, "    link_alarm: false") as b:
        for i in range(1, samples + 1):
            b.plc.log()
            t = b.plc.set_at("co", 12, [1])
            accepted = b.mail("bit", "ACTIVE", i)
            first = min(r for r in b.reads(1) if r >= t)
            out.append(b.sample(first + 1.5, "bit", i, accepted))
            b.plc.set("co", 12, [0])
            wait_until(lambda: "state=ACTIVE" not in b.daemon.cli("status").stdout,
                       what="alarm cleared")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("--samples", type=int, default=20)
    a = ap.parse_args()
    exe = os.path.abspath(a.exe)
    print("alarm timers, poll_interval 1 s, %d samples each"
          % a.samples)
    print("  %-34s %-16s %8s %8s %8s" % ("", "deadline ->", "p50 ms", "p99 ms",
                                         "max ms"))
    for name, fn in (("link loss (after 2 s)", link_loss),
                     ("heartbeat stale (stale_after 2 s)", heartbeat),
                     ("on_delay 1.5 s", on_delay)):
        samples = fn(exe, a.samples)
        for i, what in enumerate(("alarm raised", "mail accepted")):
            v = [s[i] for s in samples]
            print("  %-34s %-16s %8.1f %8.1f %8.1f" % (name if i == 0 else "", what,
                  pct(v, 50), pct(v, 99), max(v)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
