"""An RS-485 line at a real baud rate between two pseudo-terminals. A pty
pair (socat) hands a frame over at once; this line hands it over when its
last character would have arrived on a real wire, and keeps the line busy
for the 3.5-character silence that ends a Modbus RTU frame. One line for
both directions (half duplex): a reply cannot start before the request and
its silence are over, nor the next request before the reply's.

    with PacedLine(workdir, baud=19200) as line:  # line.daemon_end, line.device_end
        ...
        line.reset(); ...; line.stats()  # frames and bytes each way since reset

What one write() puts into a pty counts as one frame (libmodbus and
pymodbus write a frame at once); were a frame split, the line would be
slower, never faster. baud=None: no pacing, only the counting.
"""
import os
import selectors
import threading
import time

from rtu_proxy import pty_end


class PacedLine:
    def __init__(self, directory, baud=19200, bits_per_char=11,
                 names=("ttyM2M", "ttyDEV")):
        self.char_s = bits_per_char / baud if baud else 0.0
        # The Modbus serial line spec: 3.5 characters, 1750 us above 19200 baud.
        self.silence_s = (0.00175 if baud > 19200 else 3.5 * self.char_s) if baud else 0.0
        self.daemon_end, self.device_end = (os.path.join(directory, n) for n in names)
        self.ends = []   # (master fd, slave fd) per side
        for link in (self.daemon_end, self.device_end):
            master, slave = pty_end(link)
            os.set_blocking(master, False)
            self.ends.append((master, slave))
        self.lock = threading.Lock()
        self.reset()
        self.line_free = 0.0
        self.queue = []           # (deliver_at, to_side, bytes), in order
        self.handed = [None, None]  # when each side last got a frame
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="paced-line", daemon=True)
        self.thread.start()

    def reset(self):
        with self.lock:
            self.since = time.monotonic()
            self.counts = {"requests": 0, "request_bytes": 0,
                           "replies": 0, "reply_bytes": 0,
                           "daemon_turnaround_s": 0.0, "device_turnaround_s": 0.0}

    def stats(self):
        """Frames and bytes each way and the seconds since reset(); the
        time each side took from getting a frame to writing its answer
        (daemon: reply -> next request; device: request -> reply), summed."""
        with self.lock:
            return dict(self.counts, seconds=time.monotonic() - self.since)

    def _frame(self, side, data, now):
        """A frame written at `now` on `side` (0: daemon, 1: device)."""
        start = max(now, self.line_free)
        arrive = start + len(data) * self.char_s
        self.line_free = arrive + self.silence_s
        self.queue.append((arrive, 1 - side, data))
        with self.lock:
            kind = ("requests", "request_bytes") if side == 0 else ("replies", "reply_bytes")
            self.counts[kind[0]] += 1
            self.counts[kind[1]] += len(data)
            if self.handed[side] is not None:   # it answers what it was handed
                self.counts[("daemon", "device")[side] + "_turnaround_s"] += now - self.handed[side]
                self.handed[side] = None

    def _read_all(self, fd):
        chunks = []
        while True:
            try:
                b = os.read(fd, 4096)
            except (BlockingIOError, OSError):
                break
            if not b:
                break
            chunks.append(b)
        return b"".join(chunks)

    def _run(self):
        sel = selectors.DefaultSelector()
        for side, (master, _) in enumerate(self.ends):
            sel.register(master, selectors.EVENT_READ, side)
        while not self.stopping.is_set():
            now = time.monotonic()
            while self.queue and self.queue[0][0] <= now:
                _, to, data = self.queue.pop(0)
                os.write(self.ends[to][0], data)   # a pty takes 4 KiB; frames are <= 256 bytes
                with self.lock:
                    self.handed[to] = time.monotonic()
            wait = self.queue[0][0] - now if self.queue else 0.1
            for key, _ in sel.select(timeout=max(0.0, wait)):
                data = self._read_all(key.fd)
                if data:
                    self._frame(key.data, data, time.monotonic())
        sel.close()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=5)
        for link in (self.daemon_end, self.device_end):
            if os.path.islink(link):
                os.unlink(link)
        for master, slave in self.ends:
            os.close(master)
            os.close(slave)
        self.ends = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
