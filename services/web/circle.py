"""The care circle as the dashboard shows it: contact forms, masked channels, alerts, acks.

The tables and the notifier's queries are ``services.common.carecircle``; this module
adds what only the web needs (editing, the delivery rows of the access log, who
acknowledged an alert in words).
"""

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from services.common import carecircle as cc
from services.common import reminders
from services.common.alerts import alert_text
from services.common.database import Connection

from . import accounts
from .errors import NotFound, ValidationError

URL_RE = re.compile(r"^[a-z][a-z0-9+.-]{1,15}://\S+$")
TIME_RE = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
TIERS = (1, 2, 3)
# What each delivery status means on the patient's pages.
STATUS_TEXT = {
    cc.PENDING: "waiting to be sent",
    cc.HELD: "held (quiet hours or digest)",
    cc.RETRYING: "retrying",
    cc.SENT: "sent",
    cc.GIVEN_UP: "given up",
    cc.CANCELLED: "not needed (acknowledged)",
    reminders.EXPIRED: "not sent: the dose's window had closed",
}
KIND_TEXT = {
    "threshold": "Reading out of range",
    "score": "Raised early-warning score",
    "silent": "Watch silent",
    "service": "Service alert",
    "test": "Test message",
    "reminder": "Dose reminder",
}


def check_channel(channel: str) -> str:
    """An email address or an Apprise URL (``scheme://...``); anything else is refused."""
    channel = (channel or "").strip()
    if "://" in channel:
        if not URL_RE.match(channel):
            raise ValidationError("A channel URL looks like scheme://…, e.g. ntfys://my-topic.")
        return channel
    try:
        return accounts.normalize_email(channel)
    except ValidationError as exc:
        raise ValidationError(
            "Enter an email address or a notification URL (ntfys://…, tgram://…, json://…)."
        ) from exc


def check_levels(levels: list[str], none_ok: bool = False) -> list[str]:
    """The alert levels chosen; none at all only for a contact who wants dose reminders."""
    wanted = [x.strip() for x in levels if x.strip()]
    if (not wanted and not none_ok) or any(x not in cc.LEVELS for x in wanted):
        raise ValidationError("Levels are warning, critical or both.")
    return wanted


def check_reminders(value: str | None) -> str:
    try:
        return reminders.check_choice(value)
    except ValueError as exc:
        raise ValidationError(
            "Dose reminders: none, that a dose is due, or with its name."
        ) from exc


def mask(channel: str) -> str:
    """Enough of a channel to recognise it, not enough to read its address or token."""
    if "://" in channel:
        scheme, _, rest = channel.partition("://")
        return f"{scheme}://{rest[:4]}…" if len(rest) > 4 else f"{scheme}://…"
    local, _, domain = channel.partition("@")
    return f"{local[:1]}…@{domain}"


def contact_fields(form) -> dict:
    """The contact form's fields, checked, as ``carecircle.add_contact`` keywords."""
    quiet_start = (form.get("quiet_start") or "").strip() or None
    quiet_end = (form.get("quiet_end") or "").strip() or None
    for value in (quiet_start, quiet_end):
        if value is not None and not TIME_RE.match(value):
            raise ValidationError("Quiet hours are times like 22:00 and 07:00.")
    if (quiet_start is None) != (quiet_end is None):
        raise ValidationError("Quiet hours need both a start and an end.")
    zone = (form.get("timezone") or "UTC").strip()
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"Unknown time zone {zone!r}; use one like Europe/London.") from exc
    tier = form.get("tier", 1, type=int)
    if tier not in TIERS:
        raise ValidationError("The tier is 1, 2 or 3.")
    position = form.get("position", 0, type=int)
    wants_reminders = check_reminders(form.get("reminders"))
    return {
        "levels": check_levels(form.getlist("levels"), none_ok=bool(wants_reminders)),
        "quiet_start": quiet_start,
        "quiet_end": quiet_end,
        "timezone": zone,
        "tier": tier,
        "position": max(0, position or 0),
        "detailed": bool(form.get("detailed")),
        "notify_clear": bool(form.get("notify_clear")),
        "reminders": wants_reminders,
    }


def add(conn: Connection, patient: str, name: str, channel: str, **fields) -> int:
    """Add a checked contact; the care circle's own refusals become the web's."""
    name = " ".join((name or "").split())
    if not 1 <= len(name) <= 100:
        raise ValidationError("Enter the contact's name.")
    try:
        return cc.add_contact(conn, patient, name, check_channel(channel), **fields)
    except cc.CareCircleError as exc:
        raise ValidationError(str(exc)) from exc


def update(conn: Connection, patient: str, contact_id: int, form) -> None:
    """Change a contact of ``patient``'s circle; an empty channel keeps the old one."""
    found = cc.contact(conn, contact_id)
    if found is None or found.patient != patient:
        raise NotFound("That contact is not in this care circle.")
    fields = contact_fields(form)
    name = " ".join((form.get("name") or "").split()) or found.name
    channel = form.get("channel", "").strip()
    channel = check_channel(channel) if channel else found.channel
    conn.execute(
        "UPDATE care_contacts SET name = ?, channel = ?, levels = ?, quiet_start = ?,"
        " quiet_end = ?, timezone = ?, tier = ?, position = ?, detailed = ?, notify_clear = ?"
        " WHERE id = ? AND patient = ?",
        (
            name,
            channel,
            ",".join(sorted(fields["levels"])),
            fields["quiet_start"],
            fields["quiet_end"],
            fields["timezone"],
            fields["tier"],
            fields["position"],
            int(fields["detailed"]),
            int(fields["notify_clear"]),
            contact_id,
            patient,
        ),
    )
    reminders.set_choice(conn, contact_id, fields["reminders"])


