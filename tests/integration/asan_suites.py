#!/usr/bin/python3
"""The unit tests, the listener, relay, acknowledge-by-reply (imap),
firmware-shim, hostile-PLC, bus (rtu) and reload-under-readers integration
tests and the listener stress test, run from an ASan+UBSan build
directory: run_sanitized.sh
builds it and passes its modbus2mail (meson test 'asan'). Sanitizer reports
go to files: any report fails the run, also one from a daemon whose test
did not notice it died.

usage: run_sanitized.sh SOURCE_DIR BUILD_DIR asan_suites.py
"""
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HELPERS = ["src/modbus2mail", "tests/spool_inject", "tests/firmware/m2mfw_shim",
           "tests/firmware/m2mfw_libmodbus_check"]
SELECT = re.compile(r"^.* / ((?:listener|relay|stress|hostile|imap|rtu|reload)_\S+|"
                    r"firmware_(?:mbpoll|libmodbus|stream|e2e)(?:_rtu)?)$", re.M)


def unit_tests(build):
    """The unit suite's test names and the programs they run (targets)."""
    tests = json.loads(subprocess.run(["meson", "introspect", "--tests", build],
                                      check=True, capture_output=True,
                                      text=True).stdout)
    units = [t for t in tests if any(s.endswith(":unit") for s in t["suite"])]
    return ([t["name"] for t in units],
            [os.path.relpath(t["cmd"][0], build) for t in units])


def main():
    build = os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[1])))
    units, programs = unit_tests(build)
    with open(build + ".lock", "w") as lock:        # as run_sanitized.sh
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(["ninja", "-C", build] + HELPERS + programs, check=True,
                       stdout=subprocess.DEVNULL)
    listing = subprocess.run(["meson", "test", "-C", build, "--list"], check=True,
                             capture_output=True, text=True).stdout
    names = units + SELECT.findall(listing)
    if not any(n.startswith("stress_") for n in names):
        sys.exit("asan: no stress test in %s" % build)
    reports = tempfile.mkdtemp(prefix="m2m-asan-")
    # a small quarantine: the stress test bounds the daemon's RSS
    env = dict(os.environ,
               ASAN_OPTIONS="log_path=%s/asan:halt_on_error=1:detect_leaks=1:"
               "quarantine_size_mb=16" % reports,
               UBSAN_OPTIONS="log_path=%s/ubsan:halt_on_error=1:print_stacktrace=1"
               % reports)
    rc = subprocess.run(["meson", "test", "-C", build, "--no-rebuild", "--num-processes",
                         "2", "--print-errorlogs"] + names, env=env).returncode
    for f in sorted(os.listdir(reports)):
        rc = rc or 1
        with open(os.path.join(reports, f), errors="replace") as r:
            print("== %s\n%s" % (f, r.read()[:6000]))
    shutil.rmtree(reports, ignore_errors=True)
    print("asan: %d tests %s" % (len(names), "clean under ASan+UBSan" if rc == 0 else
                                 "FAILED"))
    sys.exit(rc)


if __name__ == "__main__":
    main()
