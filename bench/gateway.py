"""Gateway figures: throughput, held connections, latency (figures 1 to 3 of docs/benchmarks.md)."""

import asyncio
import json
import statistics
import time

from services.common import protocol as p
from services.common.topics import Topics, vitals_body

from .harness import Counter, Figure, Publisher, Stack, connect_watch, source_address

TOPICS = Topics()
VITALS = TOPICS.device("+", "vitals", "#")
START_MS = 1_767_225_600_000  # 2026-01-01


def _direct_payload(i: int, value: float = 72.0) -> str:
    """The reading the gateway would publish for watch ``i``."""
    return json.dumps(vitals_body(f"wch-{i}", "heart_rate", value, START_MS))


async def _connect_all(port: int, count: int, batch: int = 200):
    conns = []
    for start in range(0, count, batch):
        conns += await asyncio.gather(
            *(
                connect_watch(port, f"wch-{i}", source_address(i))
                for i in range(start, min(count, start + batch))
            )
        )
    return conns


def throughput(quick: bool) -> Figure:
    """Figure 1: readings/s from watches through the gateway vs the same library direct."""
    watches, per_watch = 100, 100 if quick else 500
    total = watches * per_watch
    with Stack() as stack:
        counter = Counter(stack.broker.port, VITALS, total)

        async def blast() -> float:
            conns = await _connect_all(stack.gateway_port, watches)
            await asyncio.sleep(0.5)
            started = time.perf_counter()
            for k in range(per_watch):
                reading = p.reading(40 + k % 150, "bpm")
                for _, writer in conns:
                    writer.write(reading)
                if k % 10 == 0:
                    await asyncio.sleep(0)
            await asyncio.to_thread(counter.done.wait, 300)
            for _, writer in conns:
                writer.close()
            return started

        started = asyncio.run(blast())
        if not counter.done.is_set():
            raise RuntimeError(f"gateway delivered {counter.count}/{total} readings")
        gateway_rate = total / (counter.finished - started)
        counter.close()

        counter = Counter(stack.broker.port, VITALS, total)
        direct = Publisher(stack.broker.port)
        payloads = [_direct_payload(i % watches) for i in range(watches)]
        started = time.perf_counter()
        for i in range(total):
            direct.client.publish(
                TOPICS.vitals(f"wch-{i % watches}", "heart_rate"), payloads[i % watches], 1
            )
        counter.done.wait(300)
        direct_rate = total / (counter.finished - started)
        counter.close()
        direct.close()
    ratio = gateway_rate / direct_rate
    return Figure(
        "gateway readings per second (vs direct publish)",
        round(gateway_rate),
        "readings/s",
        round(direct_rate),
        round(ratio, 2),
        ">= 0.5 and >= 5000 readings/s",
        ratio >= 0.5 and gateway_rate >= 5000,
    )


async def _bpm_to_all(publisher: Publisher, conns: list) -> float:
    """Seconds from publishing ``bpm`` to every watch until each has read it."""
    count, received = len(conns), 0
    all_in = asyncio.Event()

    async def wait_bpm(reader) -> None:
        nonlocal received
        data = await reader.read(16)
        if data == b"bpm":
            received += 1
            if received == count:
                all_in.set()

    waiters = [asyncio.create_task(wait_bpm(r)) for r, _ in conns]
    started = time.perf_counter()
    for i in range(count):
        publisher.client.publish(TOPICS.cmd(f"wch-{i}"), "bpm", qos=1)
    try:
        await asyncio.wait_for(all_in.wait(), 60)
    except TimeoutError:
        raise RuntimeError(f"bpm reached {received}/{count} watches") from None
    elapsed = time.perf_counter() - started
    for task in waiters:
        task.cancel()
    return elapsed


