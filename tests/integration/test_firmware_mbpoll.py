#!/usr/bin/python3
"""The firmware core behind the shim, polled by mbpoll (an independent
Modbus client): every function code, the standard map, exceptions, unit id.
Over Modbus/TCP; with --rtu over Modbus RTU at 19200 baud through a socat
pty pair, whose tap checks the frames on the line byte for byte (CRCs from
pymodbus), plus raw frames for broadcast, CRC errors and short frames.

usage: test_firmware_mbpoll.py M2MFW_SHIM [--rtu]
"""
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "firmware"))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from shim import Shim, wait_until  # noqa: E402


class Mbpoll:
    """mbpoll against the shim's TCP port or the client end of the line."""

    def __init__(self, port=None, tty=None):
        if tty is not None:
            self.base, self.target = ["-m", "rtu", "-b", "19200", "-P", "none"], tty
        else:
            self.base, self.target = ["-m", "tcp", "-p", str(port)], "127.0.0.1"

    def __call__(self, *args, unit=1, check=True):
        cmd = ["mbpoll"] + self.base + ["-a", str(unit), "-1", "-q", "-o", "0.5"]
        # Options before the host or tty, values to write after it.
        opts = [a for a in args if not isinstance(a, int)]
        vals = [str(a) for a in args if isinstance(a, int)]
        r = subprocess.run(cmd + opts + [self.target] + vals, capture_output=True,
                           text=True, timeout=20)
        if check and r.returncode != 0:
            raise AssertionError("mbpoll %s: rc=%d %s%s" % (" ".join(map(str, args)),
                                                            r.returncode, r.stdout, r.stderr))
        return r


def values(out):
    """'[n]: \\tv' lines -> {n: 'v'} (mbpoll numbers from 1 unless -0)."""
    return {int(m.group(1)): m.group(2).split()[0]
            for m in re.finditer(r"^\[(\d+)\]:\s+(\S.*)$", out, re.M)}


def scenario(mbpoll, s):
    """What both transports answer alike."""
    for c in (0, 2, 15):
        s.set("coil", c, 1)
    for d in (1, 5):
        s.set("di", d, 1)
    s.set("hr", 1, 0x8005)
    s.set("hr", 15, 42)
    s.set("ir", 0, 777)
    s.set("ir", 7, 65535)

    # FC 1: the 16 alarm coils (references are 1-based in mbpoll).
    v = values(mbpoll("-t", "0", "-r", "1", "-c", "16").stdout)
    assert v == {i + 1: ("1" if i in (0, 2, 15) else "0") for i in range(16)}, v
    # FC 2
    v = values(mbpoll("-t", "1", "-r", "1", "-c", "16").stdout)
    assert v == {i + 1: ("1" if i in (1, 5) else "0") for i in range(16)}, v
    # FC 3, the whole holding table
    v = values(mbpoll("-t", "4:hex", "-r", "1", "-c", "16").stdout)
    want = {i + 1: "0x0000" for i in range(16)}
    want.update({2: "0x8005", 16: "0x002A"})
    assert v == want, v
    # FC 4
    v = values(mbpoll("-t", "3", "-r", "1", "-c", "8").stdout)
    assert v[1] == "777" and v[8] == "65535" and v[2] == "0", v
    # PDU addressing (-0): coil 15 is reference 15.
    v = values(mbpoll("-0", "-t", "0", "-r", "15", "-c", "1").stdout)
    assert v == {15: "1"}, v

    # FC 5 (one value) and FC 15 (several) into the writable coils.
    mbpoll("-t", "0", "-r", "17", 1)
    assert s.get("coil", 16) == 1
    mbpoll("-t", "0", "-r", "30", 1, 0, 1)
    assert [s.get("coil", a) for a in (29, 30, 31)] == [1, 0, 1]
    wait_until(lambda: ("coil", "16", "1") in s.writes(), timeout=5, what="write event coil 16")
    wait_until(lambda: ("coil", "31", "1") in s.writes(), timeout=5, what="write event coil 31")
    # FC 6 and FC 16 into the writable registers.
    mbpoll("-t", "4", "-r", "16", 7)
    assert s.get("hr", 15) == 7
    mbpoll("-t", "4", "-r", "9", 4660, 22136)
    assert (s.get("hr", 8), s.get("hr", 9)) == (4660, 22136)
    v = values(mbpoll("-t", "4:hex", "-r", "9", "-c", "2").stdout)
    assert v == {9: "0x1234", 10: "0x5678"}, v

    # Exceptions, as mbpoll (libmodbus) reports them.
    r = mbpoll("-t", "0", "-r", "1", 1, check=False)   # alarm coil: PLC's own
    assert r.returncode != 0 and "Illegal data address" in r.stderr, r.stderr
    assert s.get("coil", 0) == 1
    r = mbpoll("-t", "4", "-r", "16", "-c", "2", check=False)
    assert r.returncode != 0 and "Illegal data address" in r.stderr, r.stderr
    r = mbpoll("-t", "3", "-r", "9", check=False)
    assert r.returncode != 0 and "Illegal data address" in r.stderr, r.stderr
    r = mbpoll("-t", "4", "-r", "2", 1, check=False)    # read-only register
    assert r.returncode != 0 and "Illegal data address" in r.stderr, r.stderr
    assert s.get("hr", 1) == 0x8005

    # Another unit id gets no answer at all.
    r = mbpoll("-t", "4", "-r", "1", unit=2, check=False)
    assert r.returncode != 0 and not values(r.stdout), (r.stdout, r.stderr)
    stats = s.ctl("stats")
    assert re.match(r"requests=\d+ exceptions=4 ", stats), stats


