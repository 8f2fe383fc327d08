"""The app database of users, sessions, shares and devices: migrations and connections."""

from pathlib import Path

from flask import Flask, current_app, g

from services.common import reminders
from services.common.database import POSTGRESQL, Connection, Database, IntegrityError
from services.common.medication import schema as medication_schema

from . import attention, auth_schema, carers, preferences, ratelimit, reports

# Append only: each entry runs once, in order, and its number is recorded in
# schema_version. Never edit an entry that has shipped; add a new one.
MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            role TEXT NOT NULL CHECK (role IN ('patient', 'doctor', 'admin')),
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
        CREATE TABLE sessions (
            id_hash TEXT PRIMARY KEY,
            user_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
            csrf TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        );
        CREATE INDEX sessions_user ON sessions(user_id);
        CREATE TABLE attempts (
            key TEXT NOT NULL,
            at INTEGER NOT NULL
        );
        CREATE INDEX attempts_key ON attempts(key, at);
        CREATE TABLE shares (
            patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            doctor_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (patient_id, doctor_id)
        );
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            actor_id INTEGER NOT NULL REFERENCES users(id),
            patient_id INTEGER NOT NULL REFERENCES users(id),
            action TEXT NOT NULL,
            path TEXT NOT NULL,
            ip TEXT
        );
        CREATE INDEX audit_patient ON audit(patient_id, at);
        CREATE TABLE devices (
            device_id TEXT PRIMARY KEY,
            patient_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            assigned_at INTEGER NOT NULL
        );
        CREATE TABLE password_resets (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            expires_at INTEGER NOT NULL
        );
        """,
    ),
    (
        2,
        # The health record (tables shaped as docs/reports.md says the reporter
        # reads them), questionnaire drafts, habit goals and the admin log.
        """
        CREATE TABLE blood_tests (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            taken_at INTEGER NOT NULL,
            test TEXT NOT NULL,
            value REAL NOT NULL,
            unit TEXT NOT NULL,
            ref_low REAL,
            ref_high REAL,
            note TEXT,
            entered_by INTEGER REFERENCES users(id),
            entered_at INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX blood_tests_patient ON blood_tests(patient_id, test, taken_at);
        CREATE TABLE doctor_advice (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            doctor_id INTEGER REFERENCES users(id),
            area TEXT NOT NULL,
            advice TEXT NOT NULL,
            updated_at INTEGER NOT NULL
        );
        CREATE INDEX doctor_advice_patient ON doctor_advice(patient_id, area, updated_at);
        CREATE TABLE doctor_notes (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            doctor_id INTEGER REFERENCES users(id),
            note TEXT NOT NULL,
            created_at INTEGER NOT NULL
        );
        CREATE INDEX doctor_notes_patient ON doctor_notes(patient_id, created_at);
        CREATE TABLE questionnaire_answers (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            question_key TEXT NOT NULL,
            question TEXT NOT NULL,
            answer TEXT NOT NULL,
            answered_at INTEGER NOT NULL
        );
        CREATE INDEX questionnaire_patient ON questionnaire_answers(patient_id, question_key);
        CREATE TABLE questionnaire_drafts (
            patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            question_key TEXT NOT NULL,
            answer TEXT NOT NULL,
            saved_at INTEGER NOT NULL,
            PRIMARY KEY (patient_id, question_key)
        );
        CREATE TABLE habits (
            id INTEGER PRIMARY KEY,
            patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            day TEXT NOT NULL,
            habit TEXT NOT NULL,
            value REAL NOT NULL,
            unit TEXT NOT NULL,
            logged_at INTEGER NOT NULL DEFAULT 0,
            UNIQUE (patient_id, day, habit)
        );
        CREATE TABLE habit_goals (
            patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            habit TEXT NOT NULL,
            target REAL NOT NULL,
            PRIMARY KEY (patient_id, habit)
        );
        CREATE TABLE admin_log (
            id INTEGER PRIMARY KEY,
            at INTEGER NOT NULL,
            actor_id INTEGER REFERENCES users(id),
            action TEXT NOT NULL,
            detail TEXT NOT NULL
        );
        """,
    ),
    (3, carers.MIGRATION),  # carer accounts and the care circle
    # 4: sign-in hardening (idle sessions, pending TOTP, recovery codes, security alerts).
    (auth_schema.NUMBER, auth_schema.SQL),
    # the medication list, its change log, patients' time zones, doses (docs/medications.md)
    (5, medication_schema.SCHEMA),
    # slots in the cabinets, the slots lit, the dose tracker's outbox, contacts' dose
    # reminders and notifications' expiry (docs/medications.md, docs/notifications.md)
    (6, medication_schema.MIGRATION_6 + ";" + reminders.SCHEMA),
    # which out-of-range readings and alerts the patient or their viewers acknowledged
    (7, attention.MIGRATION),
    # each person's sign-in times (first visit or back), temperature and lab units
    (8, preferences.MIGRATION),
    # sign-in attempts get their own key (SQLite's implicit rowid is not in PostgreSQL)
    (
        9,
        """
        CREATE TABLE attempts_new (id INTEGER PRIMARY KEY, key TEXT NOT NULL, at INTEGER NOT NULL);
        INSERT INTO attempts_new (key, at) SELECT key, at FROM attempts;
        DROP TABLE attempts;
        ALTER TABLE attempts_new RENAME TO attempts;
        CREATE INDEX attempts_key ON attempts(key, at)
        """,
    ),
    # the limits on costly actions, counted where every web instance sees them
    (10, ratelimit.MIGRATION),
    # report requests, so that any web instance follows one another sent
    (11, reports.MIGRATION),
]


# Where PostgreSQL needs other words than SQLite for a step (the column types differ
# everywhere, and database.ddl changes those).
POSTGRES_STEPS: dict[int, str] = {3: carers.POSTGRES_MIGRATION}


def connect(target: Database | Path | str, threads: bool = False) -> Connection:
    """Open the app database (a Database, a SQLite path or a postgresql:// URL)."""
    return Database.of(target).connect(threads)


def schema_version(conn: Connection) -> int:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) AS v FROM schema_version").fetchone()
    return row["v"] or 0


def _steps(conn: Connection) -> int:
    current = schema_version(conn)
    for number, script in MIGRATIONS:
        if number > current:
            if conn.dialect == POSTGRESQL:
                script = POSTGRES_STEPS.get(number, script)
            conn.script(script)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (number,))
            current = number
    return current


