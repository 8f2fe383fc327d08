"""A paho subscriber that records every message, for assertions."""

import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class Recorder:
    """Subscribes to ``topics`` and keeps every message it receives."""

    def __init__(self, host: str, port: int, topics=("#",), client_id=None, clean=True):
        self.host, self.port = host, port
        self.messages: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._topics = list(topics)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
            clean_session=clean,
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)

    def __enter__(self) -> "Recorder":
        self.client.connect(self.host, self.port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("test subscriber could not subscribe")
        return self

    def __exit__(self, *exc) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        for topic in self._topics:
            client.subscribe(topic, qos=1)

    def _on_message(self, client, userdata, message):
        with self._lock:
            self.messages.append(message)

    def on(self, topic: str) -> list[mqtt.MQTTMessage]:
        with self._lock:
            return [m for m in self.messages if mqtt.topic_matches_sub(topic, m.topic)]

    def payloads(self, topic: str) -> list[bytes]:
        return [bytes(m.payload) for m in self.on(topic)]

    def wait(self, topic: str, count: int = 1, timeout: float = 10.0, where=None):
        """Wait for ``count`` messages on ``topic`` (matching ``where``) and return them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.on(topic) if where is None or where(m)]
            if len(found) >= count:
                return found
            if time.monotonic() > deadline:
                seen = sorted({m.topic for m in self.messages})
                raise AssertionError(
                    f"got {len(found)}/{count} on {topic} in {timeout} s; topics seen: {seen}"
                )
            time.sleep(0.02)

    def publish(self, topic: str, payload, qos: int = 1, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=qos, retain=retain)
        info.wait_for_publish(5)
        assert info.is_published(), f"test publish to {topic} failed"
