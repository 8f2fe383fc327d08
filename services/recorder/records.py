"""MQTT messages in, InfluxDB points (line protocol) and alerts out.

docs/schema.md describes the measurements written here. The translator keeps
the state that outlives a restart (the device -> patient assignment, each device's
last recorded availability, the alert conditions open) in a small JSON file, saved
only once the points that depend on it are durable. The open conditions also go out
retained on ``services/recorder/open_alerts``, for a recorder on another machine that
takes over; docs/schema.md ("Open conditions across restarts and takeovers") says which
copy wins.
"""

import json
import logging
import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from influxdb_client import Point, WritePrecision

from services.common import logs
from services.common.alerts import NEWS2_BANDS, PARTIAL_NEWS2_LABEL, Alert, AlertTracker
from services.common.devices import kind_of, manual_device
from services.common.quality import flag_reason
from services.common.router import Router
from services.common.timeutil import now_ms, parse_rfc3339
from services.common.topics import OFFLINE, ONLINE, Topics

SERVICE = "recorder"

log = logging.getLogger(__name__)

MAX_PATIENT_LEN = 64
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Dropped(ValueError):
    """A message that can never be stored (malformed); it is logged and acknowledged."""


@dataclass
class Outcome:
    """What one message turned into."""

    lines: list[str] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)


def device_kind(device: str) -> str:
    return kind_of(device) or "unknown"


def alert_line(alert: Alert) -> str:
    point = (
        Point("alerts")
        .tag("device", alert.device)
        .tag("patient", alert.patient)
        .tag("kind", alert.kind)
        .tag("key", alert.key)
        .tag("level", alert.level)
        .field("message", alert.message)
        .time(alert.ts_ms, WritePrecision.MS)
    )
    if alert.value is not None:
        point.field("value", float(alert.value))
    return point.to_line_protocol()


