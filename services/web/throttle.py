"""Failed sign-in and code attempts: a hard limit per (account, client), a slow-down per account.

A stranger who knows only a user name must not lock its owner out, so the hard
limit counts failures per account *and client address* (or per known browser);
failures of the account from everywhere only make each further try wait, longer
and longer, up to ``max_delay``. A browser that signed in to the account before
skips that wait and the per-address limit.

Counting the name typed, not the account found, means an unknown name is
throttled exactly like a real one, so the answer tells nothing about existence.
An attempt is booked as a failure before the password is checked (in one
transaction with the count), so parallel guesses cannot slip past the limit; a
success takes its booking back.
"""

import math
import time
from dataclasses import dataclass

from services.common.database import Connection

from .errors import Throttled


@dataclass(frozen=True)
class Policy:
    """How many failures a key may have within the window, and the account's slow-down."""

    window: int = 900
    per_account: int = 5  # hard limit for one account from one address (or known browser)
    per_address: int = 30
    slow_after: int = 5  # account failures (from anywhere) before each try must wait
    base_delay: float = 2.0  # the first wait; it doubles with each further failure
    max_delay: float = 60.0
    alert_after: int = 10  # account failures that raise a security alert


@dataclass(frozen=True)
class Booking:
    """The attempt rows written for one try, so a success can remove them."""

    account_key: str
    pair_key: str
    row_ids: tuple[int, ...]
    failures: int  # the account's failures in the window, this try included


def keys(account: str, address: str | None) -> tuple[str, str]:
    return f"account:{account.strip().lower()}", f"address:{address or '-'}"


def delay(policy: Policy, failures: int) -> float:
    """Seconds a try must wait after the account's last failure."""
    if failures < policy.slow_after:
        return 0.0
    return min(policy.base_delay * 2 ** (failures - policy.slow_after), policy.max_delay)


def _count(conn: Connection, key: str) -> int:
    return conn.execute("SELECT COUNT(*) FROM attempts WHERE key = ?", (key,)).fetchone()[0]


def _check(conn, policy: Policy, account_key: str, pair_key: str, address_key, now: int) -> int:
    """The account's failures so far; raises Throttled when this try may not go ahead."""
    if _count(conn, pair_key) >= policy.per_account:
        raise Throttled("Too many attempts. Wait a few minutes and try again.")
    if address_key is not None and _count(conn, address_key) >= policy.per_address:
        raise Throttled("Too many attempts. Wait a few minutes and try again.")
    failures, last = conn.execute(
        "SELECT COUNT(*), MAX(at) FROM attempts WHERE key = ?", (account_key,)
    ).fetchone()
    if address_key is not None and failures:
        wait = last + delay(policy, failures) - now
        if wait > 0:
            raise Throttled(
                "This account had many failed sign-ins. Wait"
                f" {math.ceil(wait)} seconds and try again."
            )
    return failures


def book(
    conn: Connection,
    policy: Policy,
    account_key: str,
    address_key: str,
    known: bool = False,
) -> Booking:
    """Count this try as a failure now, or raise Throttled when it may not go ahead.

    ``known``: this browser signed in to the account before; it is counted on its
    own, not with its address, and does not wait for the account's slow-down.
    """
    now = int(time.time())
    pair_key = f"pair:{account_key}|{'known-browser' if known else address_key}"
    with conn.transaction():
        conn.execute("DELETE FROM attempts WHERE at <= ?", (now - policy.window,))
        failures = _check(conn, policy, account_key, pair_key, None if known else address_key, now)
        row_ids = tuple(
            conn.insert("INSERT INTO attempts (key, at) VALUES (?, ?)", (key, now))
            for key in (account_key, pair_key, address_key)
        )
    return Booking(account_key, pair_key, row_ids, failures + 1)


def succeeded(conn: Connection, booking: Booking) -> None:
    """A success clears the account's failures and takes back this try's address count."""
    conn.execute(
        "DELETE FROM attempts WHERE key IN (?, ?)", (booking.account_key, booking.pair_key)
    )
    conn.executemany("DELETE FROM attempts WHERE id = ?", [(i,) for i in booking.row_ids])
