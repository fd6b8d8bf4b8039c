#!/usr/bin/python3
"""The web page, /metrics, /healthz and the history (issue 16) against real
peers: the daemon, a pymodbus PLC, the aiosmtpd provider with STARTTLS and
AUTH (test CA from openssl), headless Chromium driven by selenium,
promtool, SQLite. One unittest method per behaviour.

usage: test_web.py MODBUS2MAIL_EXE BUILD_DIR [unittest names...]
"""
import csv
import http.client
import http.cookiejar
import io
import json
import os
import re
import shutil
import signal
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from harness import NOBODY, Daemon, as_nobody, free_port, tmpdir, wait_until  # noqa: E402
from plc_sim import PlcSim  # noqa: E402
from smtp_provider import Provider, make_pki  # noqa: E402

EXE = None
BUILD = None
USER, PASSWORD = "operator1", "s3cret-Pass"

CONFIG = """\
hostname: gw-web
spool_dir: {spool}
stall_grace: {stall_grace}
smtp:
  url: smtp://localhost:{smtp_port}
  ca_file: {ca}
  username: gw
  password_file: {pwfile}
  from: "Line 3 Alarms <alarms@example.com>"
  retry: {{initial: 1s, max: 2s, give_up_after: 1h}}
http:
  listen: ["{http_host}:{http_port}"]
  allow: {allow}
  users_file: {users}
{http_tls}
history: {history}
devices:
  - name: maxi1
    host: 127.0.0.1
    port: {plc_port}
    poll_interval: 100ms
    timeout: 300ms
{device_extra}
defaults:
  to: [ops@example.com]
rules:
  - name: pump1_fault
    device: maxi1
    coil: 0
  - name: tank_temp
    device: maxi1
    holding_register: 10
    above: 80
    unit: "<script>alert('x')</script>"
"""


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **kw):
        return None


class SourceHandler(urllib.request.HTTPHandler):
    """Connects from a given loopback source address."""

    def __init__(self, source):
        super().__init__()
        self.source = source

    def http_open(self, req):
        return self.do_open(lambda host, **kw: http.client.HTTPConnection(
            host, source_address=(self.source, 0), **kw), req)


class Client:
    """A browser-like HTTP client: cookies, no redirect following."""

    def __init__(self, base, cafile=None, source=None):
        self.base = base
        self.jar = http.cookiejar.CookieJar()
        handlers = [urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()]
        if source:
            handlers.append(SourceHandler(source))
        if cafile:
            ctx = ssl.create_default_context(cafile=cafile)
            handlers.append(urllib.request.HTTPSHandler(context=ctx))
        self.opener = urllib.request.build_opener(*handlers)

    def request(self, path, fields=None):
        data = urllib.parse.urlencode(fields).encode() if fields is not None else None
        try:
            r = self.opener.open(self.base + path, data=data, timeout=10)
            return r.status, r.read().decode(), r.headers
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode(), e.headers

    def login(self, user=USER, password=PASSWORD):
        return self.request("/login", {"user": user, "password": password})

    def csrf(self):
        status, body, _ = self.request("/")
        m = re.search(r'name="csrf" value="([0-9a-f]+)"', body)
        return m.group(1) if m else None


