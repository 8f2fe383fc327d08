"""The notifier's loop: alerts in, outbox, messages out, events announced.

Paho's thread only queues messages, and the send workers only queue their
results; the database is touched by this one loop thread alone. An alert is
acknowledged to the broker (PUBACK) only after it is in the outbox, so an alert
that arrived is never lost, whatever stops afterwards.
"""

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import paho.mqtt.client as mqtt

from services.common import carecircle as cc
from services.common import logs, reminders
from services.common.database import Connection, DatabaseError, Row
from services.common.errors import MqttError
from services.common.router import Router
from services.common.topics import Topics

from . import availability, outbox
from .channels import ChannelError
from .settings import Settings
from .silence import KEY as SILENT_KEY
from .silence import SilenceWatch

log = logging.getLogger(__name__)

Send = Callable[[str, str, str], None]  # channel, title, body; raises ChannelError
Publish = Callable[[str, str], None]
Ack = Callable[[mqtt.MQTTMessage], None]


class Engine:
    """Intake, escalation and dispatch on one thread; sending on a small pool."""

    def __init__(
        self,
        settings: Settings,
        conn: Connection,
        send: Send,
        publish: Publish,
        ack: Ack,
    ) -> None:
        self.settings = settings
        self.conn = conn
        self.topics = Topics(settings.mqtt.topic_root)
        self._intake_routes = Router()
        self._intake_routes.add(self.topics.patient("+"), self._assigned)
        self._intake_routes.add(self.topics.vitals("+", "+"), self._reading)
        self._intake_routes.add(self.topics.service_status("+"), self._service_status)
        self._intake_routes.add(self.topics.all_alerts, self._alert)
        self._intake_routes.add(self.topics.reminder("+"), self._reminder)
        self._send = send
        self._publish = publish
        self._ack = ack
        self.inbox: queue.Queue[tuple[str, object]] = queue.Queue()
        self._unstored: list[mqtt.MQTTMessage] = []
        self._sending: set[int] = set()  # contacts with a message under way
        self._pool = ThreadPoolExecutor(settings.workers, thread_name_prefix="notify")
        self.silence = SilenceWatch(settings.silent_after, outbox.open_conditions(conn, SILENT_KEY))
        self.services = availability.ServiceWatch(
            settings.service_grace, "notifier", outbox.open_conditions(conn, availability.KEY)
        )
        self.sent = 0
        self.failed = 0

    def submit(self, message: mqtt.MQTTMessage) -> None:
        """Paho's thread: hand the message over, unacknowledged."""
        self.inbox.put(("mqtt", message))

    def run(self, stop: threading.Event) -> None:
        """Until ``stop``: take what arrives, plan, dispatch; in-flight sends are finished."""
        next_tick = 0.0
        try:
            while not stop.is_set():
                dirty = self._drain(timeout=0.2)
                if time.monotonic() >= next_tick:
                    next_tick = time.monotonic() + self.settings.tick
                    self._tick()
                    dirty = True
                if dirty:
                    self._dispatch()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._drain(timeout=0)  # record how the last sends went

    def _drain(self, timeout: float) -> bool:
        """Handle what arrived; True when it may have made messages due."""
        try:
            items = [self.inbox.get(timeout=timeout) if timeout else self.inbox.get_nowait()]
        except queue.Empty:
            return False
        while len(items) < 500:
            try:
                items.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        news = False
        for what, item in items:
            if what == "mqtt":
                news |= self._intake(item)
            else:
                self._finished(*item)
                news = True
        return news

    # intake ------------------------------------------------------------------------

    def _intake(self, message: mqtt.MQTTMessage) -> bool:
        """One message from the broker; True when it may have made messages due."""
        handler = self._intake_routes.route(message.topic)
        if handler is None:
            self._ack(message)
            return False
        return handler(message, time.time())

    def _assigned(self, device: str, message: mqtt.MQTTMessage, now: float) -> bool:
        self.silence.assign(device, bytes(message.payload), now)
        self._ack(message)
        return False

    def _reading(self, device: str, metric: str, message: mqtt.MQTTMessage, now: float) -> bool:
        # readings only move the silence clock; most make no alert and need no dispatch
        stored = False
        for alert in self.silence.reading(device, metric, message.payload, now):
            stored |= self._store(alert, now)
        self._ack(message)
        return stored

    def _service_status(self, name: str, message: mqtt.MQTTMessage, now: float) -> bool:
        stored = False
        for alert in self.services.status(name, message.payload, now):
            stored |= self._store(alert, now)
        self._ack(message)
        return stored

    def _alert(self, _rest: str, message: mqtt.MQTTMessage, now: float) -> bool:
        self._store_message(message, now)  # acknowledged there, once stored
        return True

    def _reminder(self, patient: str, message: mqtt.MQTTMessage, now: float) -> bool:
        self._store_message(message, now, patient)  # acknowledged there, once stored
        return True

    def _store_message(
        self, message: mqtt.MQTTMessage, now: float, reminder_for: str | None = None
    ) -> None:
        """An alert (or, for a patient, a dose reminder) into the outbox, then acknowledged."""
        try:
            if reminder_for is None:
                stored = self._store(json.loads(bytes(message.payload)), now)
            else:
                body = reminders.parse(bytes(message.payload), reminder_for)
                stored = self._store(body, now, outbox.record_reminder)
        except (ValueError, outbox.BadAlert) as exc:
            logs.event(log, logging.WARNING, "alert.dropped", topic=message.topic, reason=exc)
            stored = True  # it can never be stored: do not keep it forever
        if stored:
            self._ack(message)
        else:
            self._unstored.append(message)  # not acknowledged: tried again on the next tick

    def _store(self, alert: dict, now: float, record=outbox.record) -> bool:
        try:
            alert_id, new = record(self.conn, alert, now)
        except DatabaseError as exc:
            logs.event(log, logging.ERROR, "outbox.unavailable", error=exc)
            return False
        logs.event(
            log,
            logging.INFO,
            "alert.stored" if new else "alert.redelivered",
            alert_id=alert_id,
            device=alert.get("device"),
            key=alert.get("key"),
            alert_level=alert.get("level"),
        )
        return True

    # planning ----------------------------------------------------------------------

    def _tick(self) -> None:
        unstored, self._unstored = self._unstored, []
        for message in unstored:
            self._intake(message)  # routed again: an alert or a reminder
        now = time.time()
        for alert in self.silence.check(now) + self.services.check(now):
            self._store(alert, now)
        try:
            queued = outbox.escalate(self.conn, self.settings, now)
            if queued:
                logs.event(log, logging.INFO, "escalation.queued", deliveries=queued)
            self._announce_acks()
        except DatabaseError as exc:
            logs.event(log, logging.ERROR, "outbox.unavailable", error=exc)

    def _announce_acks(self) -> None:
        for row in cc.unannounced_acks(self.conn):
            event = {"event": "acked", "alert_id": row["alert_id"], "by": row["by_user"]}
            self._event(row["patient"], {**event, "at": row["at"]})
            cc.mark_announced(self.conn, row["id"])
            logs.event(log, logging.INFO, "alert.acked", alert_id=row["alert_id"])

    # sending -----------------------------------------------------------------------

    def _dispatch(self) -> None:
        try:
            messages, held = outbox.due_messages(
                self.conn, self.settings, time.time(), self._sending
            )
        except DatabaseError as exc:
            logs.event(log, logging.ERROR, "outbox.unavailable", error=exc)
            return
        for row, until in held:
            if row["status"] != cc.HELD:
                self._delivery_event(row, "held", next_try=until)
        for message in messages:
            self._sending.add(message.contact.id)
            self._pool.submit(self._deliver, message)

    def _deliver(self, message: outbox.Message) -> None:
        """A worker thread: send, and hand the outcome back to the loop."""
        error = None
        try:
            self._send(message.contact.channel, message.title, message.body)
        except ChannelError as exc:
            error = str(exc) or type(exc).__name__
        except Exception as exc:  # a channel plugin's bug must not lose the delivery
            log.exception("event=delivery.crashed contact=%s", message.contact.id)
            error = f"{type(exc).__name__}: {exc}"
        self.inbox.put(("done", (message, error)))

    def _finished(self, message: outbox.Message, error: str | None) -> None:
        self._sending.discard(message.contact.id)
        try:
            outcomes = outbox.finish(self.conn, message, error, self.settings, time.time())
        except DatabaseError as exc:
            logs.event(log, logging.ERROR, "outbox.unavailable", error=exc)
            return
        if error is None:
            self.sent += 1
        else:
            self.failed += 1
        logs.event(
            log,
            logging.INFO if error is None else logging.WARNING,
            "delivery.sent" if error is None else "delivery.failed",
            contact=message.contact.id,
            deliveries=len(message.ids),
            error=error,
        )
        for row, outcome, next_try in outcomes:
            name = "failed" if outcome == cc.RETRYING else outcome
            self._delivery_event(row, name, error=error, next_try=next_try)

    def _delivery_event(self, row: Row, name: str, **extra: object) -> None:
        event = {
            "event": name,
            "alert_id": row["alert_id"],
            "contact_id": row["contact_id"],
            "round": row["round"],
            "level": row["level"],
            "at": time.time(),
        }
        event.update({k: v for k, v in extra.items() if v is not None})
        self._event(row["patient"], event)

    def _event(self, patient: str | None, event: dict) -> None:
        if patient is not None and any(c in patient for c in "/+#"):
            return  # not a topic level; the database keeps the status anyway
        try:
            self._publish(self.topics.notification_events(patient), json.dumps(event))
        except MqttError as exc:
            logs.event(log, logging.WARNING, "event.not_published", error=exc)
