"""Two-step sign-in: TOTP secrets (encrypted at rest), their codes, and recovery codes.

A secret reaches the users table only once a code from it was checked, and only in
the shape pyotp makes (32 base32 letters), so no typed or posted value can make an
account that later fails every sign-in. Recovery codes are stored as argon2 hashes,
like passwords, and each works once.
"""

import hmac
import re
import secrets
import time

import pyotp

from services.common.database import Connection, Row

from . import passwords
from .errors import ValidationError
from .keys import Keys, is_encrypted

ISSUER = "Health Plus"
TOTP_STEP = 30
SECRET_RE = re.compile(r"^[A-Z2-7]{32}$")
RECOVERY_COUNT = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (i, l, o, 0, 1)
RECOVERY_RE = re.compile(r"^[a-z0-9]{10}$")


def new_secret() -> str:
    return pyotp.random_base32()


def otpauth_uri(login: str, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=login, issuer_name=ISSUER)


def check_secret(secret: str) -> str:
    """The secret if it has the shape pyotp makes; otherwise ValidationError."""
    if not SECRET_RE.match(secret or ""):
        raise ValidationError("A TOTP secret is 32 letters A-Z and digits 2-7.")
    return secret


def store_secret(conn: Connection, user_id: int, secret: str, keys: Keys, step: int = 0):
    """Save the account's secret, encrypted; ``step`` is the last code step already used."""
    encrypted = keys.encrypt(check_secret(secret))
    conn.execute(
        "UPDATE users SET totp_secret = ?, totp_last_step = ? WHERE id = ?",
        (encrypted, step, user_id),
    )


def secret_of(row: Row, keys: Keys) -> str | None:
    """The clear secret of a users row, or None when it has none (or an unreadable one)."""
    stored = row["totp_secret"]
    if not stored:
        return None
    try:
        secret = keys.decrypt(stored) if is_encrypted(stored) else stored
        return check_secret(secret)
    except (ValueError, ValidationError):
        return None


def _normal(code: str) -> str:
    return code.strip().replace(" ", "").replace("-", "").lower()


def matching_step(secret: str, code: str) -> int | None:
    """The step (previous, current or next) whose code is ``code``, if any."""
    code = _normal(code)
    if not (len(code) == 6 and code.isdigit()):
        return None
    totp = pyotp.TOTP(secret)
    now_step = int(time.time()) // TOTP_STEP
    for step in (now_step - 1, now_step, now_step + 1):
        if hmac.compare_digest(totp.at(step * TOTP_STEP), code):
            return step
    return None


def check_code(conn: Connection, row: Row, code: str, keys: Keys) -> bool:
    """Accept a code of this, the previous or the next step, each step once only."""
    secret = secret_of(row, keys)
    step = matching_step(secret, code) if secret else None
    if step is None:
        return False
    # Compare-and-set, so two requests racing with one code cannot both win.
    cur = conn.execute(
        "UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?",
        (step, row["id"], step),
    )
    return cur.rowcount == 1


def new_recovery_codes(conn: Connection, user_id: int) -> list[str]:
    """Replace the account's recovery codes with fresh ones, shown to the person once."""
    codes = ["".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10)) for _ in range(10)]
    conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user_id,))
    conn.executemany(
        "INSERT INTO recovery_codes (user_id, code_hash) VALUES (?, ?)",
        [(user_id, passwords.hash_password(code)) for code in codes],
    )
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def use_recovery_code(conn: Connection, user_id: int, code: str) -> bool:
    """True, once, for one of the account's unused recovery codes."""
    code = _normal(code)
    if not RECOVERY_RE.match(code):
        return False
    rows = conn.execute(
        "SELECT id, code_hash FROM recovery_codes WHERE user_id = ? AND used_at IS NULL",
        (user_id,),
    ).fetchall()
    for row in rows:
        if passwords.verify(row["code_hash"], code):
            cur = conn.execute(
                "UPDATE recovery_codes SET used_at = ? WHERE id = ? AND used_at IS NULL",
                (int(time.time()), row["id"]),
            )
            return cur.rowcount == 1
    return False


def recovery_left(conn: Connection, user_id: int) -> int:
    (count,) = conn.execute(
        "SELECT COUNT(*) FROM recovery_codes WHERE user_id = ? AND used_at IS NULL", (user_id,)
    ).fetchone()
    return count


def second_factor(conn: Connection, row: Row, code: str, keys: Keys) -> bool:
    """A TOTP code or, instead, one of the account's recovery codes."""
    if check_code(conn, row, code, keys):
        return True
    return use_recovery_code(conn, row["id"], code)


def clear(conn: Connection, user_id: int) -> None:
    """Turn two-step sign-in off: no secret, no recovery codes."""
    conn.execute("UPDATE users SET totp_secret = NULL, totp_last_step = 0 WHERE id = ?", (user_id,))
    conn.execute("DELETE FROM recovery_codes WHERE user_id = ?", (user_id,))
