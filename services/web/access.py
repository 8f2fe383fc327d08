"""Who may see whose health data: shares, the audit log of their use, and the admin log."""

import time

from services.common.database import Connection

from . import accounts
from .errors import ValidationError

# --- shares -----------------------------------------------------------------------------
# A share lets one viewer, a doctor or a carer, see one patient's data; the table's
# ``doctor_id`` column holds the viewer's user id whatever their role.

VIEWER_ROLES = ("doctor", "carer")


def has_share(conn: Connection, patient_id: int, viewer_id: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM shares WHERE patient_id = ? AND doctor_id = ?", (patient_id, viewer_id)
    ).fetchone()
    return row is not None


def share(conn: Connection, patient_id: int, viewer_id: int) -> bool:
    """Let the viewer see the patient's data; False when they could already."""
    cur = conn.execute(
        "INSERT INTO shares (patient_id, doctor_id, created_at) VALUES (?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (patient_id, viewer_id, int(time.time())),
    )
    return cur.rowcount == 1


def unshare(conn: Connection, patient_id: int, viewer_id: int) -> None:
    conn.execute(
        "DELETE FROM shares WHERE patient_id = ? AND doctor_id = ?", (patient_id, viewer_id)
    )


def all_shares(conn: Connection) -> list[dict]:
    """Every share, for the admin page: patient, viewer (doctor or carer) and since when."""
    rows = conn.execute(
        "SELECT p.username AS patient, v.role, v.dr_id, v.username AS viewer,"
        " v.display_name AS viewer_name, s.created_at FROM shares s"
        " JOIN users p ON p.id = s.patient_id JOIN users v ON v.id = s.doctor_id"
        " ORDER BY p.username, s.created_at"
    )
    return [dict(r) for r in rows]


def shared_patients(conn: Connection, viewer_id: int) -> list[accounts.User]:
    rows = conn.execute(
        "SELECT u.* FROM users u JOIN shares s ON s.patient_id = u.id"
        " WHERE s.doctor_id = ? AND u.disabled = 0 ORDER BY u.username",
        (viewer_id,),
    )
    return [accounts.User.from_row(r) for r in rows]


def viewers(conn: Connection, patient_id: int, role: str = "doctor") -> list[dict]:
    """The doctors (or carers) this patient shares with, oldest share first."""
    rows = conn.execute(
        "SELECT u.id, u.dr_id, u.username, u.email, u.display_name, s.created_at FROM shares s"
        " JOIN users u ON u.id = s.doctor_id WHERE s.patient_id = ? AND u.role = ?"
        " ORDER BY s.created_at",
        (patient_id, role),
    )
    return [dict(r) for r in rows]


def doctors(conn: Connection, patient_id: int) -> list[dict]:
    """The doctors this patient shares with, oldest share first."""
    return viewers(conn, patient_id, "doctor")


def share_label(role: str, dr_id: str | None, username: str | None) -> str:
    """How a share names its viewer in the access log: a Dr_ID, or ``carer <user name>``."""
    return (dr_id or "") if role == "doctor" else f"carer {username}"


def grant(
    conn: Connection, patient: accounts.User, dr_id: str, path: str, ip: str | None
) -> tuple[accounts.User, bool]:
    """Share with the doctor of this Dr_ID; an unknown or disabled one is refused.

    Returns the doctor and whether the share is new (False: they had access already).
    """
    dr_id = (dr_id or "").strip().upper()
    row = conn.execute(
        "SELECT * FROM users WHERE role = 'doctor' AND disabled = 0 AND UPPER(dr_id) = ?",
        (dr_id,),
    ).fetchone()
    if not dr_id or row is None:
        raise ValidationError("No doctor has that Dr_ID. Check it with your doctor.")
    doctor = accounts.User.from_row(row)
    if not share(conn, patient.id, doctor.id):
        return doctor, False
    record(conn, patient, patient, f"share.grant {doctor.dr_id}", path, ip)
    return doctor, True


def grant_carer(
    conn: Connection,
    patient: accounts.User,
    carer: accounts.User,
    path: str,
    ip: str | None,
) -> None:
    """Share with a carer who took the patient's invitation."""
    share(conn, patient.id, carer.id)
    record(
        conn,
        carer,
        patient,
        f"share.grant {share_label(carer.role, carer.dr_id, carer.username)}",
        path,
        ip,
    )


def revoke(
    conn: Connection, patient: accounts.User, viewer_id: int, path: str, ip: str | None
) -> None:
    """End a doctor's or carer's share now: their next request is refused."""
    row = conn.execute(
        "SELECT role, dr_id, username FROM users WHERE id = ?", (viewer_id,)
    ).fetchone()
    if row is None or not has_share(conn, patient.id, viewer_id):
        raise ValidationError("That person does not have access.")
    unshare(conn, patient.id, viewer_id)
    record(
        conn,
        patient,
        patient,
        f"share.revoke {share_label(row['role'], row['dr_id'], row['username'])}",
        path,
        ip,
    )


# --- the audit log ----------------------------------------------------------------------


def record(
    conn: Connection,
    actor: accounts.User,
    patient: accounts.User,
    action: str,
    path: str,
    ip: str | None,
) -> None:
    """One audit row: who did what to whose data, at which URL and from where."""
    conn.execute(
        "INSERT INTO audit (at, actor_id, patient_id, action, path, ip) VALUES (?, ?, ?, ?, ?, ?)",
        (int(time.time()), actor.id, patient.id, action, path, ip),
    )


