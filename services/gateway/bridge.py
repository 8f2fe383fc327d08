"""The gateway's MQTT side: device events out on the topics of docs/topics.md, commands in."""

import asyncio
import json
import logging
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from services.common import logs
from services.common.alerts import SECURITY, Alert
from services.common.errors import MqttError, PublishQueueFull
from services.common.mqtt import MqttClient
from services.common.protocol import Reading
from services.common.timeutil import now_ms, rfc3339_ms
from services.common.topics import OFFLINE, ONLINE, vitals_body

log = logging.getLogger(__name__)

CommandHandler = Callable[[str, bytes, bool], None]
BACKPRESSURE_POLL = 0.005  # seconds between looks at a saturated MQTT queue


class Bridge:
    """Publishes what devices say; hands MQTT commands to the fleet.

    Incoming messages are routed (``MqttClient.route``) to the ``dispatch``
    callable (the gateway gives ``loop.call_soon``), so the fleet's state is only
    touched by the event loop's own callbacks, never from inside paho's packet handling.
    """

    def __init__(self, client: MqttClient, queue_size: int) -> None:
        self.client = client
        self.high_water = max(1, queue_size // 2)
        self.topics = client.topics
        self.dropped = 0
        self._overflow_logged = 0.0
        self._overflowing = False
        self._on_command: CommandHandler | None = None
        self._cluster = None  # services/gateway/cluster.py, given by attach()
        self._dispatch: Callable[..., object] | None = None
        self._room: asyncio.Future | None = None  # the one poll every held-back device awaits
        # Home Assistant discovery (services/gateway/discovery.py), when HA_DISCOVERY is on
        self.discovery = None
        # device -> patient, from the web's retained assignments: an alert names its patient
        self.patients: dict[str, str] = {}
        # device -> firmware version on record: the retained ones, and what this gateway sent
        self.firmware_versions: dict[str, str] = {}

    def attach(self, on_command: CommandHandler, cluster, dispatch) -> None:
        """Route commands to the fleet and the gateways' records to ``cluster`` via ``dispatch``."""
        self._on_command, self._cluster, self._dispatch = on_command, cluster, dispatch
        # The holder records and the gateways' statuses first: a starting gateway then has
        # them when the retained device statuses arrive.
        self.client.route(self.topics.all_device_gateways, self._holder, qos=1)
        if cluster.named:
            self.client.route(self.topics.all_service_status, self._service_status, qos=1)
        self.client.route(self.topics.all_cmds, self._command, qos=1)
        if cluster.named:  # the commands sent to this gateway alone (docs/topics.md)
            self.client.route(self.topics.gateway_cmds(cluster.me), self._own_command, qos=1)
        self.client.route(self.topics.all_device_status, self._device_status, qos=1)
        self.client.route(self.topics.patient("+"), self._patient, qos=1)
        self.client.route(self.topics.firmware("+"), self._firmware, qos=1)

    def _patient(self, device_id: str, message: mqtt.MQTTMessage) -> None:
        patient = bytes(message.payload).decode("utf-8", "replace").strip()
        if patient:
            self.patients[device_id] = patient
        else:
            self.patients.pop(device_id, None)

    def _firmware(self, device_id: str, message: mqtt.MQTTMessage) -> None:
        self._firmware_on_record(device_id, bytes(message.payload).decode("utf-8", "replace"))

    def _firmware_on_record(self, device_id: str, version: str) -> None:
        if version.strip():
            self.firmware_versions[device_id] = version.strip()
        else:
            self.firmware_versions.pop(device_id, None)

    def _command(self, device_id: str, message: mqtt.MQTTMessage) -> None:
        self._dispatch(self._on_command, device_id, bytes(message.payload))

    def _own_command(self, device_id: str, message: mqtt.MQTTMessage) -> None:
        self._dispatch(self._on_command, device_id, bytes(message.payload), True)

    def _device_status(self, device_id: str, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        # Alone, only a retained "online" matters (one left over from a gateway that died);
        # among several, every status does (services/gateway/cluster.py).
        if self._cluster.named or (message.retain and payload == ONLINE.encode()):
            self._dispatch(self._cluster.on_status, device_id, payload, message.retain)

    def _holder(self, device_id: str, message: mqtt.MQTTMessage) -> None:
        self._dispatch(self._cluster.on_holder, device_id, bytes(message.payload), message.retain)

    def _service_status(self, name: str, message: mqtt.MQTTMessage) -> None:
        self._dispatch(self._cluster.on_service, name, bytes(message.payload))

    def saturated(self) -> bool:
        """True while the broker is up but more than half the queue is unacknowledged.

        The fleet then stops reading from devices until it drains, so a burst
        is held back by TCP instead of overflowing the queue. While the broker
        is away the queue is the buffer, and overflow is counted and logged.
        """
        return self.client.connected and self.client.backlog > self.high_water

    async def room(self) -> None:
        """Wait until the queue is no longer saturated.

        Every device held back waits on one shared poll: thousands of devices each
        polling on their own would cost more CPU than the queue takes to drain.
        """
        while self.saturated():
            if self._room is None:
                self._room = asyncio.ensure_future(self._poll_room())
            await asyncio.shield(self._room)

    async def _poll_room(self) -> None:
        try:
            while self.saturated():
                await asyncio.sleep(BACKPRESSURE_POLL)
        finally:
            self._room = None

    def status(self, device_id: str, online: bool) -> None:
        self._publish(
            self.topics.device_status(device_id), ONLINE if online else OFFLINE, retain=True
        )

    def holder(self, device_id: str, body: str) -> None:
        """Record, retained, which gateway holds the device (empty: none)."""
        self._publish(self.topics.device_gateway(device_id), body, retain=True)

    def firmware(self, device_id: str, version: str | None) -> None:
        """Publish, retained, the firmware version the device reported in its hello.

        A board that reports none (the prototype's firmware) clears the version on record,
        one a board with ours left, so the dose tracker sends it only commands the
        prototype knows; with none on record there is nothing to clear, and a prototype
        board registering again and again publishes nothing.
        """
        if not version and device_id not in self.firmware_versions:
            return
        self._publish(self.topics.firmware(device_id), version or "", retain=True)
        self._firmware_on_record(device_id, version or "")

    def announce(self, device_id: str, kind: str | None, version: str | None = None) -> None:
        """Publish the device's Home Assistant discovery configs, if discovery is on."""
        if self.discovery is not None:
            self.discovery.device_registered(device_id, kind, version)

    def vitals(self, device_id: str, reading: Reading, ts_ms: int) -> None:
        body = json.dumps(vitals_body(device_id, reading.metric, reading.value, ts_ms))
        self._publish(self.topics.vitals(device_id, reading.metric), body)
        if self.discovery is not None:
            # Home Assistant's state: retained, so HA knows each vital when it (re)starts;
            # vitals itself is not, its subscribers take every message as a new reading
            self._publish(self.topics.latest(device_id, reading.metric), body, retain=True)

    def inventory(self, device_id: str, items: dict[str, int], ts_ms: int) -> None:
        if self.discovery is not None:
            self.discovery.inventory(device_id, items)
        body = json.dumps({"items": items, "ts": rfc3339_ms(ts_ms)})
        self._publish(self.topics.inventory(device_id), body, retain=True)

    def image(self, device_id: str, jpeg: bytes) -> None:
        self._publish(self.topics.image(device_id), jpeg, retain=True)

    def cmd_result(self, device_id: str, cmd: str, ok: bool, error: str | None = None) -> None:
        body = json.dumps({"cmd": cmd, "ok": ok, "error": error})
        self._publish(self.topics.cmd_result(device_id), body)

    def replaced_alert(self, device_id: str, old_peer: str, peer: str) -> None:
        """Raise a security alert: a new connection took the id of a live one.

        From another address it is critical (a hijack looks like this); from the same
        address it is most likely the board itself reconnecting: a warning.
        """
        same_host = old_peer.rsplit(":", 1)[0] == peer.rsplit(":", 1)[0]
        alert = Alert(
            device_id,
            SECURITY,
            "connection_replaced",
            "warning" if same_host else "critical",
            f"a new connection from {peer} replaced the live one from {old_peer}",
            now_ms(),
            patient=self.patients.get(device_id),
        )
        self._publish(self.topics.device_alert(device_id), json.dumps(alert.as_json()))

    def publish_retained(self, topic: str, payload: str) -> None:
        self._publish(topic, payload, retain=True)

    def _publish(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        try:
            self.client.publish(topic, payload, qos=1, retain=retain)
        except PublishQueueFull:
            self.dropped += 1
            self._overflowing = True
            now = time.monotonic()
            if now - self._overflow_logged >= 1.0:  # one line a second, not one per message
                self._overflow_logged = now
                logs.event(
                    log,
                    logging.ERROR,
                    "mqtt.queue_overflow",
                    topic=topic,
                    dropped_total=self.dropped,
                )
        except MqttError as exc:
            self.dropped += 1
            logs.event(log, logging.ERROR, "mqtt.publish_failed", topic=topic, error=exc)
        else:
            if self._overflowing:
                self._overflowing = False
                logs.event(log, logging.WARNING, "mqtt.queue_recovered", dropped_total=self.dropped)
