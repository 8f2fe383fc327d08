"""``python -m services.notifier``: tell the care circle about alerts, until someone answers."""

import logging
import sys
import threading

from services.common import logs
from services.common.database import DatabaseError
from services.common.mqtt import MqttClient
from services.common.topics import Topics
from services.common.usage import parse_service_args, read_settings, stop_on_signals

from . import channels, outbox
from .engine import Engine
from .settings import Settings

log = logging.getLogger("services.notifier")


def subscriptions(settings: Settings) -> list[tuple[str, int]]:
    """Alerts at QoS 1 (kept by the broker while we are away); readings at QoS 0."""
    topics = Topics(settings.mqtt.topic_root)
    # service statuses are retained: the present state of each arrives on every connect
    # dose reminders from the dose tracker: QoS 1 too, a reminder is worth keeping
    wanted = [(topics.all_alerts, 1), (topics.service_status("+"), 1), (topics.reminder("+"), 1)]
    if settings.silent_after > 0:
        # only when readings arrive matters: QoS 0, so the broker keeps none of them for us
        wanted += [(topics.patient("+"), 1), (topics.vitals("+", "+"), 0)]
    return wanted


def run(settings: Settings, stop: threading.Event) -> int:
    """Open the outbox, connect, notify until ``stop`` is set; returns an exit code."""
    channels.load()  # before the send workers start: importing is not thread-safe
    egress = settings.egress
    try:
        conn = outbox.connect(settings.database)
    except (DatabaseError, OSError) as exc:
        logs.event(
            log, logging.ERROR, "outbox.unavailable", db=settings.database.describe(), error=exc
        )
        return 2
    try:
        engine: Engine
        client = MqttClient(
            settings.mqtt,
            "notifier",
            client_id=settings.client_id,
            clean_session=False,  # the broker keeps alerts for us while we are away
            manual_ack=True,
            subscriptions=subscriptions(settings),
            on_message=lambda message: engine.submit(message),
        )
        engine = Engine(
            settings,
            conn,
            send=lambda channel, title, body: channels.send(
                channel, title, body, settings.smtp, egress
            ),
            publish=lambda topic, payload: client.publish(topic, payload, qos=1),
            ack=client.ack,
        )
        client.start()
        logs.event(
            log,
            logging.INFO,
            "notifier.started",
            client_id=settings.client_id,
            db=settings.database.describe(),
            mail=settings.smtp.enabled,
        )
        try:
            engine.run(stop)
        finally:
            logs.event(
                log, logging.INFO, "notifier.stopping", sent=engine.sent, failed=engine.failed
            )
            client.stop()
        return 0
    finally:
        conn.close()


def main(argv: list[str] | None = None) -> int:
    parse_service_args(
        "python -m services.notifier",
        "Deliver alerts to each patient's care circle (e-mail and Apprise channels).",
        argv,
    )
    logs.setup("notifier")
    settings = read_settings("notifier", Settings, log)
    if settings is None:
        return 2
    return run(settings, stop_on_signals())


if __name__ == "__main__":
    sys.exit(main())
