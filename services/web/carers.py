"""Carers: accounts of the care circle's people, made from a single-use emailed invitation.

A carer sees a patient's data through the same share as a doctor (``access``); the
invitation's token is stored only as its hash and works once, until it expires.
"""

import hashlib
import secrets
import time

from services.common import carecircle
from services.common.database import Connection, Row

from . import accounts, passwords
from .errors import ValidationError

INVITE_SECONDS = 7 * 24 * 3600

# Migration 3: the ``carer`` role, invitations, and the care circle's tables, which the
# notifier also creates if it starts first. SQLite changes a CHECK only by rebuilding the
# table, which the migration runner does with foreign keys off; PostgreSQL changes it in
# place.
_USER_COLUMNS = (
    "id, role, username, email, dr_id, display_name, ic, password_hash, totp_secret,"
    " totp_last_step, created_at, disabled"
)
_INVITES = (
    """
    CREATE TABLE carer_invites (
        token_hash TEXT PRIMARY KEY,
        patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        contact_id INTEGER,
        email TEXT NOT NULL,
        name TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        used_at INTEGER
    );
    CREATE INDEX carer_invites_patient ON carer_invites(patient_id);
    """
    + carecircle.SCHEMA
)
MIGRATION = (
    """
    CREATE TABLE users_new (
        id INTEGER PRIMARY KEY,
        role TEXT NOT NULL CHECK (role IN ('patient', 'doctor', 'admin', 'carer')),
        username TEXT UNIQUE,
        email TEXT UNIQUE,
        dr_id TEXT UNIQUE,
        display_name TEXT NOT NULL,
        ic TEXT,
        password_hash TEXT NOT NULL,
        totp_secret TEXT,
        totp_last_step INTEGER NOT NULL DEFAULT 0,
        created_at INTEGER NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0
    );
    """
    f"INSERT INTO users_new ({_USER_COLUMNS}) SELECT {_USER_COLUMNS} FROM users;"
    """
    DROP TABLE users;
    ALTER TABLE users_new RENAME TO users;
    """ + _INVITES
)
POSTGRES_MIGRATION = (
    """
    ALTER TABLE users DROP CONSTRAINT users_role_check;
    ALTER TABLE users ADD CONSTRAINT users_role_check
        CHECK (role IN ('patient', 'doctor', 'admin', 'carer'));
    """
    + _INVITES
)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def invite(
    conn: Connection, patient: accounts.User, email: str, name: str, contact_id: int | None
) -> str:
    """A new invitation for ``email`` to care for ``patient``; returns the token (sent once)."""
    email = accounts.normalize_email(email)
    name = " ".join(name.split())
    if not 1 <= len(name) <= 100:
        raise ValidationError("Enter the carer's name.")
    token = secrets.token_urlsafe(32)
    now = int(time.time())
    conn.execute("DELETE FROM carer_invites WHERE expires_at < ?", (now,))
    conn.execute(
        "INSERT INTO carer_invites (token_hash, patient_id, contact_id, email, name, created_at,"
        " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (_digest(token), patient.id, contact_id, email, name, now, now + INVITE_SECONDS),
    )
    return token


def pending_invite(conn: Connection, token: str) -> Row | None:
    """The unused, unexpired invitation of this token, with the patient's names."""
    return conn.execute(
        "SELECT i.*, u.username AS patient, u.display_name AS patient_name FROM carer_invites i"
        " JOIN users u ON u.id = i.patient_id WHERE i.token_hash = ? AND i.used_at IS NULL"
        " AND i.expires_at >= ? AND u.disabled = 0",
        (_digest(token or ""), int(time.time())),
    ).fetchone()


def pending_invites(conn: Connection, patient_id: int) -> list[dict]:
    rows = conn.execute(
        "SELECT email, name, created_at, expires_at FROM carer_invites WHERE patient_id = ?"
        " AND used_at IS NULL AND expires_at >= ? ORDER BY created_at",
        (patient_id, int(time.time())),
    )
    return [dict(r) for r in rows]


def _use(conn: Connection, token: str, carer_id: int) -> Row:
    """Spend the invitation (compare-and-set: two racing posts cannot both use it)."""
    found = pending_invite(conn, token)
    cursor = conn.execute(
        "UPDATE carer_invites SET used_at = ? WHERE token_hash = ? AND used_at IS NULL",
        (int(time.time()), _digest(token)),
    )
    if found is None or cursor.rowcount != 1:
        raise ValidationError("This invitation has expired or was already used.")
    if found["contact_id"] is not None:
        conn.execute(
            "UPDATE care_contacts SET user_id = ? WHERE id = ? AND patient = ?",
            (carer_id, found["contact_id"], found["patient"]),
        )
    return found


def create_carer(
    conn: Connection, token: str, username: str, password: str
) -> tuple[accounts.User, Row]:
    """Make the invited person's account, share the patient with it, and spend the token."""
    found = pending_invite(conn, token)
    if found is None:
        raise ValidationError("This invitation has expired or was already used.")
    username = accounts.normalize_username(username)
    passwords.check_policy(password, username, found["email"].split("@")[0])
    carer_id = accounts.insert(
        conn,
        "An account with that user name or email already exists. Sign in to it and"
        " open the link again.",
        role="carer",
        username=username,
        email=found["email"],
        display_name=found["name"],
        password_hash=passwords.hash_password(password),
        created_at=int(time.time()),
    )
    carer = accounts.get(conn, carer_id)
    _use(conn, token, carer.id)
    return carer, found


def accept_as(conn: Connection, token: str, carer: accounts.User) -> Row:
    """A signed-in carer takes an invitation sent to their own address."""
    found = pending_invite(conn, token)
    if found is None or carer.role != "carer" or carer.email != found["email"]:
        raise ValidationError("This invitation is for another person or has expired.")
    return _use(conn, token, carer.id)
