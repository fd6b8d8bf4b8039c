#!/usr/bin/python3
"""Modbus RTU bus benchmark (run on demand, prints a table; not part of
meson test): how close one bus thread gets to what the line can carry.

Eight units (pymodbus, rtu_sim.py) on one 19200-baud line, each a device
with a rule on its coil 0 and poll_interval 10ms: the units ask for 800
requests/s, more than the line (and, unpaced, the software) carries, so
the bus is never idle and the figure is the bus's own rate. The line is tests/peers/paced_line.py: a pty
pair that hands each frame over when its last character would have
arrived at the baud rate (11 bits a character: start, 8 data, parity or a
second stop bit, stop) and keeps the line silent for 3.5 characters after
each frame, as the Modbus serial line specification requires. A plain pty
pair (socat) would pass frames at memory speed: rates on it say nothing
about a real line.

Reported per run: requests/s achieved; the line-rate limit for the frames
actually seen, 1 / ((request + reply bytes) x 11 / baud + 2 x 3.5 characters),
i.e. back-to-back frames with nobody taking any time to answer; their
ratio; the mean time the master took from a reply to its next request and
the units (pymodbus) took from a request to their reply; the lowest and
highest unit's share; for the daemon its CPU time per request. The same
line and units are then polled by mbpoll (libmodbus too) as comparison:
its own loop (`-a 1:8 -l 10`: it waits the poll rate, at least 10 ms,
after each unit) and one `mbpoll -1 -a 1:8` process after another. A last
pair of rows with --unpaced runs the line at pty speed: the software's own
ceiling (the units' Python is the slowest part there).

usage: bench_rtu.py path/to/modbus2mail [--seconds 15] [--baud 19200] [--unpaced]
"""
import argparse
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import tty

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
sys.path.insert(0, HERE)
from bench_alarm import proc_cpu_rss  # noqa: E402
from harness import Daemon, free_port, stop_child, wait_until  # noqa: E402
from paced_line import PacedLine  # noqa: E402
from rtu_sim import RtuSim  # noqa: E402

UNITS = tuple(range(1, 9))
BITS = 11   # per character: start, 8 data, parity (or 2nd stop), stop


def config(work, port, baud):
    out = ["hostname: bench", "spool_dir: %s" % os.path.join(work, "spool"), "smtp:",
           # Nothing is mailed: the coils stay 0 and every link stays up.
           "  url: smtp://127.0.0.1:%d" % free_port(), "  tls: none",
           "  from: bench@example.com", "defaults:", "  to: [ops@example.com]",
           "devices:"]
    for u in UNITS:
        out += ["  - name: unit%d" % u,
                # 8N2: 11 bits a character like the Modbus default 8E1; a
                # pty has no parity (nor baud rate: the paced line has).
                "    serial: {port: %s, baud: %d, parity: none, stop_bits: 2}" % (port, baud),
                "    unit_id: %d" % u, "    poll_interval: 10ms", "    timeout: 500ms"]
    out.append("rules:")
    for u in UNITS:
        out += ["  - name: u%d_fault" % u, "    device: unit%d" % u, "    coil: 0"]
    return "\n".join(out) + "\n"


class Run:
    """One master polling the eight units over a fresh line for `seconds`."""

    def __init__(self, seconds, baud, paced, top):
        self.seconds, self.baud, self.paced = seconds, baud, paced
        self.work = tempfile.mkdtemp(dir=top)

    def __call__(self, master):
        with PacedLine(self.work, baud=self.baud if self.paced else None) as line:
            sim = RtuSim(UNITS, serial=line.device_end)
            try:
                return self.measure(master, line, sim)
            finally:
                sim.stop()

    def measure(self, master, line, sim):
        seen = set()

        def all_units_asked():
            seen.update(u for u, reqs in sim.log().items() if reqs)
            return seen == set(UNITS)
        stop, cpu = master(line.daemon_end)
        try:
            wait_until(all_units_asked, timeout=30, what="requests to all 8 units")
            time.sleep(1.0)   # settle: every unit's first cycle is behind us
            sim.log()
            line.reset()
            cpu0 = cpu()
            time.sleep(self.seconds)
            stats, per_unit, cpu1 = line.stats(), sim.log(), cpu()
        finally:
            stop()
        return stats, {u: len(r) for u, r in per_unit.items()}, \
            (None if cpu0 is None else cpu1 - cpu0)


def daemon_master(exe, work, baud):
    def start(port):
        cfg = os.path.join(work, "bench.yaml")
        with open(cfg, "w") as f:
            f.write(config(work, port, baud))
        d = Daemon(exe, cfg, args=()).start()
        return d.stop, lambda: proc_cpu_rss(d.proc.pid)[0]
    return start


