#!/usr/bin/python3
"""Compile-check the Arduino wrapper and the example sketch for the
ATmega2560 against Debian's Arduino AVR core headers and the
declaration-only Ethernet header in tests/firmware/ethernet_decl/
(DESIGN.md, firmware toolchain facts). Compiles, never links.

usage: arduino_compile.py SOURCE_ROOT
"""
import os
import shutil
import subprocess
import sys
import tempfile

ARDUINO = "/usr/share/arduino/hardware/arduino/avr"
CXXFLAGS = ["-mmcu=atmega2560", "-std=gnu++11", "-DF_CPU=16000000L", "-DARDUINO=10819",
            "-DARDUINO_AVR_MEGA2560", "-DARDUINO_ARCH_AVR", "-Os", "-Wall", "-Wextra",
            "-Werror", "-fno-exceptions", "-fno-threadsafe-statics"]
CFLAGS = ["-mmcu=atmega2560", "-std=c99", "-Os", "-Wall", "-Wextra", "-Werror"]


def main():
    root = sys.argv[1]
    lib = os.path.join(root, "src", "firmware", "arduino")
    if not shutil.which("avr-g++") or not os.path.isdir(os.path.join(ARDUINO, "cores", "arduino")):
        print("avr-g++ or arduino-core-avr missing")
        return 77
    inc = ["-I" + os.path.join(ARDUINO, d) for d in
           ("cores/arduino", "variants/mega", "libraries/SPI/src")]
    inc += ["-I" + os.path.join(root, "tests", "firmware", "ethernet_decl"),
            "-I" + os.path.join(lib, "src")]
    jobs = [
        (["avr-g++"] + CXXFLAGS + inc, os.path.join(lib, "src", "Modbus2Mail.cpp")),
        (["avr-g++"] + CXXFLAGS + inc + ["-x", "c++"],
         os.path.join(lib, "examples", "ControllinoMaxiAlarms", "ControllinoMaxiAlarms.ino")),
        # The core as the IDE finds it: through the library's src/ (symlink).
        (["avr-gcc"] + CFLAGS, os.path.join(lib, "src", "m2mfw.c")),
    ]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n, (cmd, src) in enumerate(jobs):
            obj = os.path.join(tmp, "%d.o" % n)
            r = subprocess.run(cmd + ["-c", src, "-o", obj], capture_output=True, text=True)
            status = "ok" if r.returncode == 0 else "FAILED"
            print("%s: %s" % (os.path.relpath(src, root), status))
            if r.returncode != 0:
                print(r.stderr)
                failed += 1
                continue
            print(subprocess.run(["avr-size", obj], capture_output=True,
                                 text=True).stdout.splitlines()[-1])
    if not os.path.isfile(os.path.join(lib, "library.properties")):
        print("library.properties missing")
        failed += 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
