"""What a reading means: usual ranges, blood-pressure categories, alert words, marking as seen."""

import time

import pyotp
import pytest

from services.common import bp
from services.common.alerts import AlertSettings, AlertTracker, alert_text
from services.common.metrics import BY_KEY, GROUP_BY_KEY
from services.web import attention, verdicts, visits
from services.web import db as schema


@pytest.mark.parametrize(
    ("systolic", "diastolic", "key"),
    [
        (118, 76, "normal"),
        (120, 79, "elevated"),
        (129, 79, "elevated"),
        (130, 70, "stage1"),
        (119, 80, "stage1"),
        (140, 85, "stage2"),
        (128, 90, "stage2"),
        (180, 120, "stage2"),  # the crisis is *over* 180/120
        (181, 100, "crisis"),
        (150, 121, "crisis"),
        (185, 115, "crisis"),
        (88, 58, "low"),
        (100, 55, "low"),
    ],
)
def test_blood_pressure_falls_in_the_guidelines_category(systolic, diastolic, key):
    assert bp.category(systolic, diastolic).key == key


def test_the_category_names_its_guideline_and_says_what_to_do():
    crisis = bp.category(185, 115)
    assert crisis.named == "Hypertensive crisis (ACC/AHA 2017)"
    assert "emergency services" in crisis.advice
    assert bp.LOW.named == "Low (below 90/60 mmHg)"  # no guideline category: it does not claim one
    assert bp.table()["categories"][0]["key"] == "crisis"


def test_a_reading_outside_its_usual_range_gets_words_and_what_to_do():
    spo2 = verdicts.of_metric(BY_KEY["spo2"], 88)
    assert (spo2.side, spo2.badge) == ("low", "Low")
    assert spo2.words == "Low: below the usual range (95–100 %)."
    assert "contact your doctor today" in spo2.todo and "95 %" in spo2.todo
    inside = verdicts.of_metric(BY_KEY["spo2"], 95)  # an end of the range is inside it
    assert inside.side is None and inside.todo == "" and inside.severity == "ok"
    fever = verdicts.of_metric(BY_KEY["temperature"], 38.4)
    assert fever.words == "High: above the usual range (36.1–37.2 °C)."


def test_the_pressure_card_says_its_category_never_only_the_ideal_range():
    verdict = verdicts.of_group(GROUP_BY_KEY["bp"], [185, 115])
    assert verdict.category == "Hypertensive crisis (ACC/AHA 2017)"
    assert (verdict.side, verdict.severity, verdict.badge) == ("high", "bad", "Crisis")
    normal = verdicts.of_group(GROUP_BY_KEY["bp"], [112, 72])
    assert normal.side is None and normal.category == "Normal (ACC/AHA 2017)" and not normal.todo
    assert verdicts.of_group(GROUP_BY_KEY["bp"], [None, None]) is None


def test_threshold_alerts_use_the_metric_tables_labels_and_units():
    tracker = AlertTracker(AlertSettings())
    raised = tracker.observe("wch", "spo2", 88, 1000, "alice")
    assert raised[0].message == "Blood oxygen 88 % is below 92 %"
    assert tracker.observe("wch", "spo2", 96, 2000, "alice")[0].message == (
        "Blood oxygen back within its limits (96 %)"
    )
    high = tracker.observe("wch", "bp_systolic", 185, 3000, "alice")
    assert high[0].message == "Systolic pressure 185 mmHg is above 180 mmHg"


def test_alerts_stored_in_the_old_words_read_like_new_ones():
    old = {"kind": "threshold", "key": "spo2", "message": "spo2 88 is below 92"}
    assert alert_text(old) == "Blood oxygen 88 % is below 92 %"
    cleared = {"kind": "threshold", "message": "temperature back within thresholds (36.9)"}
    assert alert_text(cleared) == "Temperature back within its limits (36.9 °C)"
    score = {"kind": "news2_partial", "message": "partial NEWS2 (x): score 5 (medium); spo2=3"}
    assert alert_text(score).endswith("Blood oxygen 3")
    assert alert_text({"kind": "service", "message": "spool_full 10"}) == "spool_full 10"


def test_marking_as_seen_covers_earlier_readings_only_and_never_the_future(app, auth):
    alice, _ = auth.make_patient(app)
    conn = schema.connect(app.config["DATABASE"])
    try:
        assert attention.acknowledge(conn, alice.id, "bp_systolic", 5_000, alice.id) == "bp"
        attention.acknowledge(conn, alice.id, "bp", 3_000, alice.id)  # an older one moves nothing
        future = (int(time.time()) + 3600) * 1000
        attention.acknowledge(conn, alice.id, "spo2", future, alice.id)
        seen = attention.acknowledged(conn, alice.id)
        assert seen["bp"] == 5_000
        assert seen["spo2"] <= time.time() * 1000
        with pytest.raises(attention.ValidationError, match="acknowledged"):
            attention.acknowledge(conn, alice.id, "weather", 1, alice.id)
    finally:
        conn.close()


def test_marking_as_seen_is_a_post_with_csrf_audited_and_only_for_viewers(app, auth, client):
    alice, _ = auth.make_patient(app)
    auth.sign_in_patient(client)
    refused = client.post("/p/alice/acknowledge", json={"key": "spo2", "through": 1000})
    assert refused.status_code == 403  # no CSRF token
    token = auth.csrf(client, "/p/alice")
    done = client.post(
        "/p/alice/acknowledge",
        json={"key": "spo2", "through": 1000},
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert done.status_code == 200 and done.json == {"ok": True, "key": "spo2", "through": 1000}
    bad = client.post(
        "/p/alice/acknowledge",
        data={"csrf_token": token, "key": "spo2", "through": "soon"},
        headers={"Accept": "application/json"},
    )
    assert bad.status_code == 400 and "milliseconds" in bad.json["error"]
    conn = schema.connect(app.config["DATABASE"])
    try:
        entries = visits.log(conn, alice.id)
    finally:
        conn.close()
    assert (
        entries[0]["what"] == "Marked a blood oxygen (SpO2) reading outside the usual range as seen"
    )

    _, secret = auth.make_doctor(app)  # not shared with: refused, like any other of her pages
    doctor = app.test_client()
    auth.sign_in_doctor(doctor, pyotp.TOTP(secret).now())
    token = auth.csrf(doctor, "/doctor")
    other = doctor.post(
        "/p/alice/acknowledge", data={"csrf_token": token, "key": "spo2", "through": "2000"}
    )
    assert other.status_code == 403
