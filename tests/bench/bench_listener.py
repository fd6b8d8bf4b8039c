#!/usr/bin/python3
"""Port-25 relay throughput: modbus2mail vs Debian's Postfix, same run.

postfix's smtp-source (SESSIONS parallel sessions, MSGS messages of SIZE
octets) submits to each relay in turn; both relay to one smtp-sink. For
each: accepted msg/s (smtp-source's wall time), relayed msg/s (from the
first connection until the queue is empty again), and memory as PSS
summed over all of its processes (/proc/PID/smaps_rollup, sampled every
100 ms, peak). Durability stays on: modbus2mail fsyncs every message
before its 250, Postfix keeps its default queue-file fsync.

Then greeting latency under flood: while FLOODERS clients stream DATA as
fast as loopback allows, GREETINGS new clients connect one after another;
p50 and p99 of the time from connect to the 220.

usage: bench_listener.py MODBUS2MAIL_EXE [--sessions 10] [--msgs 5000] [--size 2048]
                        [--flooders 4] [--greetings 200]
Run as root (Postfix's master and smtp-sink -u nobody need it).
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from harness import free_port  # noqa: E402

POSTFIX_MASTER = """\
{port} inet n - n - - smtpd
pickup    unix  n - n 60 1 pickup
cleanup   unix  n - n - 0 cleanup
qmgr      unix  n - n 300 1 qmgr
rewrite   unix  - - n - - trivial-rewrite
bounce    unix  - - n - 0 bounce
defer     unix  - - n - 0 bounce
trace     unix  - - n - 0 bounce
verify    unix  - - n - 1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n - - proxymap
smtp      unix  - - n - - smtp
relay     unix  - - n - - smtp
showq     unix  n - n - - showq
error     unix  - - n - - error
retry     unix  - - n - - error
discard   unix  - - n - - discard
anvil     unix  - - n - 1 anvil
scache    unix  - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
"""

POSTFIX_MAIN = """\
compatibility_level = 3.6
queue_directory = {dir}/queue
data_directory = {dir}/data
mail_owner = postfix
myhostname = bench.local
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost = [127.0.0.1]:{sink}
smtpd_relay_restrictions = permit_mynetworks, reject
alias_maps =
alias_database =
local_recipient_maps =
maillog_file = {dir}/maillog
smtp_tls_security_level = none
message_size_limit = 10240000
"""


def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on port %d after %ss" % (port, timeout))


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def descendants(root):
    """root and every process below it."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


class PssSampler(threading.Thread):
    """Peak of the summed PSS of a process tree, every 100 ms."""

    def __init__(self, root_pid):
        super().__init__(daemon=True)
        self.root, self.peak, self.nprocs, self.stop_ev = root_pid, 0, 0, threading.Event()

    def run(self):
        while not self.stop_ev.is_set():
            pids = descendants(self.root)
            total = sum(pss_kib(p) for p in pids)
            if total > self.peak:
                self.peak, self.nprocs = total, len(pids)
            self.stop_ev.wait(0.1)

    def stop(self):
        self.stop_ev.set()
        self.join(5)
        return self.peak


def queue_count(root):
    n = 0
    for dirpath, _, files in os.walk(root):
        n += len([f for f in files if not f.startswith(".") and not f.endswith(".meta")])
    return n


def run_source(port, a):
    cmd = ["smtp-source", "-s", str(a.sessions), "-m", str(a.msgs), "-l", str(a.size),
           "-f", "plc@bench.local", "-t", "ops@example.com", "127.0.0.1:%d" % port]
    t0 = time.monotonic()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError("smtp-source failed: %s" % r.stderr.strip())
    return t0, time.monotonic()


def recv_reply(s):
    """One whole reply (its last line has a space after the code)."""
    buf = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            return buf
        buf += chunk
        lines = buf.split(b"\r\n")
        if any(len(ln) >= 4 and ln[3:4] == b" " for ln in lines[:-1]):
            return buf


