"""The services' MQTT client moves to the next broker of ``MQTT_HOSTS`` when it loses one.

Two separate Mosquittos stand in for two nodes: what is checked here is the client's
choice of node (first that answers, the next on loss, back round), on paho's thread and
on asyncio, not a cluster's sessions (tests/integration/test_nats_cluster.py does that).
"""

import asyncio
import socket
import threading
import time

import pytest

from services.common.mqtt import CONNACK_WAIT, MqttClient, reachable
from services.common.settings import MqttSettings
from tests.support.mosquitto import Mosquitto
from tests.support.mqtt import TopicLog
from tests.support.net import free_port, wait_until


@pytest.fixture
def two_brokers(tmp_path):
    started = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        broker = Mosquitto(tmp_path / name)
        broker.start()
        started.append(broker)
    yield started
    for broker in started:
        broker.kill()


def settings_for(*ports: int) -> MqttSettings:
    hosts = ",".join(f"127.0.0.1:{port}" for port in ports)
    return MqttSettings.from_env({"MQTT_HOSTS": hosts, "MQTT_KEEPALIVE": "5"})


def test_the_first_broker_that_answers_is_used_and_the_next_on_loss(two_brokers):
    a, b = two_brokers
    dead = free_port()  # nothing listens: refused at once, the next one is tried
    client = MqttClient(settings_for(dead, a.port, b.port), "probe", client_id="probe")
    got = threading.Event()
    client.route("smartcab/test/ping", lambda message: got.set())
    with TopicLog(a.host, a.port, topics=("smartcab/services/probe/status",)) as on_a:
        client.start()
        try:
            assert client.wait_connected(10)
            assert client.broker == f"127.0.0.1:{a.port}"
            on_a.wait("smartcab/services/probe/status", where=lambda m: m.payload == b"online")
            a.kill()
            wait_until(lambda: client.connected and client.broker.endswith(f":{b.port}"), 15)
            # its subscriptions and its status follow it to the new node
            with TopicLog(b.host, b.port, topics=("smartcab/services/probe/status",)) as on_b:
                on_b.wait("smartcab/services/probe/status", where=lambda m: m.payload == b"online")
            wait_until(lambda: publish_until(b, got), 10, what="the routed message on node b")
        finally:
            client.stop()


def publish_until(broker: Mosquitto, got: threading.Event) -> bool:
    """Publish the ping once (the subscription may still be on its way) and look."""
    with TopicLog(broker.host, broker.port, topics=("smartcab/none",)) as pub:
        pub.client.publish("smartcab/test/ping", b"1", qos=1).wait_for_publish(5)
    return got.wait(0.5)


def test_queued_qos1_messages_go_to_the_next_node(two_brokers):
    a, b = two_brokers
    client = MqttClient(settings_for(a.port, b.port), "probe", client_id="probe")
    with TopicLog(b.host, b.port, topics=("smartcab/test/#",)) as on_b:
        client.start()
        try:
            assert client.wait_connected(10)
            # While b is frozen the client cannot finish moving to it, so the messages
            # below are surely published between nodes, however fast a move would be.
            with b.frozen():
                a.kill()
                wait_until(lambda: not client.connected, 10, what="the loss to be seen")
                # paho keeps them and sends them to node b
                for n in range(20):
                    client.publish(f"smartcab/test/{n}", str(n), qos=1)
                assert not client.connected
            got = on_b.wait("smartcab/test/#", count=20, timeout=15)
            assert sorted(int(m.payload) for m in got) == list(range(20))
            wait_until(lambda: client.backlog == 0, 10, what="every PUBACK")
        finally:
            client.stop()


def test_the_asyncio_driver_moves_on_too_and_comes_back_round(two_brokers):
    a, b = two_brokers
    client = MqttClient(settings_for(a.port, b.port), "probe", client_id="probe")

    async def scenario() -> list[str]:
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        seen = []
        try:
            for broker, other in ((a, b), (b, a)):
                await until(lambda broker=broker: client.connected and on(client, broker))
                seen.append(client.broker)
                broker.kill()
                if other.proc is None:
                    other.start()  # back from the dead, under the same port
            await until(lambda: client.connected and on(client, a))
            seen.append(client.broker)
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)
        return seen

    seen = asyncio.run(scenario())
    assert seen == [f"127.0.0.1:{p}" for p in (a.port, b.port, a.port)]


def on(client: MqttClient, broker: Mosquitto) -> bool:
    return client.broker == f"127.0.0.1:{broker.port}"


async def until(predicate, timeout: float = 15.0) -> None:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


def test_reachable_is_true_while_any_node_answers(two_brokers):
    b = two_brokers[1]
    settings = settings_for(free_port(), b.port)
    assert reachable(settings)
    b.kill()
    assert not reachable(settings, timeout=1)


@pytest.fixture
def mute_node():
    """A port that accepts TCP and never says CONNACK (a node stuck electing, or frozen)."""
    mute = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop_accepting = threading.Event()

    def accept() -> None:
        mute.settimeout(0.2)
        while not stop_accepting.is_set():
            try:
                held.append(mute.accept()[0])
            except TimeoutError:
                continue

    acceptor = threading.Thread(target=accept, daemon=True)
    acceptor.start()
    yield mute.getsockname()[1], held
    stop_accepting.set()
    acceptor.join(5)
    for sock in held:
        sock.close()
    mute.close()


def test_the_asyncio_driver_leaves_a_node_that_never_answers_connect(two_brokers, mute_node):
    port, held = mute_node
    b = two_brokers[1]
    client = MqttClient(settings_for(port, b.port), "probe", client_id="probe")

    async def scenario() -> float:
        stop = asyncio.Event()
        task = asyncio.create_task(client.run(stop))
        started = time.monotonic()
        try:
            await until(lambda: client.connected and on(client, b))
            return time.monotonic() - started
        finally:
            stop.set()
            await asyncio.wait_for(task, 10)

    took = asyncio.run(scenario())
    assert held  # it did try the mute node first
    assert CONNACK_WAIT <= took < CONNACK_WAIT + 3


def test_pahos_thread_leaves_a_node_that_never_answers_connect_too(two_brokers, mute_node):
    """What the recorder, scheduler, web, notifier, dose tracker and reporter run on."""
    port, held = mute_node
    b = two_brokers[1]
    # the keepalive (5 s here) is how long paho alone would wait for the CONNACK
    client = MqttClient(settings_for(port, b.port), "probe", client_id="probe")
    started = time.monotonic()
    client.start()
    try:
        wait_until(lambda: client.connected and on(client, b), 10, what="node b")
        took = time.monotonic() - started
    finally:
        client.stop()
    assert held  # it did try the mute node first
    assert CONNACK_WAIT <= took < CONNACK_WAIT + 3


def test_clients_without_a_kept_session_subscribe_at_the_clean_session_qos(broker):
    settings = MqttSettings.from_env({**broker.env(), "MQTT_CLEAN_SESSION_QOS": "0"})
    clean = MqttClient(settings, "probe", client_id="clean-probe")
    kept = MqttClient(settings, "probe", client_id="kept-probe", clean_session=False)
    for client in (clean, kept):
        client.route(f"smartcab/test/{client is kept}", lambda message: None)
        client.start()
    try:
        assert clean.wait_connected(10) and kept.wait_connected(10)
        log = broker.log
        # the kept session keeps QoS 1; the clean one is downgraded to 0
        for line in ("smartcab/test/True (QoS 1)", "smartcab/test/False (QoS 0)"):
            wait_until(lambda line=line: line in log.read_text(), 10, what=line)
    finally:
        clean.stop()
        kept.stop()