class WebTest(unittest.TestCase):
    allow = '["127.0.0.0/8"]'
    reject = None
    env = None
    device_extra = ""
    http_host = "127.0.0.1"
    tls = False
    history = "{keep: 1h}"
    stall_grace = "30s"

    def setUp(self):
        self.work = tmpdir("m2m-web-")
        self.addCleanup(shutil.rmtree, self.work, True)
        self.pki = make_pki(os.path.join(self.work, "pki"))
        self.smtp_port, self.http_port = free_port(), free_port()
        self.provider = Provider(self.smtp_port, tls="starttls", cert=self.pki.cert,
                                 key=self.pki.key, user="gw", password="gwpass",
                                 reject=self.reject).start()
        self.addCleanup(self.stop_provider)
        self.plc = PlcSim()
        self.addCleanup(self.plc.stop)
        self.spool = os.path.join(self.work, "spool")
        pwfile = os.path.join(self.work, "smtp.secret")
        with open(os.open(pwfile, os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write("gwpass\n")
        users = os.path.join(self.work, "users")
        crypt = subprocess.run(["openssl", "passwd", "-6", PASSWORD], check=True,
                               capture_output=True, text=True).stdout.strip()
        with open(users, "w") as f:
            f.write("# web users\n%s:%s\n" % (USER, crypt))
        http_tls = ""
        if self.tls:
            http_tls = "  tls: {cert: %s, key: %s}" % (self.pki.cert, self.pki.key)
        self.cfg = os.path.join(self.work, "m2m.yaml")
        with open(self.cfg, "w") as f:
            f.write(CONFIG.format(spool=self.spool, smtp_port=self.smtp_port,
                                  ca=self.pki.ca, pwfile=pwfile, http_host=self.http_host,
                                  http_port=self.http_port,
                                  allow=self.allow, users=users, http_tls=http_tls,
                                  history=self.history, plc_port=self.plc.port,
                                  stall_grace=self.stall_grace,
                                  device_extra=self.device_extra))
        self.prepare()
        self.daemon = Daemon(self.exe(), self.cfg, env=self.env).start()
        self.addCleanup(self.daemon.stop)
        scheme = "https" if self.tls else "http"
        self.base = "%s://%s:%d" % (scheme, self.http_host, self.http_port)
        self.client = Client(self.base, self.pki.ca if self.tls else None)

    def prepare(self):
        """Hook: before the daemon starts."""

    def exe(self):
        """Hook: what runs the daemon."""
        return EXE

    def stop_provider(self):
        """Stops the provider once (a test may stop it early)."""
        if self.provider is not None:
            self.provider.stop()
            self.provider = None

    def raise_pump_alarm(self):
        self.plc.set("co", 0, [1])
        wait_until(lambda: self.provider.count() >= 1, timeout=30, what="ACTIVE mail")
        wait_until(lambda: "pump1_fault" in self.client.request("/")[1], timeout=10,
                   what="alarm on the overview")

    def ack_state(self):
        return "acknowledged=yes" in self.daemon.cli("status").stdout

    def bodies(self):
        return [m.get_body(("plain",)).get_content() for m in self.provider.messages()]


class Browser(WebTest):
    def test_login_ack_history_in_chromium(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By

        opts = Options()
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-dev-shm-usage", "--window-size=412,915",
                  "--user-data-dir=" + os.path.join(self.work, "chromium")):
            opts.add_argument(a)
        opts.binary_location = "/usr/bin/chromium"
        driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
        self.addCleanup(driver.quit)
        driver.set_page_load_timeout(20)
        self.raise_pump_alarm()

        driver.get(self.base + "/login")
        driver.find_element(By.NAME, "user").send_keys(USER)
        driver.find_element(By.NAME, "password").send_keys(PASSWORD)
        driver.find_element(By.ID, "login").click()
        wait_until(lambda: "Log out" in driver.page_source, timeout=10, what="logged in")
        wait_until(lambda: "pump1_fault" in driver.find_element(By.ID, "alarms").text,
                   timeout=10, what="alarm row in the browser")
        shot = os.path.join(BUILD, "web-overview.png")
        driver.save_screenshot(shot)
        self.assertGreater(os.path.getsize(shot), 1000)

        row = [r for r in driver.find_elements(By.CSS_SELECTOR, "tr.alarm")
               if "pump1_fault" in r.text][0]
        row.find_element(By.CSS_SELECTOR, "button[value=ack]").click()
        wait_until(lambda: "pump1_fault acknowledged" in driver.page_source, timeout=10,
                   what="notice after Ack")
        wait_until(lambda: any(re.search(r"^ACKNOWLEDGED at [^\n]* by operator1 via the web "
                                         r"page", b) for b in self.bodies()),
                   timeout=30, what="ACKNOWLEDGED mail naming the web user at the provider")
        self.assertIn('acknowledged by="operator1 via the web page"', self.daemon.logtext())

        def history_lists_both():
            driver.get(self.base + "/history?rule=pump1_fault")
            text = driver.find_element(By.ID, "history").text
            return "raise" in text and "ack" in text and "operator1 via the web page" in text
        wait_until(history_lists_both, timeout=15, what="raise and ack in the history page")


class Security(WebTest):
    def test_html_escaped(self):
        self.plc.set("hr", 10, [95])
        wait_until(lambda: "tank_temp" in self.client.request("/")[1], timeout=30,
                   what="tank_temp alarm on the overview")
        for path in ("/", "/config"):
            body = self.client.request(path)[1]
            self.assertNotIn("<script>", body, path)
            self.assertIn("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;", body, path)

    def test_csrf_refused(self):
        self.raise_pump_alarm()
        self.assertEqual(self.client.login()[0], 303)
        token = self.client.csrf()
        self.assertIsNotNone(token)
        for bad in ({}, {"csrf": "0" * 32}, {"csrf": token[:-1]}):
            fields = dict(verb="ack", name="pump1_fault", **bad)
            status, body, _ = self.client.request("/action", fields)
            self.assertEqual(status, 403, bad)
        self.assertFalse(self.ack_state())
        # another browser's session token is refused as well
        other = Client(self.base)
        other.login()
        status, _, _ = other.request("/action", {"verb": "ack", "name": "pump1_fault",
                                                 "csrf": token})
        self.assertEqual(status, 403)
        self.assertFalse(self.ack_state())
        status, _, headers = self.client.request(
            "/action", {"verb": "ack", "name": "pump1_fault", "csrf": token})
        self.assertEqual((status, headers["Location"]), (303, "/"))
        wait_until(self.ack_state, timeout=10, what="acknowledged")

    def test_login_required_and_wrong_password(self):
        self.raise_pump_alarm()
        status, body, _ = self.client.request("/action", {"verb": "ack",
                                                          "name": "pump1_fault"})
        self.assertEqual(status, 403)
        self.assertIn("log in first", body)
        status, body, _ = self.client.login(password="wrong-password")
        self.assertEqual(status, 403)
        self.assertIn("Wrong user or password", body)
        self.assertEqual(self.client.login(user="nobody")[0], 403)
        body = self.client.request("/")[1]
        self.assertNotIn('button name="do"', body)
        self.assertFalse(self.ack_state())
        log = self.daemon.logtext()
        self.assertIn("http: login failed user=operator1 from 127.0.0.1", log)
        self.assertNotIn("wrong-password", log)
        self.assertNotIn(PASSWORD, log)

    def test_password_guessing_waits(self):
        """Five failed logins from one address within a minute: that
        address waits (429), even with the right password; another
        address (127.0.0.2) still logs in."""
        for i in range(5):
            self.assertEqual(self.client.login(password="guess%d" % i)[0], 403)
        status, body, _ = self.client.login()
        self.assertEqual(status, 429)
        self.assertIn("too many failed logins", body)
        self.assertIn("http: login refused from 127.0.0.1", self.daemon.logtext())
        other = Client(self.base, source="127.0.0.2")
        self.assertEqual(other.login()[0], 303)
        self.assertIn("http: login user=operator1", self.daemon.logtext())

    def test_limits_and_no_files(self):
        status, _, _ = self.client.request("/action", {"x": "y" * 8000})
        self.assertEqual(status, 413)
        for path in ("/../../etc/passwd", "/etc/passwd", "/history/../m2m.yaml"):
            self.assertEqual(self.client.request(path)[0], 404, path)
        self.assertEqual(self.client.request("/healthz")[0], 200)


def control(path, line, prefix=()):
    """One raw request line on the control socket, as the user prefix
    runs as: the reply, or the connect error."""
    code = ("import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n"
            "    s.connect(sys.argv[1])\n"
            "except OSError as e:\n"
            "    sys.exit('connect: %s' % e.__class__.__name__)\n"
            "s.sendall(sys.argv[2].encode() + b'\\n')\n"
            "out = b''\n"
            "while True:\n"
            "    b = s.recv(4096)\n"
            "    if not b:\n"
            "        break\n"
            "    out += b\n"
            "sys.stdout.write(out.decode())\n")
    r = subprocess.run(list(prefix) + ["/usr/bin/python3", "-c", code, path, line],
                       capture_output=True, text=True, timeout=30)
    return r.stdout + r.stderr


class ForeignWebUser(WebTest):
    """The web thread names its user on the control socket (web=USER);
    only a client of the daemon's own uid may. The daemon runs as nobody:
    root's client claiming a web user is refused and nothing is
    acknowledged; another unprivileged user cannot reach the socket; the
    page itself (the daemon's uid) still acknowledges."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("needs root (setpriv to nobody)")
        super().setUp()

    def prepare(self):
        # nobody reads the config and its files, owns the spool
        os.chmod(self.work, 0o755)
        os.chmod(os.path.dirname(self.pki.ca), 0o755)
        for f in os.listdir(self.work):
            p = os.path.join(self.work, f)
            if os.path.isfile(p):
                os.chmod(p, 0o644)
        os.chmod(self.pki.ca, 0o644)
        os.chmod(os.path.join(self.work, "smtp.secret"), 0o600)
        os.chown(os.path.join(self.work, "smtp.secret"), NOBODY, NOBODY)
        os.makedirs(self.spool, 0o700)
        os.chown(self.spool, NOBODY, NOBODY)

    def exe(self):
        return as_nobody(EXE, self.work)

    def test_foreign_uid_cannot_name_a_web_user(self):
        sock = os.path.join(self.spool, "control.sock")
        self.raise_pump_alarm()
        self.assertEqual(os.stat(sock).st_uid, NOBODY)
        reply = control(sock, "web=operator1 ack pump1_fault")
        self.assertEqual(reply, "error: only the daemon's web page may name a web user\n")
        reply = control(sock, "web=operator1 shelve pump1_fault 3600000 by operator1 via "
                        "the web page")
        self.assertEqual(reply, "error: only the daemon's web page may name a web user\n")
        # another unprivileged user does not even reach the socket
        reply = control(sock, "web=operator1 ack pump1_fault",
                        ["setpriv", "--reuid=daemon", "--regid=daemon", "--clear-groups"])
        self.assertEqual(reply, "connect: PermissionError\n")
        status = self.daemon.cli("status").stdout
        self.assertIn("pump1_fault state=ACTIVE", status)
        self.assertIn("acknowledged=no shelved=no", status)
        self.assertNotIn("acknowledged by=", self.daemon.logtext())
        self.assertIn("daemon: control client uid 0 named web user operator1: refused",
                      self.daemon.logtext())
        # the page, a client of the daemon's own uid, may
        self.assertEqual(self.client.login()[0], 303)
        status, _, _ = self.client.request("/action", {"verb": "ack", "name": "pump1_fault",
                                                       "csrf": self.client.csrf()})
        self.assertEqual(status, 303)
        wait_until(self.ack_state, timeout=10, what="acknowledged through the page")
        self.assertIn('acknowledged by="operator1 via the web page"', self.daemon.logtext())
        wait_until(lambda: any("by operator1 via the web page" in b for b in self.bodies()),
                   timeout=30, what="ACKNOWLEDGED mail naming the web user")

class Queue(WebTest):
    """A rejected recipient puts the alarm mail in failed/: the queue page
    lists it with the provider's reply; Retry and Delete act on it."""
    reject = {"ops@example.com": "550 5.1.1 <ops@example.com>: no such user"}

    def failed_ids(self):
        body = self.client.request("/queue")[1]
        failed = body[body.index('id="failed"'):]
        return re.findall(r'name="name" value="([0-9A-F]+)"><button name="do" '
                          r'value="delete"', failed), failed

    def test_retry_and_delete_failed(self):
        self.plc.set("co", 0, [1])
        wait_until(lambda: "no such user" in self.failed_ids()[1], timeout=30,
                   what="failed mail listed")
        self.assertEqual(self.failed_ids()[0], [])    # not logged in: no buttons
        self.client.login()
        ids, failed = self.failed_ids()
        self.assertEqual(len(ids), 1)
        self.assertIn("no such user", failed)
        self.assertIn("ops@example.com", failed)
        self.assertIn("<td>[warning] pump1_fault ACTIVE on maxi1</td>", failed)
        token = self.client.csrf()
        status, _, headers = self.client.request("/action", {"verb": "retry", "name": ids[0],
                                                             "csrf": token})
        self.assertEqual((status, headers["Location"]), (303, "/queue"))
        self.assertIn("1 message back in the queue", self.client.request("/queue")[1])
        wait_until(lambda: self.failed_ids()[0], timeout=30, what="failed again")
        status, _, _ = self.client.request("/action", {"verb": "delete",
                                                       "name": self.failed_ids()[0][0],
                                                       "csrf": token})
        self.assertEqual(status, 303)
        self.assertIn("deleted " + ids[0], self.client.request("/queue")[1])
        self.assertEqual(self.failed_ids()[0], [])
        out = self.daemon.cli("history", "--kind", "mail_failed").stdout
        self.assertEqual(out.count("no such user"), 2, out)
        out = self.daemon.cli("history", "--rule", ids[0]).stdout
        self.assertIn("mail_queued", out)
        self.assertIn("alarm mail", out)


class Heartbeat(WebTest):
    """The overview's heartbeat column: ok while the PLC's counter moves,
    stale (with since when) once it stops."""
    device_extra = "    heartbeat: {holding_register: 20, stale_after: 1s}"

    def heartbeat_cell(self):
        m = re.search(r"<td>([^<]*<span[^>]*>(ok|stale)</span>[^<]*)</td></tr>",
                      self.client.request("/")[1])
        return m.group(1) if m else ""

    def test_heartbeat_ok_then_stale(self):
        stop = time.monotonic() + 3
        n = 0
        while time.monotonic() < stop:
            n += 1
            self.plc.set("hr", 20, [n])
            time.sleep(0.2)
            self.assertIn(">ok<", self.heartbeat_cell())
        wait_until(lambda: ">stale<" in self.heartbeat_cell(), timeout=10,
                   what="stale heartbeat on the overview")
        self.assertRegex(self.heartbeat_cell(), r"stale</span> since \d{4}-")


class Forbidden(WebTest):
    allow = '["10.0.0.0/8"]'

    def test_403_outside_allow(self):
        for path in ("/", "/metrics", "/healthz", "/login"):
            self.assertEqual(self.client.request(path)[0], 403, path)
        self.assertEqual(self.client.login()[0], 403)


class PlainLan(WebTest):
    """A LAN client over plain HTTP may read but not log in or act. Runs in
    a network namespace of its own where 10.77.0.1 (on lo) is the gateway's
    LAN address, so the client's address is not loopback."""
    http_host = "10.77.0.1"
    allow = '["10.77.0.0/24", "127.0.0.0/8"]'

    def setUp(self):
        if os.environ.get("M2M_NETNS"):
            super().setUp()

    def test_plain_http_from_lan_is_read_only(self):
        if not os.environ.get("M2M_NETNS"):
            cmd = ["unshare", "-n", "--", "/bin/sh", "-c",
                   "ip link set lo up && ip addr add 10.77.0.1/32 dev lo && "
                   'exec "$@"', "sh", sys.executable, os.path.abspath(__file__), EXE,
                   BUILD, "PlainLan.test_plain_http_from_lan_is_read_only"]
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                               env=dict(os.environ, M2M_NETNS="1"))
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn("OK", r.stderr)
            return
        self.raise_pump_alarm()
        status, body, _ = self.client.request("/login")
        self.assertEqual(status, 200)
        self.assertIn("Log in over HTTPS or from the gateway itself", body)
        self.assertNotIn('name="password"', body)
        status, _, headers = self.client.login()
        self.assertEqual(status, 403)
        self.assertNotIn("Set-Cookie", headers)
        status, body, _ = self.client.request("/action", {"verb": "ack",
                                                          "name": "pump1_fault"})
        self.assertEqual(status, 403)
        self.assertIn("actions need HTTPS", body)
        self.assertFalse(self.ack_state())
        self.assertIn("pump1_fault", self.client.request("/")[1])


class Https(WebTest):
    tls = True

    def test_https_with_test_ca(self):
        self.raise_pump_alarm()
        status, _, headers = self.client.login()
        self.assertEqual(status, 303)
        cookie = headers["Set-Cookie"]
        for attr in ("HttpOnly", "SameSite=Strict", "Secure"):
            self.assertIn(attr, cookie)
        token = self.client.csrf()
        status, _, _ = self.client.request("/action", {"verb": "shelve",
                                                       "name": "pump1_fault",
                                                       "for": "1h", "csrf": token})
        self.assertEqual(status, 303)
        wait_until(lambda: "shelved=yes" in self.daemon.cli("status").stdout,
                   timeout=10, what="shelved over HTTPS")
        # a client without the test CA refuses the certificate
        with self.assertRaises(urllib.error.URLError):
            urllib.request.urlopen(self.base + "/healthz", timeout=10)


class Metrics(WebTest):
    def test_promtool_and_healthz(self):
        self.raise_pump_alarm()
        # the overview says since when the link is up and when mail last went
        wait_until(lambda: re.search(r"Sent since start: 1, last \d{4}-",
                                     self.client.request("/")[1]),
                   timeout=10, what="last delivery on the overview")
        self.assertRegex(self.client.request("/")[1],
                         r'<span class="ok">up</span> since \d{4}-\d\d-\d\d')
        status, text, headers = self.client.request("/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        for line in ('modbus2mail_alarm_active{device="maxi1",rule="pump1_fault",'
                     'severity="warning"} 1',
                     'modbus2mail_device_up{device="maxi1"} 1',
                     'modbus2mail_mail_path_ok 1',
                     'modbus2mail_queue_messages{state="failed"} 0',
                     'modbus2mail_alarm_transitions_total{device="maxi1",'
                     'rule="pump1_fault",kind="raise"} 1'):
            self.assertIn(line, text)
        r = subprocess.run(["promtool", "check", "metrics"], input=text,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        status, body, _ = self.client.request("/healthz")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["status"], "ok")
        # provider gone: the next alarm mail breaks the mail path, 503
        self.stop_provider()
        self.plc.set("hr", 10, [99])

        def unhealthy():
            s, b, _ = self.client.request("/healthz")
            return s == 503 and json.loads(b)["mail_path_ok"] is False
        wait_until(unhealthy, timeout=30, what="/healthz 503 with the mail path broken")
        self.assertIn("modbus2mail_mail_path_ok 0", self.client.request("/metrics")[1])


class HealthzStall(WebTest):
    """Under systemd's watchdog (60 s: a ping every 30 s), /healthz turns
    503 as soon as a thread counts as stalled (a poller hung by the test
    build's hook: its longest cycle + stall_grace, 11.4 s for this device),
    not only at the next watchdog ping."""
    env = {"WATCHDOG_USEC": "60000000", "MODBUS2MAIL_TEST_STALL_POLLER": "1"}
    stall_grace = "1s"

    def test_503_once_a_poller_stalls(self):
        t0 = time.monotonic()
        status, body, _ = self.client.request("/healthz")
        self.assertEqual((status, json.loads(body)["threads_alive"]), (200, True))
        wait_until(lambda: self.client.request("/healthz")[0] == 503,
                   timeout=30 - (time.monotonic() - t0), interval=0.5,
                   what="/healthz 503 within a tick of the stall")
        self.assertFalse(json.loads(self.client.request("/healthz")[1])["threads_alive"])
        self.assertGreater(time.monotonic() - t0, 10.5)


class ReloadDuringActions(WebTest):
    """A web action waits for the daemon's answer on the control socket
    while a reload stops the web server, which waits for the action: the
    daemon answers it first. Was: that reload took the page's 10 s timeout
    and the user read "no answer from the daemon"."""

    def act(self, stop, sent):
        client = Client(self.base)
        while not stop.is_set():
            try:
                client.login()
                token = client.csrf()
                if token is None:
                    continue
                status, _, _ = client.request("/action", {
                    "verb": ("shelve", "unshelve")[len(sent) % 2],
                    "name": "pump1_fault", "csrf": token})
                if status == 303:
                    sent.append(1)
            except OSError:         # the server restarting
                time.sleep(0.01)

    def test_reload_answers_actions_in_flight(self):
        self.raise_pump_alarm()
        stop, sent = threading.Event(), []
        threads = [threading.Thread(target=self.act, args=(stop, sent), daemon=True)
                   for _ in range(4)]
        for t in threads:
            t.start()
        slowest, reloads, t_end = 0, 0, time.monotonic() + 60
        try:
            # many reloads with actions in flight: 1 in 20 or so meets one
            while (reloads < 60 or len(sent) < 300) and time.monotonic() < t_end:
                n = self.daemon.logtext().count("daemon: reloaded")
                t0 = time.monotonic()
                self.daemon.signal(signal.SIGHUP)
                wait_until(lambda: self.daemon.logtext().count("daemon: reloaded") > n,
                           timeout=30, interval=0.01, what="reload")
                slowest = max(slowest, time.monotonic() - t0)
                reloads += 1
                time.sleep(0.05)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=30)
        self.assertGreaterEqual(len(sent), 300)
        self.assertFalse("no answer from the daemon" in self.daemon.logtext(),
                         "a web action went unanswered across a reload")
        self.assertLess(slowest, 3.0)


