"""Home Assistant MQTT discovery from the gateway: a real broker, firmware-faithful devices.

The configs and the payloads are the real gateway's, taken from the real broker; what Home
Assistant makes of them (templates, states, availability, names) is tests/support/ha.py,
which scripts/check-home-assistant.sh checks against a real Home Assistant.
"""

import json

from tests.support.ha import UNKNOWN, Entity, entities
from tests.support.mqtt import TopicLog
from tests.support.seed_clients import SeedDevice, SeedWatch

CONFIGS = "homeassistant/+/+/+/config"
URL = "https://cabinet.example.org"


def by_topic(messages) -> dict[str, dict]:
    """The last config of each topic; an empty (removing) config drops it."""
    last = {m.topic: bytes(m.payload) for m in messages}
    return {t: json.loads(p) for t, p in last.items() if p}


def retained(mqtt_log) -> dict[str, bytes]:
    """The last payload of every topic, as HA's availability sees them."""
    return {m.topic: bytes(m.payload) for m in mqtt_log.on("#")}


def test_home_assistant_reads_each_devices_entities_from_the_real_gateway(
    make_gateway, mqtt_log, broker
):
    gw = make_gateway(HA_DISCOVERY="1", WEB_BASE_URL=URL)
    # a board on this project's firmware reports its version in its hello
    watch = SeedWatch(gw.port, b"wch-01~v=1.2.0")
    cabinet = SeedDevice(gw.port, b"cab")
    camera = SeedDevice(gw.port, b"img")
    try:
        # the hub; five vitals and "measure"; the light and "count"; image and "take photo"
        configs = by_topic(mqtt_log.wait(CONFIGS, count=11))
        ha = entities(configs)
        hr = ha["homeassistant/sensor/smartcab_wch-01/heart_rate/config"]
        temp = ha["homeassistant/sensor/smartcab_wch-01/temperature/config"]
        hub = ha["homeassistant/binary_sensor/smartcab-gateway/connection/config"]
        assert len({e.config["unique_id"] for e in ha.values()}) == len(ha)

        # every device shown through the gateway, with its firmware, hardware and dashboard
        assert hr.config["device"]["sw_version"] == "1.2.0"
        assert hr.config["device"]["hw_version"] == "ESP32, MAX30102, MLX90614"
        assert {e.config["device"]["configuration_url"] for e in ha.values()} == {URL}
        vias = {
            e.config["device"]["identifiers"][0]: e.config["device"].get("via_device")
            for e in ha.values()
        }
        assert vias == {
            "smartcab-gateway": None,
            "smartcab_wch-01": "smartcab-gateway",
            "smartcab_cab": "smartcab-gateway",
            "smartcab_img": "smartcab-gateway",
        }
        assert (hr.name, hr.entity_id) == (
            "Watch wch-01 Heart rate",
            "sensor.watch_wch_01_heart_rate",
        )

        # available only while the device and the gateway are online; the hub says which
        assert all(e.available(retained(mqtt_log)) for e in ha.values())
        hub.receive(mqtt_log.wait("smartcab/services/gateway/status")[-1].payload)
        assert hub.state == "online"
        assert hub.config["payload_on"] == "online"

        # the watch's vitals: the sensors read the gateway's retained latest readings
        watch.sock.send(b"72.00,bpm")
        watch.sock.send(b"36.60,temp")
        for entity in (hr, temp):
            entity.receive(mqtt_log.wait(entity.config["state_topic"])[0].payload)
        assert (hr.state, temp.state, hr.warnings + temp.warnings) == ("72.0", "36.6", [])
        assert (hr.config["unit_of_measurement"], temp.config["unit_of_measurement"]) == (
            "bpm",
            "°C",
        )
        # the stream the other services read is the same reading, and stays unretained
        stream = mqtt_log.wait("smartcab/devices/wch-01/vitals/heart_rate")[0]
        assert not stream.retain
        assert json.loads(stream.payload) == json.loads(
            mqtt_log.wait(hr.config["state_topic"])[0].payload
        )

        # the cabinet's items: punctuation and accents apart, each a sensor of its own
        first = {"Tea (green)": 0, "Tea [green]": 1, "Müsli": 2}
        cabinet.send_sized(json.dumps(first, ensure_ascii=False).encode())
        items = entities(by_topic(mqtt_log.wait("homeassistant/sensor/smartcab_cab/+/config", 3)))
        inventory = mqtt_log.wait("smartcab/devices/cab/inventory")[0].payload
        for item in items.values():
            item.receive(inventory)
        assert {i.config["name"]: i.state for i in items.values()} == {
            "Tea (green)": "0",
            "Tea [green]": "1",
            "Müsli": "2",
        }
        assert "sensor.cabinet_cab_musli" in {i.entity_id for i in items.values()}

        # an item that leaves the inventory: its config is removed, its sensor reads unknown
        cabinet.send_sized(json.dumps({"Tea (green)": 0, "Müsli": 1}).encode())
        later = mqtt_log.wait("smartcab/devices/cab/inventory", 2)[1].payload
        gone = next(t for t, i in items.items() if i.config["name"] == "Tea [green]")
        assert mqtt_log.wait(gone, 2)[1].payload == b""
        for item in items.values():
            item.receive(later)
        assert items[gone].state == UNKNOWN
        assert [w for i in items.values() for w in i.warnings] == []

        # HA's light commands reach the cabinet as exactly the firmware's bytes
        light = configs["homeassistant/light/smartcab_cab/led_strip/config"]
        mqtt_log.publish(light["command_topic"], light["payload_off"])
        assert cabinet.recv_command() == b"lof"

        # the camera is an image entity fed by the retained JPEG topic
        image = configs["homeassistant/image/smartcab_img/snapshot/config"]
        assert (image["image_topic"], image["qos"]) == ("smartcab/devices/img/image", 1)

        # Home Assistant restarted: it finds every config, the vitals and the stock retained
        topics = [CONFIGS, "smartcab/devices/+/latest/+", "smartcab/devices/+/inventory"]
        with TopicLog(broker.host, broker.port, topics=topics) as late:
            found = late.wait(CONFIGS, count=len(configs) + 2)
            assert all(m.retain for m in found)
            assert gone not in {m.topic for m in found}
            again = Entity("sensor", hr.config)
            again.receive(late.wait(hr.config["state_topic"])[0].payload)
            assert again.state == "72.0"
    finally:
        for device in (watch, cabinet, camera):
            device.close()


