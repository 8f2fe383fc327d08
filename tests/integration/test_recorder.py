"""The recorder: its schema, bad input, credentials, the spool, and shared subscriptions."""

import json
import re

import pytest

from services.common.influx import InfluxAuthError, InfluxClient, InfluxSettings
from tests.support.influxdb import InfluxDB
from tests.support.mqtt import TopicLog
from tests.support.net import wait_until
from tests.support.recorder_input import BEFORE_YEAR_ONE_UTC, HUGE_VALUE, VITALS, vitals
from tests.support.services import ServiceProcess


def count(influxdb, where: str = "") -> int:
    return influxdb.count(f"SELECT count(value) FROM vitals {where}")


def subscribed(server) -> None:
    """Wait until the recorder stored its own retained status: its subscriptions are in place."""
    query = "SELECT count(online) FROM service_availability WHERE service = 'recorder'"

    def stored():
        try:
            return server.count(query)
        except RuntimeError:  # the database is not created yet
            return 0

    wait_until(stored, what="the recorder's subscriptions")


def test_records_vitals_inventory_availability_and_alerts(make_recorder, broker, influxdb):
    make_recorder()
    subscribed(influxdb)
    with TopicLog(broker.host, broker.port, topics=("smartcab/alerts/#",)) as mqtt:
        mqtt.publish("smartcab/devices/wch-01/patient", "p-1", retain=True)
        mqtt.publish("smartcab/devices/wch-01/status", "online", retain=True)
        mqtt.publish(
            VITALS.format("wch-01", "temperature"), vitals("wch-01", "temperature", 39.6, 1)
        )
        mqtt.publish(VITALS.format("wch-01", "heart_rate"), vitals("wch-01", "heart_rate", 0, 2))
        inventory = {"items": {"Pepsi": 2}, "ts": "2026-11-23T10:00:00.000Z"}
        mqtt.publish("smartcab/devices/cab-01/inventory", json.dumps(inventory), retain=True)
        alert = json.loads(mqtt.wait("smartcab/alerts/devices/wch-01")[0].payload)
    assert alert["key"] == "temperature" and alert["level"] == "warning"
    assert alert["patient"] == "p-1" and alert["value"] == 39.6
    wait_until(lambda: count(influxdb) == 2, what="two readings")
    rows = influxdb.rows("SELECT * FROM vitals")
    assert [(r["metric"], r["patient"], r["flagged"]) for r in rows] == [
        ("temperature", "p-1", False),
        ("heart_rate", "p-1", True),
    ]
    assert (
        influxdb.rows("SELECT * FROM alerts")[0]["message"] == "Temperature 39.6 °C is above 39 °C"
    )
    assert influxdb.rows("SELECT count, item FROM inventory") == [
        {"time": 1795428000000, "count": 2, "item": "Pepsi"}
    ]
    states = influxdb.rows("SELECT state FROM availability WHERE device = 'wch-01'")
    assert [r["state"] for r in states] == ["online"]


def test_malformed_json_is_logged_and_acknowledged_not_redelivered(make_recorder, broker, influxdb):
    recorder = make_recorder()
    subscribed(influxdb)
    with TopicLog(broker.host, broker.port, topics=("smartcab/none",)) as mqtt:
        mqtt.publish(VITALS.format("wch-01", "heart_rate"), b"{broken")
        recorder.wait_log("event=message.dropped")
        assert recorder.stop() == 0
        recorder.start()
        recorder.wait_log("session_present=True")
        mqtt.publish(VITALS.format("wch-01", "heart_rate"), vitals("wch-01", "heart_rate", 70, 1))
        wait_until(lambda: count(influxdb) == 1, what="the good reading")
    dropped = [line for line in recorder.log_text().splitlines() if "message.dropped" in line]
    assert len(dropped) == 1, "the malformed message was not acknowledged"
    assert "payload is not JSON" in dropped[0]


def test_a_poison_message_is_dropped_and_acknowledged_not_a_crash_loop(
    make_recorder, broker, influxdb
):
    recorder = make_recorder()
    subscribed(influxdb)
    with TopicLog(broker.host, broker.port, topics=("smartcab/none",)) as mqtt:
        mqtt.publish(VITALS.format("wch-01", "heart_rate"), HUGE_VALUE)
        mqtt.publish(VITALS.format("wch-01", "heart_rate"), BEFORE_YEAR_ONE_UTC)
        mqtt.publish(VITALS.format("wch-01", "heart_rate"), vitals("wch-01", "heart_rate", 70, 1))
        wait_until(lambda: count(influxdb) == 1, what="the reading sent after the poison")
        assert recorder.stop() == 0
        recorder.start()
        recorder.wait_log("session_present=True")
        mqtt.publish(VITALS.format("wch-01", "heart_rate"), vitals("wch-01", "heart_rate", 71, 2))
        wait_until(lambda: count(influxdb) == 2, what="a reading after the restart")
    dropped = [line for line in recorder.log_text().splitlines() if "message.dropped" in line]
    assert len(dropped) == 2, "a poison message was not acknowledged"
    assert "too large" in dropped[0] and "out of range" in dropped[1]


