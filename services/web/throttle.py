"""Failed sign-in and code attempts, counted per account name and per client address.

Counting the name typed, not the account found, means an unknown name is
throttled exactly like a real one, so the answer tells nothing about existence.
An attempt is booked as a failure before the password is checked (in one
transaction with the count), so parallel guesses cannot slip past the limit; a
success takes its booking back.
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


@dataclass(frozen=True)
class Booking:
    """The attempt rows written for one try, so a success can remove them."""

    account_key: str
    row_ids: tuple[int, ...]


def keys(account: str, address: str | None) -> tuple[str, str]:
    return f"account:{account.strip().lower()}", f"address:{address or '-'}"


def book(conn: sqlite3.Connection, policy: Policy, account_key: str, address_key: str) -> Booking:
    """Count this try as a failure now, or raise Throttled when either key is used up."""
    now = int(time.time())
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM attempts WHERE at <= ?", (now - policy.window,))
        for key, limit in ((account_key, policy.per_account), (address_key, policy.per_address)):
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM attempts WHERE key = ?", (key,)
            ).fetchone()
            if count >= limit:
                raise Throttled("Too many attempts. Wait a few minutes and try again.")
        row_ids = tuple(
            conn.execute("INSERT INTO attempts (key, at) VALUES (?, ?)", (key, now)).lastrowid
            for key in (account_key, address_key)
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return Booking(account_key, row_ids)


def succeeded(conn: sqlite3.Connection, booking: Booking) -> None:
    """A success clears the account's failures and takes back this try's address count."""
    conn.execute("DELETE FROM attempts WHERE key = ?", (booking.account_key,))
    conn.executemany("DELETE FROM attempts WHERE rowid = ?", [(i,) for i in booking.row_ids])
