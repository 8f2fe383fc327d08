"""Container health checks: ``tcp PORT``, ``http URL`` or ``mqtt SERVICE`` (exit 0 = healthy)."""

import os
import socket
import sys
import threading
import urllib.request
import uuid


def tcp(port: str) -> bool:
    """Something accepts connections on the port (the gateway's device listener)."""
    with socket.create_connection(("127.0.0.1", int(port)), timeout=3):
        return True


def http(url: str) -> bool:
    """The URL answers below 500 (the dashboard's /healthz: 503 while its database is away)."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status < 500


def mqtt(service: str) -> bool:
    """The broker holds ``online`` for the service: it is connected and its will not fired."""
    import paho.mqtt.client as paho
    from paho.mqtt.enums import CallbackAPIVersion

    root = os.environ.get("MQTT_TOPIC_ROOT") or "smartcab"
    topic = f"{root}/services/{service}/status"
    got: list[bytes] = []
    done = threading.Event()
    # a random id: reusing the service's own would disconnect the service
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"health-{uuid.uuid4().hex[:8]}")
    if os.environ.get("MQTT_USERNAME"):
        client.username_pw_set(os.environ["MQTT_USERNAME"], os.environ.get("MQTT_PASSWORD"))
    if os.environ.get("MQTT_TLS_CA"):
        client.tls_set(ca_certs=os.environ["MQTT_TLS_CA"])
    client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)

    def on_message(c, u, message) -> None:
        got.append(message.payload)
        done.set()

    client.on_message = on_message
    client.connect(os.environ.get("MQTT_HOST", "localhost"), int(os.environ.get("MQTT_PORT", 1883)))
    client.loop_start()
    done.wait(5)
    client.disconnect()
    client.loop_stop()
    return got[:1] == [b"online"]


def main(argv: list[str]) -> int:
    checks = {"tcp": tcp, "http": http, "mqtt": mqtt}
    if len(argv) != 2 or argv[0] not in checks:
        print("usage: healthcheck.py tcp PORT | http URL | mqtt SERVICE", file=sys.stderr)
        return 2
    try:
        return 0 if checks[argv[0]](argv[1]) else 1
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
