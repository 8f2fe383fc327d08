"""Topic names from SPEC.md, in one place, under a configurable root."""

from dataclasses import dataclass

DEVICE_STATUS = "status"
ONLINE = "online"
OFFLINE = "offline"


@dataclass(frozen=True)
class Topics:
    """Builds and parses the project's MQTT topics."""

    root: str = "smartcab"

    def device(self, device_id: str, *parts: str) -> str:
        return "/".join((self.root, "devices", device_id, *parts))

    def device_status(self, device_id: str) -> str:
        return self.device(device_id, DEVICE_STATUS)

    def vitals(self, device_id: str, metric: str) -> str:
        return self.device(device_id, "vitals", metric)

    def inventory(self, device_id: str) -> str:
        return self.device(device_id, "inventory")

    def image(self, device_id: str) -> str:
        return self.device(device_id, "image")

    def cmd(self, device_id: str) -> str:
        return self.device(device_id, "cmd")

    def cmd_result(self, device_id: str) -> str:
        return self.device(device_id, "cmd", "result")

    def service_status(self, name: str) -> str:
        return f"{self.root}/services/{name}/status"

    @property
    def all_cmds(self) -> str:
        return self.device("+", "cmd")

    @property
    def all_device_status(self) -> str:
        return self.device("+", DEVICE_STATUS)

    def parse_device(self, topic: str) -> tuple[str, tuple[str, ...]] | None:
        """Split ``<root>/devices/<id>/<rest...>`` into ``(id, rest)``."""
        prefix = f"{self.root}/devices/"
        if not topic.startswith(prefix):
            return None
        parts = topic[len(prefix) :].split("/")
        if len(parts) < 2 or not parts[0]:
            return None
        return parts[0], tuple(parts[1:])

    # Readings a patient types into the dashboard have a topic space of their own, so the
    # web's broker account needs no right to speak for any device.
    def manual_vitals(self, username: str, metric: str) -> str:
        return "/".join((self.root, "manual", username, "vitals", metric))

    def parse_manual(self, topic: str) -> tuple[str, str] | None:
        """Split ``<root>/manual/<username>/vitals/<metric>`` into ``(username, metric)``."""
        parts = topic.split("/")
        if parts[:2] != [self.root, "manual"] or len(parts) != 5 or parts[3] != "vitals":
            return None
        if not parts[2] or not parts[4]:
            return None
        return parts[2], parts[4]


MANUAL_PREFIX = "manual-"


def manual_device(username: str) -> str:
    """The device id a patient's typed-in readings are stored under."""
    return f"{MANUAL_PREFIX}{username}"