def connections(quick: bool) -> list[Figure]:
    """Figure 2: thousands of watches held; RSS per connection; bpm to all delivered."""
    count = 1000 if quick else 5000
    with Stack() as stack:
        counter = Counter(stack.broker.port, TOPICS.all_device_status, count)
        baseline = stack.gateway_rss_kib()

        # paho's thread uses select(): its sockets must exist before the crowd's.
        publisher = Publisher(stack.broker.port)

        async def hold() -> tuple[float, float]:
            conns = await _connect_all(stack.gateway_port, count)
            await asyncio.to_thread(counter.done.wait, 120)
            await asyncio.sleep(1)
            held_kib = stack.gateway_rss_kib()
            elapsed = await _bpm_to_all(publisher, conns)
            for _, writer in conns:
                writer.close()
            return held_kib, elapsed

        held_kib, elapsed = asyncio.run(hold())
        counter.close()
        publisher.close()
    per_conn = (held_kib - baseline) / count
    return [
        Figure(
            f"gateway RSS per held connection ({count} watches)",
            round(per_conn, 1),
            "KiB",
            round(baseline / 1024, 1),
            None,
            "<= 20 KiB (reference: idle gateway RSS in MiB)",
            per_conn <= 20,
        ),
        Figure(
            f"bpm to all {count} watches delivered",
            round(elapsed, 3),
            "s",
            None,
            None,
            "<= 2 s",
            elapsed <= 2.0,
        ),
    ]


def _paced_direct(stack: Stack, watches: int, rate: int, total: int, sent: dict) -> None:
    """The same readings at the same pace, published straight to the broker."""
    direct = Publisher(stack.broker.port)
    started = time.perf_counter()
    for k in range(total // watches):
        delay = started + k * watches / rate - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        for i in range(watches):
            body = _direct_payload(i, k)
            sent[(f"wch-{i}", k)] = time.perf_counter()
            direct.client.publish(TOPICS.vitals(f"wch-{i}", "heart_rate"), body, 1)
    direct.close()


def latency(quick: bool) -> Figure:
    """Figure 3: device-to-subscriber latency at 1,000 readings/s, p50 and p99."""
    watches, rate, seconds = 10, 1000, 3 if quick else 10
    total = rate * seconds
    sent: dict[tuple[str, int], float] = {}
    got: dict[tuple[str, int], float] = {}

    def keep(message, at: float) -> None:
        body = json.loads(message.payload)
        got[(body["device"], int(body["value"]))] = at

    with Stack() as stack:
        counter = Counter(stack.broker.port, VITALS, total, keep)

        async def paced() -> None:
            conns = await _connect_all(stack.gateway_port, watches)
            await asyncio.sleep(0.5)
            tick = watches / rate
            started = time.perf_counter()
            for k in range(total // watches):
                due = started + k * tick
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                for i, (_, writer) in enumerate(conns):
                    sent[(f"wch-{i}", k)] = time.perf_counter()
                    writer.write(p.reading(k, "bpm"))
            await asyncio.to_thread(counter.done.wait, 60)
            for _, writer in conns:
                writer.close()

        asyncio.run(paced())
        counter.close()
        gateway_ms = sorted((got[key] - sent[key]) * 1000 for key in got)

        got.clear()
        sent.clear()
        counter = Counter(stack.broker.port, VITALS, total, keep)
        _paced_direct(stack, watches, rate, total, sent)
        counter.done.wait(60)
        counter.close()
        direct_ms = sorted((got[key] - sent[key]) * 1000 for key in got)
    p50 = statistics.median(gateway_ms)
    p99 = gateway_ms[int(len(gateway_ms) * 0.99) - 1]
    direct_p99 = direct_ms[int(len(direct_ms) * 0.99) - 1]
    return Figure(
        f"device-to-subscriber latency p99 at {rate}/s (p50 {p50:.2f} ms)",
        round(p99, 2),
        "ms",
        round(direct_p99, 2),
        round(p99 / direct_p99, 2),
        "p99 < 10 ms (reference: direct publish p99)",
        p99 < 10,
    )
