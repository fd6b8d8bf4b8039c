#!/usr/bin/python3
"""The firmware core behind the TCP shim, polled by mbpoll (an independent
Modbus client): every function code, the standard map, exceptions, unit id.

usage: test_firmware_mbpoll.py M2MFW_SHIM
"""
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "firmware"))
from shim import Shim, wait_until  # noqa: E402


def mbpoll(port, *args, unit=1, check=True):
    cmd = ["mbpoll", "-m", "tcp", "-a", str(unit), "-1", "-q", "-o", "0.5",
           "-p", str(port)]
    # Options before the host, values to write after it.
    opts = [a for a in args if not isinstance(a, int)]
    vals = [str(a) for a in args if isinstance(a, int)]
    r = subprocess.run(cmd + opts + ["127.0.0.1"] + vals, capture_output=True,
                       text=True, timeout=20)
    if check and r.returncode != 0:
        raise AssertionError("mbpoll %s: rc=%d %s%s" % (" ".join(map(str, args)),
                                                        r.returncode, r.stdout, r.stderr))
    return r


def values(out):
    """'[n]: \\tv' lines -> {n: 'v'} (mbpoll numbers from 1 unless -0)."""
    return {int(m.group(1)): m.group(2).split()[0]
            for m in re.finditer(r"^\[(\d+)\]:\s+(\S.*)$", out, re.M)}


def main():
    if shutil.which("mbpoll") is None:
        print("mbpoll not installed (apt-get install mbpoll)")
        return 77
    with Shim(sys.argv[1]) as s:
        p = s.modbus_port
        for c in (0, 2, 15):
            s.set("coil", c, 1)
        for d in (1, 5):
            s.set("di", d, 1)
        s.set("hr", 1, 0x8005)
        s.set("hr", 15, 42)
        s.set("ir", 0, 777)
        s.set("ir", 7, 65535)

        # FC 1: the 16 alarm coils (references are 1-based in mbpoll).
        v = values(mbpoll(p, "-t", "0", "-r", "1", "-c", "16").stdout)
        assert v == {i + 1: ("1" if i in (0, 2, 15) else "0") for i in range(16)}, v
        # FC 2
        v = values(mbpoll(p, "-t", "1", "-r", "1", "-c", "16").stdout)
        assert v == {i + 1: ("1" if i in (1, 5) else "0") for i in range(16)}, v
        # FC 3, the whole holding table
        v = values(mbpoll(p, "-t", "4:hex", "-r", "1", "-c", "16").stdout)
        want = {i + 1: "0x0000" for i in range(16)}
        want.update({2: "0x8005", 16: "0x002A"})
        assert v == want, v
        # FC 4
        v = values(mbpoll(p, "-t", "3", "-r", "1", "-c", "8").stdout)
        assert v[1] == "777" and v[8] == "65535" and v[2] == "0", v
        # PDU addressing (-0): coil 15 is reference 15.
        v = values(mbpoll(p, "-0", "-t", "0", "-r", "15", "-c", "1").stdout)
        assert v == {15: "1"}, v

        # FC 5 (one value) and FC 15 (several) into the writable coils.
        mbpoll(p, "-t", "0", "-r", "17", 1)
        assert s.get("coil", 16) == 1
        mbpoll(p, "-t", "0", "-r", "30", 1, 0, 1)
        assert [s.get("coil", a) for a in (29, 30, 31)] == [1, 0, 1]
        wait_until(lambda: ("coil", "16", "1") in s.writes(), timeout=5, what="write event coil 16")
        wait_until(lambda: ("coil", "31", "1") in s.writes(), timeout=5, what="write event coil 31")
        # FC 6 and FC 16 into the writable registers.
        mbpoll(p, "-t", "4", "-r", "16", 7)
        assert s.get("hr", 15) == 7
        mbpoll(p, "-t", "4", "-r", "9", 4660, 22136)
        assert (s.get("hr", 8), s.get("hr", 9)) == (4660, 22136)
        v = values(mbpoll(p, "-t", "4:hex", "-r", "9", "-c", "2").stdout)
        assert v == {9: "0x1234", 10: "0x5678"}, v

        # Exceptions, as mbpoll (libmodbus) reports them.
        r = mbpoll(p, "-t", "0", "-r", "1", 1, check=False)   # alarm coil: PLC's own
        assert r.returncode != 0 and "Illegal data address" in r.stderr, r.stderr
        assert s.get("coil", 0) == 1
        r = mbpoll(p, "-t", "4", "-r", "16", "-c", "2", check=False)
        assert r.returncode != 0 and "Illegal data address" in r.stderr, r.stderr
        r = mbpoll(p, "-t", "3", "-r", "9", check=False)
        assert r.returncode != 0 and "Illegal data address" in r.stderr, r.stderr
        r = mbpoll(p, "-t", "4", "-r", "2", 1, check=False)    # read-only register
        assert r.returncode != 0 and "Illegal data address" in r.stderr, r.stderr
        assert s.get("hr", 1) == 0x8005

        # Another unit id gets no answer at all; unit 255 is answered.
        r = mbpoll(p, "-t", "4", "-r", "1", unit=2, check=False)
        assert r.returncode != 0 and not values(r.stdout), (r.stdout, r.stderr)
        v = values(mbpoll(p, "-t", "4:hex", "-r", "2", unit=255).stdout)
        assert v == {2: "0x8005"}, v

        stats = s.ctl("stats")
        assert re.match(r"requests=\d+ exceptions=4 ", stats), stats
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
