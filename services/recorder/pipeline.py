"""The recorder's writer: batches messages, writes them, and only then acknowledges them.

Paho's network thread only puts messages into ``inbox``; everything else runs on
the one writer thread, so no state is shared between threads but the queue.

A message is acknowledged (PUBACK) only once its points are in InfluxDB or in
the on-disk spool. Until then the broker keeps it in the persistent session and
redelivers it after a crash or reconnect. When the spool is full, batches are
held unacknowledged; the broker's in-flight window (20 messages by default in
Mosquitto) then stops delivery, and everything else waits, persisted, in the
broker. Nothing is dropped except input that can never be stored, with a reason.

After every connect, messages wait (unacknowledged) behind an ``AssignmentGate`` until
the retained patient assignments are in, so a reading's tags do not depend on whether
it or its device's assignment came first (gate.py says why).
"""

import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from services.common import logs
from services.common.alerts import Alert
from services.common.errors import MqttError
from services.common.influx import (
    InfluxAuthError,
    InfluxClient,
    InfluxError,
    InfluxNotFound,
    InfluxRejected,
)
from services.common.timeutil import now_ms

from .gate import AssignmentGate
from .records import Dropped, Outcome, Translator, alert_line
from .spool import Spool, SpoolFull

log = logging.getLogger(__name__)

Publish = Callable[[str, str], mqtt.MQTTMessageInfo | None]
Ack = Callable[[mqtt.MQTTMessage], None]

# Seconds the gate stays closed at most: a broker that never grants the assignment
# subscription (NATS refuses it for tens of seconds after a node's death) delays
# recording, but does not stop it.
ASSIGNMENTS_WAIT_MAX = 60.0
# Seconds the writer waits for the broker to take a batch's alerts before it saves the
# alert rules' state without them (they are saved with a later batch).
ANNOUNCE_WAIT = 5.0


class Connected:
    """In the inbox: paho has (re)connected; what follows came on the new connection."""


@dataclass
class Granted:
    """In the inbox: the broker granted a subscription (its SUBACK)."""

    topic: str


Item = mqtt.MQTTMessage | Connected | Granted


@dataclass
class Batch:
    """Messages taken together, and the points and alerts they turned into."""

    messages: list[mqtt.MQTTMessage]
    lines: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


