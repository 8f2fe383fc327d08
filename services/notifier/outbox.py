"""The outbox: arrived alerts become deliveries, due deliveries become messages.

Every step is one SQLite transaction in the web's database, so what the notifier
decided survives a crash: an alert is stored (with its first deliveries) before the
broker is told it arrived, and a delivery is marked sent only after its channel
took it.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from services.common import carecircle as cc
from services.common import reminders
from services.common.alerts import EVENT_KINDS
from services.common.database import SQLITE, Connection, Database, Row

from . import rules
from .settings import Settings

REQUIRED = ("device", "kind", "key", "level", "ts_ms")
ADMIN_KINDS = frozenset({"service", "security"})  # what the deployment's admins hear
# EVENT_KINDS (services/common/alerts.py) are events, not conditions: each one is news (a
# second hijack a week later too), and none is ever cleared. Redeliveries keep their id.


class BadAlert(ValueError):
    """An alert payload without the fields every alert has."""


@dataclass(frozen=True)
class Message:
    """One message to one contact: the deliveries it carries and its text."""

    contact: cc.Contact
    deliveries: tuple[Row, ...]
    title: str
    body: str

    @property
    def ids(self) -> list[int]:
        return [row["id"] for row in self.deliveries]


def connect(target: Database | Path | str) -> Connection:
    """Open the web's database (its care-circle tables made here if the web has not yet)."""
    conn = Database.of(target).connect(threads=True)
    if conn.dialect == SQLITE:
        conn.raw.execute("PRAGMA journal_mode = WAL")
    cc.ensure_schema(conn)
    return conn


def open_conditions(conn: Connection, key: str) -> list[str]:
    """The devices (or services) with an open condition of ``key``."""
    rows = conn.execute("SELECT device FROM alert_conditions WHERE key = ?", (key,))
    return [row["device"] for row in rows]


def circle(conn: Connection, patient: str | None, kind: str) -> list[cc.Contact]:
    """Who may hear about an alert: the patient's circle; service alerts: the admins'.

    Security alerts (a device id claimed by another connection, repeated failed
    sign-ins) go to the patient's circle, if there is a patient, and to the admins.
    """
    mine = cc.contacts(conn, patient) if patient else []
    if kind in ADMIN_KINDS:
        return mine + cc.contacts(conn, None)
    return mine


def tiers(contacts: list[cc.Contact], level: str) -> list[list[cc.Contact]]:
    """Contacts wanting ``level``, grouped by tier, first tier first."""
    grouped: dict[int, list[cc.Contact]] = defaultdict(list)
    for contact in contacts:
        if level in contact.levels:
            grouped[contact.tier].append(contact)
    return [grouped[tier] for tier in sorted(grouped)]


def validate(alert: object) -> dict:
    if not isinstance(alert, dict) or any(alert.get(k) in (None, "") for k in REQUIRED):
        raise BadAlert(f"an alert needs {', '.join(REQUIRED)}")
    if not isinstance(alert["ts_ms"], int) or not isinstance(alert["level"], str):
        raise BadAlert("ts_ms must be a whole number and level a string")
    return alert


def record(conn: Connection, alert: dict, now: float) -> tuple[str, bool]:
    """Store one alert and queue its first messages; (alert id, whether it was new)."""
    validate(alert)
    alert_id = rules.alert_id(alert)
    with conn.transaction():
        if not cc.insert_notification(conn, alert_id, alert, now):
            return alert_id, False  # a redelivery: everything was decided the first time
        device, key, level = alert["device"], alert["key"], alert["level"]
        if level in cc.LEVELS and alert["kind"] in EVENT_KINDS:
            # news on its own: escalates until acknowledged, opens no condition
            conn.execute("UPDATE notifications SET starts = 1 WHERE alert_id = ?", (alert_id,))
            _queue_first(conn, alert, alert_id, now)
        elif level in cc.LEVELS:
            previous = cc.condition(conn, device, key)
            if previous is not None and previous["level"] == level:
                return alert_id, True  # the same episode again: nothing to tell
            cc.open_condition(conn, device, key, level, alert_id)
            _queue_first(conn, alert, alert_id, now)
        elif level == "cleared":
            opened = cc.clear_condition(conn, device, key, alert_id)
            if opened is not None:
                for contact_id in sorted(cc.reached_contacts(conn, opened)):
                    contact = cc.contact(conn, contact_id)
                    if contact is not None and contact.notify_clear:
                        cc.add_delivery(conn, alert_id, contact.id, 0, now)
    return alert_id, True


def record_reminder(conn: Connection, reminder: dict, now: float) -> tuple[str, bool]:
    """Store one dose reminder (``reminders.parse``) and queue it to each contact who chose it.

    Not an alert: no tier or level applies, nothing escalates, and it expires when the
    dose's window closes.
    """
    alert_id = rules.alert_id(reminder)
    with conn.transaction():
        if not cc.insert_notification(conn, alert_id, reminder, now):
            return alert_id, False
        reminders.set_expiry(conn, alert_id, reminder["expires_at"])
        for contact in cc.contacts(conn, reminder["patient"]):
            if contact.reminders:
                cc.add_delivery(conn, alert_id, contact.id, 0, now)
    return alert_id, True


