"""Live updates: one MQTT connection in the web process, fanned out to SSE listeners.

The Hub wires the broker to small state holders, each with one job and its own
lock: the open streams (``live_listeners``), device assignments and availability
(``live_devices``), cabinets, cameras and commands (``live_cabinet``), and
reports (``live_reports``). paho's network thread writes through the topic
router below; request threads read snapshots.
"""

import json
import logging
from collections.abc import Callable, Iterable

import paho.mqtt.client as mqtt

from services.common import logs
from services.common.alerts import alert_text
from services.common.devices import MANUAL_PREFIX, UPDATE_COMMAND, manual_device
from services.common.errors import MqttError
from services.common.mqtt import MqttClient
from services.common.quality import flag_reason
from services.common.router import Router
from services.common.settings import MqttSettings
from services.common.timeutil import now_ms, rfc3339_ms
from services.common.topics import Topics, vitals_body

from .live_cabinet import CommandRoundTrips, CommandWaiter, GalleryWriter, InventoryCache
from .live_devices import Assignments, Availability
from .live_listeners import PER_SESSION, QUEUE_SIZE, Listener, Listeners, TooManyListeners
from .live_reports import REPORTS_FOLLOWED, AuditForwarder, ReportTracker
from .verdicts import group_of

__all__ = [
    "MANUAL_PREFIX",
    "PER_SESSION",
    "QUEUE_SIZE",
    "REPORTS_FOLLOWED",
    "CommandWaiter",
    "Hub",
    "Listener",
    "TooManyListeners",
    "manual_device",
]

log = logging.getLogger(__name__)


def _text(message: mqtt.MQTTMessage, encoding: str = "ascii") -> str:
    return message.payload.decode(encoding, "replace").strip()


def reading_event(device: str, metric: str, payload: bytes) -> dict | None:
    """A vitals message as the browser gets it, flagged by the quality rule; None if malformed."""
    try:
        body = json.loads(payload)
        value = float(body["value"])
        ts = str(body.get("ts") or rfc3339_ms(now_ms()))
    except (ValueError, KeyError, TypeError):
        return None
    reason = flag_reason(metric, value)
    return {
        "device": device,
        "metric": metric,
        "value": value,
        "ts": ts,
        "flagged": reason is not None,
        "reason": reason,
    }


