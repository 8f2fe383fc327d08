"""Readings outside their usual range that nobody has acknowledged yet, per patient.

The newest out-of-range reading of each card stays on the patient's pages, even after
an in-range one replaced it, until the patient or someone they share with says they
have seen it. An acknowledgement covers every reading of that card up to the time it
names, so a later out-of-range reading shows again. Alerts are acknowledged the same
way: an alert's key is its card's (``bp_systolic`` -> ``bp``) or its own (the partial
early-warning score's).
"""

import time
from datetime import UTC, datetime, timedelta

from services.common.database import Connection
from services.common.metrics import GROUPS, Group

from . import verdicts
from .errors import ValidationError

# How far back an unacknowledged reading is still shown; older ones have had their day.
SHOWN_DAYS = 30
# Blood pressure's two numbers arrive as two readings a few milliseconds apart.
PAIR_MS = 5000

MIGRATION = """
CREATE TABLE reading_acks (
    patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    through_ms INTEGER NOT NULL,
    acked_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    acked_at INTEGER NOT NULL,
    PRIMARY KEY (patient_id, key)
)
"""
# What may be acknowledged: a card, or the partial early-warning score's alert.
KEYS = (*(g.key for g in GROUPS), "news2_partial")


def acknowledged(conn: Connection, patient_id: int) -> dict[str, int]:
    """Per key, the time (ms) up to which this patient's readings were acknowledged."""
    rows = conn.execute(
        "SELECT key, through_ms FROM reading_acks WHERE patient_id = ?", (patient_id,)
    )
    return {r["key"]: r["through_ms"] for r in rows}


def acknowledge(conn: Connection, patient_id: int, key: str, through_ms: int, by_id: int) -> str:
    """Mark ``key``'s readings up to ``through_ms`` as seen; returns the card's key."""
    key = verdicts.group_of(key)
    if key not in KEYS:
        raise ValidationError(f"Nothing called {key!r} can be acknowledged.")
    now = int(time.time())
    # A time from the future would hide readings not taken yet.
    through_ms = min(int(through_ms), now * 1000)
    conn.execute(
        "INSERT INTO reading_acks (patient_id, key, through_ms, acked_by, acked_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT(patient_id, key) DO UPDATE SET"
        " through_ms = CASE WHEN excluded.through_ms > reading_acks.through_ms"
        " THEN excluded.through_ms ELSE reading_acks.through_ms END, acked_by = excluded.acked_by,"
        " acked_at = excluded.acked_at",
        (patient_id, key, through_ms, by_id, now),
    )
    return key


def parse_through(text: object) -> int:
    try:
        return int(str(text))
    except ValueError:
        raise ValidationError("through is the reading's time in milliseconds.") from None


def _newest_outside(health, patient: str, group, since: datetime) -> dict | None:
    """The group's newest out-of-range reading, blood pressure's with its partner."""
    found = []
    for m in group.metrics:
        hit = health.latest_outside(patient, m.key, m.low, m.high, since)
        if hit:
            found.append((hit["ts"], m.key, hit["value"]))
    if not found:
        return None
    ts, key, value = max(found)
    values = {key: value}
    for m in group.metrics:
        if m.key not in values:
            partner = health.near(patient, m.key, ts, PAIR_MS)
            values[m.key] = partner["value"] if partner else None
    return {"ts": ts, "values": [values[m.key] for m in group.metrics]}


def pending(health, conn: Connection, patient, temperature_unit: str = "°C", now=None) -> list:
    """Each card's newest out-of-range reading not acknowledged yet, as the pages show it."""
    since = (now or datetime.now(UTC)) - timedelta(days=SHOWN_DAYS)
    seen = acknowledged(conn, patient.id)
    out = []
    for group in GROUPS:
        hit = _newest_outside(health, patient.username, group, since)
        if hit is None or hit["ts"] <= seen.get(group.key, 0):
            continue
        out.append(item(group.in_unit(temperature_unit), hit["ts"], hit["values"]))
    return out


def item(group: Group, ts: int, stored: list[float | None]) -> dict:
    """One unacknowledged reading: its card, time, value in words and what it means."""
    values = [None if v is None else m.shown(v) for m, v in zip(group.metrics, stored, strict=True)]
    key = group.key
    verdict = verdicts.of_group(group, values)
    shown = "/".join(
        m.format(v) for m, v in zip(group.metrics, values, strict=True) if v is not None
    )
    return {
        "key": key,
        "ts": ts,
        "title": group.title,
        "value": shown,
        "unit": group.unit,
        "verdict": verdict.as_json(),
        "text": f"{group.title} {shown} {group.unit}: {verdict.summary}",
    }
