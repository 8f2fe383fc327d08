"""The device edge against the real gateway: who may connect, under which id, saying what."""

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

from services.common.devices import MANUAL_PREFIX
from services.gateway.registry import hash_token
from tests.support.net import wait_until
from tests.support.seed_clients import SeedDevice, SeedWatch, closed_by_peer, raw_client

ROOT = Path(__file__).resolve().parents[2]
JPEG = b"\xff\xd8\xff\xe0 a tiny jpeg"


def run_gateway(env: dict[str, str]) -> subprocess.CompletedProcess:
    """Start the gateway and wait for it to end (it should refuse at once)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return subprocess.run(
        [sys.executable, "-m", "services.gateway"],
        cwd=ROOT,
        env={**base, "GATEWAY_HOST": "127.0.0.1", "GATEWAY_PORT": "0", **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_without_a_registry_or_trusted_lan_mode_the_gateway_refuses_to_start(tmp_path):
    neither = run_gateway({})
    assert neither.returncode != 0
    assert "no device registry: set GATEWAY_DEVICES" in neither.stderr
    assert "GATEWAY_TRUSTED_LAN=1" in neither.stderr
    registry = tmp_path / "devices.toml"
    registry.write_text('[devices.wch-01]\nkind = "watch"\nallow_without_token = true\n')
    both = run_gateway({"GATEWAY_DEVICES": str(registry), "GATEWAY_TRUSTED_LAN": "1"})
    assert both.returncode != 0 and "choose one" in both.stderr


def test_a_registry_entry_without_a_token_or_allow_without_token_is_refused(tmp_path):
    registry = tmp_path / "devices.toml"
    registry.write_text('[devices.cab]\nkind = "cabinet"\n')
    done = run_gateway({"GATEWAY_DEVICES": str(registry)})
    assert done.returncode != 0
    assert "device cab has no token_sha256" in done.stderr
    assert "allow_without_token = true" in done.stderr
    registry.write_text(
        f'[devices."{MANUAL_PREFIX}ann"]\nkind = "watch"\nallow_without_token = true\n'
    )
    reserved = run_gateway({"GATEWAY_DEVICES": str(registry)})
    assert reserved.returncode != 0 and "reserved" in reserved.stderr


def test_a_device_reports_only_what_its_kind_reports(gateway, mqtt_log):
    watch = SeedWatch(gateway.port, b"wch-01")
    watch.send_sized(json.dumps({"Pepsi": 1}).encode())
    assert closed_by_peer(watch.sock)
    gateway.wait_log("device=wch-01 peer=127.0.0.1")
    gateway.wait_log('reason="a watch may not report inventory"')
    camera = SeedDevice(gateway.port, b"img-01")
    camera.sock.send(b"70.00,bpm")
    assert closed_by_peer(camera.sock)
    gateway.wait_log('reason="a camera may not report vitals"')
    cabinet = SeedDevice(gateway.port, b"cab-01")
    cabinet.send_sized(base64.b64encode(JPEG))
    assert closed_by_peer(cabinet.sock)
    gateway.wait_log('reason="a cabinet may not report image"')
    nameless = SeedDevice(gateway.port, b"xyz")  # trusted-LAN mode: an id with no kind
    nameless.sock.send(b"70.00,bpm")
    assert closed_by_peer(nameless.sock)
    gateway.wait_log('reason="a device of unknown kind may not report vitals"')
    # what each kind does report still goes through
    real = SeedDevice(gateway.port, b"img-02")
    real.send_sized(base64.b64encode(JPEG))
    mqtt_log.wait("smartcab/devices/img-02/image")
    for topic in ("wch-01/inventory", "img-01/vitals/+", "cab-01/image", "xyz/vitals/+"):
        assert mqtt_log.on(f"smartcab/devices/{topic}") == []
    real.close()


def test_reserved_ids_are_refused_from_the_network(gateway, mqtt_log):
    sock = raw_client(gateway.port)
    sock.send(f"new~{MANUAL_PREFIX}ann".encode())
    assert closed_by_peer(sock)
    gateway.wait_log(f"device={MANUAL_PREFIX}ann")
    gateway.wait_log("refused: reserved id")
    assert mqtt_log.on(f"smartcab/devices/{MANUAL_PREFIX}ann/status") == []


def test_a_replaced_connection_raises_a_security_alert_for_the_patient(gateway, mqtt_log):
    mqtt_log.publish("smartcab/devices/wch-01/patient", "ann", retain=True)
    gateway.wait_log("event=gateway.listening")
    first = SeedWatch(gateway.port, b"wch-01")
    mqtt_log.wait("smartcab/devices/wch-01/status", where=lambda m: m.payload == b"online")
    # the same address: most likely the board reconnecting before its old socket timed out
    second = SeedWatch(gateway.port, b"wch-01")
    assert closed_by_peer(first.sock)
    [same] = mqtt_log.wait("smartcab/alerts/devices/wch-01")
    alert = json.loads(same.payload)
    assert alert["kind"] == "security" and alert["key"] == "connection_replaced"
    assert alert["level"] == "warning" and alert["patient"] == "ann"
    assert alert["device"] == "wch-01" and isinstance(alert["ts_ms"], int)
    # another address taking the id: what a hijack looks like
    stranger = SeedWatch(gateway.port, b"wch-01", source="127.0.0.2")
    assert closed_by_peer(second.sock)
    other = mqtt_log.wait("smartcab/alerts/devices/wch-01", count=2)[1]
    alert = json.loads(other.payload)
    assert alert["level"] == "critical" and alert["patient"] == "ann"
    assert "127.0.0.2" in alert["message"]
    gateway.wait_log("event=device.replaced device=wch-01")
    stranger.close()


def test_a_board_allowed_without_a_token_connects_and_a_listed_one_needs_its_token(
    tmp_path, make_gateway, mqtt_log
):
    registry = tmp_path / "devices.toml"
    registry.write_text(
        f'[devices."wch-01"]\nkind = "watch"\ntoken_sha256 = "{hash_token("t0ken")}"\n'
        '[devices."cab-01"]\nkind = "cabinet"\nallow_without_token = true\n'
        f'token_sha256 = "{hash_token("cab-token")}"\n'
    )
    gw = make_gateway(GATEWAY_DEVICES=str(registry))
    gw.wait_log("event=gateway.device_without_token device=cab-01")
    old_board = SeedDevice(gw.port, b"cab-01")  # no token: allowed by its entry
    mqtt_log.wait("smartcab/devices/cab-01/status", where=lambda m: m.payload == b"online")
    sock = raw_client(gw.port)
    sock.send(b"new~cab-01~wrong")  # a token it sends must still be right
    assert closed_by_peer(sock)
    gw.wait_log("refused: wrong token")
    sock = raw_client(gw.port)
    sock.send(b"new~wch-01")
    assert closed_by_peer(sock)
    gw.wait_log("refused: token required")
    old_board.close()


def test_an_empty_registry_starts_the_gateway_with_a_warning_and_says_why_devices_are_refused(
    tmp_path, make_gateway
):
    # what scripts/deploy-setup.sh makes: comments only, no device yet
    registry = tmp_path / "devices.toml"
    registry.write_text("# The devices that may connect to the gateway.\n")
    gw = make_gateway(GATEWAY_DEVICES=str(registry))
    # it runs, so `docker compose exec gateway python -m services.gateway token <id>` can
    # fill the registry, and says plainly that nothing can connect yet
    line = gw.wait_log("event=gateway.registry_empty")
    assert line.split()[2] == "WARNING" and str(registry) in line
    assert "no device can connect" in line and "services.gateway token <id>" in line
    sock = raw_client(gw.port)
    sock.send(b"new~wch-01")
    assert closed_by_peer(sock)
    gw.wait_log("refused: unknown device id (the registry lists no device yet)")
    # a registry with a device is not called empty
    registry.write_text(f'[devices."wch-01"]\nkind = "watch"\ntoken_sha256 = "{hash_token("t")}"\n')
    gw.stop()
    listed = make_gateway(GATEWAY_DEVICES=str(registry))  # logs to the same file
    wait_until(lambda: listed.log_text().count("event=gateway.listening") == 2, what="a start")
    assert listed.log_text().count("event=gateway.registry_empty") == 1
