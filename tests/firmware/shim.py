"""Python side of the firmware TCP shim (tests/firmware/m2mfw_shim.c), a test
fixture: start it, drive its control port, stop it (always, time-bounded).
"""
import os
import socket
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
from harness import wait_until  # noqa: E402,F401  (re-exported for the shim tests)


class Shim:
    """m2mfw_shim as a child process; `with Shim(exe) as s:` stops it on exit."""

    def __init__(self, exe, *args):
        self.exe = exe
        self.args = list(args)
        self.proc = None
        self.lines = []
        self.modbus_port = self.control_port = None
        self._ctl = None
        self._rfile = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def start(self):
        self.proc = subprocess.Popen([self.exe] + self.args, stdout=subprocess.PIPE,
                                     text=True, bufsize=1)
        threading.Thread(target=self._reader, daemon=True).start()
        first = wait_until(lambda: self.lines and self.lines[0], timeout=10,
                           what="shim start")
        fields = dict(f.split("=") for f in first.split())
        self.modbus_port = int(fields["modbus"])
        self.control_port = int(fields["control"])
        self._ctl = socket.create_connection(("127.0.0.1", self.control_port), timeout=5)
        self._rfile = self._ctl.makefile("r")
        return self

    def _reader(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def ctl(self, cmd):
        """One control command; returns the reply line."""
        self._ctl.sendall((cmd + "\n").encode())
        reply = self._rfile.readline().rstrip("\n")
        if reply.startswith("err"):
            raise AssertionError("shim: %s -> %s" % (cmd, reply))
        return reply

    def set(self, table, addr, value):
        self.ctl("set %s %d %d" % (table, addr, value))

    def get(self, table, addr):
        return int(self.ctl("get %s %d" % (table, addr)))

    def writes(self):
        """The 'write TABLE ADDR VALUE' events printed so far."""
        return [tuple(l.split()[1:]) for l in self.lines if l.startswith("write ")]

    def stop(self):
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)
