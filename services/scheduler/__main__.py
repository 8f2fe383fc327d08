"""``python -m services.scheduler``: ask devices for readings on a fixed schedule."""

import asyncio
import contextlib
import logging
import signal
import sys
import threading
from collections import Counter
from collections.abc import Callable

import paho.mqtt.client as mqtt

from services.common import logs
from services.common.errors import MqttError
from services.common.mqtt import MqttClient
from services.common.topics import Topics
from services.common.usage import parse_service_args, read_settings

from .fleet import Fleet
from .jobs import Job, JobContext, Slots, report_jobs, run_every
from .settings import Settings

log = logging.getLogger("services.scheduler")


def send(ctx: JobContext, device: str, cmd: str) -> bool:
    """Publish a command now, or not at all."""
    # Never while disconnected: paho would queue it and a reconnect would then
    # deliver a burst of stale requests.
    if not ctx.client.connected:
        return False
    topics, holder = ctx.client.topics, ctx.fleet.gateway_of(device)
    # To the holding gateway alone when it has an id: the others need not read it.
    topic = topics.gateway_cmd(holder, device) if holder else topics.cmd(device)
    try:
        ctx.client.publish(topic, cmd, qos=1)
    except MqttError as exc:
        logs.event(log, logging.WARNING, "scheduler.not_sent", device=device, cmd=cmd, error=exc)
        return False
    logs.event(log, logging.DEBUG, "scheduler.request", device=device, cmd=cmd)
    return True


def ask_watches(ctx: JobContext, slots: list[int], tally: Counter | None = None) -> None:
    """``bpm`` to each online watch of ``slots`` that has not reported on its own lately."""
    tally = Counter() if tally is None else tally
    if not ctx.client.connected:
        if 0 in slots:  # once per interval, however finely it is cut
            logs.event(log, logging.INFO, "scheduler.tick_skipped", job="bpm", reason="broker away")
        return
    now = ctx.now()
    for slot in slots:
        for device in ctx.fleet.watches_in(slot):
            reason = ctx.fleet.bpm_skip_reason(
                device, now, ctx.settings.bpm_interval, ctx.settings.answer_window
            )
            if reason:
                tally[reason] += 1
                logs.event(log, logging.DEBUG, "scheduler.skip", device=device, reason=reason)
            elif send(ctx, device, "bpm"):
                tally["asked"] += 1
                ctx.fleet.requested(device, now)
            else:
                tally["not sent"] += 1


def bpm_job(settings: Settings) -> Job:
    """The ``bpm`` job: one run per part of the interval (``SCHEDULER_BPM_SPREAD``)."""
    slots = Slots(settings.bpm_slots, settings.bpm_interval)
    tally: Counter = Counter()

    def run(ctx: JobContext) -> None:
        due = slots.due(ctx.now())
        if 0 in due and tally:  # a round is complete: one line per interval, not per watch
            logs.event(
                log,
                logging.INFO,
                "scheduler.bpm_round",
                asked=tally["asked"],
                offline=tally["offline"],
                reported=tally["reported within the interval"],
                not_sent=tally["not sent"],
            )
            tally.clear()
        ask_watches(ctx, due, tally)

    return Job("bpm", slots.slice, run)


def ask_kind(kind: str, cmd: str) -> Callable[[JobContext], None]:
    """A job sending ``cmd`` to every online device of ``kind``."""

    def run(ctx: JobContext) -> None:
        for device in ctx.fleet.online_of_kind(kind):
            send(ctx, device, cmd)

    return run


class Inbox:
    """Messages from paho's thread to the loop, in order, with one wake-up per batch.

    A wake-up is a write to the loop's self-pipe: one per reading of a large fleet's
    vitals would cost more than the reading itself.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, handle: Callable[..., None]) -> None:
        self._loop, self._handle = loop, handle
        self._lock = threading.Lock()
        self._items: list[tuple] = []

    def put(self, *item: object) -> None:
        with self._lock:
            self._items.append(item)
            if len(self._items) > 1:
                return  # the loop is already told, and has not drained yet
        self._loop.call_soon_threadsafe(self._drain)

    def _drain(self) -> None:
        with self._lock:
            items, self._items = self._items, []
        for item in items:
            self._handle(*item)


def jobs(settings: Settings) -> list[Job]:
    out = [bpm_job(settings)]
    if settings.inventory_interval > 0:
        out.append(Job("inventory", settings.inventory_interval, ask_kind("cabinet", "inv")))
    if settings.snapshot_interval > 0:
        out.append(Job("snapshot", settings.snapshot_interval, ask_kind("camera", "img")))
    return out + report_jobs(settings)


async def serve(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run every job until ``stop`` is set (or SIGTERM/SIGINT)."""
    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    topics = Topics(settings.mqtt.topic_root)
    fleet = Fleet(topics, settings.bpm_slots)

    inbox = Inbox(loop, fleet.on_message)

    def on_message(message: mqtt.MQTTMessage) -> None:
        # Paho's thread: the fleet is only ever touched on the loop.
        inbox.put(message.topic, bytes(message.payload), loop.time())

    client = MqttClient(
        settings.mqtt,
        "scheduler",
        client_id=f"{settings.mqtt.topic_root}-scheduler",
        subscriptions=fleet.subscriptions(),  # routed by the fleet, on the loop
        on_message=on_message,
    )
    client.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    ctx = JobContext(settings, client, fleet, loop.time)
    planned = jobs(settings)
    logs.event(
        log,
        logging.INFO,
        "scheduler.started",
        jobs=",".join(f"{j.name}/{j.interval:g}s" for j in planned),
    )
    try:
        await asyncio.gather(*(run_every(job, ctx, stop) for job in planned))
    finally:
        logs.event(log, logging.INFO, "scheduler.stopping")
        await asyncio.to_thread(client.stop)


def main(argv: list[str] | None = None) -> int:
    parse_service_args(
        "python -m services.scheduler", "Ask devices for readings on a fixed schedule.", argv
    )
    logs.setup("scheduler")
    settings = read_settings("scheduler", Settings, log)
    if settings is None:
        return 2
    asyncio.run(serve(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
