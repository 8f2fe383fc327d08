"""The gateway against firmware-faithful devices, a real Mosquitto and a real gateway process."""

import base64
import json
import socket

import pytest

from services.common.protocol import ID_REQUEST_FRAME
from tests.support.mosquitto import mosquitto_sub
from tests.support.net import wait_until
from tests.support.seed_clients import (
    SeedCabinet,
    SeedDevice,
    SeedWatch,
    closed_by_peer,
    raw_client,
)

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 40 + b"\xff\xd9"
INVENTORY = {"Nutella": 0, "Pepsi": 1, "Pringles": 0}


def status_of(log, device_id):
    msgs = log.on(f"smartcab/devices/{device_id}/status")
    return msgs[-1].payload.decode() if msgs else None


def results(log, device_id):
    return [json.loads(p) for p in log.payloads(f"smartcab/devices/{device_id}/cmd/result")]


def test_seed_watch_handshake_command_and_readings(gateway, mqtt_log):
    watch = SeedWatch(gateway.port)
    mqtt_log.wait("smartcab/devices/wch/status", where=lambda m: m.payload == b"online")
    assert mqtt_log.on("smartcab/devices/wch/status")[-1].retain is False  # live delivery

    mqtt_log.publish("smartcab/devices/wch/cmd", "bpm")
    assert watch.serve_once(72.0, 36.6) == b"bpm"  # exactly the command, nothing more

    hr = mqtt_log.wait("smartcab/devices/wch/vitals/heart_rate")[0]
    temp = mqtt_log.wait("smartcab/devices/wch/vitals/temperature")[0]
    hr_body, temp_body = json.loads(hr.payload), json.loads(temp.payload)
    assert hr_body["device"] == "wch" and hr_body["metric"] == "heart_rate"
    assert hr_body["value"] == 72.0 and hr_body["unit"] == "bpm"
    assert temp_body["value"] == 36.6 and temp_body["unit"] == "°C"
    assert hr_body["ts"].endswith("Z") and len(hr_body["ts"]) == len("2026-01-01T00:00:00.000Z")
    assert temp_body["ts"] > hr_body["ts"]  # strictly increasing per device
    assert results(mqtt_log, "wch") == [{"cmd": "bpm", "ok": True, "error": None}]
    watch.close()
    mqtt_log.wait("smartcab/devices/wch/status", where=lambda m: m.payload == b"offline")


def test_seed_camera_image_is_decoded_and_retained(gateway, mqtt_log, broker):
    camera = SeedDevice(gateway.port, b"img")
    mqtt_log.publish("smartcab/devices/img/cmd", "img")
    assert camera.recv_command() == b"img"
    camera.send_sized(base64.b64encode(JPEG))
    image = mqtt_log.wait("smartcab/devices/img/image")[0]
    assert bytes(image.payload) == JPEG

    from tests.support.mqtt import TopicLog

    with TopicLog(broker.host, broker.port, topics=["smartcab/devices/img/image"]) as late:
        retained = late.wait("smartcab/devices/img/image")[0]
        assert retained.retain and bytes(retained.payload) == JPEG
    camera.close()


def test_seed_cabinet_inventory_and_lights(gateway, mqtt_log):
    cabinet = SeedDevice(gateway.port, b"cab")
    cabinet.send_sized(json.dumps(INVENTORY).encode())
    body = json.loads(mqtt_log.wait("smartcab/devices/cab/inventory")[0].payload)
    assert body["items"] == INVENTORY and body["ts"].endswith("Z")

    mqtt_log.publish("smartcab/devices/cab/cmd", "lof")
    mqtt_log.publish("smartcab/devices/cab/cmd", "lon")
    # one at a time: each recv() of the original cabinet firmware holds exactly one command
    assert cabinet.recv_command() == b"lof"
    assert cabinet.recv_command() == b"lon"
    wait_until(lambda: len(results(mqtt_log, "cab")) == 2, what="two command results")
    assert [r["cmd"] for r in results(mqtt_log, "cab")] == ["lof", "lon"]
    cabinet.close()


