"""What every figure needs: a real broker and gateway, load drivers, and counting subscribers."""

import asyncio
import contextlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from services.common import protocol as p
from tests.support.mosquitto import Mosquitto
from tests.support.net import free_port, wait_port

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Figure:
    """One benchmark result, printed as a JSON line and tabled in docs/benchmarks.md."""

    name: str
    value: float
    unit: str
    reference: float | None
    ratio: float | None
    target: str
    ok: bool | None  # None: reported for context, no target

    def line(self) -> str:
        return json.dumps(asdict(self))


class Stack:
    """A Mosquitto and a gateway process, on free ports in a temp folder."""

    def __init__(self, **gateway_env: str) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-")
        self.workdir = Path(self.tmp.name)
        self.broker = Mosquitto(self.workdir, extra_conf="max_inflight_messages 1000\n")
        self.gateway_port = free_port()
        self.gateway_env = {
            "GATEWAY_HOST": "127.0.0.1",
            "GATEWAY_PORT": str(self.gateway_port),
            "GATEWAY_MAX_PER_ADDRESS": "100000",
            "GATEWAY_MAX_CONNECTIONS": "100000",
            "LOG_LEVEL": "WARNING",
            "GATEWAY_TRUSTED_LAN": "1",  # simulated devices on loopback
            **gateway_env,
        }
        self.gateway: subprocess.Popen | None = None

    def __enter__(self) -> "Stack":
        self.broker.start()
        env = {**os.environ, **self.broker.env(), **self.gateway_env}
        log = (self.workdir / "gateway.log").open("ab")
        self.gateway = subprocess.Popen(
            [sys.executable, "-m", "services.gateway"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        log.close()
        wait_port(self.gateway_port, 15)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.gateway and self.gateway.poll() is None:
            self.gateway.terminate()
            self.gateway.wait(30)
        self.broker.kill()
        self.tmp.cleanup()

    def gateway_rss_kib(self) -> int:
        return rss_kib(self.gateway.pid)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Counter:
    """A paho subscriber that counts messages and timestamps them on arrival."""

    def __init__(self, port: int, topic: str, expect: int, keep=None) -> None:
        self.expect = expect
        self.count = 0
        self.finished = 0.0
        self.done = threading.Event()
        self.keep = keep  # optional callback(message, arrival perf_counter)
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", port)
        self.client.subscribe(topic, qos=1)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("bench subscriber could not subscribe")

    def _on_message(self, client, userdata, message) -> None:
        if self.keep:
            self.keep(message, time.perf_counter())
        self.count += 1
        if self.count >= self.expect and not self.done.is_set():
            self.finished = time.perf_counter()
            self.done.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class Publisher:
    """The direct path: the same client library publishing straight to the broker."""

    def __init__(self, port: int) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.max_inflight_messages_set(1000)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def connect_watch(port: int, device_id: str, source: str = "127.0.0.1"):
    """A protocol-level simulated watch: handshake, then a (reader, writer) pair."""
    reader, writer, _ = await connect_watch_link(port, device_id, source)
    return reader, writer


async def connect_watch_link(port: int, device_id: str, source: str = "127.0.0.1"):
    """The same, with the device end's link, for a watch that goes on reading commands."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    link = p.DeviceLink()
    while not link.registered:
        data = await reader.read(256)
        if not data:
            raise ConnectionError(f"{device_id}: closed during handshake")
        for event in link.feed(data):
            if isinstance(event, p.IdRequested):
                writer.write(p.hello(device_id))
    return reader, writer, link


def source_address(i: int) -> str:
    """Spread connections over 127.0.0.0/8 so no source runs out of ephemeral ports."""
    return f"127.0.{1 + i // 20000}.{1 + (i // 250) % 250}"


def median_seconds(fn, runs: int) -> float:
    """The median wall time of ``runs`` calls of ``fn``."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def post_lines(influx_url: str, lines: list[str], database: str = "vitals") -> None:
    """Line protocol straight to InfluxDB's ``/write``, the database's own path."""
    request = urllib.request.Request(
        f"{influx_url}/write?db={database}&precision=ms",
        data="\n".join(lines).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
    return f"{system}, {cpu}, Python {platform.python_version()}"
