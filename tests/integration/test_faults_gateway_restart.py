"""The gateway killed under a simulated fleet: offline by its will, devices back, loss measured."""

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.mqtt import TopicLog
from tests.support.net import wait_until
from tests.support.services import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
WATCHES = 5


def sim_totals(log: Path) -> dict:
    for line in reversed(log.read_text().splitlines()):
        if "sim.stopped" in line:
            return ast.literal_eval(line.split("sim.stopped", 1)[1].strip())
    raise AssertionError(f"the simulator did not report its totals:\n{log.read_text()[-2000:]}")


def went_offline(sub, since: float) -> set[str]:
    return {
        m.topic.split("/")[2]
        for m in sub.on("smartcab/devices/+/status")
        if m.payload == b"offline" and m.timestamp > since
    }


@pytest.mark.slow
def test_gateway_killed_and_restarted_under_a_fleet(tmp_path, broker, make_gateway):
    with TopicLog(broker.host, broker.port, ["smartcab/#"], "reliability-sub", clean=False) as sub:
        gw = make_gateway(MQTT_KEEPALIVE="5")
        scheduler = ServiceProcess(
            "scheduler", tmp_path, {**broker.env(), "SCHEDULER_BPM_INTERVAL": "1"}
        ).start()
        sim_log = (tmp_path / "sim.log").open("w")
        sim = subprocess.Popen(
            [
                *(sys.executable, "-m", "firmware.sim", "--gateway", f"127.0.0.1:{gw.port}"),
                *("--watches", str(WATCHES), "--cameras", "0", "--cabinets", "0"),
                *("--finger-off-rate", "0", "--motion-rate", "0"),
                *("--backoff-ms", "200", "--backoff-max-ms", "2000", "--stats-every", "0"),
            ],
            cwd=ROOT,
            stdout=sim_log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            vitals = lambda: sub.on("smartcab/devices/+/vitals/heart_rate")  # noqa: E731
            wait_until(lambda: len(vitals()) >= 3 * WATCHES, timeout=30, what="readings")

            gw.kill()
            killed = time.monotonic()
            sub.wait(
                "smartcab/services/gateway/status",
                where=lambda m: m.payload == b"offline",
                timeout=15,
            )
            will_after = time.monotonic() - killed
            assert will_after < 1.5 * 5 + 2  # the broker's keepalive grace

            gw.start()  # the same port: the devices reconnect with their backoff
            restarted = time.monotonic()

            def back_online() -> set[str]:
                return {
                    m.topic.split("/")[2]
                    for m in sub.on("smartcab/devices/+/status")
                    if m.payload == b"online" and m.timestamp > restarted
                }

            wait_until(lambda: len(back_online()) == WATCHES, timeout=15, what="all back online")
            online_after = time.monotonic() - restarted
            before = len(vitals())
            wait_until(lambda: len(vitals()) >= before + WATCHES, timeout=30, what="readings after")
            readings_after = time.monotonic() - restarted
        finally:
            stopping = time.monotonic()
            sim.send_signal(signal.SIGTERM)
            sim.wait(15)
            sim_log.close()
            scheduler.stop()
        # The gateway passes on a device's readings and then its offline status through one
        # ordered queue, so once every watch is offline the subscriber holds all it will get.
        wait_until(
            lambda: len(went_offline(sub, stopping)) == WATCHES, timeout=15, what="all offline"
        )
        sent = sim_totals(tmp_path / "sim.log")["readings"]
        got = sub.on("smartcab/devices/+/vitals/#")
        keys = [(m.topic, json.loads(m.payload)["ts"]) for m in got]
        assert len(keys) == len(set(keys)), "a reading arrived twice"
        lost = sent - len(got)
        print(
            f"will after {will_after:.1f} s; after the restart all online in {online_after:.1f} s, "
            f"a reading from each in {readings_after:.1f} s; "
            f"sent {sent}, received {len(got)}, lost {lost}"
        )
        # Each watch can lose at most the answer it was writing when the gateway died.
        assert 0 <= lost <= 3 * WATCHES, (sent, len(got))