def migrate(target: Database | Path | str) -> int:
    """Bring the database up to the newest schema; return its version."""
    conn = connect(target)
    try:
        if conn.dialect == POSTGRESQL:
            # DDL is transactional there; the writer lock makes two instances that start
            # together migrate one after the other.
            with conn.transaction():
                return _steps(conn)
        # WAL lets the SSE and page threads read while a sign-in writes.
        conn.raw.execute("PRAGMA journal_mode = WAL")
        # Off while migrating, as SQLite's table rebuild needs (checked before commit).
        conn.raw.execute("PRAGMA foreign_keys = OFF")
        with conn.transaction():
            current = _steps(conn)
            broken = conn.execute("PRAGMA foreign_key_check").fetchall()
            if broken:
                raise IntegrityError(f"migration left broken references: {broken[:5]}")
        return current
    finally:
        conn.close()


def get_db() -> Connection:
    """The request's connection, opened on first use and closed at teardown."""
    if "db" not in g:
        pool = current_app.extensions.get("smartcab.pool")
        g.db = pool.connection() if pool is not None else connect(current_app.config["DATABASE"])
    return g.db


def _close(exc: BaseException | None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


def init_app(app: Flask) -> None:
    """Migrate the app's database and close each request's connection after it."""
    migrate(app.config["DATABASE"])
    app.teardown_appcontext(_close)
