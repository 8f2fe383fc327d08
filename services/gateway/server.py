"""The asyncio TCP server: one coroutine per device, one owner of the fleet's state."""

import asyncio
import logging
import socket
from collections import Counter, deque

from services.common import logs
from services.common.devices import BY_NAME, UPDATE_COMMAND, accepts, is_reserved, may_report
from services.common.protocol import (
    BadReading,
    GatewayLink,
    Hello,
    Payload,
    ProtocolError,
    Reading,
    SizeDeclared,
    is_command,
)
from services.common.timeutil import MonotonicClock

from .bridge import Bridge
from .cluster import Cluster
from .payloads import PayloadError, decode_image, decode_inventory, is_inventory
from .registry import DeviceRefused, Registry
from .settings import Settings

log = logging.getLogger(__name__)

# A whole 96 KB frame's base64 in one read: a second pass through the read loop
# (timeout, feed) cost more than the copy. Reads only return what has arrived.
READ_SIZE = 256 * 1024
# Commands after which the device answers; the next command waits for it, so a
# device that compares a whole recv() with b"bpm" never sees two at once.
ANSWERED = frozenset({"bpm", "img", "inv"})
MAX_UNSENT = 64 * 1024  # bytes queued to a device that is not reading


class Closed(Exception):
    """Close this device's connection, with the reason given."""


class Device:
    """One registered device connection; all methods run on the event loop."""

    def __init__(self, fleet: "Fleet", device_id: str, kind: str | None, writer, peer: str):
        self.fleet = fleet
        self.device_id = device_id
        self.kind = kind
        self.writer = writer
        self.peer = peer
        self.commands: deque[str] = deque()
        self.busy = False
        self.awaiting_answer = False
        self._timer: asyncio.TimerHandle | None = None
        self.closed = False
        self.close_reason = ""

    def enqueue(self, cmd: str) -> str | None:
        """Queue a command; return an error message if it cannot be queued."""
        known = BY_NAME.get(self.kind) if self.kind else None
        if known is not None and not accepts(self.kind, cmd) and cmd != UPDATE_COMMAND:
            return f"{cmd} is not a {self.kind} command"
        if len(self.commands) >= self.fleet.settings.cmd_queue:
            return "command queue full"
        self.commands.append(cmd)
        self._pump()
        return None

    def answered(self) -> None:
        """The device answered: the next command may go after a short gap."""
        if self.awaiting_answer:
            self.awaiting_answer = False
            self._wait(self.fleet.settings.cmd_gap)

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        if self._timer:
            self._timer.cancel()
        for cmd in self.commands:
            self.fleet.bridge.cmd_result(self.device_id, cmd, False, f"device closed: {reason}")
        self.commands.clear()
        self.writer.close()

    def _pump(self) -> None:
        if self.busy or not self.commands or self.closed:
            return
        cmd = self.commands.popleft()
        transport = self.writer.transport
        if transport.is_closing() or transport.get_write_buffer_size() > MAX_UNSENT:
            self.fleet.bridge.cmd_result(self.device_id, cmd, False, "device is not reading")
            return
        self.writer.write(cmd.encode())
        self.fleet.bridge.cmd_result(self.device_id, cmd, True)
        # DEBUG: the cmd/result message already records it, and a fleet's scheduler sends
        # one a watch every interval (thousands a second for a large fleet)
        logs.event(log, logging.DEBUG, "device.command", device=self.device_id, cmd=cmd)
        settings = self.fleet.settings
        self.awaiting_answer = cmd in ANSWERED
        self._wait(settings.answer_timeout if self.awaiting_answer else settings.cmd_gap)

    def _wait(self, seconds: float) -> None:
        self.busy = True
        if self._timer:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._ready)

    def _ready(self) -> None:
        if self.awaiting_answer:
            # e.g. a watch with no finger on the sensor sends nothing; say so, then move on
            logs.event(
                log,
                logging.WARNING,
                "device.no_answer",
                device=self.device_id,
                waited=self.fleet.settings.answer_timeout,
            )
        self.busy = False
        self.awaiting_answer = False
        self._timer = None
        self._pump()