def refused(conn: Connection, actor: accounts.User, patient: accounts.User, action: str):
    """The audited request ``action`` was refused: its row says so rather than "Added …"."""
    conn.execute(
        "UPDATE audit SET action = ? WHERE id = (SELECT MAX(id) FROM audit"
        " WHERE actor_id = ? AND patient_id = ? AND action = ?)",
        (f"{action} refused", actor.id, patient.id, action),
    )


# What each audited action means to the patient reading the log (``visits`` writes it).
ACTIONS = {
    "welcome": "Opened your home page",
    "monitoring": "Viewed your health monitoring",
    "report": "Viewed your health report",
    "datasheet": "Viewed your data sheet",
    "datasheet_csv": "Downloaded your readings (CSV)",
    "cabinet": "Viewed your cabinet",
    "habits": "Viewed your habits",
    "questionnaire": "Read your questionnaire",
    "snapshot": "Viewed a camera snapshot",
    "blood_tests_add": "Added blood test results",
    "advice_add": "Wrote advice",
    "note_add": "Wrote a note",
    "report_request": "Asked for a report or export",
    "report_download": "Downloaded a report",
    "live": "Followed your live readings",
    "doctor_home": "Saw your latest readings and alerts on their patient list",
    "medications": "Viewed your medications",
    "medication_add": "Added a medication",
    "medication_edit": "Changed a medication",
    "medication_remove": "Removed a medication",
    "medication_timezone": "Changed your time zone",
    "carer_home": "Saw your latest alerts on their list of people they care for",
    "care_circle": "Viewed your care circle",
    "contact_add_self": "Added themselves to your care circle",
    "contact_remove_self": "Left your care circle",
    "alert": "Opened an alert",
    "alert_ack": "Acknowledged an alert",
    "alert_refused": "Was refused an alert (no access)",
    "reading_ack": "Marked a reading outside the usual range as seen",
}
# Looking, not changing: a run of these by one person is one visit in the log.
READS = frozenset(
    {
        "welcome", "monitoring", "report", "datasheet", "datasheet_csv", "cabinet", "habits",
        "questionnaire", "snapshot", "report_download", "live", "doctor_home", "medications",
        "carer_home", "care_circle", "alert", "report_status",
    }
)  # fmt: skip


def is_read(action: str) -> bool:
    return action in READS or action.startswith("api_")


def last_visit(
    conn: Connection, doctor_id: int, patient_id: int, before: int | None = None
) -> int | None:
    """When this doctor last opened this patient's pages or data before ``before`` (Unix s).

    ``before`` is the doctor's sign-in: what they opened since belongs to this visit, so
    "since your last visit" counts from the visit before. Their patient list is audited
    (``doctor_home``) but is not a visit either.
    """
    row = conn.execute(
        "SELECT MAX(at) FROM audit WHERE actor_id = ? AND patient_id = ?"
        " AND action != 'doctor_home' AND at < ?",
        (doctor_id, patient_id, before if before is not None else 2**62),
    ).fetchone()
    return row[0]


def record_report_audit(conn: Connection, entry: dict) -> bool:
    """Store one of the reporter's audit messages; False when actor or patient is unknown."""
    column = "dr_id" if entry["role"] == "doctor" else "username"
    actor = conn.execute(f"SELECT id FROM users WHERE {column} = ?", (entry["actor"],)).fetchone()
    patient = conn.execute(
        "SELECT id FROM users WHERE username = ? AND role = 'patient'", (entry["patient"],)
    ).fetchone()
    if actor is None or patient is None:
        return False
    verdict = "made" if entry["ok"] else f"refused ({entry['error'] or 'error'})"
    row = (entry["at"], actor["id"], patient["id"], f"{entry['action']} {verdict}")
    # Every web instance hears the verdict; the first to store it does, the others find it.
    with conn.transaction():
        conn.execute(
            "INSERT INTO audit (at, actor_id, patient_id, action, path, ip)"
            " SELECT ?, ?, ?, ?, 'reporter', NULL WHERE NOT EXISTS (SELECT 1 FROM audit WHERE"
            " at = ? AND actor_id = ? AND patient_id = ? AND action = ? AND path = 'reporter')",
            (*row, *row),
        )
    return True


# --- the admin log ----------------------------------------------------------------------


def admin_action(
    conn: Connection,
    admin: accounts.User | None,
    action: str,
    detail: str,
    patient: accounts.User | None = None,
    path: str = "",
    ip: str | None = None,
) -> None:
    """Record an admin's change (None: made with the admin CLI).

    One that touches a patient also shows in their access log.
    """
    conn.execute(
        "INSERT INTO admin_log (at, actor_id, action, detail) VALUES (?, ?, ?, ?)",
        (int(time.time()), admin.id if admin else None, action, detail),
    )
    if admin is not None and patient is not None:
        record(conn, admin, patient, f"admin.{action} {detail}", path, ip)


# The admin log's actions in words (the CLI's own names kept beside them in the page).
ADMIN_WORDS = {
    "device.assign": "Assigned a device",
    "device.forget": "Removed a device from the list",
    "share.grant": "Gave access",
    "share.revoke": "Removed access",
    "firmware.publish": "Published firmware",
}


def admin_log(conn: Connection, limit: int = 50) -> list[dict]:
    rows = conn.execute(
        "SELECT l.at, l.action, l.detail, u.display_name AS actor FROM admin_log l"
        " LEFT JOIN users u ON u.id = l.actor_id ORDER BY l.id DESC LIMIT ?",
        (limit,),
    )
    return [dict(r, what=ADMIN_WORDS.get(r["action"], r["action"])) for r in rows]
