#!/usr/bin/python3
"""Acknowledge by reply, how long it takes (run on demand, prints figures;
not part of meson test). For each sample an alarm is raised, its ACTIVE
mail caught, then a recipient's "ack" reply is put into a real Dovecot
mailbox by IMAP APPEND; the figure is the time from the end of the APPEND
to the ACKNOWLEDGED mail accepted by the provider (a local aiosmtpd
catcher, one clock: time.monotonic()). The alarm is then cleared for the
next sample.

The mailbox is read every imap.poll_interval, so the wait for the next
check (uniform in 0..poll_interval: each reply is appended at a random
moment) dominates; the rest is the IMAP round
trips, the action and the relay. Run it with the interval you deploy.

usage: bench_reply.py path/to/modbus2mail [--samples 30] [--poll-interval 1s]
"""
import argparse
import os
import random
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
sys.path.insert(0, HERE)
from bench_alarm import TimedCatcher, pct  # noqa: E402
from harness import Daemon, free_port, tmpdir, wait_until  # noqa: E402
from imap_server import Dovecot  # noqa: E402
from plc_sim import PlcSim  # noqa: E402
from smtp_provider import make_pki  # noqa: E402
from test_imap import BOX, CONFIG, reply  # noqa: E402


def seconds(duration):
    """'1s', '500ms', '2m' as seconds."""
    for suffix, f in (("ms", 0.001), ("s", 1), ("m", 60)):
        if duration.endswith(suffix):
            return float(duration[:-len(suffix)]) * f
    raise ValueError("bad duration %r" % duration)


def state_mails(catcher, state):
    return [m for m in catcher.messages
            if m.content.split(b"\r\n\r\n", 1)[-1].lstrip().startswith(state.encode() + b" at")]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("exe")
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--poll-interval", default="1s")
    a = ap.parse_args()
    work = tmpdir("m2m-bench-")
    pki = make_pki(os.path.join(work, "pki"))
    dovecot = Dovecot(pki, {BOX: "pw"})
    catcher = TimedCatcher(free_port()).start()
    plc = PlcSim()
    pwfile = os.path.join(work, "imap.secret")
    with open(os.open(pwfile, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
        f.write("pw\n")
    cfg = os.path.join(work, "m2m.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(spool=os.path.join(work, "spool"), smtp_port=catcher.controller.port,
                              imap_port=dovecot.port, pwfile=pwfile, ca=pki.ca,
                              plc_port=plc.port).replace("poll_interval: 1s",
                                                         "poll_interval: %s" % a.poll_interval))
    daemon = Daemon(exe=a.exe, config=cfg, args=())
    times = []
    try:
        dovecot.start()
        daemon.start()
        for i in range(1, a.samples + 1):
            plc.set("co", 12, [1])
            wait_until(lambda: len(state_mails(catcher, "ACTIVE")) >= i, timeout=30,
                       what="ACTIVE mail %d" % i)
            active = state_mails(catcher, "ACTIVE")[i - 1]
            mid = [ln.split(b":", 1)[1].strip().decode() for ln in active.content.split(b"\r\n")
                   if ln.lower().startswith(b"message-id:")][0]
            # a random phase against the mailbox checks: without it every
            # sample would land at the same point of the interval
            time.sleep(random.uniform(0, seconds(a.poll_interval)))
            dovecot.append(BOX, "INBOX", reply(mid))
            t0 = time.monotonic()
            wait_until(lambda: len(state_mails(catcher, "ACKNOWLEDGED")) >= i, timeout=60,
                       interval=0.005, what="ACKNOWLEDGED mail %d" % i)
            times.append(state_mails(catcher, "ACKNOWLEDGED")[i - 1].accepted_at - t0)
            plc.set("co", 12, [0])
            wait_until(lambda: len(state_mails(catcher, "CLEARED")) >= i, timeout=30,
                       what="CLEARED mail %d" % i)
    finally:
        daemon.stop()
        dovecot.cleanup()
        plc.stop()
        catcher.stop()
    ms = [t * 1000 for t in times]
    print("reply appended -> ACKNOWLEDGED accepted by the provider "
          "(imap.poll_interval %s, %d samples)" % (a.poll_interval, len(ms)))
    print("  p50 %.0f ms   p99 %.0f ms   min %.0f ms   max %.0f ms" % (
        pct(ms, 50), pct(ms, 99), min(ms), max(ms)))


if __name__ == "__main__":
    main()
