"""Figures 4 and 5: the recorder into InfluxDB, and camera images through the gateway."""

import base64
import json
import os
import socket
import statistics
import tempfile
import threading
import time
from pathlib import Path

from services.common import protocol as p
from services.common.topics import Topics, vitals_body
from tests.support.influxdb import InfluxDB
from tests.support.mosquitto import Mosquitto
from tests.support.services import ServiceProcess

from .harness import Counter, Figure, Publisher, Stack, post_lines

DEVICES = 10
TOPICS = Topics()


def _vitals(n: int) -> list[tuple[str, str]]:
    """``n`` distinct readings as (topic, payload), like the gateway publishes them."""
    base = 1_767_225_600_000  # 2026-01-01, every reading its own millisecond
    out = []
    for i in range(n):
        device = f"wch-{i % DEVICES:02d}"
        body = vitals_body(device, "heart_rate", 60.0 + i % 40, base + i)
        out.append((TOPICS.vitals(device, "heart_rate"), json.dumps(body)))
    return out


def _publish_all(publisher: Publisher, messages: list[tuple[str, str]]) -> float:
    """Publish every message; retry while paho has 65,535 outstanding (its ids wrap)."""
    started = time.perf_counter()
    for topic, payload in messages:
        while publisher.client.publish(topic, payload, qos=1).rc != 0:
            time.sleep(0.001)
    return started


def _direct_rate(influx: InfluxDB, n: int) -> float:
    """Points/s of ``n`` lines posted straight to InfluxDB in 5,000-line batches."""
    base = 1_767_225_600_000
    lines = [
        f"ceiling,device=wch-{i % DEVICES:02d} value={60 + i % 40}.0 {base + i}" for i in range(n)
    ]
    started = time.perf_counter()
    for k in range(0, n, 5000):
        post_lines(influx.url, lines[k : k + 5000])
    return n / (time.perf_counter() - started)


def _landed(influx: InfluxDB, n: int, started: float) -> int:
    """How many points reached InfluxDB, waiting up to ten minutes for all ``n``."""
    landed = 0
    while landed < n and time.perf_counter() < started + 600:
        time.sleep(0.2)
        landed = influx.count('SELECT count("value") FROM "vitals"')
    return landed


def recorder(quick: bool) -> list[Figure]:
    """Figure 4: points/s landed in InfluxDB vs a bare subscriber, and vs direct batches."""
    n = 20_000 if quick else 100_000
    messages = _vitals(n)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "mq").mkdir()
        (workdir / "influx").mkdir()
        broker = Mosquitto(
            workdir / "mq", extra_conf="max_inflight_messages 1000\nmax_queued_messages 1000000"
        )
        broker.start()
        influx = InfluxDB(workdir / "influx").start()
        try:
            publisher = Publisher(broker.port)
            counter = Counter(broker.port, TOPICS.device("+", "vitals", "#"), n)
            started = _publish_all(publisher, messages)
            counter.done.wait(300)
            bare_rate = n / (counter.finished - started)
            counter.close()

            env = {**broker.env(), **influx.env(), "SMARTCAB_DATA_DIR": str(workdir / "data")}
            env["LOG_LEVEL"] = "WARNING"
            rec = ServiceProcess("recorder", workdir, env).start()
            status = Counter(broker.port, TOPICS.service_status("recorder"), 1)
            status.done.wait(30)
            status.close()
            time.sleep(1)  # the recorder's subscriptions are made right after it says online
            started = _publish_all(publisher, messages)
            landed = _landed(influx, n, started)
            recorder_rate = landed / (time.perf_counter() - started)
            rec.stop()
            publisher.close()

            direct_rate = _direct_rate(influx, n)
        finally:
            influx.kill()
            broker.kill()
    ratio = recorder_rate / bare_rate
    return [
        Figure(
            "recorder points per second into InfluxDB (vs a bare subscriber)",
            round(recorder_rate),
            "points/s",
            round(bare_rate),
            round(ratio, 2),
            ">= 0.7, zero loss",
            ratio >= 0.7 and landed == n,
        ),
        Figure(
            "recorder vs 5,000-line batches posted straight to InfluxDB",
            round(recorder_rate),
            "points/s",
            round(direct_rate),
            round(recorder_rate / direct_rate, 2),
            "(the database's own ceiling here; no target)",
            None,
        ),
    ]


def _jpeg(size: int) -> bytes:
    return b"\xff\xd8\xff\xe0" + os.urandom(size - 6) + b"\xff\xd9"


