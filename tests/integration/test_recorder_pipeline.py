"""End to end: a firmware-faithful watch, the real gateway, scheduler, recorder, broker, InfluxDB.

Every reading the watch gives must be in InfluxDB exactly once, also across an
InfluxDB outage, a recorder killed with SIGKILL, and a broker restart.
"""

import json

import pytest

from tests.support.mqtt import TopicLog
from tests.support.net import wait_until
from tests.support.seed_clients import SeedDevice
from tests.support.watch_loop import WatchLoop, assert_exactly_once, wait_stored

pytestmark = pytest.mark.slow


@pytest.fixture
def pipeline(gateway, make_recorder, make_scheduler, influxdb):
    recorder = make_recorder()
    # its own retained status stored: its subscriptions are in place
    wait_until(
        lambda: (
            recorder.log_text().count("event=mqtt.connected")
            and influxdb.count("SELECT count(online) FROM service_availability")
        ),
        what="the recorder's subscriptions",
    )
    scheduler = make_scheduler()
    scheduler.wait_log("mqtt.connected")
    return gateway, recorder, scheduler


def test_watch_is_asked_every_interval_and_each_reading_lands_once(pipeline, influxdb):
    gateway, _recorder, scheduler = pipeline
    with WatchLoop(gateway.port) as watch:
        watch.wait_rounds(4)
        got = wait_stored(influxdb, watch)
        assert_exactly_once(got, watch)
    requests = [line for line in scheduler.log_text().splitlines() if "scheduler.request" in line]
    assert all("device=wch-01" in line and "cmd=bpm" in line for line in requests)
    assert len(requests) >= 4


def test_influxdb_outage_spools_and_replays_without_loss(pipeline, influxdb, tmp_path):
    gateway, recorder, _scheduler = pipeline
    spool = tmp_path / "data" / "recorder" / "spool"
    with WatchLoop(gateway.port) as watch:
        watch.wait_rounds(2)
        influxdb.stop()
        watch.wait_rounds(3)
        wait_until(lambda: list(spool.glob("*.lp")), 10, what="spool files")
        recorder.wait_log("influx.unavailable")
        influxdb.start()
        watch.wait_rounds(2)
        got = wait_stored(influxdb, watch)
        assert_exactly_once(got, watch)
    wait_until(lambda: not list(spool.glob("*.lp")), 10, what="the spool to drain")
    recorder.wait_log("spool.drained")


def test_recorder_killed_mid_batch_loses_and_duplicates_nothing(pipeline, influxdb, broker):
    gateway, recorder, _scheduler = pipeline
    burst = 3000
    with WatchLoop(gateway.port) as watch:
        watch.wait_rounds(2)
        # A burst straight onto the vitals topic, so the kill surely lands mid-batch.
        with TopicLog(broker.host, broker.port, topics=("smartcab/none",)) as publisher:
            infos = []
            for i in range(burst):
                body = {
                    "device": "wch-99",
                    "metric": "heart_rate",
                    "value": 70.0,
                    "unit": "bpm",
                    "ts": f"2026-01-01T00:{i // 60000:02d}:{i // 1000 % 60:02d}.{i % 1000:03d}Z",
                }
                infos.append(
                    publisher.client.publish(
                        "smartcab/devices/wch-99/vitals/heart_rate", json.dumps(body), qos=1
                    )
                )
            wait_until(
                lambda: influxdb.count("SELECT count(value) FROM vitals WHERE device='wch-99'"),
                10,
                interval=0.01,
                what="the first burst points",
            )
            recorder.kill()  # SIGKILL: no chance to finish the batch or say goodbye
            mid = influxdb.count("SELECT count(value) FROM vitals WHERE device='wch-99'")
            watch.wait_rounds(2)  # readings that arrive while no recorder runs
            for info in infos:
                info.wait_for_publish(30)
            assert all(info.is_published() for info in infos)
            recorder.start()
            recorder.wait_log("session_present=True")
        watch.wait_rounds(2)
        got = wait_stored(influxdb, watch)
        assert_exactly_once(got, watch)
    wait_until(
        lambda: influxdb.count("SELECT count(value) FROM vitals WHERE device='wch-99'") == burst,
        20,
        interval=0.2,
        what=f"all {burst} burst readings",
    )
    assert mid < burst, "the kill came too late to test anything"


def test_broker_restart_loses_and_duplicates_nothing(pipeline, influxdb, broker):
    gateway, recorder, _scheduler = pipeline
    cabinet = SeedDevice(gateway.port, b"cab-01")
    shelves = [{"Nutella": 5 - i, "Pepsi": i} for i in range(6)]
    with WatchLoop(gateway.port) as watch:
        watch.wait_rounds(2)
        for items in shelves[:2]:
            cabinet.send_sized(json.dumps(items).encode())
        broker.stop()
        for items in shelves[2:4]:  # taken while the broker is away: the gateway queues them
            cabinet.send_sized(json.dumps(items).encode())
        broker.start()
        recorder.wait_log("session_present=True")
        for items in shelves[4:]:
            cabinet.send_sized(json.dumps(items).encode())
        watch.wait_rounds(3, timeout=30)
        got = wait_stored(influxdb, watch)
        assert_exactly_once(got, watch)

    def nutella() -> list[int]:
        rows = influxdb.rows(
            """SELECT "count" FROM "inventory" WHERE "device" = 'cab-01' AND "item" = 'Nutella'"""
        )
        return [row["count"] for row in rows]

    wait_until(lambda: len(nutella()) >= len(shelves), timeout=20, what="every inventory report")
    assert nutella() == [5, 4, 3, 2, 1, 0]  # each change once, in order
    with TopicLog(broker.host, broker.port, ["smartcab/devices/cab-01/inventory"]) as late:
        retained = json.loads(late.wait("smartcab/devices/cab-01/inventory")[0].payload)
        assert retained["items"] == shelves[-1]  # the retained state is the latest
    cabinet.close()
