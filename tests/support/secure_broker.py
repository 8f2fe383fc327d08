"""Mosquitto run with the project's production config, accounts, ACL and TLS certificates."""

import getpass
import re
import subprocess
import threading
import time
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .mosquitto import Mosquitto
from .net import free_port

ROOT = Path(__file__).resolve().parents[2]


def make_accounts(accounts: Path) -> dict[str, str]:
    """Run scripts/broker-accounts.sh and return account -> password."""
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "broker-accounts.sh"), str(accounts)],
        check=True,
        capture_output=True,
    )
    secrets = {}
    for env_file in accounts.glob("*.env"):
        values = dict(line.split("=", 1) for line in env_file.read_text().splitlines())
        secrets[values["MQTT_USERNAME"]] = values["MQTT_PASSWORD"]
    return secrets


def make_certs(folder: Path, *names: str) -> Path:
    """Run scripts/make-certs.sh; returns the folder with ca.crt, server.crt, server.key."""
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "make-certs.sh"), str(folder), *names],
        check=True,
        capture_output=True,
    )
    return folder


class ProductionMosquitto(Mosquitto):
    """mosquitto/mosquitto.conf with its container paths and ports moved into ``workdir``."""

    def __init__(self, workdir: Path, secrets_dir: Path, acl: Path) -> None:
        super().__init__(workdir)
        self.tls_port = free_port()
        conf = (ROOT / "mosquitto" / "mosquitto.conf").read_text()
        replacements = {
            r"^listener 1883$": f"listener {self.port} 127.0.0.1",
            r"^listener 8883$": f"listener {self.tls_port} 127.0.0.1",
            r"/mosquitto/secrets/": f"{secrets_dir}/",
            r"/mosquitto/config/acl": str(acl),
            r"/mosquitto/data/": f"{workdir}/",
            r"^log_dest stdout$": f"log_dest file {self.log}\nlog_type all",
        }
        for pattern, value in replacements.items():
            conf, count = re.subn(pattern, value, conf, flags=re.MULTILINE)
            assert count >= 1, f"mosquitto.conf no longer has {pattern!r}"
        # as root Mosquitto would switch to the `mosquitto` user, who cannot read pytest's files
        self.conf.write_text(f"user {getpass.getuser()}\n{conf}")


class Client:
    """A paho client that records what it receives and how its connection went."""

    def __init__(
        self,
        port: int,
        username: str | None,
        password: str | None,
        ca: Path | None = None,
        host: str = "127.0.0.1",
    ):
        self.received: list[str] = []
        self.messages: list[mqtt.MQTTMessage] = []
        self.connected = threading.Event()
        self.result = None
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=uuid.uuid4().hex)
        if username:
            self.client.username_pw_set(username, password)
        if ca:
            self.client.tls_set(ca_certs=str(ca))
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect(host, port)
        self.client.loop_start()
        self.connected.wait(5)

    def _on_connect(self, client, userdata, flags, reason_code, properties):
        self.result = reason_code
        self.connected.set()

    def _on_message(self, client, userdata, message):
        self.messages.append(message)
        self.received.append(message.topic)

    def subscribe(self, topic: str = "#") -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda *a: done.set()
        self.client.subscribe(topic, qos=1)
        assert done.wait(5)

    def subscribe_all(self) -> None:
        self.subscribe("#")

    def publish(self, topic: str, payload: bytes = b"x", retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(5)

    def wait_for(self, topic: str, timeout: float = 5) -> mqtt.MQTTMessage:
        deadline = time.monotonic() + timeout
        while topic not in self.received:
            assert time.monotonic() < deadline, f"{topic} never arrived; got {self.received}"
            time.sleep(0.02)
        return next(m for m in self.messages if m.topic == topic)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
