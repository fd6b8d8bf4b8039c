#!/usr/bin/python3
"""Web page benchmarks (issue 16; run on demand, prints a table).

1. Render: bench_render (built next to the tests) times the pure rendering
   of the overview and /metrics for 20 devices x 500 rules (CPU time; goal
   <= 10 ms p99). Then a daemon with that configuration (1,000 alarms
   active, web server and history on): GET / and GET /metrics over one
   keep-alive connection, time to the last byte, and the daemon's RSS with
   and without the web server and history (goal <= 24 MiB), also for a
   small configuration (1 device x 10 rules). The idle CPU at 20 x 500
   without web server: the whole daemon and its main thread, which takes
   the readers' snapshot each second.
2. Alarm latency overhead (poll saw the bit -> mail accepted, as in
   bench_alarm.py) without the web server, and with it while a client
   fetches / and /metrics 10 times a second (goal: <= 5 ms p99 more).

usage: bench_web.py path/to/modbus2mail [--requests 300] [--samples 40] [--idle 30]
"""
import argparse
import contextlib
import http.client
import os
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from bench_alarm import TimedCatcher, config, latency, pct, proc_cpu_rss  # noqa: E402
from harness import Daemon, free_port, tmpdir, wait_until  # noqa: E402
from plc_sim import PlcSim  # noqa: E402

NDEV, NRULES, NACTIVE = 20, 500, 50


def fetch(conn, path):
    t0 = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    if r.status != 200:
        raise AssertionError("%s: %d" % (path, r.status))
    return (time.perf_counter() - t0) * 1000, len(body)


@contextlib.contextmanager
def polling_daemon(exe, ndev, nrules, web, unit="", active=0):
    """A daemon polling ndev x nrules at 1 s, with web server and history or
    without either (rules with `unit` when given; the first `active` coils
    set before it starts); yields it and its web port."""
    work = tmpdir("m2m-bench-rss-")
    smtp_port, http_port = free_port(), free_port()
    catcher = TimedCatcher(smtp_port).start()
    plc = PlcSim()
    daemon = None
    try:
        rules = ["  - {name: d%d_r%d, device: d%d, coil: %d%s}"
                 % (d, r, d, r, ", unit: " + unit if unit else "")
                 for d in range(ndev) for r in range(nrules)]
        extra = ("http: {listen: [\"127.0.0.1:%d\"]}\nhistory: {keep: 1d}\n" % http_port
                 if web else "history: false\n")
        cfg = os.path.join(work, "b.yaml")
        with open(cfg, "w") as f:
            f.write(config(os.path.join(work, "spool"), smtp_port,
                           [("d%d" % d, plc.port) for d in range(ndev)], rules,
                           poll="1s") + extra)
        if active:
            plc.set("co", 0, [1] * active)
        daemon = Daemon(exe, cfg, args=()).start()
        yield daemon, http_port
    finally:
        if daemon:
            daemon.stop()
        plc.stop()
        catcher.stop()


def rss_of(exe, ndev, nrules, web):
    """RSS (KiB) of a polling_daemon 10 s after start (with the web server:
    a few pages fetched)."""
    with polling_daemon(exe, ndev, nrules, web) as (daemon, http_port):
        time.sleep(3)
        if web:
            conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)
            for path in ("/", "/metrics", "/history", "/queue", "/config") * 3:
                fetch(conn, path)
        time.sleep(7)
        return proc_cpu_rss(daemon.proc.pid)[1]


def thread_cpu(pid, tid):
    """Seconds on a CPU (the scheduler's nanoseconds, finer than ticks)."""
    with open("/proc/%d/task/%d/schedstat" % (pid, tid)) as f:
        return int(f.read().split()[0]) / 1e9


def idle_cpu(exe, seconds):
    """CPU share of a core over seconds of a polling_daemon at 20 x 500
    without web server, nothing changing: the whole daemon and its main
    thread alone (it takes the readers' snapshot each 1 s tick)."""
    with polling_daemon(exe, NDEV, NRULES, False) as (daemon, _):
        pid = daemon.proc.pid
        time.sleep(5)
        all0, main0 = proc_cpu_rss(pid)[0], thread_cpu(pid, pid)
        time.sleep(seconds)
        all1, main1 = proc_cpu_rss(pid)[0], thread_cpu(pid, pid)
    return (all1 - all0) / seconds, (main1 - main0) / seconds


