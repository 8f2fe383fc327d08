"""The care circle and the notification outbox: tables and SQL, shared by the notifier and web.

Both live in the web's SQLite database. A patient's circle is a list of contacts, each
with a channel (an email address or an Apprise URL), the alert levels they want, quiet
hours in their own time zone, a tier (who is told first) and their dose reminders. Every
alert that arrives becomes one ``notifications`` row (keyed by its alert id, so a
redelivered alert is the same row) and one ``deliveries`` row per contact and round
(round 0 is the first message, later rounds the repeats until someone acknowledges).
The unique keys make a restart or a redelivery send nothing twice. Times are Unix seconds.
"""

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from services.common.database import Connection, MissingTable, Row

from . import reminders as dose_reminders

PENDING = "pending"  # due, not sent yet
HELD = "held"  # waiting for the contact's quiet hours or the digest window to end
RETRYING = "retrying"  # a send failed; tried again at next_try
SENT = "sent"
GIVEN_UP = "given_up"  # failed too often; the last error says why
CANCELLED = "cancelled"  # acknowledged before it went out
UNSENT = (PENDING, HELD, RETRYING)

LEVELS = ("warning", "critical")

SCHEMA = """
CREATE TABLE IF NOT EXISTS care_contacts (
    id INTEGER PRIMARY KEY,
    patient TEXT,
    name TEXT NOT NULL,
    channel TEXT NOT NULL,
    levels TEXT NOT NULL DEFAULT 'warning,critical',
    quiet_start TEXT,
    quiet_end TEXT,
    timezone TEXT NOT NULL DEFAULT 'UTC',
    tier INTEGER NOT NULL DEFAULT 1,
    position INTEGER NOT NULL DEFAULT 0,
    detailed INTEGER NOT NULL DEFAULT 0,
    notify_clear INTEGER NOT NULL DEFAULT 0,
    user_id INTEGER,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS care_contacts_patient ON care_contacts(patient, tier, position);
CREATE TABLE IF NOT EXISTS notifications (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL UNIQUE,
    patient TEXT,
    device TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    level TEXT NOT NULL,
    value REAL,
    message TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    received_at REAL NOT NULL,
    starts INTEGER NOT NULL DEFAULT 0,
    opened_by TEXT,
    closed_at REAL,
    acked_at REAL,
    acked_by TEXT
);
CREATE INDEX IF NOT EXISTS notifications_open ON notifications(starts, acked_at, closed_at);
CREATE INDEX IF NOT EXISTS notifications_patient ON notifications(patient, received_at);
CREATE TABLE IF NOT EXISTS alert_conditions (
    device TEXT NOT NULL,
    key TEXT NOT NULL,
    level TEXT NOT NULL,
    alert_id TEXT NOT NULL,
    PRIMARY KEY (device, key)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES notifications(alert_id) ON DELETE CASCADE,
    contact_id INTEGER NOT NULL REFERENCES care_contacts(id) ON DELETE CASCADE,
    round INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_try REAL NOT NULL,
    last_error TEXT,
    created_at REAL NOT NULL,
    sent_at REAL,
    UNIQUE (alert_id, contact_id, round)
);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries(status, next_try);
CREATE TABLE IF NOT EXISTS acknowledgements (
    id INTEGER PRIMARY KEY,
    alert_id TEXT NOT NULL REFERENCES notifications(alert_id) ON DELETE CASCADE,
    by_user TEXT NOT NULL,
    at REAL NOT NULL,
    announced INTEGER NOT NULL DEFAULT 0
);
"""


class CareCircleError(ValueError):
    """A contact or an acknowledgement the care circle cannot take."""


@dataclass(frozen=True)
class Contact:
    """One person (or channel) in a patient's circle; patient None: the deployment's admins."""

    id: int
    patient: str | None
    name: str
    channel: str
    levels: frozenset[str]
    quiet_start: str | None
    quiet_end: str | None
    timezone: str
    tier: int
    position: int
    detailed: bool
    notify_clear: bool
    reminders: str = ""  # dose reminders: "", "dose" or "named" (services/common/reminders.py)

    @classmethod
    def from_row(cls, row: Row) -> "Contact":
        return cls(
            id=row["id"],
            patient=row["patient"],
            name=row["name"],
            channel=row["channel"],
            levels=frozenset(x for x in row["levels"].split(",") if x),
            quiet_start=row["quiet_start"],
            quiet_end=row["quiet_end"],
            timezone=row["timezone"],
            tier=row["tier"],
            position=row["position"],
            detailed=bool(row["detailed"]),
            notify_clear=bool(row["notify_clear"]),
            reminders=row["reminders"] or "",
        )


