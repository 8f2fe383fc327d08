"""Thousands of simulated boards in one asyncio loop, each running the boards' own apps.

Every device is one coroutine around a ``smartcab.client.Session`` and a board app
(``Watch``, ``Camera``, ``Cabinet``) whose hardware is simulated at register
level (``hardware.py``). No thread per device.
"""

import asyncio
import contextlib
import ipaddress
import logging
import random
import socket
import time
from collections import Counter
from dataclasses import dataclass, field

from firmware.smartcab import cabinet, camera, client, watch
from services.common.protocol import ProtocolError

from . import hardware
from .frames import make_frame, make_frames

log = logging.getLogger("firmware.sim")

PRODUCTS = ["Nutella", "Pepsi", "Pringles", "Vitamin C", "Aspirin", "Plasters", "Oats"]
READ_SIZE = 64 * 1024
PER_SOURCE_ADDRESS = 32  # the gateway limits connections per address (64 by default)


@dataclass
class Options:
    """What to simulate and how fast; the defaults suit a demo."""

    host: str = "127.0.0.1"
    port: int = 5050
    watches: int = 1
    cameras: int = 1
    cabinets: int = 1
    first_index: int = 1
    tokens: dict[str, str] = field(default_factory=dict)
    seed: int | None = None
    measure_s: float = 5.0
    sensor_speed: float = 1.0
    finger_off_rate: float = 0.05
    motion_rate: float = 0.03
    shelf_every_s: float = 30.0
    items: list[tuple[str, int]] | None = None  # each cabinet's (item, positions); None: random
    routine: dict[str, list[float]] = field(default_factory=dict)  # box -> UTC seconds of day
    cabinet_poll_ms: int = 200
    cabinet_debounce_ms: int = 400
    frames: int = 6
    backoff_ms: int = 500
    backoff_max_ms: int = 30000
    spread_sources: bool | None = None  # None: spread over 127.0.0.0/8 if the gateway is local


def device_ids(prefix: str, count: int, first: int = 1) -> list[str]:
    """``wch`` for a single device, else ``wch-01``, ``wch-02``... (wider for big fleets)."""
    if count == 1 and first == 1:
        return [prefix]
    width = max(2, len(str(first + count - 1)))
    return ["%s-%0*d" % (prefix, width, i) for i in range(first, first + count)]


class SimDevice:
    """One simulated board: its app, simulated hardware and connection state."""

    def __init__(self, device_id: str, app, token: str | None, rng: random.Random, hw=None):
        self.device_id = device_id
        self.app = app
        self.token = token
        self.hw = hw
        self.backoff = client.Backoff(rng=rng)
        self.online = False
        self.connects = 0
        app.log = lambda *a: log.debug("%s: %s", device_id, " ".join(str(x) for x in a))


