#!/usr/bin/python3
"""The command line as a newcomer meets it: help for every command, what
`check` says about warnings, sorted errors and YAML mistakes, the minimal
file, read-only commands that create nothing, and `test-mail` without
`--to` against a real SMTP peer (aiosmtpd).

usage: test_cli.py MODBUS2MAIL_EXE [unittest names...]
"""
import os
import re
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from catcher import Catcher  # noqa: E402
from harness import free_port, tmpdir, wait_until  # noqa: E402

EXE = None

# Commands that must exist with their help; others (added later) are
# checked the same way because the list is read from `modbus2mail help`.
KNOWN = ["run", "check", "test-mail", "poll", "queue", "flush", "status", "ack",
         "shelve", "unshelve", "retry", "delete", "render", "sendmail", "help"]

SMTP = """\
smtp:
  url: smtp://127.0.0.1:{port}
  tls: none
  from: alarms@example.com
"""


def m2m(*args, env=None):
    return subprocess.run([EXE] + list(args), capture_output=True, text=True,
                          timeout=60, env=env)


class CliTest(unittest.TestCase):
    def setUp(self):
        self.work = tmpdir()
        self.addCleanup(shutil.rmtree, self.work, True)

    def config(self, text, name="m2m.yaml"):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write(text)
        return path


class Help(CliTest):
    def listed(self):
        r = m2m("help")
        self.assertEqual(r.returncode, 0, r.stderr)
        return [m.group(1) for m in re.finditer(r"^  ([a-z][a-z-]*) ", r.stdout, re.M)]

    def test_overview(self):
        r = m2m("help")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(r.stdout, m2m("--help").stdout)
        for line in r.stdout.splitlines():
            self.assertLessEqual(len(line), 80, line)
        for cmd in KNOWN:
            self.assertIn(cmd, self.listed())

    def test_every_command(self):
        for cmd in self.listed():
            with self.subTest(cmd=cmd):
                r = m2m("help", cmd)
                self.assertEqual((r.returncode, r.stderr), (0, ""))
                out = r.stdout
                self.assertTrue(out.startswith("usage: modbus2mail %s [-c FILE]" % cmd), out)
                self.assertIn("\noptions:\n  -c FILE ", out)
                # one example, a command line of this very command
                ex = out.split("\nexample:\n")
                self.assertEqual(len(ex), 2, out)
                self.assertRegex(ex[1], r"^  (sudo )?(\S+ \| )?.*modbus2mail %s\b" % cmd)
                # the same text through COMMAND --help, with or without -c
                self.assertEqual(m2m(cmd, "--help").stdout, out)
                self.assertEqual(m2m(cmd, "-c", "/nonexistent", "--help").stdout, out)
                for line in out.splitlines():
                    self.assertLessEqual(len(line), 80, line)

    def test_options_are_described(self):
        for cmd, opts in (("run", ["-v"]), ("test-mail", ["--to ADDR"]),
                          ("shelve", ["--reason TEXT"]), ("poll", ["DEVICE"]),
                          ("sendmail", ["-t", "-f FROM", "-i"])):
            out = m2m("help", cmd).stdout
            for o in opts:
                self.assertRegex(out, r"\n  %s\b" % re.escape(o), (cmd, o))

    def test_unknown(self):
        r = m2m("help", "reboot")
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, "modbus2mail help: unknown command 'reboot' "
                         "(the list: modbus2mail help)\n")
        r = m2m("reboot")
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown command 'reboot'", r.stderr)


