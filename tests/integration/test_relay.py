#!/usr/bin/python3
"""Relay to a real provider (SPEC §7, §2 test-mail/queue): aiosmtpd with a
CA and certificate made by openssl here, STARTTLS or implicit TLS, AUTH,
rejections and temporary failures on demand. One unittest method per
behaviour; meson runs each as its own test.

usage: test_relay.py MODBUS2MAIL_EXE SPOOL_INJECT_EXE [unittest names...]
"""
import email
import email.policy
import os
import signal
import socket
import sys
import threading
import unittest

from relay_common import (Provider, Relay, cleanup, free_port, make_pki, tmpdir,
                          usage_exes, wait_log, wait_until)

M2M = TOOL = None


class Refuser:
    """An SMTP-ish server that greets and then answers 500 to everything."""

    def __init__(self, port):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.serve, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def serve(self):
        while not self.done.is_set():
            try:
                c, _ = self.sock.accept()
            except socket.timeout:
                continue
            with c:
                c.settimeout(5)
                try:
                    c.sendall(b"220 refuser ready\r\n")
                    f = c.makefile("rb")
                    for line in f:
                        if line.upper().startswith(b"QUIT"):
                            c.sendall(b"221 bye\r\n")
                            break
                        c.sendall(b"500 5.5.1 no\r\n")
                except OSError:
                    pass

    def stop(self):
        self.done.set()
        self.thread.join(timeout=10)
        self.sock.close()


