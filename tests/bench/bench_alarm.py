#!/usr/bin/python3
"""Alarm path benchmarks (run on demand, prints a table; not part of meson test).

1. Latency: a coil is set on a pymodbus PLC, the daemon (poll_interval
   100 ms) polls it, raises the alarm, spools and relays the mail to a local
   aiosmtpd catcher. Reported: bit set -> mail accepted (p50/p99), and the
   same minus the poll wait, i.e. from the poll that saw the bit to the mail
   accepted (the gateway's own overhead; goal <= 5 ms p99).
2. Load: 10 devices x 200 points at 10 Hz; daemon CPU and RSS, and Modbus
   requests per cycle against one request per rule.

usage: bench_alarm.py path/to/modbus2mail [--samples 40] [--seconds 20]
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from catcher import Catcher  # noqa: E402
from harness import Daemon, cpu_seconds, free_port, tmpdir, wait_until  # noqa: E402
from plc_sim import PlcSim  # noqa: E402


class TimedCatcher(Catcher):
    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        envelope.accepted_at = time.monotonic()
        return await super().handle_DATA(server, session, envelope)


def pct(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, int(round(p / 100.0 * (len(values) - 1)))))
    return values[k]


def config(spool, smtp_port, devices, rules, poll="100ms"):
    out = ["hostname: bench", "spool_dir: %s" % spool, "smtp:",
           "  url: smtp://127.0.0.1:%d" % smtp_port, "  tls: none",
           "  from: bench@example.com", "  retry: {initial: 1s, max: 2s, give_up_after: 1h}",
           "defaults:", "  to: [ops@example.com]", "  notify_clear: false", "devices:"]
    for name, port in devices:
        out += ["  - name: %s" % name, "    host: 127.0.0.1", "    port: %d" % port,
                "    poll_interval: %s" % poll, "    timeout: 500ms"]
    out.append("rules:")
    out += rules
    return "\n".join(out) + "\n"


class SinkCatcher:
    """Postfix's smtp-sink (C, fast) as the upstream: each message is dumped
    to a file whose mtime (taken as the moment of acceptance) is turned into
    this process's monotonic clock, so the peer's own slowness (aiosmtpd is
    Python) is not counted as gateway overhead."""

    def __init__(self, port):
        self.dir = tmpdir("m2m-sink-")
        os.chmod(self.dir, 0o777)
        self.proc = subprocess.Popen(
            ["smtp-sink", "-u", "nobody", "-d", os.path.join(self.dir, "%H%M%S."),
             "127.0.0.1:%d" % port, "64"], stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        wait_until(lambda: self._listening(port), timeout=10, what="smtp-sink")
        self.offset = time.time() - time.monotonic()

    @staticmethod
    def _listening(port):
        import socket
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    def times(self):
        return sorted(os.stat(os.path.join(self.dir, f)).st_mtime_ns / 1e9 - self.offset
                      for f in os.listdir(self.dir))

    def count(self):
        return len(os.listdir(self.dir))

    def last_accepted(self):
        return self.times()[-1]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def latency(exe, samples, peer="aiosmtpd", extra="", during=None):
    """extra: more YAML for the config; during(daemon) is started once the
    link is up and returns what stops it (bench_web polls the page)."""
    work = tmpdir("m2m-bench-")
    port = free_port()
    catcher = TimedCatcher(port).start() if peer == "aiosmtpd" else SinkCatcher(port)
    plc = PlcSim()
    daemon = None
    try:
        cfg = os.path.join(work, "b.yaml")
        with open(cfg, "w") as f:
            f.write(config(os.path.join(work, "spool"), port, [("plc", plc.port)],
                           ["  - name: bit", "    device: plc", "    coil: 1",
                            "    off_delay: 0s"]) + extra)
        daemon = Daemon(exe, cfg, args=()).start()
        wait_until(lambda: "link=up" in daemon.cli("status").stdout, what="link up")
        stop_during = during(daemon) if during else None
        total, overhead = [], []
        for i in range(samples):
            n = catcher.count()
            plc.log()
            t_set = time.monotonic()
            plc.set("co", 1, 1)
            wait_until(lambda: catcher.count() > n, timeout=10, interval=0.001,
                       what="mail %d" % i)
            t_mail = (catcher.messages[-1].accepted_at if peer == "aiosmtpd"
                      else catcher.last_accepted())
            reads = [r[3] for r in plc.log() if r[0] == 1 and r[3] >= t_set]
            total.append((t_mail - t_set) * 1000)
            overhead.append((t_mail - min(reads)) * 1000)
            plc.set("co", 1, 0)
            wait_until(lambda: "state=ACTIVE" not in daemon.cli("status").stdout,
                       what="alarm cleared")
        if stop_during:
            stop_during()
        return total, overhead
    finally:
        if daemon:
            daemon.stop()
        plc.stop()
        catcher.stop()


def proc_cpu_rss(pid):
    rss = hwm = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            if line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return cpu_seconds(pid), rss, hwm


def load(exe, seconds, ndev=10, points=200):
    work = tmpdir("m2m-bench-")
    port = free_port()
    catcher = Catcher(port).start()
    sims = [PlcSim() for _ in range(ndev)]
    daemon = None
    try:
        rules = []
        for d in range(ndev):
            for p in range(points // 2):
                rules += ["  - name: d%dc%d" % (d, p), "    device: plc%d" % d,
                          "    coil: %d" % (p * 3)]
                rules += ["  - name: d%dr%d" % (d, p), "    device: plc%d" % d,
                          "    holding_register: %d" % (p * 2), "    above: 1000"]
        cfg = os.path.join(work, "b.yaml")
        with open(cfg, "w") as f:
            f.write(config(os.path.join(work, "spool"), port,
                           [("plc%d" % d, s.port) for d, s in enumerate(sims)], rules))
        daemon = Daemon(exe, cfg, args=()).start()
        wait_until(lambda: daemon.cli("status").stdout.count("link=up") == ndev,
                   timeout=30, what="all links up")
        status = daemon.cli("status").stdout
        reqs = [int(x.split("=")[1]) for x in status.split() if x.startswith("requests_per_cycle=")]
        for s in sims:
            s.log()
        c0, _, _ = proc_cpu_rss(daemon.proc.pid)
        t0 = time.monotonic()
        time.sleep(seconds)  # measuring window: the daemon polls on its own
        c1, rss, hwm = proc_cpu_rss(daemon.proc.pid)
        elapsed = time.monotonic() - t0
        served = sum(len(s.log()) for s in sims)
        cycles_per_device = served / max(1, sum(reqs))
        polled_points = cycles_per_device * ndev * points
        return {"requests_per_cycle": sum(reqs) / ndev, "rules_per_device": points,
                "cpu_pct": 100 * (c1 - c0) / elapsed, "cpu_ms_per_1000_points":
                (c1 - c0) * 1000 / max(1, polled_points / 1000),
                "rss_kib": rss, "hwm_kib": hwm, "requests_served": served,
                "seconds": elapsed}
    finally:
        if daemon:
            daemon.stop()
        for s in sims:
            s.stop()
        catcher.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--seconds", type=float, default=20)
    a = ap.parse_args()
    for peer in ("aiosmtpd", "smtp-sink"):
        total, overhead = latency(os.path.abspath(a.exe), a.samples, peer)
        print("alarm latency to %s, poll_interval 100 ms, %d samples"
              % (peer, len(total)))
        print("  %-34s %8s %8s %8s" % ("", "p50 ms", "p99 ms", "max ms"))
        print("  %-34s %8.1f %8.1f %8.1f" % ("bit set -> mail accepted", pct(total, 50),
                                              pct(total, 99), max(total)))
        print("  %-34s %8.1f %8.1f %8.1f" % ("poll saw bit -> mail accepted",
                                              pct(overhead, 50), pct(overhead, 99),
                                              max(overhead)))
    r = load(os.path.abspath(a.exe), a.seconds)
    print("polling 10 devices x 200 points at 10 Hz for %.0f s" % r["seconds"])
    print("  Modbus requests per cycle per device: %.0f (one per rule: %d)"
          % (r["requests_per_cycle"], r["rules_per_device"]))
    print("  requests served by the PLCs: %d" % r["requests_served"])
    print("  daemon CPU: %.2f %% of one core, %.3f ms CPU per 1,000 polled points"
          % (r["cpu_pct"], r["cpu_ms_per_1000_points"]))
    print("  daemon RSS: %d KiB (peak %d KiB)" % (r["rss_kib"], r["hwm_kib"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