class Check(CliTest):
    def test_warning_exits_0(self):
        path = self.config(SMTP.format(port=25) + """\
defaults: {to: [ops@example.com]}
devices:
  - name: maxi1
    host: 127.0.0.1
rules:
  - name: temp
    device: maxi1
    holding_register: 40011
    above: 80
""")
        r = m2m("check", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, "%s: ok (1 devices, 1 rules)\n" % path)
        self.assertEqual(r.stderr, "%s:12:23: warning: holding_register 40011 looks like a "
                         "1-based 4xxxx reference; the 0-based address is probably 10\n" % path)

    def test_errors_in_file_order(self):
        path = self.config("""\
rules:
  - {name: r, device: nowhere, coil: 1, severity: loud}
devices:
  - {name: p, host: h, port: 99999}
""")
        r = m2m("check", "-c", path)
        self.assertEqual(r.returncode, 1)
        positions = [tuple(int(x) for x in m.groups())
                     for m in re.finditer(r"^.*?:(\d+):(\d+): error: ", r.stderr, re.M)]
        self.assertEqual(len(positions), len(r.stderr.splitlines()), r.stderr)
        self.assertGreaterEqual(len(positions), 5, r.stderr)
        self.assertEqual(positions, sorted(positions), r.stderr)

    def test_yaml_hints(self):
        for name, text, want in (
                ("tab", "smtp:\n\turl: x\n",
                 ":2:1: error: tabs are not allowed for indentation; use spaces ("),
                ("indent", "smtp:\n  url: smtp://x:587\n   from: a@b.c\n",
                 ":3:8: error: check the indentation of this line and the line above, "
                 "and the space after each ':' ("),
                ("colon", "smtp:\n  url:smtp://x:587\n  from: a@b.c\n",
                 ":3:7: error: check the indentation of this line and the line above, "
                 "and the space after each ':' ("),
                ("quote", "smtp:\n  url: smtp://x:587\n  from: \"a@b.c\nhostname: gw\n",
                 ":3:9: error: unclosed quote: the quote opened on line 3 is never closed (")):
            with self.subTest(name=name):
                path = self.config(text, name + ".yaml")
                r = m2m("check", "-c", path)
                self.assertEqual(r.returncode, 1)
                self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)
                self.assertTrue(r.stderr.startswith(path + want), r.stderr)

    def test_minimal_file(self):
        """One device, one rule with to: [ops], no defaults.to, no link_alarm.to."""
        path = self.config(SMTP.format(port=25) + """\
recipients:
  ops: [ops@example.com]
devices:
  - name: maxi1
    host: 192.168.1.10
rules:
  - name: pump1_fault
    device: maxi1
    coil: 12
    to: [ops]
""")
        r = m2m("check", "-c", path)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(r.stdout, "%s: ok (1 devices, 1 rules)\n" % path)


class ReadOnly(CliTest):
    def test_nothing_creates_the_spool(self):
        spool = os.path.join(self.work, "spool")
        path = self.config(SMTP.format(port=25) + "spool_dir: %s\n" % spool)
        r = m2m("queue", "-c", path)
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        self.assertEqual(r.stdout, "Mail queue is empty (no spool directory %s yet)\n" % spool)
        for args in (("check",), ("status",), ("flush",), ("ack", "x"),
                     ("shelve", "x", "1h"), ("unshelve", "x"), ("poll",)):
            m2m(*args, "-c", path)
        self.assertFalse(os.path.exists(spool), "a read-only command created the spool")


class TestMail(CliTest):
    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.catcher = Catcher(self.port).start()
        self.addCleanup(self.catcher.stop)

    def rcpts(self, n):
        wait_until(lambda: self.catcher.count() >= n, timeout=20, what="%d test mails" % n)
        return sorted(r for e in self.catcher.messages for r in e.rcpt_tos)

    def test_defaults_to(self):
        path = self.config(SMTP.format(port=self.port) + """\
recipients:
  ops: [ops@example.com, "Night <night@example.com>"]
defaults: {to: [ops]}
sign_of_life: {at: "07:00", to: [sol@example.com]}
""")
        r = m2m("test-mail", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(re.findall(r"^test-mail: sent to ", r.stdout, re.M)), 2, r.stdout)
        self.assertEqual(self.rcpts(2), ["night@example.com", "ops@example.com"])

    def test_sign_of_life_to(self):
        path = self.config(SMTP.format(port=self.port) + """\
sign_of_life: {at: "07:00", to: [sol@example.com]}
""")
        r = m2m("test-mail", "-c", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.rcpts(1), ["sol@example.com"])

    def test_nobody(self):
        path = self.config(SMTP.format(port=self.port))
        r = m2m("test-mail", "-c", path)
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, "modbus2mail test-mail: no --to, and %s has neither "
                         "defaults.to nor sign_of_life.to\n" % path)
        self.assertEqual(self.catcher.count(), 0)


if __name__ == "__main__":
    EXE = os.path.abspath(sys.argv[1])
    unittest.main(argv=[sys.argv[0]] + sys.argv[2:], verbosity=2)
