"""Server-side sessions: the cookie holds a random id, the table holds what it means."""

import hashlib
import secrets
import sqlite3
import time
from dataclasses import dataclass

ANONYMOUS_SECONDS = 3600


@dataclass(frozen=True)
class Session:
    """One row of the sessions table, found by the cookie's token."""

    token: str
    user_id: int | None
    csrf: str


def _digest(token: str) -> str:
    # Only a hash is stored, so a copy of the database does not hand out live sessions.
    return hashlib.sha256(token.encode()).hexdigest()


def create(conn: sqlite3.Connection, user_id: int | None, hours: int) -> Session:
    now = int(time.time())
    lifetime = hours * 3600 if user_id is not None else ANONYMOUS_SECONDS
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    conn.execute("DELETE FROM sessions WHERE expires_at < ?", (now,))
    conn.execute(
        "INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (_digest(token), user_id, csrf, now, now + lifetime),
    )
    return Session(token, user_id, csrf)


def load(conn: sqlite3.Connection, token: str | None) -> Session | None:
    if not token or len(token) > 100:
        return None
    row = conn.execute(
        "SELECT s.user_id, s.csrf FROM sessions s LEFT JOIN users u ON u.id = s.user_id"
        " WHERE s.id_hash = ? AND s.expires_at >= ? AND COALESCE(u.disabled, 0) = 0",
        (_digest(token), int(time.time())),
    ).fetchone()
    return Session(token, row["user_id"], row["csrf"]) if row else None


def is_live(conn: sqlite3.Connection, token: str) -> bool:
    return load(conn, token) is not None


def destroy(conn: sqlite3.Connection, token: str) -> None:
    conn.execute("DELETE FROM sessions WHERE id_hash = ?", (_digest(token),))
