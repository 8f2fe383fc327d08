"""The boards' firmware loop under CPython with fake hardware, against the real gateway."""

import json

from firmware.sim.frames import make_frames
from firmware.smartcab import cabinet
from services.gateway.registry import hash_token
from tests.support.boards import BoardThread, make_cabinet, make_camera, make_watch
from tests.support.net import wait_until

ROOT = "smartcab/devices"


def vitals(log, device: str, metric: str) -> list[dict]:
    return [json.loads(p) for p in log.payloads(f"{ROOT}/{device}/vitals/{metric}")]


def test_watch_answers_bpm_with_heart_rate_temperature_and_spo2(gateway, mqtt_log):
    app, body = make_watch()
    with BoardThread(app, gateway.port, "wch"):
        mqtt_log.wait(f"{ROOT}/wch/status", where=lambda m: m.payload == b"online")
        mqtt_log.publish(f"{ROOT}/wch/cmd", b"bpm")
        for metric in ("heart_rate", "temperature", "spo2"):
            mqtt_log.wait(f"{ROOT}/wch/vitals/{metric}", timeout=15)
    [hr] = vitals(mqtt_log, "wch", "heart_rate")
    [temp] = vitals(mqtt_log, "wch", "temperature")
    [spo2] = vitals(mqtt_log, "wch", "spo2")
    # the wearer's rate drifts by a few bpm over the window (breathing)
    assert abs(hr["value"] - body.heart_rate(0)) < 12
    assert hr["unit"] == "bpm"
    assert abs(temp["value"] - body.temperature(0)) < 0.5
    assert abs(spo2["value"] - body.spo2) < 2.0
    [result] = mqtt_log.wait(f"{ROOT}/wch/cmd/result")
    assert json.loads(result.payload)["cmd"] == "bpm"
    assert json.loads(result.payload)["ok"] is True


def test_finger_off_is_detected_and_not_reported(make_gateway, mqtt_log):
    gw = make_gateway(GATEWAY_ANSWER_TIMEOUT="0.5")
    app, body = make_watch(finger=False)
    with BoardThread(app, gw.port, "wch-7"):
        mqtt_log.wait(f"{ROOT}/wch-7/status", where=lambda m: m.payload == b"online")
        mqtt_log.publish(f"{ROOT}/wch-7/cmd", b"bpm")
        wait_until(lambda: app.measurements == 1, timeout=10, what="the finger-off measurement")
        assert app.finger_off == 1
        body.forced = True  # the wearer puts the finger back; the next bpm is answered
        mqtt_log.publish(f"{ROOT}/wch-7/cmd", b"bpm")
        mqtt_log.wait(f"{ROOT}/wch-7/vitals/heart_rate", timeout=15)
    assert app.measurements == 2
    assert len(vitals(mqtt_log, "wch-7", "heart_rate")) == 1
    assert len(vitals(mqtt_log, "wch-7", "temperature")) == 1


def test_camera_streams_a_vga_jpeg_on_img(gateway, mqtt_log):
    [frame] = make_frames(1, seed=3)
    app = make_camera([frame])
    with BoardThread(app, gateway.port, "img"):
        mqtt_log.wait(f"{ROOT}/img/status", where=lambda m: m.payload == b"online")
        mqtt_log.publish(f"{ROOT}/img/cmd", b"img")
        [msg] = mqtt_log.wait(f"{ROOT}/img/image", timeout=10)
    assert bytes(msg.payload) == frame
    assert frame[:2] == b"\xff\xd8" and 25_000 < len(frame) < 100_000
    assert gateway.wait_log("device.image")


def test_cabinet_inventory_on_connect_change_and_inv_and_leds(gateway, mqtt_log):
    slots = [["Nutella", [1, 2]], ["Pepsi", [3]], ["Pringles", [4]]]
    app, shelf, strip = make_cabinet(slots)
    shelf.present = [True, True, True, False]
    topic = f"{ROOT}/cab/inventory"
    with BoardThread(app, gateway.port, "cab"):
        [first] = mqtt_log.wait(topic)
        assert json.loads(first.payload)["items"] == {"Nutella": 2, "Pepsi": 1, "Pringles": 0}

        shelf.set(0, False)  # a jar of Nutella is taken: its LED shows the cue
        msgs = mqtt_log.wait(topic, count=2)
        assert json.loads(msgs[1].payload)["items"] == {"Nutella": 1, "Pepsi": 1, "Pringles": 0}
        assert strip.shown[0] == cabinet.TAKEN_COLOUR

        mqtt_log.publish(f"{ROOT}/cab/cmd", b"inv")
        msgs = mqtt_log.wait(topic, count=3)
        assert json.loads(msgs[2].payload)["items"] == {"Nutella": 1, "Pepsi": 1, "Pringles": 0}

        mqtt_log.publish(f"{ROOT}/cab/cmd", b"lof")
        wait_until(lambda: not app.lights_on, what="lof")
        wait_until(lambda: strip.shown[1:] == [(0, 0, 0)] * 3, what="strip off")
        mqtt_log.publish(f"{ROOT}/cab/cmd", b"lon")
        wait_until(lambda: strip.shown[1:] == [cabinet.ON_COLOUR] * 3, what="strip on")

        shelf.set(0, True)  # returned
        msgs = mqtt_log.wait(topic, count=4)
        assert json.loads(msgs[3].payload)["items"] == {"Nutella": 2, "Pepsi": 1, "Pringles": 0}
        assert strip.shown[0] == cabinet.RETURNED_COLOUR


def test_board_reconnects_after_the_gateway_restarts(gateway, mqtt_log):
    app, _body = make_watch(seed=5)
    status = f"{ROOT}/wch/status"

    def online(n):
        return mqtt_log.wait(status, count=n, where=lambda m: m.payload == b"online")

    with BoardThread(app, gateway.port, "wch") as dev:
        online(1)
        gateway.stop()
        gateway.start()
        online(2)
        mqtt_log.publish(f"{ROOT}/wch/cmd", b"bpm")
        mqtt_log.wait(f"{ROOT}/wch/vitals/heart_rate", timeout=15)
    assert dev.platform.connects >= 2
    assert dev.platform.feeds > 0  # the watchdog was fed along the way


def test_token_is_sent_in_the_hello(tmp_path, make_gateway, mqtt_log):
    devices = tmp_path / "devices.toml"
    devices.write_text(
        f'[devices."cab-01"]\nkind = "cabinet"\ntoken_sha256 = "{hash_token("s3cr3t-Token")}"\n'
    )
    gw = make_gateway(GATEWAY_DEVICES=str(devices))
    app, shelf, _strip = make_cabinet([["Pepsi", [1]]])
    shelf.present = [True]
    with BoardThread(app, gw.port, "cab-01", token="wrong-token") as dev:
        gw.wait_log("wrong token")
        wait_until(lambda: dev.platform.connects >= 2, what="a retry after the refusal")
    with BoardThread(app, gw.port, "cab-01", token="s3cr3t-Token"):
        [msg] = mqtt_log.wait(f"{ROOT}/cab-01/inventory")
    assert json.loads(msg.payload)["items"] == {"Pepsi": 1}
    assert mqtt_log.payloads(f"{ROOT}/cab-01/status")[:1] == [b"online"]
