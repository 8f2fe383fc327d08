"""A plain connection to the broker for the demo's seeding: publish, and watch retained state.

Not ``services.common.mqtt.MqttClient``: that one announces a service's availability
(``services/<name>/status``), and the seeding is no service that anyone should watch
go offline.
"""

import threading
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from services.common.settings import MqttSettings

from .accounts import DemoError


class Broker:
    """Connected on creation; ``close()`` when done."""

    def __init__(self, settings: MqttSettings, timeout: float = 15.0) -> None:
        self.retained: dict[str, bytes] = {}
        self._lock = threading.Lock()
        self._connected = threading.Event()
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        if settings.username:
            client.username_pw_set(settings.username, settings.password)
        if settings.tls_ca:
            client.tls_set(ca_certs=settings.tls_ca)
        client.max_inflight_messages_set(1000)  # a month of readings, not 20 at a time
        client.on_connect = lambda *_: self._connected.set()
        client.on_message = self._message
        self.client = client
        client.connect_async(settings.host, settings.port, settings.keepalive)
        client.loop_start()
        if not self._connected.wait(timeout):
            self.close()
            raise DemoError(f"the broker at {settings.host}:{settings.port} did not answer")

    def _message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.retained[message.topic] = bytes(message.payload)

    def watch(self, topic: str) -> None:
        self.client.subscribe(topic, qos=1)

    def wait_for(self, topic: str, payload: bytes, timeout: float) -> bool:
        """Whether ``topic`` (subscribed with ``watch``) holds ``payload`` within ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self.retained.get(topic) == payload:
                    return True
            time.sleep(0.1)
        return False

    def publish(self, topic: str, payload: str | bytes) -> mqtt.MQTTMessageInfo:
        info = self.client.publish(topic, payload, qos=1)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise DemoError(f"publish to {topic} failed: {mqtt.error_string(info.rc)}")
        return info

    def flush(self, infos: list[mqtt.MQTTMessageInfo], timeout: float) -> None:
        """Wait until the broker has every message of ``infos``."""
        deadline = time.monotonic() + timeout
        for info in infos:
            info.wait_for_publish(max(0.1, deadline - time.monotonic()))
            if not info.is_published():
                raise DemoError("the broker did not take the demo's history in time")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