class Fleet:
    """Accepts device connections and owns the table of registered devices."""

    def __init__(self, settings: Settings, registry: Registry, bridge: Bridge) -> None:
        self.settings = settings
        self.registry = registry
        self.bridge = bridge
        self.devices: dict[str, Device] = {}
        self.cluster = Cluster(settings.gateway_id, bridge, self.devices)
        self.connections = 0
        self._per_address: Counter[str] = Counter()
        self._clock = MonotonicClock()
        self._tasks: set[asyncio.Task] = set()
        self.refused = Counter()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Serve one device connection from accept to close."""
        self._tasks.add(asyncio.current_task())
        peername = writer.get_extra_info("peername") or ("?", 0)
        address, peer = peername[0], f"{peername[0]}:{peername[1]}"
        if self.connections >= self.settings.max_connections:
            return self._refuse(writer, peer, "too many connections")
        if self._per_address[address] >= self.settings.max_per_address:
            return self._refuse(writer, peer, "too many connections from this address")
        self.connections += 1
        self._per_address[address] += 1
        _tune_socket(writer, self.settings.keepalive)
        device = None
        claimed = None  # the id a device asked for, logged even when refused
        reason = "closed by device"
        try:
            link = GatewayLink(self.settings.max_frame)
            writer.write(link.greeting())
            hello = await self._handshake(reader, link)
            claimed = hello.device_id
            device = self._register(hello, writer, peer)
            writer.write(link.accept())
            await self._serve(reader, link, device)
        except Closed as exc:
            reason = str(exc)
        except ProtocolError as exc:
            reason = f"protocol error: {exc.reason}"
        except DeviceRefused as exc:
            reason = f"refused: {exc}"
        except (ConnectionError, OSError) as exc:
            reason = f"socket error: {exc}"
        except asyncio.CancelledError:
            reason = "gateway shutting down"
        finally:
            self.connections -= 1
            self._per_address[address] -= 1
            if self._per_address[address] <= 0:
                del self._per_address[address]
            level = (
                logging.INFO
                if reason in ("closed by device", "gateway shutting down")
                else (logging.WARNING)
            )
            logs.event(
                log,
                level,
                "device.closed",
                device=claimed,
                peer=peer,
                reason=reason,
            )
            if device is not None:
                device.close(reason)
                self._unregister(device)
            writer.close()
            self._tasks.discard(asyncio.current_task())

    async def _handshake(self, reader: asyncio.StreamReader, link: GatewayLink) -> Hello:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.handshake_timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise Closed("handshake not completed in time")
            settle = link.hello_pending
            try:
                async with asyncio.timeout(
                    min(remaining, self.settings.hello_settle) if settle else remaining
                ):
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                if settle:
                    return link.end_of_hello()
                raise Closed("handshake not completed in time") from None
            if not data:
                raise Closed("closed during handshake")
            link.feed(data)

    def _register(self, hello: Hello, writer, peer: str) -> Device:
        if is_reserved(hello.device_id):
            raise DeviceRefused("reserved id: the system's own, never a device's")
        kind = self.registry.check(hello.device_id, hello.token)
        previous = self.devices.get(hello.device_id)
        if previous is not None:
            logs.event(
                log,
                logging.WARNING,
                "device.replaced",
                device=hello.device_id,
                old_peer=previous.peer,
                peer=peer,
            )
            # a device reconnecting before its old socket timed out, or someone else
            # taking its id: either way the patient's circle should be able to see it
            self.bridge.replaced_alert(hello.device_id, previous.peer, peer)
            previous.close("replaced by a newer connection with the same id")
        device = Device(self, hello.device_id, kind, writer, peer)
        self.devices[hello.device_id] = device
        self.cluster.registered(device)
        self.bridge.status(device.device_id, True)
        self.bridge.announce(device.device_id, kind, hello.version)
        # no version (the prototype's firmware): the bridge clears one a board with ours left
        self.bridge.firmware(device.device_id, hello.version)
        logs.event(
            log, logging.INFO, "device.online", device=device.device_id, kind=kind, peer=peer
        )
        return device

    def _unregister(self, device: Device) -> None:
        if self.devices.get(device.device_id) is device:
            del self.devices[device.device_id]
            self._clock.forget(device.device_id)
            if self.cluster.unregistered(device):
                self.bridge.status(device.device_id, False)

    async def _serve(self, reader: asyncio.StreamReader, link: GatewayLink, device: Device) -> None:
        settings = self.settings
        while not device.closed:
            timeout = settings.transfer_timeout if link.mid_transfer else settings.idle_timeout
            try:
                async with asyncio.timeout(timeout):
                    data = await reader.read(READ_SIZE)
            except TimeoutError:
                if link.mid_transfer:
                    raise Closed(f"transfer stalled for {timeout:g} s") from None
                raise Closed(f"idle for {timeout:g} s") from None
            if not data:
                if device.closed:
                    raise Closed(device.close_reason)
                return
            events = link.feed(data)
            out = link.data_to_send()
            if out:
                device.writer.write(out)
            for ev in events:
                # One read may hold thousands of readings: hold back per event.
                if self.bridge.saturated():
                    await self.bridge.room()
                self._on_event(device, ev)
        raise Closed(device.close_reason)

    def _on_event(self, device: Device, ev: object) -> None:
        if isinstance(ev, Reading):
            _may_report(device, "vitals")
            self.bridge.vitals(device.device_id, ev, self._clock.stamp(device.device_id))
            device.answered()
        elif isinstance(ev, SizeDeclared):
            device.answered()
        elif isinstance(ev, Payload):
            self._on_payload(device, ev.data)
        elif isinstance(ev, BadReading):
            logs.event(log, logging.WARNING, "reading.invalid", device=device.device_id, raw=ev.raw)
            device.answered()

    def _on_payload(self, device: Device, data: bytes) -> None:
        try:
            if is_inventory(data):
                _may_report(device, "inventory")
                items = decode_inventory(data)
                self.bridge.inventory(device.device_id, items, self._clock.stamp(device.device_id))
                logs.event(log, logging.INFO, "device.inventory", device=device.device_id)
            else:
                _may_report(device, "image")
                jpeg = decode_image(data)
                self.bridge.image(device.device_id, jpeg)
                logs.event(
                    log, logging.INFO, "device.image", device=device.device_id, bytes=len(jpeg)
                )
        except PayloadError as exc:
            logs.event(log, logging.WARNING, "payload.invalid", device=device.device_id, error=exc)

    def on_command(self, device_id: str, payload: bytes, own: bool = False) -> None:
        """An MQTT command for ``device_id`` (runs on the event loop).

        ``own``: it came on this gateway's own command topic, which no other gateway
        receives, so this gateway answers it whoever the holder record names.
        """
        if not own and not self.cluster.answers(device_id):
            return  # another gateway holds it, or answers for it (cluster.py)
        cmd = payload.decode("ascii", "replace").strip()
        if not is_command(cmd.encode()):
            self.bridge.cmd_result(device_id, cmd[:16], False, "unknown command")
            return
        device = self.devices.get(device_id)
        if device is None:
            self.bridge.cmd_result(device_id, cmd, False, "device not connected")
            return
        error = device.enqueue(cmd)
        if error:
            self.bridge.cmd_result(device_id, cmd, False, error)

    async def close_all(self) -> None:
        """Close every device connection and wait for their handlers to finish."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    def _refuse(self, writer, peer: str, reason: str) -> None:
        self.refused[reason] += 1
        logs.event(log, logging.WARNING, "device.refused", peer=peer, reason=reason)
        writer.close()
        self._tasks.discard(asyncio.current_task())


def _may_report(device: Device, what: str) -> None:
    """A device reports only what its kind reports: anything else ends the connection."""
    if not may_report(device.kind, what):
        raise Closed(f"a {device.kind or 'device of unknown kind'} may not report {what}")


def _tune_socket(writer: asyncio.StreamWriter, keepalive: int) -> None:
    """Commands go out at once, and a peer that vanished without a FIN is noticed.

    After ``keepalive`` quiet seconds the kernel probes three times; a peer that
    answers none (power cut, Wi-Fi gone) is dropped. TCP_USER_TIMEOUT is set to
    the same total, since on Linux it overrides the probe count.
    """
    sock = writer.get_extra_info("socket")
    if sock is None:
        return
    interval = max(1, keepalive // 6)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", keepalive),
        ("TCP_KEEPINTVL", interval),
        ("TCP_KEEPCNT", 3),
        ("TCP_USER_TIMEOUT", (keepalive + 3 * interval) * 1000),
    ):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
