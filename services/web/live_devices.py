"""What the web knows of devices from the broker: whose each one is, and whether it is online."""

import threading
from collections.abc import Iterable

from services.common import devices


class Assignments:
    """The device -> patient map, as the retained ``devices/<id>/patient`` topics say."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._patients: dict[str, str] = {}

    def set(self, device: str, patient: str) -> None:
        """Follow an assignment; an empty patient means the device is no one's."""
        with self._lock:
            if patient:
                self._patients[device] = patient
            else:
                self._patients.pop(device, None)

    def patient_of(self, device: str) -> str | None:
        with self._lock:
            return self._patients.get(device)

    def by_patient(self) -> dict[str, list[str]]:
        """Each patient's devices, as the map stands now."""
        with self._lock:
            pairs = list(self._patients.items())
        out: dict[str, list[str]] = {}
        for device, patient in pairs:
            out.setdefault(patient, []).append(device)
        return out


class Availability:
    """The common availability rule (services/common/devices.py), safe across threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rule = devices.Availability()

    def set_device(self, device: str, state: str) -> bool:
        """Take a device's status; False (and nothing changes) unless online or offline."""
        with self._lock:
            return self._rule.set_device(device, state)

    def set_gateway(self, state: str) -> bool:
        """Take the gateway's status; False (and nothing changes) unless online or offline."""
        with self._lock:
            return self._rule.set_gateway(state)

    def set_service(self, name: str, state: str) -> bool:
        """Take a service's status; True only for a gateway's online or offline."""
        with self._lock:
            return self._rule.set_service(name, state)

    def set_holder(self, device: str, payload: bytes) -> bool:
        """Take which gateway holds a device; False (and nothing changes) for a bad record."""
        with self._lock:
            return self._rule.set_holder(device, payload)

    def seen(self) -> set[str]:
        """Every device whose status the broker has carried (the gateway has met it)."""
        with self._lock:
            return set(self._rule.devices)

    def states(self, devices: Iterable[str]) -> dict[str, str]:
        """``online``, ``offline`` or ``unknown`` per device, by the availability rule."""
        with self._lock:
            rule = self._rule
            return {d: rule.state(d) if d in rule.devices else "unknown" for d in devices}
