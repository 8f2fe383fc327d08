"""Home Assistant MQTT discovery from the gateway: a real broker, firmware-faithful devices."""

import json

import jinja2

from tests.support.mqtt import TopicLog
from tests.support.seed_clients import SeedDevice, SeedWatch

CONFIGS = "homeassistant/+/+/+/config"


def render(template: str, payload: bytes) -> str:
    """Render a value_template the way Home Assistant does: ``value_json`` is the JSON."""
    return jinja2.Environment().from_string(template).render(value_json=json.loads(payload))


def by_topic(messages) -> dict[str, dict]:
    return {m.topic: json.loads(m.payload) for m in messages}


def test_each_device_is_announced_with_availability_and_ha_commands_reach_the_seed_cabinet(
    make_gateway, mqtt_log, broker
):
    gw = make_gateway(HA_DISCOVERY="1")
    watch = SeedWatch(gw.port, b"wch-01")
    cabinet = SeedDevice(gw.port, b"cab")
    camera = SeedDevice(gw.port, b"img")
    try:
        # five vitals and a "measure" button; the light and a "count" button; image and button
        configs = by_topic(mqtt_log.wait(CONFIGS, count=10))
        prefix = "homeassistant"
        hr = configs[f"{prefix}/sensor/smartcab_wch-01/heart_rate/config"]
        temp = configs[f"{prefix}/sensor/smartcab_wch-01/temperature/config"]
        light = configs[f"{prefix}/light/smartcab_cab/led_strip/config"]
        image = configs[f"{prefix}/image/smartcab_img/snapshot/config"]

        # each device on its own, available only while it and the gateway are online
        devices = {c["device"]["identifiers"][0] for c in configs.values()}
        assert devices == {"smartcab_wch-01", "smartcab_cab", "smartcab_img"}
        for config in configs.values():
            assert config["availability_mode"] == "all"
            topics = [a["topic"] for a in config["availability"]]
            device = config["device"]["identifiers"][0].removeprefix("smartcab_")
            assert topics == [
                f"smartcab/devices/{device}/status",
                "smartcab/services/gateway/status",
            ]
        assert len({c["unique_id"] for c in configs.values()}) == len(configs)
        for topic in ("smartcab/devices/wch-01/status", "smartcab/services/gateway/status"):
            assert mqtt_log.payloads(topic)[-1] == hr["payload_available"].encode()

        # the watch's vitals: the sensors read the gateway's JSON with their templates
        assert hr["state_topic"] == "smartcab/devices/wch-01/vitals/heart_rate"
        assert (hr["unit_of_measurement"], temp["unit_of_measurement"]) == ("bpm", "°C")
        watch.sock.send(b"72.00,bpm")
        watch.sock.send(b"36.60,temp")
        reading = mqtt_log.wait(hr["state_topic"])[0].payload
        assert render(hr["value_template"], reading) == "72.0"
        reading = mqtt_log.wait(temp["state_topic"])[0].payload
        assert render(temp["value_template"], reading) == "36.6"

        # the cabinet's items become sensors once its first inventory names them
        cabinet.send_sized(json.dumps({"Nutella": 0, "Pepsi": 1, "Pringles": 2}).encode())
        items = by_topic(mqtt_log.wait("homeassistant/sensor/smartcab_cab/+/config", 3))
        inventory = mqtt_log.wait("smartcab/devices/cab/inventory")[0].payload
        counts = {c["name"]: render(c["value_template"], inventory) for c in items.values()}
        assert counts == {"Nutella": "0", "Pepsi": "1", "Pringles": "2"}
        assert {c["state_topic"] for c in items.values()} == {"smartcab/devices/cab/inventory"}

        # the camera is an image entity fed by the retained JPEG topic
        assert image["image_topic"] == "smartcab/devices/img/image"
        assert image["content_type"] == "image/jpeg"

        # HA switches the strip off as it does: payload_off on the command topic
        assert light["command_topic"] == "smartcab/devices/cab/cmd"
        mqtt_log.publish(light["command_topic"], light["payload_off"])
        assert cabinet.recv_command() == b"lof"
        mqtt_log.publish(light["command_topic"], light["payload_on"])
        assert cabinet.recv_command() == b"lon"

        # configs are retained: Home Assistant started later still finds every device
        with TopicLog(broker.host, broker.port, topics=[CONFIGS]) as late:
            retained = late.wait(CONFIGS, count=len(configs) + len(items))
            assert all(m.retain for m in retained)
    finally:
        for device in (watch, cabinet, camera):
            device.close()


def test_discovery_is_off_unless_asked_for(make_gateway, mqtt_log):
    gw = make_gateway()
    watch = SeedWatch(gw.port, b"wch")
    try:
        watch.sock.send(b"70.00,bpm")
        # the reading comes after where the configs would have been published
        mqtt_log.wait("smartcab/devices/wch/vitals/heart_rate")
        assert mqtt_log.on("homeassistant/#") == []
        assert mqtt_log.payloads("smartcab/devices/wch/status") == [b"online"]
    finally:
        watch.close()
