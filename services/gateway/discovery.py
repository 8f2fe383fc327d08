"""Home Assistant MQTT discovery: each device the gateway sees, announced as HA entities.

Switched on with ``HA_DISCOVERY=1``. The gateway is the one that knows every device and
its kind, so it publishes a retained config per entity when a device first registers
(and per cabinet item when the item first appears in an inventory). The entities read
the project's own topics; nothing is published twice in another shape.
"""

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from services.common.devices import BY_NAME, availability_topics
from services.common.metrics import METRICS
from services.common.settings import read_env, setting
from services.common.topics import OFFLINE, ONLINE, Topics

Publish = Callable[[str, str], None]


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "DiscoverySettings":
        return read_env(cls, env)


def _literal(text: str) -> str:
    """A Jinja string literal for ``text`` (JSON's double-quoted form is one)."""
    return json.dumps(text, ensure_ascii=False)


def object_id(text: str) -> str:
    """HA allows only ``[a-zA-Z0-9_-]`` in node and object ids."""
    return re.sub(r"[^a-zA-Z0-9_-]", "_", text)


class Discovery:
    """Builds the config payloads and publishes each once per gateway process."""

    def __init__(
        self, topics: Topics, prefix: str, publish: Publish, gateway_id: str | None = None
    ) -> None:
        self.topics = topics
        self.prefix = prefix
        self.gateway_id = gateway_id
        self._publish = publish
        self._announced: set[str] = set()
        self._items: dict[str, set[str]] = {}

    def node(self, device_id: str) -> str:
        return object_id(f"{self.topics.root}_{device_id}")

    def config_topic(self, component: str, device_id: str, entity: str) -> str:
        return f"{self.prefix}/{component}/{self.node(device_id)}/{object_id(entity)}/config"

    def _base(self, device_id: str, kind: str, entity: str, name: str) -> dict:
        node = self.node(device_id)
        return {
            "name": name,
            "unique_id": f"{node}_{object_id(entity)}",
            "object_id": f"{node}_{object_id(entity)}",
            # a device is available only while it AND the gateway holding it are online
            "availability": [
                {"topic": t} for t in availability_topics(self.topics, device_id, self.gateway_id)
            ],
            "availability_mode": "all",
            "payload_available": ONLINE,
            "payload_not_available": OFFLINE,
            "device": {
                "identifiers": [node],
                "name": f"Health Plus {kind} {device_id}",
                "manufacturer": "Health Plus",
                "model": BY_NAME[kind].model,
            },
        }

    def configs(self, device_id: str, kind: str) -> dict[str, dict]:
        """Config topic -> payload for a device's fixed entities."""
        out: dict[str, dict] = {}
        if kind == "watch":
            for metric in METRICS:
                body = self._base(device_id, kind, metric.key, metric.label)
                body |= {
                    "state_topic": self.topics.vitals(device_id, metric.key),
                    "value_template": "{{ value_json.value }}",
                    "unit_of_measurement": metric.unit,
                    "state_class": "measurement",
                }
                if metric.ha_device_class:
                    body["device_class"] = metric.ha_device_class
                out[self.config_topic("sensor", device_id, metric.key)] = body
            out[self.config_topic("button", device_id, "measure")] = self._button(
                device_id, kind, "measure", "Measure now", "bpm"
            )
        elif kind == "cabinet":
            light = self._base(device_id, kind, "led_strip", "LED strip")
            # The cabinet never reports the strip's state: HA keeps it optimistically.
            light |= {
                "command_topic": self.topics.cmd(device_id),
                "payload_on": "lon",
                "payload_off": "lof",
                "optimistic": True,
                "qos": 1,
            }
            out[self.config_topic("light", device_id, "led_strip")] = light
            out[self.config_topic("button", device_id, "count")] = self._button(
                device_id, kind, "count", "Count items now", "inv"
            )
        elif kind == "camera":
            image = self._base(device_id, kind, "snapshot", "Snapshot")
            image |= {"image_topic": self.topics.image(device_id), "content_type": "image/jpeg"}
            out[self.config_topic("image", device_id, "snapshot")] = image
            out[self.config_topic("button", device_id, "capture")] = self._button(
                device_id, kind, "capture", "Take photo", "img"
            )
        return out

    def _button(self, device_id: str, kind: str, entity: str, name: str, cmd: str) -> dict:
        body = self._base(device_id, kind, entity, name)
        body |= {"command_topic": self.topics.cmd(device_id), "payload_press": cmd, "qos": 1}
        return body

    def item_config(self, device_id: str, item: str) -> tuple[str, dict]:
        """The sensor for one cabinet item's count."""
        entity = f"item_{item}"
        body = self._base(device_id, "cabinet", entity, item)
        body |= {
            "state_topic": self.topics.inventory(device_id),
            "value_template": "{{ value_json['items'][" + _literal(item) + "] }}",
            "state_class": "measurement",
            "icon": "mdi:package-variant",
        }
        return self.config_topic("sensor", device_id, entity), body

    def device_registered(self, device_id: str, kind: str | None) -> None:
        """Announce a device the first time this gateway sees it (kind unknown: nothing)."""
        if kind not in BY_NAME or device_id in self._announced:
            return
        self._announced.add(device_id)
        for topic, body in self.configs(device_id, kind).items():
            self._publish(topic, json.dumps(body))

    def forget(self, device_id: str) -> None:
        """Another gateway holds the device now (and announced it with its own status)."""
        self._announced.discard(device_id)
        self._items.pop(device_id, None)

    def inventory(self, device_id: str, items: Mapping[str, int]) -> None:
        """Announce a sensor for each item not seen before on this cabinet."""
        known = self._items.setdefault(device_id, set())
        for item in items:
            if item not in known:
                known.add(item)
                topic, body = self.item_config(device_id, item)
                self._publish(topic, json.dumps(body))
