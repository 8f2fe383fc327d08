"""``wait_subscribed``: once it returns, what is published reaches every route at once."""

import threading

from services.common.mqtt import MqttClient
from services.common.settings import MqttSettings
from tests.support.mqtt import TopicLog
from tests.support.net import wait_until

TOPICS = [f"smartcab/test/{n}" for n in range(40)]


def test_every_route_is_granted_before_wait_subscribed_returns(broker):
    client = MqttClient(MqttSettings.from_env(broker.env()), "probe", client_id="probe")
    heard: set[str] = set()
    lock = threading.Lock()

    def on_message(message) -> None:
        with lock:
            heard.add(message.topic)

    for topic in TOPICS:
        client.route(topic, on_message)
    client.start()
    try:
        assert client.wait_subscribed(10)
        # published once each, not retained: a route not yet granted would miss its message
        with TopicLog(broker.host, broker.port, topics=("smartcab/none",)) as pub:
            for topic in TOPICS:
                pub.publish(topic, b"1")
        wait_until(lambda: len(heard) == len(TOPICS), 10, what="every topic heard")
        broker.kill()
        wait_until(lambda: not client.connected, 10, what="the loss")
        assert not client.wait_subscribed(0.2)  # nothing is granted without a connection
    finally:
        client.stop()