class Translator:
    """Turns one message at a time into points; used by the writer thread only."""

    def __init__(
        self, topics: Topics, tracker: AlertTracker, state_file: Path, retained: bool = False
    ) -> None:
        self.topics = topics
        self.tracker = tracker
        self.state_file = state_file
        # the retained open conditions; None for shared recorders, each with its own devices
        self.open_alerts = topics.open_alerts(SERVICE) if retained else None
        self.router = self._routes()
        self.patients: dict[str, str] = {}
        self.availability: dict[str, str] = {}
        self.alerts: dict = {"saved_ms": 0}  # the tracker's state as last saved
        self._dirty = False
        self._fed = False  # the tracker has had a reading since this translator started
        self._load()

    def translate(self, topic: str, payload: bytes, retain: bool, dup: bool) -> Outcome:
        """Raise Dropped for input that can never be stored."""
        handler = self.router.route(topic)
        if handler is None:
            raise Dropped(f"unexpected topic {topic}")
        return handler(payload, retain, dup)

    def _routes(self) -> Router:
        """The topics recorded; each handler gets the topic's levels, then payload, retain, dup."""
        t = self.topics
        router = Router()
        router.add(
            t.vitals("+", "+"), lambda device, metric, p, *_: self._vitals(device, metric, p)
        )
        router.add(t.inventory("+"), lambda device, p, *_: self._inventory(device, p))
        router.add(t.device_status("+"), partial(self._availability, "availability", "device"))
        service = partial(self._availability, "service_availability", "service")
        router.add(t.service_status("+"), service)
        router.add(t.patient("+"), lambda device, p, *_: self._patient(device, p))
        router.add(
            t.manual_vitals("+", "+"), lambda user, metric, p, *_: self._manual(user, metric, p)
        )
        if self.open_alerts:
            # QoS 0: only the retained copy matters, which every subscribe brings again; on
            # NATS a QoS 1 subscription is one more JetStream consumer to create per connect.
            router.add(self.open_alerts, lambda p, *_: self._seed(p), qos=0)
        return router

    def _manual(self, username: str, metric: str, payload: bytes) -> Outcome:
        """Typed in: the topic says whose reading it is, no assignment needed."""
        _check_patient(username)
        return self._vitals(manual_device(username), metric, payload, patient=username)

    def _vitals(
        self, device: str, metric: str, payload: bytes, patient: str | None = None
    ) -> Outcome:
        body = _json_object(payload)
        value = _finite_number(body.get("value"))
        if body.get("metric", metric) != metric:
            raise Dropped(f"metric {body.get('metric')!r} does not match the topic's {metric!r}")
        ts_ms = _ts_ms(body.get("ts"))
        patient = patient or self.patients.get(device)
        reason = flag_reason(metric, value)
        point = (
            Point("vitals")
            .tag("device", device)
            .tag("patient", patient)
            .tag("metric", metric)
            .field("value", value)
            .field("flagged", reason is not None)
            .time(ts_ms, WritePrecision.MS)
        )
        if reason:
            point.field("reason", reason)
        out = Outcome([point.to_line_protocol()])
        if reason:
            logs.event(log, logging.INFO, "reading.flagged", device=device, reason=reason)
            return out  # implausible readings never raise clinical alerts
        self._fed = True
        out.alerts = self.tracker.observe(device, metric, value, ts_ms, patient)
        out.lines += [alert_line(a) for a in out.alerts]
        score = self.tracker.score(device) if metric in NEWS2_BANDS else None
        if score is not None:
            news = (
                Point("news2_partial")
                .tag("device", device)
                .tag("patient", patient)
                .field("score", score.total)
                .field("risk", score.risk)
                .field("label", PARTIAL_NEWS2_LABEL)
                .time(ts_ms, WritePrecision.MS)
            )
            for name, points in score.points.items():
                news.field(f"{name}_points", points)
            out.lines.append(news.to_line_protocol())
        return out

    def _inventory(self, device: str, payload: bytes) -> Outcome:
        body = _json_object(payload)
        items = body.get("items")
        if not isinstance(items, dict):
            raise Dropped("inventory has no 'items' object")
        ts_ms = _ts_ms(body.get("ts"))
        lines = []
        for name, count in items.items():
            if type(count) is not int or count < 0 or not isinstance(name, str) or not name:
                raise Dropped(f"inventory item {name!r}: {count!r} is not a count")
            point = (
                Point("inventory")
                .tag("device", device)
                .tag("patient", self.patients.get(device))
                .tag("item", name)
                .field("count", count)
                .time(ts_ms, WritePrecision.MS)
            )
            lines.append(point.to_line_protocol())
        return Outcome(lines)

    def _availability(
        self, measurement: str, tag: str, name: str, payload: bytes, retain: bool, dup: bool
    ) -> Outcome:
        state = payload.decode("utf-8", "replace").strip()
        if state not in (ONLINE, OFFLINE):
            raise Dropped(f"status {state[:20]!r} is neither online nor offline")
        key = f"{tag}:{name}"
        # Retained and redelivered copies repeat a state we may already have
        # stored; only a live message is certainly a new transition.
        if (retain or dup) and self.availability.get(key) == state:
            return Outcome()
        self.availability[key] = state
        self._dirty = True
        point = Point(measurement).tag(tag, name)
        if tag == "device":
            point.tag("kind", device_kind(name)).tag("patient", self.patients.get(name))
        point.field("online", state == ONLINE).field("state", state)
        point.time(now_ms(), WritePrecision.MS)
        return Outcome([point.to_line_protocol()])

    def _patient(self, device: str, payload: bytes) -> Outcome:
        try:
            patient = payload.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise Dropped("patient id is not UTF-8") from exc
        _check_patient(patient)
        if patient:
            if self.patients.get(device) != patient:
                self.patients[device] = patient
                self._dirty = True
        elif device in self.patients:
            del self.patients[device]
            self._dirty = True
        logs.event(log, logging.INFO, "device.patient", device=device, patient=patient or "-")
        return Outcome()

    def _seed(self, payload: bytes) -> Outcome:
        """Another recorder's open conditions (retained): taken when newer than our own."""
        try:
            state = json.loads(payload) if payload else {}
            saved_ms = int(state.get("saved_ms", 0)) if isinstance(state, dict) else 0
        except (UnicodeDecodeError, ValueError, TypeError) as exc:
            raise Dropped(f"open alerts are not a JSON object: {exc}") from exc
        if saved_ms <= self.alerts["saved_ms"]:
            return Outcome()  # our own (the echo of what we published), or older
        if self._fed:
            # Readings have moved our conditions on already: mixing in an older view would
            # raise or clear on state that is not this recorder's.
            logs.event(log, logging.WARNING, "recorder.open_alerts_late", saved_ms=saved_ms)
            return Outcome()
        try:
            self.tracker.load(state)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise Dropped(f"open alerts are malformed: {exc}") from exc
        self.alerts, self._dirty = {**state, "saved_ms": saved_ms}, True
        logs.event(
            log,
            logging.INFO,
            "recorder.open_alerts_taken",
            open=len(state.get("open", [])),
            saved_ms=saved_ms,
        )
        return Outcome()

    def save(self, alerts: bool = True) -> str | None:
        """Persist the state once the points that depend on it are durable.

        Returns the open conditions (JSON) when they changed, to publish retained.
        ``alerts=False``: the broker has not taken the alerts yet; keep the old conditions.
        """
        changed = self.tracker.changed and alerts
        if not (self._dirty or changed):
            return None
        if changed:
            # Later than what it follows, even on a host whose clock is a little behind the
            # recorder it took over from: the newer copy wins at the next start.
            saved_ms = max(now_ms(), self.alerts["saved_ms"] + 1)
            self.alerts = {"saved_ms": saved_ms, **self.tracker.dump()}
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        state = {"patients": self.patients, "availability": self.availability}
        tmp.write_text(json.dumps({**state, "alerts": self.alerts}))
        os.replace(tmp, self.state_file)
        self._dirty = False
        return json.dumps(self.alerts) if changed else None

    def _load(self) -> None:
        try:
            state = json.loads(self.state_file.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            logs.event(log, logging.WARNING, "recorder.state_unreadable", error=exc)
            return
        self.patients = dict(state.get("patients", {}))
        self.availability = dict(state.get("availability", {}))
        alerts = state.get("alerts")  # absent in files from before alerts were kept
        if alerts is None:
            return
        try:
            self.tracker.load(alerts)
            self.alerts = {**alerts, "saved_ms": int(alerts.get("saved_ms", 0))}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            logs.event(log, logging.WARNING, "recorder.state_unreadable", error=exc)


def _check_patient(patient: str) -> None:
    if len(patient) > MAX_PATIENT_LEN or any(ord(c) < 32 for c in patient):
        raise Dropped("patient id too long or has control characters")


def _json_object(payload: bytes) -> dict:
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Dropped(f"payload is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise Dropped("payload is not a JSON object")
    return body


def _finite_number(value: object) -> float:
    if type(value) not in (int, float):
        raise Dropped(f"vitals value {value!r} is not a finite number")
    try:
        number = float(value)
    except OverflowError as exc:
        # JSON integers have no size limit; the reason leaves out its hundreds of digits.
        raise Dropped("vitals value is an integer too large for a float") from exc
    if not math.isfinite(number):
        raise Dropped(f"vitals value {value!r} is not a finite number")
    return number


def _ts_ms(ts: object) -> int:
    if not isinstance(ts, str):
        raise Dropped(f"ts {ts!r} is not an RFC 3339 string")
    try:
        moment = parse_rfc3339(ts)
    except OverflowError as exc:  # e.g. 0001-01-01T00:00+14:00 is before year 1 in UTC
        raise Dropped(f"ts {ts!r} is out of range in UTC: {exc}") from exc
    except ValueError as exc:
        raise Dropped(f"ts {ts!r} is not RFC 3339: {exc}") from exc
    return (moment - EPOCH) // timedelta(milliseconds=1)  # exact: no float rounding
