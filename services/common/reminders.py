"""Dose reminders: the dose tracker says a dose is due, the notifier tells who chose to hear.

The tracker publishes one reminder per dose when its on-time window opens, on
``Topics.reminder(patient)``. The notifier turns it into a message to each of the
patient's contacts that chose reminders, with no more than each chose: that a dose
is due (``dose``), or also the medicine's name (``named``). A reminder is not an
alert: nobody acknowledges it, it never escalates, and one that could only arrive
after the dose's window closed (quiet hours) is not sent at all.
"""

import json
from collections.abc import Mapping

KIND = LEVEL = "reminder"
NONE, DOSE, NAMED = "", "dose", "named"
CHOICES = {
    NONE: "no dose reminders",
    DOSE: "that a dose is due",
    NAMED: "that a dose is due, with the medicine's name",
}
MAX_NAME = 120
EXPIRED = "expired"  # a delivery's status: it could only have arrived too late

# Tables of their own rather than new columns, so the notifier (which creates the care
# circle's tables when it starts first) and the web's migration 6 can both create them.
SCHEMA = """
CREATE TABLE IF NOT EXISTS contact_reminders (
    contact_id INTEGER PRIMARY KEY REFERENCES care_contacts(id) ON DELETE CASCADE,
    choice TEXT NOT NULL CHECK (choice IN ('dose', 'named'))
);
CREATE TABLE IF NOT EXISTS notification_expiry (
    alert_id TEXT PRIMARY KEY REFERENCES notifications(alert_id) ON DELETE CASCADE,
    expires_at REAL NOT NULL
)
"""


class BadReminder(ValueError):
    """A reminder payload without what every reminder has."""


def check_choice(value: str | None) -> str:
    """A contact's reminder choice: ``""``, ``dose`` or ``named``."""
    value = (value or "").strip()
    if value not in CHOICES:
        raise ValueError(f"reminders must be one of {', '.join(repr(c) for c in CHOICES)}")
    return value


def set_choice(conn, contact_id: int, choice: str) -> None:
    """What one contact hears of doses: nothing (``""``), ``dose`` or ``named``."""
    choice = check_choice(choice)
    if choice:
        conn.execute(
            "INSERT INTO contact_reminders (contact_id, choice) VALUES (?, ?)"
            " ON CONFLICT(contact_id) DO UPDATE SET choice = excluded.choice",
            (contact_id, choice),
        )
    else:
        conn.execute("DELETE FROM contact_reminders WHERE contact_id = ?", (contact_id,))


def set_expiry(conn, alert_id: str, expires_at: float) -> None:
    """After ``expires_at`` (Unix seconds) the notification's unsent messages are dropped."""
    conn.execute(
        "INSERT INTO notification_expiry (alert_id, expires_at) VALUES (?, ?)"
        " ON CONFLICT DO NOTHING",
        (alert_id, expires_at),
    )


def expire(conn, delivery_id: int) -> None:
    """A message that could only arrive after its dose's window closed: not sent."""
    conn.execute(
        "UPDATE deliveries SET status = ?, last_error = ? WHERE id = ?",
        (EXPIRED, "the dose's window closed before it could go", delivery_id),
    )


def payload(
    patient: str,
    device: str,
    medication_id: int,
    medication: str,
    due_ms: int,
    closes_ms: int,
) -> str:
    """The tracker's message: which dose of which medicine, due when, worth telling until when."""
    return json.dumps(
        {
            "patient": patient,
            "device": device,
            "kind": KIND,
            "key": f"dose-{medication_id}-{due_ms // 1000}",
            "level": LEVEL,
            "medication": medication,
            "ts_ms": due_ms,
            "closes_ms": closes_ms,
        }
    )


def parse(raw: bytes | str, patient: str) -> dict:
    """A reminder as the notifier stores it (an alert's fields); BadReminder if malformed."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadReminder(f"not JSON: {exc}") from exc
    if not isinstance(body, Mapping) or body.get("patient") != patient:
        raise BadReminder("a reminder names the patient of its topic")
    name = body.get("medication")
    if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME:
        raise BadReminder("medication must be its name")
    times = [body.get(k) for k in ("ts_ms", "closes_ms")]
    if not all(isinstance(t, int) and not isinstance(t, bool) for t in times) or (
        times[1] <= times[0]
    ):
        raise BadReminder("ts_ms and closes_ms must be whole milliseconds, closing after it is due")
    key, device = body.get("key"), body.get("device")
    if not isinstance(key, str) or not key or not isinstance(device, str) or not device:
        raise BadReminder("a reminder needs its key and device")
    return {
        "patient": patient,
        "device": device,
        "kind": KIND,
        "key": key,
        "level": LEVEL,
        "message": name,
        "ts_ms": times[0],
        "expires_at": times[1] / 1000,
    }
