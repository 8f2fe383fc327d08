"""A service's own status stays true when a last will of an old connection arrives late.

A cluster node that drops a client sends the client's last will only once it has tried
to store it; while the cluster elects leaders that takes seconds (NATS: 4 s), and by
then the client is online on another node. The late ``offline`` is played here by a
second client on a real Mosquitto, against both of the client's drivers.
"""

import asyncio

from services.common.mqtt import MqttClient
from services.common.settings import MqttSettings
from services.common.topics import OFFLINE, ONLINE
from tests.support.mqtt import TopicLog
from tests.support.net import wait_until

STATUS = "smartcab/services/probe/status"


def retained_status(broker) -> bytes:
    """What a newcomer is told the probe's status is."""
    with TopicLog(broker.host, broker.port, topics=(STATUS,)) as log:
        [message] = log.wait(STATUS, where=lambda m: m.retain)
        return bytes(message.payload)


def late_will_is_answered(broker, client: MqttClient) -> None:
    with TopicLog(broker.host, broker.port, topics=(STATUS,)) as log:
        log.wait(STATUS, where=lambda m: m.payload == ONLINE.encode())
        log.publish(STATUS, OFFLINE, retain=True)  # the old connection's will, late
        # the client, still connected, says online again (after RESTORE_WAIT)
        log.wait(STATUS, count=2, where=lambda m: m.payload == ONLINE.encode())
    assert client.connected
    assert retained_status(broker) == ONLINE.encode()


def test_a_late_will_is_answered_with_online_and_a_clean_stop_stays_offline(broker):
    client = MqttClient(MqttSettings.from_env(broker.env()), "probe", client_id="probe")
    client.start()
    try:
        assert client.wait_connected(10)
        late_will_is_answered(broker, client)
    finally:
        client.stop()
    # its own offline, echoed back to it while it stops, is not taken for a late will
    assert retained_status(broker) == OFFLINE.encode()


def test_the_asyncio_driver_answers_a_late_will_too(broker):
    client = MqttClient(MqttSettings.from_env(broker.env()), "probe", client_id="probe")

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        try:
            await asyncio.to_thread(wait_until, lambda: client.connected, 10)
            await asyncio.to_thread(late_will_is_answered, broker, client)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    asyncio.run(main())
    assert retained_status(broker) == OFFLINE.encode()


def test_a_service_watching_every_status_still_hears_its_own(broker):
    client = MqttClient(MqttSettings.from_env(broker.env()), "probe", client_id="probe")
    heard: list[bytes] = []

    def on_status(name: str, message) -> None:
        if name == "probe":
            heard.append(bytes(message.payload))

    client.route("smartcab/services/+/status", on_status)
    client.start()
    try:
        assert client.wait_connected(10)
        wait_until(lambda: ONLINE.encode() in heard, 10, what="its own online")
        with TopicLog(broker.host, broker.port, topics=(STATUS,)) as log:
            log.publish(STATUS, OFFLINE, retain=True)
            wait_until(lambda: heard.count(ONLINE.encode()) >= 2, 10, what="online again")
        assert OFFLINE.encode() in heard  # its own route saw the will as well
    finally:
        client.stop()
