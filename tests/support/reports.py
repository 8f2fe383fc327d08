"""Test data for the reporter: a web database with people, shares and record tables, and history.

The record tables (blood tests, advice, notes, questionnaire, habits) are created
in the shape docs/reports.md gives, as the web's migrations make them.
"""

import math
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from services.web import db as webdb

RECORD_TABLES = """
CREATE TABLE IF NOT EXISTS blood_tests (
    id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    taken_at INTEGER NOT NULL, test TEXT NOT NULL, value REAL NOT NULL, unit TEXT NOT NULL,
    ref_low REAL, ref_high REAL, note TEXT, entered_by INTEGER REFERENCES users(id));
CREATE TABLE IF NOT EXISTS doctor_advice (
    id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    doctor_id INTEGER REFERENCES users(id), area TEXT NOT NULL, advice TEXT NOT NULL,
    updated_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS doctor_notes (
    id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    doctor_id INTEGER REFERENCES users(id), note TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS questionnaire_answers (
    id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    question_key TEXT NOT NULL, question TEXT NOT NULL, answer TEXT NOT NULL,
    answered_at INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS habits (
    id INTEGER PRIMARY KEY, patient_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day TEXT NOT NULL, habit TEXT NOT NULL, value REAL NOT NULL, unit TEXT NOT NULL)
"""

PATIENT_NAME = "Zoë Ångström-Σοφία"
BLOOD_TESTS = [
    ("Total Cholesterol", 5.9, "mmol/L", None, 5.2),
    ("HDL-C", 1.3, "mmol/L", 1.0, None),
    ("Glucose", 5.1, "mmol/L", 3.9, 5.6),
    ("HbA1c", 6.1, "%", 4.0, 5.6),
    ("Potassium", 3.2, "mmol/L", 3.5, 5.1),
    ("eGFR", 92, "mL/min/1.73m²", 90, None),
]


def _user(conn, role: str, display_name: str, username=None, dr_id=None) -> int:
    cur = conn.execute(
        "INSERT INTO users (role, username, dr_id, display_name, password_hash, created_at)"
        " VALUES (?, ?, ?, ?, 'not-a-hash', ?)",
        (role, username, dr_id, display_name, int(time.time())),
    )
    return cur.lastrowid


def make_people(data_dir: Path, with_record: bool = True) -> dict[str, int]:
    """alice (patient, shares with D100), bob (patient), D100 and D200 (doctors): their ids.

    Rows go in with SQL on the web's own migrated schema (services/web/db.py), which
    is the contract the reporter reads, rather than through the web's account code.
    """
    path = data_dir / "web.sqlite3"
    webdb.migrate(path)
    conn = webdb.connect(path)
    try:
        ids = {
            "alice": _user(conn, "patient", PATIENT_NAME, username="alice"),
            "bob": _user(conn, "patient", "Борис Петров", username="bob"),
            "D100": _user(conn, "doctor", "Dr Amara Okafor", dr_id="D100"),
            "D200": _user(conn, "doctor", "Dr Lin Wei", dr_id="D200"),
        }
        conn.execute(
            "INSERT INTO shares (patient_id, doctor_id, created_at) VALUES (?, ?, ?)",
            (ids["alice"], ids["D100"], int(time.time())),
        )
        for device, owner in (("wch-a", "alice"), ("cab-a", "alice"), ("wch-b", "bob")):
            conn.execute(
                "INSERT INTO devices (device_id, patient_id, assigned_at) VALUES (?, ?, ?)",
                (device, ids[owner], int(time.time())),
            )
        if with_record:
            add_record(conn, ids["alice"], ids["D100"])
    finally:
        conn.close()
    return ids


