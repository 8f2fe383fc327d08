"""``python -m services.pillbox``: follow each cabinet's counts and each patient's medicines."""

import logging
import queue
import signal
import sys
import threading
import time
from datetime import UTC, datetime
from functools import partial

from services.common import logs
from services.common.database import DatabaseError
from services.common.errors import ConfigError, MqttError
from services.common.mqtt import MqttClient
from services.common.router import Router
from services.common.topics import Topics
from services.common.usage import parse_service_args

from .settings import Settings
from .tracker import SERVICE, Tracker, connect

log = logging.getLogger("services.pillbox")


def _now() -> datetime:
    return datetime.now(UTC)


def run(settings: Settings, stop: threading.Event) -> int:
    """Track doses until ``stop`` is set; messages are handled on this one thread."""
    topics = Topics(settings.mqtt.topic_root)
    inbox: queue.Queue = queue.Queue()
    client = MqttClient(
        settings.mqtt,
        SERVICE,
        client_id=f"{settings.mqtt.topic_root}-pillbox",
        clean_session=False,  # inventory changes made while we are away are kept for us
        # acknowledged once handled (and committed): one that arrived just before a crash
        # is delivered again
        manual_ack=True,
        # the boards' firmware versions (who takes the slot command) and their comings
        # and goings (a cabinet back online gets its cue again), both retained
        subscriptions=[
            (topics.inventory("+"), 1),
            (topics.firmware("+"), 1),
            (topics.device_status("+"), 1),
        ],
        on_message=inbox.put,
    )
    conn = connect(settings.database)
    tracker = Tracker(settings, conn, lambda topic, body: client.publish(topic, body, qos=1))
    # matched here, not on the MQTT thread: every step runs on this one thread
    router = Router()
    router.add(topics.inventory("+"), partial(_safely, tracker.on_inventory))
    router.add(topics.firmware("+"), tracker.on_firmware)
    router.add(topics.device_status("+"), tracker.on_status)
    _safely(tracker.outbox.prune)
    client.start()
    logs.event(
        log, logging.INFO, "pillbox.started", db=settings.database.describe(), tick=settings.tick
    )
    connected_at: float | None = None
    try:
        while not stop.is_set():
            if connected_at is None and client.connected:
                connected_at = time.monotonic()
            _drain(router, inbox, settings.tick, client.ack)
            settled = connected_at is not None and (
                time.monotonic() - connected_at >= settings.settle
            )
            _safely(tracker.tick, _now(), settled=settled)
    finally:
        logs.event(log, logging.INFO, "pillbox.stopping", decided=tracker.decided)
        client.stop()
        conn.close()
    return 0


def _drain(router: Router, inbox: queue.Queue, wait: float, ack) -> None:
    """Handle the messages that arrive within ``wait`` seconds, acknowledging each after."""
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = inbox.get(timeout=left)
        except queue.Empty:
            return
        router.dispatch(message.topic, bytes(message.payload), _now())
        ack(message)


def _safely(step, *args, **kwargs) -> None:
    """One step; a database not yet migrated or busy, or a broker away, is logged and retried."""
    try:
        step(*args, **kwargs)
    except (DatabaseError, MqttError) as exc:
        logs.event(log, logging.WARNING, "pillbox.step_failed", step=step.__name__, error=exc)


def main(argv: list[str] | None = None) -> int:
    parse_service_args(
        "python -m services.pillbox",
        "See doses taken from the cabinet, light the cabinet when one is due, alert when"
        " one is missed.",
        argv,
    )
    logs.setup(SERVICE)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        logs.event(log, logging.ERROR, "pillbox.bad_config", error=exc)
        return 2
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return run(settings, stop)


if __name__ == "__main__":
    sys.exit(main())
