"""The gateway's TLS listener: the boards' firmware over TLS, the plain port beside it."""

import json
import logging
import os
import socket
import subprocess
import sys

import pytest

from tests.support.boards import BoardThread, make_watch
from tests.support.net import free_port, wait_port, wait_until
from tests.support.secure_broker import make_certs
from tests.support.seed_clients import SeedWatch, closed_by_peer

ROOT = "smartcab/devices"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """The project CA and server certificate, and a second CA the gateway knows nothing of."""
    ours = make_certs(tmp_path_factory.mktemp("certs"))
    other = make_certs(tmp_path_factory.mktemp("other-ca"))
    return ours, other


@pytest.fixture
def tls_gateway(make_gateway, certificates):
    ours, _ = certificates
    port = free_port()
    gw = make_gateway(
        GATEWAY_TLS_PORT=str(port),
        GATEWAY_TLS_CERT=str(ours / "server.crt"),
        GATEWAY_TLS_KEY=str(ours / "server.key"),
        GATEWAY_HANDSHAKE_TIMEOUT="1",
    )
    wait_port(port)
    gw.tls_port = port
    return gw


def online(log, device: str):
    return log.wait(f"{ROOT}/{device}/status", where=lambda m: m.payload == b"online")


def test_a_board_speaks_the_protocol_inside_tls_beside_a_plain_prototype(
    tls_gateway, mqtt_log, certificates
):
    ours, _ = certificates
    app, body = make_watch(seed=3)
    tls = {"tls": True, "tls_ca": str(ours / "ca.crt")}
    with BoardThread(app, tls_gateway.tls_port, "wch-tls", **tls) as board:
        online(mqtt_log, "wch-tls")
        prototype = SeedWatch(tls_gateway.port, b"wch-plain")  # the prototype's firmware
        online(mqtt_log, "wch-plain")
        mqtt_log.publish(f"{ROOT}/wch-tls/cmd", b"bpm")
        mqtt_log.publish(f"{ROOT}/wch-plain/cmd", b"bpm")
        assert prototype.serve_once(70.0, 36.6) == b"bpm"
        [reading] = mqtt_log.wait(f"{ROOT}/wch-tls/vitals/heart_rate", timeout=20)
        mqtt_log.wait(f"{ROOT}/wch-plain/vitals/heart_rate")
        prototype.close()
    assert abs(json.loads(reading.payload)["value"] - body.heart_rate(0)) < 12
    assert [json.loads(p) for p in mqtt_log.payloads(f"{ROOT}/wch-tls/cmd/result")] == [
        {"cmd": "bpm", "ok": True, "error": None}
    ]
    assert board.platform.connects == 1
    assert "tls_address=" in tls_gateway.wait_log("event=gateway.listening")


@pytest.mark.parametrize(
    "refusal",
    [
        pytest.param({"ca": "other"}, id="gateway-certificate-from-another-ca"),
        pytest.param({"tls_hostname": "gateway.example.net"}, id="certificate-for-another-name"),
    ],
)
def test_a_board_refuses_a_gateway_whose_certificate_it_cannot_trust(
    tls_gateway, mqtt_log, certificates, caplog, refusal
):
    ours, other = certificates
    cfg = {"tls": True, "tls_ca": str((other if refusal.get("ca") else ours) / "ca.crt")}
    if "tls_hostname" in refusal:
        cfg["tls_hostname"] = refusal["tls_hostname"]
    app, _body = make_watch(seed=4)
    with (
        caplog.at_level(logging.INFO, logger="firmware.board"),
        BoardThread(app, tls_gateway.tls_port, "wch-x", **cfg) as board,
    ):
        wait_until(lambda: board.platform.connects >= 3, what="retries after refusals")
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text
    assert mqtt_log.on(f"{ROOT}/wch-x/status") == []
    assert "device.online" not in tls_gateway.log_text()


def test_a_plain_client_on_the_tls_port_gets_nothing_and_is_dropped(tls_gateway, mqtt_log):
    sock = socket.create_connection(("127.0.0.1", tls_gateway.tls_port), timeout=5)
    sock.sendall(b"new~wch-plain")  # no ClientHello: the TLS handshake cannot start
    assert closed_by_peer(sock, timeout=5), "closed after GATEWAY_HANDSHAKE_TIMEOUT"
    assert mqtt_log.on(f"{ROOT}/wch-plain/status") == []


def test_the_gateway_does_not_start_without_a_readable_key(tmp_path, broker, certificates):
    ours, _ = certificates
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("MQTT_", "GATEWAY_"))},
        **broker.env(),
        "GATEWAY_TRUSTED_LAN": "1",
        "GATEWAY_PORT": str(free_port()),
        "GATEWAY_TLS_PORT": str(free_port()),
        "GATEWAY_TLS_CERT": str(ours / "server.crt"),
        "GATEWAY_TLS_KEY": str(tmp_path / "missing.key"),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "services.gateway"], env=env, capture_output=True, timeout=30
    )
    assert proc.returncode == 2
    assert b"cannot load the TLS certificate" in proc.stderr and b"missing.key" in proc.stderr
