"""Server-side sessions: the cookie holds a random id, the table holds what it means.

Only signed-in people have a row; an anonymous visitor's forms carry a stateless
token instead (``security``). A session ends at its fixed lifetime or after it was
left idle, whichever comes first; a sweep on a schedule removes ended rows.
"""

import hashlib
import json
import secrets
import time
from dataclasses import dataclass

from services.common.database import Connection

# last_seen is written at most this often, so reading pages does not write on every click.
TOUCH_SECONDS = 60
MAX_FLASHES = 5


@dataclass(frozen=True)
class Session:
    """One row of the sessions table, found by the cookie's token."""

    token: str
    user_id: int | None
    csrf: str


def _digest(token: str) -> str:
    # Only a hash is stored, so a copy of the database does not hand out live sessions.
    return hashlib.sha256(token.encode()).hexdigest()


def create(conn: Connection, user_id: int, hours: int) -> Session:
    now = int(time.time())
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    conn.execute(
        "INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at, last_seen)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (_digest(token), user_id, csrf, now, now + hours * 3600, now),
    )
    return Session(token, user_id, csrf)


def started_at(conn: Connection, token: str) -> int | None:
    """When the session of ``token`` began: the sign-in (Unix seconds)."""
    row = conn.execute(
        "SELECT created_at FROM sessions WHERE id_hash = ?", (_digest(token),)
    ).fetchone()
    return row["created_at"] if row else None


def load(
    conn: Connection, token: str | None, idle_seconds: int, touch: bool = True
) -> Session | None:
    """The live session of ``token``: not past its lifetime, not idle, account enabled.

    ``touch`` restarts the idle clock: a page the person asked for does, a live
    stream's own re-check does not (a tab left open is still left).
    """
    if not token or len(token) > 100:
        return None
    now = int(time.time())
    row = conn.execute(
        "SELECT s.user_id, s.csrf, CASE WHEN s.last_seen > s.created_at THEN s.last_seen"
        " ELSE s.created_at END AS seen FROM sessions s"
        " LEFT JOIN users u ON u.id = s.user_id"
        " WHERE s.id_hash = ? AND s.expires_at >= ? AND COALESCE(u.disabled, 0) = 0",
        (_digest(token), now),
    ).fetchone()
    if row is None or row["seen"] < now - idle_seconds:
        return None
    if touch and row["seen"] < now - TOUCH_SECONDS:
        conn.execute("UPDATE sessions SET last_seen = ? WHERE id_hash = ?", (now, _digest(token)))
    return Session(token, row["user_id"], row["csrf"])


def is_live(conn: Connection, token: str, idle_seconds: int) -> bool:
    return load(conn, token, idle_seconds, touch=False) is not None


def destroy(conn: Connection, token: str) -> None:
    conn.execute("DELETE FROM sessions WHERE id_hash = ?", (_digest(token),))


def destroy_all(conn: Connection, user_id: int) -> None:
    """End every session of an account (sign out everywhere)."""
    conn.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))


def sweep(conn: Connection, idle_seconds: int) -> int:
    """Delete sessions past their lifetime or idle time, and used-up reset links."""
    now = int(time.time())
    cur = conn.execute(
        "DELETE FROM sessions WHERE expires_at < ? OR (last_seen < ? AND created_at < ?)",
        (now, now - idle_seconds, now - idle_seconds),
    )
    conn.execute("DELETE FROM password_resets WHERE expires_at < ?", (now,))
    return cur.rowcount


def set_pending_totp(conn: Connection, token: str, encrypted: str | None) -> None:
    """Keep a TOTP secret being set up with the session, never in the browser."""
    conn.execute(
        "UPDATE sessions SET totp_pending = ? WHERE id_hash = ?", (encrypted, _digest(token))
    )


def pending_totp(conn: Connection, token: str) -> str | None:
    row = conn.execute(
        "SELECT totp_pending FROM sessions WHERE id_hash = ?", (_digest(token),)
    ).fetchone()
    return row["totp_pending"] if row else None


def push_flash(conn: Connection, token: str, message: str) -> None:
    """A message for the next page this session shows (after a redirect)."""
    messages = ([*_flashes(conn, token), message])[-MAX_FLASHES:]
    conn.execute(
        "UPDATE sessions SET flash = ? WHERE id_hash = ?", (json.dumps(messages), _digest(token))
    )


def take_flashes(conn: Connection, token: str) -> list[str]:
    messages = _flashes(conn, token)
    if messages:
        conn.execute("UPDATE sessions SET flash = NULL WHERE id_hash = ?", (_digest(token),))
    return messages


def _flashes(conn: Connection, token: str) -> list[str]:
    row = conn.execute("SELECT flash FROM sessions WHERE id_hash = ?", (_digest(token),)).fetchone()
    return json.loads(row["flash"]) if row and row["flash"] else []
