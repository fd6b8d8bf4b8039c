#!/usr/bin/python3
"""Fail when the AVR build of the firmware core exceeds its budget.

usage: avr_size.py AVR_SIZE FLASH_MAX RAM_MAX OBJECT...
Flash is text+data (initialised data is stored in flash too), static RAM is
data+bss, as avr-size's Berkeley format reports them, summed over the
objects (the TCP core and the RTU framing go into one sketch together).
"""
import shutil
import subprocess
import sys


def main():
    size, flash_max, ram_max = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    objs = sys.argv[4:]
    if shutil.which(size) is None:
        print("avr-size not found: apt-get install binutils-avr")
        return 77
    out = subprocess.run([size] + objs, check=True, capture_output=True,
                         text=True).stdout
    lines = out.strip().splitlines()
    if len(lines) != len(objs) + 1 or lines[0].split()[:3] != ["text", "data", "bss"]:
        print("unexpected avr-size output:\n" + out)
        return 1
    print(out.rstrip())
    flash = ram = 0
    for line in lines[1:]:
        text, data, bss = (int(x) for x in line.split()[:3])
        if text + data == 0:
            print("empty object: wrong file? " + line)
            return 1
        flash += text + data
        ram += data + bss
    print(f"flash {flash} B (budget {flash_max}), "
          f"static RAM {ram} B (budget {ram_max})")
    if flash > flash_max or ram > ram_max:
        print("over budget")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
