#!/usr/bin/python3
"""Fail when the AVR build of the firmware core exceeds its budget.

usage: avr_size.py AVR_SIZE OBJECT [FLASH_MAX RAM_MAX]
Flash is text+data (initialised data is stored in flash too), static RAM is
data+bss, as avr-size's Berkeley format reports them.
"""
import shutil
import subprocess
import sys


def main():
    size = sys.argv[1]
    obj = sys.argv[2]
    flash_max = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
    ram_max = int(sys.argv[4]) if len(sys.argv) > 4 else 256
    if shutil.which(size) is None:
        print("avr-size not found: apt-get install binutils-avr")
        return 77
    out = subprocess.run([size, obj], check=True, capture_output=True,
                         text=True).stdout
    lines = out.strip().splitlines()
    if len(lines) != 2 or lines[0].split()[:3] != ["text", "data", "bss"]:
        print("unexpected avr-size output:\n" + out)
        return 1
    text, data, bss = (int(x) for x in lines[1].split()[:3])
    flash, ram = text + data, data + bss
    print(out.rstrip())
    print(f"flash {flash} B (budget {flash_max}), "
          f"static RAM {ram} B (budget {ram_max})")
    if flash == 0:
        print("empty object: wrong file?")
        return 1
    if flash > flash_max or ram > ram_max:
        print("over budget")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
