#!/usr/bin/python3
"""Hostile PLC: a Modbus/TCP server on raw sockets that can be switched
between misbehaviours a broken PLC, a TCP-to-RTU gateway with a dead PLC
behind it, or a hostile device would show. Written on raw sockets (not
pymodbus) so every byte of a reply can be wrong on purpose.

CLI:  hostile_plc.py [--host 127.0.0.1] [--port 0] [--size 10000]
      prints "READY modbus=PORT control=PORT" once both listen.
Control requests (one JSON object per line, one JSON reply per line), the
same as plc_sim.py's for set/get/log/down/up, plus:
  {"cmd": "mode", ...}  sets misbehaviours (others keep theirs):
      "exception": CODE or null   answer read requests with this exception
      "exception_fc": [FC..]      ... only these function codes (null: all)
      "write_exception": CODE     answer writes (FC5) with this exception
      "drip": SECONDS             send each reply one byte every SECONDS
      "drip_fc": [FC..]           ... only replies to these (null: all)
      "unit": ID or null          reply with this unit id
      "mbap_delta": N             add N to the MBAP length of every reply
      "protocol": ID              protocol id of every reply
      "tick": [TABLE, ADDR]       add 1 to that register on every read
  {"cmd": "mode", "reset": true}  back to a well-behaved PLC
  set and mode replies carry "t": time.monotonic() when they took effect
  (the same clock as the request log's, for benchmarks)
  {"cmd": "conns"}  -> {"connections": N} accepted so far
"""
import argparse
import json
import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plc_sim import PlcSim  # noqa: E402

NORMAL = {"exception": None, "exception_fc": None, "write_exception": None,
          "drip": 0, "drip_fc": None, "unit": None, "mbap_delta": 0, "protocol": 0, "tick": None}
TABLE_FC = {1: "co", 2: "di", 3: "hr", 4: "ir"}


def recv_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