def ensure_schema(conn: Connection) -> None:
    """Create the care-circle tables if missing; safe to call on every start."""
    conn.script(SCHEMA + ";" + dose_reminders.SCHEMA)


def _row_dicts(rows: Iterable[Row]) -> list[dict]:
    return [dict(row) for row in rows]


# contacts ---------------------------------------------------------------------------


def add_contact(
    conn: Connection,
    patient: str | None,
    name: str,
    channel: str,
    *,
    levels: Iterable[str] = LEVELS,
    quiet_start: str | None = None,
    quiet_end: str | None = None,
    timezone: str = "UTC",
    tier: int = 1,
    position: int = 0,
    detailed: bool = False,
    notify_clear: bool = False,
    user_id: int | None = None,
    reminders: str = "",
) -> int:
    """Add a contact to ``patient``'s circle and return its id."""
    wanted = sorted(set(levels))
    if any(level not in LEVELS for level in wanted) or not (wanted or reminders):
        raise CareCircleError(f"levels must be among {', '.join(LEVELS)}, got {wanted}")
    if reminders not in dose_reminders.CHOICES:
        raise CareCircleError(f"reminders must be one of {', '.join(dose_reminders.CHOICES)}")
    if not name.strip() or not channel.strip():
        raise CareCircleError("a contact needs a name and a channel")
    if (quiet_start is None) != (quiet_end is None):
        raise CareCircleError("quiet hours need both a start and an end")
    contact_id = conn.insert(
        "INSERT INTO care_contacts (patient, name, channel, levels, quiet_start, quiet_end,"
        " timezone, tier, position, detailed, notify_clear, user_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            patient,
            name.strip(),
            channel.strip(),
            ",".join(wanted),
            quiet_start,
            quiet_end,
            timezone,
            tier,
            position,
            int(detailed),
            int(notify_clear),
            user_id,
            time.time(),
        ),
    )
    dose_reminders.set_choice(conn, contact_id, reminders)
    return contact_id


def remove_contact(conn: Connection, contact_id: int, patient: str | None) -> bool:
    """Remove a contact of ``patient``'s circle (its deliveries go with it)."""
    cursor = conn.execute(
        "DELETE FROM care_contacts WHERE id = ? AND patient IS NOT DISTINCT FROM ?",
        (contact_id, patient),
    )
    return cursor.rowcount > 0


def contacts(conn: Connection, patient: str | None) -> list[Contact]:
    """``patient``'s circle in order (tier, then position); None: the admins' circle."""
    rows = conn.execute(
        f"{_CONTACTS} WHERE c.patient IS NOT DISTINCT FROM ? ORDER BY c.tier, c.position, c.id",
        (patient,),
    )
    return [Contact.from_row(row) for row in rows]


def contact(conn: Connection, contact_id: int) -> Contact | None:
    row = conn.execute(f"{_CONTACTS} WHERE c.id = ?", (contact_id,)).fetchone()
    return Contact.from_row(row) if row else None


_CONTACTS = (
    "SELECT c.*, r.choice AS reminders FROM care_contacts c"
    " LEFT JOIN contact_reminders r ON r.contact_id = c.id"
)


def patient_name(conn: Connection, patient: str | None) -> str:
    """The patient's display name from the web's accounts, else the user name itself."""
    if patient is None:
        return "Health Plus"
    try:
        with conn.attempt():
            row = conn.execute("SELECT display_name FROM users WHERE username = ?", (patient,))
            row = row.fetchone()
    except MissingTable:  # the web has not made its tables yet
        row = None
    return row["display_name"] if row and row["display_name"] else patient


# the outbox -------------------------------------------------------------------------


def insert_notification(conn: Connection, alert_id: str, alert: dict, now: float) -> bool:
    """Store an arrived alert once; False when this alert id is already stored."""
    cursor = conn.execute(
        "INSERT INTO notifications (alert_id, patient, device, kind, key, level,"
        " value, message, ts_ms, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (
            alert_id,
            alert.get("patient"),
            alert["device"],
            alert["kind"],
            alert["key"],
            alert["level"],
            alert.get("value"),
            alert.get("message", ""),
            alert["ts_ms"],
            now,
        ),
    )
    return cursor.rowcount > 0


def condition(conn: Connection, device: str, key: str) -> Row | None:
    return conn.execute(
        "SELECT * FROM alert_conditions WHERE device = ? AND key = ?", (device, key)
    ).fetchone()


