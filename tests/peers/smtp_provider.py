#!/usr/bin/python3
"""A mail provider for tests: aiosmtpd with STARTTLS or implicit TLS, AUTH
PLAIN/LOGIN, per-recipient rejections and temporary failures on demand.

Every accepted message is written to a directory as N.eml plus N.json (the
envelope: mail_from, rcpt_tos, peer, auth user, tls), each renamed into place
so pollers never see half a file.

As a module:
    pki = make_pki(dir)                      # CA + server cert for 127.0.0.1
    p = Provider(port, tls="starttls", cert=pki.cert, key=pki.key,
                 user="u", password="p", maildir=dir).start()
    p.wait_count(3); p.messages(); p.stop()

As a program (prints READY once listening, stops on SIGTERM/SIGINT):
    smtp_provider.py --port P --tls starttls|implicit|none --cert C --key K
                     --user U --password PW --maildir DIR
                     [--reject ADDR[=REPLY]]... [--tempfail N] [--reject-mail REPLY]
                     [--make-pki DIR]
"""
import argparse
import email
import email.policy
import json
import os
import signal
import ssl
import subprocess
import sys
import threading
import time
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Pki:
    """Paths of a test CA and a server certificate it signed."""

    def __init__(self, directory, ca, ca_key, cert, key):
        self.dir, self.ca, self.ca_key, self.cert, self.key = directory, ca, ca_key, cert, key


def _openssl(*args):
    subprocess.run(["openssl"] + list(args), check=True, capture_output=True, timeout=60)


def make_pki(directory, name="test", cn="localhost", ips=("127.0.0.1", "::1")):
    """A CA and a server cert for cn + ips, made with openssl; returns Pki."""
    os.makedirs(directory, exist_ok=True)
    p = lambda f: os.path.join(directory, "%s-%s" % (name, f))  # noqa: E731
    ca, ca_key, cert, key, csr, ext = (p("ca.pem"), p("ca.key"), p("cert.pem"),
                                       p("key.pem"), p("cert.csr"), p("ext.cnf"))
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=modbus2mail %s test CA" % name, "-keyout", ca_key, "-out", ca,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=%s" % cn,
             "-keyout", key, "-out", csr)
    san = ",".join(["DNS:%s" % cn] + ["IP:%s" % ip for ip in ips])
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\nbasicConstraints=CA:FALSE\n"
                "extendedKeyUsage=serverAuth\n" % san)
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
             "-days", "2", "-out", cert, "-extfile", ext)
    return Pki(directory, ca, ca_key, cert, key)


class _Handler:
    def __init__(self, prov):
        self.prov = prov

    async def handle_MAIL(self, server, session, envelope, address, options):  # noqa: N802
        reply = self.prov.reject_mail
        if reply is not None:
            with self.prov.lock:
                self.prov.mail_rejections += 1
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_RCPT(self, server, session, envelope, address, options):  # noqa: N802
        reply = self.prov.reject.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.prov.lock:
            if self.prov.tempfail > 0:
                self.prov.tempfail -= 1
                self.prov.tempfailed += 1
                return "451 4.3.0 temporary failure, try again later"
            self.prov.seq += 1
            n = self.prov.seq
        self.prov.store(n, session, envelope)
        return "250 2.0.0 Ok: queued as P%d" % n


