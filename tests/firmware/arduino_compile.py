#!/usr/bin/python3
"""Compile-check the Arduino wrapper and the example sketch for the
ATmega2560 against Debian's Arduino AVR core headers and the
declaration-only Ethernet header in tests/firmware/ethernet_decl/
(DESIGN.md, firmware toolchain facts). Compiles, never links. The sketch
also builds for RS-485 alone, without any Ethernet header on the path.

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
    core = ["-I" + os.path.join(ARDUINO, d) for d in
            ("cores/arduino", "variants/mega", "libraries/SPI/src")]
    core += ["-I" + os.path.join(lib, "src")]
    inc = core + ["-I" + os.path.join(root, "tests", "firmware", "ethernet_decl")]
    sketch = os.path.join(lib, "examples", "ControllinoMaxiAlarms", "ControllinoMaxiAlarms.ino")
    jobs = [(["avr-g++"] + CXXFLAGS + inc, os.path.join(lib, "src", f))
            for f in ("Modbus2MailMap.cpp", "Modbus2Mail.cpp", "Modbus2MailRtu.cpp")]
    jobs += [
        (["avr-g++"] + CXXFLAGS + inc + ["-x", "c++"], sketch),
        (["avr-g++"] + CXXFLAGS + core + ["-DUSE_ETHERNET=0", "-x", "c++"], sketch),
    ]
    # The core as the IDE finds it: through the library's src/ (symlinks).
    jobs += [(["avr-gcc"] + CFLAGS, os.path.join(lib, "src", f))
             for f in ("m2mfw.c", "m2mfw_rtu.c")]
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for n, (cmd, src) in enumerate(jobs):
            obj = os.path.join(tmp, "%d.o" % n)
            r = subprocess.run(cmd + ["-c", src, "-o", obj], capture_output=True, text=True)
            status = "ok" if r.returncode == 0 else "FAILED"
            print("%s%s: %s" % (os.path.relpath(src, root),
                                " (USE_ETHERNET=0)" if "-DUSE_ETHERNET=0" in cmd else "",
                                status))
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
