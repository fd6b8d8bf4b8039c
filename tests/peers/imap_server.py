#!/usr/bin/python3
"""A real IMAP mailbox for tests: Dovecot (dovecot-imapd) with its own
configuration in a temporary directory, implicit TLS (imaps) on a free
loopback port with a certificate of the test CA, passwd-file users, maildir
storage. It never touches the system's Dovecot (own base_dir, own ports).

    d = Dovecot(pki, users={"alarms@example.com": "pw"}).start()
    d.append("alarms@example.com", "INBOX", raw_bytes)
    d.messages("alarms@example.com", "modbus2mail-done")  # [bytes]
    d.stop(); d.start()     # down then up, same port and mail
    d.cleanup()             # stops it and removes its directory
"""
import imaplib
import os
import pwd
import shutil
import signal
import ssl
import subprocess
import tempfile
import time

DOVECOT = "/usr/sbin/dovecot"


def available():
    return os.access(DOVECOT, os.X_OK)


class Dovecot:
    def __init__(self, pki, users, port=None):
        from harness import free_port
        # its own directory: Dovecot's unprivileged processes must reach it
        # (a test's private 0700 directory would lock them out)
        self.dir = tempfile.mkdtemp(prefix="m2m-dovecot-")
        os.chmod(self.dir, 0o711)
        self.pki = pki
        self.users = dict(users)
        self.port = port or free_port()
        self.proc = None
        self.conf = os.path.join(self.dir, "dovecot.conf")
        self._write_config()

    def _write_config(self):
        d = self.dir
        me = pwd.getpwuid(os.getuid())
        # as root Dovecot drops privileges to its own users; otherwise it
        # runs everything as the caller
        login = "dovenull" if os.getuid() == 0 else me.pw_name
        internal = "dovecot" if os.getuid() == 0 else me.pw_name
        for sub in ("run", "mail"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        os.chmod(os.path.join(d, "run"), 0o755)
        uid, gid = os.getuid(), os.getgid()
        if os.getuid() == 0:
            # mail is stored as an unprivileged user (Dovecot refuses root)
            nobody = pwd.getpwnam("nobody")
            uid, gid = nobody.pw_uid, nobody.pw_gid
            shutil.chown(os.path.join(d, "mail"), uid, gid)
        with open(os.path.join(d, "passwd"), "w") as f:
            for u, pw in self.users.items():
                f.write("%s:{PLAIN}%s:%d:%d::%s/mail/%s\n" % (u, pw, uid, gid, d, u))
        with open(self.conf, "w") as f:
            f.write("""\
base_dir = {d}/run
state_dir = {d}/run
instance_name = m2m-test-{port}
log_path = {d}/dovecot.log
protocols = imap
listen = 127.0.0.1
default_login_user = {login}
default_internal_user = {internal}
default_internal_group = {internal}
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {d}/passwd
}}
userdb {{
  driver = passwd-file
  args = {d}/passwd
}}
mail_location = maildir:~/Maildir
first_valid_uid = 1
service imap-login {{
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service stats {{
  chroot =
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
service imap-login {{
  chroot =
}}
""".format(d=d, port=self.port, login=login, internal=internal,
                   cert=self.pki.cert, key=self.pki.key))

    def start(self, timeout=15):
        with open(os.path.join(self.dir, "stderr"), "ab") as err:
            self.proc = subprocess.Popen([DOVECOT, "-F", "-c", self.conf],
                                         stdout=subprocess.DEVNULL, stderr=err)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError("dovecot exited:\n%s" % self.logtext())
            try:
                self.login(next(iter(self.users))).logout()
                return self
            except (OSError, imaplib.IMAP4.error):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("dovecot did not answer on port %d:\n%s" % (
            self.port, self.logtext()))

    def logtext(self):
        text = ""
        for name in ("stderr", "dovecot.log"):
            try:
                with open(os.path.join(self.dir, name), errors="replace") as f:
                    text += f.read()
            except OSError:
                pass
        return text

    def stop(self, timeout=10):
        if self.proc is None or self.proc.poll() is not None:
            self.proc = None
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)
        self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def login(self, user):
        ctx = ssl.create_default_context(cafile=self.pki.ca)
        c = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=ctx, timeout=5)
        c.login(user, self.users[user])
        return c

    def append(self, user, folder, raw):
        c = self.login(user)
        try:
            typ, data = c.append(folder, None, None, raw)
            if typ != "OK":
                raise RuntimeError("APPEND: %r" % data)
        finally:
            c.logout()

    def delete_folder(self, user, folder):
        c = self.login(user)
        try:
            typ, data = c.delete(folder)
            if typ != "OK":
                raise RuntimeError("DELETE: %r" % data)
        finally:
            c.logout()

    def messages(self, user, folder):
        """Every message in folder (none when it does not exist)."""
        c = self.login(user)
        out = []
        try:
            typ, _ = c.select(folder, readonly=True)
            if typ != "OK":
                return out
            typ, data = c.search(None, "ALL")
            for num in data[0].split():
                typ, msg = c.fetch(num, "(BODY.PEEK[])")
                out.append(msg[0][1])
        finally:
            c.logout()
        return out
