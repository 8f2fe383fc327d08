"""``python -m firmware.sim``: a mixed fleet comes online and answers bpm, img and inv."""

import asyncio
import base64
import json
import signal
import subprocess
import sys
import threading

from firmware.sim import fleet
from tests.support.net import wait_until
from tests.support.services import ROOT

DEVICES = "smartcab/devices"


def online(log, device_id: str):
    return log.wait(
        f"{DEVICES}/{device_id}/status", where=lambda m: m.payload == b"online", timeout=15
    )


def test_mixed_fleet_answers_bpm_img_and_inv_and_stops_cleanly(tmp_path, gateway, mqtt_log):
    log = (tmp_path / "sim.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "firmware.sim",
            f"--gateway=127.0.0.1:{gateway.port}",
            "--watches=3",
            "--cameras=1",
            "--cabinets=1",
            "--measure-seconds=6",
            "--sensor-speed=4",
            "--finger-off-rate=0",
            "--motion-rate=0",
            "--seed=7",
            "--stats-every=1",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        watches = ["wch-01", "wch-02", "wch-03"]
        for device_id in [*watches, "img", "cab"]:
            online(mqtt_log, device_id)
        # the cabinet reports its inventory as soon as it is registered
        [first] = mqtt_log.wait(f"{DEVICES}/cab/inventory")
        assert all(type(n) is int for n in json.loads(first.payload)["items"].values())

        for device_id in watches:
            mqtt_log.publish(f"{DEVICES}/{device_id}/cmd", b"bpm")
        mqtt_log.publish(f"{DEVICES}/img/cmd", b"img")
        mqtt_log.publish(f"{DEVICES}/cab/cmd", b"inv")

        for device_id in watches:
            for metric in ("heart_rate", "temperature", "spo2"):
                mqtt_log.wait(f"{DEVICES}/{device_id}/vitals/{metric}", timeout=15)
            hr = json.loads(mqtt_log.payloads(f"{DEVICES}/{device_id}/vitals/heart_rate")[0])
            assert 40 < hr["value"] < 120
        [image] = mqtt_log.wait(f"{DEVICES}/img/image", timeout=15)
        jpeg = bytes(image.payload)
        assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"
        assert 25_000 < len(jpeg) < 100_000
        assert base64.b64encode(jpeg)[:4] == b"/9j/"
        mqtt_log.wait(f"{DEVICES}/cab/inventory", count=2)
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(15)
        log.close()
    assert code == 0, (tmp_path / "sim.log").read_text()
    for device_id in ["wch-01", "img", "cab"]:
        mqtt_log.wait(f"{DEVICES}/{device_id}/status", where=lambda m: m.payload == b"offline")
    text = (tmp_path / "sim.log").read_text()
    assert "sim.stopped" in text and "Traceback" not in text


def test_fleet_reconnects_after_the_gateway_restarts(gateway, mqtt_log):
    opts = fleet.Options(
        port=gateway.port,
        watches=2,
        cameras=0,
        cabinets=1,
        seed=3,
        backoff_ms=100,
        backoff_max_ms=400,
        shelf_every_s=0,
    )
    sim = fleet.Fleet(opts)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(sim.run(),), daemon=True)
    thread.start()
    try:
        wait_until(lambda: sim.online == 3, timeout=10, what="the fleet online")
        gateway.stop()
        gateway.start()
        for device_id in ("wch-01", "wch-02", "cab"):
            mqtt_log.wait(
                f"{DEVICES}/{device_id}/status",
                count=2,
                where=lambda m: m.payload == b"online",
                timeout=15,
            )
        wait_until(lambda: sim.online == 3, timeout=10, what="the fleet back online")
        assert all(dev.connects >= 2 for dev in sim.devices)
        # the cabinet re-announces its inventory after every reconnect
        mqtt_log.wait(f"{DEVICES}/cab/inventory", count=2)
    finally:
        loop.call_soon_threadsafe(sim.stop)
        thread.join(10)
        loop.close()
    assert not thread.is_alive()
    assert sim.stats["registered"] >= 6


def test_more_devices_than_the_gateways_per_address_limit(gateway, mqtt_log):
    """The gateway allows 64 connections per address; 80 watches still all get in."""
    opts = fleet.Options(port=gateway.port, watches=80, cameras=0, cabinets=0, seed=1)
    sim = fleet.Fleet(opts)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(sim.run(),), daemon=True)
    thread.start()
    try:
        wait_until(lambda: sim.online == 80, timeout=15, what="80 watches online")
        online = mqtt_log.wait(
            f"{DEVICES}/+/status", count=80, where=lambda m: m.payload == b"online"
        )
    finally:
        loop.call_soon_threadsafe(sim.stop)
        thread.join(10)
        loop.close()
    assert len({m.topic for m in online}) == 80
    assert "too many connections" not in gateway.log_text()
