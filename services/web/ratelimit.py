"""Per-user limits on costly actions: reports, large exports, device commands, messages out.

Counted in the app database, so every web instance on it counts the same uses.
"""

import time
from dataclasses import dataclass

from services.common.database import Connection

from .errors import RateLimited

# Migration 10: one row per counted use; rows older than the longest window are removed.
MIGRATION = """
CREATE TABLE rate_uses (
    id INTEGER PRIMARY KEY,
    action TEXT NOT NULL,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    at REAL NOT NULL
);
CREATE INDEX rate_uses_user ON rate_uses(action, user_id, at)
"""


@dataclass(frozen=True)
class Limit:
    """At most ``count`` uses within ``window`` seconds; ``what`` names it in the refusal."""

    count: int
    window: float
    what: str


LIMITS = {
    "report": Limit(10, 3600, "report requests"),
    "export": Limit(20, 3600, "large exports"),
    "command": Limit(30, 60, "device commands"),
    # each sends a message to an address the user typed: not a way to spam anyone
    "outbound": Limit(20, 3600, "test messages and invitations"),
}


class RateLimits:
    """Sliding windows per (action, user), kept in the app database."""

    def __init__(self, limits: dict[str, Limit] | None = None) -> None:
        self.limits = dict(LIMITS if limits is None else limits)

    def take(self, conn: Connection, action: str, user_id: int) -> None:
        """Count one use, or raise RateLimited (HTTP 429) saying when to try again."""
        limit = self.limits[action]
        now = time.time()
        with conn.transaction():  # counted and added as one step, on every instance
            conn.execute(
                "DELETE FROM rate_uses WHERE action = ? AND user_id = ? AND at <= ?",
                (action, user_id, now - limit.window),
            )
            count, first = conn.execute(
                "SELECT COUNT(*), MIN(at) FROM rate_uses WHERE action = ? AND user_id = ?",
                (action, user_id),
            ).fetchone()
            if count >= limit.count:
                wait = int(first + limit.window - now) + 1
                raise RateLimited(
                    f"Too many {limit.what}: at most {limit.count} in {_span(limit.window)}."
                    f" Try again in {_span(wait)}.",
                    retry_after=wait,
                )
            conn.execute(
                "INSERT INTO rate_uses (action, user_id, at) VALUES (?, ?, ?)",
                (action, user_id, now),
            )


def _span(seconds: float) -> str:
    seconds = int(seconds)
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = seconds // 3600
        return "an hour" if hours == 1 else f"{hours} hours"
    if seconds >= 120:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"
