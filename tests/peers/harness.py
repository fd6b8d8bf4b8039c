"""Shared pieces of the integration tests: run the real modbus2mail daemon
with a config, wait for conditions with bounded polling, stop what we start.
"""
import os
import signal
import socket
import subprocess
import tempfile
import time


def wait_until(cond, timeout=20.0, interval=0.05, what="condition"):
    """Bounded polling: returns cond()'s truthy value or raises after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))
        time.sleep(interval)


def stop_child(proc, timeout=10):
    """SIGTERM to a child we started, SIGKILL when it has not exited within
    timeout; never waits longer than twice that."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


NOBODY = 65534
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def as_nobody(exe, directory):
    """A wrapper script in directory that runs exe as nobody."""
    w = os.path.join(directory, "m2m-as-nobody")
    with open(w, "w") as f:
        f.write('#!/bin/sh\nexec %s %s "$@"\n' % (" ".join(AS_NOBODY), exe))
    os.chmod(w, 0o755)
    return w


def cpu_seconds(pid):
    """User + system CPU time of process pid so far (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Daemon:
    """`modbus2mail run -c CONFIG` as a child process, logs in a file."""

    def __init__(self, exe, config, env=None, args=("-v",)):
        self.exe, self.config = exe, config
        self.logpath = config + ".log"
        self.env = dict(os.environ, **(env or {}))
        self.args = list(args)
        self.proc = None

    def start(self, wait_ready=True):
        self.log = open(self.logpath, "ab")
        self.logstart = self.log.tell()
        self.proc = subprocess.Popen([self.exe, "run", "-c", self.config] + self.args,
                                     stdout=self.log, stderr=subprocess.STDOUT,
                                     env=self.env)
        if wait_ready:
            wait_until(lambda: "daemon: started" in self.logtext()[self.logstart:]
                       or self.proc.poll() is not None,
                       timeout=20, what="daemon start")
            if self.proc.poll() is not None:
                raise AssertionError("daemon exited %s:\n%s" % (self.proc.returncode, self.logtext()))
        return self

    def logtext(self):
        with open(self.logpath, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def logbytes_since_start(self):
        return self.logtext()[self.logstart:]

    def cli(self, *args, check=True, timeout=30):
        r = subprocess.run([self.exe] + list(args) + ["-c", self.config],
                           capture_output=True, text=True, env=self.env, timeout=timeout)
        if check and r.returncode != 0:
            raise AssertionError("modbus2mail %s failed (%d): %s%s" %
                                 (" ".join(args), r.returncode, r.stdout, r.stderr))
        return r

    def signal(self, sig):
        self.proc.send_signal(sig)

    def kill9(self):
        self.proc.kill()
        self.proc.wait(timeout=10)
        self.log.close()

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.log.close()
        return self.proc.returncode


def tmpdir(prefix="m2m-"):
    return tempfile.mkdtemp(prefix=prefix)
