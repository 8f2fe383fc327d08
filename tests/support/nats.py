"""A real three-node NATS JetStream cluster with MQTT on, each node in its own temp folder.

Debian's ``nats-server`` (2.9). MQTT in NATS keeps its sessions, retained messages and
QoS 1 messages in JetStream, replicated on the three nodes here, so a client that loses
its node finds its session on another. Each node gets free ports for its clients, its
cluster routes, MQTT and its monitoring page (whose ``/healthz`` says when JetStream is
ready); a node can be SIGKILLed and started again on the same ports and storage.
"""

import json
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from .net import free_port

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
HOST = "127.0.0.1"


class NatsNode:
    """One ``nats-server`` of the cluster."""

    def __init__(self, workdir: Path, name: str) -> None:
        self.name = name
        self.workdir = workdir
        self.client_port, self.route_port = free_port(), free_port()
        self.mqtt_port, self.http_port = free_port(), free_port()
        self.conf = workdir / "nats.conf"
        self.log = workdir / "nats.log"
        self.proc: subprocess.Popen | None = None
        self._log_file = None

    @property
    def address(self) -> str:
        return f"{HOST}:{self.mqtt_port}"

    def write_conf(self, routes: list[int], replicas: int) -> None:
        route_urls = ", ".join(f"nats-route://{HOST}:{port}" for port in routes)
        self.conf.write_text(
            f"""server_name: {self.name}
listen: {HOST}:{self.client_port}
http: {HOST}:{self.http_port}
jetstream {{ store_dir: "{self.workdir / "js"}" }}
cluster {{
  name: smartcab
  listen: {HOST}:{self.route_port}
  routes: [ {route_urls} ]
}}
mqtt {{
  listen: {HOST}:{self.mqtt_port}
  # sessions, retained and QoS 1 messages on every node, so any node can take a client over
  stream_replicas: {replicas}
  consumer_replicas: {replicas}
  # unacknowledged QoS 1 messages are sent again after this long
  ack_wait: "5s"
}}
"""
        )

    def start(self) -> "NatsNode":
        if not Path(NATS_SERVER).exists():
            raise RuntimeError("nats-server is not installed: run `make test`, which installs it")
        self._log_file = self.log.open("ab")
        self.proc = subprocess.Popen(
            [NATS_SERVER, "-c", str(self.conf)], stdout=self._log_file, stderr=subprocess.STDOUT
        )
        return self

    def kill(self) -> None:
        """SIGKILL: no goodbye to its clients or to the other nodes."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self.proc = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def health(self) -> str:
        """``ok``, or what the node's ``/healthz`` says is not ready yet."""
        url = f"http://{HOST}:{self.http_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                body = json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            with exc:
                body = json.loads(exc.read() or b"{}")
        except (OSError, ValueError) as exc:
            return str(exc)
        return "ok" if body.get("status") == "ok" else str(body.get("error", body))

    def healthy(self) -> bool:
        """JetStream is up here, knows its meta leader and every stream is current.

        A node started again reports some idle consumers as not current until a message
        goes through them (nats-server 2.9); they catch up from their leader then, so
        they do not count.
        """
        health = self.health()
        return health == "ok" or ("consumer" in health and "is not current" in health)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def takes_a_subscription(node: NatsNode, timeout: float) -> bool:
    """A clean MQTT client on ``node`` gets its CONNACK and a granted QoS 1 SUBACK."""
    granted = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"probe-{uuid.uuid4().hex[:8]}")
    client.on_connect = lambda c, u, f, rc, p: c.subscribe("probe/ready", 1)
    client.on_subscribe = lambda c, u, mid, codes, p: (
        granted.set() if not any(code.is_failure for code in codes) else None
    )
    try:
        client.connect(HOST, node.mqtt_port, 10)
    except OSError:
        return False
    client.loop_start()
    try:
        # a short wait a try, so one slow answer does not eat the time left for the next
        return granted.wait(max(0.1, min(timeout, 5.0)))
    finally:
        client.disconnect()
        client.loop_stop()


class NatsCluster:
    """Three (or ``size``) nodes routed to each other, MQTT on each."""

    def __init__(self, workdir: Path, size: int = 3) -> None:
        self.nodes = []
        for n in range(1, size + 1):
            folder = workdir / f"n{n}"
            folder.mkdir(parents=True, exist_ok=True)
            self.nodes.append(NatsNode(folder, f"n{n}"))
        routes = [node.route_port for node in self.nodes]
        for node in self.nodes:
            node.write_conf(routes, min(size, 3))

    def start(self, timeout: float = 30.0) -> "NatsCluster":
        for node in self.nodes:
            node.start()
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 30.0) -> None:
        """Every running node says JetStream is ready (a leader elected, streams caught up)
        and takes an MQTT session with a QoS 1 subscription."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running = [node for node in self.nodes if node.running]
            if all(node.healthy() for node in running) and all(
                takes_a_subscription(node, deadline - time.monotonic()) for node in running
            ):
                return
            time.sleep(0.1)
        logs = "\n".join(f"--- {n.name}\n{n.log_text()[-2000:]}" for n in self.nodes)
        raise TimeoutError(f"the NATS cluster was not healthy in {timeout} s\n{logs}")

    def node_at(self, address: str) -> NatsNode:
        return next(node for node in self.nodes if node.address == address)

    def restart(self, node: NatsNode, timeout: float = 30.0) -> None:
        node.start()
        self.wait_healthy(timeout)

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()

    def hosts(self, first: int = 0) -> str:
        """``MQTT_HOSTS`` with node ``first`` first, the others after it in turn."""
        order = self.nodes[first:] + self.nodes[:first]
        return ",".join(node.address for node in order)

    def env(self, first: int = 0) -> dict[str, str]:
        """What a service needs to use the cluster, node ``first`` first."""
        return {"MQTT_HOSTS": self.hosts(first), "MQTT_CLEAN_SESSION_QOS": "0"}
