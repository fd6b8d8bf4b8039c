#!/usr/bin/python3
"""CPU an idle daemon spends on a held queue: N messages queued while the
mail path is broken (nothing listens at smtp.url, retry.initial 1h, so after
the first run nothing is retried), measured as the daemon's CPU time
(utime + stime from /proc) over T seconds of idling. What is left is the
systemd status line, the control socket and the relay's 10 s rescans:
with the spool's counters the main loop no longer reads the queue every
second.

usage: bench_held_queue.py MODBUS2MAIL_EXE SPOOL_INJECT_EXE [-n 5000] [-t 30]
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from relay_common import Relay, cleanup, free_port, tmpdir, wait_until  # noqa: E402
from harness import cpu_seconds  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("m2m")
    ap.add_argument("tool")
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("-t", type=float, default=30)
    a = ap.parse_args()
    d = tmpdir("m2m-bench-held-")
    try:
        r = Relay(os.path.abspath(a.m2m), os.path.abspath(a.tool), d, tls_none=True,
                  url="smtp://127.0.0.1:%d" % free_port(), initial="1h", max="1h")
        r.inject(a.n)
        r.start()
        wait_until(lambda: r.logtext().count("status=deferred") >= a.n, timeout=600,
                   what="first run deferred all")
        pid = r.proc.proc.pid
        c0, t0 = 1000 * cpu_seconds(pid), time.monotonic()
        time.sleep(a.t)
        c1, t1 = 1000 * cpu_seconds(pid), time.monotonic()
        r.stop()
        print("queued=%d idle=%.0fs cpu=%dms (%.1f ms per second)"
              % (a.n, t1 - t0, c1 - c0, (c1 - c0) / (t1 - t0)))
    finally:
        cleanup(d)


if __name__ == "__main__":
    main()
