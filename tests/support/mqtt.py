"""A paho subscriber that logs every message on its topics, for assertions."""

import threading
import time
import uuid

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion


class TopicLog:
    """Subscribes to ``topics`` and keeps every message it receives, in order.

    Entering returns only once the broker has acknowledged every subscription (its SUBACK),
    so nothing published afterwards can be missed.
    """

    def __init__(self, host: str, port: int, topics=("#",), client_id=None, clean=True):
        self.host, self.port = host, port
        self.messages: list[mqtt.MQTTMessage] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._pending_mid: int | None = None
        self._refused: list[str] = []
        self._topics = list(topics)
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"test-{uuid.uuid4().hex[:8]}",
            clean_session=clean,
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)

    def __enter__(self) -> "TopicLog":
        self.client.connect(self.host, self.port, keepalive=10)
        self.client.loop_start()
        if not self._subscribed.wait(10):
            self.__exit__()
            raise TimeoutError(f"the broker did not acknowledge subscribing to {self._topics}")
        if self._refused:
            self.__exit__()
            raise AssertionError(f"the broker refused the subscriptions {self._refused}")
        return self

    def __exit__(self, *exc) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        # One SUBSCRIBE for every topic: one SUBACK, with a code per topic, says all are in place.
        # on_connect and on_subscribe both run on the network thread, so the mid is set first.
        _, self._pending_mid = client.subscribe([(topic, 1) for topic in self._topics])

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties):
        if mid != self._pending_mid:
            return
        self._refused = [
            t for t, code in zip(self._topics, reason_codes, strict=True) if code.is_failure
        ]
        self._subscribed.set()

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
