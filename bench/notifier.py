"""Figure 8: alerts to people. Reading-to-webhook latency through the real gateway, recorder
and notifier at a steady rate, and the notifier's throughput against Apprise posting directly."""

import asyncio
import json
import re
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from services.common import carecircle as cc
from services.common import protocol as p
from services.common.topics import Topics
from services.notifier import channels, outbox
from tests.support.influxdb import InfluxDB
from tests.support.mosquitto import Mosquitto
from tests.support.services import ServiceProcess

from .harness import Counter, Figure, Publisher, connect_watch, free_port, wait_port
from .webhook import Webhook

TOPICS = Topics()
LOW = re.compile(r"heart_rate ([0-9.]+) is below .*\[device (wch-\d+)\]")


def _services(workdir: Path, broker: Mosquitto, influx: InfluxDB) -> tuple[list, int]:
    """Gateway, recorder and notifier processes; returns them and the gateway's port."""
    port = free_port()
    data = {"SMARTCAB_DATA_DIR": str(workdir / "data"), "LOG_LEVEL": "WARNING"}
    env = {**broker.env(), **data}
    gateway = {"GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": str(port)}
    notifier = {"NOTIFIER_DIGEST_WINDOW": "0", "NOTIFIER_SILENT_AFTER": "0"}
    notifier["NOTIFIER_ALLOWED_HOSTS"] = "127.0.0.1"  # the benchmark's webhook is on loopback
    procs = [
        ServiceProcess("gateway", workdir, {**env, **gateway}).start(),
        ServiceProcess("recorder", workdir, {**env, **influx.env()}).start(),
        ServiceProcess("notifier", workdir, {**env, **notifier, "NOTIFIER_TICK": "0.2"}).start(),
    ]
    wait_port(port, 15)
    for name in ("recorder", "notifier"):
        status = Counter(broker.port, TOPICS.service_status(name), 1)
        status.done.wait(30)
        status.close()
    time.sleep(1.5)  # subscriptions follow "online"; the retained assignments reach both
    return procs, port


def _circles(workdir: Path, hook: Webhook, broker: Mosquitto, patients: int) -> None:
    """One watch per patient, assigned (retained), and one detailed webhook contact each."""
    conn = outbox.connect(workdir / "data" / "web.sqlite3")
    publisher = Publisher(broker.port)
    for i in range(patients):
        cc.add_contact(conn, f"p{i}", f"hook {i}", hook.url(f"/p{i}"), detailed=True)
        publisher.client.publish(TOPICS.patient(f"wch-{i:03d}"), f"p{i}", 1, retain=True)
    conn.close()
    time.sleep(0.5)
    publisher.close()


async def _paced(port: int, watches: int, rate: float, total: int, sent: dict) -> None:
    """Each tick one watch sends a normal reading (ending its episode) then a low one."""
    conns = [await connect_watch(port, f"wch-{i:03d}") for i in range(watches)]
    await asyncio.sleep(0.5)
    started = time.perf_counter()
    for k in range(total):
        delay = started + k / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        _, writer = conns[k % watches]
        low = 30 + k / 100
        writer.write(p.reading(72, "bpm"))
        sent[(f"wch-{k % watches:03d}", f"{low:g}")] = time.perf_counter()
        writer.write(p.reading(low, "bpm"))
    await asyncio.sleep(3)
    for _, writer in conns:
        writer.close()


def _latencies(hook: Webhook, sent: dict) -> list[float]:
    out = []
    for at, _path, body in hook.posts:
        for value, device in LOW.findall(body["message"]):
            if (device, value) in sent:
                out.append((at - sent[(device, value)]) * 1000)
    return sorted(out)


def _alert(i: int) -> str:
    body = {"device": f"wch-{i:03d}", "patient": f"p{i}", "kind": "threshold"}
    body |= {"key": "heart_rate", "level": "warning", "value": 35.0}
    body |= {"message": "heart_rate 35 is below 40", "ts_ms": 1_767_225_600_000 + i}
    return json.dumps(body)


def _throughput(hook: Webhook, broker: Mosquitto, patients: int) -> tuple[float, float]:
    """Alerts/s from alert message to webhook post, then Apprise straight to the webhook."""
    hook.posts.clear()
    publisher = Publisher(broker.port)
    started = time.perf_counter()
    for i in range(patients):
        publisher.client.publish(TOPICS.device_alert(f"wch-{i:03d}"), _alert(i), 1)
    done = hook.wait(patients, 120)
    ours = len(hook.posts) / (done - started)
    publisher.close()
    hook.posts.clear()
    apprise = channels.load()

    def post(i: int) -> None:
        notifier = apprise.Apprise()
        notifier.add(hook.url(f"/direct{i}"))
        notifier.notify(title="Health Plus - Alert", body="heart_rate 35 is below 40")

    started = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:  # as many as the notifier's NOTIFIER_WORKERS
        list(pool.map(post, range(patients)))
    direct = len(hook.posts) / (time.perf_counter() - started)
    return ours, direct


def _figures(latencies: list[float], rate: float, ours: float, direct: float) -> list[Figure]:
    p50 = statistics.median(latencies)
    p99 = latencies[max(0, int(len(latencies) * 0.99) - 1)]
    return [
        Figure(
            f"watch reading to webhook post p99 at {rate:g} alerts/s (p50 {p50:.0f} ms,"
            " gateway, recorder, notifier)",
            round(p99, 1),
            "ms",
            None,
            None,
            "p99 < 2000 ms",
            p99 < 2000,
        ),
        Figure(
            "notifier alerts per second to webhook posts (vs Apprise posting directly)",
            round(ours, 1),
            "notifications/s",
            round(direct, 1),
            round(ours / direct, 2),
            ">= 0.5",
            ours / direct >= 0.5,
        ),
    ]


def notifier(quick: bool) -> list[Figure]:
    """Figure 8: reading-to-webhook latency at a steady rate, and throughput vs Apprise."""
    watches, rate, seconds = (20, 5.0, 6) if quick else (50, 10.0, 30)
    total = int(rate * seconds)
    sent: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp, Webhook() as hook:
        workdir = Path(tmp)
        (workdir / "mq").mkdir()
        (workdir / "influx").mkdir()
        broker = Mosquitto(workdir / "mq", extra_conf="max_inflight_messages 1000\n")
        broker.start()
        influx = InfluxDB(workdir / "influx").start()
        procs = []
        try:
            _circles(workdir, hook, broker, max(watches, 200 if quick else 1000))
            procs, port = _services(workdir, broker, influx)
            asyncio.run(_paced(port, watches, rate, total, sent))
            hook.wait(total, 10)
            latencies = _latencies(hook, sent)
            ours, direct = _throughput(hook, broker, 200 if quick else 1000)
        finally:
            for proc in procs:
                proc.kill()
            influx.kill()
            broker.kill()
    return _figures(latencies, rate, ours, direct)
