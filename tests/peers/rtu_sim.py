#!/usr/bin/python3
"""Several Modbus units on one line: a real pymodbus RTU server on a serial
port (a pty end in the tests), or the same units behind one Modbus/TCP
host:port, as a TCP<->RTU gateway shows them. Each unit id has its own
coils and registers; a unit can be made silent (a dead device: requests to
it get no reply) and alive again; every request is logged per unit with
its time, so a test measures each unit's poll rate; a unit can answer
late; in TCP mode accepted connections are counted.

CLI:  rtu_sim.py --units 1,2 --serial PATH [--baud 19200]
      rtu_sim.py --units 1,2,3 --tcp [--host 127.0.0.1]
      prints "READY modbus=PORT control=PORT" once it serves (PORT 0 on a
      serial line).
Control requests (one JSON object per line, one JSON reply per line):
  {"cmd": "set", "unit": N, "table": "co|di|hr|ir", "addr": N, "values": [..]}
  {"cmd": "get", "unit": N, "table": ..., "addr": N, "count": N}
      ("unit" defaults to the first of --units)
  {"cmd": "silent", "unit": N, "on": true|false}
  {"cmd": "delay", "unit": N, "seconds": S}   a slow unit: its replies
                       leave S seconds late
  {"cmd": "log"}    -> {"requests": {"UNIT": [[t, answered], ...]}} and
                       clears it (t = time.monotonic() when it came)
  {"cmd": "conns"}  -> {"accepted": N, "open": N} TCP connections
  {"cmd": "quit"}
"""
import argparse
import asyncio
import logging
import os
import sys
import time

from pymodbus.datastore import (ModbusSequentialDataBlock, ModbusServerContext,
                                ModbusSlaveContext)
from pymodbus.exceptions import NoSuchSlaveException
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.server.async_io import (ModbusConnectedRequestHandler,
                                      ModbusSerialServer, ModbusSingleRequestHandler,
                                      ModbusTcpServer)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from plc_sim import TABLES, PlcSim, run_control  # noqa: E402


class Units(ModbusServerContext):
    """The units of the line. pymodbus looks a unit up once per request it
    executes: that is where requests are logged and silent units drop out
    (with ignore_missing_slaves the server then sends nothing)."""

    def __init__(self, ids, size):
        block = lambda: ModbusSequentialDataBlock(0, [0] * size)  # noqa: E731
        super().__init__(slaves={u: ModbusSlaveContext(di=block(), co=block(), hr=block(),
                                                       ir=block(), zero_mode=True)
                                 for u in ids}, single=False)
        self.first = ids[0]
        self.silent = set()
        self.delay = {}
        self.requests = {u: [] for u in ids}

    def __getitem__(self, unit):
        if unit in self.requests:
            self.requests[unit].append([time.monotonic(), unit not in self.silent])
        if unit in self.silent:
            raise NoSuchSlaveException("unit %d is silent" % unit)
        return super().__getitem__(unit)

    def control(self, req):
        unit = req.get("unit", self.first)
        slave = self._slaves.get(unit)
        cmd = req.get("cmd")
        if slave is None:
            return {"ok": False, "error": "no unit %r" % unit}
        if cmd == "set":
            slave.setValues(TABLES[req["table"]], req["addr"], req["values"])
            return {"ok": True}
        if cmd == "get":
            vals = slave.getValues(TABLES[req["table"]], req["addr"], req.get("count", 1))
            return {"ok": True, "values": [int(v) for v in vals]}
        if cmd == "silent":
            (self.silent.add if req["on"] else self.silent.discard)(unit)
            return {"ok": True}
        if cmd == "delay":
            self.delay[unit] = req["seconds"]
            return {"ok": True}
        if cmd == "log":
            reqs = self.requests
            self.requests = {u: [] for u in reqs}
            return {"ok": True, "requests": reqs}
        return None


class SlowUnits:
    """Sends a slow unit's reply late; UNIT_AT: where a frame has its unit id."""
    def _send_(self, data):
        delay = self.server.context.delay.get(data[self.UNIT_AT], 0)
        if delay:
            asyncio.get_running_loop().call_later(delay, super()._send_, data)
        else:
            super()._send_(data)


class SerialHandler(SlowUnits, ModbusSingleRequestHandler):
    UNIT_AT = 0


class TcpHandler(SlowUnits, ModbusConnectedRequestHandler):
    UNIT_AT = 6         # after the MBAP header's transaction, protocol, length

    def connection_made(self, transport):
        self.server.accepted += 1
        super().connection_made(transport)


async def serve(args, units):
    """Starts the Modbus side; returns (server, port)."""
    if args.serial:
        server = ModbusSerialServer(units, framer=ModbusRtuFramer, port=args.serial,
                                    baudrate=args.baud, parity="N",
                                    handler=SerialHandler,
                                    ignore_missing_slaves=True)
        await server.start()
        if server.transport is None:
            raise SystemExit("rtu_sim: cannot open %s" % args.serial)
        return server, 0
    server = ModbusTcpServer(units, address=(args.host, 0), handler=TcpHandler,
                             allow_reuse_address=True, ignore_missing_slaves=True)
    server.accepted = 0
    asyncio.create_task(server.serve_forever())
    await asyncio.wait_for(server.serving, 5)
    return server, server.server.sockets[0].getsockname()[1]


async def main_async(args):
    units = Units([int(u) for u in args.units.split(",")], args.size)
    server, port = await serve(args, units)

    async def dispatch(req):
        if req.get("cmd") == "conns":
            if args.serial:
                return {"ok": False, "error": "no connections on a serial line"}
            return {"ok": True, "accepted": server.accepted,
                    "open": len(server.active_connections)}
        return units.control(req)

    await run_control(args.host, dispatch, lambda cport: print(
        f"READY modbus={port} control={cport}", flush=True))
    await server.shutdown()


class RtuSim(PlcSim):
    """Test-side handle: rtu_sim.py as a child (serial=PATH: RTU on that
    line; None: Modbus/TCP on a free loopback port)."""

    def __init__(self, units, serial=None, size=1000):
        args = ["--units", ",".join(str(u) for u in units)]
        args += ["--serial", serial] if serial else ["--tcp"]
        super().__init__(size=size, script=os.path.abspath(__file__), args=args)

    def set(self, table, addr, values, unit=None):
        if not isinstance(values, list):
            values = [values]
        self.request(cmd="set", table=table, addr=addr, values=values,
                     **({} if unit is None else {"unit": unit}))

    def silent(self, unit, on=True):
        self.request(cmd="silent", unit=unit, on=on)

    def delay(self, unit, seconds):
        self.request(cmd="delay", unit=unit, seconds=seconds)

    def log(self):
        """{unit: [[t, answered], ...]} since the last call."""
        return {int(u): r for u, r in self.request(cmd="log")["requests"].items()}

    def conns(self):
        return self.request(cmd="conns")


if __name__ == "__main__":
    logging.basicConfig(level=logging.CRITICAL)
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--units", required=True)
    p.add_argument("--serial")
    p.add_argument("--tcp", action="store_true")
    p.add_argument("--baud", type=int, default=19200)
    p.add_argument("--size", type=int, default=1000)
    a = p.parse_args()
    if bool(a.serial) == a.tcp:
        p.error("one of --serial PATH and --tcp")
    try:
        asyncio.run(main_async(a))
    except KeyboardInterrupt:
        sys.exit(0)
