"""The recorder's pure parts: its schema, bad input, the spool and its settings."""

import os
import threading

import paho.mqtt.client as paho
import pytest

from services.common.alerts import AlertSettings, AlertTracker
from services.common.topics import Topics
from services.recorder.pipeline import Pipeline
from services.recorder.records import Dropped, Translator
from services.recorder.spool import Spool, SpoolBusy, SpoolFull
from tests.support.net import wait_until
from tests.support.recorder_input import BEFORE_YEAR_ONE_UTC, HUGE_VALUE, VITALS, vitals


class BuggyTranslator(Translator):
    """Stands in for a translator bug that only one message hits."""

    def translate(self, topic: str, payload: bytes, retain: bool, dup: bool):
        if payload == b"bug":
            raise KeyError("a bug")
        return super().translate(topic, payload, retain, dup)


class FakeInflux:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def write(self, lines: list[str]) -> None:
        self.lines += lines


def translator(tmp_path) -> Translator:
    return Translator(Topics(), AlertTracker(AlertSettings()), tmp_path / "state.json")


def test_vitals_become_one_point_with_patient_tag_and_quality_flag(tmp_path):
    t = translator(tmp_path)
    t.translate("smartcab/devices/wch-01/patient", b"p-1", retain=True, dup=False)
    out = t.translate(
        VITALS.format("wch-01", "heart_rate"), vitals("wch-01", "heart_rate", 72, 5), False, False
    )
    assert out.lines[0] == (
        "vitals,device=wch-01,metric=heart_rate,patient=p-1 flagged=false,value=72 1795428000005"
    )
    assert out.lines[1].startswith("news2_partial,device=wch-01,patient=p-1 heart_rate_points=0i")
    out = t.translate(
        VITALS.format("wch-01", "heart_rate"), vitals("wch-01", "heart_rate", 8, 6), False, False
    )
    assert out.lines == [
        "vitals,device=wch-01,metric=heart_rate,patient=p-1 "
        'flagged=true,reason="8 bpm is below the plausible 25 bpm",value=8 1795428000006'
    ]
    assert out.alerts == []  # an artefact never alerts


@pytest.mark.parametrize(
    ("topic", "payload"),
    [
        (VITALS.format("wch-01", "heart_rate"), b"{not json"),
        (VITALS.format("wch-01", "heart_rate"), b"[1, 2]"),
        (
            VITALS.format("wch-01", "heart_rate"),
            b'{"value": "72", "ts": "2026-11-23T10:00:00.000Z"}',
        ),
        (VITALS.format("wch-01", "heart_rate"), b'{"value": 72, "ts": "yesterday"}'),
        (VITALS.format("wch-01", "heart_rate"), b'{"value": 72}'),
        (VITALS.format("wch-01", "heart_rate"), HUGE_VALUE),
        (VITALS.format("wch-01", "heart_rate"), BEFORE_YEAR_ONE_UTC),
        ("smartcab/devices/cab-01/inventory", b'{"items": {}, "ts": "0001-01-01T00:00+01:00"}'),
        (VITALS.format("wch-01", "spo2"), vitals("wch-01", "heart_rate", 72, 0)),
        (
            "smartcab/devices/cab-01/inventory",
            b'{"items": {"Pepsi": -1}, "ts": "2026-11-23T10:00:00Z"}',
        ),
        ("smartcab/devices/wch-01/status", b"maybe"),
        ("smartcab/devices/wch-01/patient", b"\xff\xfe"),
    ],
)
def test_malformed_input_is_dropped_with_a_reason(tmp_path, topic, payload):
    with pytest.raises(Dropped) as caught:
        translator(tmp_path).translate(topic, payload, False, False)
    assert str(caught.value)


def test_a_bug_translating_one_message_drops_that_message_not_the_recorder(tmp_path, caplog):
    influx, acked = FakeInflux(), []
    spool = Spool(tmp_path / "spool", max_bytes=10_000)
    translator = BuggyTranslator(Topics(), AlertTracker(AlertSettings()), tmp_path / "state.json")
    pipeline = Pipeline(influx, spool, translator, ack=acked.append, publish=lambda t, p: None)
    payloads = [b"bug", vitals("wch-01", "heart_rate", 70, 1)]
    for payload in payloads:
        message = paho.MQTTMessage(topic=VITALS.format("wch-01", "heart_rate").encode())
        message.payload = payload
        pipeline.submit(message)
    stop = threading.Event()
    writer = threading.Thread(target=pipeline.run, args=(stop,))
    writer.start()
    try:
        wait_until(lambda: len(acked) == 2, what="both messages acknowledged")
    finally:
        stop.set()
        writer.join(5)
        spool.close()
    assert [m.payload for m in acked] == payloads
    assert pipeline.dropped == 1
    assert influx.lines[0].startswith("vitals,device=wch-01,metric=heart_rate ")
    assert "event=message.failed" in caplog.text and "KeyError: 'a bug'" in caplog.text


def test_retained_status_is_recorded_once_and_state_survives_a_restart(tmp_path):
    t = translator(tmp_path)
    t.translate("smartcab/devices/wch-01/patient", b"p-9", True, False)
    first = t.translate("smartcab/devices/wch-01/status", b"online", True, False)
    assert first.lines[0].startswith(
        'availability,device=wch-01,kind=watch,patient=p-9 online=true,state="online"'
    )
    assert t.translate("smartcab/devices/wch-01/status", b"online", True, False).lines == []
    t.save()
    again = translator(tmp_path)  # a restarted recorder
    assert again.patients == {"wch-01": "p-9"}
    assert again.translate("smartcab/devices/wch-01/status", b"online", True, False).lines == []
    assert again.translate("smartcab/devices/wch-01/status", b"offline", False, False).lines
    again.translate("smartcab/devices/wch-01/patient", b"", True, False)
    assert again.patients == {}