class Server:
    def __init__(self, host, port, size):
        self.host, self.port = host, port
        self.tables = {t: [0] * size for t in ("co", "di", "hr", "ir")}
        self.mode = dict(NORMAL)
        self.lock = threading.Lock()
        self.requests = []
        self.connections = 0
        self.listener = None
        self.conns = set()

    def up(self):
        with self.lock:
            if self.listener is not None:
                return
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((self.host, self.port))
            s.listen(16)
            self.port = s.getsockname()[1]
            self.listener = s
        threading.Thread(target=self.accept_loop, args=(s,), daemon=True).start()

    def down(self):
        with self.lock:
            s, self.listener = self.listener, None
            conns, self.conns = list(self.conns), set()
        if s is not None:
            # shutdown first: close() alone leaves a socket that another
            # thread waits in accept() on listening
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def accept_loop(self, s):
        while True:
            try:
                conn, _ = s.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                self.conns.add(conn)
            threading.Thread(target=self.serve, args=(conn,), daemon=True).start()

    def serve(self, conn):
        try:
            while True:
                head = recv_exact(conn, 7)
                tid, _proto, length, unit = struct.unpack(">HHHB", head)
                pdu = recv_exact(conn, length - 1)
                reply = self.answer(unit, pdu)
                if reply is not None:
                    self.send(conn, tid, unit, reply)
        except (ConnectionError, OSError, struct.error):
            pass
        finally:
            with self.lock:
                self.conns.discard(conn)
            conn.close()

    def answer(self, unit, pdu):
        """The reply PDU for a request PDU, as the current mode wants it."""
        fc = pdu[0]
        with self.lock:
            m = dict(self.mode)
            if fc in TABLE_FC and len(pdu) == 5:
                addr, n = struct.unpack(">HH", pdu[1:5])
                self.requests.append([fc, addr, n, time.monotonic()])
                t = TABLE_FC[fc]
                if m["tick"] and m["tick"][0] == t and addr <= m["tick"][1] < addr + n:
                    self.tables[t][m["tick"][1]] = (self.tables[t][m["tick"][1]] + 1) & 0xFFFF
                vals = self.tables[t][addr:addr + n]
            elif fc == 5 and len(pdu) == 5:
                addr, v = struct.unpack(">HH", pdu[1:5])
                self.requests.append([fc, addr, 1, time.monotonic()])
                if m["write_exception"] is None:
                    self.tables["co"][addr] = 1 if v == 0xFF00 else 0
            else:
                return bytes([fc | 0x80, 1])
        if fc == 5:
            if m["write_exception"] is not None:
                return bytes([fc | 0x80, m["write_exception"]])
            return pdu
        if m["exception"] is not None and (m["exception_fc"] is None or fc in m["exception_fc"]):
            return bytes([fc | 0x80, m["exception"]])
        if fc <= 2:
            data = bytearray((n + 7) // 8)
            for i, v in enumerate(vals):
                if v:
                    data[i // 8] |= 1 << (i % 8)
            return bytes([fc, len(data)]) + bytes(data)
        return bytes([fc, 2 * n]) + b"".join(struct.pack(">H", v) for v in vals)

    def send(self, conn, tid, unit, pdu):
        with self.lock:
            m = dict(self.mode)
        if m["unit"] is not None:
            unit = m["unit"]
        frame = struct.pack(">HHHB", tid, m["protocol"], len(pdu) + 1 + m["mbap_delta"],
                            unit) + pdu
        if not m["drip"] or (m["drip_fc"] is not None and pdu[0] & 0x7F not in m["drip_fc"]):
            conn.sendall(frame)
            return
        for i in range(len(frame)):
            conn.sendall(frame[i:i + 1])
            time.sleep(m["drip"])

    def control(self, req):
        cmd = req.get("cmd")
        with self.lock:
            if cmd == "set":
                t = self.tables[req["table"]]
                t[req["addr"]:req["addr"] + len(req["values"])] = req["values"]
                return {"ok": True, "t": time.monotonic()}
            if cmd == "get":
                a = req["addr"]
                return {"ok": True, "values": self.tables[req["table"]][a:a + req.get("count", 1)]}
            if cmd == "log":
                reqs, self.requests = self.requests, []
                return {"ok": True, "requests": reqs}
            if cmd == "conns":
                return {"ok": True, "connections": self.connections}
            if cmd == "mode":
                if req.get("reset"):
                    self.mode = dict(NORMAL)
                for k, v in req.items():
                    if k in NORMAL:
                        self.mode[k] = v
                return {"ok": True, "mode": self.mode, "t": time.monotonic()}
        if cmd == "down":
            self.down()
            return {"ok": True}
        if cmd == "up":
            self.up()
            return {"ok": True}
        return {"ok": False, "error": "bad cmd"}


def control_loop(srv, ctl):
    while True:
        conn, _ = ctl.accept()
        f = conn.makefile("rw")
        for line in f:
            f.write(json.dumps(srv.control(json.loads(line))) + "\n")
            f.flush()
        conn.close()


class HostilePlc(PlcSim):
    """Test-side handle: hostile_plc.py as a child, plus mode()."""

    def __init__(self, host="127.0.0.1", size=10000):
        super().__init__(host, size, script=os.path.abspath(__file__))

    def mode(self, **kw):
        return self.request(cmd="mode", **kw)["mode"]

    def mode_at(self, **kw):
        """mode(), returning the server's monotonic time of the switch."""
        return self.request(cmd="mode", **kw)["t"]

    def set_at(self, table, addr, values):
        """set(), returning the server's monotonic time of the change."""
        return self.request(cmd="set", table=table, addr=addr, values=values)["t"]

    def connections(self):
        return self.request(cmd="conns")["connections"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--size", type=int, default=10000)
    args = ap.parse_args()
    srv = Server(args.host, args.port, args.size)
    srv.up()
    ctl = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ctl.bind((args.host, 0))
    ctl.listen(4)
    print("READY modbus=%d control=%d" % (srv.port, ctl.getsockname()[1]), flush=True)
    # the test's handle ends us with SIGTERM; daemon threads go with us
    control_loop(srv, ctl)


if __name__ == "__main__":
    main()
