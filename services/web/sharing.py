"""Shares granted by patients, the access log they can read, and the admin log."""

import sqlite3
import time

from flask import request

from . import access, accounts
from .errors import ValidationError


def grant(conn: sqlite3.Connection, patient: accounts.User, dr_id: str) -> accounts.User:
    """Share with the doctor of this Dr_ID; an unknown or disabled one is refused."""
    dr_id = (dr_id or "").strip().upper()
    row = conn.execute(
        "SELECT * FROM users WHERE role = 'doctor' AND disabled = 0 AND UPPER(dr_id) = ?",
        (dr_id,),
    ).fetchone()
    if not dr_id or row is None:
        raise ValidationError("No doctor has that Dr_ID. Check it with your doctor.")
    doctor = accounts.User.from_row(row)
    access.share(conn, patient.id, doctor.id)
    _log(conn, patient, patient, f"share.grant {doctor.dr_id}")
    return doctor


def revoke(conn: sqlite3.Connection, patient: accounts.User, doctor_id: int) -> None:
    """End a share now: the doctor's next request is refused."""
    row = conn.execute("SELECT dr_id FROM users WHERE id = ?", (doctor_id,)).fetchone()
    if row is None or not access.has_share(conn, patient.id, doctor_id):
        raise ValidationError("That doctor does not have access.")
    access.unshare(conn, patient.id, doctor_id)
    _log(conn, patient, patient, f"share.revoke {row['dr_id']}")


def doctors(conn: sqlite3.Connection, patient_id: int) -> list[dict]:
    rows = conn.execute(
        "SELECT u.id, u.dr_id, u.display_name, s.created_at FROM shares s"
        " JOIN users u ON u.id = s.doctor_id WHERE s.patient_id = ? ORDER BY s.created_at",
        (patient_id,),
    )
    return [dict(r) for r in rows]


def _log(conn, actor: accounts.User, patient: accounts.User, action: str) -> None:
    conn.execute(
        "INSERT INTO audit (at, actor_id, patient_id, action, path, ip) VALUES (?, ?, ?, ?, ?, ?)",
        (int(time.time()), actor.id, patient.id, action, request.path, request.remote_addr),
    )


def access_log(conn: sqlite3.Connection, patient_id: int, limit: int = 200) -> list[dict]:
    """Who opened or changed what of this patient's, newest first."""
    rows = conn.execute(
        "SELECT a.at, a.action, a.path, a.ip, u.display_name AS actor, u.role, u.dr_id"
        " FROM audit a JOIN users u ON u.id = a.actor_id WHERE a.patient_id = ?"
        " ORDER BY a.id DESC LIMIT ?",
        (patient_id, limit),
    )
    return [dict(r) for r in rows]


def admin_action(conn, admin: accounts.User, action: str, detail: str, patient=None) -> None:
    """Record an admin's change; one that touches a patient also shows in their access log."""
    conn.execute(
        "INSERT INTO admin_log (at, actor_id, action, detail) VALUES (?, ?, ?, ?)",
        (int(time.time()), admin.id, action, detail),
    )
    if patient is not None:
        _log(conn, admin, patient, f"admin.{action} {detail}")


def admin_log(conn: sqlite3.Connection, limit: int = 50) -> list[dict]:
    rows = conn.execute(
        "SELECT l.at, l.action, l.detail, u.display_name AS actor FROM admin_log l"
        " LEFT JOIN users u ON u.id = l.actor_id ORDER BY l.id DESC LIMIT ?",
        (limit,),
    )
    return [dict(r) for r in rows]


def last_visit(conn: sqlite3.Connection, doctor_id: int, patient_id: int) -> int | None:
    """When this doctor last opened this patient's data (Unix seconds)."""
    row = conn.execute(
        "SELECT MAX(at) FROM audit WHERE actor_id = ? AND patient_id = ?",
        (doctor_id, patient_id),
    ).fetchone()
    return row[0]
