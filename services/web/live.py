"""Live updates: one MQTT subscription in the web process, fanned out to SSE listeners.

The Hub owns every piece of shared state here (listeners, device -> patient map,
availability) behind one lock; paho's network thread writes, request threads read
snapshots. Each listener has its own bounded queue: a slow browser loses its
stream (and reloads its data) instead of holding up everyone else.
"""

import contextlib
import json
import logging
import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from services.common import logs
from services.common.errors import MqttError
from services.common.mqtt import MqttClient
from services.common.protocol import METRIC_UNITS
from services.common.quality import flag_reason
from services.common.settings import MqttSettings
from services.common.timeutil import now_ms, rfc3339_ms
from services.common.topics import OFFLINE, ONLINE, Topics

from .errors import WebError

log = logging.getLogger(__name__)

QUEUE_SIZE = 200
PER_SESSION = 4
REPORTS_FOLLOWED = 1000
MANUAL_PREFIX = "manual-"


class TooManyListeners(WebError):
    """The web process already serves as many live streams as it is configured for."""


@dataclass(eq=False)
class Listener:
    """One SSE stream's queue of (event, data) pairs."""

    patient: str
    session: str = ""
    opened: int = 0  # order of opening, to find a session's oldest stream
    events: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=QUEUE_SIZE))
    overflowed: bool = False
    closed: bool = False

    def offer(self, event: str, data: dict) -> None:
        if self.overflowed:
            return
        try:
            self.events.put_nowait((event, data))
        except queue.Full:
            self.overflowed = True

    def close(self) -> None:
        self.closed = True
        with contextlib.suppress(queue.Full):
            self.events.put_nowait(("close", {}))


@dataclass(eq=False)
class CommandWaiter:
    """A request thread waiting for a device's answer to one command."""

    cmd: str
    done: threading.Event = field(default_factory=threading.Event)
    result: dict | None = None


def manual_device(username: str) -> str:
    return f"{MANUAL_PREFIX}{username}"