class Pipeline:
    """Inbox -> translate -> InfluxDB or spool -> acknowledge."""

    def __init__(
        self,
        influx: InfluxClient,
        spool: Spool,
        translator: Translator,
        ack: Ack,
        publish: Publish,
        *,
        batch_size: int = 500,
        linger: float = 0.05,
        retry_interval: float = 2.0,
        assignments_settle: float = 1.0,
        publish_retained: Publish | None = None,
    ) -> None:
        self.influx = influx
        self.spool = spool
        self.translator = translator
        self.topics = translator.topics
        self._ack = ack
        self._publish = publish
        self._publish_retained = publish_retained
        self.batch_size = batch_size
        self.linger = linger
        self.retry_interval = retry_interval
        self.inbox: queue.Queue[Item] = queue.Queue()
        self.gate = AssignmentGate(assignments_settle, ASSIGNMENTS_WAIT_MAX)
        self._assignments = self.topics.patient("+")
        # Counted at once like the assignments, and waited for: the alert rules must have
        # the open conditions before the first reading.
        self._early = [self._assignments] + [t for t in (translator.open_alerts,) if t]
        self._granted: set[str] = set()
        self._waiting: list[mqtt.MQTTMessage] = []  # behind the gate, in order
        self._applied: set[int] = set()  # ids of waiting assignments already translated
        self._held: list[Batch] = []
        self._influx_up = True
        self._next_try = 0.0
        self._spool_full = False
        self._service_lines: list[str] = []
        self.written = 0
        self.dropped = 0

    def submit(self, message: mqtt.MQTTMessage) -> None:
        """Paho's thread: hand the message over, unacknowledged."""
        self.inbox.put(message)

    def connected(self) -> None:
        """Paho's thread, on every connect, before the connection's first message."""
        self.inbox.put(Connected())

    def subscribed(self, topic: str) -> None:
        """Paho's thread: the broker granted ``topic``."""
        self.inbox.put(Granted(topic))

    def run(self, stop: threading.Event) -> None:
        """The writer loop, until ``stop`` is set; unacked messages are redelivered later."""
        while not stop.is_set():
            self._drain_spool()
            if self._held:
                self._retry_held()
                if self._held:
                    stop.wait(self.retry_interval)
                    continue
            ready = self._admit(self._collect(stop))
            while ready and not self._held:
                self._handle(ready[: self.batch_size])
                ready = ready[self.batch_size :]
            self._waiting[:0] = ready  # a batch was held: the rest waits behind it, in order

    def _admit(self, items: list[Item]) -> list[mqtt.MQTTMessage]:
        """Pass the gate: every message waits while it is closed, but assignments count at
        once, so the readings before them are tagged with them."""
        for item in items:
            now = time.monotonic()
            if isinstance(item, Connected):
                self.gate.connected(now)
                self._granted = set()
            elif isinstance(item, Granted):
                self._granted.add(item.topic)
                if self._granted.issuperset(self._early):
                    self.gate.granted(now)
            else:
                if any(mqtt.topic_matches_sub(t, item.topic) for t in self._early):
                    self.gate.assignment(now)
                    if not self.gate.is_open(now):
                        self._apply_early(item)
                self._waiting.append(item)
        if not self.gate.is_open(time.monotonic()):
            return []
        waited = self.gate.taken()
        if waited is not None:
            self._opened(waited)
        ready, self._waiting = self._waiting, []
        return ready

    def _apply_early(self, message: mqtt.MQTTMessage) -> None:
        """An assignment while the gate is closed: it counts for the messages waiting."""
        self._applied.add(id(message))
        self._translate(message)

    def _opened(self, waited: float) -> None:
        if self.gate.forced:
            logs.event(
                log,
                logging.WARNING,
                "recorder.assignments_late",
                waited=round(waited, 2),
                waiting=len(self._waiting),
                action="recording with the assignments known so far",
            )
        else:
            logs.event(
                log,
                logging.INFO,
                "recorder.assignments_known",
                waited=round(waited, 2),
                devices=len(self.translator.patients),
                waiting=len(self._waiting),
            )

    def _collect(self, stop: threading.Event) -> list[Item]:
        try:
            first = self.inbox.get(timeout=min(0.2, self.retry_interval))
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self.linger
        while len(batch) < self.batch_size and not stop.is_set():
            try:
                batch.append(self.inbox.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self.inbox.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _handle(self, messages: list[mqtt.MQTTMessage]) -> None:
        batch = Batch(messages)
        for message in messages:
            if id(message) in self._applied:  # an assignment, translated at the gate
                self._applied.discard(id(message))
                continue
            out = self._translate(message)
            if out is not None:
                batch.lines += out.lines
                batch.alerts += out.alerts
        self._store(batch)

    def _translate(self, message: mqtt.MQTTMessage) -> Outcome | None:
        """The message's points and alerts; None once it is dropped (and logged)."""
        try:
            return self.translator.translate(
                message.topic, bytes(message.payload), bool(message.retain), bool(message.dup)
            )
        except Dropped as exc:
            self.dropped += 1
            logs.event(log, logging.WARNING, "message.dropped", topic=message.topic, reason=exc)
        except Exception:
            # A bug on one message: translating does no I/O, so a redelivered copy would
            # fail the same way and a crash would loop. Drop it loudly, go on with the rest.
            self.dropped += 1
            log.exception("event=message.failed topic=%s", message.topic)
        return None

    def _store(self, batch: Batch) -> None:
        """Make the batch durable (InfluxDB, else spool), or hold it unacknowledged."""
        if batch.lines and self._influx_worth_trying():
            try:
                self._write(batch.lines)
            except InfluxError as exc:
                self._influx_down(exc)
            else:
                self._done(batch)
                return
        if batch.lines:
            try:
                path = self.spool.append(batch.lines)
            except SpoolFull as exc:
                self._on_spool_full(exc)
                self._held.append(batch)
                return
            logs.event(
                log,
                logging.WARNING,
                "spool.appended",
                file=path.name,
                lines=len(batch.lines),
                files=len(self.spool),
                bytes=self.spool.bytes,
            )
        self._done(batch)

    def _done(self, batch: Batch) -> None:
        """Durable: announce alerts, save state, and only then acknowledge.

        The alert rules' state is saved only once the broker has the batch's alerts: a
        recorder killed before then raises them again from the redelivered readings (the
        notifier takes a repeat as nothing new) instead of keeping them open unannounced.
        """
        sent = [self._announce(alert) for alert in batch.alerts]
        open_alerts = self.translator.save(alerts=all_taken(sent, ANNOUNCE_WAIT))
        if open_alerts is not None and self._publish_retained and self.translator.open_alerts:
            try:
                self._publish_retained(self.translator.open_alerts, open_alerts)
            except MqttError as exc:  # the state file has them; the next change sends all
                logs.event(log, logging.ERROR, "open_alerts.not_published", error=exc)
        for message in batch.messages:
            self._ack(message)
        self.written += len(batch.lines)

    def _write(self, lines: list[str]) -> None:
        lines = self._service_lines + lines
        try:
            self._write_once(lines)
        except InfluxNotFound:
            # A 1.x server that lost or never had the database: create it and go on.
            if self.influx.ensure_database():
                logs.event(log, logging.WARNING, "influx.database_created", db=self.influx.database)
            self._write_once(lines)
        self._service_lines = []
        if not self._influx_up:
            self._influx_up = True
            logs.event(log, logging.INFO, "influx.recovered", url=self.influx.settings.url)

    def _write_once(self, lines: list[str]) -> None:
        try:
            self.influx.write(lines)
        except InfluxRejected as exc:
            if len(lines) == 1:
                self.dropped += 1
                logs.event(log, logging.ERROR, "influx.line_rejected", line=lines[0], error=exc)
                return
            # Find the bad lines one by one so the good ones are still stored.
            for line in lines:
                self._write_once([line])

    def _influx_worth_trying(self) -> bool:
        return self._influx_up or time.monotonic() >= self._next_try

    def _influx_down(self, exc: InfluxError) -> None:
        self._next_try = time.monotonic() + self.retry_interval
        if isinstance(exc, InfluxAuthError):
            logs.event(log, logging.ERROR, "influx.auth_failed", error=exc)
        if self._influx_up:
            self._influx_up = False
            logs.event(log, logging.WARNING, "influx.unavailable", error=exc)

    def _drain_spool(self) -> None:
        while len(self.spool) and self._influx_worth_trying():
            oldest = self.spool.oldest()
            if oldest is None:
                return
            path, lines = oldest
            try:
                self._write(lines)
            except InfluxError as exc:
                self._influx_down(exc)
                return
            self.spool.remove(path)
            self.written += len(lines)
            if not len(self.spool):
                logs.event(log, logging.INFO, "spool.drained")
            self._check_spool_room()

    def _retry_held(self) -> None:
        held, self._held = self._held, []
        for batch in held:
            if self._held:  # keep order: once one is held, the rest wait too
                self._held.append(batch)
            else:
                self._store(batch)
        self._check_spool_room()

    def _check_spool_room(self) -> None:
        """Clear the spool-full alert once nothing is held and half the spool is free."""
        if self._spool_full and not self._held and self.spool.bytes < self.spool.max_bytes // 2:
            self._spool_full = False
            self._service_alert("cleared", "recorder spool has room again; nothing is held")

    def _on_spool_full(self, exc: SpoolFull) -> None:
        logs.event(
            log,
            logging.ERROR,
            "spool.full",
            error=exc,
            held_batches=len(self._held) + 1,
            action="not acknowledging; the broker keeps the messages",
        )
        if not self._spool_full:
            self._spool_full = True
            self._service_alert(
                "critical",
                "recorder spool is full and InfluxDB is unreachable; "
                "new readings stay unacknowledged in the broker",
            )

    def _service_alert(self, level: str, message: str) -> None:
        alert = Alert("recorder", "service", "spool_full", level, message, now_ms())
        self._announce(alert)
        # InfluxDB is down when the spool fills: the point rides along with the next write.
        self._service_lines.append(alert_line(alert))
        if self._influx_worth_trying():
            try:
                self._write([])
            except InfluxError as exc:
                self._influx_down(exc)

    def _announce(self, alert: Alert) -> mqtt.MQTTMessageInfo | None:
        if alert.kind == "service":
            topic = self.topics.service_alert(alert.device)
        else:
            topic = self.topics.device_alert(alert.device)
        logs.event(
            log,
            logging.WARNING if alert.level != "cleared" else logging.INFO,
            "alert",
            device=alert.device,
            key=alert.key,
            alert_level=alert.level,
            message=alert.message,
        )
        try:
            return self._publish(topic, json.dumps(alert.as_json()))
        except MqttError as exc:
            logs.event(log, logging.ERROR, "alert.not_published", topic=topic, error=exc)
        return None


def all_taken(sent: list[mqtt.MQTTMessageInfo | None], timeout: float) -> bool:
    """Whether the broker acknowledged every one of ``sent``, waiting up to ``timeout``."""
    deadline = time.monotonic() + timeout
    for info in sent:
        try:
            if info is None:
                return False
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            if not info.is_published():
                return False
        except (RuntimeError, ValueError):  # queued while disconnected, or not queued
            return False
    return True
