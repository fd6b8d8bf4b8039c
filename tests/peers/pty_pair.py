"""Two linked pseudo-terminals made by socat: what is written to one end
comes out of the other, like the two ends of an RS-485 line. A pty has no
baud rate and no parity (the tests configure `parity: none`).

    with PtyPair(workdir) as line:   # line.daemon_end, line.device_end
        ...
"""
import os
import subprocess

from harness import stop_child, wait_until


class PtyPair:
    def __init__(self, directory, names=("ttyM2M", "ttyDEV")):
        self.daemon_end, self.device_end = (os.path.join(directory, n) for n in names)
        self.logpath = os.path.join(directory, "socat-%s.log" % names[0])
        with open(self.logpath, "wb") as log:
            # -d -d: socat says when both ends are there and the loop runs
            self.proc = subprocess.Popen(
                ["socat", "-d", "-d", "pty,raw,echo=0,link=" + self.daemon_end,
                 "pty,raw,echo=0,link=" + self.device_end],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        try:
            wait_until(lambda: self.proc.poll() is not None or
                       "starting data transfer loop" in self.log(),
                       timeout=10, what="socat pty pair")
        except AssertionError:
            self.stop()
            raise
        if self.proc.poll() is not None:
            raise RuntimeError("socat exited %s: %s" % (self.proc.returncode, self.log()))

    def log(self):
        with open(self.logpath, errors="replace") as f:
            return f.read()

    def stop(self):
        stop_child(self.proc, timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