class Fleet:
    """Builds the devices and runs them until ``stop()``."""

    def __init__(self, opts: Options):
        self.opts = opts
        self.rng = random.Random(opts.seed)
        self.devices: list[SimDevice] = []
        self.stats: Counter[str] = Counter()
        self._stop = asyncio.Event()
        self._sources = self._source_addresses()
        cabinets = [
            (device_id, *self._cabinet())
            for device_id in device_ids("cab", opts.cabinets, opts.first_index)
        ]
        unpaired = max(0, opts.cameras - opts.cabinets)
        frames = make_frames(opts.frames, self.rng.randrange(1 << 30)) if unpaired else []
        for device_id in device_ids("wch", opts.watches, opts.first_index):
            self._add(device_id, self._watch())
        for i, device_id in enumerate(device_ids("img", opts.cameras, opts.first_index)):
            shelf = cabinets[i][2] if i < len(cabinets) else None
            self._add(device_id, camera.Camera(self._camera(frames, shelf)))
        for device_id, app, shelf in cabinets:
            self._add(device_id, app, shelf)

    def _rng(self) -> random.Random:
        return random.Random(self.rng.randrange(1 << 62))

    def _add(self, device_id: str, app, hw=None) -> None:
        dev = SimDevice(device_id, app, self.opts.tokens.get(device_id), self._rng(), hw)
        dev.backoff.first_ms = self.opts.backoff_ms
        dev.backoff.current = self.opts.backoff_ms
        dev.backoff.max_ms = max(self.opts.backoff_ms, self.opts.backoff_max_ms)
        self.devices.append(dev)

    def _watch(self) -> watch.Watch:
        o = self.opts
        body = hardware.Body(self._rng(), o.finger_off_rate, o.motion_rate)
        i2c = hardware.watch_i2c(body, speed=o.sensor_speed)
        # 100 Hz averaged by 4: 25 samples/s, cheap enough for thousands of watches
        # the FIFO holds 32 samples (1.28 s at 25/s): drain it well before it rolls over
        poll_ms = int(min(500, 800 / max(o.sensor_speed, 0.1)))
        cfg = {"measure_s": o.measure_s, "averaging": 4, "poll_ms": poll_ms}
        app = watch.from_config(cfg, i2c)
        app.body = body
        return app

    def _camera(self, frames: list[bytes], shelf) -> hardware.FakeCam:
        """A camera looking into the cabinet of the same number, or at stock photos."""
        rng = self._rng()
        if shelf is None:
            return hardware.FakeCam(frames, rng)

        def draw() -> bytes:
            return make_frame(rng, stock=list(zip(shelf.items, shelf.present, strict=True)))

        return hardware.FakeCam(frames, rng, draw=draw)

    def _cabinet(self):
        o = self.opts
        rng = self._rng()
        if o.items:
            slots = [[name, list(range(count))] for name, count in o.items]
        else:
            slots = [[name, list(range(rng.randint(1, 3)))] for name in rng.sample(PRODUCTS, 3)]
        items, _pins = cabinet.layout({"slots": slots})
        shelf = hardware.Shelf(
            len(items), rng, every_s=o.shelf_every_s, items=items, routine=o.routine
        )
        strip = hardware.FakeStrip(len(items))
        app = cabinet.Cabinet(
            items, shelf, strip, poll_ms=o.cabinet_poll_ms, debounce_ms=o.cabinet_debounce_ms
        )
        return app, shelf

    def _source_addresses(self) -> list[str | None]:
        spread = self.opts.spread_sources
        if spread is None:
            try:
                spread = ipaddress.ip_address(socket.gethostbyname(self.opts.host)).is_loopback
            except (OSError, ValueError):
                spread = False
        n = (len(self.devices_planned()) + PER_SOURCE_ADDRESS - 1) // PER_SOURCE_ADDRESS
        if not spread or n <= 1:
            return [None]
        # 127.0.0.0/8 is all loopback on Linux: each address gets its own gateway quota
        addresses = [str(ipaddress.ip_address("127.0.1.0") + i) for i in range(n)]
        try:
            with socket.socket() as probe:
                probe.bind((addresses[-1], 0))
        except OSError:
            log.warning("cannot bind %s; raise GATEWAY_MAX_PER_ADDRESS instead", addresses[-1])
            return [None]
        return addresses

    def devices_planned(self) -> range:
        o = self.opts
        return range(o.watches + o.cameras + o.cabinets)

    @property
    def online(self) -> int:
        return sum(1 for d in self.devices if d.online)

    def stop(self) -> None:
        self._stop.set()

    async def run(self, stats_every: float = 0) -> None:
        """Run every device until ``stop()``; then close all connections."""
        sources = self._sources
        tasks = [
            asyncio.create_task(
                self._run_device(dev, sources[(i // PER_SOURCE_ADDRESS) % len(sources)])
            )
            for i, dev in enumerate(self.devices)
        ]
        reporter = asyncio.create_task(self._report(stats_every)) if stats_every else None
        log.info("sim.started devices=%d", len(self.devices))
        try:
            await self._stop.wait()
        finally:
            for task in tasks:
                task.cancel()
            if reporter:
                reporter.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            log.info("sim.stopped %s", dict(self.stats))

    async def _report(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            log.info("sim.status online=%d/%d %s", self.online, len(self.devices), dict(self.stats))

    async def _run_device(self, dev: SimDevice, source: str | None) -> None:
        # spread the first connections out so thousands do not arrive in one burst
        await asyncio.sleep(self.rng.random() * min(2.0, len(self.devices) / 2000))
        while not self._stop.is_set():
            writer = None
            session = client.Session(dev.app, dev.device_id, dev.token)
            try:
                reader, writer = await asyncio.open_connection(
                    self.opts.host, self.opts.port, local_addr=(source, 0) if source else None
                )
                dev.connects += 1
                await self._serve(dev, session, reader, writer)
            except (OSError, ProtocolError, EOFError) as exc:
                self.stats["link_errors"] += 1
                log.debug("%s: link error %r", dev.device_id, exc)
            except Exception:
                # on a board the watchdog would reset it; here the device starts over
                self.stats["crashes"] += 1
                log.exception("%s: firmware crashed; reconnecting", dev.device_id)
            finally:
                dev.online = False
                dev.app.on_disconnect()
                if writer is not None:
                    writer.close()
                    with contextlib.suppress(OSError, asyncio.CancelledError):
                        await writer.wait_closed()
            if session.started:
                dev.backoff.reset()
            await asyncio.sleep(dev.backoff.next_ms() / 1000)

    async def _serve(self, dev: SimDevice, session, reader, writer) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()

        def now() -> int:
            return int((loop.time() - t0) * 1000)

        app = dev.app
        counted = [0, 0]
        while True:
            chunk = session.next_chunk()
            while chunk is not None:
                writer.write(chunk)
                await writer.drain()
                chunk = session.next_chunk()
            if session.readings != counted[0] or session.transfers != counted[1]:
                self.stats["readings"] += session.readings - counted[0]
                self.stats["transfers"] += session.transfers - counted[1]
                counted = [session.readings, session.transfers]
            if session.started and not dev.online:
                dev.online = True
                self.stats["registered"] += 1
            wait = app.next_poll(now())
            try:
                async with asyncio.timeout(None if wait is None else wait / 1000):
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                data = None
            if data is not None:
                if not data:
                    raise EOFError("gateway closed the connection")
                session.feed(data, now())
            app.poll(session, now())


def run_blocking(opts: Options, stats_every: float = 10.0) -> Fleet:
    """Run a fleet on a fresh event loop until SIGINT/SIGTERM (used by ``__main__``)."""
    import signal

    async def main() -> Fleet:
        fleet = Fleet(opts)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, fleet.stop)
        await fleet.run(stats_every)
        return fleet

    started = time.monotonic()
    fleet = asyncio.run(main())
    log.info("sim.exit after %.1f s", time.monotonic() - started)
    return fleet
