#!/usr/bin/python3
"""`meson install` into a DESTDIR (SPEC §8): binary, unit, man pages, example
config, /etc/modbus2mail/modbus2mail.yaml created once and never overwritten;
and the unit's sandbox score from `systemd-analyze security`.

usage: test_install.py BUILD_DIR SOURCE_ROOT [unittest names...]
"""
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

BUILD = None
SRC = None


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
    if r.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s%s" % (" ".join(cmd), r.returncode,
                                                         r.stdout, r.stderr))
    return r


def exposure(unit_path):
    """The "Overall exposure level" systemd-analyze gives a unit file."""
    r = subprocess.run(["systemd-analyze", "security", "--offline=yes", unit_path],
                       capture_output=True, text=True, timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout)
    if m is None:
        raise AssertionError("no exposure level (rc %d):\n%s%s" % (r.returncode,
                                                                   r.stdout, r.stderr))
    return float(m.group(1)), r.stdout


def assessment(unit_path):
    """systemd-analyze's verdict per setting: {"DeviceAllow=": (good, description)}."""
    r = run(["systemd-analyze", "security", "--offline=yes", "--json=short", unit_path])
    return {x["name"]: (x["set"], x["description"]) for x in json.loads(r.stdout)}


def unit_list(unit_path, key):
    """Every word of every KEY= line, as systemd reads list settings."""
    words = []
    with open(unit_path) as f:
        for line in f:
            if line.startswith(key + "="):
                words += line.split("=", 1)[1].split()
    return words


class Install(unittest.TestCase):
    def setUp(self):
        self.dest = tempfile.mkdtemp(prefix="m2m-destdir-")
        self.addCleanup(shutil.rmtree, self.dest, True)

    def install(self):
        env = dict(os.environ)
        env.pop("DESTDIR", None)
        return run(["meson", "install", "-C", BUILD,
                    "--destdir", self.dest], env=env)

    def under_dest(self, path):
        return os.path.join(self.dest, path.lstrip("/"))

    def installed_map(self):
        """Install locations meson itself reports, keyed by file name."""
        out = run(["meson", "introspect", BUILD, "--installed"]).stdout
        return {os.path.basename(v): v for v in json.loads(out).values()}

    def test_tree_and_config_kept(self):
        self.install()
        where = self.installed_map()
        for name, suffix in (("modbus2mail", "/bin/modbus2mail"),
                             ("modbus2mail.service", "/systemd/system/modbus2mail.service"),
                             ("modbus2mail.8", "/man/man8/modbus2mail.8"),
                             ("modbus2mail.yaml.5", "/man/man5/modbus2mail.yaml.5"),
                             ("modbus2mail.yaml", "/share/doc/modbus2mail/modbus2mail.yaml"),
                             ("minimal.yaml", "/share/doc/modbus2mail/minimal.yaml"),
                             ("LICENSE", "/share/doc/modbus2mail/LICENSE"),
                             ("configuration.md", "/share/doc/modbus2mail/configuration.md"),
                             ("operation.md", "/share/doc/modbus2mail/operation.md")):
            self.assertIn(name, where, "meson does not install %s" % name)
            self.assertTrue(where[name].endswith(suffix), where[name])
            self.assertTrue(os.path.isfile(self.under_dest(where[name])),
                            "%s missing in DESTDIR" % where[name])

        exe = self.under_dest(where["modbus2mail"])
        self.assertTrue(os.access(exe, os.X_OK))
        self.assertRegex(run([exe, "--version"]).stdout, r"^modbus2mail \d+\.\d+")

        # The unit names the installed binary and the real protocol.
        with open(self.under_dest(where["modbus2mail.service"])) as f:
            unit = f.read()
        bindir = os.path.dirname(where["modbus2mail"])
        self.assertIn("ExecStart=%s/modbus2mail run -c /etc/modbus2mail/modbus2mail.yaml"
                      % bindir, unit)
        self.assertIn("ExecStartPre=%s/modbus2mail check -c " % bindir, unit)
        for line in ("Type=notify", "WatchdogSec=60", "ExecReload=/bin/kill -HUP $MAINPID",
                     "Restart=on-failure", "DynamicUser=yes", "StateDirectory=modbus2mail",
                     "AmbientCapabilities=CAP_NET_BIND_SERVICE",
                     "CapabilityBoundingSet=CAP_NET_BIND_SERVICE",
                     "LoadCredential=smtp-password:/etc/modbus2mail/smtp.secret"):
            self.assertIn("\n" + line + "\n", unit)
        level, report = exposure(self.under_dest(where["modbus2mail.service"]))
        self.assertLessEqual(level, 1.5, report)

        # Man pages render without groff warnings.
        if shutil.which("groff"):
            for page in ("modbus2mail.8", "modbus2mail.yaml.5"):
                r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z",
                                    self.under_dest(where[page])],
                                   capture_output=True, text=True, timeout=60)
                self.assertEqual((r.returncode, r.stderr), (0, ""), page)

        # First install: /etc gets the example (readable by the dynamic
        # service user) and an empty 0600 credential source.
        etc = os.path.join(self.dest, "etc", "modbus2mail")
        conf = os.path.join(etc, "modbus2mail.yaml")
        secret = os.path.join(etc, "smtp.secret")
        with open(os.path.join(SRC, "config", "modbus2mail.yaml")) as f:
            example = f.read()
        with open(conf) as f:
            self.assertEqual(f.read(), example)
        self.assertEqual(stat.S_IMODE(os.stat(conf).st_mode), 0o644)
        self.assertEqual(stat.S_IMODE(os.stat(secret).st_mode), 0o600)
        self.assertEqual(os.path.getsize(secret), 0)
        r = run([exe, "check", "-c", conf])
        self.assertRegex(r.stdout, r": ok \(1 devices, 4 rules\)")

        # The operator edits both; a second install (an upgrade) keeps them.
        with open(conf, "a") as f:
            f.write("# edited by the operator\n")
        with open(secret, "w") as f:
            f.write("s3cret\n")
        self.install()
        with open(conf) as f:
            self.assertEqual(f.read(), example + "# edited by the operator\n")
        with open(secret) as f:
            self.assertEqual(f.read(), "s3cret\n")
        self.assertEqual(stat.S_IMODE(os.stat(secret).st_mode), 0o600)
        with open(self.under_dest(where["modbus2mail.yaml"])) as f:
            self.assertEqual(f.read(), example, "the doc copy follows the source")

        # Uninstall as the README says: what meson installed goes, the
        # operator's files in /etc stay.
        env = dict(os.environ)
        env.pop("DESTDIR", None)
        run(["ninja", "-C", BUILD, "uninstall"], env=env)
        for name in ("modbus2mail", "modbus2mail.service", "modbus2mail.8", "LICENSE"):
            self.assertFalse(os.path.exists(self.under_dest(where[name])),
                             "%s left behind by uninstall" % where[name])
        with open(conf) as f:
            self.assertEqual(f.read(), example + "# edited by the operator\n")
        with open(secret) as f:
            self.assertEqual(f.read(), "s3cret\n")