def test_the_slot_command_reaches_a_cabinet_and_the_prototypes_firmware_passes_it_by(
    gateway, mqtt_log
):
    cabinet = SeedCabinet(gateway.port, INVENTORY)
    watch = SeedWatch(gateway.port)
    mqtt_log.wait("smartcab/devices/cab/inventory")
    for cmd in ("lon", "ls01", "ls7", "lof"):
        mqtt_log.publish("smartcab/devices/cab/cmd", cmd)
    mqtt_log.publish("smartcab/devices/wch/cmd", "ls01")
    wait_until(lambda: len(results(mqtt_log, "cab")) == 4, what="four command results")
    assert results(mqtt_log, "cab") == [
        {"cmd": "lon", "ok": True, "error": None},
        {"cmd": "ls7", "ok": False, "error": "unknown command"},  # refused at once
        {"cmd": "ls01", "ok": True, "error": None},
        {"cmd": "lof", "ok": True, "error": None},
    ]
    wait_until(lambda: len(cabinet.received) == 3, what="three commands at the cabinet")
    # one per recv(): the slot command matched none of lof, lon, inv and changed nothing
    assert cabinet.received == [b"lon", b"ls01", b"lof"] and cabinet.ignored == [b"ls01"]
    assert cabinet.lights_on is False
    wait_until(lambda: results(mqtt_log, "wch"), what="the watch's result")
    assert results(mqtt_log, "wch") == [
        {"cmd": "ls01", "ok": False, "error": "ls01 is not a watch command"}
    ]
    cabinet.close()
    watch.close()


def test_a_board_without_a_version_clears_only_a_version_on_record(gateway, mqtt_log):
    firmware = "smartcab/devices/cab/firmware"
    # a version on record, left by a board with our firmware (through another gateway)
    mqtt_log.publish(firmware, "1.1.0", retain=True)
    # the gateway reads its messages in order: once this is answered, it has the version
    mqtt_log.publish("smartcab/devices/cab/cmd", "lon")
    mqtt_log.wait("smartcab/devices/cab/cmd/result")
    cabinet = SeedCabinet(gateway.port, INVENTORY)  # the prototype's firmware flashed back
    assert mqtt_log.wait(firmware, count=2)[1].payload == b""  # cleared
    mqtt_log.wait("smartcab/devices/cab/inventory")
    cabinet.close()
    mqtt_log.wait("smartcab/devices/cab/status", where=lambda m: m.payload == b"offline")
    cabinet = SeedCabinet(gateway.port, INVENTORY)  # registering again: nothing to clear
    watch = SeedWatch(gateway.port)  # never had a version
    watch.sock.send(b"70.00,bpm")
    # each registration's publishes go out before the device's first report
    mqtt_log.wait("smartcab/devices/cab/inventory", count=2)
    mqtt_log.wait("smartcab/devices/wch/vitals/heart_rate")
    assert mqtt_log.payloads(firmware) == [b"1.1.0", b""]
    assert mqtt_log.on("smartcab/devices/wch/firmware") == []
    cabinet.close()
    watch.close()


def test_mosquitto_sub_sees_the_spec_topics(gateway, broker):
    """The plainest check: the stock mosquitto_sub sees readings, inventory and image."""
    sub = mosquitto_sub(
        broker,
        ["smartcab/devices/+/vitals/#", "smartcab/devices/+/inventory", "smartcab/devices/+/image"],
        count=4,
        fmt="%t %x",
    )
    try:
        watch = SeedWatch(gateway.port)
        watch.sock.send(b"80.00,bpm")
        watch.sock.send(b"36.90,temp")
        cabinet = SeedDevice(gateway.port, b"cab")
        cabinet.send_sized(json.dumps(INVENTORY).encode())
        camera = SeedDevice(gateway.port, b"img")
        camera.send_sized(base64.b64encode(JPEG))
        out, _ = sub.communicate(timeout=10)
    finally:
        sub.kill()
        sub.wait()
    seen = dict(line.split(" ", 1) for line in out.splitlines())
    assert json.loads(bytes.fromhex(seen["smartcab/devices/wch/vitals/heart_rate"]))["value"] == 80
    assert (
        json.loads(bytes.fromhex(seen["smartcab/devices/wch/vitals/temperature"]))["value"] == 36.9
    )
    assert json.loads(bytes.fromhex(seen["smartcab/devices/cab/inventory"]))["items"] == INVENTORY
    assert bytes.fromhex(seen["smartcab/devices/img/image"]) == JPEG
    for device in (watch, cabinet, camera):
        device.close()


