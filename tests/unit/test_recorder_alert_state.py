"""The alert rules' open conditions: dumped, loaded, kept in the state file, taken retained."""

import json
import threading
import time

import paho.mqtt.client as paho
import pytest

from services.common.alerts import AlertSettings, AlertTracker
from services.common.errors import MqttError
from services.common.topics import Topics
from services.recorder.pipeline import Pipeline
from services.recorder.records import Dropped, Translator
from services.recorder.spool import Spool
from tests.support.net import wait_until
from tests.support.recorder_input import VITALS, vitals

OPEN_ALERTS = "smartcab/services/recorder/open_alerts"
ASSIGNMENTS = "smartcab/devices/+/patient"


def translator(path, retained: bool = True) -> Translator:
    return Translator(Topics(), AlertTracker(AlertSettings()), path, retained=retained)


def reading(t: Translator, device: str, metric: str, value: float, ms: int) -> list[tuple]:
    """The (key, level) of each alert one reading raises or clears."""
    out = t.translate(VITALS.format(device, metric), vitals(device, metric, value, ms), 0, 0)
    return [(a.key, a.level) for a in out.alerts]


def febrile(t: Translator) -> str:
    """wch-01 with a fever and a partial score of 5 open; returns the retained message."""
    assert reading(t, "wch-01", "temperature", 39.6, 1000) == [("temperature", "warning")]
    assert reading(t, "wch-01", "heart_rate", 120, 1100) == []  # 2 + 2 points
    assert reading(t, "wch-01", "spo2", 95, 1150) == [("news2_partial", "warning")]  # + 1
    assert reading(t, "wch-02", "heart_rate", 70, 1200) == []  # a healthy one
    payload = t.save()
    assert payload is not None
    return payload


def test_a_tracker_restored_from_its_dump_goes_on_as_the_one_that_dumped_it():
    first = AlertTracker(AlertSettings())
    first.observe("wch-01", "spo2", 90, 1000)  # below 92 %, and 3 points
    first.observe("wch-01", "heart_rate", 135, 1100)  # above 130, and 3 more: score 6
    first.observe("wch-02", "heart_rate", 70, 1200)
    state = json.loads(json.dumps(first.dump()))  # as it is stored: JSON
    assert state["open"] == [
        ["wch-01", "heart_rate", "warning"],
        ["wch-01", "news2_partial", "warning"],
        ["wch-01", "spo2", "warning"],
    ]
    assert set(state["latest"]) == {"wch-01"}  # only the devices with a condition open
    restored = AlertTracker(AlertSettings())
    restored.load(state)
    assert restored.score("wch-01") == first.score("wch-01")
    later = [("wch-01", "heart_rate", 80, 2000), ("wch-01", "spo2", 97, 2100)]
    for device, metric, value, ts in later:
        assert restored.observe(device, metric, value, ts) == first.observe(
            device, metric, value, ts
        )
    assert restored.dump() == first.dump() == {"open": [], "latest": {}}


def test_a_condition_changed_is_what_marks_the_tracker_for_saving():
    tracker = AlertTracker(AlertSettings())
    tracker.observe("wch-01", "heart_rate", 70, 1000)
    assert not tracker.changed  # readings alone do not rewrite the state file
    tracker.observe("wch-01", "heart_rate", 140, 2000)
    assert tracker.changed
    tracker.dump()
    assert not tracker.changed


def test_a_restarted_translator_clears_the_open_condition_once_and_raises_none_again(tmp_path):
    febrile(translator(tmp_path / "state.json"))
    again = translator(tmp_path / "state.json")
    # the same episode: the score still counts the heart rate and SpO2 from before
    assert reading(again, "wch-01", "temperature", 39.8, 2000) == []
    assert reading(again, "wch-01", "temperature", 37.0, 3000) == [
        ("temperature", "cleared"),
        ("news2_partial", "cleared"),  # heart rate 2 + SpO2 1 + temperature 0
    ]


def test_a_state_file_from_before_alerts_were_kept_still_loads(tmp_path):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"patients": {"wch-01": "p-1"}, "availability": {}}))
    t = translator(path)
    assert t.patients == {"wch-01": "p-1"}
    assert reading(t, "wch-01", "temperature", 39.6, 1000)[0] == ("temperature", "warning")
    t.save()
    assert json.loads(path.read_text())["alerts"]["open"][0] == ["wch-01", "temperature", "warning"]


def test_a_malformed_alerts_entry_keeps_the_rest_of_the_state_file(tmp_path, caplog):
    path = tmp_path / "state.json"
    path.write_text(json.dumps({"patients": {"wch-01": "p-1"}, "alerts": {"open": [[1]]}}))
    t = translator(path)
    assert t.patients == {"wch-01": "p-1"}
    assert t.tracker.dump() == {"open": [], "latest": {}}
    assert "event=recorder.state_unreadable" in caplog.text


def test_a_recorder_without_a_state_file_takes_the_retained_open_conditions(tmp_path):
    payload = febrile(translator(tmp_path / "a.json"))
    other = translator(tmp_path / "b.json")  # another machine: no state file
    assert other.translate(OPEN_ALERTS, payload.encode(), True, False).lines == []
    assert reading(other, "wch-01", "temperature", 37.0, 2000) == [
        ("temperature", "cleared"),
        ("news2_partial", "cleared"),
    ]
    other.save()
    assert json.loads((tmp_path / "b.json").read_text())["alerts"]["open"] == []