def mbpoll_args(port, baud):
    return ["mbpoll", "-m", "rtu", "-b", str(baud), "-P", "none", "-s", "2",
            "-a", "%d:%d" % (UNITS[0], UNITS[-1]), "-t", "0", "-r", "1", "-c", "1",
            "-o", "0.5", port]


def mbpoll_loop_master(baud):
    """mbpoll's own loop at its shortest poll rate."""
    def start(port):
        p = subprocess.Popen(mbpoll_args(port, baud) + ["-l", "10"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return lambda: stop_child(p), lambda: None
    return start


def mbpoll_once_master(baud):
    """One `mbpoll -1` (all eight units once) after the other, from a shell
    loop: no poll-rate wait, a process start and port open per round."""
    def start(port):
        cmd = " ".join(mbpoll_args(port, baud) + ["-1"])
        p = subprocess.Popen(["sh", "-c", "while :; do %s >/dev/null 2>&1; done" % cmd],
                             start_new_session=True)
        return lambda: stop_group(p), lambda: None
    return start


def stop_group(proc):
    """The shell loop and its current mbpoll: the process group it leads."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=10)
            return
        except subprocess.TimeoutExpired:
            pass


def calibrate(baud, top):
    """Seconds a 100-byte frame takes through the paced line (from the write
    on one end to the last byte read on the other)."""
    with PacedLine(tempfile.mkdtemp(dir=top), baud=baud) as line:
        a = os.open(line.daemon_end, os.O_RDWR | os.O_NOCTTY)
        b = os.open(line.device_end, os.O_RDWR | os.O_NOCTTY)
        try:
            for fd in (a, b):
                tty.setraw(fd)
            t0, got = time.monotonic(), b""
            os.write(a, bytes(100))
            while len(got) < 100 and time.monotonic() - t0 < 5:
                if select.select([b], [], [], 5)[0]:
                    got += os.read(b, 100)
            return time.monotonic() - t0
        finally:
            os.close(a)
            os.close(b)


def limit(stats, baud):
    """Requests/s the line carries back to back with the frames seen."""
    n = stats["requests"]
    if not n:
        return 0.0
    chars = (stats["request_bytes"] + stats["reply_bytes"]) / n + 2 * 3.5
    return baud / (chars * BITS)


def row(name, result, baud, paced):
    stats, per_unit, cpu = result
    rate = stats["requests"] / stats["seconds"]
    n = max(stats["requests"], 1)
    cells = [name, "%.1f" % rate]
    if paced:
        lim = limit(stats, baud)
        cells += ["%.1f" % lim, "%.2f" % (rate / lim if lim else 0)]
    else:
        cells += ["-", "-"]
    cells += ["%.1f" % (1000 * stats["daemon_turnaround_s"] / n),
              "%.1f" % (1000 * stats["device_turnaround_s"] / n),
              "%d-%d" % (min(per_unit.values()), max(per_unit.values())),
              "-" if cpu is None else "%.0f" % (1e6 * cpu / n)]
    return cells


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--baud", type=int, default=19200)
    ap.add_argument("--unpaced", action="store_true",
                    help="also run daemon and mbpoll -1 over an unpaced line")
    a = ap.parse_args()
    exe = os.path.abspath(a.exe)
    with tempfile.TemporaryDirectory(prefix="m2m-bench-rtu-") as top:
        report(exe, a, top)


def report(exe, a, top):
    work = tempfile.mkdtemp(dir=top)
    runs = [("modbus2mail bus thread", daemon_master(exe, work, a.baud), True),
            ("mbpoll -a 1:8 -l 10", mbpoll_loop_master(a.baud), True),
            ("mbpoll -1 -a 1:8, looped", mbpoll_once_master(a.baud), True)]
    if a.unpaced:
        runs += [("modbus2mail, unpaced line", daemon_master(exe, work, a.baud), False),
                 ("mbpoll -1 looped, unpaced", mbpoll_once_master(a.baud), False)]
    head = ["master", "req/s", "line limit", "ratio", "master ms", "units ms",
            "per unit", "CPU us/req"]
    print("8 units, one line at %d baud, %d bits a character, %.0f s a run; "
          "requests FC 1 (one coil)" % (a.baud, BITS, a.seconds))
    print("paced line: a 100-byte frame takes %.1f ms (wire time %.1f ms)" %
          (1000 * calibrate(a.baud, top), 1000 * 100 * BITS / a.baud))
    rows = [head]
    for name, master, paced in runs:
        rows.append(row(name, Run(a.seconds, a.baud, paced, top)(master), a.baud, paced))
        print("  done: %s" % name, file=sys.stderr)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for r in rows:
        print("  ".join(c.rjust(w) if i else c.ljust(w)
                        for i, (c, w) in enumerate(zip(r, widths))))


if __name__ == "__main__":
    main()