def seed_history(path, rows):
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE IF NOT EXISTS events(id INTEGER PRIMARY KEY, t INTEGER NOT NULL,"
               " kind TEXT NOT NULL, device TEXT, rule TEXT, detail TEXT)")
    db.executemany("INSERT INTO events(t, kind, device, rule, detail) VALUES(?,?,?,?,?)", rows)
    db.commit()
    db.close()


class HistoryRetention(WebTest):
    history = "{keep: 1h}"

    def prepare(self):
        os.makedirs(self.spool, mode=0o700)
        now = int(time.time() * 1000)
        seed_history(os.path.join(self.spool, "history.db"), [
            (now - 2 * 3600 * 1000, "raise", "maxi1", "old_rule", "older than keep"),
            (now - 60 * 1000, "raise", "maxi1", "recent_rule", 'has, a "comma"'),
        ])

    def test_retention_purge_and_csv(self):
        def purged():
            out = self.daemon.cli("history", "--since", "3h", "--csv").stdout
            return "old_rule" not in out and "recent_rule" in out
        wait_until(purged, timeout=15, what="old event purged at start")
        self.raise_pump_alarm()
        wait_until(lambda: "pump1_fault" in self.daemon.cli("history").stdout, timeout=15,
                   what="raise in the history")
        out = self.daemon.cli("history", "--csv", "--device", "maxi1").stdout
        rows = list(csv.reader(io.StringIO(out)))
        self.assertEqual(rows[0], ["time", "kind", "device", "rule", "detail"])
        by_rule = {r[3]: r for r in rows[1:]}
        self.assertEqual(by_rule["recent_rule"][4], 'has, a "comma"')
        self.assertEqual(by_rule["pump1_fault"][1], "raise")
        status, web_csv, headers = self.client.request("/history.csv?device=maxi1&since=3h")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/csv"))
        self.assertEqual(list(csv.reader(io.StringIO(web_csv)))[1:], rows[1:])
        filtered = self.daemon.cli("history", "--rule", "recent_rule").stdout
        self.assertNotIn("pump1_fault", filtered)
        r = self.daemon.cli("history", "--since", "soon", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("bad duration 'soon'", r.stderr)


class HistoryCorrupt(WebTest):
    def prepare(self):
        os.makedirs(self.spool, mode=0o700)
        with open(os.path.join(self.spool, "history.db"), "wb") as f:
            f.write(b"this is not an SQLite database\n" * 200)

    def test_corrupt_db_alarm_still_mailed(self):
        self.raise_pump_alarm()
        self.assertIn("history events are dropped", self.daemon.logtext())
        wait_until(lambda: re.search(r"modbus2mail_history_dropped_total [1-9]",
                                     self.client.request("/metrics")[1]),
                   timeout=10, what="dropped history counted")
        self.assertRegex(self.daemon.cli("status").stdout,
                         r"history: [1-9][0-9]* events dropped since start")


class HistoryLocked(WebTest):
    def test_locked_db_alarm_still_mailed(self):
        path = os.path.join(self.spool, "history.db")
        wait_until(lambda: os.path.exists(path), timeout=10, what="history.db")
        db = sqlite3.connect(path, timeout=1, isolation_level=None)
        db.execute("BEGIN EXCLUSIVE")
        self.addCleanup(db.close)
        t0 = time.monotonic()
        self.raise_pump_alarm()
        self.assertLess(time.monotonic() - t0, 15)
        wait_until(lambda: "history:" in self.daemon.logtext() and
                   "dropped" in self.daemon.logtext(), timeout=15,
                   what="drop warning while the database is locked")
        db.execute("ROLLBACK")


if __name__ == "__main__":
    EXE = os.path.abspath(sys.argv[1])
    BUILD = os.path.abspath(sys.argv[2])
    res = unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2,
                        exit=False).result
    # a test that needs root and did not run is a skip for meson, no pass
    sys.exit(1 if not res.wasSuccessful() else 77 if res.skipped else 0)
