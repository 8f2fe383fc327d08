"""The project's broker accounts and ACL, really run: each service can do exactly its job."""

import subprocess
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mosquitto import Mosquitto
from tests.support.seed_clients import SeedWatch
from tests.support.services import gateway as gateway_process

ROOT = Path(__file__).resolve().parents[1]

# account -> (topics it must be able to publish, topics it must not)
WRITES = {
    "gateway": (
        [
            "smartcab/services/gateway/status",
            "smartcab/devices/wch/status",
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/devices/cab/inventory",
            "smartcab/devices/img/image",
            "smartcab/devices/cab/cmd/result",
        ],
        [
            "smartcab/services/recorder/status",
            "smartcab/devices/cab/cmd",
            "smartcab/devices/wch/patient",
            "smartcab/alerts/devices/wch",
            "smartcab/reports/requests",
            "other/topic",
        ],
    ),
    "recorder": (
        ["smartcab/services/recorder/status", "smartcab/alerts/devices/wch"],
        [
            "smartcab/services/gateway/status",
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/devices/wch/cmd",
            "smartcab/devices/wch/status",
        ],
    ),
    "scheduler": (
        [
            "smartcab/services/scheduler/status",
            "smartcab/devices/wch/cmd",
            "smartcab/reports/jobs/weekly",
        ],
        [
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/devices/wch/status",
            "smartcab/reports/requests",
            "smartcab/services/web/status",
        ],
    ),
    "web": (
        [
            "smartcab/services/web/status",
            "smartcab/devices/cab/cmd",
            "smartcab/devices/wch/patient",
            "smartcab/devices/manual-ann/vitals/spo2",
            "smartcab/reports/requests",
        ],
        [
            "smartcab/devices/wch/status",
            "smartcab/devices/img/image",
            "smartcab/alerts/devices/wch",
            "smartcab/reports/results/r1",
            "smartcab/services/gateway/status",
        ],
    ),
    "reporter": (
        [
            "smartcab/services/reporter/status",
            "smartcab/reports/progress/r1",
            "smartcab/reports/results/r1",
            "smartcab/reports/doctors/D1/r1",
            "smartcab/reports/audit",
        ],
        ["smartcab/reports/requests", "smartcab/devices/wch/cmd", "smartcab/alerts/devices/x"],
    ),
}

# account -> (topics it must receive, topics it must not)
READS = {
    "gateway": (
        ["smartcab/devices/wch/cmd", "smartcab/devices/wch/status"],
        [
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/alerts/devices/wch",
            "smartcab/reports/requests",
            "smartcab/devices/wch/patient",
        ],
    ),
    "recorder": (
        [
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/devices/cab/inventory",
            "smartcab/devices/wch/status",
            "smartcab/devices/wch/patient",
            "smartcab/services/gateway/status",
        ],
        ["smartcab/devices/img/image", "smartcab/devices/wch/cmd", "smartcab/reports/requests"],
    ),
    "scheduler": (
        [
            "smartcab/devices/wch/status",
            "smartcab/services/gateway/status",
            "smartcab/devices/wch/vitals/heart_rate",
        ],
        [
            "smartcab/devices/cab/inventory",
            "smartcab/devices/wch/patient",
            "smartcab/alerts/devices/wch",
            "smartcab/reports/requests",
        ],
    ),
    "web": (
        [
            "smartcab/devices/img/image",
            "smartcab/devices/cab/inventory",
            "smartcab/alerts/devices/wch",
            "smartcab/reports/results/r1",
            "smartcab/services/gateway/status",
        ],
        ["other/secret"],
    ),
    "reporter": (
        ["smartcab/reports/requests", "smartcab/reports/jobs/weekly"],
        [
            "smartcab/devices/wch/vitals/heart_rate",
            "smartcab/alerts/devices/wch",
            "smartcab/devices/wch/patient",
        ],
    ),
}


