"""The gateway's retained firmware versions: a board without one clears only one on record."""

import paho.mqtt.client as paho

from services.common.topics import Topics
from services.gateway.bridge import Bridge


class Client:
    """What the bridge publishes, in order (the broker's side of MqttClient)."""

    topics = Topics()

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bool]] = []

    def publish(self, topic: str, payload: str, qos: int = 1, retain: bool = False) -> None:
        self.sent.append((topic, payload, retain))


def retained(topic: str, payload: bytes) -> paho.MQTTMessage:
    message = paho.MQTTMessage(topic=topic.encode())
    message.payload, message.retain = payload, True
    return message


TOPIC = "smartcab/devices/cab/firmware"


def test_a_prototype_board_registering_again_and_again_publishes_no_version():
    client = Client()
    bridge = Bridge(client, queue_size=100)
    for _ in range(3):
        bridge.firmware("cab", None)
    assert client.sent == []


def test_a_version_is_published_and_cleared_once_when_a_prototype_board_takes_the_id():
    client = Client()
    bridge = Bridge(client, queue_size=100)
    bridge.firmware("cab", "1.2.0")
    bridge.firmware("cab", "1.2.0")  # a board with ours says it on every registration
    bridge.firmware("cab", None)  # the prototype's firmware flashed back
    bridge.firmware("cab", None)
    assert client.sent == [(TOPIC, "1.2.0", True), (TOPIC, "1.2.0", True), (TOPIC, "", True)]


def test_a_retained_version_left_by_another_gateway_is_cleared_and_an_empty_one_is_not():
    client = Client()
    bridge = Bridge(client, queue_size=100)
    bridge._firmware("cab", retained(TOPIC, b"1.1.0"))
    bridge._firmware("wch", retained("smartcab/devices/wch/firmware", b""))
    bridge.firmware("cab", None)
    bridge.firmware("wch", None)
    assert client.sent == [(TOPIC, "", True)]
    bridge._firmware("cab", retained(TOPIC, b""))  # the broker hands the clearing back
    bridge.firmware("cab", None)
    assert client.sent == [(TOPIC, "", True)]
