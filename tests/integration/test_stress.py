#!/usr/bin/python3
"""Listener stress test: 50 concurrent clients on loopback with random
behaviours (a normal mail, a pipelined session, a slow dribble, an abrupt
close mid-DATA, STARTTLS then close, garbage) against the real daemon for
SECONDS. The daemon must survive, every message acknowledged with 250 must
reach the provider, and its RSS must stay bounded. Meant for the ASan+UBSan
build (tests/asan/run_asan.sh), where a memory error aborts the daemon.

usage: test_stress.py MODBUS2MAIL_EXE [SECONDS [CLIENTS]]
"""
import contextlib
import os
import random
import re
import shutil
import socket
import ssl
import struct
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from harness import Daemon, free_port, tmpdir, wait_until  # noqa: E402
from smtp_provider import Provider, make_pki  # noqa: E402

QUEUED = re.compile(rb"250 2\.0\.0 Ok: queued as \S+\r\n")


class Stress:
    def __init__(self, exe, seconds, clients):
        self.exe, self.seconds, self.clients = exe, seconds, clients
        self.dir = tmpdir("m2m-stress-")
        self.pport, self.lport = free_port(), free_port()
        self.lock = threading.Lock()
        self.acked = set()          # tokens of messages that got a 250
        self.counts = {}            # behaviour -> sessions run
        self.stop = threading.Event()
        self.seq = 0

    def config(self):
        pki = make_pki(os.path.join(self.dir, "pki"), name="listener")
        self.ca = pki.ca
        path = os.path.join(self.dir, "m2m.yaml")
        with open(path, "w") as f:
            f.write("\n".join([
                "hostname: gw-stress", "spool_dir: %s" % os.path.join(self.dir, "spool"),
                "smtp:", "  url: smtp://127.0.0.1:%d" % self.pport, "  tls: none",
                '  from: "Stress <alarms@example.com>"', "  timeout: 10s",
                "  retry: {initial: 1s, max: 2s, give_up_after: 1h}",
                "listener:", '  listen: ["127.0.0.1:%d"]' % self.lport,
                '  allow: ["127.0.0.1/32"]', "  recipient_domains: [example.com]",
                "  max_message_size: 256KiB", "  max_clients: 64", "  timeout: 5s",
                "  tls: {cert: %s, key: %s}" % (pki.cert, pki.key), ""]))
        return path

    def token(self):
        with self.lock:
            self.seq += 1
            return "T%06d" % self.seq

    # -- behaviours ------------------------------------------------------------
    def connect(self):
        return socket.create_connection(("127.0.0.1", self.lport), timeout=15)

    @contextlib.contextmanager
    def greeted(self):
        """A connection past the 220, closed at the end of the block."""
        s = self.connect()
        try:
            self.read_until(s, rb"^220 ")
            yield s
        finally:
            s.close()

    @staticmethod
    def read_until(s, pattern, buf=b""):
        """Reads until pattern (bytes regex) matches or EOF; returns buf."""
        while not re.search(pattern, buf):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        return buf

    def message(self, tok, size):
        body = (b"line of stress text %s\r\n" % tok.encode()) * (size // 30 + 1)
        return (b"MAIL FROM:<s@plc.local>\r\nRCPT TO:<ops@example.com>\r\nDATA\r\n"
                b"Subject: %s\r\n\r\n%s.\r\n" % (tok.encode(), body))

    def normal(self, rnd):
        with self.greeted() as s:
            s.sendall(b"EHLO normal\r\n")
            self.read_until(s, rb"250 ENHANCEDSTATUSCODES\r\n")
            tok = self.token()
            s.sendall(self.message(tok, rnd.choice((100, 2000, 60000))))
            buf = self.read_until(s, rb"(250 2\.0\.0 Ok: queued|[45]\d\d [^\r]*\r\n$)")
            if QUEUED.search(buf):
                self.ack([tok])
            s.sendall(b"QUIT\r\n")
            self.read_until(s, rb"221 ")

    def pipelined(self, rnd):
        s = self.connect()
        try:
            toks = [self.token() for _ in range(rnd.randint(1, 4))]
            s.sendall(b"EHLO pipe\r\n" + b"".join(self.message(t, 500) for t in toks)
                      + b"QUIT\r\n")
            buf = self.read_until(s, rb"221 2\.0\.0 Bye\r\n")
            # the reply after each 354 is that message's final one
            lines = buf.split(b"\r\n")
            finals = [lines[i + 1] for i in range(len(lines) - 1)
                      if lines[i].startswith(b"354 ")]
            if len(finals) == len(toks):
                self.ack([t for t, r in zip(toks, finals) if QUEUED.match(r + b"\r\n")])
        finally:
            s.close()

    def dribble(self, rnd):
        with self.greeted() as s:
            tok = self.token()
            data = b"HELO slow\r\n" + self.message(tok, 200)
            i = 0
            while i < len(data) and not self.stop.is_set():
                n = rnd.randint(1, 40)
                s.sendall(data[i:i + n])
                i += n
                time.sleep(0.01)
            if i >= len(data):
                buf = self.read_until(s, rb"(250 2\.0\.0 Ok: queued|[45]\d\d [^\r]*\r\n$)")
                if QUEUED.search(buf):
                    self.ack([tok])

    def abrupt(self, rnd):
        s = self.connect()
        self.read_until(s, rb"^220 ")
        msg = self.message(self.token(), 5000)
        s.sendall(b"EHLO abrupt\r\n" + msg[:rnd.randint(60, len(msg) - 10)])
        if rnd.random() < 0.5:      # RST instead of FIN
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()

    def starttls(self, rnd):
        with self.greeted() as s:
            s.sendall(b"EHLO tls\r\nSTARTTLS\r\n")
            self.read_until(s, rb"220 2\.0\.0 ")
            if rnd.random() < 0.5:
                ctx = ssl.create_default_context(cafile=self.ca)
                t = ctx.wrap_socket(s, server_hostname="localhost")
                t.sendall(b"EHLO inside\r\n")
                if rnd.random() < 0.5:
                    t.recv(4096)
                t.close()

    def garbage(self, rnd):
        s = self.connect()
        try:
            for _ in range(rnd.randint(1, 5)):
                s.sendall(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000))))
            s.settimeout(2)
            try:
                s.recv(65536)
            except OSError:
                pass
        finally:
            s.close()

    BEHAVIOURS = ("normal", "pipelined", "dribble", "abrupt", "starttls", "garbage")

    def ack(self, toks):
        with self.lock:
            self.acked.update(toks)

    def client(self, n):
        rnd = random.Random(n)
        while not self.stop.is_set():
            b = rnd.choice(self.BEHAVIOURS)
            try:
                getattr(self, b)(rnd)
            except (OSError, ssl.SSLError):
                pass        # the server may close or refuse under load
            with self.lock:
                self.counts[b] = self.counts.get(b, 0) + 1

    def rss_kib(self):
        with open("/proc/%d/status" % self.daemon.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def run(self):
        provider = Provider(self.pport, tls="none").start()
        self.daemon = Daemon(self.exe, self.config()).start()
        try:
            wait_until(lambda: "smtpd: listening" in self.daemon.logbytes_since_start(),
                       timeout=20, what="listener up")
            threads = [threading.Thread(target=self.client, args=(i,), daemon=True)
                       for i in range(self.clients)]
            for t in threads:
                t.start()
            t0, rss = time.monotonic(), []
            while time.monotonic() - t0 < self.seconds:
                time.sleep(1)       # the load runs; sample the daemon each second
                if self.daemon.proc.poll() is not None:
                    break
                rss.append(self.rss_kib())
            self.stop.set()
            for t in threads:
                t.join(30)
            alive = self.daemon.proc.poll() is None
            print("sessions by behaviour: %s" % self.counts)
            print("acknowledged %d messages; RSS %s KiB (first, max, last)" % (
                len(self.acked), (rss[0], max(rss), rss[-1]) if rss else None))
            ok = alive
            if not alive:
                print("FAIL: the daemon died (exit %s):\n%s" % (
                    self.daemon.proc.returncode, self.daemon.logtext()[-4000:]))
            if alive:
                want = set(self.acked)

                def delivered():
                    got = set(re.findall(rb"Subject: (T\d{6})", b"".join(provider.raw())))
                    return want <= {g.decode() for g in got}
                try:
                    wait_until(delivered, timeout=180, interval=0.5,
                               what="every acknowledged message at the provider")
                except AssertionError as e:
                    ok = False
                    print("FAIL:", e)
                # bounded: after the warm-up the RSS grows by less than 64 MiB
                warm = rss[min(4, len(rss) - 1)]
                if max(rss) - warm > 64 * 1024:
                    ok = False
                    print("FAIL: RSS grew from %d to %d KiB" % (warm, max(rss)))
            if len(self.acked) < 50:
                ok = False
                print("FAIL: only %d messages acknowledged: no real load" % len(self.acked))
            return ok
        finally:
            self.stop.set()
            self.daemon.stop()
            provider.stop()
            if os.environ.get("M2M_KEEP"):
                print("kept", self.dir)
            else:
                shutil.rmtree(self.dir, ignore_errors=True)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    seconds = int(sys.argv[2]) if len(sys.argv) > 2 else 20
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    ok = Stress(os.path.abspath(sys.argv[1]), seconds, clients).run()
    print("stress: %s" % ("ok" if ok else "FAILED"))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