def flooder(port, stop):
    """One client streaming DATA as fast as loopback allows until stop."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        recv_reply(s)
        for cmd in (b"EHLO flood", b"MAIL FROM:<f@bench.local>", b"RCPT TO:<ops@example.com>",
                    b"DATA"):
            s.sendall(cmd + b"\r\n")
            recv_reply(s)
        chunk = b"Subject: flood\r\n\r\n" + (b"f" * 1022 + b"\r\n") * 256
        while not stop.is_set():
            s.sendall(chunk)
    except OSError:
        pass
    finally:
        s.close()


def greeting_latency(port, a):
    """p50, p99 (ms) of connect-to-220 while a.flooders stream DATA."""
    stop = threading.Event()
    threads = [threading.Thread(target=flooder, args=(port, stop), daemon=True)
               for _ in range(a.flooders)]
    for t in threads:
        t.start()
    time.sleep(1)               # let the flood build up
    lat = []
    try:
        for _ in range(a.greetings):
            t0 = time.monotonic()
            with socket.create_connection(("127.0.0.1", port), timeout=60) as c:
                if not recv_reply(c).startswith(b"220"):
                    raise RuntimeError("no 220 under flood")
                lat.append((time.monotonic() - t0) * 1e3)
                c.sendall(b"QUIT\r\n")
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    lat.sort()
    return lat[len(lat) // 2], lat[min(len(lat) - 1, (len(lat) * 99) // 100)]


def wait_empty(count, timeout=1800):
    deadline = time.monotonic() + timeout
    while count() > 0:
        if time.monotonic() > deadline:
            raise RuntimeError("queue not empty after %ss" % timeout)
        time.sleep(0.02)
    return time.monotonic()


def bench_modbus2mail(exe, work, sink, a):
    port = free_port()
    spool = os.path.join(work, "m2m-spool")
    cfg = os.path.join(work, "m2m.yaml")
    with open(cfg, "w") as f:
        f.write("hostname: bench-gw\nspool_dir: %s\nsmtp:\n  url: smtp://127.0.0.1:%d\n"
                "  tls: none\n  from: alarms@example.com\nlistener:\n"
                "  listen: [\"127.0.0.1:%d\"]\n  allow: [\"127.0.0.0/8\"]\n"
                "  max_clients: 64\n" % (spool, sink, port))
    log = open(os.path.join(work, "m2m.log"), "wb")
    p = subprocess.Popen([exe, "run", "-c", cfg], stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port)
        sampler = PssSampler(p.pid)
        sampler.start()
        t0, t1 = run_source(port, a)
        t2 = wait_empty(lambda: queue_count(os.path.join(spool, "queue")))
        peak = sampler.stop()
        failed = queue_count(os.path.join(spool, "failed"))
        p50, p99 = greeting_latency(port, a)
        return dict(accept=a.msgs / (t1 - t0), relay=a.msgs / (t2 - t0), pss=peak,
                    procs=sampler.nprocs, failed=failed, p50=p50, p99=p99)
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(10)
        log.close()


def bench_postfix(work, sink, a):
    port = free_port()
    d = os.path.join(work, "postfix")
    os.makedirs(os.path.join(d, "queue"))
    os.makedirs(os.path.join(d, "data"))
    shutil.chown(os.path.join(d, "data"), "postfix")
    with open(os.path.join(d, "main.cf"), "w") as f:
        f.write(POSTFIX_MAIN.format(dir=d, sink=sink))
    with open(os.path.join(d, "master.cf"), "w") as f:
        f.write(POSTFIX_MASTER.format(port="127.0.0.1:%d" % port))
    os.chmod(work, 0o755)
    subprocess.run(["postfix", "-c", d, "check"], check=True, capture_output=True,
                   timeout=60)
    r = subprocess.run(["postfix", "-c", d, "start"], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("postfix start: %s%s" % (r.stdout, r.stderr))
    try:
        wait_port(port)
        pidfile = os.path.join(d, "queue", "pid", "master.pid")
        with open(pidfile) as f:
            master = int(f.read().split()[0])
        sampler = PssSampler(master)
        sampler.start()
        qdirs = [os.path.join(d, "queue", q) for q in ("incoming", "active", "deferred",
                                                       "maildrop", "hold")]
        t0, t1 = run_source(port, a)
        t2 = wait_empty(lambda: sum(queue_count(q) for q in qdirs))
        peak = sampler.stop()
        p50, p99 = greeting_latency(port, a)
        return dict(accept=a.msgs / (t1 - t0), relay=a.msgs / (t2 - t0), pss=peak,
                    procs=sampler.nprocs, failed=0, p50=p50, p99=p99)
    finally:
        subprocess.run(["postfix", "-c", d, "stop"], capture_output=True, timeout=60)
        # postfix stop returns before its children are gone
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and os.path.exists(
                os.path.join(d, "queue", "pid", "master.pid")):
            time.sleep(0.1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("exe")
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--msgs", type=int, default=5000)
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--flooders", type=int, default=4)
    ap.add_argument("--greetings", type=int, default=200)
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_listener: run as root (postfix master, smtp-sink -u nobody)")
    for tool in ("smtp-source", "smtp-sink", "postfix"):
        if shutil.which(tool) is None and not os.path.exists("/usr/sbin/" + tool):
            sys.exit("bench_listener: %s missing (apt-get install postfix)" % tool)
    work = tempfile.mkdtemp(prefix="m2m-bench-listener-", dir="/var/tmp")
    sink = free_port()
    sinkp = subprocess.Popen(["smtp-sink", "-u", "nobody", "127.0.0.1:%d" % sink, "256"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(sink)
        m = bench_modbus2mail(os.path.abspath(a.exe), work, sink, a)
        p = bench_postfix(work, sink, a)
    finally:
        sinkp.terminate()
        try:
            sinkp.wait(10)
        except subprocess.TimeoutExpired:
            sinkp.kill()
        if not a.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("smtp-source: %d sessions, %d messages of %d octets; relay to smtp-sink; "
          "fsync on" % (a.sessions, a.msgs, a.size))
    print("greeting latency: %d new clients while %d stream DATA at full speed" % (
        a.greetings, a.flooders))
    print("%-12s %12s %12s %10s %6s %10s %10s" % ("", "accepted/s", "relayed/s", "PSS MiB",
                                                 "procs", "220 p50 ms", "220 p99 ms"))
    for name, r in (("modbus2mail", m), ("postfix", p)):
        print("%-12s %12.0f %12.0f %10.1f %6d %10.2f %10.2f" % (
            name, r["accept"], r["relay"], r["pss"] / 1024.0, r["procs"], r["p50"], r["p99"]))
    print("%-12s %11.2fx %11.2fx %9.3fx" % ("ratio", m["accept"] / p["accept"],
                                            m["relay"] / p["relay"], m["pss"] / p["pss"]))
    if m["failed"]:
        print("warning: %d messages ended in modbus2mail's failed/" % m["failed"])
    goal = m["relay"] >= 2 * p["relay"] and m["pss"] * 5 <= p["pss"]
    print("goal (>= 2x relayed/s at <= 1/5 PSS): %s" % ("met" if goal else "NOT met"))


if __name__ == "__main__":
    main()
