"""The device side of one gateway connection, without sockets (sans-IO).

A ``Session`` is fed the bytes the gateway sent and hands back, one write at a
time, the bytes to send. The board's blocking loop (board.py) and the host
simulator's asyncio loop (firmware/sim) drive the same sessions and apps.

An app is a small object with ``on_start(session, now)``, ``on_command(session,
name, now)``, ``poll(session, now)``, ``next_poll(now)`` (ms until it wants
``poll`` again, or None) and ``on_disconnect()``. ``now`` is a monotonic
millisecond count that never wraps.
"""

import binascii
import random

try:
    from . import device_link  # on the board: lib/smartcab/device_link.py
except ImportError:
    from services.common import device_link

B64_RAW_CHUNK = 768  # a multiple of 3, so the chunks' base64 joins into one valid text
BACKOFF_FIRST_MS = 500
BACKOFF_MAX_MS = 30000


class Session:
    """One connection: handshake, readings, convention-1 transfers, commands."""

    def __init__(self, app, device_id, token=None):
        self.app = app
        self.device_id = device_id
        self.token = token or None
        self.link = device_link.DeviceLink()
        self.started = False
        self._queue = []  # bytes (one write each) or (size, chunks) transfers, in order
        self._waiting = None  # the chunks of a declared transfer waiting for send
        self._stream = None  # the iterator of the transfer being sent
        self._left = 0
        self._transfers = 0
        self.readings = 0  # counters for the simulator's statistics
        self.transfers = 0

    @property
    def transfer_pending(self):
        """True while a convention-1 transfer is queued, declared or being sent."""
        return self._transfers > 0

    def feed(self, data, now):
        """Bytes from the gateway: answer the handshake, pass commands to the app."""
        for ev in self.link.feed(data):
            if isinstance(ev, device_link.IdRequested):
                # one write, then silence: the gateway ends the hello on a quiet gap
                self._queue.append(device_link.hello(self.device_id, self.token))
            elif isinstance(ev, device_link.Started):
                self.started = True
                self.app.on_start(self, now)
            elif isinstance(ev, device_link.SendGranted):
                if self._waiting is None:
                    raise device_link.ProtocolError("send without a size declaration")
                self._stream = iter(self._waiting)
                self._waiting = None
            elif isinstance(ev, device_link.Command):
                self.app.on_command(self, ev.name, now)

    def send_reading(self, value, unit):
        """Queue a convention-2 reading such as ``72.00,bpm``."""
        if not self.started:
            return False
        self._queue.append(device_link.reading(value, unit))
        self.readings += 1
        return True

    def send_sized(self, size, chunks):
        """Queue a convention-1 transfer of ``size`` bytes produced lazily by ``chunks``."""
        if not self.started:
            return False
        self._queue.append((size, chunks))
        self._transfers += 1
        self.transfers += 1
        return True

    def next_chunk(self):
        """The next bytes to write, or None when there is nothing to send yet."""
        while True:
            if self._stream is not None:
                try:
                    chunk = next(self._stream)
                except StopIteration:  # next() with a default is not in every MicroPython
                    chunk = None
                if chunk is None:
                    self._stream = None
                    self._transfers -= 1
                    if self._left:
                        raise device_link.ProtocolError("payload shorter than declared")
                    continue
                if not chunk:
                    continue
                self._left -= len(chunk)
                if self._left < 0:
                    raise device_link.ProtocolError("payload longer than declared")
                return chunk
            if self._waiting is not None or not self._queue:
                return None
            item = self._queue.pop(0)
            if isinstance(item, tuple):
                size, chunks = item
                self._waiting = chunks
                self._left = size
                # one write, then wait for send: the gateway reads digits until the payload
                return device_link.size_declaration(size)
            return item


def b64_size(n):
    """Length of the base64 text for ``n`` bytes."""
    return (n + 2) // 3 * 4


def b64_chunks(data, raw_chunk=B64_RAW_CHUNK):
    """Base64 of ``data`` in pieces; only one piece is in RAM at a time."""
    view = memoryview(data)
    for i in range(0, len(data), raw_chunk):
        # [:-1] drops the newline; the stubs say bytes, but any buffer will do
        yield binascii.b2a_base64(view[i : i + raw_chunk])[:-1]  # type: ignore[arg-type]


class Backoff:
    """Exponential reconnect delays with jitter, so a fleet does not return in step."""

    def __init__(self, first_ms=BACKOFF_FIRST_MS, max_ms=BACKOFF_MAX_MS, rng=None):
        self.first_ms = max(1, int(first_ms))
        self.max_ms = max(self.first_ms, int(max_ms))
        self.rng = rng or random
        self.current = self.first_ms

    def next_ms(self):
        """The next delay, between half and all of the current step."""
        step = self.current
        self.current = min(self.current * 2, self.max_ms)
        half = step // 2
        return step - half + self.rng.getrandbits(16) % (half + 1)

    def reset(self):
        self.current = self.first_ms


class Clock:
    """A millisecond count that never wraps, built from wrapping ticks."""

    def __init__(self, ticks_ms, ticks_diff):
        self._ticks_ms = ticks_ms
        self._ticks_diff = ticks_diff
        self._last = ticks_ms()
        self._now = 0

    def now(self):
        t = self._ticks_ms()
        self._now += self._ticks_diff(t, self._last)
        self._last = t
        return self._now
