"""Home Assistant MQTT discovery: each device the gateway sees, announced as HA entities.

Switched on with ``HA_DISCOVERY=1``. The gateway is the one that knows every device and
its kind, so it publishes a retained config per entity when a device first registers
(again when its firmware version changes), one per cabinet item while the item is in the
inventory, and one for itself: the hub every device is connected through. The entities
read the project's own topics, plus the retained ``latest`` copy of each reading (HA needs
the present value when it starts; ``vitals`` is not retained).

One config per entity ("per component") rather than HA's device-based discovery (one
message per device, HA 2024.11 and later): it works on older HA too, and an item that
comes or goes is one retained message of its own. docs/deploy.md says what was checked.
"""

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata

from slugify import slugify as python_slugify

from services.common.devices import BY_NAME, availability_topics
from services.common.metrics import METRICS
from services.common.settings import check_base_url, read_env, setting
from services.common.topics import OFFLINE, ONLINE, Topics, gateway_service

Publish = Callable[[str, str], None]
HASH_LEN = 8  # hex digits of SHA-256: a collision among one cabinet's items is ~1 in 4e9
REMOVE = ""  # an empty retained config: HA removes the entity
PACKAGE = "health-plus-smart-cabinet"


@dataclass(frozen=True)
class DiscoverySettings:
    """Whether the gateway announces devices to Home Assistant, and under which prefix."""

    enabled: bool = setting(
        "HA_DISCOVERY",
        False,
        "publish Home Assistant MQTT discovery for each device that registers (sensors, the"
        " cabinet's light, the camera's image; availability from the device and the gateway)",
    )
    prefix: str = setting(
        "HA_DISCOVERY_PREFIX", "homeassistant", "Home Assistant's discovery prefix"
    )
    dashboard_url: str = setting(
        "WEB_BASE_URL",
        "http://localhost:5000",
        "the dashboard's address: Home Assistant links each device to it"
        " (`configuration_url`); `http://` or `https://`",
        clean=lambda url: url.rstrip("/"),
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "DiscoverySettings":
        settings = read_env(cls, env)
        if settings.enabled:  # HA refuses a config whose configuration_url is no web address
            check_base_url(settings.dashboard_url)
        return settings


def _literal(text: str) -> str:
    """A Jinja string literal for ``text`` (JSON's double-quoted form is one)."""
    return json.dumps(text, ensure_ascii=False)


def short_hash(text: str) -> str:
    """A stable short digest of ``text``: two texts that slugify alike still differ here."""
    return hashlib.sha256(text.encode()).hexdigest()[:HASH_LEN]


def ha_slugify(text: str) -> str:
    """``homeassistant.util.slugify``: python-slugify with ``_``, ``unknown`` for nothing."""
    if not text:
        return ""
    return python_slugify(text, separator="_") or "unknown"


def object_id(text: str) -> str:
    """HA allows only ``[a-zA-Z0-9_-]`` in node and object ids.

    A text with other characters (a device id may hold ``.``) is rewritten and given its
    hash, so ``wch.01`` and ``wch_01`` stay two devices; a valid id is kept as it is.
    """
    safe = re.sub(r"[^a-zA-Z0-9_-]", "_", text)
    return safe if safe == text else f"{safe}_{short_hash(text)}"


def item_entity(item: str) -> str:
    """The object id of a cabinet item's sensor: HA's slug of the name plus its hash.

    The slug alone would give "Tea (green)" and "Tea [green]" one entity; the hash of the
    exact name keeps them apart and is the same on every gateway start.
    """
    return f"item_{ha_slugify(item)}_{short_hash(item)}"


def legacy_item_entity(item: str) -> str:
    """The object id earlier gateways used for an item; its config is cleared on sight."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", f"item_{item}")


def _version() -> str | None:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return None


def _availability(topics: list[str]) -> list[dict]:
    # HA reads the payloads from each entry of the list, not from the top level
    return [
        {"topic": t, "payload_available": ONLINE, "payload_not_available": OFFLINE} for t in topics
    ]


@dataclass
class _Announced:
    kind: str
    version: str | None


class Discovery:
    """Builds the config payloads and publishes each once per gateway process."""

    def __init__(
        self,
        topics: Topics,
        prefix: str,
        publish: Publish,
        gateway_id: str | None = None,
        dashboard_url: str | None = None,
    ) -> None:
        self.topics = topics
        self.prefix = prefix
        self.gateway_id = gateway_id
        self.dashboard_url = dashboard_url
        self._publish = publish
        self._devices: dict[str, _Announced] = {}
        self._items: dict[str, set[str]] = {}
        self._hub_announced = False
        self._legacy_cleared: set[str] = set()

    # ids and topics -------------------------------------------------------------------

    @property
    def _root(self) -> str:
        return re.sub(r"[^a-zA-Z0-9_-]", "_", self.topics.root)

    def node(self, device_id: str) -> str:
        return f"{self._root}_{object_id(device_id)}"

    @property
    def hub(self) -> str:
        """The gateway's own node and identifier (``-``: no device's node has it there)."""
        suffix = f"-{object_id(self.gateway_id)}" if self.gateway_id else ""
        return f"{self._root}-gateway{suffix}"

    def config_topic(self, component: str, node: str, entity: str) -> str:
        return f"{self.prefix}/{component}/{node}/{entity}/config"

    # payloads -------------------------------------------------------------------------

    def _links(self) -> dict:
        return {"configuration_url": self.dashboard_url} if self.dashboard_url else {}

    def device_info(self, device_id: str, kind: str, version: str | None) -> dict:
        """HA's device: a short name (HA puts it before each entity's), shown via the hub."""
        info = {
            "identifiers": [self.node(device_id)],
            "name": f"{kind.capitalize()} {device_id}",
            "manufacturer": "Health Plus",
            "model": BY_NAME[kind].model,
            "hw_version": BY_NAME[kind].hardware,
            "via_device": self.hub,
        }
        if version is not None:
            info["sw_version"] = version
        return info | self._links()

    def hub_config(self) -> tuple[str, dict]:
        """The gateway as a device of its own, with one sensor: whether it is connected."""
        device = {
            "identifiers": [self.hub],
            "name": "Health Plus gateway",
            "manufacturer": "Health Plus",
            "model": "Gateway",
        }
        version = _version()
        if version is not None:
            device["sw_version"] = version
        body = {
            "name": "Connection",
            "unique_id": f"{self.hub}_connection",
            # no availability: "disconnected" is this entity's state, not its absence
            "state_topic": self.topics.service_status(gateway_service(self.gateway_id)),
            "payload_on": ONLINE,
            "payload_off": OFFLINE,
            "device_class": "connectivity",
            "entity_category": "diagnostic",
            "qos": 1,
            "device": device | self._links(),
        }
        return self.config_topic("binary_sensor", self.hub, "connection"), body

    def _base(self, device_id: str, entity: str, name: str) -> dict:
        seen = self._devices[device_id]
        return {
            "name": name,
            "unique_id": f"{self.node(device_id)}_{entity}",
            # a device is available only while it AND the gateway holding it are online
            "availability": _availability(
                availability_topics(self.topics, device_id, self.gateway_id)
            ),
            "availability_mode": "all",
            "qos": 1,
            "device": self.device_info(device_id, seen.kind, seen.version),
        }

    def configs(self, device_id: str) -> dict[str, dict]:
        """Config topic -> payload for an announced device's fixed entities."""
        kind = self._devices[device_id].kind
        entities = {"watch": self._watch, "cabinet": self._cabinet, "camera": self._camera}
        node = self.node(device_id)
        return {
            self.config_topic(component, node, entity): body
            for component, entity, body in entities[kind](device_id)
        }

    def _watch(self, device_id: str) -> list[tuple[str, str, dict]]:
        out = []
        for metric in METRICS:
            body = self._base(device_id, metric.key, metric.label)
            body |= {
                "state_topic": self.topics.latest(device_id, metric.key),
                "value_template": "{{ value_json.value }}",
                "unit_of_measurement": metric.unit,
                "state_class": "measurement",
                "suggested_display_precision": metric.decimals,
            }
            if metric.ha_device_class:
                body["device_class"] = metric.ha_device_class
            out.append(("sensor", metric.key, body))
        out.append(self._button(device_id, "measure", "Measure now", "bpm"))
        return out

    def _cabinet(self, device_id: str) -> list[tuple[str, str, dict]]:
        light = self._base(device_id, "led_strip", "LED strip")
        # The cabinet never reports the strip's state: HA keeps it optimistically.
        light |= {
            "command_topic": self.topics.cmd(device_id),
            "payload_on": "lon",
            "payload_off": "lof",
            "optimistic": True,
        }
        return [
            ("light", "led_strip", light),
            self._button(device_id, "count", "Count items now", "inv"),
        ]

    def _camera(self, device_id: str) -> list[tuple[str, str, dict]]:
        image = self._base(device_id, "snapshot", "Snapshot")
        image |= {"image_topic": self.topics.image(device_id), "content_type": "image/jpeg"}
        return [
            ("image", "snapshot", image),
            self._button(device_id, "capture", "Take photo", "img"),
        ]

    def _button(self, device_id: str, entity: str, name: str, cmd: str) -> tuple[str, str, dict]:
        body = self._base(device_id, entity, name)
        body |= {"command_topic": self.topics.cmd(device_id), "payload_press": cmd}
        return "button", entity, body

    def item_config(self, device_id: str, item: str) -> tuple[str, dict]:
        """The sensor for one cabinet item's count."""
        entity = item_entity(item)
        body = self._base(device_id, entity, item)
        body |= {
            "state_topic": self.topics.inventory(device_id),
            # .get: an inventory without the item renders None (HA: unknown), no warning
            "value_template": "{{ value_json['items'].get(" + _literal(item) + ") }}",
            "state_class": "measurement",
            "icon": "mdi:package-variant",
        }
        return self.config_topic("sensor", self.node(device_id), entity), body

    # publishing -----------------------------------------------------------------------

    def device_registered(self, device_id: str, kind: str | None, version: str | None = None):
        """Announce a device the first time this gateway sees it, or with new firmware."""
        if kind not in BY_NAME:
            return
        if self._devices.get(device_id) == _Announced(kind, version):
            return
        if not self._hub_announced:
            self._hub_announced = True
            self._send(*self.hub_config())
        self._devices[device_id] = _Announced(kind, version)
        for topic, body in self.configs(device_id).items():
            self._send(topic, body)
        for item in sorted(self._items.get(device_id, ())):
            self._send(*self.item_config(device_id, item))

    def forget(self, device_id: str) -> None:
        """Another gateway holds the device now (and announced it with its own status)."""
        self._devices.pop(device_id, None)
        self._items.pop(device_id, None)

    def inventory(self, device_id: str, items: Mapping[str, int]) -> None:
        """Announce a sensor for each new item; remove the sensor of each item that left."""
        if device_id not in self._devices:
            return
        known = self._items.setdefault(device_id, set())
        for item in sorted(known - items.keys()):
            known.discard(item)
            self._publish(self.item_config(device_id, item)[0], REMOVE)
        for item in items:
            if item in known:
                continue
            known.add(item)
            self._clear_legacy(device_id, item)
            self._send(*self.item_config(device_id, item))

    def _clear_legacy(self, device_id: str, item: str) -> None:
        """Remove the config an earlier gateway left for the item, so HA shows it once."""
        topic = self.config_topic("sensor", self.node(device_id), legacy_item_entity(item))
        if topic not in self._legacy_cleared:
            self._legacy_cleared.add(topic)
            self._publish(topic, REMOVE)

    def _send(self, topic: str, body: dict) -> None:
        self._publish(topic, json.dumps(body, ensure_ascii=False))
