"""``python -m services.recorder``: record vitals, inventory, availability and alerts."""

import logging
import sys
import threading
from collections.abc import Callable

from services.common import logs
from services.common.alerts import AlertTracker
from services.common.influx import InfluxAuthError, InfluxClient, InfluxNotFound, InfluxUnavailable
from services.common.mqtt import MqttClient
from services.common.topics import Topics
from services.common.usage import parse_service_args, read_settings, stop_on_signals

from .pipeline import Pipeline
from .records import Translator
from .settings import Settings
from .spool import Spool, SpoolBusy
from .standby import Standby

log = logging.getLogger("services.recorder")

SHARE_GROUP = "recorder"


def subscriptions(settings: Settings, translator: Translator) -> list[tuple[str, int]]:
    """The translator's topics, shared between recorders with RECORDER_SHARED=1.

    Every recorder needs every patient assignment, so those are never shared; they come
    first, after the retained open alert conditions, so the retained ones come soon (the
    pipeline waits for both after a connect).
    """
    routes = translator.router.subscriptions()
    first = [t for t in (translator.open_alerts, translator.topics.patient("+")) if t]
    out = [route for topic in first for route in routes if route[0] == topic]
    for topic, qos in routes:
        if topic in first:
            continue
        if settings.shared:
            topic = f"$share/{SHARE_GROUP}/{topic}"
        out.append((topic, qos))
    return out


def check_influx(settings: Settings, influx: InfluxClient) -> bool:
    """Say how InfluxDB answered; False when the recorder cannot work with it at all."""
    try:
        version = influx.ping()
        created = influx.ensure_database()
    except (InfluxAuthError, InfluxNotFound) as exc:
        event = "influx.auth_failed" if isinstance(exc, InfluxAuthError) else "influx.no_database"
        logs.event(log, logging.ERROR, event, error=exc)
        return False
    except InfluxUnavailable as exc:
        # Not fatal: readings go to the spool until InfluxDB answers.
        logs.event(log, logging.WARNING, "influx.unavailable", error=exc)
        return True
    logs.event(
        log,
        logging.INFO,
        "influx.ready",
        url=settings.influx.url,
        version=version,
        db=settings.influx.database,
        created=created,
    )
    return True


def run(settings: Settings, stop: threading.Event) -> int:
    """Connect, record until ``stop`` is set, and close cleanly; returns an exit code."""
    influx = InfluxClient(settings.influx)
    try:
        if not check_influx(settings, influx):
            return 2
        try:
            spool = Spool(settings.spool_dir, settings.spool_max_bytes)
        except SpoolBusy as exc:
            logs.event(log, logging.ERROR, "recorder.bad_config", error=exc)
            return 2
        if len(spool):
            logs.event(log, logging.INFO, "spool.found", files=len(spool), bytes=spool.bytes)
        record(settings, influx, spool, stop)
        return 0
    finally:
        influx.close()


def record(settings: Settings, influx: InfluxClient, spool: Spool, stop: threading.Event) -> None:
    """Record until ``stop`` (as a standby, in turns); the spool is closed on the way out."""
    try:
        if not settings.standby:
            record_session(settings, influx, spool, stop)
            return
        standby = Standby(settings)
        standby.start()
        try:
            while standby.wait_turn(stop):
                leave = threading.Event()
                holder = threading.Thread(target=standby.hold, args=(leave, stop), daemon=True)
                holder.start()
                record_session(settings, influx, spool, leave, say_offline=stop.is_set)
                holder.join()
        finally:
            standby.stop()
    finally:
        spool.close()


def make_translator(settings: Settings) -> Translator:
    """A translator with the state file's (or the retained) assignments and alert state."""
    topics = Topics(settings.mqtt.topic_root)
    # Shared recorders each see some of the readings: one retained copy cannot hold theirs.
    tracker = AlertTracker(settings.alerts)
    return Translator(topics, tracker, settings.state_file, retained=not settings.shared)


def record_session(
    settings: Settings,
    influx: InfluxClient,
    spool: Spool,
    stop: threading.Event,
    say_offline: Callable[[], bool] = lambda: True,
) -> None:
    """Hold the session: subscribe and write until ``stop``.

    A standby that leaves because another took over does not say ``offline``
    (``say_offline`` is false then): the recorder is not offline, only this one is.
    """
    translator = make_translator(settings)
    pipeline: Pipeline
    client = MqttClient(
        settings.mqtt,
        "recorder",
        client_id=settings.client_id,
        clean_session=False,  # the broker keeps our messages while we are away
        manual_ack=True,
        subscriptions=subscriptions(settings, translator),  # routed on the writer thread
        on_message=lambda message: pipeline.submit(message),
        on_connected=lambda: pipeline.connected(),
        on_subscribed=lambda topic: pipeline.subscribed(topic),
    )
    pipeline = Pipeline(
        influx,
        spool,
        translator,
        ack=client.ack,
        publish=lambda topic, payload: client.publish(topic, payload, qos=1),
        publish_retained=lambda topic, payload: client.publish(topic, payload, qos=1, retain=True),
        batch_size=settings.batch_size,
        linger=settings.batch_linger,
        retry_interval=settings.retry_interval,
        assignments_settle=settings.assignments_settle,
    )
    client.start()
    logs.event(
        log,
        logging.INFO,
        "recorder.started",
        client_id=settings.client_id,
        shared=settings.shared,
        standby=settings.standby,
        spool=settings.spool_dir,
    )
    try:
        pipeline.run(stop)
    finally:
        logs.event(
            log,
            logging.INFO,
            "recorder.stopping",
            written=pipeline.written,
            dropped=pipeline.dropped,
            spooled_files=len(spool),
        )
        client.stop(offline=say_offline())


def main(argv: list[str] | None = None) -> int:
    parse_service_args(
        "python -m services.recorder",
        "Record vitals, inventory, availability and alerts in InfluxDB.",
        argv,
    )
    logs.setup("recorder")
    logging.getLogger("urllib3").setLevel(logging.WARNING)  # one line per HTTP call is noise
    settings = read_settings("recorder", Settings, log)
    if settings is None:
        return 2
    return run(settings, stop_on_signals())


if __name__ == "__main__":
    sys.exit(main())