def _raw_transfer(data: bytes) -> float:
    """The same bytes over one plain loopback TCP connection, read by another thread."""
    server = socket.create_server(("127.0.0.1", 0))
    sender = socket.create_connection(server.getsockname())
    receiver, _ = server.accept()
    finished = []

    def receive() -> None:
        left = len(data)
        while left:
            left -= len(receiver.recv(1 << 20))
        finished.append(time.perf_counter())

    thread = threading.Thread(target=receive)
    thread.start()
    started = time.perf_counter()
    sender.sendall(data)
    thread.join()
    for sock in (receiver, sender, server):
        sock.close()
    return finished[0] - started


class Camera:
    """A protocol-level camera on a blocking socket, as the board's own loop drives it."""

    def __init__(self, port: int, device_id: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = p.DeviceLink()
        while not link.registered:
            data = self.sock.recv(256)
            if not data:
                raise ConnectionError(f"{device_id}: closed during handshake")
            for event in link.feed(data):
                if isinstance(event, p.IdRequested):
                    self.sock.sendall(p.hello(device_id))

    def send_frame(self, b64: bytes) -> None:
        """Declare the size, wait for ``send``, then write the base64 text."""
        self.sock.sendall(p.size_declaration(len(b64)))
        while True:
            data = self.sock.recv(16)
            if not data:
                raise ConnectionError("the gateway closed the camera's connection")
            if p.SEND in data:
                break
        self.sock.sendall(b64)

    def close(self) -> None:
        self.sock.close()


class Arrivals:
    """Timestamps every message on one topic; ``wait_next`` blocks for the next one."""

    def __init__(self, port: int, topic: str) -> None:
        self.times: list[float] = []
        self._new = threading.Event()
        self.counter = Counter(port, topic, 10**9, keep=self._keep)

    def _keep(self, message, at: float) -> None:
        self.times.append(at)
        self._new.set()

    def wait_past(self, seen: int, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while len(self.times) <= seen:
            self._new.clear()
            if len(self.times) > seen or not self._new.wait(deadline - time.monotonic()):
                break
        if len(self.times) <= seen:
            raise RuntimeError("no image arrived")
        return self.times[seen]


def _image_figures(size: int, ours: float, reference: float, raw: float) -> list[Figure]:
    label = f"{size // 1000} KB JPEG camera to subscriber"
    return [
        Figure(
            f"{label} ({size / ours / 1e6:.0f} MB/s; vs the JPEG published straight to the broker)",
            round(ours * 1000, 3),
            "ms",
            round(reference * 1000, 3),
            round(reference / ours, 3),
            ">= 0.5 (throughput ratio: reference time / our time)",
            reference / ours >= 0.5,
        ),
        Figure(
            f"{label} vs one plain loopback TCP copy of the base64 bytes",
            round(ours * 1000, 3),
            "ms",
            round(raw * 1000, 3),
            round(raw / ours, 3),
            "(no target: >= 0.5 of a raw copy is out of reach for any broker path)",
            None,
        ),
    ]


def images(quick: bool) -> list[Figure]:
    """Figure 5: a 60 KB and a 96 KB JPEG from a camera to a subscriber.

    Each run sends the frame three ways, interleaved so load affects all alike: a
    protocol-level camera through the gateway; the same JPEG published straight to
    the broker by the same client library (the reference, as in figure 1); and the
    base64 bytes over one plain loopback TCP connection (a floor no broker path nears).
    """
    runs = 5 if quick else 20
    figures = []
    with Stack() as stack:
        via_gateway = Arrivals(stack.broker.port, TOPICS.image("img"))
        direct = Arrivals(stack.broker.port, "bench/image")
        publisher = Publisher(stack.broker.port)
        camera = Camera(stack.gateway_port, "img")

        def timed(send, arrivals: Arrivals) -> float:
            # Both paths are timed the same way: from one thread, until the
            # subscriber's callback has the JPEG.
            seen = len(arrivals.times)
            started = time.perf_counter()
            send()
            return arrivals.wait_past(seen) - started

        def measure(jpeg: bytes) -> tuple[list[float], list[float], list[float]]:
            b64 = base64.b64encode(jpeg)
            ours, reference, raw = [], [], []
            for _ in range(runs):
                ours.append(timed(lambda: camera.send_frame(b64), via_gateway))
                reference.append(
                    timed(
                        lambda: publisher.client.publish("bench/image", jpeg, qos=1, retain=True),
                        direct,
                    )
                )
                raw.append(_raw_transfer(b64))
            return ours, reference, raw

        for size in (60_000, 96_000):
            ours, reference, raw = (statistics.median(t) for t in measure(_jpeg(size)))
            figures += _image_figures(size, ours, reference, raw)
        camera.close()
        publisher.close()
        via_gateway.counter.close()
        direct.counter.close()
    return figures