def test_wrong_influx_credentials_give_a_clear_error(tmp_path, broker):
    workdir = tmp_path / "influx-auth"
    workdir.mkdir()
    server = InfluxDB(workdir, auth=("admin", "s3cret")).start()
    try:
        wrong_password = InfluxSettings(url=server.url, username="admin", password="nope")
        with (
            InfluxClient(wrong_password) as c,
            pytest.raises(InfluxAuthError, match="INFLUX_USERNAME/INFLUX_PASSWORD"),
        ):
            c.write(["m value=1"])
        with (
            InfluxClient(InfluxSettings(url=server.url, token="not-a-token")) as c,
            pytest.raises(InfluxAuthError, match="check INFLUX_TOKEN"),
        ):
            c.ensure_database()
        server.query("CREATE USER \"reader\" WITH PASSWORD 'r'")  # not an admin
        with (
            InfluxClient(InfluxSettings(url=server.url, username="reader", password="r")) as c,
            pytest.raises(InfluxAuthError, match="did not permit this"),
        ):
            c.ensure_database()  # CREATE DATABASE needs an admin on 1.x
        env = {**broker.env(), **server.env(), "SMARTCAB_DATA_DIR": str(tmp_path / "data")}
        wrong = ServiceProcess("recorder", tmp_path, {**env, "INFLUX_PASSWORD": "nope"}).start()
        assert wrong.proc.wait(15) == 2
        line = wrong.wait_log("event=influx.auth_failed")
        wrong.kill()
        assert "refused the credentials (HTTP 401)" in line
        right = ServiceProcess("recorder", tmp_path, env).start()
        try:
            subscribed(server)
            with TopicLog(broker.host, broker.port, topics=("smartcab/none",)) as mqtt:
                body = vitals("wch-01", "heart_rate", 66, 1)
                mqtt.publish(VITALS.format("wch-01", "heart_rate"), body)
            wait_until(lambda: server.count("SELECT count(value) FROM vitals") == 1, what="a write")
        finally:
            right.kill()
    finally:
        server.kill()


def test_full_spool_raises_an_alert_holds_messages_and_loses_nothing(
    make_recorder, broker, influxdb, tmp_path
):
    recorder = make_recorder(RECORDER_SPOOL_MAX_BYTES="1024", RECORDER_BATCH_SIZE="1")
    subscribed(influxdb)
    influxdb.stop()
    sent = 40
    with TopicLog(broker.host, broker.port, topics=("smartcab/alerts/#",)) as mqtt:
        for i in range(sent):
            mqtt.publish(
                VITALS.format("wch-01", "heart_rate"), vitals("wch-01", "heart_rate", 70, i)
            )
        raised = mqtt.wait("smartcab/alerts/services/recorder")
        assert json.loads(raised[0].payload)["level"] == "critical"
        line = recorder.wait_log("event=spool.full")
        assert "not acknowledging" in line
        recorder.wait_log("event=spool.appended")  # it filled up before it was full
        spooled = sum(f.stat().st_size for f in (tmp_path / "data/recorder/spool").glob("*.lp"))
        assert spooled <= 1024
        influxdb.start()
        cleared = mqtt.wait(
            "smartcab/alerts/services/recorder",
            where=lambda m: json.loads(m.payload)["level"] == "cleared",
        )
        assert cleared
    wait_until(lambda: count(influxdb) == sent, 15, interval=0.2, what=f"all {sent} readings")
    alert_rows = influxdb.rows("SELECT message, level FROM alerts WHERE device = 'recorder'")
    assert {r["level"] for r in alert_rows} == {"critical", "cleared"}