def add_record(conn, patient_id: int, doctor_id: int) -> None:
    """Blood tests, advice, a note, questionnaire answers and a week of habits."""
    for statement in RECORD_TABLES.split(";"):
        conn.execute(statement)
    now = int(time.time())
    for test, value, unit, low, high in BLOOD_TESTS:
        conn.execute(
            "INSERT INTO blood_tests (patient_id, taken_at, test, value, unit, ref_low, ref_high)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (patient_id, now - 5 * 86400, test, value, unit, low, high),
        )
    for area, text in [
        ("Cardiovascular", "Walk 30 minutes a day; keep salt under 5 g."),
        ("Glucose", "HbA1c is above range: fewer sweet snacks, recheck in 3 months."),
        ("Diet", "More vegetables; limit Nutella and Pringles to weekends."),
    ]:
        conn.execute(
            "INSERT INTO doctor_advice (patient_id, doctor_id, area, advice, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (patient_id, doctor_id, area, text, now - 3 * 86400),
        )
    conn.execute(
        "INSERT INTO doctor_notes (patient_id, doctor_id, note, created_at) VALUES (?, ?, ?, ?)",
        (patient_id, doctor_id, "Mild fever on Tuesday resolved; no action needed.", now - 86400),
    )
    for key, question, answer in [
        ("sleep", "How many hours of sleep do you typically get per night?", "About 7 hours."),
        ("exercise", "How often do you exercise?", "Three times a week, swimming."),
        ("medications", "Which medications do you take?", "Vitamin D, 1000 IU daily."),
    ]:
        conn.execute(
            "INSERT INTO questionnaire_answers (patient_id, question_key, question, answer,"
            " answered_at) VALUES (?, ?, ?, ?, ?)",
            (patient_id, key, question, answer, now - 2 * 86400),
        )
    today = datetime.now(UTC).date()
    for back in range(7):
        day = (today - timedelta(days=back)).isoformat()
        conn.execute(
            "INSERT INTO habits (patient_id, day, habit, value, unit) VALUES (?, ?, ?, ?, ?)",
            (patient_id, day, "Sleep", 7 + (back % 3) * 0.5, "h"),
        )
        conn.execute(
            "INSERT INTO habits (patient_id, day, habit, value, unit) VALUES (?, ?, ?, ?, ?)",
            (patient_id, day, "Exercise", 20 + back * 5, "min"),
        )


def history_lines(patient: str, days: int, end: datetime, every_s: int = 300) -> list[str]:
    """``days`` of history as line protocol, like the scheduler's default schedule makes it.

    Heart rate and temperature (what the watch answers to ``bpm``) every ``every_s``
    seconds with a few flagged, SpO2 and blood pressure every tenth time, partial
    scores, some alerts, and the cabinet's inventory every twelfth time.
    """
    rng = random.Random(7)
    lines = []
    start_ms = int((end - timedelta(days=days)).timestamp() * 1000)
    end_ms = int(end.timestamp() * 1000)
    t = start_ms
    i = 0
    stock = {"Nutella": 10, "Pepsi": 12, "Pringles": 8}
    while t < end_ms:
        hour = (t // 3_600_000) % 24
        daily = math.sin(hour / 24 * 2 * math.pi)
        values = {
            "heart_rate": 72 + 8 * daily + rng.uniform(-6, 6),
            "temperature": 36.7 + 0.3 * daily + rng.uniform(-0.2, 0.2),
            "spo2": min(100.0, 97 + rng.uniform(-2, 2)),
            "bp_systolic": 122 + 6 * daily + rng.uniform(-8, 8),
            "bp_diastolic": 79 + 4 * daily + rng.uniform(-5, 5),
        }
        for k, (metric, value) in enumerate(values.items()):
            if k >= 2 and i % 10:
                continue
            device = "wch-a"
            flagged = metric == "heart_rate" and i % 97 == 13
            if flagged:
                value = 0.0
                extra = ',reason="heart rate of 0 (no pulse detected, sensor not worn?)"'
            else:
                extra = ""
            lines.append(
                f"vitals,device={device},metric={metric},patient={patient}"
                f" flagged={'true' if flagged else 'false'},value={value:.2f}{extra} {t + k}"
            )
        score = 0 if values["heart_rate"] < 91 else 1
        if i % 200 == 50:
            score = 5
            lines.append(
                f"alerts,device=wch-a,key=news2_partial,kind=news2_partial,level=warning,"
                f'patient={patient} message="partial NEWS2 score 5 (medium)",value=5 {t + 9}'
            )
        lines.append(
            f'news2_partial,device=wch-a,patient={patient} score={score}i,risk="low",'
            f'label="partial" {t + 5}'
        )
        if i % 12 == 0:
            for item in stock:
                if rng.random() < 0.15 and stock[item] > 0:
                    stock[item] -= 1
                if stock[item] == 0:
                    stock[item] = 12  # restocked
            for item, count in stock.items():
                lines.append(
                    f"inventory,device=cab-a,item={item},patient={patient} count={count}i {t + 7}"
                )
        t += every_s * 1000
        i += 1
    return lines