class Provider:
    """The provider; see the module docstring. tls: starttls|implicit|none."""

    def __init__(self, port, host="127.0.0.1", tls="starttls", cert=None, key=None,
                 user=None, password=None, maildir=None, reject=None, tempfail=0,
                 reject_mail=None):
        self.host, self.port, self.tls = host, port, tls
        self.user, self.password = user, password
        self.maildir = maildir
        self.reject = {k.lower(): v for k, v in (reject or {}).items()}
        self.tempfail = tempfail
        self.reject_mail = reject_mail    # reply to every MAIL FROM, None = accept
        self.mail_rejections = 0
        self.tempfailed = 0
        self.auth_failures = 0
        self.seq = 0
        self.lock = threading.Lock()
        self.received = []       # (envelope dict, raw bytes)
        if maildir:
            os.makedirs(maildir, exist_ok=True)
        kw = {}
        if tls != "none":
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            ctx.load_cert_chain(cert, key)
        if tls == "starttls":
            kw.update(tls_context=ctx, require_starttls=True)
        elif tls == "implicit":
            # aiosmtpd does not count implicit TLS as TLS for AUTH.
            warnings.filterwarnings("ignore", message="Requiring AUTH")
            kw.update(ssl_context=ctx, auth_require_tls=False)
        elif tls != "none":
            raise ValueError("tls must be starttls, implicit or none")
        if user is not None:
            kw.update(authenticator=self._auth, auth_required=True)
            if tls == "none":
                kw.update(auth_require_tls=False)
        self.controller = Controller(_Handler(self), hostname=host, port=port,
                                     server_hostname="localhost", ready_timeout=10, **kw)

    def _auth(self, server, session, envelope, mechanism, auth_data):
        if (isinstance(auth_data, LoginPassword) and self.user is not None
                and auth_data.login.decode() == self.user
                and auth_data.password.decode() == self.password):
            return AuthResult(success=True)
        with self.lock:
            self.auth_failures += 1
        # handled=False: aiosmtpd then answers 535 itself.
        return AuthResult(success=False, handled=False)

    def store(self, n, session, envelope):
        env = {"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
               "peer": list(session.peer)[:2] if session.peer else None,
               "auth": session.authenticated and self.user,
               "tls": self.tls == "implicit" or bool(session.ssl),
               "time": time.time()}
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode()
        with self.lock:
            self.received.append((env, data))
        if self.maildir:
            for suffix, payload in ((".eml", data), (".json", json.dumps(env).encode())):
                tmp = os.path.join(self.maildir, ".%d%s.tmp" % (n, suffix))
                with open(tmp, "wb") as f:
                    f.write(payload)
                os.rename(tmp, os.path.join(self.maildir, "%d%s" % (n, suffix)))

    def start(self):
        self.controller.start()
        return self

    def stop(self):
        self.controller.stop()

    def count(self):
        with self.lock:
            return len(self.received)

    def envelopes(self):
        with self.lock:
            return [e for e, _ in self.received]

    def messages(self):
        """Received messages as email.message.EmailMessage objects."""
        with self.lock:
            raws = [d for _, d in self.received]
        return [email.message_from_bytes(d, policy=email.policy.default) for d in raws]

    def raw(self):
        with self.lock:
            return [d for _, d in self.received]

    def wait_count(self, n, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.count() >= n:
                return True
            time.sleep(0.05)
        raise AssertionError("provider: %d messages after %ss, wanted %d"
                             % (self.count(), timeout, n))


def read_maildir(directory):
    """[(envelope dict, raw bytes)] of a provider's maildir, in arrival order."""
    out = []
    names = sorted((int(f[:-5]) for f in os.listdir(directory) if f.endswith(".json")))
    for n in names:
        with open(os.path.join(directory, "%d.json" % n)) as f:
            env = json.load(f)
        with open(os.path.join(directory, "%d.eml" % n), "rb") as f:
            out.append((env, f.read()))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls", choices=("starttls", "implicit", "none"), default="starttls")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--make-pki", metavar="DIR", help="make a CA + cert there and use them")
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--maildir")
    ap.add_argument("--reject", action="append", default=[], metavar="ADDR[=REPLY]")
    ap.add_argument("--tempfail", type=int, default=0, metavar="N",
                    help="answer the first N DATA with 451")
    ap.add_argument("--reject-mail", metavar="REPLY",
                    help="answer every MAIL FROM with REPLY (e.g. '553 5.7.1 no')")
    a = ap.parse_args()
    if a.make_pki:
        pki = make_pki(a.make_pki)
        a.cert, a.key = pki.cert, pki.key
        print("CA %s" % pki.ca, flush=True)
    if a.tls != "none" and not (a.cert and a.key):
        ap.error("--cert and --key (or --make-pki) are needed with --tls %s" % a.tls)
    reject = {}
    for r in a.reject:
        addr, _, reply = r.partition("=")
        reject[addr] = reply or "550 5.1.1 <%s>: recipient rejected" % addr
    prov = Provider(a.port, host=a.host, tls=a.tls, cert=a.cert, key=a.key, user=a.user,
                    password=a.password, maildir=a.maildir, reject=reject,
                    tempfail=a.tempfail, reject_mail=a.reject_mail)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    prov.start()
    print("READY", flush=True)
    done.wait()
    prov.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