def seal(body):
    """An RTU frame: body and its CRC, computed by pymodbus."""
    from pymodbus.utilities import computeCRC
    return body + struct.pack(">H", computeCRC(body))


def exchange(line, request):
    """The bytes the line carried back right after request (b"" if none)."""
    t = line.transfers()
    for i, (d, data) in enumerate(t):
        if d == ">" and data.startswith(request):
            if len(data) > len(request):    # the next request followed at once
                return b""
            return t[i + 1][1] if i + 1 < len(t) and t[i + 1][0] == "<" else b""
    raise AssertionError("request %s not on the line: %s" % (request.hex(), t))


def read_reply(fd, n, timeout=5.0):
    got, deadline = b"", time.monotonic() + timeout
    while len(got) < n and time.monotonic() < deadline:
        if select.select([fd], [], [], 0.05)[0]:
            got += os.read(fd, n - len(got))
    return got


def rtu_only(mbpoll, s, line):
    # The frames on the wire, byte for byte (alarm coils 0, 2, 15 set).
    assert exchange(line, seal(b"\x01\x01\x00\x00\x00\x10")) == \
        seal(b"\x01\x01\x02\x05\x80")
    regs = [0] * 16
    regs[1], regs[15] = 0x8005, 0x002A
    assert exchange(line, seal(b"\x01\x03\x00\x00\x00\x10")) == \
        seal(b"\x01\x03\x20" + struct.pack(">16H", *regs))
    assert exchange(line, seal(b"\x01\x05\x00\x00\xff\x00")) == seal(b"\x01\x85\x02")
    assert exchange(line, seal(b"\x01\x0f\x00\x1d\x00\x03\x01\x05")) == \
        seal(b"\x01\x0f\x00\x1d\x00\x03")
    assert exchange(line, seal(b"\x02\x03\x00\x00\x00\x01")) == b""

    # Raw frames (libmodbus refuses to send to unit 255).
    fd = os.open(line.daemon_end, os.O_RDWR | os.O_NOCTTY)
    try:
        # 255 is TCP's "any unit"; on a bus its replies would collide.
        os.write(fd, seal(b"\xff\x03\x00\x01\x00\x01"))
        assert read_reply(fd, 1, timeout=0.5) == b""
        # A broadcast write is applied and never answered: the next bytes
        # on the line are the reply to the read that follows.
        os.write(fd, seal(b"\x00\x06\x00\x0a\xbe\xef"))
        wait_until(lambda: s.get("hr", 10) == 0xBEEF, timeout=5, what="broadcast write")
        os.write(fd, seal(b"\x01\x03\x00\x0a\x00\x01"))
        assert read_reply(fd, 7) == seal(b"\x01\x03\x02\xbe\xef")
        # A write with a bad CRC, then a 3-byte frame: dropped, nothing applied.
        bad = bytearray(seal(b"\x01\x06\x00\x0b\x00\x07"))
        bad[-1] ^= 0x01
        os.write(fd, bytes(bad))
        wait_until(lambda: "dropped=1" in s.ctl("stats"), timeout=5, what="CRC error dropped")
        os.write(fd, b"\x01\x03\x00")
        wait_until(lambda: "dropped=2" in s.ctl("stats"), timeout=5, what="short frame dropped")
        os.write(fd, seal(b"\x01\x03\x00\x0b\x00\x01"))
        assert read_reply(fd, 7) == seal(b"\x01\x03\x02\x00\x00")
        assert read_reply(fd, 1, timeout=0.2) == b""    # nothing else came
    finally:
        os.close(fd)


def main():
    rtu = "--rtu" in sys.argv[2:]
    for tool in ("mbpoll",) + (("socat",) if rtu else ()):
        if shutil.which(tool) is None:
            print("%s not installed (apt-get install %s)" % (tool, tool))
            return 77
    if not rtu:
        with Shim(sys.argv[1]) as s:
            mbpoll = Mbpoll(port=s.modbus_port)
            scenario(mbpoll, s)
            # Unit 255 is answered over TCP.
            v = values(mbpoll("-t", "4:hex", "-r", "2", unit=255).stdout)
            assert v == {2: "0x8005"}, v
        print("ok")
        return 0
    from pty_pair import PtyPair
    with tempfile.TemporaryDirectory() as tmp, \
            PtyPair(tmp, names=("ttyClient", "ttyPLC"), tap=True) as line, \
            Shim(sys.argv[1], "-s", line.device_end, "-b", "19200") as s:
        mbpoll = Mbpoll(tty=line.daemon_end)
        scenario(mbpoll, s)
        rtu_only(mbpoll, s, line)
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
