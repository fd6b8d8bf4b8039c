#!/usr/bin/python3
"""Simulated PLC: a real pymodbus Modbus/TCP server plus a JSON-lines control
port, so tests can set coils/registers, read the request log, drop the link
and bring it back.

CLI:  plc_sim.py [--host 127.0.0.1] [--port 0] [--size 10000]
      prints "READY modbus=PORT control=PORT" once both listen.
Control requests (one JSON object per line, one JSON reply per line):
  {"cmd": "set", "table": "co|di|hr|ir", "addr": N, "values": [..]}
  {"cmd": "get", "table": ..., "addr": N, "count": N}
  {"cmd": "log"}      -> {"requests": [[fc, addr, count, t], ...]} and clears
                         it (t = time.monotonic() when served)
  {"cmd": "down"}     -> closes the Modbus listener and every connection
  {"cmd": "up"}       -> listens again on the same port
"""
import argparse
import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.server.async_io import ModbusTcpServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import stop_child  # noqa: E402

TABLES = {"co": 1, "di": 2, "hr": 3, "ir": 4}


class LoggingSlave(ModbusSlaveContext):
    """Records every request the server executes: (function code, addr, count)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.requests = []

    def getValues(self, fc_as_hex, address, count=1):  # noqa: N802 (pymodbus API)
        self.requests.append([fc_as_hex, address, count, time.monotonic()])
        return super().getValues(fc_as_hex, address, count)

    def setValues(self, fc_as_hex, address, values):  # noqa: N802
        self.requests.append([fc_as_hex, address, len(values), time.monotonic()])
        return super().setValues(fc_as_hex, address, values)


class Sim:
    def __init__(self, host, port, size):
        block = lambda: ModbusSequentialDataBlock(0, [0] * size)  # noqa: E731
        self.slave = LoggingSlave(di=block(), co=block(), hr=block(), ir=block(),
                                  zero_mode=True)
        self.context = ModbusServerContext(slaves=self.slave, single=True)
        self.host, self.port = host, port
        self.server = None
        self.task = None

    async def up(self):
        if self.server is not None:
            return
        self.server = ModbusTcpServer(self.context, address=(self.host, self.port),
                                      allow_reuse_address=True)
        self.task = asyncio.create_task(self.server.serve_forever())
        await asyncio.wait_for(self.server.serving, 5)
        self.port = self.server.server.sockets[0].getsockname()[1]

    async def down(self):
        if self.server is None:
            return
        for handler in list(self.server.active_connections.values()):
            if getattr(handler, "transport", None) is not None:
                handler.transport.abort()
        await self.server.server_close()
        self.task.cancel()
        self.server = None

    def control(self, req):
        cmd = req.get("cmd")
        if cmd == "set":
            # Raw store access: the request log shows only what the gateway asked.
            ModbusSlaveContext.setValues(self.slave, TABLES[req["table"]], req["addr"],
                                         req["values"])
            return {"ok": True}
        if cmd == "get":
            vals = ModbusSlaveContext.getValues(self.slave, TABLES[req["table"]],
                                                req["addr"], req.get("count", 1))
            return {"ok": True, "values": [int(v) for v in vals]}
        if cmd == "log":
            reqs, self.slave.requests = self.slave.requests, []
            return {"ok": True, "requests": reqs}
        return None


async def run_control(host, dispatch, ready):
    """Serves the JSON-lines control port until a "quit" request: the
    coroutine dispatch(req) answers each request (None: unknown command);
    ready(port) once it listens."""
    stop = asyncio.Event()

    async def handle(reader, writer):
        try:
            while not reader.at_eof():
                line = await reader.readline()
                if not line:
                    break
                req = json.loads(line)
                if req.get("cmd") == "quit":
                    stop.set()
                    rep = {"ok": True}
                else:
                    rep = await dispatch(req) or {"ok": False, "error": "bad cmd"}
                writer.write((json.dumps(rep) + "\n").encode())
                await writer.drain()
        finally:
            writer.close()

    ctl = await asyncio.start_server(handle, host, 0)
    ready(ctl.sockets[0].getsockname()[1])
    await stop.wait()
    ctl.close()


async def main_async(args):
    sim = Sim(args.host, args.port, args.size)
    await sim.up()

    async def dispatch(req):
        cmd = req.get("cmd")
        if cmd in ("down", "up"):
            await (sim.down() if cmd == "down" else sim.up())
            return {"ok": True}
        return sim.control(req)

    await run_control(args.host, dispatch, lambda cport: print(
        f"READY modbus={sim.port} control={cport}", flush=True))
    await sim.down()


class PlcSim:
    """Test-side handle: starts plc_sim.py (or another server with the same
    CLI and control protocol: script, given args of its own) as a child,
    talks to its control port."""

    def __init__(self, host="127.0.0.1", size=10000, script=None, args=()):
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", script or os.path.abspath(__file__), "--host", host] +
            (["--size", str(size)] if size else []) + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            stop_child(self.proc)
            self.proc.stdout.close()
            raise RuntimeError("plc_sim did not start: %r" % line)
        fields = dict(kv.split("=") for kv in line.split()[1:])
        self.host = host
        self.port = int(fields["modbus"])
        self.ctl = socket.create_connection((host, int(fields["control"])), timeout=10)
        self.ctlf = self.ctl.makefile("r")

    def request(self, **req):
        self.ctl.sendall((json.dumps(req) + "\n").encode())
        rep = json.loads(self.ctlf.readline())
        if not rep.get("ok"):
            raise RuntimeError("plc_sim: %r" % rep)
        return rep

    def set(self, table, addr, values):
        if not isinstance(values, list):
            values = [values]
        self.request(cmd="set", table=table, addr=addr, values=values)

    def get(self, table, addr, count=1):
        return self.request(cmd="get", table=table, addr=addr, count=count)["values"]

    def log(self):
        return self.request(cmd="log")["requests"]

    def down(self):
        self.request(cmd="down")

    def up(self):
        self.request(cmd="up")

    def stop(self):
        self.ctlf.close()
        self.ctl.close()
        stop_child(self.proc)
        self.proc.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.CRITICAL)
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--size", type=int, default=10000)
    try:
        asyncio.run(main_async(p.parse_args()))
    except KeyboardInterrupt:
        sys.exit(0)