class UnitSecurity(unittest.TestCase):
    def test_source_unit_exposure(self):
        level, report = exposure(os.path.join(SRC, "systemd", "modbus2mail.service"))
        self.assertLessEqual(level, 1.5, report)
        # What the service needs stays allowed: networks, spool, port 25.
        self.assertRegex(report, r"✗ RestrictAddressFamilies=~AF_\(INET\|INET6\)")
        self.assertRegex(report, r"✗ CapabilityBoundingSet=~CAP_NET_\(BIND_SERVICE")
        self.assertRegex(report, r"✗ PrivateNetwork=")

    def test_serial_ports_and_nothing_else(self):
        """Modbus RTU: the serial ports reach the DynamicUser service, no
        other hardware does, and systemd accepts every line."""
        unit = os.path.join(SRC, "systemd", "modbus2mail.service")
        level, report = exposure(unit)
        self.assertLessEqual(level, 1.5, report)
        verdict = assessment(unit)
        # The private /dev stays: only the bound serial nodes are in it ...
        self.assertEqual(verdict["PrivateDevices="][0], True, report)
        binds = unit_list(unit, "BindPaths")
        for node in ("/dev/ttyUSB0", "/dev/ttyUSB3", "/dev/ttyACM0", "/dev/ttyAMA0",
                     "/dev/ttyS0", "/dev/serial0", "/dev/serial"):
            self.assertIn("-" + node, binds)
        for b in binds:  # optional ("-": absent at start is no failure), /dev only
            self.assertRegex(b, r"^-/dev/(serial[01]?|tty(USB|ACM|AMA|S)\d)$")
        # ... the device cgroup lets exactly the serial drivers through
        # (rtc read-only comes with ProtectClock=) ...
        acl = verdict["DeviceAllow="][1].split(": ", 1)[1].split()
        self.assertEqual(sorted(acl), ["char-rtc:r", "char-ttyACM:rw", "char-ttyAMA:rw",
                                       "char-ttyS:rw", "char-ttyUSB:rw"])
        # ... and the nodes' group (root:dialout 0660) opens them.
        self.assertEqual(unit_list(unit, "SupplementaryGroups"), ["dialout"])
        # No "Unknown key", "Invalid device rights" or "path is not
        # absolute": systemd would ignore such a line and start without it.
        with tempfile.TemporaryDirectory(prefix="m2m-unit-") as d:
            with open(unit) as f:
                text = f.read().replace("/usr/bin/modbus2mail", shutil.which("true"))
            copy = os.path.join(d, "modbus2mail.service")
            with open(copy, "w") as f:
                f.write(text)
            r = run(["systemd-analyze", "verify", "--man=no", copy])
            self.assertEqual(r.stdout + r.stderr, "")


if __name__ == "__main__":
    BUILD = os.path.abspath(sys.argv[1])
    SRC = os.path.abspath(sys.argv[2])
    unittest.main(argv=[sys.argv[0]] + sys.argv[3:], verbosity=2)
