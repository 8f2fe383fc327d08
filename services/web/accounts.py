"""Users: creating them, checking their passwords and TOTP codes, and password resets."""

import hashlib
import re
import secrets
import time
from dataclasses import dataclass

from services.common.database import Connection, IntegrityError, Row

from . import passwords, twostep
from .errors import NotFound, ValidationError
from .keys import Keys

RESET_SECONDS = 3600

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{2,31}$")
EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]+$")
DR_ID_RE = re.compile(r"^[A-Za-z0-9_-]{2,32}$")


@dataclass(frozen=True)
class User:
    """A signed-in (or looked-up) person, without secrets."""

    id: int
    role: str
    username: str | None
    email: str | None
    dr_id: str | None
    display_name: str
    ic: str | None
    has_totp: bool

    @property
    def login(self) -> str:
        return self.username or self.dr_id or str(self.id)

    @classmethod
    def from_row(cls, row: Row) -> "User":
        return cls(
            id=row["id"],
            role=row["role"],
            username=row["username"],
            email=row["email"],
            dr_id=row["dr_id"],
            display_name=row["display_name"],
            ic=row["ic"],
            has_totp=bool(row["totp_secret"]),
        )


_TITLED = re.compile(r"^(dr\.?|doctor|prof\.?|professor)\s", re.IGNORECASE)


def doctor_name(name: str) -> str:
    """A doctor as people address them: ``Dr. Grace Tan``; a name with its title stays as is."""
    name = (name or "").strip()
    return name if _TITLED.match(name) else f"Dr. {name}"


def normalize_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL_RE.match(email):
        raise ValidationError("Enter a valid email address.")
    return email


def normalize_username(username: str) -> str:
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise ValidationError(
            "A user name is 3 to 32 characters: lower-case letters, digits, '.', '_' or '-'."
        )
    return username


def normalize_ic(ic: str) -> str:
    return re.sub(r"[\s-]", "", ic).upper()


TAKEN = "An account with that user name, email or ID already exists."


def insert(conn: Connection, taken: str = TAKEN, **fields: object) -> int:
    """A new ``users`` row; ValidationError(``taken``) when a name, email or ID is in use."""
    names = ", ".join(fields)
    marks = ", ".join("?" for _ in fields)
    try:
        with conn.attempt():
            return conn.insert(
                f"INSERT INTO users ({names}) VALUES ({marks})", tuple(fields.values())
            )
    except IntegrityError as exc:
        raise ValidationError(taken) from exc


def _with_totp(conn: Connection, uid: int, keys: Keys) -> tuple[User, str]:
    """Give a new account its TOTP secret (stored encrypted); return it in clear once."""
    secret = twostep.new_secret()
    twostep.store_secret(conn, uid, secret, keys)
    return get(conn, uid), secret


def create_patient(
    conn: Connection,
    email: str,
    username: str,
    password: str,
    totp: bool = False,
    keys: Keys | None = None,
) -> tuple[User, str | None]:
    """Create a patient; returns the user and the TOTP secret when ``totp`` (needs ``keys``)."""
    email, username = normalize_email(email), normalize_username(username)
    passwords.check_policy(password, username, email.split("@")[0])
    uid = insert(
        conn,
        role="patient",
        username=username,
        email=email,
        display_name=username,
        password_hash=passwords.hash_password(password),
        created_at=int(time.time()),
    )
    if totp:
        return _with_totp(conn, uid, keys)
    return get(conn, uid), None


def create_admin(
    conn: Connection, email: str, username: str, password: str, keys: Keys
) -> tuple[User, str]:
    """Create an administrator; TOTP is mandatory, so the secret is always returned."""
    email, username = normalize_email(email), normalize_username(username)
    passwords.check_policy(password, username, email.split("@")[0])
    uid = insert(
        conn,
        role="admin",
        username=username,
        email=email,
        display_name=username,
        password_hash=passwords.hash_password(password),
        created_at=int(time.time()),
    )
    return _with_totp(conn, uid, keys)


def create_doctor(
    conn: Connection,
    dr_id: str,
    name: str,
    ic: str,
    password: str,
    email: str | None,
    keys: Keys,
) -> tuple[User, str]:
    """Create a doctor; TOTP is mandatory, so the secret is always returned."""
    dr_id = dr_id.strip()
    if not DR_ID_RE.match(dr_id):
        raise ValidationError("A Dr_ID is 2 to 32 letters, digits, '_' or '-'.")
    name = " ".join(name.split())
    if not 2 <= len(name) <= 100:
        raise ValidationError("Enter the doctor's name.")
    ic = normalize_ic(ic)
    if not 4 <= len(ic) <= 20:
        raise ValidationError("Enter the doctor's IC number.")
    email = normalize_email(email) if email else None
    passwords.check_policy(password, dr_id, ic)
    uid = insert(
        conn,
        role="doctor",
        dr_id=dr_id,
        email=email,
        display_name=name,
        ic=ic,
        password_hash=passwords.hash_password(password),
        created_at=int(time.time()),
    )
    return _with_totp(conn, uid, keys)


def otpauth_uri(user: User, secret: str) -> str:
    return twostep.otpauth_uri(user.login, secret)


def get(conn: Connection, user_id: int) -> User:
    row = conn.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchone()
    if row is None:
        raise NotFound(f"no user {user_id}")
    return User.from_row(row)


