"""The kinds of device, how an id tells its kind, and when a device counts as online.

A device's kind comes from its id's first three characters (the seed's ``wch01``,
``img01``, ``cab01``; longer ids such as ``cab-02`` keep the prefix), unless the
gateway's registry names it. Ids are case-sensitive everywhere and are never
rewritten: an id is a segment of every MQTT topic about the device and the key of
its history, so ``WCH01`` and ``wch01`` are two devices, and an id whose prefix is
not one of the lower-case prefixes below has no kind. The prototype boards all use
lower-case prefixes. ``normalise_id`` only trims the white space a person may type
around an id.
"""

from dataclasses import dataclass, field

from .topics import OFFLINE, ONLINE, Topics


@dataclass(frozen=True)
class DeviceKind:
    """One kind of device: its id prefix, the commands it accepts and what it reports."""

    name: str
    prefix: str
    model: str  # as Home Assistant shows it
    hardware: str  # the board and its parts (Home Assistant's hardware version)
    commands: tuple[str, ...]
    reports: tuple[str, ...]  # topic kinds it publishes: vitals, image, inventory


KINDS: tuple[DeviceKind, ...] = (
    DeviceKind(
        "watch", "wch", "Smartwatch (ESP32)", "ESP32, MAX30102, MLX90614", ("bpm",), ("vitals",)
    ),
    DeviceKind("camera", "img", "ESP32-CAM", "ESP32-CAM, OV2640", ("img",), ("image",)),
    DeviceKind(
        "cabinet",
        "cab",
        "Smart cabinet (ESP32)",
        "ESP32, slot sensors, WS2812 strip",
        ("lon", "lof", "inv"),
        ("inventory",),
    ),
)
# Every board running this project's firmware takes it (docs/protocol.md); the web's
# firmware rollout sends it, so it is no button and no kind lists it.
UPDATE_COMMAND = "upd"
BY_NAME: dict[str, DeviceKind] = {k.name: k for k in KINDS}
BY_PREFIX: dict[str, DeviceKind] = {k.prefix: k for k in KINDS}
KIND_NAMES: tuple[str, ...] = tuple(k.name for k in KINDS)
PREFIX_LEN = 3
# Ids the system makes itself: readings typed into the dashboard are ``manual-<username>``.
# The gateway refuses them from the network, so no device can pose as a typed-in reading.
MANUAL_PREFIX = "manual-"
RESERVED_PREFIXES: tuple[str, ...] = (MANUAL_PREFIX,)


def manual_device(username: str) -> str:
    """The device id a patient's typed-in readings are stored under."""
    return f"{MANUAL_PREFIX}{username}"


def is_reserved(device_id: str) -> bool:
    """Whether ``device_id`` is one the system reserves (never a network device's)."""
    return device_id.startswith(RESERVED_PREFIXES)


def normalise_id(raw: str) -> str:
    """A typed-in device id as the devices send it: trimmed, case kept."""
    return raw.strip()


def kind_of(device_id: str) -> str | None:
    """The kind an id's prefix names (``wch01`` -> ``watch``), or None."""
    found = BY_PREFIX.get(device_id[:PREFIX_LEN])
    return found.name if found else None


def commands_of(kind: str | None) -> tuple[str, ...]:
    """The commands a device of ``kind`` accepts (none for an unknown kind)."""
    found = BY_NAME.get(kind) if kind else None
    return found.commands if found else ()


def may_report(kind: str | None, what: str) -> bool:
    """Whether a device of ``kind`` publishes ``what`` (vitals, image, inventory)."""
    found = BY_NAME.get(kind) if kind else None
    return found is not None and what in found.reports


@dataclass
class Availability:
    """Device online = its retained status says ``online`` AND the gateway is online.

    The gateway's own status is its last will, so when the gateway dies every device's
    retained ``online`` stops counting at once. Feed it the payloads of
    ``Topics.service_status("gateway")`` and ``Topics.device_status(id)``.
    """

    gateway: str = OFFLINE
    devices: dict[str, str] = field(default_factory=dict)

    def set_gateway(self, payload: str) -> bool:
        """Record the gateway's status; False (ignored) for a payload that is neither."""
        if payload not in (ONLINE, OFFLINE):
            return False
        self.gateway = payload
        return True

    def set_device(self, device_id: str, payload: str) -> bool:
        """Record a device's status; False (ignored) for a payload that is neither."""
        if payload not in (ONLINE, OFFLINE):
            return False
        self.devices[device_id] = payload
        return True

    def online(self, device_id: str) -> bool:
        return self.gateway == ONLINE and self.devices.get(device_id) == ONLINE

    def state(self, device_id: str) -> str:
        return ONLINE if self.online(device_id) else OFFLINE

    def online_of_kind(self, kind: str) -> list[str]:
        return sorted(d for d in self.devices if kind_of(d) == kind and self.online(d))


def availability_topics(topics: Topics, device_id: str) -> list[str]:
    """The two topics whose payloads must both be ``online`` (Home Assistant's "all")."""
    return [topics.device_status(device_id), topics.service_status("gateway")]