class Hub:
    """The web process's broker connection and its live listeners."""

    def __init__(
        self,
        settings: MqttSettings,
        max_listeners: int,
        assignments: Callable[[], Iterable[tuple[str, str | None]]] = list,
        gallery=None,
        on_audit: Callable[[dict], None] | None = None,
    ) -> None:
        self.topics = Topics(settings.topic_root)
        self.max_listeners = max_listeners
        self._assignments = assignments
        self._lock = threading.Lock()
        self._listeners: set[Listener] = set()
        self._opened = 0
        self._patients: dict[str, str] = {}
        self._device_state: dict[str, str] = {}
        self._gateway = OFFLINE
        self._inventory: dict[str, dict] = {}
        self._waiters: dict[str, list[CommandWaiter]] = {}
        self._reports: dict[str, dict] = {}
        self.gallery = gallery
        self._on_audit = on_audit
        t = self.topics
        self.client = MqttClient(
            settings,
            "web",
            subscriptions=[
                (t.vitals("+", "+"), 1),
                (t.manual_vitals("+", "+"), 1),
                (t.device_status("+"), 1),
                (t.device("+", "patient"), 1),
                (t.service_status("gateway"), 1),
                (f"{t.root}/alerts/devices/+", 1),
                (t.inventory("+"), 1),
                (t.image("+"), 1),
                (t.cmd_result("+"), 1),
                (f"{t.root}/reports/progress/+", 1),
                (f"{t.root}/reports/results/+", 1),
                (f"{t.root}/reports/audit", 1),
            ],
            on_message=self._on_message,
            on_connected=self._republish_assignments,
        )

    def start(self) -> None:
        self.client.start()

    def stop(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener.close()
        self.client.stop()

    # listeners -----------------------------------------------------------------

    def listen(self, patient: str, session: str = "") -> Listener:
        """A new stream; past PER_SESSION the session's oldest stream is closed for it."""
        evicted = None
        with self._lock:
            mine = [x for x in self._listeners if session and x.session == session]
            # A few tabs per session are normal; more would starve other people's streams.
            # The server only notices a page that was left at its next write, so a
            # session's newest page replaces its oldest stream instead of being refused.
            if len(mine) >= PER_SESSION:
                evicted = min(mine, key=lambda x: x.opened)
                self._listeners.discard(evicted)
            if len(self._listeners) >= self.max_listeners:
                raise TooManyListeners("too many live streams")
            self._opened += 1
            listener = Listener(patient, session, opened=self._opened)
            self._listeners.add(listener)
        if evicted is not None:
            evicted.close()
        return listener

    def end_session(self, session: str) -> None:
        """Close the streams opened by a session that just signed out."""
        with self._lock:
            ending = [x for x in self._listeners if x.session == session]
        for listener in ending:
            listener.close()

    def listener_count(self) -> int:
        with self._lock:
            return len(self._listeners)

    def forget(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.discard(listener)

    def _fan_out(self, patient: str | None, event: str, data: dict) -> None:
        if not patient:
            return
        with self._lock:
            targets = [x for x in self._listeners if x.patient == patient]
        for listener in targets:
            listener.offer(event, data)

    # state for pages -------------------------------------------------------------

    def device_states(self, devices: Iterable[str]) -> dict[str, str]:
        """``online``, ``offline`` or ``unknown`` per device, by the availability rule."""
        with self._lock:
            gateway = self._gateway
            states = dict(self._device_state)
        out = {}
        for device in devices:
            state = states.get(device)
            if state is None:
                out[device] = "unknown"
            else:
                out[device] = ONLINE if state == ONLINE and gateway == ONLINE else OFFLINE
        return out

    # publishing ------------------------------------------------------------------

    def _require_broker(self) -> None:
        if not self.client.connected:
            raise MqttError("the message broker is not reachable")

    def assign(self, device: str, patient: str | None) -> None:
        """Tell the recorder (retained) which patient a device's readings belong to."""
        self.client.publish(self.topics.device(device, "patient"), patient or "", retain=True)

    def publish_manual(self, username: str, metric: str, value: float, ts_ms: int) -> dict:
        """A hand-entered reading, as the gateway would have published it.

        Raises MqttError while the broker is away, rather than keep the reading only
        in this process's memory and answer as if it were saved.
        """
        self._require_broker()
        device = manual_device(username)
        body = {
            "device": device,
            "metric": metric,
            "value": value,
            "unit": METRIC_UNITS[metric],  # the units the gateway's readings carry
            "ts": rfc3339_ms(ts_ms),
        }
        # their own topic space: the web's broker account may not speak for a device
        self.client.publish(self.topics.manual_vitals(username, metric), json.dumps(body))
        return body

    # MQTT side ---------------------------------------------------------------------

    def _republish_assignments(self) -> None:
        try:
            for device, patient in self._assignments():
                self.assign(device, patient)
        except Exception as exc:  # the broker connection must survive a database hiccup
            logs.event(log, logging.ERROR, "web.assignments_not_published", error=exc)

    def _on_message(self, message: mqtt.MQTTMessage) -> None:
        topic = message.topic
        if topic == self.topics.service_status("gateway"):
            self._set_gateway(message.payload.decode("ascii", "replace").strip())
            return
        if topic.startswith(f"{self.topics.root}/alerts/"):
            self._alert(message.payload)
            return
        if topic.startswith(f"{self.topics.root}/reports/"):
            self._report(topic, message.payload)
            return
        manual = self.topics.parse_manual(topic)
        if manual is not None:
            username, metric = manual
            self._reading(manual_device(username), metric, message.payload, username)
            return
        parsed = self.topics.parse_device(topic)
        if parsed is None:
            return
        device, rest = parsed
        if rest == ("patient",):
            patient = message.payload.decode("utf-8", "replace").strip()
            with self._lock:
                if patient:
                    self._patients[device] = patient
                else:
                    self._patients.pop(device, None)
        elif rest == ("status",):
            self._set_device(device, message.payload.decode("ascii", "replace").strip())
        elif len(rest) == 2 and rest[0] == "vitals":
            self._reading(device, rest[1], message.payload)
        elif rest == ("inventory",):
            self._inventory_report(device, message.payload)
        elif rest == ("image",):
            self._image(device, message.payload, message.retain)
        elif rest == ("cmd", "result"):
            self._cmd_result(device, message.payload)

    def patient_of(self, device: str) -> str | None:
        with self._lock:
            return self._patients.get(device)

    def _reading(
        self, device: str, metric: str, payload: bytes, patient: str | None = None
    ) -> None:
        try:
            body = json.loads(payload)
            value = float(body["value"])
            ts = str(body.get("ts") or rfc3339_ms(now_ms()))
        except (ValueError, KeyError, TypeError):
            return
        reason = flag_reason(metric, value)
        data = {
            "device": device,
            "metric": metric,
            "value": value,
            "ts": ts,
            "flagged": reason is not None,
            "reason": reason,
        }
        self._fan_out(patient or self.patient_of(device), "reading", data)

    def _set_device(self, device: str, state: str) -> None:
        if state not in (ONLINE, OFFLINE):
            return
        with self._lock:
            self._device_state[device] = state
        shown = self.device_states([device])[device]
        self._fan_out(self.patient_of(device), "status", {"device": device, "state": shown})

    def _set_gateway(self, state: str) -> None:
        if state not in (ONLINE, OFFLINE):
            return
        with self._lock:
            self._gateway = state
            by_patient: dict[str, list[str]] = {}
            for device, patient in self._patients.items():
                by_patient.setdefault(patient, []).append(device)
        for patient, devices in by_patient.items():
            for device, shown in self.device_states(devices).items():
                self._fan_out(patient, "status", {"device": device, "state": shown})

    def _alert(self, payload: bytes) -> None:
        try:
            body = json.loads(payload)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        patient = body.get("patient") or self.patient_of(str(body.get("device", "")))
        self._fan_out(patient, "alert", body)

    # cabinet, camera, commands ------------------------------------------------------

    def inventory(self, device: str) -> dict | None:
        """The device's last inventory report ``{"items", "ts"}``, if one arrived."""
        with self._lock:
            found = self._inventory.get(device)
            return dict(found) if found else None

    def _inventory_report(self, device: str, payload: bytes) -> None:
        try:
            body = json.loads(payload)
            items = {str(k): int(v) for k, v in body["items"].items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            return
        report = {"device": device, "items": items, "ts": body.get("ts")}
        with self._lock:
            self._inventory[device] = report
        self._fan_out(self.patient_of(device), "inventory", report)

    def _image(self, device: str, payload: bytes, retained: bool) -> None:
        # A retained frame (delivered when the web subscribes) may predate the camera's
        # current assignment, and has no capture time to tell: only fresh frames are
        # kept, each for the patient the camera belongs to as it arrives.
        owner = self.patient_of(device)
        if self.gallery is None or not payload or retained or owner is None:
            return
        try:
            frame = self.gallery.save(owner, device, payload)
        except OSError as exc:  # a full disk must not stop live updates
            logs.event(log, logging.ERROR, "web.snapshot_not_saved", device=device, error=exc)
            return
        if frame is not None:
            self._fan_out(owner, "image", frame)

    def command(self, device: str, cmd: str, timeout: float) -> dict | None:
        """Send a command; the gateway's ``cmd/result`` for it, or None if none came in time.

        Raises MqttError while the broker is away: paho would queue the command and
        deliver it whenever the broker returns, a light switched long after the click.
        """
        self._require_broker()
        waiter = CommandWaiter(cmd)
        with self._lock:
            self._waiters.setdefault(device, []).append(waiter)
        try:
            self.client.publish(self.topics.cmd(device), cmd)
            waiter.done.wait(timeout)
        finally:
            with self._lock:
                waiting = self._waiters.get(device, [])
                if waiter in waiting:
                    waiting.remove(waiter)
        return waiter.result

    def _cmd_result(self, device: str, payload: bytes) -> None:
        try:
            body = json.loads(payload)
            result = {
                "device": device,
                "cmd": str(body["cmd"]),
                "ok": bool(body["ok"]),
                "error": body.get("error"),
            }
        except (ValueError, KeyError, TypeError):
            return
        with self._lock:
            waiting = self._waiters.get(device, [])
            waiter = next((w for w in waiting if w.cmd == result["cmd"]), None)
            if waiter is not None:
                waiting.remove(waiter)
        if waiter is not None:
            waiter.result = result
            waiter.done.set()
        self._fan_out(self.patient_of(device), "command", result)

    # reports -----------------------------------------------------------------------

    def request_report(self, body: dict) -> None:
        with self._lock:
            asked = {"id": body["id"], "stage": "sent", "patient": body["patient"]}
            self._reports[body["id"]] = asked
            # Followed in memory only while fresh; the reporter's stored result answers later.
            while len(self._reports) > REPORTS_FOLLOWED:
                self._reports.pop(next(iter(self._reports)))
        self.client.publish(f"{self.topics.root}/reports/requests", json.dumps(body))

    def report_state(self, report_id: str) -> dict | None:
        with self._lock:
            found = self._reports.get(report_id)
            return dict(found) if found else None

    def _report(self, topic: str, payload: bytes) -> None:
        parts = topic[len(self.topics.root) + 1 :].split("/")
        if parts == ["reports", "audit"]:
            self._report_audit(payload)
            return
        if len(parts) != 3 or parts[1] not in ("progress", "results"):
            return
        try:
            body = json.loads(payload)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        report_id = parts[2]
        with self._lock:
            # Only requests this process sent are followed; others are someone else's.
            if report_id not in self._reports:
                return
            if parts[1] == "results":
                asked = self._reports[report_id]
                self._reports[report_id] = {**body, "patient": asked["patient"], "stage": "done"}
            elif self._reports[report_id].get("stage") != "done":
                self._reports[report_id]["stage"] = str(body.get("stage", "accepted"))

    def _report_audit(self, payload: bytes) -> None:
        """The reporter's verdicts on doctors' requests, handed to the web's audit log."""
        if self._on_audit is None:
            return
        try:
            body = json.loads(payload)
            entry = {
                "at": int(body["at"]),
                "role": str(body["actor"]["role"]),
                "actor": str(body["actor"]["id"]),
                "patient": str(body["patient"]),
                "action": str(body["action"]),
                "ok": bool(body["ok"]),
                "error": body.get("error"),
            }
        except (ValueError, KeyError, TypeError):
            return
        try:
            self._on_audit(entry)
        except Exception as exc:  # the broker connection must survive a database hiccup
            logs.event(log, logging.ERROR, "web.report_audit_not_saved", error=exc)
