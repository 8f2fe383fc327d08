"""Figure 9: broker failover on a three-node NATS JetStream cluster.

Protocol-level watches send a reading every 100 ms each through the real gateway; the
recorder (a kept session) writes them to InfluxDB. Each round SIGKILLs the node the
gateway is on and times, from the kill, until a subscriber on a surviving node receives a
reading the gateway stamped after the kill: readings flow again. The node is started again
before the next round. At the end every reading sent must be in InfluxDB.
"""

import asyncio
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from services.common import protocol as p
from services.common.timeutil import parse_rfc3339
from services.common.topics import Topics
from tests.support.influxdb import InfluxDB
from tests.support.nats import NatsCluster, NatsNode
from tests.support.services import ServiceProcess
from tests.support.services import gateway as gateway_process

from .harness import Figure, connect_watch

VITALS = Topics().device("+", "vitals", "#")
INTERVAL = 0.1  # seconds between one watch's readings


class Senders:
    """Watches writing readings on an asyncio loop of their own thread, counting them."""

    def __init__(self, port: int, count: int) -> None:
        self.port, self.count = port, count
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)
        self._ready = threading.Event()

    def __enter__(self) -> "Senders":
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the watches did not connect")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    async def _run(self) -> None:
        conns = [await connect_watch(self.port, f"wch-f{i}") for i in range(self.count)]
        self._ready.set()
        k = 0
        while not self._stop.is_set():
            for _, writer in conns:
                writer.write(p.reading(60 + k % 40, "bpm"))
                self.sent += 1
            k += 1
            await asyncio.sleep(INTERVAL)
        await asyncio.sleep(0.5)  # let the last readings leave the socket buffers
        for _, writer in conns:
            writer.close()


class Probe:
    """A clean subscriber on one node: when the first reading stamped after the kill came."""

    def __init__(self, node: NatsNode) -> None:
        self.since_ms: int | None = None  # set at the kill
        self.arrived: float | None = None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.on_message = self._on_message
        subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: subscribed.set()
        self.client.connect("127.0.0.1", node.mqtt_port, 10)
        self.client.subscribe(VITALS, 0)  # QoS 0: plain NATS interest, no JetStream consumer
        self.client.loop_start()
        if not subscribed.wait(60):
            raise RuntimeError("the probe could not subscribe")

    def _on_message(self, client, userdata, message) -> None:
        if self.arrived is None and self.since_ms is not None:
            stamped = parse_rfc3339(json.loads(message.payload)["ts"]).timestamp() * 1000
            if stamped > self.since_ms:
                self.arrived = time.time()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def broker_of(proc: ServiceProcess) -> str:
    lines = [line for line in proc.log_text().splitlines() if "event=mqtt.connected" in line]
    return lines[-1].split("broker=")[1].split()[0]


def _round(cluster: NatsCluster, gateway: ServiceProcess) -> float:
    """Kill the gateway's node; seconds until a reading stamped after the kill arrives."""
    victim = cluster.node_at(broker_of(gateway))
    probe = Probe(next(n for n in cluster.nodes if n is not victim))
    try:
        time.sleep(2)  # readings flowing
        killed = time.time()
        probe.since_ms = int(killed * 1000)
        victim.kill()
        deadline = killed + 120
        while probe.arrived is None and time.time() < deadline:
            time.sleep(0.02)
        if probe.arrived is None:
            raise RuntimeError(f"no reading in 120 s after killing {victim.name}")
        return probe.arrived - killed
    finally:
        probe.close()
        time.sleep(2)
        cluster.restart(victim, 120)


def _stored(influx: InfluxDB, sent: int) -> int:
    """Points in InfluxDB, waiting up to two minutes for all ``sent``."""
    stored, deadline = 0, time.monotonic() + 120
    while stored < sent and time.monotonic() < deadline:
        time.sleep(0.5)
        stored = influx.count('SELECT count("value") FROM "vitals"')
    return stored


def _services(workdir: Path, cluster: NatsCluster, influx: InfluxDB):
    quiet = {"LOG_LEVEL": "INFO"}
    recorder = ServiceProcess(
        "recorder",
        workdir,
        {**cluster.env(1), **influx.env(), "SMARTCAB_DATA_DIR": str(workdir / "data"), **quiet},
    ).start()
    recorder.wait_log("event=mqtt.connected", 30)
    gateway = gateway_process(workdir, cluster.env(0), **quiet).start()
    gateway.wait_log("event=mqtt.connected", 30)
    return recorder, gateway


def failover(quick: bool) -> list[Figure]:
    """Figure 9: seconds from a broker node's death to readings flowing again; loss."""
    watches, rounds = (10, 2) if quick else (20, 3)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "influx").mkdir()
        cluster = NatsCluster(workdir / "nats")
        influx = InfluxDB(workdir / "influx")
        started: list[ServiceProcess] = []
        try:
            cluster.start(60)
            influx.start()
            started += _services(workdir, cluster, influx)
            with Senders(started[1].port, watches) as senders:
                times = [_round(cluster, started[1]) for _ in range(rounds)]
            stored = _stored(influx, senders.sent)
        finally:
            for proc in started:
                proc.kill()
            influx.kill()
            cluster.kill()
    worst = max(times)
    label = ", ".join(f"{t:.1f}" for t in times)
    return [
        Figure(
            f"broker node SIGKILLed: readings flow again from the gateway, worst of {rounds}"
            f" (NATS 2.9, 3 nodes; each: {label} s; median {statistics.median(times):.1f} s)",
            round(worst, 2),
            "s",
            None,
            None,
            "< 10 s",
            worst < 10,
        ),
        Figure(
            f"readings lost across {rounds} node kills ({senders.sent} sent by {watches}"
            " watches, counted in InfluxDB)",
            senders.sent - stored,
            "readings",
            None,
            None,
            "0",
            stored == senders.sent,
        ),
    ]