def render(exe, requests):
    with polling_daemon(exe, NDEV, NRULES, True, unit="bar",
                        active=NACTIVE) as (daemon, http_port):
        conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=10)

        def all_active():
            conn.request("GET", "/metrics")
            text = conn.getresponse().read().decode()
            return sum(1 for line in text.splitlines()
                       if line.startswith("modbus2mail_alarm_active{")
                       and line.endswith(" 1")) == NDEV * NACTIVE
        wait_until(all_active, timeout=60, interval=0.5, what="alarms active")
        out = {}
        for path in ("/", "/metrics", "/healthz"):
            fetch(conn, path)
            samples = [fetch(conn, path) for _ in range(requests)]
            times = [t for t, _ in samples]
            out[path] = (pct(times, 50), pct(times, 99), max(times), samples[-1][1])
        _, rss, hwm = proc_cpu_rss(daemon.proc.pid)
        return out, rss, hwm


def poll_page(port, hz=10):
    """During the latency run: / and /metrics alternately, hz per second."""
    stop = threading.Event()
    count = [0]

    def run():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        i = 0
        while not stop.wait(1.0 / hz):
            fetch(conn, "/" if i % 2 == 0 else "/metrics")
            i += 1
            count[0] += 1
    t = threading.Thread(target=run, daemon=True)
    t.start()

    def halt():
        stop.set()
        t.join(10)
    return halt, count


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--idle", type=int, default=30, help="seconds of idle CPU")
    a = ap.parse_args()
    exe = os.path.abspath(a.exe)
    tool = os.path.join(os.path.dirname(exe), "..", "tests", "bench_render")
    subprocess.run([tool, str(a.requests)], check=True)
    out, rss, hwm = render(exe, a.requests)
    print("web server, %d devices x %d rules (%d alarms active), %d requests each"
          % (NDEV, NRULES, NDEV * NACTIVE, a.requests))
    print("  %-12s %8s %8s %8s %10s" % ("", "p50 ms", "p99 ms", "max ms", "bytes"))
    for path, (p50, p99, mx, size) in out.items():
        print("  %-12s %8.2f %8.2f %8.2f %10d" % (path, p50, p99, mx, size))
    print("  daemon RSS with web server and history: %d KiB (peak %d KiB)" % (rss, hwm))
    print("daemon RSS 10 s after start (KiB)   web+history   neither")
    for ndev, nrules in ((1, 10), (NDEV, NRULES)):
        print("  %2d devices x %3d rules          %11d %9d"
              % (ndev, nrules, rss_of(exe, ndev, nrules, True),
                 rss_of(exe, ndev, nrules, False)))
    whole, main_thread = idle_cpu(exe, a.idle)
    print("idle CPU, %d devices x %d rules polled at 1 s, no web server, %d s"
          % (NDEV, NRULES, a.idle))
    print("  whole daemon %.2f%% of a core; main thread (snapshot each tick) "
          "%.2f%%, %.2f ms a tick" % (100 * whole, 100 * main_thread, 1000 * main_thread))
    base_total, base = latency(exe, a.samples)
    port = free_port()
    polled = {}

    def during(daemon):
        halt, polled["n"] = poll_page(port)
        return halt
    web_total, web = latency(exe, a.samples, extra="http: {listen: [\"127.0.0.1:%d\"]}\n"
                             % port, during=during)
    print("alarm latency, poll saw bit -> mail accepted, %d samples" % a.samples)
    print("  %-40s %8s %8s" % ("", "p50 ms", "p99 ms"))
    print("  %-40s %8.2f %8.2f" % ("no web server", pct(base, 50), pct(base, 99)))
    print("  %-40s %8.2f %8.2f" % ("page and /metrics polled 10/s (%d GETs)"
                                   % polled["n"][0], pct(web, 50), pct(web, 99)))
    print("  %-40s %8.2f %8.2f" % ("difference", pct(web, 50) - pct(base, 50),
                                   pct(web, 99) - pct(base, 99)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
