#!/usr/bin/python3
"""Crash test (SPEC §7 "no data loss"): kill -9 the relay while it delivers a
queue of N messages over STARTTLS+AUTH, restart it, and check that every one
of the N arrives (duplicates allowed and counted, none lost), the queue
ends empty and nothing is left in tmp/ or failed/.

usage: test_relay_crash.py MODBUS2MAIL_EXE SPOOL_INJECT_EXE [N] [KILLS]
"""
import email
import email.policy
import os
import sys
import time

from relay_common import (Provider, Relay, cleanup, free_port, make_pki, tmpdir,
                          wait_until)


def subjects(p):
    return [email.message_from_bytes(d, policy=email.policy.default)["Subject"]
            for d in p.raw()]


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    m2m, tool = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    kills = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    d = tmpdir("m2m-crash-")
    pki = make_pki(d + "/pki")
    port = free_port()
    started = []
    ok = False
    try:
        p = Provider(port, tls="starttls", cert=pki.cert, key=pki.key, user="u",
                     password="pw").start()
        started.append(p)
        r = Relay(m2m, tool, d, url="smtp://127.0.0.1:%d" % port, ca=pki.ca,
                  user="u", password="pw")
        started.append(r)
        r.inject(n)
        print("n=%d" % n)
        # Kill at spread-out points of the run, each time mid-delivery.
        for k in range(kills):
            target = max(p.count() + 1, n * (k + 1) // (kills + 1) - 5)
            r.start()
            wait_until(lambda: p.count() >= target, timeout=60,
                       what="%d arrivals before kill %d" % (target, k + 1))
            r.kill9()
            print("kill -9 #%d after %d arrivals, queue left %d" %
                  (k + 1, p.count(), len(r.files("queue", ".msg"))))
        r.start()
        want = {"inject %d" % i for i in range(n)}
        wait_until(lambda: want <= set(subjects(p)), timeout=90, what="all %d arrived" % n)
        wait_until(lambda: "Mail queue is empty" in r.queue(), timeout=30, what="empty queue")
        r.stop()
        got = subjects(p)
        dups = len(got) - len(set(got))
        print("arrived=%d distinct=%d duplicates=%d lost=%d" %
              (len(got), len(set(got)), dups, len(want - set(got))))
        assert set(got) == want, "lost: %s" % sorted(want - set(got))[:10]
        assert r.files("tmp") == [], r.files("tmp")
        assert r.files("failed") == [], r.reasons()
        ok = True
    finally:
        for x in reversed(started):
            try:
                x.stop()
            except Exception as e:
                print("teardown: %s" % e, file=sys.stderr)
        if ok:
            cleanup(d)
        else:
            print("kept %s" % d, file=sys.stderr)
    return 0


if __name__ == "__main__":
    t0 = time.monotonic()
    rc = main()
    print("took %.1fs" % (time.monotonic() - t0))
    sys.exit(rc)
