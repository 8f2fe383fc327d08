"""The recorder tags a reading with its patient even when the reading reaches it first.

A kept session hands its queued readings over right after CONNACK, before the
recorder's new subscriptions bring the retained assignments; a recorder without its
state file (a new install, a lost volume) must not store those readings untagged: a
redelivered copy, tagged once the assignment is in, would be a second series.
"""

import threading

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from tests.support.mqtt import TopicLog
from tests.support.net import wait_until
from tests.support.recorder_input import VITALS, vitals

SESSION = "smartcab-recorder"  # the recorder's client id, so its kept session


def make_session_with_readings_only(broker) -> None:
    """The recorder's kept session, subscribed to readings alone, as a real paho client."""
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=SESSION, clean_session=False)
    client.on_connect = lambda c, *_: c.subscribe("smartcab/devices/+/vitals/+", qos=1)
    client.on_subscribe = lambda *_: subscribed.set()
    client.connect(broker.host, broker.port, keepalive=10)
    client.loop_start()
    try:
        assert subscribed.wait(10), "the broker did not acknowledge the subscription"
    finally:
        client.disconnect()
        client.loop_stop()


def rows(influxdb, device: str) -> list[dict]:
    try:
        return influxdb.rows(f"SELECT value, patient FROM vitals WHERE device = '{device}'")
    except RuntimeError:  # the database is not created yet
        return []


def test_readings_queued_before_the_retained_assignment_are_tagged_with_it(
    make_recorder, broker, influxdb
):
    make_session_with_readings_only(broker)
    with TopicLog(broker.host, broker.port, topics=("smartcab/none",)) as publisher:
        publisher.client.publish("smartcab/devices/wch-01/patient", "alice", qos=1, retain=True)
        infos = [
            publisher.client.publish(
                VITALS.format(device, "heart_rate"),
                vitals(device, "heart_rate", 60 + k, 1000 * k),
                qos=1,
            )
            for k in range(1, 6)
            for device in ("wch-01", "wch-02")  # wch-02 is assigned to nobody
        ]
        for info in infos:
            info.wait_for_publish(10)
    recorder = make_recorder()
    recorder.wait_log("session_present=True")
    recorder.wait_log("event=recorder.assignments_known")
    wait_until(lambda: len(rows(influxdb, "wch-01")) == 5, what="wch-01's five readings")
    wait_until(lambda: len(rows(influxdb, "wch-02")) == 5, what="wch-02's five readings")
    assert [(r["value"], r["patient"]) for r in rows(influxdb, "wch-01")] == [
        (60.0 + k, "alice") for k in range(1, 6)
    ]
    assert [(r["value"], r["patient"]) for r in rows(influxdb, "wch-02")] == [
        (60.0 + k, None) for k in range(1, 6)
    ]
    # readings after the recorder has its assignments follow a change at once
    with TopicLog(broker.host, broker.port, topics=("smartcab/none",)) as publisher:
        publisher.client.publish("smartcab/devices/wch-02/patient", "bob", qos=1, retain=True)
        publisher.client.publish(
            VITALS.format("wch-02", "heart_rate"), vitals("wch-02", "heart_rate", 70, 9000), qos=1
        ).wait_for_publish(10)
    wait_until(lambda: len(rows(influxdb, "wch-02")) == 6, what="wch-02's sixth reading")
    assert rows(influxdb, "wch-02")[-1]["patient"] == "bob"
