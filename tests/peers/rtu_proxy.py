#!/usr/bin/python3
"""A noisy RS-485 line between the daemon and the RTU units: two pty pairs,
DIR/ttyM2M (the daemon's end) and DIR/ttyDEV (the units' end, rtu_sim.py),
with this proxy between them. Requests pass unchanged; replies (one frame =
the bytes up to a 10 ms silence) are corrupted at a configurable rate.

CLI:  rtu_proxy.py --dir DIR [--host 127.0.0.1]
      prints "READY modbus=0 control=PORT" once both ends are there.
Control requests (one JSON object per line, one JSON reply per line):
  {"cmd": "mode", ...}  sets (others keep theirs):
      "rate": R          corrupt this share of the replies, evenly spread
                         (0: none, 0.5: every second one, 1: all)
      "kind": "flip"     XOR byte number "byte" (negative: from the end)
                         with "mask"; the CRC is left as it was
              "truncate" drop the last "drop" bytes
              "unit"     answer as unit "as_unit", with a valid CRC
              "long"     a maximum-length frame (256 bytes, byte count
                         251, every data bit 1) with a valid CRC
              "count"    the byte count 2 more than the data, the coil
                         bits 1, with a valid CRC
      "fc": FC           only replies to this function code (null: all)
      "only_unit": N     only replies from this unit (null: all)
  {"cmd": "jabber", "bps": N, "on": S, "off": S}
                    a unit that jabbers: random bytes towards the daemon at
                    N bytes a second (0: stop), in bursts of S seconds with
                    S seconds of silence between (off 0: without pause);
                    a reply meanwhile comes mixed with noise
  {"cmd": "stats"}  -> {"replies": N, "corrupted": N, "jabbered": N} since
                    the start
  {"cmd": "quit"}
"""
import argparse
import asyncio
import os
import random
import struct
import sys
import tty

from pymodbus.utilities import computeCRC

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plc_sim import PlcSim, run_control  # noqa: E402

GAP = 0.010     # end of a reply frame: RTU's silence, generous for a pty
CLEAN = {"rate": 0, "kind": "flip", "byte": 3, "mask": 1, "drop": 3, "as_unit": 0,
         "fc": None, "only_unit": None}


def corrupt(frame, mode):
    if mode["kind"] == "flip":
        b = bytearray(frame)
        b[mode["byte"]] ^= mode["mask"]
        return bytes(b)
    if mode["kind"] == "truncate":
        return frame[:max(0, len(frame) - mode["drop"])]
    if mode["kind"] == "unit":
        body = bytes([mode["as_unit"]]) + frame[1:-2]
    elif mode["kind"] == "long":
        body = frame[:2] + bytes([251]) + b"\xff" * 251
    else:
        body = frame[:2] + bytes([frame[2] + 2]) + b"\xff" * frame[2]
    return body + struct.pack(">H", computeCRC(body))


def pty_end(link):
    """A raw pty whose slave is at link: (master, slave). The caller keeps
    the slave open too, so the master never reads EIO while no one else
    has it open."""
    master, slave = os.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    os.symlink(os.ttyname(slave), link)
    return master, slave


class Proxy:
    def __init__(self, directory):
        self.loop = asyncio.get_running_loop()
        self.mode = dict(CLEAN)
        self.replies = self.corrupted = self.matched = self.jabbered = 0
        self.jabber, self.jabbering = None, False
        self.pending, self.flush = b"", None
        self.slaves = []
        self.daemon_m = self.open_end(os.path.join(directory, "ttyM2M"))
        os.set_blocking(self.daemon_m, False)      # noise fills its buffer
        self.device_m = self.open_end(os.path.join(directory, "ttyDEV"))
        self.loop.add_reader(self.daemon_m, self.forward_request)
        self.loop.add_reader(self.device_m, self.collect_reply)

    def open_end(self, link):
        master, slave = pty_end(link)
        self.slaves.append(slave)
        return master

    def forward_request(self):
        os.write(self.device_m, os.read(self.daemon_m, 4096))

    def collect_reply(self):
        self.pending += os.read(self.device_m, 4096)
        if self.flush is not None:
            self.flush.cancel()
        self.flush = self.loop.call_later(GAP, self.send_reply)

    def due(self, frame):
        """Whether this reply is one of the share to corrupt."""
        m = self.mode
        if len(frame) < 4 or (m["fc"] is not None and frame[1] & 0x7F != m["fc"]) or \
           (m["only_unit"] is not None and frame[0] != m["only_unit"]):
            return False
        self.matched += 1
        return int(self.matched * m["rate"]) != int((self.matched - 1) * m["rate"])

    def send_reply(self):
        frame, self.pending, self.flush = self.pending, b"", None
        self.replies += 1
        if self.due(frame):
            frame = corrupt(frame, self.mode)
            self.corrupted += 1
        if frame and self.jabbering:
            # a reply collides with the noise: its bytes and the noise's
            # mixed, as on a line two units drive at once
            frame = bytes(b for c in frame for b in (c, random.randrange(256)))
        if frame:
            self.to_daemon(frame)

    def to_daemon(self, data):
        """Writes what the daemon's input buffer takes (a reply may be lost
        in noise that filled it, as on the line)."""
        try:
            return os.write(self.daemon_m, data)
        except BlockingIOError:
            return 0

    async def jabber_loop(self, bps, on, off):
        """Writes bps bytes a second, on seconds at a time: a chunk every
        millisecond, so the line is never silent for 3.5 characters.
        Without pause (off 0) the daemon's input buffer is also kept full,
        so a pause of this process (a loaded machine) is no quiet line."""
        chunk = max(1, round(bps * 0.001))
        while True:
            end = self.loop.time() + (on if off > 0 else 1e9)
            self.jabbering = True
            while self.loop.time() < end:
                self.jabbered += self.to_daemon(random.randbytes(
                    4096 if off == 0 else chunk))
                await asyncio.sleep(0.001)
            self.jabbering = False
            await asyncio.sleep(off)

    async def control(self, req):
        if req.get("cmd") == "jabber":
            if self.jabber is not None:
                self.jabber.cancel()
            self.jabber, self.jabbering = None, False
            if req["bps"] > 0:
                self.jabber = asyncio.create_task(self.jabber_loop(
                    req["bps"], req.get("on", 0), req.get("off", 0)))
            return {"ok": True}
        if req.get("cmd") == "mode":
            self.mode.update((k, v) for k, v in req.items() if k in CLEAN)
            self.matched = 0
            return {"ok": True}
        if req.get("cmd") == "stats":
            return {"ok": True, "replies": self.replies, "corrupted": self.corrupted,
                    "jabbered": self.jabbered}
        return None


async def main_async(args):
    proxy = Proxy(args.dir)
    await run_control(args.host, proxy.control, lambda cport: print(
        f"READY modbus=0 control={cport}", flush=True))


class RtuProxy(PlcSim):
    """Test-side handle: the proxy as a child; daemon_end and device_end
    are the two pty paths."""

    def __init__(self, directory):
        super().__init__(size=None, script=os.path.abspath(__file__),
                         args=["--dir", directory])
        self.daemon_end = os.path.join(directory, "ttyM2M")
        self.device_end = os.path.join(directory, "ttyDEV")

    def mode(self, **kw):
        self.request(cmd="mode", **kw)

    def stats(self):
        return self.request(cmd="stats")

    def jabber(self, bps, on=0, off=0):
        self.request(cmd="jabber", bps=bps, on=on, off=off)


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--dir", required=True)
    try:
        asyncio.run(main_async(p.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