def find(conn: Connection, login: str) -> User:
    """Find a user by user name, Dr_ID or email."""
    login = login.strip()
    row = conn.execute(
        "SELECT * FROM users WHERE username = ? OR dr_id = ? OR email = ?",
        (login.lower(), login, login.lower()),
    ).fetchone()
    if row is None:
        raise NotFound(f"no user {login!r}")
    return User.from_row(row)


def find_patient(conn: Connection, username: str) -> User | None:
    row = conn.execute(
        "SELECT * FROM users WHERE username = ? AND role = 'patient' AND disabled = 0",
        (username,),
    ).fetchone()
    return User.from_row(row) if row else None


def require_patient(conn: Connection, username: str) -> User:
    """The patient named ``username`` (any case, spaces trimmed), or NotFound."""
    name = username.strip().lower()
    found = find_patient(conn, name)
    if found is None:
        raise NotFound(f"no patient {name!r}")
    return found


def all_users(conn: Connection) -> list[User]:
    rows = conn.execute("SELECT * FROM users ORDER BY role, COALESCE(username, dr_id)")
    return [User.from_row(r) for r in rows]


def authenticate(
    conn: Connection, row: Row | None, password: str, code: str, keys: Keys
) -> User | None:
    """The user when password (and TOTP or a recovery code, if it has TOTP) are right."""
    ok = passwords.verify(row["password_hash"] if row else None, password)
    if not ok or row is None or row["disabled"]:
        return None
    if row["totp_secret"] and not twostep.second_factor(conn, row, code, keys):
        return None
    if passwords.needs_rehash(row["password_hash"]):
        conn.execute(
            "UPDATE users SET password_hash = ? WHERE id = ?",
            (passwords.hash_password(password), row["id"]),
        )
    return User.from_row(row)


def patient_row(conn: Connection, email: str, username: str) -> Row | None:
    """Patients, carers and admins sign in on the Users tab with email and user name together."""
    return conn.execute(
        "SELECT * FROM users WHERE email = ? AND username = ?"
        " AND role IN ('patient', 'carer', 'admin')",
        (email.strip().lower(), username.strip().lower()),
    ).fetchone()


def doctor_row(conn: Connection, dr_id: str, name: str, ic: str) -> Row | None:
    """Name and IC are not secrets, but they must match the Dr_ID."""
    row = conn.execute(
        "SELECT * FROM users WHERE dr_id = ? AND role = 'doctor'", (dr_id.strip(),)
    ).fetchone()
    if row is None:
        return None
    same_name = " ".join(name.split()).casefold() == row["display_name"].casefold()
    same_ic = normalize_ic(ic) == row["ic"]
    return row if same_name and same_ic else None


def set_password(conn: Connection, user: User, password: str) -> None:
    """Change the password and end every session of the account."""
    passwords.check_policy(password, user.username or "", user.dr_id or "", user.ic or "")
    conn.execute(
        "UPDATE users SET password_hash = ? WHERE id = ?",
        (passwords.hash_password(password), user.id),
    )
    conn.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))


def check_password(conn: Connection, user: User, password: str) -> bool:
    """Ask again for the password before a change that could lock the owner out."""
    row = conn.execute("SELECT password_hash FROM users WHERE id = ?", (user.id,)).fetchone()
    return passwords.verify(row["password_hash"] if row else None, password)


def set_disabled(conn: Connection, user: User, disabled: bool) -> None:
    """Disable (no sign-in, every session ended) or enable an account again."""
    conn.execute("UPDATE users SET disabled = ? WHERE id = ?", (int(disabled), user.id))
    if disabled:
        conn.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))


def reset_totp(conn: Connection, user: User, keys: Keys) -> tuple[str | None, list[str]]:
    """Clear two-step sign-in and end every session; doctors and admins get a new secret.

    Returns the new secret (None for a patient, who may set it up again) and, with
    a secret, fresh recovery codes.
    """
    twostep.clear(conn, user.id)
    conn.execute("DELETE FROM sessions WHERE user_id = ?", (user.id,))
    if user.role == "patient":
        return None, []
    secret = twostep.new_secret()
    twostep.store_secret(conn, user.id, secret, keys)
    return secret, twostep.new_recovery_codes(conn, user.id)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_reset(conn: Connection, email: str) -> tuple[User, str] | None:
    """A one-time reset token for the account with ``email``, or None if there is none."""
    row = conn.execute(
        "SELECT * FROM users WHERE email = ? AND disabled = 0", (email.strip().lower(),)
    ).fetchone()
    if row is None:
        return None
    token = secrets.token_urlsafe(32)
    conn.execute("DELETE FROM password_resets WHERE expires_at < ?", (int(time.time()),))
    conn.execute(
        "INSERT INTO password_resets (token_hash, user_id, expires_at) VALUES (?, ?, ?)",
        (_digest(token), row["id"], int(time.time()) + RESET_SECONDS),
    )
    return User.from_row(row), token


def reset_user(conn: Connection, token: str) -> User | None:
    row = conn.execute(
        "SELECT user_id FROM password_resets WHERE token_hash = ? AND expires_at >= ?",
        (_digest(token), int(time.time())),
    ).fetchone()
    return get(conn, row["user_id"]) if row else None


def finish_reset(conn: Connection, token: str, password: str) -> bool:
    """Set the password if the token is valid; the token is used up either way it succeeds."""
    user = reset_user(conn, token)
    if user is None:
        return False
    set_password(conn, user, password)
    conn.execute("DELETE FROM password_resets WHERE user_id = ?", (user.id,))
    return True
