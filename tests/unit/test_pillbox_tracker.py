"""The dose tracker's decisions on a clock the test sets: outbox, restarts, daylight saving.

The tracker runs on the app database (a file, the web's own migrations); what it would
publish is collected instead, with the broker's acknowledgement (PUBACK) in the test's
hands.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest

from services.common.medication import doses, store
from services.common.timeutil import rfc3339_ms
from services.pillbox.settings import Settings
from services.pillbox.tracker import Tracker, connect
from services.web import accounts, devices
from services.web import db as schema

CAB = "cab01"
ALERTS = f"smartcab/alerts/devices/{CAB}"


class Broker:
    """Collects publishes; ``acks`` says whether the broker acknowledges them."""

    def __init__(self, acks: bool = True):
        self.acks = acks
        self.sent: list[tuple[str, str]] = []

    def publish(self, topic: str, payload: str):
        self.sent.append((topic, payload))
        return self

    def is_published(self) -> bool:
        return self.acks

    def on(self, topic: str) -> list[str]:
        return [payload for t, payload in self.sent if t == topic]


@pytest.fixture
def home(tmp_path):
    """(settings, connection, patient): Ann in Paris with one cabinet."""
    data = tmp_path / "data"
    schema.migrate(data / "web.sqlite3")
    settings = Settings.from_env({"SMARTCAB_DATA_DIR": str(data), "REPORT_TIMEZONE": "UTC"})
    conn = connect(settings.database)
    patient, _ = accounts.create_patient(conn, "ann@example.org", "ann", "correct horse battery 7")
    devices.assign(conn, CAB, patient.id)
    store.set_timezone(conn, patient.id, "Europe/Paris", None, "test")
    yield settings, conn, patient
    conn.close()


def _add(conn, patient, times: str, listed: datetime, window_min: str = "30"):
    form = {"name": "Aspirin 75 mg", "item": "Aspirin", "times": times, "window": window_min}
    med = store.add(conn, patient.id, store.clean(form), None, "test")
    # listed on the test's first day: doses due before it were never asked for
    conn.execute("UPDATE medications SET created_at = ?", (int(listed.timestamp()),))
    return store.get(conn, patient.id, med.id)


def _inventory(tracker: Tracker, count: int, at: datetime) -> None:
    body = {"items": {"Oats": 1, "Aspirin": count}, "ts": rfc3339_ms(int(at.timestamp() * 1000))}
    tracker.on_inventory(CAB, json.dumps(body).encode(), at)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_a_missed_dose_alert_the_broker_never_had_is_sent_after_a_restart(home):
    settings, conn, patient = home
    due = utc(2026, 6, 1, 6, 0)  # 08:00 in Paris, summer time
    med = _add(conn, patient, "08:00", due - timedelta(hours=6))
    away = Broker(acks=False)  # published into a client that died before the broker had it
    first = Tracker(settings, conn, away.publish)
    first.tick(due + timedelta(hours=1, minutes=1))
    [sent] = away.on(ALERTS)
    assert doses.get(conn, med.id, int(due.timestamp())).status == "missed"
    assert first.outbox.owed() == [f"missed-{med.id}-{int(due.timestamp())}"]

    broker = Broker()
    restarted = Tracker(settings, conn, broker.publish)
    restarted.tick(due + timedelta(hours=1, minutes=2))
    assert broker.on(ALERTS) == [sent]  # the same bytes: the notifier's id is the same
    assert restarted.outbox.owed() == []
    restarted.tick(due + timedelta(hours=1, minutes=3))
    assert broker.on(ALERTS) == [sent]  # decided once, sent once
    body = json.loads(sent)
    assert body["kind"] == "medication" and body["patient"] == "ann"
    assert body["key"] == f"dose-{med.id}-{int(due.timestamp())}"
    assert body["ts_ms"] == int((due + timedelta(hours=1)).timestamp() * 1000)  # it closed

    # the next day's missed dose is a condition of its own: the notifier tells it again
    restarted.tick(due + timedelta(days=1, hours=1, minutes=1))
    [_, second] = broker.on(ALERTS)
    assert json.loads(second)["key"] == f"dose-{med.id}-{int(due.timestamp()) + 86400}"


def test_a_restart_mid_window_neither_loses_nor_doubles_a_dose(home):
    settings, conn, patient = home
    due = utc(2026, 6, 1, 6, 0)
    med = _add(conn, patient, "08:00", due - timedelta(hours=6))
    broker = Broker()
    tracker = Tracker(settings, conn, broker.publish)
    _inventory(tracker, 2, due - timedelta(hours=3))
    tracker.tick(due - timedelta(minutes=29))  # the cue is on, nothing taken
    _inventory(tracker, 1, due - timedelta(minutes=5))
    restarted = Tracker(settings, conn, broker.publish)
    # the broker gives the restarted tracker the retained inventory again: not a second dose
    _inventory(restarted, 1, due - timedelta(minutes=5))
    restarted.tick(due + timedelta(hours=2))
    dose = doses.get(conn, med.id, int(due.timestamp()))
    assert (dose.status, dose.timing, dose.removals) == ("taken", "on_time", 1)
    assert broker.on(ALERTS) == []
    assert broker.on(f"smartcab/devices/{CAB}/cmd") == ["lon", "lof"]
    # the patient's reminder went once, when the on-time window opened, restart or not
    [reminder] = [json.loads(p) for p in broker.on("smartcab/reminders/ann")]
    assert reminder["medication"] == "Aspirin 75 mg" and reminder["device"] == CAB
    assert reminder["ts_ms"] == int(due.timestamp() * 1000)
    assert reminder["closes_ms"] == int((due + timedelta(hours=1)).timestamp() * 1000)


def test_doses_across_the_spring_and_autumn_clock_changes(home):
    settings, conn, patient = home
    med = _add(conn, patient, "02:30", utc(2026, 3, 27, 12, 0))
    broker = Broker()
    tracker = Tracker(settings, conn, broker.publish)
    _inventory(tracker, 3, utc(2026, 3, 28, 0, 0))
    # Paris, 29 March 2026: 02:00 CET jumps to 03:00 CEST, so 02:30 never happens that
    # night; the dose is taken at the old offset, 03:30 CEST = 01:30 UTC
    spring = utc(2026, 3, 29, 1, 30)
    tracker.tick(spring - timedelta(minutes=20))
    assert broker.on(f"smartcab/devices/{CAB}/cmd") == ["lon"]
    _inventory(tracker, 2, spring + timedelta(minutes=10))
    taken = doses.get(conn, med.id, int(spring.timestamp()))
    assert (taken.status, taken.timing) == ("taken", "on_time")
    # the day before (CET) was due at 01:30 UTC, the day after (CEST) at 00:30 UTC
    tracker.tick(utc(2026, 3, 30, 2, 0))
    missed = [json.loads(p) for p in broker.on(ALERTS)]
    assert [m["key"] for m in missed] == [
        f"dose-{med.id}-{int(utc(2026, 3, 28, 1, 30).timestamp())}",
        f"dose-{med.id}-{int(utc(2026, 3, 30, 0, 30).timestamp())}",
    ]
    assert all("due 02:30 (Europe/Paris)" in m["message"] for m in missed)
    # 25 October: 03:00 CEST falls back to 02:00 CET, so 02:30 happens twice: the first
    autumn = utc(2026, 10, 25, 0, 30)
    _inventory(tracker, 3, utc(2026, 10, 24, 12, 0))
    _inventory(tracker, 2, autumn + timedelta(minutes=5))
    assert doses.get(conn, med.id, int(autumn.timestamp())).timing == "on_time"
    # the second 02:35 is an hour later, after that dose's window: no dose of its own
    _inventory(tracker, 1, autumn + timedelta(hours=1, minutes=5))
    day = doses.between(
        conn, [med.id], int(autumn.timestamp()) - 7200, int(autumn.timestamp()) + 7200
    )
    assert [(d.due_at, d.removals) for d in day] == [(int(autumn.timestamp()), 1)]


def test_a_removal_outside_every_window_is_not_a_dose(home):
    settings, conn, patient = home
    med = _add(conn, patient, "08:00,20:00", utc(2026, 6, 1, 0, 0))
    broker = Broker()
    tracker = Tracker(settings, conn, broker.publish)
    _inventory(tracker, 2, utc(2026, 6, 1, 9, 0))
    _inventory(tracker, 1, utc(2026, 6, 1, 12, 0))  # 14:00 in Paris: between the doses
    assert doses.between(conn, [med.id], 0, 2**31) == []
    assert store.get(conn, patient.id, med.id).stock is None and broker.sent == []