def test_the_newer_copy_wins_and_a_late_one_is_not_mixed_in(tmp_path):
    old = febrile(translator(tmp_path / "a.json"))
    mine = translator(tmp_path / "b.json")
    reading(mine, "wch-03", "spo2", 88, 5000)
    own = mine.save()
    assert mine.translate(OPEN_ALERTS, own.encode(), True, False).lines == []  # the echo
    restarted = translator(tmp_path / "b.json")
    restarted.translate(OPEN_ALERTS, old.encode(), True, False)  # older than the file
    assert restarted.tracker.dump()["open"] == [["wch-03", "spo2", "warning"]]
    fed = translator(tmp_path / "c.json")
    reading(fed, "wch-01", "temperature", 37.0, 2000)
    fed.translate(OPEN_ALERTS, old.encode(), True, False)  # came after a reading
    assert fed.tracker.dump()["open"] == []


@pytest.mark.parametrize("payload", [b"not json", b'{"saved_ms": 5, "open": [["x"]]}'])
def test_a_malformed_retained_copy_is_dropped(tmp_path, payload):
    t = translator(tmp_path / "state.json")
    with pytest.raises(Dropped):
        t.translate(OPEN_ALERTS, payload, True, False)
    assert t.tracker.dump() == {"open": [], "latest": {}}


def test_the_retained_copy_is_subscribed_first_and_shared_recorders_take_none(tmp_path):
    from services.recorder.__main__ import subscriptions
    from services.recorder.settings import Settings

    alone = subscriptions(Settings.from_env({}), translator(tmp_path / "a.json"))
    # QoS 0: the retained copy comes with every subscribe, with no JetStream consumer on NATS
    assert alone[:2] == [(OPEN_ALERTS, 0), (ASSIGNMENTS, 1)]
    shared = translator(tmp_path / "b.json", retained=False)
    assert shared.open_alerts is None
    assert OPEN_ALERTS not in [topic for topic, _ in shared.router.subscriptions()]


class FakeInflux:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, lines: list[str]) -> None:
        self.lines += lines


class Taken:
    """What the client's publish returns once the broker has acknowledged the message."""

    def wait_for_publish(self, timeout: float) -> None:
        pass

    def is_published(self) -> bool:
        return True


def _message(topic: str, payload: bytes, retain: bool = False):
    message = paho.MQTTMessage(topic=topic.encode())
    message.payload, message.retain = payload, retain
    return message


def test_readings_wait_for_the_retained_copy_and_the_new_one_is_published_retained(tmp_path):
    payload = febrile(translator(tmp_path / "a.json"))
    spool = Spool(tmp_path / "spool", max_bytes=10_000)
    acked, published, kept = [], [], []
    pipeline = Pipeline(
        FakeInflux(),
        spool,
        translator(tmp_path / "b.json"),
        ack=acked.append,
        publish=lambda t, p: published.append(json.loads(p)) or Taken(),
        publish_retained=lambda t, p: kept.append((t, json.loads(p))),
        assignments_settle=0.1,
    )
    normal = _message(
        VITALS.format("wch-01", "temperature"), vitals("wch-01", "temperature", 37, 2)
    )
    stop = threading.Event()
    writer = threading.Thread(target=pipeline.run, args=(stop,))
    writer.start()
    try:
        pipeline.connected()
        pipeline.submit(normal)  # queued in the session: comes before the retained copy
        pipeline.subscribed(ASSIGNMENTS)  # not enough: the open conditions are not in yet
        time.sleep(0.3)  # past the settle, and the reading still waits
        pipeline.subscribed(OPEN_ALERTS)
        pipeline.submit(_message(OPEN_ALERTS, payload.encode(), retain=True))
        wait_until(lambda: len(acked) == 2, what="both acknowledged")
    finally:
        stop.set()
        writer.join(5)
        spool.close()
    assert [(a["key"], a["level"]) for a in published] == [
        ("temperature", "cleared"),
        ("news2_partial", "cleared"),
    ]
    assert [(t, k["open"]) for t, k in kept] == [(OPEN_ALERTS, [])]


def test_the_alert_state_is_saved_only_once_the_broker_has_the_alerts(tmp_path):
    spool = Spool(tmp_path / "spool", max_bytes=10_000)
    acked, refused = [], []

    def publish(topic: str, payload: str) -> Taken:
        if refused:
            raise MqttError("the broker is away")
        return Taken()

    pipeline = Pipeline(
        FakeInflux(),
        spool,
        translator(tmp_path / "state.json"),
        ack=acked.append,
        publish=publish,
        publish_retained=lambda t, p: None,
        assignments_settle=0.1,
    )
    stop = threading.Event()
    writer = threading.Thread(target=pipeline.run, args=(stop,))
    writer.start()
    saved = lambda: json.loads((tmp_path / "state.json").read_text())["alerts"]["open"]  # noqa: E731
    try:
        refused.append(True)
        pipeline.submit(_message(VITALS.format("wch-01", "spo2"), vitals("wch-01", "spo2", 88, 1)))
        wait_until(lambda: len(acked) == 1, what="the reading acknowledged")
        assert not (tmp_path / "state.json").exists()  # the alert never reached the broker
        refused.clear()
        pipeline.submit(_message(VITALS.format("wch-02", "spo2"), vitals("wch-02", "spo2", 97, 2)))
        wait_until(lambda: len(acked) == 2, what="the next reading acknowledged")
    finally:
        stop.set()
        writer.join(5)
        spool.close()
    assert saved() == [["wch-01", "spo2", "warning"]]  # saved with the next batch


def test_a_save_is_later_than_the_copy_it_follows_whatever_the_clock_says(tmp_path):
    ahead = json.dumps({"saved_ms": 9_000_000_000_000, "open": [], "latest": {}})
    t = translator(tmp_path / "state.json")  # a host whose clock is behind that copy's
    t.translate(OPEN_ALERTS, ahead.encode(), True, False)
    reading(t, "wch-01", "spo2", 88, 1000)
    assert json.loads(t.save())["saved_ms"] == 9_000_000_000_001