def open_condition(conn: Connection, device: str, key: str, level: str, alert_id: str):
    """Record that ``alert_id`` starts (or raises) the condition; an older one is closed."""
    previous = condition(conn, device, key)
    if previous is not None:
        close_notification(conn, previous["alert_id"])
    conn.execute(
        "INSERT INTO alert_conditions (device, key, level, alert_id) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (device, key) DO UPDATE SET level = excluded.level,"
        " alert_id = excluded.alert_id",
        (device, key, level, alert_id),
    )
    conn.execute("UPDATE notifications SET starts = 1 WHERE alert_id = ?", (alert_id,))


def clear_condition(conn: Connection, device: str, key: str, alert_id: str) -> str | None:
    """End the condition; returns the alert id that had opened it, if any."""
    previous = condition(conn, device, key)
    if previous is None:
        return None
    conn.execute("DELETE FROM alert_conditions WHERE device = ? AND key = ?", (device, key))
    close_notification(conn, previous["alert_id"])
    conn.execute(
        "UPDATE notifications SET opened_by = ? WHERE alert_id = ?",
        (previous["alert_id"], alert_id),
    )
    return previous["alert_id"]


def close_notification(conn: Connection, alert_id: str) -> None:
    """The condition is over (cleared or superseded): no more escalation for it."""
    conn.execute(
        "UPDATE notifications SET closed_at = ? WHERE alert_id = ? AND closed_at IS NULL",
        (time.time(), alert_id),
    )


def notification(conn: Connection, alert_id: str) -> Row | None:
    return conn.execute("SELECT * FROM notifications WHERE alert_id = ?", (alert_id,)).fetchone()


def add_delivery(conn: Connection, alert_id: str, contact_id: int, round_: int, now: float) -> bool:
    """Queue one message; False when that (alert, contact, round) already exists."""
    cursor = conn.execute(
        "INSERT INTO deliveries (alert_id, contact_id, round, status, next_try,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (alert_id, contact_id, round_, PENDING, now, now),
    )
    return cursor.rowcount > 0


def has_unsent(conn: Connection, alert_id: str, contact_id: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM deliveries WHERE alert_id = ? AND contact_id = ? AND status IN (?, ?, ?)",
        (alert_id, contact_id, *UNSENT),
    ).fetchone()
    return row is not None


def reached_contacts(conn: Connection, alert_id: str) -> set[int]:
    """Contacts that were sent (or are due) a message about ``alert_id``."""
    rows = conn.execute(
        "SELECT DISTINCT contact_id FROM deliveries WHERE alert_id = ? AND status != ?",
        (alert_id, CANCELLED),
    )
    return {row["contact_id"] for row in rows}


def open_notifications(conn: Connection) -> list[Row]:
    """Alerts that started a condition and nobody acknowledged yet: they may escalate."""
    return conn.execute(
        "SELECT * FROM notifications n WHERE starts = 1 AND acked_at IS NULL"
        " AND closed_at IS NULL AND level IN ('warning', 'critical')"
        # an alert nobody in any circle wanted has nobody to escalate to
        " AND EXISTS (SELECT 1 FROM deliveries d WHERE d.alert_id = n.alert_id)"
    ).fetchall()


def due_deliveries(conn: Connection, now: float) -> list[Row]:
    """Unsent deliveries whose time has come, with their alert, oldest first."""
    return conn.execute(
        "SELECT d.id, d.alert_id, d.contact_id, d.round, d.status, d.attempts, d.next_try,"
        " n.patient, n.device, n.kind, n.key, n.level, n.value, n.message, n.ts_ms,"
        " n.opened_by, e.expires_at FROM deliveries d JOIN notifications n"
        " ON n.alert_id = d.alert_id LEFT JOIN notification_expiry e ON e.alert_id = n.alert_id"
        " WHERE d.status IN (?, ?, ?) AND d.next_try <= ? ORDER BY d.next_try, d.id",
        (*UNSENT, now),
    ).fetchall()


def last_sent_at(conn: Connection, contact_id: int) -> float | None:
    row = conn.execute(
        "SELECT MAX(sent_at) AS at FROM deliveries WHERE contact_id = ? AND status = ?",
        (contact_id, SENT),
    ).fetchone()
    return row["at"]


def hold(conn: Connection, delivery_ids: Iterable[int], until: float) -> None:
    """Keep deliveries back until ``until`` (quiet hours, the digest window)."""
    conn.executemany(
        "UPDATE deliveries SET status = ?, next_try = ? WHERE id = ? AND status IN (?, ?, ?)",
        [(HELD, until, i, *UNSENT) for i in delivery_ids],
    )


def mark_sent(conn: Connection, delivery_ids: Iterable[int], now: float) -> None:
    conn.executemany(
        "UPDATE deliveries SET status = ?, attempts = attempts + 1, sent_at = ?, last_error = NULL"
        " WHERE id = ?",
        [(SENT, now, i) for i in delivery_ids],
    )


