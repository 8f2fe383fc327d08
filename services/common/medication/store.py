"""The medication list, its change log, each patient's time zone and the doses: the SQL."""

import time
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import date

from services.common.database import Connection, Row

from . import MedicationError
from .schedule import Schedule, format_days, format_times, parse_days, parse_times, zone

MAX_NAME = 120
MAX_ITEM = 64
MAX_WINDOW_MIN = 720.0
CLI_ACTOR = "admin (command line)"


@dataclass(frozen=True)
class Medication:
    """One row of ``medications``: what, how much, when, and where in the cabinet."""

    id: int
    patient_id: int
    name: str
    dose: float
    times: str
    window_s: int
    days: str
    start_date: str | None
    end_date: str | None
    item: str
    stock: float | None
    refill_alerted: int
    created_at: int
    removed_at: int | None

    def schedule(self, tz_name: str) -> Schedule:
        return Schedule(
            times=parse_times(self.times),
            window_s=self.window_s,
            tz=zone(tz_name),
            days=parse_days(self.days),
            start=date.fromisoformat(self.start_date) if self.start_date else None,
            end=date.fromisoformat(self.end_date) if self.end_date else None,
        )

    @property
    def window_min(self) -> float:
        return self.window_s / 60


_COLUMNS = ", ".join(f.name for f in fields(Medication))
# what a person may set, in the order the change log names them
EDITABLE = ("name", "dose", "times", "window_s", "days", "start_date", "end_date", "item", "stock")


def _row(row) -> Medication:
    return Medication(**{f.name: row[f.name] for f in fields(Medication)})


def _number(text, what: str, low: float, high: float | None = None) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError) as exc:
        raise MedicationError(f"{what} is a number") from exc
    if value < low or (high is not None and value > high) or value != value:
        limit = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise MedicationError(f"{what} must be {limit}")
    return value


def _date(text: str | None, what: str) -> str | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise MedicationError(f"{what} is a date, YYYY-MM-DD") from exc


def clean(form: Mapping[str, str], partial: bool = False) -> dict:
    """Validated columns from a form or the CLI (``window`` in minutes); ``partial``: given only."""
    out: dict = {}

    def given(key: str) -> bool:
        return not partial or (form.get(key) not in (None, ""))

    if given("name"):
        name = (form.get("name") or "").strip()
        if not name or len(name) > MAX_NAME:
            raise MedicationError(f"name and strength: 1 to {MAX_NAME} characters")
        out["name"] = name
    if given("dose"):
        out["dose"] = _number(form.get("dose") or "1", "dose", 0.01, 1000)
    if given("times"):
        out["times"] = format_times(parse_times(form.get("times") or ""))
    if given("window"):
        minutes = _number(form.get("window") or "60", "window (minutes)", 0.05, MAX_WINDOW_MIN)
        out["window_s"] = max(3, round(minutes * 60))
    if given("days"):
        out["days"] = format_days(parse_days(form.get("days") or ""))
    for key, what in (("start_date", "start date"), ("end_date", "end date")):
        if given(key):
            out[key] = _date((form.get(key) or "").strip(), what)
    if out.get("start_date") and out.get("end_date") and out["end_date"] < out["start_date"]:
        raise MedicationError("the end date is before the start date")
    if given("item"):
        item = (form.get("item") or "").strip()
        if not item or len(item) > MAX_ITEM:
            raise MedicationError(f"cabinet item: 1 to {MAX_ITEM} characters")
        out["item"] = item
    if given("stock"):
        stock = (form.get("stock") or "").strip()
        out["stock"] = _number(stock, "stock", 0, 100000) if stock else None
    return out


def _log(conn, patient_id, med_id, actor_id, actor, action, detail) -> None:
    conn.execute(
        "INSERT INTO medication_changes"
        " (medication_id, patient_id, actor_id, actor, at, action, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (med_id, patient_id, actor_id, actor, int(time.time()), action, detail),
    )


def _describe(values: Mapping) -> str:
    shown = {"window_s": "window"}
    parts = []
    for key in EDITABLE:
        if key in values:
            value = values[key]
            if key == "window_s":
                value = f"{value / 60:g} min"
            parts.append(f"{shown.get(key, key)} {'-' if value in (None, '') else value}")
    return "; ".join(parts)


