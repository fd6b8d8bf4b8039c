#!/usr/bin/python3
"""The TCP stream side of the firmware core (through the shim, which runs the
same frame/answer/consume loop as the Arduino wrapper), byte-exact on a raw
socket: transaction id echo, a request split into single bytes, two
requests in one segment, another unit id, garbage closing the connection.

usage: test_firmware_stream.py M2MFW_SHIM
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "firmware"))
from shim import Shim  # noqa: E402


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise AssertionError("connection closed after %r" % data)
        data += chunk
    return data


def mbap(tid, unit, pdu):
    return tid.to_bytes(2, "big") + b"\0\0" + (len(pdu) + 1).to_bytes(2, "big") + bytes([unit]) + pdu


def closed(sock, timeout=3.0):
    """True when the peer closes within timeout (recv returns b'' or a reset)."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def main():
    with Shim(sys.argv[1]) as s:
        s.set("hr", 1, 0x1234)
        s.set("coil", 7, 1)
        conn = lambda: socket.create_connection(("127.0.0.1", s.modbus_port), timeout=3)  # noqa: E731

        with conn() as c:
            # Transaction id echoed, unit echoed, length right.
            c.sendall(mbap(0xBEEF, 1, b"\x03\x00\x01\x00\x01"))
            assert recv_exact(c, 11) == bytes.fromhex("beef 0000 0005 01 03 02 1234")
            # One request split into single bytes, sent slowly.
            for b in mbap(0x0102, 1, b"\x01\x00\x00\x00\x08"):
                c.send(bytes([b]))
                time.sleep(0.01)
            assert recv_exact(c, 10) == bytes.fromhex("0102 0000 0004 01 01 01 80")
            # Two requests in one segment, answered in order.
            c.sendall(mbap(1, 1, b"\x06\x00\x08\x00\x2a") + mbap(2, 1, b"\x03\x00\x08\x00\x01"))
            assert recv_exact(c, 12) == bytes.fromhex("0001 0000 0006 01 06 0008 002a")
            assert recv_exact(c, 11) == bytes.fromhex("0002 0000 0005 01 03 02 002a")
            # Another unit id: no reply at all, and the connection stays usable.
            c.sendall(mbap(3, 7, b"\x03\x00\x00\x00\x01") + mbap(4, 1, b"\x04\x00\x00\x00\x01"))
            assert recv_exact(c, 11) == bytes.fromhex("0004 0000 0005 01 04 02 0000")
            # Exception reply layout.
            c.sendall(mbap(5, 1, b"\x41"))
            assert recv_exact(c, 9) == bytes.fromhex("0005 0000 0003 01 c1 01")

        with conn() as c:           # protocol id 1: not Modbus, dropped
            c.sendall(bytes.fromhex("0001 0001 0006 01 03 0000 0001"))
            assert closed(c)
        with conn() as c:           # MBAP length over 254: dropped
            c.sendall(bytes.fromhex("0001 0000 00ff 01"))
            assert closed(c)
        with conn() as c:           # a partial frame alone gets no answer
            c.sendall(bytes.fromhex("0001 0000 0006 01 03 00"))
            assert not closed(c, timeout=0.5)
            c.sendall(bytes.fromhex("01 0001"))
            assert recv_exact(c, 11) == bytes.fromhex("0001 0000 0005 01 03 02 1234")
        stats = s.ctl("stats")
        assert stats.startswith("requests=7 exceptions=1 "), stats
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