@pytest.fixture
def secured(tmp_path):
    """Mosquitto with the project's ACL, accounts made by scripts/broker-accounts.sh."""
    accounts = tmp_path / "accounts"
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "broker-accounts.sh"), str(accounts)],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["mosquitto_passwd", "-b", str(accounts / "passwords"), "observer", "observer-pw"],
        check=True,
    )
    acl = tmp_path / "acl"
    # a test-only observer that may see and say everything, to watch the others
    acl.write_text(
        (ROOT / "mosquitto" / "acl").read_text() + "\nuser observer\ntopic readwrite #\n"
    )
    workdir = tmp_path / "mosquitto"
    workdir.mkdir()
    broker = Mosquitto(
        workdir,
        extra_conf="\n".join(
            [
                "allow_anonymous false",
                f"password_file {accounts / 'passwords'}",
                f"acl_file {acl}",
            ]
        ),
    )
    broker.start()
    secrets = {}
    for env_file in accounts.glob("*.env"):
        values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        secrets[values["MQTT_USERNAME"]] = values["MQTT_PASSWORD"]
    secrets["observer"] = "observer-pw"
    yield broker, secrets
    broker.kill()


class Client:
    """A paho client that records what it receives and how its connection went."""

    def __init__(self, port: int, username: str | None, password: str | None):
        self.received: list[str] = []
        self.connected = threading.Event()
        self.result = None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex)
        if username:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_message = lambda c, u, m: self.received.append(m.topic)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        self.connected.wait(5)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.result = reason_code
        self.connected.set()

    def subscribe_all(self) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.subscribe("#", qos=1)
        assert done.wait(5)

    def publish(self, topic: str) -> None:
        info = self.client.publish(topic, b"x", qos=1)
        info.wait_for_publish(5)

    def wait_for(self, topic: str) -> None:
        deadline = time.monotonic() + 5
        while topic not in self.received:
            assert time.monotonic() < deadline, f"{topic} never arrived; got {self.received}"
            time.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_anonymous_and_wrong_passwords_are_refused(secured):
    broker, secrets = secured
    anonymous = Client(broker.port, None, None)
    wrong = Client(broker.port, "web", secrets["gateway"])
    right = Client(broker.port, "web", secrets["web"])
    try:
        assert anonymous.result is not None and anonymous.result.is_failure
        assert wrong.result is not None and wrong.result.is_failure
        assert right.result is not None and not right.result.is_failure
    finally:
        for client in (anonymous, wrong, right):
            client.close()


@pytest.mark.parametrize("account", sorted(WRITES))
def test_each_account_publishes_exactly_its_topics(secured, account):
    broker, secrets = secured
    observer = Client(broker.port, "observer", secrets["observer"])
    observer.subscribe_all()
    client = Client(broker.port, account, secrets[account])
    allowed, forbidden = WRITES[account]
    try:
        for topic in forbidden + allowed:  # one client's messages arrive in order
            client.publish(topic)
        for topic in allowed:
            observer.wait_for(topic)
        leaked = [t for t in forbidden if t in observer.received]
        assert leaked == [], f"{account} could publish to {leaked}"
    finally:
        client.close()
        observer.close()


@pytest.mark.parametrize("account", sorted(READS))
def test_each_account_receives_exactly_its_topics_even_subscribed_to_everything(secured, account):
    broker, secrets = secured
    client = Client(broker.port, account, secrets[account])
    client.subscribe_all()
    observer = Client(broker.port, "observer", secrets["observer"])
    allowed, forbidden = READS[account]
    try:
        for topic in forbidden + allowed:
            observer.publish(topic)
        for topic in allowed:
            client.wait_for(topic)
        leaked = [t for t in forbidden if t in client.received]
        assert leaked == [], f"{account} could read {leaked}"
    finally:
        client.close()
        observer.close()


def test_the_gateway_works_under_its_own_account(secured, tmp_path):
    broker, secrets = secured
    observer = Client(broker.port, "observer", secrets["observer"])
    observer.subscribe_all()
    gw = gateway_process(
        tmp_path,
        {**broker.env(), "MQTT_USERNAME": "gateway", "MQTT_PASSWORD": secrets["gateway"]},
    ).start()
    try:
        watch = SeedWatch(gw.port)
        observer.publish("smartcab/devices/wch/cmd")  # payload "x": an unknown command
        observer.wait_for("smartcab/devices/wch/cmd/result")
        watch.sock.send(b"70.00,bpm")
        observer.wait_for("smartcab/devices/wch/vitals/heart_rate")
        observer.wait_for("smartcab/services/gateway/status")
        watch.close()
    finally:
        gw.kill()
        observer.close()