def add(conn: Connection, patient_id: int, values: Mapping, actor_id, actor: str):
    """Add a medication (``values`` from ``clean``) and log who did."""
    required = {"name", "times", "item"}
    if not required <= values.keys():
        raise MedicationError("name, times and cabinet item are needed")
    row = {"dose": 1.0, "window_s": 3600, "days": "", **values}
    columns = ", ".join(row)
    new_id = conn.insert(
        f"INSERT INTO medications (patient_id, created_at, {columns})"
        f" VALUES (?, ?, {', '.join('?' * len(row))})",
        (patient_id, int(time.time()), *row.values()),
    )
    _log(conn, patient_id, new_id, actor_id, actor, "added", _describe(row))
    return get(conn, patient_id, new_id)


def update(conn, patient_id: int, med_id: int, values: Mapping, actor_id, actor: str):
    """Change what ``values`` gives; log each field that changed, before and after."""
    med = get(conn, patient_id, med_id)
    changed = {k: v for k, v in values.items() if getattr(med, k) != v}
    if not changed:
        return med
    sets = ", ".join(f"{k} = ?" for k in changed)
    extra = ", refill_alerted = 0" if "stock" in changed else ""  # a refill re-arms the alert
    conn.execute(f"UPDATE medications SET {sets}{extra} WHERE id = ?", (*changed.values(), med_id))
    before = {k: getattr(med, k) for k in changed}
    detail = f"{_describe(before)} -> {_describe(changed)}"
    _log(conn, patient_id, med_id, actor_id, actor, "changed", detail)
    return get(conn, patient_id, med_id)


def remove(conn, patient_id: int, med_id: int, actor_id, actor: str) -> Medication:
    """Stop a medication; its doses stay in the record."""
    med = get(conn, patient_id, med_id)
    conn.execute("UPDATE medications SET removed_at = ? WHERE id = ?", (int(time.time()), med_id))
    _log(conn, patient_id, med_id, actor_id, actor, "removed", med.name)
    return med


def get(conn, patient_id: int, med_id: int) -> Medication:
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM medications WHERE id = ? AND patient_id = ?",
        (med_id, patient_id),
    ).fetchone()
    if row is None or row["removed_at"] is not None:
        raise MedicationError("no such medication")
    return _row(row)


def listed(conn, patient_id: int, removed: bool = False) -> list[Medication]:
    """The patient's medications (and, with ``removed``, the stopped ones too)."""
    where = "" if removed else " AND removed_at IS NULL"
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM medications WHERE patient_id = ?{where} ORDER BY name, id",
        (patient_id,),
    )
    return [_row(r) for r in rows]


def everyone(conn) -> list[Medication]:
    """Every current medication of every patient (the tracker's round)."""
    rows = conn.execute(f"SELECT {_COLUMNS} FROM medications WHERE removed_at IS NULL")
    return [_row(r) for r in rows]


def changes(conn, patient_id: int, limit: int = 50) -> list[Row]:
    """Who changed what and when, newest first, with the medication's name."""
    return conn.execute(
        "SELECT c.at, c.actor, c.action, c.detail, m.name FROM medication_changes c"
        " LEFT JOIN medications m ON m.id = c.medication_id"
        " WHERE c.patient_id = ? ORDER BY c.at DESC, c.id DESC LIMIT ?",
        (patient_id, limit),
    ).fetchall()


def timezone_of(conn, patient_id: int, default: str) -> str:
    row = conn.execute(
        "SELECT timezone FROM patient_settings WHERE patient_id = ?", (patient_id,)
    ).fetchone()
    return row["timezone"] if row and row["timezone"] else default


def set_timezone(conn, patient_id: int, name: str, actor_id, actor: str) -> str:
    """The patient's own time zone (``""``: the deployment's), logged like a change."""
    name = name.strip()
    if name:
        zone(name)
    conn.execute(
        "INSERT INTO patient_settings (patient_id, timezone) VALUES (?, ?)"
        " ON CONFLICT(patient_id) DO UPDATE SET timezone = excluded.timezone",
        (patient_id, name or None),
    )
    _log(conn, patient_id, None, actor_id, actor, "time zone", name or "deployment default")
    return name
