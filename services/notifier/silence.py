"""The "watch silent" rule: an assigned watch that sends no plausible reading for too long.

The notifier follows the retained patient assignments and the watches' readings
(QoS 0: only their arrival times matter), and turns a silence into an alert of its
own kind, ``silent``, stored and delivered like the recorder's alerts. A watch is
silent from its last plausible reading, or from the notifier's start when it has
sent none since; an implausible reading (a watch not worn) does not count.
"""

import json
from collections.abc import Iterable

from services.common.devices import kind_of
from services.common.quality import flag_reason

KEY = "watch_silent"


def is_watch(device: str) -> bool:
    return kind_of(device) == "watch"


class SilenceWatch:
    """Assigned watches, when each last sent a plausible reading, and which are silent."""

    def __init__(self, after: float, silent: Iterable[str] = ()) -> None:
        self.after = after
        self.assigned: dict[str, str] = {}
        self.last: dict[str, float] = {}
        self.silent: set[str] = set(silent)

    def assign(self, device: str, payload: bytes, now: float) -> None:
        try:
            patient = payload.decode("utf-8").strip()
        except UnicodeDecodeError:
            return
        if patient and is_watch(device):
            self.assigned[device] = patient
            self.last.setdefault(device, now)
        else:
            self.assigned.pop(device, None)

    def reading(self, device: str, metric: str, payload: bytes, now: float) -> list[dict]:
        """Note a reading; returns the clear when a silent watch speaks again."""
        if device not in self.assigned:
            return []
        try:
            value = float(json.loads(payload)["value"])
        except (ValueError, TypeError, KeyError):
            return []
        if flag_reason(metric, value) is not None:
            return []
        self.last[device] = now
        if device not in self.silent:
            return []
        self.silent.discard(device)
        return [self._alert(device, "cleared", "the watch sends plausible readings again", now)]

    def check(self, now: float) -> list[dict]:
        """Alerts for watches that just passed the silence limit."""
        if self.after <= 0:
            return []
        out = []
        for device in sorted(self.assigned):
            quiet_for = now - self.last.get(device, now)
            if device not in self.silent and quiet_for >= self.after:
                self.silent.add(device)
                minutes = int(quiet_for // 60)
                text = f"no plausible reading from {device} for {minutes} min"
                out.append(self._alert(device, "warning", text, now))
        return out

    def _alert(self, device: str, level: str, message: str, now: float) -> dict:
        return {
            "device": device,
            "patient": self.assigned.get(device),
            "kind": "silent",
            "key": KEY,
            "level": level,
            "value": None,
            "message": message,
            "ts_ms": int(now * 1000),
        }