def test_command_for_absent_device_or_unknown_command_fails_cleanly(gateway, mqtt_log):
    mqtt_log.publish("smartcab/devices/nobody/cmd", "bpm")
    mqtt_log.wait("smartcab/devices/nobody/cmd/result")
    assert results(mqtt_log, "nobody") == [
        {"cmd": "bpm", "ok": False, "error": "device not connected"}
    ]
    watch = SeedWatch(gateway.port)
    mqtt_log.publish("smartcab/devices/wch/cmd", "rm -rf")
    mqtt_log.publish("smartcab/devices/wch/cmd", "lof")
    wait_until(lambda: len(results(mqtt_log, "wch")) == 2, what="two refusals")
    assert results(mqtt_log, "wch") == [
        {"cmd": "rm -rf", "ok": False, "error": "unknown command"},
        {"cmd": "lof", "ok": False, "error": "lof is not a watch command"},
    ]
    watch.sock.settimeout(0.5)
    with pytest.raises(TimeoutError):
        watch.sock.recv(35)  # nothing reached the watch
    watch.close()


def registered(port: int, name: bytes) -> socket.socket:
    sock = raw_client(port)
    sock.send(b"new~" + name)
    assert sock.recv(32) == b"start"
    return sock


BAD_INPUTS = [
    ("oversized size", b"cab", b"size-999999999", "exceeds the limit"),
    ("malformed size", b"cab", b"size-12a", "malformed size declaration"),
    ("junk message", b"cab", b"\x00\x01\x02", "unexpected message"),
    ("unknown unit", b"wch", b"72.0,bananas", "unknown unit"),
]