def test_shared_subscription_splits_the_load_and_stores_each_reading_once(
    make_recorder, broker, influxdb, tmp_path
):
    first = make_recorder(
        RECORDER_SHARED="1", RECORDER_CLIENT_ID="rec-a", SMARTCAB_DATA_DIR=str(tmp_path / "a")
    )
    second = make_recorder(
        RECORDER_SHARED="1", RECORDER_CLIENT_ID="rec-b", SMARTCAB_DATA_DIR=str(tmp_path / "b")
    )
    first.wait_log("mqtt.connected")
    second.wait_log("mqtt.connected")
    sent = 200
    with TopicLog(broker.host, broker.port, topics=("smartcab/none",)) as mqtt:
        # Shared subscriptions get no retained messages: probe until the group exists.
        def probe():
            mqtt.publish(VITALS.format("probe", "spo2"), vitals("probe", "spo2", 99, 0))
            return count(influxdb, "WHERE device = 'probe'")

        wait_until(probe, interval=0.2, what="the shared subscription")
        for i in range(sent):
            mqtt.publish(
                VITALS.format("wch-01", "heart_rate"), vitals("wch-01", "heart_rate", 70, i)
            )
    where = "WHERE device = 'wch-01'"
    wait_until(lambda: count(influxdb, where) == sent, 15, interval=0.2, what=f"{sent} readings")
    written = []
    for proc in (first, second):
        assert proc.stop() == 0
        match = re.search(r"recorder.stopping written=(\d+)", proc.log_text())
        written.append(int(match.group(1)))
    assert all(n > 0 for n in written), f"one recorder did all the work: {written}"


def test_starts_without_influxdb_and_creates_the_database_when_it_comes(
    make_recorder, broker, influxdb
):
    influxdb.stop()
    recorder = make_recorder()
    recorder.wait_log("event=influx.unavailable")
    recorder.wait_log("event=spool.appended")  # its own retained status: it is subscribed
    with TopicLog(broker.host, broker.port, topics=("smartcab/none",)) as mqtt:
        mqtt.publish(VITALS.format("wch-01", "spo2"), vitals("wch-01", "spo2", 97, 1))
    wait_until(lambda: recorder.log_text().count("event=spool.appended") >= 2, what="spooling")
    influxdb.start()
    recorder.wait_log("event=influx.database_created")
    wait_until(lambda: count(influxdb, "WHERE device = 'wch-01'") == 1, what="the reading")
    recorder.wait_log("event=spool.drained")


def test_a_second_recorder_on_the_same_data_dir_refuses_to_start(make_recorder):
    first = make_recorder()
    first.wait_log("event=recorder.started")
    second = make_recorder(RECORDER_CLIENT_ID="another")
    assert second.proc.wait(15) == 2
    assert "give each its own SMARTCAB_DATA_DIR" in second.wait_log("event=recorder.bad_config")


def test_a_line_influxdb_refuses_is_logged_and_the_rest_of_the_batch_stored(
    make_recorder, broker, influxdb
):
    influxdb.query("CREATE DATABASE vitals")
    # An integer "value" already in this shard makes a float for the same field a conflict.
    with InfluxClient(InfluxSettings(url=influxdb.url)) as client:
        client.write(["vitals,device=old,metric=heart_rate value=70i 1795428000000"])
    recorder = make_recorder(RECORDER_BATCH_LINGER="0.5")
    subscribed(influxdb)
    with TopicLog(broker.host, broker.port, topics=("smartcab/none",)) as mqtt:
        mqtt.publish(VITALS.format("wch-01", "heart_rate"), vitals("wch-01", "heart_rate", 71, 1))
        body = {"items": {"Pepsi": 1}, "ts": "2026-11-23T10:00:00.002Z"}
        mqtt.publish("smartcab/devices/cab-01/inventory", json.dumps(body))
    line = recorder.wait_log("event=influx.line_rejected")
    assert "field type conflict" in line and "device=wch-01" in line
    wait_until(lambda: influxdb.rows("SELECT count FROM inventory"), what="the inventory point")
    assert count(influxdb, "WHERE device = 'wch-01'") == 0


def test_records_typed_in_readings_from_their_own_topic_space(make_recorder, broker, influxdb):
    make_recorder()
    subscribed(influxdb)
    with TopicLog(broker.host, broker.port, topics=("smartcab/#",)) as mqtt:
        mqtt.publish("smartcab/manual/ann/vitals/spo2", vitals("manual-ann", "spo2", 97, 3))
        mqtt.wait("smartcab/manual/ann/vitals/spo2")
    wait_until(lambda: count(influxdb) == 1, what="the typed-in reading")
    rows = influxdb.rows("SELECT * FROM vitals")
    assert [(r["device"], r["patient"], r["value"]) for r in rows] == [("manual-ann", "ann", 97)]
