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

import json
import re
from dataclasses import dataclass, field

from .timeutil import rfc3339_ms
from .topics import OFFLINE, ONLINE, Topics, gateway_of_service
from .wire import slot_of


@dataclass(frozen=True)
class DeviceKind:
    """One kind of device: its id prefix, the commands it accepts and what it reports."""

    name: str
    prefix: str
    model: str  # as Home Assistant shows it
    hardware: str  # the board and its parts (Home Assistant's hardware version)
    commands: tuple[str, ...]
    reports: tuple[str, ...]  # topic kinds it publishes: vitals, image, inventory
    slots: bool = False  # takes the slot command ls00 ... ls99 (boards on our firmware)


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
        True,
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
# A gateway's id (``GATEWAY_ID``) is one level of its status topic and the holder payload.
GATEWAY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


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


def accepts(kind: str | None, cmd: str) -> bool:
    """Whether a device of ``kind`` takes ``cmd``: one of its commands, or a slot command.

    The firmware update ``upd`` is not here: every board on our firmware takes it.
    """
    found = BY_NAME.get(kind) if kind else None
    if found is None:
        return False
    return cmd in found.commands or (found.slots and slot_of(cmd.encode()) is not None)


def may_report(kind: str | None, what: str) -> bool:
    """Whether a device of ``kind`` publishes ``what`` (vitals, image, inventory)."""
    found = BY_NAME.get(kind) if kind else None
    return found is not None and what in found.reports


@dataclass(frozen=True)
class Holder:
    """Which gateway holds a device, and with which of its connections."""

    gateway: str
    connection: str


def holder_body(gateway_id: str, connection: str, ts_ms: int) -> str:
    """The retained ``devices/<id>/gateway`` payload a gateway with an id publishes."""
    return json.dumps({"gateway": gateway_id, "connection": connection, "ts": rfc3339_ms(ts_ms)})


def parse_holder(payload: bytes | str) -> Holder | None:
    """A ``devices/<id>/gateway`` payload; None when empty (no gateway holds it).

    Raises ValueError for anything else than the JSON ``holder_body`` makes.
    """
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else payload
    if not text.strip():
        return None
    body = json.loads(text)
    gateway = body.get("gateway") if isinstance(body, dict) else None
    if not isinstance(gateway, str) or not GATEWAY_ID.fullmatch(gateway):
        raise ValueError(f"holder payload names no gateway: {text[:60]!r}")
    connection = body.get("connection", "")
    return Holder(gateway, connection if isinstance(connection, str) else "")


@dataclass
class Availability:
    """Device online = its status says ``online`` AND the gateway holding it is online.

    A gateway's own status is its last will, so when a gateway dies every device it held
    stops counting at once, whatever their retained ``online`` says. Which gateway holds
    a device comes from the retained ``devices/<id>/gateway``; with none (one gateway
    without an id, as in a home) it is the gateway of ``services/gateway/status``. Feed it
    ``Topics.device_status(id)``, ``Topics.device_gateway(id)`` and every
    ``Topics.service_status(name)`` (``set_service`` keeps the gateways' and ignores the
    rest).
    """

    devices: dict[str, str] = field(default_factory=dict)
    gateways: dict[str, str] = field(default_factory=dict)  # id ("" = unnamed) -> status
    holders: dict[str, str] = field(default_factory=dict)  # device -> gateway id

    @property
    def gateway(self) -> str:
        """The status of the gateway without an id."""
        return self.gateways.get("", OFFLINE)

    def set_gateway(self, payload: str, gateway_id: str = "") -> bool:
        """Record a gateway's status; False (ignored) for a payload that is neither."""
        if payload not in (ONLINE, OFFLINE):
            return False
        self.gateways[gateway_id] = payload
        return True

    def set_service(self, name: str, payload: str) -> bool:
        """Record a service's status if the service is a gateway; False otherwise."""
        gateway_id = gateway_of_service(name)
        return gateway_id is not None and self.set_gateway(payload, gateway_id)

    def set_device(self, device_id: str, payload: str) -> bool:
        """Record a device's status; False (ignored) for a payload that is neither."""
        if payload not in (ONLINE, OFFLINE):
            return False
        self.devices[device_id] = payload
        return True

    def set_holder(self, device_id: str, payload: bytes | str) -> bool:
        """Record which gateway holds a device; False (ignored) for a payload not a holder's."""
        try:
            holder = parse_holder(payload)
        except ValueError:
            return False
        if holder is None:
            self.holders.pop(device_id, None)
        else:
            self.holders[device_id] = holder.gateway
        return True

    def holder(self, device_id: str) -> str:
        """The id of the gateway holding the device (``""``: the one without an id)."""
        return self.holders.get(device_id, "")

    def devices_of(self, gateway_id: str) -> list[str]:
        """The devices the gateway holds, online or not."""
        return sorted(d for d in self.devices if self.holder(d) == gateway_id)

    def online(self, device_id: str) -> bool:
        gateway = self.gateways.get(self.holder(device_id), OFFLINE)
        return gateway == ONLINE and self.devices.get(device_id) == ONLINE

    def state(self, device_id: str) -> str:
        return ONLINE if self.online(device_id) else OFFLINE

    def online_of_kind(self, kind: str) -> list[str]:
        return sorted(d for d in self.devices if kind_of(d) == kind and self.online(d))


def availability_topics(topics: Topics, device_id: str, gateway_id: str | None = None) -> list[str]:
    """The two topics whose payloads must both be ``online`` (Home Assistant's "all")."""
    return [topics.device_status(device_id), topics.gateway_status(gateway_id)]
