#!/usr/bin/python3
"""The firmware core behind the shim, polled by libmodbus (the gateway's
Modbus library): API calls and byte-exact raw replies in
tests/firmware/m2mfw_libmodbus_check.c, then the written values are read
back through the shim's control port. Over Modbus/TCP, or with --rtu over
Modbus RTU through a socat pty pair.

usage: test_firmware_libmodbus.py M2MFW_SHIM M2MFW_LIBMODBUS_CHECK [--rtu]
"""
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "firmware"))
sys.path.insert(0, os.path.join(HERE, "..", "peers"))
from shim import Shim, wait_until  # noqa: E402


@contextlib.contextmanager
def shim_and_target(shim_exe, rtu):
    """The shim, and the check's arguments to reach it."""
    if not rtu:
        with Shim(shim_exe) as s:
            yield s, [str(s.modbus_port)]
        return
    from pty_pair import PtyPair
    with tempfile.TemporaryDirectory() as tmp, \
            PtyPair(tmp, names=("ttyClient", "ttyPLC")) as line, \
            Shim(shim_exe, "-s", line.device_end, "-b", "19200") as s:
        yield s, ["-s", line.daemon_end]


def main():
    shim_exe, check_exe = sys.argv[1], sys.argv[2]
    rtu = "--rtu" in sys.argv[3:]
    if rtu and shutil.which("socat") is None:
        print("socat not installed (apt-get install socat)")
        return 77
    with shim_and_target(shim_exe, rtu) as (s, target):
        # The preconditions m2mfw_libmodbus_check.c documents.
        for c in (0, 3, 10):
            s.set("coil", c, 1)
        s.set("di", 5, 1)
        s.set("hr", 1, 0x0409)
        s.set("hr", 2, 0xBEEF)
        s.set("ir", 0, 777)
        s.set("ir", 7, 0xFFFF)
        r = subprocess.run([check_exe] + target, capture_output=True,
                           text=True, timeout=60)
        sys.stdout.write(r.stdout)
        sys.stderr.write(r.stderr)
        assert r.returncode == 0, "libmodbus check failed"
        coils = {a: s.get("coil", a) for a in range(16, 32)}
        want = {a: 0 for a in range(16, 32)}
        want.update({16: 1, 20: 1, 24: 1, 25: 0, 26: 1, 27: 1, 28: 0, 29: 1})
        assert coils == want, coils
        regs = [s.get("hr", a) for a in range(8, 16)]
        assert regs == [0xABCD, 0x1111, 0x2222, 0x3333, 0xCAFE, 0x1234, 0, 0], regs
        # The alarm side was never touched by the client.
        assert [s.get("coil", a) for a in (0, 3, 10)] == [1, 1, 1]
        assert s.get("hr", 0) == 0 and s.get("hr", 1) == 0x0409
        # Every write reached the application callback.
        wait_until(lambda: ("coil", "16", "1") in s.writes() and ("hr", "13", "4660") in s.writes(), timeout=5, what="write events")
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
