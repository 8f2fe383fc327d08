"""What the scheduler knows about devices: availability and when watches last reported.

Pure state, fed from MQTT and asked at each tick; all methods run on the
scheduler's event loop, and times are that loop's monotonic clock.
"""

from dataclasses import dataclass, field

from services.common.router import Router
from services.common.topics import ONLINE, Topics

KIND_PREFIX = {"watch": "wch", "camera": "img", "cabinet": "cab"}


@dataclass
class Fleet:
    """Device availability per the SPEC contract, plus the seed's "reported lately" rule."""

    topics: Topics
    gateway_online: bool = False
    status: dict[str, str] = field(default_factory=dict)
    last_request: dict[str, float] = field(default_factory=dict)
    last_reading: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = self.topics
        self.router = Router()
        self.router.add(t.all_device_status, self._device_status)
        self.router.add(t.service_status("gateway"), self._gateway_status)
        # Only the time of a reading matters: losing one now and then costs nothing.
        self.router.add(t.vitals("+", "+"), self._reading, qos=0)

    def subscriptions(self) -> list[tuple[str, int]]:
        return self.router.subscriptions()

    def on_message(self, topic: str, payload: bytes, now: float) -> None:
        """Update from a status or vitals message received at ``now``."""
        self.router.dispatch(topic, payload, now)

    def _gateway_status(self, payload: bytes, now: float) -> None:
        self.gateway_online = payload == ONLINE.encode()

    def _device_status(self, device: str, payload: bytes, now: float) -> None:
        self.status[device] = payload.decode("utf-8", "replace")

    def _reading(self, device: str, metric: str, payload: bytes, now: float) -> None:
        self.last_reading[device] = now

    def online(self, device: str) -> bool:
        """Online iff the device says so AND the gateway that said it is still online."""
        return self.gateway_online and self.status.get(device) == ONLINE

    def online_of_kind(self, kind: str) -> list[str]:
        prefix = KIND_PREFIX[kind]
        return sorted(d for d in self.status if d.startswith(prefix) and self.online(d))

    def bpm_skip_reason(
        self, device: str, now: float, interval: float, answer_window: float
    ) -> str | None:
        """Why ``device`` should not be asked at ``now``, or None to ask it."""
        # The seed's rule: no request to a watch that reported within the
        # interval. A reading that answered our own previous request does not
        # count, or the watch would only be asked every other interval.
        if not self.online(device):
            return "offline"
        reading = self.last_reading.get(device)
        if reading is None or now - reading >= interval:
            return None
        asked = self.last_request.get(device)
        if asked is not None and asked <= reading <= asked + answer_window:
            return None
        return "reported within the interval"

    def requested(self, device: str, now: float) -> None:
        self.last_request[device] = now