def mark_failed(conn: Connection, delivery_id: int, error: str, next_try: float | None) -> None:
    """One failed attempt: tried again at ``next_try``, or given up when it is None."""
    if next_try is None:
        conn.execute(
            "UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ?"
            " WHERE id = ?",
            (GIVEN_UP, error, delivery_id),
        )
    else:
        conn.execute(
            "UPDATE deliveries SET status = ?, attempts = attempts + 1, last_error = ?,"
            " next_try = ? WHERE id = ?",
            (RETRYING, error, next_try, delivery_id),
        )


def queue_test(conn: Connection, contact_id: int, now: float | None = None) -> str:
    """Queue a test message to one contact ("send a test"); returns its alert id."""
    found = contact(conn, contact_id)
    if found is None:
        raise CareCircleError(f"no contact {contact_id}")
    now = time.time() if now is None else now
    alert_id = f"test-{uuid.uuid4().hex}"
    test = {
        "device": "-",
        "patient": found.patient,
        "kind": "test",
        "key": "test",
        "level": "test",
        "message": "a test message",
        "ts_ms": int(now * 1000),
    }
    insert_notification(conn, alert_id, test, now)
    add_delivery(conn, alert_id, contact_id, 0, now)
    return alert_id


# acknowledgement and status ---------------------------------------------------------


def ack(conn: Connection, alert_id: str, by_user: str, now: float | None = None) -> bool:
    """Acknowledge an alert: escalation and repeats stop; False if unknown or already acked."""
    now = time.time() if now is None else now
    cursor = conn.execute(
        "UPDATE notifications SET acked_at = ?, acked_by = ?"
        " WHERE alert_id = ? AND acked_at IS NULL",
        (now, by_user, alert_id),
    )
    if cursor.rowcount == 0:
        return False
    conn.execute(
        "INSERT INTO acknowledgements (alert_id, by_user, at) VALUES (?, ?, ?)",
        (alert_id, by_user, now),
    )
    conn.execute(
        "UPDATE deliveries SET status = ? WHERE alert_id = ? AND status IN (?, ?, ?)",
        (CANCELLED, alert_id, *UNSENT),
    )
    return True


def unannounced_acks(conn: Connection) -> list[Row]:
    return conn.execute(
        "SELECT a.id, a.alert_id, a.by_user, a.at, n.patient, n.level FROM acknowledgements a"
        " JOIN notifications n ON n.alert_id = a.alert_id WHERE a.announced = 0 ORDER BY a.id"
    ).fetchall()


def mark_announced(conn: Connection, ack_id: int) -> None:
    conn.execute("UPDATE acknowledgements SET announced = 1 WHERE id = ?", (ack_id,))


def deliveries(conn: Connection, alert_id: str) -> list[dict]:
    """Each message about one alert: to whom, its status, attempts and last error."""
    return _row_dicts(
        conn.execute(
            "SELECT d.id, d.contact_id, c.name AS contact, c.tier, d.round, d.status,"
            " d.attempts, d.next_try, d.last_error, d.sent_at FROM deliveries d"
            " JOIN care_contacts c ON c.id = d.contact_id WHERE d.alert_id = ?"
            " ORDER BY d.id",
            (alert_id,),
        )
    )


def recent_deliveries(conn: Connection, patient: str | None, limit: int = 50) -> list[dict]:
    """The patient's latest messages with their alerts: what the patient's page shows."""
    return _row_dicts(
        conn.execute(
            "SELECT d.id, d.alert_id, n.kind, n.key, n.level, n.received_at, n.acked_at,"
            " n.acked_by, c.name AS contact, d.round, d.status, d.attempts, d.next_try,"
            " d.last_error, d.sent_at FROM deliveries d"
            " JOIN notifications n ON n.alert_id = d.alert_id"
            " JOIN care_contacts c ON c.id = d.contact_id"
            " WHERE n.patient IS NOT DISTINCT FROM ? ORDER BY d.id DESC LIMIT ?",
            (patient, limit),
        )
    )


def notifications_for(conn: Connection, patient: str | None, limit: int = 50) -> list[dict]:
    """The patient's latest alerts, with who acknowledged each and when (no reminders)."""
    return _row_dicts(
        conn.execute(
            "SELECT alert_id, device, kind, key, level, value, message, ts_ms, received_at,"
            " starts, closed_at, acked_at, acked_by FROM notifications"
            " WHERE patient IS NOT DISTINCT FROM ? AND kind != 'reminder'"
            " ORDER BY received_at DESC, id DESC LIMIT ?",
            (patient, limit),
        )
    )