def _queue_first(conn: Connection, alert: dict, alert_id: str, now: float) -> None:
    """Round 0 to the first tier that wants the alert's level."""
    first = tiers(circle(conn, alert.get("patient"), alert["kind"]), alert["level"])[:1]
    for contact in first[0] if first else []:
        cc.add_delivery(conn, alert_id, contact.id, 0, now)


def escalate(conn: Connection, settings: Settings, now: float) -> int:
    """Queue the next tier and the repeats of unacknowledged alerts; returns how many."""
    queued = 0
    with conn.transaction():
        for note in cc.open_notifications(conn):
            groups = tiers(circle(conn, note["patient"], note["kind"]), note["level"])
            due = rules.due_rounds(
                note["received_at"],
                now,
                len(groups),
                settings.escalate_after(note["level"]),
                settings.repeat_interval,
            )
            for tier, round_ in due:
                for contact in groups[tier]:
                    if round_ and cc.has_unsent(conn, note["alert_id"], contact.id):
                        continue  # the last one has not gone yet: no pile of repeats
                    queued += cc.add_delivery(conn, note["alert_id"], contact.id, round_, now)
    return queued


def due_messages(
    conn: Connection, settings: Settings, now: float, sending: set[int]
) -> tuple[list[Message], list[tuple[Row, float]]]:
    """Messages to send now, one per contact, and the deliveries held back (with until when).

    Contacts in ``sending`` have a message under way: theirs wait for its outcome, so a
    contact gets one message at a time and the digest window counts from the last one.
    """
    by_contact: dict[int, list[Row]] = defaultdict(list)
    for row in cc.due_deliveries(conn, now):
        if row["contact_id"] not in sending:
            by_contact[row["contact_id"]].append(row)
    messages: list[Message] = []
    held: list[tuple[Row, float]] = []
    if not by_contact:
        return messages, held
    with conn.transaction():
        for contact_id, rows in by_contact.items():
            contact = cc.contact(conn, contact_id)
            if contact is None:
                continue
            rows, later = _hold_back(conn, contact, rows, settings, now)
            held += later
            # an admin hears of several patients: one message is still about one of them,
            # the others' alerts go in the next
            rows = [row for row in rows if rows and row["patient"] == rows[0]["patient"]]
            if rows:
                messages.append(_message(conn, contact, rows, settings))
    return messages, held


def _hold_back(
    conn: Connection,
    contact: cc.Contact,
    rows: list[Row],
    settings: Settings,
    now: float,
) -> tuple[list[Row], list[tuple[Row, float]]]:
    """Apply quiet hours, then the digest window; returns what goes now and what waits."""
    moment = datetime.fromtimestamp(now, tz=UTC)
    quiet_end = rules.quiet_until(contact.quiet_start, contact.quiet_end, contact.timezone, moment)
    held: list[tuple[Row, float]] = []
    going = []
    for row in rows:
        until = rules.held_until(row["level"], quiet_end)
        sends_at = now if until is None else until.timestamp()
        if row["expires_at"] is not None and sends_at >= row["expires_at"]:
            reminders.expire(conn, row["id"])  # it would come too late to be of use
        elif until is None:
            going.append(row)
        else:
            held.append((row, until.timestamp()))
    # what is due at a time (a critical alert, a test, a dose reminder) never waits
    urgent = any(row["level"] in rules.NEVER_WAIT or row["kind"] == "test" for row in going)
    until = rules.digest_hold(
        cc.last_sent_at(conn, contact.id), now, settings.digest_window, urgent
    )
    if until is not None:
        held += [(row, until) for row in going]
        going = []
    for row, until in held:
        if row["status"] != cc.HELD or row["next_try"] != until:
            cc.hold(conn, [row["id"]], until)
    return going, held


def _message(conn: Connection, contact: cc.Contact, rows: list[Row], settings: Settings) -> Message:
    title, body = rules.compose(
        cc.patient_name(conn, rows[0]["patient"] or contact.patient),
        [dict(row) for row in rows],
        detailed=contact.detailed,
        base_url=settings.base_url,
        timezone=contact.timezone,
        named=contact.reminders == reminders.NAMED,
    )
    return Message(contact, tuple(rows), title, body)


def finish(
    conn: Connection, message: Message, error: str | None, settings: Settings, now: float
) -> list[tuple[Row, str, float | None]]:
    """Record how a send went; returns (delivery, outcome, next try) for each delivery."""
    outcomes = []
    with conn.transaction():
        if error is None:
            cc.mark_sent(conn, message.ids, now)
            return [(row, cc.SENT, None) for row in message.deliveries]
        for row in message.deliveries:
            attempts = row["attempts"] + 1
            if attempts >= settings.max_attempts:
                next_try = None
            else:
                next_try = now + rules.backoff(attempts, settings.retry_base, settings.retry_max)
            cc.mark_failed(conn, row["id"], error, next_try)
            outcomes.append((row, cc.RETRYING if next_try else cc.GIVEN_UP, next_try))
    return outcomes