class RelayTest(unittest.TestCase):
    def setUp(self):
        self.dir = tmpdir("m2m-relay-")
        self.pki = make_pki(self.dir + "/pki")
        self.port = free_port()
        self.started = []

    def tearDown(self):
        for x in reversed(self.started):
            try:
                x.stop()
            except Exception as e:  # keep stopping the others
                print("teardown: %s" % e, file=sys.stderr)
        if self._outcome_ok() and not os.environ.get("M2M_KEEP"):
            cleanup(self.dir)
        else:
            print("kept %s" % self.dir, file=sys.stderr)

    def _outcome_ok(self):
        res = getattr(self, "_outcome", None)
        errs = getattr(res, "errors", []) if res else []
        return not any(e for _, e in errs)

    def provider(self, port=None, **kw):
        kw.setdefault("cert", self.pki.cert)
        kw.setdefault("key", self.pki.key)
        p = Provider(port or self.port, **kw).start()
        self.started.append(p)
        return p

    def relay(self, **kw):
        kw.setdefault("url", "smtp://127.0.0.1:%d" % self.port)
        kw.setdefault("ca", self.pki.ca)
        r = Relay(M2M, TOOL, self.dir, **kw)
        self.started.append(r)
        return r

    def once_per_run(self, r, sessions, nmsg):
        """A broken path costs one session per queue run, not one per
        message: the first run alone deferred nmsg messages in one."""
        wait_until(lambda: 0 < sessions() <= r.logtext().count("status=deferred") - (nmsg - 1),
                   what="one provider session per queue run")

    # (a) STARTTLS + AUTH, connection reuse, queue empties, test-mail.
    def test_starttls_auth(self):
        p = self.provider(tls="starttls", user="alarms", password="s3cret")
        r = self.relay(user="alarms", password="s3cret")
        r.inject(5, rcpts=("ops@example.com", "night@example.com"))
        self.assertIn("5 messages in queue", r.queue())
        r.start()
        p.wait_count(5)
        wait_until(lambda: "Mail queue is empty" in r.queue(), what="empty queue")
        envs = p.envelopes()
        for e in envs:
            self.assertEqual(e["mail_from"], "alarms@example.com")  # smtp.from
            self.assertEqual(e["rcpt_tos"], ["ops@example.com", "night@example.com"])
            self.assertEqual(e["auth"], "alarms")
            self.assertTrue(e["tls"])
        self.assertEqual(len({tuple(e["peer"]) for e in envs}), 1, "one connection reused")
        subjects = sorted(m["Subject"] for m in p.messages())
        self.assertEqual(subjects, ["inject %d" % i for i in range(5)])
        wait_log(r, "status=sent rcpts=2", count=5)
        self.assertRegex(r.logtext(), r'relay: id=[0-9A-F]+ status=sent rcpts=2 '
                         r'url=smtp://127\.0\.0\.1:\d+ reply="250 2\.0\.0 Ok: queued as P\d+"')
        self.assertNotIn("s3cret", r.logtext())
        t = r.test_mail("Admin <admin@example.com>")
        self.assertEqual(t.returncode, 0, t.stderr)
        self.assertRegex(t.stdout, r"sent to admin@example.com via smtp://127.0.0.1:\d+: "
                         r"250 2.0.0 Ok: queued as P6")
        m = p.messages()[-1]
        self.assertEqual(m["Subject"], "modbus2mail test message")
        self.assertEqual(m["Auto-Submitted"], "auto-generated")
        self.assertIn("@gw-test>", m["Message-ID"])
        self.assertTrue(r.logtext().count("relay: started") == 1)

    # (b) implicit TLS (smtps://, port 465 style).
    def test_implicit_tls(self):
        p = self.provider(tls="implicit", user="u", password="pw")
        r = self.relay(url="smtps://127.0.0.1:%d" % self.port, user="u", password="pw")
        t = r.test_mail("ops@example.com")
        self.assertEqual(t.returncode, 0, t.stderr)
        self.assertIn("via smtps://127.0.0.1", t.stdout)
        r.inject(2)
        r.start()
        p.wait_count(3)
        self.assertTrue(all(e["tls"] and e["auth"] == "u" for e in p.envelopes()))

    # (c) a certificate from a CA we do not trust: refused, clearly.
    def test_untrusted_ca(self):
        other = make_pki(self.dir + "/other", name="rogue")
        p = self.provider(tls="starttls", cert=other.cert, key=other.key,
                          user="u", password="pw")
        r = self.relay(user="u", password="pw")
        t = r.test_mail("ops@example.com")
        self.assertEqual(t.returncode, 1)
        self.assertEqual(t.stdout, "")
        self.assertEqual(len(t.stderr.strip().splitlines()), 1, t.stderr)
        self.assertRegex(t.stderr, r"^test-mail: TLS verify: smtp://127.0.0.1:\d+: "
                         r"SSL certificate problem: unable to get local issuer certificate")
        r.inject(1)
        r.start()
        wait_log(r, "status=deferred")
        q = r.queue()
        self.assertIn("(TLS verify:", q)
        self.assertEqual(p.count(), 0)
        self.assertEqual(p.auth_failures, 0)  # the password never left
        r.stop()
        # verify_peer: false delivers, and says so at every start.
        r2 = Relay(M2M, TOOL, self.dir, url="smtp://127.0.0.1:%d" % self.port,
                   ca=self.pki.ca, user="u", password="pw", verify_peer=False)
        self.started.append(r2)
        r2.start()
        p.wait_count(1)
        self.assertIn("verify_peer is false", r2.logtext())

    # (d) wrong password: the mail path is broken, the messages are held
    # (never failed/, no notice), the provider sees one AUTH per queue run;
    # the fixed password and SIGHUP deliver them.
    def test_wrong_password(self):
        p = self.provider(tls="starttls", user="u", password="right")
        r = self.relay(user="u", password="wrong", notice="admin@example.com")
        t = r.test_mail("ops@example.com")
        self.assertEqual(t.returncode, 1)
        self.assertRegex(t.stderr, r"^test-mail: AUTH: 535 5.7.8 Authentication credentials invalid")
        r.inject(3)
        r.start()
        wait_log(r, "<3>relay: mail path BROKEN: AUTH: 535 5.7.8 Authentication credentials invalid")
        wait_log(r, "status=deferred", count=3)
        self.assertRegex(r.logtext(), r"<4>relay: id=\w+ status=deferred attempts=1 ")
        st = r.proc.cli("status").stdout
        self.assertRegex(st, r"mail path: BROKEN since \d\d:\d\d — upstream AUTH: 535 5\.7\.8 ")
        self.assertRegex(st, r"queue: 3 messages, oldest \d+s, 0 failed")
        self.assertEqual(r.files("failed"), [])
        self.assertEqual(len(r.files("queue", ".msg")), 3)
        self.assertNotIn(" notice=", r.logtext())
        self.assertEqual(p.count(), 0)
        self.once_per_run(r, lambda: p.auth_failures - 1, 3)  # 1: test-mail
        self.assertNotIn("wrong", r.logtext())
        with open(r.pwfile, "w") as f:
            f.write("right\n")
        r.proc.signal(signal.SIGHUP)
        p.wait_count(3)
        wait_log(r, "<5>relay: mail path recovered after ")
        wait_until(lambda: "Mail queue is empty" in r.queue(), what="empty queue")
        self.assertEqual(r.files("failed"), [])
        self.assertRegex(r.proc.cli("status").stdout, r"mail path: ok\nqueue: 0 messages, 0 failed")

    # Nothing left queued while the path is broken: a probe (AUTH + NOOP)
    # tells when it works again, so status and mail_ok_coil do not wait
    # for the next alarm.
    def test_broken_path_probed_when_queue_empty(self):
        p = self.provider(tls="starttls", user="u", password="right")
        r = self.relay(user="u", password="wrong")
        r.inject(1)
        r.start()
        wait_log(r, "<3>relay: mail path BROKEN: AUTH: 535 5.7.8")
        r.proc.cli("delete", r.files("queue", ".msg")[0][:-4])
        wait_log(r, "<4>relay: probe: mail path still broken: AUTH: 535 5.7.8")
        self.assertIn("mail path: BROKEN", r.proc.cli("status").stdout)
        with open(r.pwfile, "w") as f:
            f.write("right\n")
        r.proc.signal(signal.SIGHUP)
        wait_log(r, "<5>relay: mail path recovered after ")
        self.assertRegex(r.proc.cli("status").stdout, r"mail path: ok\nqueue: 0 messages, 0 failed")
        self.assertEqual(p.count(), 0)

    # A server answering 5xx to every command (a misconfigured upstream,
    # the wrong port): the mail path, not the messages.
    def test_5xx_to_everything_held(self):
        srv = Refuser(self.port).start()
        self.started.append(srv)
        r = self.relay(tls_none=True)
        r.inject(4)
        r.start()
        wait_log(r, "<3>relay: mail path BROKEN: ")
        wait_log(r, "status=deferred", count=4)
        self.assertRegex(r.logtext(), r"mail path BROKEN: EHLO refused: smtp://127.0.0.1:\d+: "
                         r"500 5\.5\.1 no")
        self.assertEqual(r.files("failed"), [])
        self.assertEqual(len(r.files("queue", ".msg")), 4)
        self.assertNotIn("status=failed", r.logtext())

    # A provider answering 5xx to MAIL FROM (misconfigured upstream): held,
    # not failed; delivered once it accepts again.
    def test_sender_rejected_held(self):
        p = self.provider(tls="starttls", user="u", password="pw",
                          reject_mail="553 5.7.1 sender not allowed")
        r = self.relay(user="u", password="pw", notice="admin@example.com")
        r.inject(4)
        r.start()
        wait_log(r, "<3>relay: mail path BROKEN: sender rejected: 553 5.7.1 sender not allowed")
        wait_log(r, "status=deferred", count=4)
        self.assertEqual(r.files("failed"), [])
        self.assertIn("(sender rejected: 553 5.7.1", r.queue())
        self.once_per_run(r, lambda: p.mail_rejections, 4)
        p.reject_mail = None
        r.flush()
        p.wait_count(4)
        wait_log(r, "<5>relay: mail path recovered")
        wait_until(lambda: "Mail queue is empty" in r.queue(), what="empty queue")
        self.assertEqual(r.files("failed"), [])
        self.assertNotIn(" notice=", r.logtext())

    # failed/ is visible and recoverable: queue lists it with the reason,
    # retry sends it again to the recipient that failed only, retry --all
    # takes the rest, delete drops one.
    def test_retry_and_delete_failed(self):
        p = self.provider(tls="starttls", user="u", password="pw",
                          reject={"gone@example.com": "550 5.1.1 <gone@example.com>: no such user"})
        r = self.relay(user="u", password="pw")
        r.inject(1, rcpts=("gone@example.com", "ops@example.com"))
        r.inject(3, rcpts=("gone@example.com",))
        r.start()
        p.wait_count(1)
        wait_until(lambda: len(r.files("failed", ".msg")) == 4, what="4 in failed/")
        q = r.queue()
        self.assertIn("Mail queue is empty", q)
        self.assertIn("-- 4 failed messages in %s/failed" % r.spool, q)
        self.assertIn("(gone@example.com: 550 5.1.1 <gone@example.com>: no such user)", q)
        self.assertRegex(r.proc.cli("status").stdout, r"queue: 0 messages, 4 failed")
        first, second = [f[:-4] for f in r.files("failed", ".msg")][:2]
        bad = r.proc.cli("retry", "0000000000000000000FFFF", check=False)
        self.assertEqual(bad.returncode, 1)
        self.assertIn("modbus2mail retry: no failed message 0000000000000000000FFFF", bad.stderr)
        p.reject = {}
        self.assertEqual(r.proc.cli("retry", first).stdout, "1 message back in the queue\n")
        p.wait_count(2)
        self.assertEqual(p.envelopes()[1]["rcpt_tos"], ["gone@example.com"])
        self.assertEqual(r.proc.cli("delete", second).stdout, "deleted %s\n" % second)
        self.assertIn("<5>spool: id=%s deleted by command" % second, r.logtext())
        self.assertEqual(r.proc.cli("retry", "--all").stdout, "2 messages back in the queue\n")
        p.wait_count(4)
        wait_until(lambda: r.files("failed") == [] and r.files("queue") == [],
                   what="queue and failed/ empty")
        self.assertEqual(p.count(), 4)
        self.assertEqual(r.proc.cli("retry", "--all").stdout, "0 messages back in the queue\n")

    # (e) provider down at first, then up: delivered after retry.
    def test_provider_down_then_up(self):
        r = self.relay(tls_none=True, url="smtp://127.0.0.1:%d" % self.port)
        t = r.test_mail("ops@example.com")
        self.assertEqual(t.returncode, 1)
        self.assertRegex(t.stderr, r"^test-mail: connect: smtp://127.0.0.1:\d+: ")
        r.inject(3)
        r.start()
        wait_log(r, "status=deferred", count=3)
        q = r.queue()
        self.assertRegex(q, r"\(connect: smtp://127.0.0.1:\d+: ")
        wait_log(r, "relay: health=degraded failing=3")  # mail_ok_coil -> 0
        p = self.provider(tls="none")
        p.wait_count(3, timeout=20)
        wait_until(lambda: "Mail queue is empty" in r.queue(), what="empty queue")
        self.assertEqual(p.count(), 3)
        wait_log(r, "relay: health=ok failing=0")

    # fallback_urls: primary unreachable -> next URL, in order.
    def test_fallback_url(self):
        dead = free_port()
        p = self.provider(tls="starttls", user="u", password="pw")
        r = self.relay(url="smtp://127.0.0.1:%d" % dead, user="u", password="pw",
                       fallbacks=["smtp://nonexistent.invalid:25",
                                  "smtp://127.0.0.1:%d" % self.port])
        r.inject(3)
        r.start()
        p.wait_count(3)
        self.assertIn("status=sent rcpts=1 url=smtp://127.0.0.1:%d " % self.port, r.logtext())
        self.assertEqual(len({tuple(e["peer"]) for e in p.envelopes()}), 1)
        self.assertEqual(r.logtext().count("unreachable"), 2, "fallback kept for the run")

    # (f) one recipient rejected 550, one accepted: delivered + notice.
    def test_one_recipient_rejected(self):
        p = self.provider(tls="starttls", user="u", password="pw",
                          reject={"gone@example.com": "550 5.1.1 <gone@example.com>: no such user"})
        r = self.relay(user="u", password="pw", notice="admin@example.com")
        t = r.test_mail("gone@example.com")
        self.assertEqual(t.returncode, 1)
        self.assertRegex(t.stderr, r"^test-mail: rejected recipient gone@example.com: "
                         r"550 5.1.1 <gone@example.com>: no such user")
        r.inject(1, rcpts=("gone@example.com", "ops@example.com"))
        r.start()
        p.wait_count(2)
        envs = p.envelopes()
        self.assertEqual(envs[0]["rcpt_tos"], ["ops@example.com"])
        self.assertEqual(envs[1]["rcpt_tos"], ["admin@example.com"])
        notice = p.messages()[1]
        body = notice.get_content()
        self.assertIn("gone@example.com: 550 5.1.1", body)
        self.assertIn("Delivered to: ops@example.com", body)
        self.assertIn("Subject: inject 0", body)
        self.assertEqual(notice["Auto-Submitted"], "auto-replied")
        wait_until(lambda: r.files("failed", ".reason"), what="failed/ reason")
        self.assertIn("gone@example.com: 550", r.reasons()[0])
        self.assertEqual(r.files("queue"), [])

    # (g) 451 twice, then success; the message arrives exactly once.
    def test_tempfail_then_success(self):
        p = self.provider(tls="starttls", user="u", password="pw", tempfail=2)
        r = self.relay(user="u", password="pw")
        r.inject(1)
        r.start()
        p.wait_count(1, timeout=30)
        self.assertEqual(p.tempfailed, 2)
        log = r.logtext()
        self.assertIn("status=deferred attempts=1", log)
        self.assertIn("status=deferred attempts=2", log)
        self.assertIn('error="message rejected: 451 4.3.0', log)
        wait_until(lambda: "Mail queue is empty" in r.queue(), what="empty queue")
        self.assertEqual(p.count(), 1)
        m = email.message_from_bytes(p.raw()[0], policy=email.policy.default)
        self.assertEqual(m["Subject"], "inject 0")

    # give_up_after: retried until then, then failed/ with the last error.
    def test_give_up(self):
        r = self.relay(tls_none=True, give_up="3s", initial="1s", max="1s")
        r.inject(1)
        r.start()
        wait_until(lambda: r.files("failed", ".msg"), timeout=20, what="given up")
        self.assertRegex(r.reasons()[0], r"^gave up after \d+ attempts: connect: ")
        self.assertIn("status=failed", r.logtext())

    # flush: retry now, ignoring a long backoff.
    def test_flush(self):
        r = self.relay(tls_none=True, initial="1h", max="1h")
        r.inject(2)
        r.start()
        wait_log(r, "status=deferred", count=2)
        self.assertRegex(r.queue(), r" in [4-7]\dm ")  # 1h +-20% to the next try
        p = self.provider(tls="none")
        r.flush()
        p.wait_count(2, timeout=15)
        wait_until(lambda: "Mail queue is empty" in r.queue(), what="empty queue")

    # source_address: connections come from that local address.
    def test_source_address(self):
        p = self.provider(tls="starttls", user="u", password="pw")
        r = self.relay(user="u", password="pw", source="127.0.0.2")
        r.inject(1)
        r.start()
        p.wait_count(1)
        self.assertEqual(p.envelopes()[0]["peer"][0], "127.0.0.2")

    # DNS failure is named as such.
    def test_test_mail_dns(self):
        r = self.relay(url="smtp://nonexistent.invalid:587")
        t = r.test_mail("ops@example.com")
        self.assertEqual(t.returncode, 1)
        self.assertRegex(t.stderr, r"^test-mail: DNS: smtp://nonexistent.invalid:587: ")

    # STARTTLS required: a provider without it is refused, password kept.
    def test_starttls_required(self):
        p = self.provider(tls="none")
        r = self.relay()
        t = r.test_mail("ops@example.com")
        self.assertEqual(t.returncode, 1)
        self.assertRegex(t.stderr, r"^test-mail: TLS: smtp://127.0.0.1:\d+: server offers no STARTTLS")
        self.assertEqual(p.count(), 0)


if __name__ == "__main__":
    M2M, TOOL, rest = usage_exes(sys.argv)
    unittest.main(argv=rest, verbosity=2)
