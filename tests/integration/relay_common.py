"""Shared pieces of the relay integration tests: a provider with a test CA,
the relay under test (`modbus2mail run` with a pure-relay config), message
injection (spool_inject) and spool inspection.
"""
import os
import shutil
import stat
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from harness import Daemon, free_port, tmpdir, wait_until  # noqa: E402,F401
from smtp_provider import Provider, make_pki  # noqa: E402,F401

FROM = "Line 3 Alarms <alarms@example.com>"


def usage_exes(argv):
    if len(argv) < 3:
        sys.exit("usage: %s MODBUS2MAIL_EXE SPOOL_INJECT_EXE [unittest args]" % argv[0])
    return os.path.abspath(argv[1]), os.path.abspath(argv[2]), [argv[0]] + argv[3:]


class Relay:
    """The relay under test, configured by keyword arguments:
    url, fallbacks, tls_none, verify_peer, ca, user, password, notice,
    timeout, initial, max, give_up (durations as in the YAML)."""

    def __init__(self, m2m, tool, workdir, **smtp):
        self.m2m, self.tool, self.dir = m2m, tool, workdir
        self.spool = os.path.join(workdir, "spool")
        self.smtp = dict(timeout="5s", initial="1s", max="2s", give_up="1h")
        self.smtp.update(smtp)
        self.proc = None
        self.cfg = os.path.join(workdir, "m2m.yaml")
        self.pwfile = None
        if self.smtp.get("password") is not None:
            self.pwfile = os.path.join(workdir, "smtp.secret")
            with open(self.pwfile, "w") as f:
                f.write(self.smtp["password"] + "\n")
            os.chmod(self.pwfile, stat.S_IRUSR | stat.S_IWUSR)
        self.write_config()

    def write_config(self):
        s = self.smtp
        lines = ["hostname: gw-test", "spool_dir: %s" % self.spool, "smtp:",
                 "  url: %s" % s["url"]]
        if s.get("fallbacks"):
            lines.append("  fallback_urls: [%s]" % ", ".join(s["fallbacks"]))
        lines.append("  tls: %s" % ("none" if s.get("tls_none") else "required"))
        if s.get("verify_peer") is False:
            lines.append("  verify_peer: false")
        if s.get("ca"):
            lines.append("  ca_file: %s" % s["ca"])
        if s.get("user"):
            lines += ["  username: %s" % s["user"], "  password_file: %s" % self.pwfile]
        lines.append('  from: "%s"' % FROM)
        lines.append("  timeout: %s" % s["timeout"])
        lines.append("  retry: {initial: %s, max: %s, give_up_after: %s}"
                     % (s["initial"], s["max"], s["give_up"]))
        if s.get("notice"):
            lines.append("  failure_notice: %s" % s["notice"])
        if s.get("source"):
            lines.append("  source_address: %s" % s["source"])
        with open(self.cfg, "w") as f:
            f.write("\n".join(lines) + "\n")

    # -- the running relay (harness.Daemon does start/stop/logs) ----------
    def start(self):
        if self.proc is None:
            self.proc = Daemon(self.m2m, self.cfg, args=("-v",))
        self.proc.start()
        return self

    def logtext(self):
        return self.proc.logtext() if self.proc else ""

    def kill9(self):
        self.proc.kill9()

    def stop(self):
        if self.proc is not None and self.proc.proc is not None:
            self.proc.stop()

    # -- commands -----------------------------------------------------------
    def flush(self):
        """`modbus2mail flush`."""
        r = subprocess.run([self.m2m, "flush", "-c", self.cfg], capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError("flush failed: %s%s" % (r.stdout, r.stderr))

    def test_mail(self, to):
        return subprocess.run([self.m2m, "test-mail", "-c", self.cfg, "--to", to],
                              capture_output=True, text=True, timeout=60)

    def queue(self):
        r = subprocess.run([self.m2m, "queue", "-c", self.cfg], capture_output=True,
                           text=True, timeout=30)
        if r.returncode != 0:
            raise AssertionError("queue failed: %s%s" % (r.stdout, r.stderr))
        return r.stdout

    def inject(self, n, rcpts=("ops@example.com",), sender="device@example.com", body=0):
        cmd = [self.tool, "inject", "-s", sender, "-b", str(body)]
        for r in rcpts:
            cmd += ["-r", r]
        subprocess.run(cmd + [self.spool, str(n)], check=True, capture_output=True, timeout=120)

    def files(self, sub, suffix=""):
        d = os.path.join(self.spool, sub)
        if not os.path.isdir(d):
            return []
        return sorted(f for f in os.listdir(d) if f.endswith(suffix) and not f.startswith("."))

    def reasons(self):
        out = []
        for f in self.files("failed", ".reason"):
            with open(os.path.join(self.spool, "failed", f)) as fp:
                out.append(fp.read().strip())
        return out


def cleanup(path):
    shutil.rmtree(path, ignore_errors=True)


def wait_log(relay, text, timeout=20, count=1):
    return wait_until(lambda: relay.logtext().count(text) >= count, timeout=timeout,
                      what="%r x%d in the relay log" % (text, count))


def now():
    return time.monotonic()
