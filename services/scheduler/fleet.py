"""What the scheduler knows about devices: availability and when watches last reported.

Pure state, fed from MQTT and asked at each tick; all methods run on the
scheduler's event loop, and times are that loop's monotonic clock.
"""

import zlib
from dataclasses import dataclass, field

from services.common.devices import Availability, kind_of
from services.common.router import Router
from services.common.topics import Topics


@dataclass
class Fleet:
    """Device availability (docs/topics.md), plus the "reported lately" rule."""

    topics: Topics
    slots: int = 1  # parts of the bpm interval; each watch belongs to one (watch_slot)
    availability: Availability = field(default_factory=Availability)
    last_request: dict[str, float] = field(default_factory=dict)
    last_reading: dict[str, float] = field(default_factory=dict)
    # the watches of each slot, so a tick never walks the whole fleet
    watches: dict[int, set[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        t = self.topics
        self.router = Router()
        self.router.add(t.all_device_status, self._device_status)
        self.router.add(t.all_device_gateways, self._holder)
        self.router.add(t.all_service_status, self._service_status)
        # Only the time of a reading matters: losing one now and then costs nothing.
        self.router.add(t.vitals("+", "+"), self._reading, qos=0)

    def subscriptions(self) -> list[tuple[str, int]]:
        return self.router.subscriptions()

    def on_message(self, topic: str, payload: bytes, now: float) -> None:
        """Update from a status or vitals message received at ``now``."""
        self.router.dispatch(topic, payload, now)

    def _service_status(self, name: str, payload: bytes, now: float) -> None:
        self.availability.set_service(name, payload.decode("utf-8", "replace"))

    def _holder(self, device: str, payload: bytes, now: float) -> None:
        self.availability.set_holder(device, payload)

    def _device_status(self, device: str, payload: bytes, now: float) -> None:
        new = device not in self.availability.devices
        valid = self.availability.set_device(device, payload.decode("utf-8", "replace"))
        if valid and new and kind_of(device) == "watch":
            self.watches.setdefault(watch_slot(device, self.slots), set()).add(device)

    def _reading(self, device: str, metric: str, payload: bytes, now: float) -> None:
        self.last_reading[device] = now

    def online(self, device: str) -> bool:
        """Online iff the device says so AND the gateway holding it is still online."""
        return self.availability.online(device)

    def of_kind(self, kind: str) -> list[str]:
        """Every device of ``kind`` that has said online or offline, online or not."""
        return sorted(d for d in self.availability.devices if kind_of(d) == kind)

    def watches_in(self, slot: int) -> list[str]:
        """The watches of one slot that have said online or offline, online or not."""
        return sorted(self.watches.get(slot, ()))

    def gateway_of(self, device: str) -> str:
        """The id of the gateway holding ``device`` (``""``: the one without an id)."""
        return self.availability.holder(device)

    def online_of_kind(self, kind: str) -> list[str]:
        return self.availability.online_of_kind(kind)

    def bpm_skip_reason(
        self, device: str, now: float, interval: float, answer_window: float
    ) -> str | None:
        """Why ``device`` should not be asked at ``now``, or None to ask it."""
        # No request to a watch that reported within the
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


def watch_slot(device: str, slots: int) -> int:
    """The part of the interval a watch is asked in: fixed by its id, the same every run."""
    return zlib.crc32(device.encode()) % slots if slots > 1 else 0
