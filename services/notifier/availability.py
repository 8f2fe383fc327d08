"""The "service offline" rule: a service whose retained status says ``offline`` for too long.

Every service keeps ``<root>/services/<name>/status`` retained: ``online`` when it
connects, ``offline`` when it stops or, by its last will, when it dies. A service
offline for ``grace`` seconds (a restart takes less) raises an alert of kind
``service``, key ``offline``, for the admins; its next ``online`` clears it. The
notifier does not watch itself: when it is offline, nobody could be told.
"""

from collections.abc import Iterable

from services.common.topics import OFFLINE, ONLINE

KEY = "offline"
KIND = "service"
LEVEL = "critical"  # a service away stops readings or alerts for every patient


class ServiceWatch:
    """Which services are offline since when, and which of them were announced."""

    def __init__(self, grace: float, own_name: str, announced: Iterable[str] = ()) -> None:
        self.grace = grace
        self.own_name = own_name
        self.down: dict[str, float] = {}
        self.announced: set[str] = set(announced)

    def status(self, name: str, payload: bytes, now: float) -> list[dict]:
        """Note a retained status; returns the clear when an announced service is back."""
        state = bytes(payload).decode("utf-8", "replace").strip()
        if name == self.own_name:
            return []
        if state == OFFLINE:
            self.down.setdefault(name, now)
            return []
        if state != ONLINE:
            return []
        self.down.pop(name, None)
        if name not in self.announced:
            return []  # back within the grace: nobody was told it had gone
        self.announced.discard(name)
        return [self._alert(name, "cleared", f"the {name} service is online again", now)]

    def check(self, now: float) -> list[dict]:
        """Alerts for services offline for the grace period, not yet announced."""
        out = []
        for name, since in sorted(self.down.items()):
            if name not in self.announced and now - since >= self.grace:
                self.announced.add(name)
                text = f"the {name} service has been offline for {int(now - since)} s"
                out.append(self._alert(name, LEVEL, text, since))
        return out

    def _alert(self, name: str, level: str, message: str, at: float) -> dict:
        return {
            "device": name,
            "patient": None,
            "kind": KIND,
            "key": KEY,
            "level": level,
            "value": None,
            "message": message,
            "ts_ms": int(at * 1000),
        }
