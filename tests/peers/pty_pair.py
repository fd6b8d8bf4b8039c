"""Two linked pseudo-terminals made by socat: what is written to one end
comes out of the other, like the two ends of an RS-485 line. A pty has no
baud rate and no parity (the tests configure `parity: none`).

    with PtyPair(workdir) as line:   # line.daemon_end, line.device_end
        ...

tap=True makes socat log every byte that crosses (-x); transfers() reads
them back, so a test can check a peer's frames byte for byte.
"""
import os
import re
import subprocess

from harness import stop_child, wait_until


class PtyPair:
    def __init__(self, directory, names=("ttyM2M", "ttyDEV"), tap=False):
        self.daemon_end, self.device_end = (os.path.join(directory, n) for n in names)
        self.logpath = os.path.join(directory, "socat-%s.log" % names[0])
        with open(self.logpath, "wb") as log:
            # -d -d: socat says when both ends are there and the loop runs
            self.proc = subprocess.Popen(
                ["socat", "-d", "-d"] + (["-x"] if tap else []) +
                ["pty,raw,echo=0,link=" + self.daemon_end,
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

    def transfers(self):
        """With tap: [(">" or "<", bytes)] in order, ">" from daemon_end to
        device_end; consecutive chunks in one direction joined."""
        out = []
        for d, hexes in re.findall(r"^([<>]) .*length=\d+.*\n((?: [0-9a-f]{2})+)$",
                                   self.log(), re.M):
            data = bytes.fromhex(hexes)
            if out and out[-1][0] == d:
                out[-1] = (d, out[-1][1] + data)
            else:
                out.append((d, data))
        return out

    def stop(self):
        stop_child(self.proc, timeout=5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
