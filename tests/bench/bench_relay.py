#!/usr/bin/python3
"""Relay throughput: N queued messages relayed to postfix's smtp-sink on
loopback (tls: none, one reused connection), durability on (every message
removed from the spool with an fsync'd directory). Prints a table with
messages/s, connections used and the relay's peak RSS (VmHWM).

usage: bench_relay.py MODBUS2MAIL_EXE SPOOL_INJECT_EXE [-n 1000] [-s 1024] [-r 3]
(smtp-sink refuses to run as root without -u; it runs as -u nobody here.)
"""
import argparse
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from relay_common import Relay, cleanup, free_port, tmpdir, wait_until  # noqa: E402


def vmhwm_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def sink_counts(path):
    with open(path, "rb") as f:
        text = f.read().decode("ascii", "replace")
    m = re.findall(r"sess=(\d+) quit=(\d+) mesg=(\d+)", text)
    return tuple(int(x) for x in m[-1]) if m else (0, 0, 0)


def one_run(m2m, tool, n, size):
    d = tmpdir("m2m-bench-")
    port = free_port()
    sink_out = os.path.join(d, "sink.out")
    with open(sink_out, "wb") as so:
        sink = subprocess.Popen(["smtp-sink", "-u", "nobody", "-c", "127.0.0.1:%d" % port, "256"],
                                stdout=so, stderr=subprocess.STDOUT)
    r = Relay(m2m, tool, d, url="smtp://127.0.0.1:%d" % port, tls_none=True, ca=None)
    try:
        t0 = time.monotonic()
        r.inject(n, body=size)
        t_inject = time.monotonic() - t0
        qdir = os.path.join(r.spool, "queue")
        t0 = time.monotonic()
        r.start()
        pid = r.proc.proc.pid
        peak = 0
        while True:
            peak = max(peak, vmhwm_kib(pid))
            left = sum(1 for f in os.listdir(qdir) if f.endswith(".msg"))
            if left == 0:
                break
            if time.monotonic() - t0 > 300:
                raise AssertionError("still %d queued after 300s" % left)
            time.sleep(0.01)
        elapsed = time.monotonic() - t0
        peak = max(peak, vmhwm_kib(pid))
        sent = r.logtext().count("status=sent")
        r.stop()
        wait_until(lambda: sink_counts(sink_out)[2] >= n, timeout=10, what="sink counters")
        sess, _, mesg = sink_counts(sink_out)
        return dict(n=n, size=size, inject_s=t_inject, s=elapsed,
                    rate=n / elapsed, sent=sent, sink_msgs=mesg, sessions=sess, hwm=peak)
    finally:
        r.stop()
        sink.terminate()
        try:
            sink.wait(timeout=10)
        except subprocess.TimeoutExpired:
            sink.kill()
            sink.wait(timeout=10)
        cleanup(d)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("m2m")
    ap.add_argument("tool")
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("-s", "--size", type=int, default=1024, help="body octets per message")
    ap.add_argument("-r", "--runs", type=int, default=3)
    a = ap.parse_args()
    rows = [one_run(os.path.abspath(a.m2m), os.path.abspath(a.tool), a.n, a.size)
            for _ in range(a.runs)]
    print("%6s %6s %9s %9s %9s %6s %8s %9s" % ("msgs", "body", "inject_s",
          "relay_s", "msg/s", "sink", "sessions", "VmHWM"))
    for x in rows:
        print("%6d %6d %9.2f %9.2f %9.1f %6d %8d %6d KiB" % (
            x["n"], x["size"], x["inject_s"], x["s"], x["rate"],
            x["sink_msgs"], x["sessions"], x["hwm"]))
        if x["sink_msgs"] < x["n"]:
            print("error: sink saw %d of %d" % (x["sink_msgs"], x["n"]), file=sys.stderr)
            return 1
    rates = sorted(x["rate"] for x in rows)
    print("median %.1f msg/s over %d runs" % (rates[len(rates) // 2], len(rows)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
