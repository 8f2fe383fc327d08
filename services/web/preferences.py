"""Each person's own settings: when they signed in before, their time zone and their units.

The time zone is the one the medication schedule already keeps per patient
(``patient_settings``, ``services/common/medication/store.py``); every role's account
keeps its own there too, so a doctor reads times in theirs.
"""

import time
from dataclasses import dataclass

from services.common.database import Connection
from services.common.medication import MedicationError, schedule, store

from .errors import ValidationError

MIGRATION = """
ALTER TABLE users ADD COLUMN last_sign_in INTEGER;
ALTER TABLE users ADD COLUMN previous_sign_in INTEGER;
ALTER TABLE users ADD COLUMN temperature_unit TEXT NOT NULL DEFAULT 'C'
    CHECK (temperature_unit IN ('C', 'F'));
ALTER TABLE users ADD COLUMN lab_units TEXT NOT NULL DEFAULT 'si'
    CHECK (lab_units IN ('si', 'conventional'))
"""
TEMPERATURE_UNITS = {"C": "°C", "F": "°F"}
LAB_UNITS = {"si": "mmol/L and µmol/L (SI)", "conventional": "mg/dL (conventional)"}


@dataclass(frozen=True)
class Preferences:
    """What the pages need to show one person's values and times their way."""

    timezone: str | None  # None: not chosen (pages show UTC, the browser its own clock)
    temperature_unit: str = "C"
    lab_units: str = "si"


def temperature_symbol(prefs: "Preferences | None") -> str:
    return TEMPERATURE_UNITS[prefs.temperature_unit] if prefs else "°C"


def signed_in(conn: Connection, user_id: int) -> None:
    """Note a sign-in; the one before it says whether the person has been here before."""
    conn.execute(
        "UPDATE users SET previous_sign_in = last_sign_in, last_sign_in = ? WHERE id = ?",
        (int(time.time()), user_id),
    )


def been_before(conn: Connection, user_id: int) -> bool:
    row = conn.execute("SELECT previous_sign_in FROM users WHERE id = ?", (user_id,)).fetchone()
    return bool(row and row["previous_sign_in"])


def of(conn: Connection, user_id: int) -> Preferences:
    row = conn.execute(
        "SELECT temperature_unit, lab_units FROM users WHERE id = ?", (user_id,)
    ).fetchone()
    zone_name = store.timezone_of(conn, user_id, "") or None
    if row is None:
        return Preferences(zone_name)
    return Preferences(zone_name, row["temperature_unit"], row["lab_units"])


def set_units(conn: Connection, user_id: int, temperature: str, lab: str) -> None:
    if temperature not in TEMPERATURE_UNITS:
        raise ValidationError("Choose °C or °F for temperatures.")
    if lab not in LAB_UNITS:
        raise ValidationError("Choose how blood test results are shown.")
    conn.execute(
        "UPDATE users SET temperature_unit = ?, lab_units = ? WHERE id = ?",
        (temperature, lab, user_id),
    )


def set_timezone(conn: Connection, user, name: str) -> str:
    """The person's own time zone (empty: none chosen); a patient's also sets their doses'."""
    name = (name or "").strip()
    try:
        if user.role == "patient":
            # Logged like a change of the medication list, which it changes too.
            return store.set_timezone(conn, user.id, name, user.id, user.login)
        if name:
            schedule.zone(name)
    except MedicationError as exc:
        raise ValidationError(str(exc)) from exc
    conn.execute(
        "INSERT INTO patient_settings (patient_id, timezone) VALUES (?, ?)"
        " ON CONFLICT(patient_id) DO UPDATE SET timezone = excluded.timezone",
        (user.id, name or None),
    )
    return name