def contact_owner(conn: Connection, contact_id: int) -> int | None:
    """The user id of the account a contact belongs to (a doctor or carer), if any."""
    row = conn.execute("SELECT user_id FROM care_contacts WHERE id = ?", (contact_id,)).fetchone()
    return row["user_id"] if row else None


def circle(conn: Connection, patient: str) -> list[dict]:
    """The circle in order, each contact with its masked channel and its latest message."""
    latest = {
        row["contact_id"]: dict(row)
        for row in conn.execute(
            "SELECT d.contact_id, d.status, d.attempts, d.last_error, d.sent_at, d.next_try"
            " FROM deliveries d JOIN care_contacts c ON c.id = d.contact_id"
            " WHERE c.patient = ? AND d.id IN (SELECT MAX(id) FROM deliveries GROUP BY contact_id)",
            (patient,),
        )
    }
    owners = {
        row["id"]: row["user_id"]
        for row in conn.execute(
            "SELECT id, user_id FROM care_contacts WHERE patient = ?", (patient,)
        )
    }
    return [
        {
            "contact": c,
            "masked": mask(c.channel),
            "is_email": "://" not in c.channel,
            "user_id": owners.get(c.id),
            "latest": latest.get(c.id),
        }
        for c in cc.contacts(conn, patient)
    ]


def delivery_rows(conn: Connection, patient: str, limit: int = 50) -> list[dict]:
    """The patient's latest messages with a status in words, newest first."""
    rows = cc.recent_deliveries(conn, patient, limit)
    for row in rows:
        row["status_text"] = STATUS_TEXT.get(row["status"], row["status"])
        row["kind_text"] = KIND_TEXT.get(row["kind"], row["kind"])
    return rows


def who(conn: Connection, login: str | None) -> str:
    """An acknowledger's login in words: ``Dr. Tan (doctor)``, ``Carol (carer)``, ``you``."""
    if not login:
        return ""
    row = conn.execute(
        "SELECT role, display_name FROM users WHERE username = ? OR dr_id = ?", (login, login)
    ).fetchone()
    if row is None:
        return login
    name = row["display_name"]
    name = accounts.doctor_name(name) if row["role"] == "doctor" else name
    return f"{name} ({row['role']})"


def alerts(conn: Connection, patient: str, limit: int = 10) -> list[dict]:
    """The patient's latest notified alerts, with who acknowledged each, in words."""
    rows = [r for r in cc.notifications_for(conn, patient, limit * 2) if r["kind"] != "test"]
    for row in rows[:limit]:
        row["kind_text"] = KIND_TEXT.get(row["kind"], row["kind"])
        row["message"] = alert_text(row)
        row["acked_by_text"] = who(conn, row["acked_by"])
    return rows[:limit]


def alert(conn: Connection, alert_id: str) -> dict | None:
    """One notified alert with its messages, or None when there is no such alert."""
    row = cc.notification(conn, alert_id)
    if row is None:
        return None
    out = dict(row)
    out["kind_text"] = KIND_TEXT.get(out["kind"], out["kind"])
    out["message"] = alert_text(out)
    out["acked_by_text"] = who(conn, out["acked_by"])
    out["deliveries"] = [
        d | {"status_text": STATUS_TEXT.get(d["status"], d["status"])}
        for d in cc.deliveries(conn, alert_id)
    ]
    return out


def log_entries(conn: Connection, patient: str, limit: int = 200) -> list[dict]:
    """The notifier's messages about the patient, shaped as access-log entries."""
    rows = conn.execute(
        "SELECT d.id, d.alert_id, d.status, d.last_error, d.attempts, d.created_at, d.sent_at,"
        " n.kind, n.level, c.name FROM deliveries d"
        " JOIN notifications n ON n.alert_id = d.alert_id"
        " JOIN care_contacts c ON c.id = d.contact_id"
        " WHERE n.patient = ? AND d.status IN (?, ?, ?) ORDER BY d.id DESC LIMIT ?",
        (patient, cc.SENT, cc.GIVEN_UP, cc.RETRYING, limit),
    )
    out = []
    for r in rows:
        kind = KIND_TEXT.get(r["kind"], r["kind"]).lower()
        if r["status"] == cc.SENT:
            what = f"Sent {r['name']} a notification: {kind} ({r['level']})"
        else:
            verdict = "gave up notifying" if r["status"] == cc.GIVEN_UP else "could not yet notify"
            what = f"The notifier {verdict} {r['name']}: {kind} ({r['last_error'] or 'error'})"
        out.append(
            {
                "at": int(r["sent_at"] or r["created_at"]),
                "role": "notifier",
                "actor": "Notifier",
                "actor_id": None,
                "dr_id": None,
                "what": what,
                "actions": [f"delivery.{r['status']}"],
                "path": f"/alerts/{r['alert_id']}",
            }
        )
    return out


def merged_log(audit_rows: list[dict], deliveries: list[dict], limit: int = 200) -> list[dict]:
    """The access log and the notifier's messages in one list, newest first."""
    return sorted(audit_rows + deliveries, key=lambda e: e["at"], reverse=True)[:limit]
