"""One active recorder and standbys, for brokers without shared subscriptions (NATS).

Every recorder in standby mode uses the same kept session (one client id), so whoever
holds it gets every message the broker kept, and no two hold it at once: MQTT lets
the newest connection with a client id push the older one off, so two holders would
take it from each other in turn. Who holds it is settled on a second, clean connection
(``announce=False``) through two retained topics:

* ``services/recorder/status``: the holder's ``online``, and ``offline`` by its last
  will or clean stop, which frees the session at once;
* ``services/recorder/leader``: the holder's claim, its instance id, published again
  every third of ``RECORDER_LEASE``. A claim not renewed for a whole lease frees the
  session too (a recorder that died with its broker node has no last will sent).

A standby that finds the session free claims it, waits a moment and takes it only if
the last claim it heard is its own: of two standbys claiming at once, the broker's
order picks one. A holder that hears another's claim after its own leaves (without
saying ``offline``), and so does one whose renewal is a whole lease late (it was
frozen or cut off, and a standby may hold the session by now): two holders last no
longer than a claim's round trip. The alert conditions the holder has open go over
retained too (``services/recorder/open_alerts``, records.py).
"""

import logging
import os
import socket
import threading
import time

import paho.mqtt.client as mqtt

from services.common import logs
from services.common.mqtt import MqttClient
from services.common.router import Router
from services.common.topics import OFFLINE, ONLINE, Topics

from .settings import Settings

log = logging.getLogger(__name__)

SERVICE = "recorder"


def instance_id() -> str:
    """This recorder among the others: its host and process."""
    return f"{socket.gethostname()}-{os.getpid()}"


class Standby:
    """Waits for this recorder's turn to hold the session, and keeps or gives it up."""

    def __init__(self, settings: Settings, instance: str | None = None) -> None:
        self.instance = instance or instance_id()
        self.lease = settings.lease
        self.settle = min(1.0, settings.lease / 4)
        topics = Topics(settings.mqtt.topic_root)
        self.leader_topic = topics.service_leader(SERVICE)
        self._lock = threading.Lock()
        self._claim: str | None = None  # the last claim heard, and when
        self._claim_at = 0.0
        self._status: str | None = None  # the holder's status, and when it came
        self._status_at = 0.0
        self._since = time.monotonic()
        router = Router()
        router.add(self.leader_topic, self._on_claim)
        router.add(topics.service_status(SERVICE), self._on_status)
        self.client = MqttClient(
            settings.mqtt,
            SERVICE,
            client_id=f"{settings.client_id}-watch-{self.instance}",
            router=router,
            announce=False,
            on_connected=self._connected,
        )

    def start(self) -> None:
        self.client.start()

    def stop(self) -> None:
        self.client.stop()

    # paho's thread -------------------------------------------------------------------

    def _connected(self) -> None:
        with self._lock:
            self._since = time.monotonic()  # retained claims and status come again

    def _on_claim(self, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self._claim = message.payload.decode("utf-8", "replace") or None
            self._claim_at = time.monotonic()

    def _on_status(self, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self._status = message.payload.decode("ascii", "replace")
            self._status_at = time.monotonic()

    # the recorder's thread -----------------------------------------------------------

    def _free(self) -> bool:
        """Nobody holds the session: never held, said offline, or its lease lapsed."""
        if self._claim == self.instance:
            return True
        if self._claim is None and self._status != ONLINE:
            return True  # no recorder has held it (or the last one stopped cleanly)
        if self._status == OFFLINE and self._claim_at <= self._status_at:
            return True  # its holder said offline, and nobody has claimed it since
        return time.monotonic() - max(self._claim_at, self._since) > self.lease

    def claim(self) -> None:
        self.client.publish(self.leader_topic, self.instance, qos=1, retain=True)

    def wait_turn(self, stop: threading.Event) -> bool:
        """Block until this recorder may hold the session; False when ``stop`` came first."""
        logs.event(log, logging.INFO, "recorder.standby", instance=self.instance)
        self.client.wait_connected(self.lease)
        while not stop.wait(self.settle):
            with self._lock:
                free = self.client.connected and self._free()
            if not free:
                continue
            self.claim()
            if stop.wait(self.settle):
                break
            with self._lock:
                won = self._claim == self.instance
            if won:
                logs.event(log, logging.INFO, "recorder.active", instance=self.instance)
                return True
        return False

    def hold(self, leave: threading.Event, stop: threading.Event) -> None:
        """While holding: renew the claim; set ``leave`` on ``stop``, on another's claim,
        or once a renewal is a lease late (frozen or cut off: a standby may hold it now)."""
        renew = self.lease / 3
        last = time.monotonic()  # the winning claim
        while not stop.wait(0.2):
            with self._lock:
                other = self._claim not in (None, self.instance)
            if other:
                logs.event(log, logging.WARNING, "recorder.demoted", holder=self._claim)
                break
            late = time.monotonic() - last
            if late > self.lease:
                logs.event(log, logging.WARNING, "recorder.lease_lapsed", seconds=round(late, 1))
                break
            if late >= renew and self.client.connected:
                self.claim()
                last = time.monotonic()
        leave.set()
