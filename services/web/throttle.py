"""Failed sign-in and code attempts, counted per account name and per client address.

Counting the name typed, not the account found, means an unknown name is
throttled exactly like a real one, so the answer tells nothing about existence.
"""

import sqlite3
import time
from dataclasses import dataclass

from .errors import Throttled


@dataclass(frozen=True)
class Policy:
    """How many failures a key may have within the window."""

    window: int = 900
    per_account: int = 5
    per_address: int = 30


def keys(account: str, address: str | None) -> tuple[str, str]:
    return f"account:{account.strip().lower()}", f"address:{address or '-'}"


def check(conn: sqlite3.Connection, policy: Policy, account_key: str, address_key: str) -> None:
    """Raise Throttled when either key has used up its failures."""
    since = int(time.time()) - policy.window
    for key, limit in ((account_key, policy.per_account), (address_key, policy.per_address)):
        (count,) = conn.execute(
            "SELECT COUNT(*) FROM attempts WHERE key = ? AND at > ?", (key, since)
        ).fetchone()
        if count >= limit:
            raise Throttled("Too many attempts. Wait a few minutes and try again.")


def failed(conn: sqlite3.Connection, policy: Policy, *attempt_keys: str) -> None:
    now = int(time.time())
    conn.execute("DELETE FROM attempts WHERE at <= ?", (now - policy.window,))
    conn.executemany(
        "INSERT INTO attempts (key, at) VALUES (?, ?)", [(k, now) for k in attempt_keys]
    )


def succeeded(conn: sqlite3.Connection, account_key: str) -> None:
    conn.execute("DELETE FROM attempts WHERE key = ?", (account_key,))
