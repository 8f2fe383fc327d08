"""The care-circle tables and the outbox's decisions, on a real SQLite file."""

import pytest

from services.common import carecircle as cc
from services.notifier import outbox
from services.notifier.settings import Settings

ALERT = {
    "device": "wch-01",
    "patient": "ann",
    "kind": "threshold",
    "key": "heart_rate",
    "level": "warning",
    "value": 35.0,
    "message": "heart_rate 35 is below 40",
    "ts_ms": 1_764_630_000_000,
}


@pytest.fixture
def db(tmp_path):
    conn = outbox.connect(tmp_path / "web.sqlite3")
    yield conn
    conn.close()


def test_the_schema_can_be_ensured_again_and_again(db):
    cc.ensure_schema(db)
    cc.ensure_schema(db)
    tables = {r["name"] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"care_contacts", "notifications", "deliveries", "acknowledgements"} <= tables


def test_contacts_are_checked_and_listed_in_tier_order(db):
    with pytest.raises(cc.CareCircleError):
        cc.add_contact(db, "ann", "X", "x@example.com", levels=["info"])
    with pytest.raises(cc.CareCircleError):
        cc.add_contact(db, "ann", "X", "x@example.com", quiet_start="22:00")
    doctor = cc.add_contact(db, "ann", "Dr", "json://h/d", tier=2)
    cc.add_contact(db, "ann", "Carol", "c@example.com", levels=["critical"])
    cc.add_contact(db, "bob", "Son", "s@example.com")
    assert [c.name for c in cc.contacts(db, "ann")] == ["Carol", "Dr"]
    assert cc.contacts(db, "ann")[0].levels == frozenset({"critical"})
    assert not cc.remove_contact(db, doctor, "bob")  # only from its own patient's circle
    assert cc.remove_contact(db, doctor, "ann")


def test_an_alert_is_stored_once_and_its_episode_notifies_once(db):
    carol = cc.add_contact(db, "ann", "Carol", "c@example.com", notify_clear=True)
    alert_id, new = outbox.record(db, ALERT, 100.0)
    assert new and [d["contact_id"] for d in cc.deliveries(db, alert_id)] == [carol]
    assert outbox.record(db, ALERT, 101.0) == (alert_id, False)  # a redelivery
    again = {**ALERT, "ts_ms": ALERT["ts_ms"] + 30_000}  # a restarted recorder raising it again
    again_id, _ = outbox.record(db, again, 130.0)
    assert cc.deliveries(db, again_id) == []
    cleared = {**ALERT, "level": "cleared", "ts_ms": ALERT["ts_ms"] + 60_000}
    cleared_id, _ = outbox.record(db, cleared, 160.0)
    assert [d["contact_id"] for d in cc.deliveries(db, cleared_id)] == [carol]
    assert cc.notification(db, alert_id)["closed_at"] is not None


def test_acknowledging_cancels_what_has_not_gone_and_happens_once(db):
    cc.add_contact(db, "ann", "Carol", "c@example.com")
    alert_id, _ = outbox.record(db, ALERT, 100.0)
    assert cc.ack(db, alert_id, "carol", now=110.0)
    assert not cc.ack(db, alert_id, "dr")
    assert [d["status"] for d in cc.deliveries(db, alert_id)] == ["cancelled"]
    assert cc.notification(db, alert_id)["acked_by"] == "carol"
    assert [r["by_user"] for r in cc.unannounced_acks(db)] == ["carol"]


def test_escalation_queues_the_next_tier_and_repeats_once_each(db):
    cc.add_contact(db, "ann", "Carol", "c@example.com", tier=1)
    cc.add_contact(db, "ann", "Dr", "json://h/d", tier=2)
    settings = Settings(escalate_warning=10, repeat_interval=30)
    alert_id, _ = outbox.record(db, ALERT, 100.0)
    assert outbox.escalate(db, settings, 105.0) == 0
    assert outbox.escalate(db, settings, 110.0) == 1
    assert outbox.escalate(db, settings, 111.0) == 0  # idempotent
    cc.mark_sent(db, [d["id"] for d in cc.deliveries(db, alert_id)], 111.0)
    assert outbox.escalate(db, settings, 131.0) == 1  # Carol's first repeat
    rounds = sorted((d["contact"], d["round"]) for d in cc.deliveries(db, alert_id))
    assert rounds == [("Carol", 0), ("Carol", 1), ("Dr", 0)]
    cc.ack(db, alert_id, "dr")
    assert outbox.escalate(db, settings, 1000.0) == 0


def test_a_message_never_mixes_patients(db):
    cc.add_contact(db, "ann", "Carol", "json://h/c")
    cc.add_contact(db, "bob", "Son", "json://h/s")
    outbox.record(db, ALERT, 100.0)
    outbox.record(db, {**ALERT, "patient": "bob", "device": "wch-02"}, 100.0)
    messages, held = outbox.due_messages(db, Settings(digest_window=0), 101.0, set())
    assert held == []
    assert sorted((m.contact.name, {r["patient"] for r in m.deliveries}) for m in messages) == [
        ("Carol", {"ann"}),
        ("Son", {"bob"}),
    ]
