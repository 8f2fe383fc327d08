"""Read-only access to the web service's database: the reporter's only SQL.

The web owns that database and creates every table at start with its numbered
migrations (services/web/db.py); the reporter opens it read only to find
patients, their devices and doctors, check shares, and read the health record.
It reads the tables as those migrations define them, and refuses, saying so, a
database the web has not migrated that far. docs/reports.md lists the columns read.
"""

import os
from datetime import datetime
from pathlib import Path

from services.common.database import Database, DatabaseError, MissingTable, Row
from services.common.medication import store

from .errors import DirectoryUnavailable
from .medication_data import medication_adherence, medication_doses
from .model import Advice, Answer, BloodTest, Habit, Note, Patient, Period

# The web's migration that adds the health record tables: the oldest schema readable here.
WEB_SCHEMA_VERSION = 2
NOT_MIGRATED = (
    "the web database {path} is not migrated (schema version {found}, the reporter needs"
    " {needed} or later): start the web service once, it migrates its database at start"
)


def _s(moment: datetime) -> int:
    return int(moment.timestamp())


class WebDirectory:
    """One read-only connection to the web's database; use as a context manager."""

    def __init__(self, target: Database | Path) -> None:
        database = Database.of(target, read_only=True)
        path = database.describe()
        if database.path is not None and not database.path.is_file():
            raise DirectoryUnavailable(f"the web database {path} does not exist")
        self._conn = None
        try:
            self._conn = database.connect()
            found = self._schema_version()
        except DatabaseError as exc:
            if self._conn is not None:
                self._conn.close()
            hint = ""
            if database.path is not None and not os.access(database.path.parent, os.W_OK):
                # A WAL database is readable from a read-only folder only while its -wal and
                # -shm files exist, which the running web service keeps.
                hint = " (its folder is read only here: is the web service running?)"
            raise DirectoryUnavailable(
                f"the web database {path} cannot be read: {exc}{hint}"
            ) from exc
        if found < WEB_SCHEMA_VERSION:
            self._conn.close()
            raise DirectoryUnavailable(
                NOT_MIGRATED.format(path=path, found=found, needed=WEB_SCHEMA_VERSION)
            )

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> "WebDirectory":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _rows(self, sql: str, args: tuple = ()) -> list[Row]:
        try:
            return self._conn.execute(sql, args).fetchall()
        except DatabaseError as exc:
            raise DirectoryUnavailable(f"the web database could not answer: {exc}") from exc

    def _schema_version(self) -> int:
        """The newest web migration applied; 0 for a database the web never migrated."""
        try:
            row = self._conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        except MissingTable:
            return 0
        return row[0] or 0

    # --- people, devices, shares ---

    def _patient_id(self, username: str) -> int | None:
        rows = self._rows(
            "SELECT id FROM users WHERE username = ? AND role = 'patient' AND disabled = 0",
            (username,),
        )
        return rows[0]["id"] if rows else None

    def patient(self, username: str) -> Patient | None:
        rows = self._rows(
            "SELECT id, display_name FROM users"
            " WHERE username = ? AND role = 'patient' AND disabled = 0",
            (username,),
        )
        if not rows:
            return None
        devices = self._rows(
            "SELECT device_id FROM devices WHERE patient_id = ? ORDER BY device_id",
            (rows[0]["id"],),
        )
        return Patient(username, rows[0]["display_name"], tuple(d["device_id"] for d in devices))

    def has_share(self, username: str, dr_id: str) -> bool:
        rows = self._rows(
            "SELECT 1 FROM shares s JOIN users p ON p.id = s.patient_id"
            " JOIN users d ON d.id = s.doctor_id"
            " WHERE p.username = ? AND p.role = 'patient' AND p.disabled = 0"
            " AND d.dr_id = ? AND d.role = 'doctor' AND d.disabled = 0",
            (username, dr_id),
        )
        return bool(rows)

    def doctors_of(self, username: str) -> list[tuple[str, str]]:
        """``(dr_id, display name)`` of every enabled doctor the patient shares with."""
        rows = self._rows(
            "SELECT d.dr_id, d.display_name FROM shares s JOIN users p ON p.id = s.patient_id"
            " JOIN users d ON d.id = s.doctor_id WHERE p.username = ? AND p.disabled = 0"
            " AND d.role = 'doctor' AND d.disabled = 0 ORDER BY d.dr_id",
            (username,),
        )
        return [(r["dr_id"], r["display_name"]) for r in rows]

    def shared_patients(self) -> list[str]:
        """Enabled patients who share with at least one enabled doctor (weekly reports)."""
        rows = self._rows(
            "SELECT DISTINCT p.username FROM shares s JOIN users p ON p.id = s.patient_id"
            " JOIN users d ON d.id = s.doctor_id WHERE p.role = 'patient' AND p.disabled = 0"
            " AND d.role = 'doctor' AND d.disabled = 0 ORDER BY p.username"
        )
        return [r["username"] for r in rows]

    # --- health record sections, as of the period's end ---

    def blood_tests(self, username: str, period: Period) -> tuple[BloodTest, ...]:
        """The latest result of each test taken before the period's end."""
        pid = self._patient_id(username)
        if pid is None:
            return ()
        rows = self._rows(
            "SELECT b.* FROM blood_tests b WHERE b.patient_id = ? AND b.taken_at < ?"
            " AND b.taken_at = (SELECT MAX(taken_at) FROM blood_tests c"
            "  WHERE c.patient_id = b.patient_id AND c.test = b.test AND c.taken_at < ?)"
            " ORDER BY b.id",
            (pid, _s(period.end), _s(period.end)),
        )
        return tuple(
            BloodTest(
                r["taken_at"] * 1000,
                r["test"],
                float(r["value"]),
                r["unit"],
                r["ref_low"],
                r["ref_high"],
                r["note"],
            )
            for r in rows
        )

    def advice(self, username: str, period: Period) -> tuple[Advice, ...]:
        """The newest advice per area given before the period's end."""
        pid = self._patient_id(username)
        if pid is None:
            return ()
        rows = self._rows(
            "SELECT a.area, a.advice, a.updated_at, u.display_name AS doctor"
            " FROM doctor_advice a LEFT JOIN users u ON u.id = a.doctor_id"
            " WHERE a.patient_id = ? AND a.updated_at < ?"
            " AND a.updated_at = (SELECT MAX(updated_at) FROM doctor_advice b"
            "  WHERE b.patient_id = a.patient_id AND b.area = a.area AND b.updated_at < ?)"
            " ORDER BY a.id",
            (pid, _s(period.end), _s(period.end)),
        )
        return tuple(
            Advice(r["area"], r["advice"], r["doctor"], r["updated_at"] * 1000) for r in rows
        )

    def notes(self, username: str, period: Period, limit: int = 10) -> tuple[Note, ...]:
        """The newest notes written before the period's end."""
        pid = self._patient_id(username)
        if pid is None:
            return ()
        rows = self._rows(
            "SELECT n.note, n.created_at, u.display_name AS doctor FROM doctor_notes n"
            " LEFT JOIN users u ON u.id = n.doctor_id WHERE n.patient_id = ?"
            " AND n.created_at < ? ORDER BY n.created_at DESC LIMIT ?",
            (pid, _s(period.end), limit),
        )
        return tuple(Note(r["note"], r["doctor"], r["created_at"] * 1000) for r in rows)

    def questionnaire(self, username: str, period: Period) -> tuple[Answer, ...]:
        """The newest answer to each question given before the period's end."""
        pid = self._patient_id(username)
        if pid is None:
            return ()
        rows = self._rows(
            "SELECT q.question, q.answer, q.answered_at FROM questionnaire_answers q"
            " WHERE q.patient_id = ? AND q.answered_at < ?"
            " AND q.answered_at = (SELECT MAX(answered_at) FROM questionnaire_answers r"
            "  WHERE r.patient_id = q.patient_id AND r.question_key = q.question_key"
            "  AND r.answered_at < ?) ORDER BY q.id",
            (pid, _s(period.end), _s(period.end)),
        )
        return tuple(Answer(r["question"], r["answer"], r["answered_at"] * 1000) for r in rows)

    def medications(self, username: str, period: Period, default_tz: str):
        """Each medication's adherence over the period; None before the medication tables."""
        pid = self._patient_id(username)
        if pid is None or self._schema_version() < 5:
            return None
        try:
            return medication_adherence(self._conn, pid, period, default_tz)
        except DatabaseError as exc:
            raise DirectoryUnavailable(f"the medication list cannot be read: {exc}") from exc

    def medication_doses(self, username: str, period: Period, default_tz: str):
        """(medications, scheduled doses, zone) for the exports; None before those tables."""
        pid = self._patient_id(username)
        if pid is None or self._schema_version() < 5:
            return None
        try:
            return medication_doses(self._conn, pid, period, default_tz)
        except DatabaseError as exc:
            raise DirectoryUnavailable(f"the medication list cannot be read: {exc}") from exc

    def timezone(self, username: str, default: str) -> str:
        """The patient's own time zone, else ``default``: their report's days follow it."""
        pid = self._patient_id(username)
        if pid is None or self._schema_version() < 5:
            return default
        try:
            return store.timezone_of(self._conn, pid, default)
        except DatabaseError as exc:
            raise DirectoryUnavailable(f"the patient's time zone cannot be read: {exc}") from exc

    def habits(self, username: str, period: Period, tz) -> tuple[Habit, ...]:
        """Per habit over the period's days (local dates): days recorded, mean and total."""
        pid = self._patient_id(username)
        if pid is None:
            return ()
        first = period.start.astimezone(tz).date().isoformat()
        last = period.end.astimezone(tz).date().isoformat()
        rows = self._rows(
            "SELECT habit, unit, COUNT(DISTINCT day) AS days, AVG(value) AS mean,"
            " SUM(value) AS total FROM habits WHERE patient_id = ? AND day >= ? AND day < ?"
            " GROUP BY habit, unit ORDER BY habit",
            (pid, first, last),
        )
        return tuple(
            Habit(r["habit"], r["unit"], r["days"], float(r["mean"]), float(r["total"]))
            for r in rows
        )