def test_devices_go_unavailable_with_their_connection_and_with_the_gateway(make_gateway, mqtt_log):
    gw = make_gateway(HA_DISCOVERY="1")
    watch = SeedWatch(gw.port, b"wch")
    cabinet = SeedDevice(gw.port, b"cab")
    try:
        configs = by_topic(mqtt_log.wait(CONFIGS, count=1 + 6 + 2))
        hr = Entity("sensor", configs["homeassistant/sensor/smartcab_wch/heart_rate/config"])
        light = Entity("light", configs["homeassistant/light/smartcab_cab/led_strip/config"])
        assert hr.available(retained(mqtt_log)) and light.available(retained(mqtt_log))
        watch.close()
        mqtt_log.wait("smartcab/devices/wch/status", where=lambda m: m.payload == b"offline")
        assert not hr.available(retained(mqtt_log))
        assert light.available(retained(mqtt_log))
        gw.stop()
        mqtt_log.wait("smartcab/services/gateway/status", where=lambda m: m.payload == b"offline")
        assert not light.available(retained(mqtt_log))
    finally:
        watch.close()
        cabinet.close()


def test_discovery_is_off_unless_asked_for(make_gateway, mqtt_log):
    gw = make_gateway()
    watch = SeedWatch(gw.port, b"wch")
    try:
        watch.sock.send(b"70.00,bpm")
        # the reading comes after where the configs would have been published
        mqtt_log.wait("smartcab/devices/wch/vitals/heart_rate")
        assert mqtt_log.on("homeassistant/#") == []
        assert mqtt_log.on("smartcab/devices/+/latest/+") == []
        assert mqtt_log.payloads("smartcab/devices/wch/status") == [b"online"]
    finally:
        watch.close()