class Hub:
    """The web process's broker connection and its live listeners."""

    def __init__(
        self,
        settings: MqttSettings,
        max_listeners: int,
        assignments: Callable[[], Iterable[tuple[str, str | None]]] = list,
        gallery=None,
        on_audit: Callable[[dict], None] | None = None,
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self.topics = Topics(settings.topic_root)
        self.max_listeners = max_listeners
        self._stored_assignments = assignments
        self.listeners = Listeners(max_listeners)
        self.assignments = Assignments()
        self.availability = Availability()
        self.inventories = InventoryCache()
        self.snapshots = GalleryWriter(gallery)
        self.commands = CommandRoundTrips()
        self.reports = ReportTracker()
        self.audit = AuditForwarder(on_audit)
        self.firmware_versions: dict[str, str] = {}  # device -> version it reported
        self.on_firmware: Callable[[str, str], None] | None = None
        self._on_connected = on_connected
        self.client = MqttClient(
            settings,
            "web",
            router=self._routes(),
            on_connected=self._connected,
        )

    def _routes(self) -> Router:
        """Each subscription and what becomes of its messages (paho's thread)."""
        t = self.topics
        router = Router()
        router.add(t.vitals("+", "+"), self._on_reading)
        router.add(t.manual_vitals("+", "+"), self._on_manual_reading)
        router.add(t.device_status("+"), self._on_device_status)
        router.add(t.patient("+"), self._on_assignment)
        router.add(t.device_gateway("+"), self._on_holder)
        router.add(t.all_service_status, self._on_service_status)
        router.add(t.device_alert("+"), self._on_alert)
        router.add(t.inventory("+"), self._on_inventory)
        router.add(t.image("+"), self._on_image)
        router.add(t.cmd_result("+"), self._on_cmd_result)
        router.add(t.firmware("+"), self._on_firmware)
        router.add(t.report_progress("+"), lambda rid, m: self.reports.progress(rid, m.payload))
        router.add(t.report_result("+"), lambda rid, m: self.reports.result(rid, m.payload))
        router.add(t.report_audit, lambda m: self.audit.forward(m.payload))
        return router

    def start(self) -> None:
        self.client.start()

    def stop(self) -> None:
        self.listeners.close_all()
        self.client.stop()

    # streams and state for pages ---------------------------------------------------

    def listen(self, patient: str, session: str = "", user: int | None = None) -> Listener:
        """A new stream; past a session's or user's share their oldest stream is closed."""
        return self.listeners.listen(patient, session, user)

    def end_session(self, session: str) -> None:
        """Close the streams opened by a session that just signed out."""
        self.listeners.end_session(session)

    def listener_count(self) -> int:
        return self.listeners.count()

    def forget(self, listener: Listener) -> None:
        self.listeners.forget(listener)

    def device_states(self, devices: Iterable[str]) -> dict[str, str]:
        """``online``, ``offline`` or ``unknown`` per device, by the availability rule."""
        return self.availability.states(devices)

    def patient_of(self, device: str) -> str | None:
        return self.assignments.patient_of(device)

    def inventory(self, device: str) -> dict | None:
        """The device's last inventory report ``{"items", "ts"}``, if one arrived."""
        return self.inventories.get(device)

    def report_state(self, report_id: str) -> dict | None:
        return self.reports.state(report_id)

    # publishing ------------------------------------------------------------------

    def _require_broker(self) -> None:
        if not self.client.connected:
            raise MqttError("the message broker is not reachable")

    def assign(self, device: str, patient: str | None) -> None:
        """Tell the recorder (retained) which patient a device's readings belong to."""
        self.client.publish(self.topics.patient(device), patient or "", retain=True)

    def publish_manual(self, username: str, metric: str, value: float, ts_ms: int) -> dict:
        """A hand-entered reading, as the gateway would have published it.

        Raises MqttError while the broker is away, rather than keep the reading only
        in this process's memory and answer as if it were saved.
        """
        self._require_broker()
        device = manual_device(username)
        body = vitals_body(device, metric, value, ts_ms)  # as the gateway builds it
        # their own topic space: the web's broker account may not speak for a device
        self.client.publish(self.topics.manual_vitals(username, metric), json.dumps(body))
        return body

    def command(self, device: str, cmd: str, timeout: float) -> dict | None:
        """Send a command; the gateway's ``cmd/result`` for it, or None if none came in time.

        Raises MqttError while the broker is away: paho would queue the command and
        deliver it whenever the broker returns, a light switched long after the click.
        """
        self._require_broker()
        topic = self.topics.cmd(device)
        return self.commands.send_and_wait(
            device, cmd, lambda: self.client.publish(topic, cmd), timeout
        )

    def offer_update(self, device: str) -> None:
        """Tell a board a firmware release waits for it (the gateway passes ``upd`` on)."""
        self.client.publish(self.topics.cmd(device), UPDATE_COMMAND, qos=1)

    def _on_firmware(self, device: str, message: mqtt.MQTTMessage) -> None:
        version = _text(message)
        self.firmware_versions[device] = version
        if self.on_firmware is not None and version:
            self.on_firmware(device, version)

    def request_report(self, body: dict) -> None:
        self.reports.sent(body["id"], body["patient"])
        self.client.publish(self.topics.report_requests, json.dumps(body))

    def _connected(self) -> None:
        self._republish_assignments()
        if self._on_connected is not None:
            try:
                self._on_connected()
            except Exception as exc:  # the broker connection must survive a database hiccup
                logs.event(log, logging.ERROR, "web.on_connect_failed", error=exc)

    def _republish_assignments(self) -> None:
        try:
            for device, patient in self._stored_assignments():
                self.assign(device, patient)
        except Exception as exc:  # the broker connection must survive a database hiccup
            logs.event(log, logging.ERROR, "web.assignments_not_published", error=exc)

    # messages (paho's thread) --------------------------------------------------------

    def _fan_out_for(self, device: str, event: str, data: dict) -> None:
        self.listeners.fan_out(self.assignments.patient_of(device), event, data)

    def _on_reading(self, device: str, metric: str, message: mqtt.MQTTMessage) -> None:
        data = reading_event(device, metric, message.payload)
        if data is not None:
            self._fan_out_for(device, "reading", data)

    def _on_manual_reading(self, username: str, metric: str, message: mqtt.MQTTMessage) -> None:
        data = reading_event(manual_device(username), metric, message.payload)
        if data is not None:  # typed in: the topic names the patient
            self.listeners.fan_out(username, "reading", data)

    def _on_assignment(self, device: str, message: mqtt.MQTTMessage) -> None:
        self.assignments.set(device, _text(message, "utf-8"))

    def _on_device_status(self, device: str, message: mqtt.MQTTMessage) -> None:
        if self.availability.set_device(device, _text(message)):
            shown = self.availability.states([device])[device]
            self._fan_out_for(device, "status", {"device": device, "state": shown})

    def _on_holder(self, device: str, message: mqtt.MQTTMessage) -> None:
        if self.availability.set_holder(device, bytes(message.payload)):
            shown = self.availability.states([device])[device]
            if shown != "unknown":  # its status comes on its own
                self._fan_out_for(device, "status", {"device": device, "state": shown})

    def _on_service_status(self, name: str, message: mqtt.MQTTMessage) -> None:
        if not self.availability.set_service(name, _text(message)):
            return  # not a gateway's status, or not online/offline
        for patient, devices in self.assignments.by_patient().items():
            for device, shown in self.availability.states(devices).items():
                self.listeners.fan_out(patient, "status", {"device": device, "state": shown})

    def _on_alert(self, device: str, message: mqtt.MQTTMessage) -> None:
        try:
            body = json.loads(message.payload)
        except ValueError:
            return
        if not isinstance(body, dict):
            return
        patient = body.get("patient") or self.patient_of(str(body.get("device", "")))
        body["text"] = alert_text(body)
        body["card"] = group_of(str(body.get("key") or ""))
        self.listeners.fan_out(patient, "alert", body)

    def _on_inventory(self, device: str, message: mqtt.MQTTMessage) -> None:
        report = self.inventories.update(device, message.payload)
        if report is not None:
            self._fan_out_for(device, "inventory", report)

    def _on_image(self, device: str, message: mqtt.MQTTMessage) -> None:
        owner = self.patient_of(device)
        frame = self.snapshots.save(owner, device, message.payload, message.retain)
        if frame is not None:
            self.listeners.fan_out(owner, "image", frame)

    def _on_cmd_result(self, device: str, message: mqtt.MQTTMessage) -> None:
        result = self.commands.answer(device, message.payload)
        if result is not None:
            self._fan_out_for(device, "command", result)