def test_inventory_is_one_point_per_item(tmp_path):
    body = b'{"items": {"Nutella": 0, "Pepsi": 1}, "ts": "2026-11-23T10:00:00.000Z"}'
    out = translator(tmp_path).translate("smartcab/devices/cab-01/inventory", body, True, False)
    assert out.lines == [
        "inventory,device=cab-01,item=Nutella count=0i 1795428000000",
        "inventory,device=cab-01,item=Pepsi count=1i 1795428000000",
    ]


def test_spool_is_bounded_durable_and_ordered(tmp_path):
    spool = Spool(tmp_path / "spool", max_bytes=100)
    first = spool.append(["a value=1 1"])
    spool.append(["a value=2 2", "a value=3 3"])
    with pytest.raises(SpoolFull):
        spool.append(["a value=4 4" * 20])
    (tmp_path / "spool" / "99999999999999999999.tmp").write_text("half a batch")
    with pytest.raises(SpoolBusy):
        Spool(tmp_path / "spool", max_bytes=100)  # a second recorder on the same folder
    spool.close()
    reopened = Spool(tmp_path / "spool", max_bytes=100)  # after a crash
    assert len(reopened) == 2 and not list((tmp_path / "spool").glob("*.tmp"))
    path, lines = reopened.oldest()
    assert path == first and lines == ["a value=1 1"]
    reopened.remove(path)
    assert reopened.oldest()[1] == ["a value=2 2", "a value=3 3"]
    assert reopened.append(["a value=5 5"]).name > path.name
    reopened.close()


def test_settings_come_from_the_environment():
    from services.recorder.settings import Settings

    s = Settings.from_env({"RECORDER_SHARED": "1", "SMARTCAB_DATA_DIR": "/var/lib/x"})
    assert s.shared and s.client_id.startswith("smartcab-recorder-")
    assert str(s.spool_dir) == "/var/lib/x/recorder/spool"
    plain = Settings.from_env({})
    assert plain.client_id == "smartcab-recorder" and not plain.shared
    assert plain.influx.url == "http://localhost:8086" and plain.influx.database == "vitals"
    assert os.fspath(plain.state_file) == "data/recorder/state.json"


def test_typed_in_readings_belong_to_the_user_their_topic_names(tmp_path):
    t = translator(tmp_path)
    # an assignment of the manual device cannot move them to someone else
    t.translate("smartcab/devices/manual-ann/patient", b"bob", retain=True, dup=False)
    out = t.translate(
        "smartcab/manual/ann/vitals/bp_systolic",
        vitals("manual-ann", "bp_systolic", 128, 7),
        False,
        False,
    )
    assert out.lines[0] == (
        "vitals,device=manual-ann,metric=bp_systolic,patient=ann flagged=false,value=128 "
        "1795428000007"
    )
    for topic in ("smartcab/manual/ann/vitals", "smartcab/manual/ann/image", "smartcab/manual//x"):
        with pytest.raises(Dropped):
            t.translate(topic, vitals("manual-ann", "spo2", 97, 8), False, False)


def _message(topic: str, payload: bytes) -> paho.MQTTMessage:
    message = paho.MQTTMessage(topic=topic.encode())
    message.payload = payload
    return message


def _standby(instance: str, lease: str = "5"):
    from services.recorder.settings import Settings
    from services.recorder.standby import Standby

    return Standby(Settings.from_env({"RECORDER_STANDBY": "1", "RECORDER_LEASE": lease}), instance)


def test_a_standby_finds_the_session_free_only_when_nobody_holds_it():
    standby = _standby("b")
    status = "smartcab/services/recorder/status"
    assert standby._free()  # never held: free at once, no lease to wait for
    standby._on_status(_message(status, b"online"))
    standby._on_claim(_message(standby.leader_topic, b"a"))
    assert not standby._free()  # a holds it and has just renewed its claim
    standby._on_status(_message(status, b"offline"))
    assert standby._free()  # a's last will (or clean stop)
    standby._on_claim(_message(standby.leader_topic, b"c"))
    assert not standby._free()  # c claimed after the offline: c's turn, not ours


def test_a_claim_not_renewed_for_a_lease_frees_the_session(monkeypatch):
    import services.recorder.standby as module

    clock = [1000.0]
    monkeypatch.setattr(module.time, "monotonic", lambda: clock[0])
    standby = _standby("b", lease="5")
    standby._on_status(_message("smartcab/services/recorder/status", b"online"))
    standby._on_claim(_message(standby.leader_topic, b"a"))
    clock[0] += 4.9
    assert not standby._free()
    clock[0] += 0.2  # a died with its broker node: no last will, only silence
    assert standby._free()


def test_shared_and_standby_recorders_are_one_choice_or_the_other():
    from services.common.errors import ConfigError
    from services.recorder.settings import Settings

    with pytest.raises(ConfigError, match="RECORDER_SHARED and RECORDER_STANDBY"):
        Settings.from_env({"RECORDER_SHARED": "1", "RECORDER_STANDBY": "1"})
    # standbys share one session: one client id, not one per host
    assert Settings.from_env({"RECORDER_STANDBY": "1"}).client_id == "smartcab-recorder"