@pytest.mark.parametrize("name, device, junk, reason", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_frames_close_only_that_connection(gateway, mqtt_log, name, device, junk, reason):
    good = SeedWatch(gateway.port, b"wch-good")
    bad = registered(gateway.port, device)
    bad.send(junk)
    assert closed_by_peer(bad)
    assert reason in gateway.wait_log("event=device.closed device=" + device.decode())
    # the good watch never noticed
    mqtt_log.publish("smartcab/devices/wch-good/cmd", "bpm")
    assert good.serve_once(70.0, 36.5) == b"bpm"
    mqtt_log.wait("smartcab/devices/wch-good/vitals/temperature")
    assert status_of(mqtt_log, "wch-good") == "online"
    good.close()


@pytest.mark.parametrize(
    "hello, reason",
    [
        (b"new~a/b", "forbidden byte 0x2f"),
        (b"new~a+b", "forbidden byte 0x2b"),
        (b"new~a#b", "forbidden byte 0x23"),
        ("new~wätch".encode(), "forbidden byte 0xc3"),
        (b"GET / HTTP/1.1\r\n\r\n", "expected new~<id>"),
    ],
)
def test_bad_handshakes_are_refused_and_logged(gateway, hello, reason):
    sock = raw_client(gateway.port)
    sock.send(hello)
    assert closed_by_peer(sock)
    assert reason in gateway.wait_log(reason)


def test_silent_client_is_dropped_after_the_handshake_timeout(gateway):
    sock = raw_client(gateway.port)  # says nothing
    assert closed_by_peer(sock, timeout=6)
    gateway.wait_log("handshake not completed in time")


def test_stalled_transfer_is_dropped(gateway, mqtt_log):
    camera = SeedDevice(gateway.port, b"img")
    camera.sock.send(b"size-1000")
    assert camera.sock.recv(32) == b"send"
    camera.sock.send(b"/9j/" + b"A" * 100)  # then stalls
    assert closed_by_peer(camera.sock, timeout=5)
    gateway.wait_log("transfer stalled for 1 s")
    mqtt_log.wait("smartcab/devices/img/status", where=lambda m: m.payload == b"offline")
    assert mqtt_log.on("smartcab/devices/img/image") == []


def test_idle_device_is_dropped_and_marked_offline(make_gateway, mqtt_log):
    gw = make_gateway(GATEWAY_IDLE_TIMEOUT="1")
    watch = SeedWatch(gw.port)
    assert closed_by_peer(watch.sock, timeout=5)
    gw.wait_log("idle for 1 s")
    mqtt_log.wait("smartcab/devices/wch/status", where=lambda m: m.payload == b"offline")


def test_connection_limits_total_and_per_address(make_gateway):
    gw = make_gateway(GATEWAY_MAX_PER_ADDRESS="3", GATEWAY_MAX_CONNECTIONS="100")
    held = [raw_client(gw.port) for _ in range(3)]
    extra = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    assert closed_by_peer(extra)
    gw.wait_log("too many connections from this address")
    held.pop().close()
    wait_until(lambda: _accepts(gw.port), what="a free slot after one closed")
    for sock in held:
        sock.close()

    gw2 = make_gateway(GATEWAY_MAX_CONNECTIONS="2")
    held = [raw_client(gw2.port) for _ in range(2)]
    assert closed_by_peer(socket.create_connection(("127.0.0.1", gw2.port), timeout=5))
    gw2.wait_log('reason="too many connections"')
    for sock in held:
        sock.close()


def _accepts(port: int) -> bool:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.settimeout(2)
    try:
        return sock.recv(64) == ID_REQUEST_FRAME
    except OSError:
        return False
    finally:
        sock.close()


def test_second_device_with_the_same_id_wins(gateway, mqtt_log):
    old = SeedWatch(gateway.port)
    new = SeedWatch(gateway.port)
    assert closed_by_peer(old.sock)
    gateway.wait_log("event=device.replaced device=wch")
    mqtt_log.publish("smartcab/devices/wch/cmd", "bpm")
    assert new.serve_once(66.0, 36.4) == b"bpm"
    mqtt_log.wait("smartcab/devices/wch/vitals/heart_rate")
    # the old connection's close did not mark the id offline
    statuses = [m.payload for m in mqtt_log.on("smartcab/devices/wch/status")]
    assert statuses == [b"online", b"online"]
    new.close()


def test_registry_refuses_unknown_ids_and_wrong_tokens(tmp_path, make_gateway, mqtt_log):
    from services.gateway.registry import hash_token

    registry = tmp_path / "devices.toml"
    registry.write_text(
        f'[devices.wch-01]\nkind = "watch"\ntoken_sha256 = "{hash_token("right")}"\n'
        '[devices.cab]\nkind = "cabinet"\nallow_without_token = true\n'
    )
    gw = make_gateway(GATEWAY_DEVICES=str(registry))
    gw.wait_log("event=gateway.device_without_token device=cab")
    assert "device_without_token device=wch-01" not in gw.log_text()
    for hello, reason in [
        (b"new~wch-02~right", "refused: unknown device id"),
        (b"new~wch-01~guess-9f2", "device=wch-01 peer=127.0.0.1"),
        (b"new~wch-01", "refused: token required"),
    ]:
        sock = raw_client(gw.port)
        sock.send(hello)
        assert closed_by_peer(sock)
        gw.wait_log(reason)
    gw.wait_log("refused: wrong token")
    ok = SeedWatch(gw.port, b"wch-01", token=b"right")
    untokened = SeedDevice(gw.port, b"cab")  # allowed without a token
    mqtt_log.wait("smartcab/devices/wch-01/status", where=lambda m: m.payload == b"online")
    mqtt_log.wait("smartcab/devices/cab/status", where=lambda m: m.payload == b"online")
    assert "guess-9f2" not in gw.log_text()  # the token itself is never logged
    ok.close()
    untokened.close()


def test_broken_payloads_are_logged_and_the_device_stays(gateway, mqtt_log):
    cabinet = SeedDevice(gateway.port, b"cab")
    cabinet.send_sized(b'{"Pepsi": -1}')
    gateway.wait_log("not a non-negative integer")
    cabinet.send_sized(b"{not json")
    gateway.wait_log("inventory is not UTF-8 JSON")
    camera = SeedDevice(gateway.port, b"img")
    camera.send_sized(b"/9j/" + b"%%%%")
    gateway.wait_log("image is not valid base64")
    camera.send_sized(base64.b64encode(b"GIF89a not a jpeg"))
    gateway.wait_log("image is not a JPEG")
    cabinet.send_sized(json.dumps(INVENTORY).encode())  # the connection still works
    mqtt_log.wait("smartcab/devices/cab/inventory")
    assert mqtt_log.on("smartcab/devices/img/image") == []
    cabinet.close()
    camera.close()


def test_unanswered_command_is_logged_and_the_next_one_goes(make_gateway, mqtt_log):
    gw = make_gateway(GATEWAY_ANSWER_TIMEOUT="0.5")
    watch = SeedWatch(gw.port)
    mqtt_log.publish("smartcab/devices/wch/cmd", "bpm")
    mqtt_log.publish("smartcab/devices/wch/cmd", "bpm")
    assert watch.recv_command() == b"bpm"  # the watch says nothing back (finger off)
    gw.wait_log("event=device.no_answer device=wch waited=0.5")
    assert watch.serve_once(70.0, 36.5) == b"bpm"  # the second command went after the wait
    mqtt_log.wait("smartcab/devices/wch/vitals/heart_rate")
    watch.close()
