#!/usr/bin/python3
"""Run the firmware core on a simulated ATmega2560 (simavr, 16 MHz): build
tests/firmware/avr_cycles.c with the core (TCP and RTU), run it, check every reply length
(the core works with 16-bit int on the real instruction set) and print the
CPU cycles per request, counted by Timer1. Timing is reported, not asserted.

usage: avr_cycles.py SOURCE_ROOT
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

WANT_LEN = {"empty": -1, "fc3_10regs": 29, "fc1_16coils": 11, "fc5_write": 12,
            "fc3_exception02": 9, "fc1_2000coils": 259, "fc3_125regs": 259,
            "rtu_fc3_10regs": 25, "rtu_other_unit": 0}


def main():
    root = sys.argv[1]
    for tool in ("avr-gcc", "simavr"):
        if shutil.which(tool) is None:
            print("%s missing (apt-get install gcc-avr avr-libc simavr)" % tool)
            return 77
    fw = os.path.join(root, "src", "firmware")
    with tempfile.TemporaryDirectory() as tmp:
        elf = os.path.join(tmp, "cycles.elf")
        subprocess.run(["avr-gcc", "-mmcu=atmega2560", "-Os", "-std=c99", "-Wall", "-Wextra",
                        "-Werror", "-I" + fw, os.path.join(root, "tests", "firmware", "avr_cycles.c"),
                        os.path.join(fw, "m2mfw.c"), os.path.join(fw, "m2mfw_rtu.c"), "-o", elf],
                       check=True)
        r = subprocess.run(["simavr", "-m", "atmega2560", "-f", "16000000", elf],
                           capture_output=True, text=True, timeout=60)
    out = re.sub(r"\x1b\[[0-9;]*m", "", r.stdout + r.stderr)
    rows = re.findall(r"(\w+) len=(-?\d+) cycles=(\d+)", out)
    got = {name: (int(ln), int(cy)) for name, ln, cy in rows}
    print("%-18s %6s %9s %10s" % ("request", "reply", "cycles", "us@16MHz"))
    for name, (ln, cy) in got.items():
        print("%-18s %6d %9d %10.1f" % (name, ln, cy, cy / 16.0))
    print("(cycles include ~%d of measurement and call overhead: the 'empty' row)"
          % got.get("empty", (0, 0))[1])
    if "done" not in out or {k: v[0] for k, v in got.items()} != WANT_LEN:
        print("unexpected simavr output:\n" + out)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
