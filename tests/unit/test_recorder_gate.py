"""The recorder's assignment gate: readings wait for the retained patient assignments."""

import threading

import paho.mqtt.client as paho
import pytest

from services.common.alerts import AlertSettings, AlertTracker
from services.common.topics import Topics
from services.recorder.gate import AssignmentGate
from services.recorder.pipeline import Pipeline
from services.recorder.records import Translator
from services.recorder.spool import Spool
from tests.support.net import wait_until
from tests.support.recorder_input import VITALS, vitals

ASSIGNMENTS = "smartcab/devices/+/patient"


def test_the_gate_closes_on_connect_and_opens_once_the_granted_assignments_go_quiet():
    gate = AssignmentGate(settle=1.0, limit=60.0)
    assert gate.is_open(0.0)  # nothing connected yet: nothing to wait for
    gate.connected(10.0)
    assert not gate.is_open(15.0)  # not granted yet: however long, until the limit
    gate.granted(15.0)
    gate.assignment(15.5)
    gate.assignment(16.2)  # the retained burst goes on
    assert not gate.is_open(17.1)
    assert gate.is_open(17.2)
    assert not gate.forced
    assert gate.taken() == pytest.approx(7.2) and gate.taken() is None  # said once
    gate.assignment(30.0)  # a live assignment once open changes nothing
    assert gate.is_open(30.1)


def test_a_reconnect_closes_the_gate_again_and_an_old_grant_does_not_count():
    gate = AssignmentGate(settle=0.5, limit=60.0)
    gate.connected(0.0)
    gate.granted(0.1)
    assert gate.is_open(0.6)
    gate.granted(5.0)  # a late SUBACK of the old connection, with the gate open
    gate.connected(10.0)
    assert not gate.is_open(10.6)
    gate.granted(11.0)
    assert not gate.is_open(11.4)
    assert gate.is_open(11.5)


def test_a_subscription_never_granted_opens_the_gate_at_the_limit_and_says_so():
    gate = AssignmentGate(settle=0.5, limit=60.0)
    gate.connected(100.0)
    assert not gate.is_open(159.9)
    assert gate.is_open(160.0)
    assert gate.forced and gate.taken() == 60.0
    gate.connected(200.0)
    assert not gate.forced


class FakeInflux:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, lines: list[str]) -> None:
        self.lines += lines


def _message(topic: str, payload: bytes, retain: bool = False, dup: bool = False):
    message = paho.MQTTMessage(topic=topic.encode())
    message.payload = payload
    message.retain, message.dup = retain, dup
    return message


def test_a_reading_before_its_assignment_is_tagged_alike_first_and_when_redelivered(tmp_path):
    influx, acked = FakeInflux(), []
    spool = Spool(tmp_path / "spool", max_bytes=10_000)
    translator = Translator(Topics(), AlertTracker(AlertSettings()), tmp_path / "state.json")
    pipeline = Pipeline(
        influx,
        spool,
        translator,
        ack=acked.append,
        publish=lambda t, p: None,
        assignments_settle=0.1,
    )
    reading = vitals("wch-01", "heart_rate", 70, 1)
    first = [
        _message(VITALS.format("wch-01", "heart_rate"), reading),  # queued in the session
        _message(VITALS.format("wch-02", "heart_rate"), vitals("wch-02", "heart_rate", 71, 2)),
        _message("smartcab/devices/wch-01/patient", b"alice", retain=True),
    ]
    stop = threading.Event()
    writer = threading.Thread(target=pipeline.run, args=(stop,))
    writer.start()
    try:
        pipeline.connected()
        pipeline.submit(first[0])
        pipeline.submit(first[1])
        pipeline.subscribed(ASSIGNMENTS)
        pipeline.submit(first[2])
        wait_until(lambda: len(acked) == 3, what="the first three acknowledged")
        pipeline.connected()  # a failover: the first reading comes again
        pipeline.subscribed(ASSIGNMENTS)
        pipeline.submit(_message(VITALS.format("wch-01", "heart_rate"), reading, dup=True))
        wait_until(lambda: len(acked) == 4, what="the redelivered copy acknowledged")
    finally:
        stop.set()
        writer.join(5)
        spool.close()
    assert acked[:3] == first  # in the order they came, the assignment last
    wch01 = [line for line in influx.lines if line.startswith("vitals,device=wch-01")]
    assert len(wch01) == 2 and wch01[0] == wch01[1]  # one series: InfluxDB keeps one point
    assert ",patient=alice " in wch01[0]
    wch02 = [line for line in influx.lines if line.startswith("vitals,device=wch-02")]
    assert len(wch02) == 1 and "patient=" not in wch02[0]  # unassigned: stored all the same


def test_the_assignments_are_subscribed_first_and_never_shared(tmp_path):
    from services.recorder.__main__ import subscriptions
    from services.recorder.settings import Settings

    translator = Translator(Topics(), AlertTracker(AlertSettings()), tmp_path / "state.json")
    for shared in ("0", "1"):
        topics = [
            t for t, _ in subscriptions(Settings.from_env({"RECORDER_SHARED": shared}), translator)
        ]
        assert topics[0] == ASSIGNMENTS
        assert ASSIGNMENTS not in topics[1:]
        assert all(t.startswith("$share/recorder/") == (shared == "1") for t in topics[1:])
