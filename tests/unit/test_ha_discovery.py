"""The gateway's Home Assistant discovery configs, read as Home Assistant reads them."""

import json

import pytest

from services.common.errors import ConfigError
from services.common.topics import Topics
from services.gateway.discovery import (
    Discovery,
    DiscoverySettings,
    ha_slugify,
    item_entity,
    object_id,
)
from tests.support.ha import UNKNOWN, Entity, entities, render

URL = "https://cabinet.example.org"


class Published:
    """Collects what the discovery would publish, retained, in order."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def __call__(self, topic: str, payload: str) -> None:
        self.messages.append((topic, payload))

    def configs(self) -> dict[str, dict]:
        """The retained state the broker ends with: an empty payload removes the topic."""
        last: dict[str, str] = {}
        for topic, payload in self.messages:
            last[topic] = payload
        return {t: json.loads(p) for t, p in last.items() if p}


def discovery(root: str = "smartcab") -> tuple[Discovery, Published]:
    out = Published()
    return Discovery(Topics(root), "homeassistant", out, dashboard_url=URL), out


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Müsli", "musli"),
        ("Tea (green)", "tea_green"),
        ("Tea [green]", "tea_green"),
        ("Crème brûlée", "creme_brulee"),
        ("Nutella", "nutella"),
        ("  ", "unknown"),
        ("", ""),
    ],
)
def test_slugs_are_home_assistants_own(text, slug):
    # homeassistant.util.slugify: python-slugify with "_", "unknown" when nothing is left
    assert ha_slugify(text) == slug


def test_items_that_differ_only_in_punctuation_get_entities_of_their_own():
    disco, out = discovery()
    disco.device_registered("cab", "cabinet")
    disco.inventory("cab", {"Tea (green)": 1, "Tea [green]": 2, "Müsli": 3})
    items = {t: c for t, c in out.configs().items() if "/item_" in t}
    assert len(items) == 3
    assert len({c["unique_id"] for c in items.values()}) == 3
    musli = next(c for c in items.values() if c["name"] == "Müsli")
    assert musli["unique_id"].startswith("smartcab_cab_item_musli_")
    # the suffix is the name's own: the same on every gateway start and in any order
    assert item_entity("Tea (green)") == item_entity("Tea (green)") != item_entity("Tea [green]")
    assert Entity("sensor", musli).entity_id == "sensor.cabinet_cab_musli"


def test_device_ids_that_hold_a_dot_do_not_meet_one_with_an_underscore():
    assert object_id("wch-01") == "wch-01"
    assert object_id("wch.01") != object_id("wch_01") == "wch_01"
    disco, _ = discovery()
    assert disco.node("wch.01").startswith("smartcab_wch_01_")
    assert disco.hub not in {disco.node("gateway"), disco.node("-gateway")}


def test_an_item_that_leaves_the_inventory_loses_its_entity_and_may_come_back():
    disco, out = discovery()
    disco.device_registered("cab", "cabinet")
    disco.inventory("cab", {"Pepsi": 1, "Müsli": 2})
    topic = next(t for t, c in out.configs().items() if c.get("name") == "Pepsi")
    disco.inventory("cab", {"Müsli": 2})
    assert out.messages[-1] == (topic, "")
    assert topic not in out.configs()
    disco.inventory("cab", {"Müsli": 1, "Pepsi": 4})
    assert out.configs()[topic]["name"] == "Pepsi"


def test_an_inventory_without_the_item_renders_unknown_and_no_template_warning():
    disco, _ = discovery()
    disco.device_registered("cab", "cabinet")
    _, config = disco.item_config("cab", 'Tea "green"')
    entity = Entity("sensor", config)
    entity.receive(json.dumps({"items": {'Tea "green"': 3}, "ts": "x"}).encode())
    assert entity.state == "3"
    entity.receive(json.dumps({"items": {}, "ts": "x"}).encode())
    assert (entity.state, entity.warnings) == (UNKNOWN, [])
    # what the template before this one did: HA warned and kept the old count
    old = "{{ value_json['items'][\"Tea\"] }}"
    warnings: list[str] = []
    assert render(old, b'{"items": {}}', warnings) == ""
    assert warnings == ["Template variable warning: 'dict object' has no attribute 'Tea'"]


def test_the_config_an_earlier_gateway_left_for_an_item_is_cleared_once():
    disco, out = discovery()
    disco.device_registered("cab", "cabinet")
    disco.inventory("cab", {"Tea (green)": 1})
    disco.inventory("cab", {})
    disco.inventory("cab", {"Tea (green)": 1})
    legacy = "homeassistant/sensor/smartcab_cab/item_Tea__green_/config"
    assert out.messages.count((legacy, "")) == 1


def test_every_entity_subscribes_at_qos_1_and_reads_availability_from_each_entry():
    disco, out = discovery()
    for device, kind in (("wch-01", "watch"), ("cab", "cabinet"), ("img", "camera")):
        disco.device_registered(device, kind)
    disco.inventory("cab", {"Pepsi": 1})
    configs = out.configs()
    assert len(configs) == 1 + 6 + 2 + 2 + 1  # the hub, watch, cabinet, camera, one item
    for topic, config in configs.items():
        assert config["qos"] == 1, topic
        assert "payload_available" not in config and "payload_not_available" not in config
        if topic.startswith("homeassistant/binary_sensor/smartcab-gateway/"):
            continue  # the gateway's connection is a state, never unavailable
        device = config["device"]["identifiers"][0].removeprefix("smartcab_")
        assert config["availability"] == [
            {
                "topic": f"smartcab/devices/{device}/status",
                "payload_available": "online",
                "payload_not_available": "offline",
            },
            {
                "topic": "smartcab/services/gateway/status",
                "payload_available": "online",
                "payload_not_available": "offline",
            },
        ]
        entity = Entity(topic.split("/")[1], config)
        up = {e["topic"]: b"online" for e in config["availability"]}
        assert entity.available(up)
        for each in up:
            assert not entity.available(up | {each: b"offline"})


def test_vitals_are_read_from_the_retained_latest_reading():
    disco, out = discovery()
    disco.device_registered("wch-01", "watch", "1.2.0")
    hr = out.configs()["homeassistant/sensor/smartcab_wch-01/heart_rate/config"]
    assert hr["state_topic"] == Topics().latest("wch-01", "heart_rate")
    assert hr["state_topic"] == "smartcab/devices/wch-01/latest/heart_rate"
    entity = Entity("sensor", hr)
    entity.receive(b'{"device": "wch-01", "metric": "heart_rate", "value": 72.0, "unit": "bpm"}')
    assert (entity.state, entity.warnings) == ("72.0", [])
    assert entity.name == "Watch wch-01 Heart rate"


def test_devices_name_their_firmware_hardware_dashboard_and_the_gateway_as_their_hub():
    disco, out = discovery()
    disco.device_registered("wch-01", "watch", "1.2.0")
    configs = out.configs()
    hub_topic, hub = next((t, c) for t, c in configs.items() if "binary_sensor" in t)
    assert hub_topic == "homeassistant/binary_sensor/smartcab-gateway/connection/config"
    assert hub["state_topic"] == "smartcab/services/gateway/status"
    assert (hub["payload_on"], hub["payload_off"]) == ("online", "offline")
    assert hub["device"]["identifiers"] == ["smartcab-gateway"]
    assert hub["device"]["configuration_url"] == URL
    watch = configs["homeassistant/sensor/smartcab_wch-01/temperature/config"]["device"]
    assert watch == {
        "identifiers": ["smartcab_wch-01"],
        "name": "Watch wch-01",
        "manufacturer": "Health Plus",
        "model": "Smartwatch (ESP32)",
        "hw_version": "ESP32, MAX30102, MLX90614",
        "sw_version": "1.2.0",
        "via_device": "smartcab-gateway",
        "configuration_url": URL,
    }
    # one device info on every entity of the device, so HA's view does not depend on order
    infos = [c["device"] for c in configs.values() if c is not hub]
    assert all(info == watch for info in infos)


def test_new_firmware_re_announces_the_device_with_its_items_and_the_same_is_not_repeated():
    disco, out = discovery()
    disco.device_registered("cab", "cabinet", "1.0.0")
    disco.inventory("cab", {"Pepsi": 1})
    before = len(out.messages)
    disco.device_registered("cab", "cabinet", "1.0.0")
    assert len(out.messages) == before
    disco.device_registered("cab", "cabinet", "1.1.0")
    again = out.messages[before:]
    assert len(again) == 3  # light, button, the item; the hub is announced once
    assert {json.loads(p)["device"]["sw_version"] for _, p in again} == {"1.1.0"}


def test_a_device_of_no_known_kind_and_its_inventory_announce_nothing():
    disco, out = discovery()
    disco.device_registered("xyz", None)
    disco.inventory("xyz", {"Pepsi": 1})
    assert out.messages == []


def test_the_other_commands_and_entities_keep_their_topics_and_payloads():
    disco, out = discovery()
    disco.device_registered("cab", "cabinet")
    disco.device_registered("img", "camera")
    configs = out.configs()
    light = configs["homeassistant/light/smartcab_cab/led_strip/config"]
    assert (light["command_topic"], light["payload_on"], light["payload_off"]) == (
        "smartcab/devices/cab/cmd",
        "lon",
        "lof",
    )
    image = configs["homeassistant/image/smartcab_img/snapshot/config"]
    assert (image["image_topic"], image["content_type"]) == (
        "smartcab/devices/img/image",
        "image/jpeg",
    )
    names = {Entity(t.split("/")[1], c).name for t, c in configs.items()}
    assert {"Cabinet cab Count items now", "Camera img Take photo"} <= names
    assert len(entities(configs)) == len(configs)


def test_the_dashboard_address_must_be_a_web_address_when_discovery_is_on():
    env = {"HA_DISCOVERY": "1", "WEB_BASE_URL": "cabinet.example.org"}
    with pytest.raises(ConfigError, match="WEB_BASE_URL must start with http"):
        DiscoverySettings.from_env(env)
    assert DiscoverySettings.from_env(env | {"HA_DISCOVERY": "0"}).enabled is False
    settings = DiscoverySettings.from_env(env | {"WEB_BASE_URL": URL + "/"})
    assert settings.dashboard_url == URL
