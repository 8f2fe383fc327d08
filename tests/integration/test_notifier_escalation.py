"""Who hears when: escalation until acknowledged, quiet hours, digests, silent watches, admins."""

import json
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from services.common import carecircle
from tests.support.net import wait_until
from tests.support.notify import make_alert, publish_alert, statuses


def critical_score() -> dict:
    return make_alert(
        "news2_partial",
        "critical",
        kind="news2_partial",
        value=8.0,
        message="partial NEWS2: score 8 (high)",
    )


def test_escalation_reaches_the_doctor_and_stops_when_someone_acknowledges(
    broker, db, hook, mqtt, make_notifier
):
    carecircle.add_contact(db, "ann", "Carol", hook.url("/family"), tier=1)
    carecircle.add_contact(db, "ann", "Dr Demo", hook.url("/doctor"), tier=2)
    make_notifier(NOTIFIER_ESCALATE_CRITICAL="1.5", NOTIFIER_REPEAT_INTERVAL="3")
    started = time.monotonic()
    alert_id = publish_alert(mqtt, critical_score())
    hook.wait("/family")
    assert hook.posts("/doctor") == []  # the family first
    hook.wait("/doctor")
    assert time.monotonic() - started >= 1.5  # only after the escalation time
    family = hook.wait("/family", count=2)  # nobody answered: it repeats
    assert "Reminder" in family[1]["message"]
    assert carecircle.ack(db, alert_id, "carol")
    time.sleep(0.3)  # a send already under way may still land
    counts = len(hook.posts("/family")), len(hook.posts("/doctor"))
    time.sleep(3.5)  # longer than the repeat interval
    assert (len(hook.posts("/family")), len(hook.posts("/doctor"))) == counts
    note = carecircle.notification(db, alert_id)
    assert note["acked_by"] == "carol" and note["acked_at"] is not None
    assert not carecircle.ack(db, alert_id, "dr")  # once
    acked = mqtt.wait(
        "smartcab/notifications/patients/ann/events",
        where=lambda m: json.loads(m.payload)["event"] == "acked",
    )
    assert json.loads(acked[0].payload)["by"] == "carol"


def test_quiet_hours_hold_a_warning_and_not_a_critical_alert(broker, db, hook, mqtt, make_notifier):
    # quiet hours around the contact's present time in her own zone, ending in two hours
    zone = ZoneInfo("Asia/Kolkata")
    local = datetime.now(UTC).astimezone(zone)
    start, end = local - timedelta(hours=1), local + timedelta(hours=2)
    carecircle.add_contact(
        db,
        "ann",
        "Carol",
        hook.url("/carol"),
        quiet_start=start.strftime("%H:%M"),
        quiet_end=end.strftime("%H:%M"),
        timezone="Asia/Kolkata",
    )
    make_notifier()
    warning = publish_alert(mqtt, make_alert())
    critical = publish_alert(mqtt, critical_score())
    posts = hook.wait("/carol")
    assert "URGENT" in posts[0]["title"]
    wait_until(lambda: statuses(db, warning) == ["held"], 5, what="the warning held")
    time.sleep(1)
    assert len(hook.posts("/carol")) == 1
    assert statuses(db, critical) == ["sent"]
    held = carecircle.deliveries(db, warning)[0]
    ends = end.replace(second=0, microsecond=0).astimezone(UTC).timestamp()
    assert held["next_try"] == ends  # it goes when her quiet hours end


def test_many_alerts_in_a_short_time_become_one_digest(broker, db, hook, mqtt, make_notifier):
    carecircle.add_contact(db, "ann", "Carol", hook.url("/carol"))
    make_notifier(NOTIFIER_DIGEST_WINDOW="2")
    publish_alert(mqtt, make_alert("heart_rate"))
    hook.wait("/carol")
    publish_alert(mqtt, make_alert("spo2", value=88.0, message="spo2 88 is below 92"))
    publish_alert(
        mqtt, make_alert("temperature", value=39.6, message="temperature 39.6 is above 39")
    )
    publish_alert(mqtt, make_alert("bp_systolic", value=85.0, message="bp_systolic 85 is below 90"))
    digest = hook.wait("/carol", count=2)[1]
    time.sleep(1)
    assert len(hook.posts("/carol")) == 2
    assert digest["title"] == "Health Plus - 3 alerts for ann"
    for words in ("blood oxygen", "high body temperature", "blood pressure, systolic"):
        assert words in digest["message"]


def test_a_level_the_contact_did_not_choose_sends_nothing(broker, db, hook, mqtt, make_notifier):
    carecircle.add_contact(db, "ann", "Dr Demo", hook.url("/doctor"), levels=["critical"])
    make_notifier()
    warning = publish_alert(mqtt, make_alert())
    publish_alert(mqtt, critical_score())
    assert "URGENT" in hook.wait("/doctor")[0]["title"]
    time.sleep(1)
    assert len(hook.posts("/doctor")) == 1 and statuses(db, warning) == []


def test_service_alerts_go_to_the_admins_only(broker, db, hook, mqtt, make_notifier):
    carecircle.add_contact(db, None, "On-call admin", hook.url("/admin"), levels=["critical"])
    carecircle.add_contact(db, "ann", "Carol", hook.url("/carol"))
    make_notifier()
    full = make_alert(
        "spool_full",
        "critical",
        kind="service",
        patient=None,
        device="recorder",
        value=None,
        message="recorder spool is full",
    )
    publish_alert(mqtt, full)
    assert "spool is full" in hook.wait("/admin")[0]["message"]
    time.sleep(1)
    assert hook.posts("/carol") == []


def test_a_silent_watch_notifies_once_and_its_return_once(broker, db, hook, mqtt, make_notifier):
    carecircle.add_contact(db, "ann", "Carol", hook.url("/carol"), notify_clear=True)
    mqtt.publish("smartcab/devices/wch-07/patient", "ann", retain=True)
    make_notifier(NOTIFIER_SILENT_AFTER="1.5")
    silent = hook.wait("/carol", timeout=10)[0]
    assert "no readings from the watch" in silent["title"]
    # an implausible reading (a watch not worn) does not count; a plausible one does
    reading = {"metric": "heart_rate", "unit": "bpm"}
    mqtt.publish("smartcab/devices/wch-07/vitals/heart_rate", json.dumps({**reading, "value": 0}))
    time.sleep(0.5)
    assert len(hook.posts("/carol")) == 1
    mqtt.publish("smartcab/devices/wch-07/vitals/heart_rate", json.dumps({**reading, "value": 71}))
    back = hook.wait("/carol", count=2)[1]
    assert "sending readings again" in back["title"]
    time.sleep(1)
    assert len(hook.posts("/carol")) == 2


def test_a_test_message_goes_out_at_once(broker, db, hook, make_notifier):
    contact_id = carecircle.add_contact(db, "ann", "Carol", hook.url("/carol"))
    make_notifier()
    alert_id = carecircle.queue_test(db, contact_id)
    assert "test message" in hook.wait("/carol")[0]["message"]
    wait_until(lambda: statuses(db, alert_id) == ["sent"], 5, what="the test marked sent")
