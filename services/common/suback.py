"""Which subscriptions of one MQTT connection the broker has granted, and which to ask again."""

import threading

from .broker_choice import RETRY_MAX, RETRY_MIN


class Grants:
    """SUBSCRIBEs awaiting their SUBACK, and how long the next try of a refused filter waits.

    Written on the client's network thread (paho's, or the event loop); ``wait`` may be
    called from any thread.
    """

    def __init__(self) -> None:
        self._pending: dict[int, tuple[str, int]] = {}  # mid -> filter, QoS
        self._retry_in: dict[str, float] = {}
        self._all = threading.Event()

    def connected(self) -> None:
        """A new connection: a lost one's SUBACKs will never come."""
        self._pending.clear()
        self._all.set()

    def lost(self) -> None:
        self._all.clear()

    def sent(self, mid: int, topic: str, qos: int) -> None:
        self._all.clear()
        self._pending[mid] = (topic, qos)

    def answered(self, mid: int, refused: bool) -> tuple[str, int, float | None]:
        """The filter and QoS of ``mid`` ("" if unknown), and the wait before asking again
        when it was refused (None when granted)."""
        topic, qos = self._pending.pop(mid, ("", 0))
        if not topic:
            return topic, qos, None
        if not refused:
            self._retry_in.pop(topic, None)
            if not self._pending and not self._retry_in:
                self._all.set()
            return topic, qos, None
        delay = self._retry_in.get(topic, RETRY_MIN)
        self._retry_in[topic] = min(delay * 2, RETRY_MAX)
        return topic, qos, delay

    def wait(self, timeout: float) -> bool:
        """Every subscription of the connection granted, within ``timeout``."""
        return self._all.wait(timeout)
