"""Schema step 4 of the web database: sign-in hardening.

Sessions get an idle clock, a pending TOTP secret and their flash messages, and an
index for the expiry sweep; recovery codes and the outbox of security alerts get
their tables. ``db.MIGRATIONS`` runs it as entry 4.
"""

from services.common.database import Connection

from .keys import Keys, is_encrypted

NUMBER = 4

SQL = """
ALTER TABLE sessions ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN totp_pending TEXT;
ALTER TABLE sessions ADD COLUMN flash TEXT;
CREATE INDEX sessions_expiry ON sessions(expires_at);
CREATE TABLE recovery_codes (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at INTEGER
);
CREATE INDEX recovery_codes_user ON recovery_codes(user_id);
CREATE TABLE security_alerts (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    topic_kind TEXT NOT NULL,
    body TEXT NOT NULL,
    published_at INTEGER
);
CREATE INDEX security_alerts_pending ON security_alerts(published_at)
"""


def encrypt_clear_secrets(conn: Connection, keys: Keys) -> int:
    """Encrypt TOTP secrets stored in clear by earlier versions; return how many."""
    rows = conn.execute("SELECT id, totp_secret FROM users WHERE totp_secret IS NOT NULL")
    clear = [
        (keys.encrypt(r["totp_secret"]), r["id"])
        for r in rows
        if not is_encrypted(r["totp_secret"])
    ]
    conn.executemany("UPDATE users SET totp_secret = ? WHERE id = ?", clear)
    return len(clear)
