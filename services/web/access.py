"""Who may see whose health data, and the audit log of doctors' access."""

import functools
import logging
import sqlite3
import time

from flask import abort, g, request

from services.common import logs

from . import accounts
from .db_access import db

log = logging.getLogger(__name__)


def has_share(conn: sqlite3.Connection, patient_id: int, doctor_id: int) -> bool:
    row = conn.execute(
        "SELECT 1 FROM shares WHERE patient_id = ? AND doctor_id = ?", (patient_id, doctor_id)
    ).fetchone()
    return row is not None


def share(conn: sqlite3.Connection, patient_id: int, doctor_id: int) -> None:
    conn.execute(
        "INSERT OR IGNORE INTO shares (patient_id, doctor_id, created_at) VALUES (?, ?, ?)",
        (patient_id, doctor_id, int(time.time())),
    )


def unshare(conn: sqlite3.Connection, patient_id: int, doctor_id: int) -> None:
    conn.execute(
        "DELETE FROM shares WHERE patient_id = ? AND doctor_id = ?", (patient_id, doctor_id)
    )


def shared_patients(conn: sqlite3.Connection, doctor_id: int) -> list[accounts.User]:
    rows = conn.execute(
        "SELECT u.* FROM users u JOIN shares s ON s.patient_id = u.id"
        " WHERE s.doctor_id = ? AND u.disabled = 0 ORDER BY u.username",
        (doctor_id,),
    )
    return [accounts.User.from_row(r) for r in rows]


def record(conn: sqlite3.Connection, actor: accounts.User, patient: accounts.User, action: str):
    conn.execute(
        "INSERT INTO audit (at, actor_id, patient_id, action, path, ip) VALUES (?, ?, ?, ?, ?, ?)",
        (int(time.time()), actor.id, patient.id, action, request.path, request.remote_addr),
    )


def audit_entries(conn: sqlite3.Connection, patient_id: int, limit: int = 50) -> list[dict]:
    rows = conn.execute(
        "SELECT a.at, a.action, a.path, u.display_name AS actor FROM audit a"
        " JOIN users u ON u.id = a.actor_id WHERE a.patient_id = ? ORDER BY a.id DESC LIMIT ?",
        (patient_id, limit),
    )
    return [dict(r) for r in rows]


def resolve_patient(username: str, action: str) -> accounts.User:
    """The patient whose data is asked for, or 403 for anyone not allowed to see it.

    An unknown user name gets the same 403 as a forbidden one, so URLs cannot be
    used to find out which accounts exist.
    """
    user = g.user
    conn = db()
    patient = accounts.find_patient(conn, username)
    if user is not None and patient is not None:
        if user.role == "patient" and user.id == patient.id:
            return patient
        if user.role == "doctor" and has_share(conn, patient.id, user.id):
            record(conn, user, patient, action)
            return patient
    logs.event(
        log,
        logging.WARNING,
        "web.access_refused",
        user=user.login if user else "-",
        patient=username,
        path=request.path,
    )
    abort(403)


def patient_view(action: str):
    """Resolve the ``username`` URL part into ``patient`` or refuse with 403."""

    def wrap(view):
        @functools.wraps(view)
        def inner(username: str, *args, **kwargs):
            if g.user is None:
                abort(401)
            return view(resolve_patient(username, action), *args, **kwargs)

        return inner

    return wrap
