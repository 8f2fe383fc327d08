"""The doctor-written health record: blood tests, advice per area and notes."""

import time
from datetime import UTC, date, datetime

from services.common import labs, metrics
from services.common.database import Connection
from services.common.metrics import range_flag

from .errors import FieldError, ValidationError

# The standard panel, its units, ranges and decimals: services/common/labs.py (the reporter
# reads the same table).
TESTS = labs.TESTS
BY_KEY = labs.BY_KEY
BY_NAME = labs.BY_NAME
TestKind = labs.TestKind

AREAS = (
    "Cardiovascular",
    "Glucose",
    "Diet",
    "Exercise",
    "Mental",
    "Respiratory",
    "Digestive",
    "Bone Health",
    "Immunizations",
)
MAX_TEXT = 4000


def flag(value: float, low: float | None, high: float | None) -> str | None:
    """``low``, ``high`` or None when the value is inside its reference range."""
    return range_flag(value, low, high)


def range_text(low: float | None, high: float | None) -> str:
    return metrics.range_text(low, high)


def _day(text: str) -> int:
    """A sample date (YYYY-MM-DD) as Unix seconds at noon UTC; never in the future."""
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise FieldError("taken_on", "Enter the date the sample was taken.") from None
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    if day > datetime.now(UTC).date():
        raise FieldError("taken_on", "The sample date cannot be in the future.")
    if day.year < 1900:
        raise FieldError("taken_on", "The sample date is too long ago; check the year.")
    return int(moment.timestamp())


def parse_results(form, units: str = labs.SI) -> tuple[int, list[tuple[TestKind, float]]]:
    """The sample date and each test with a value typed in (``value_<key>``), stored in SI.

    Values are typed in the doctor's own units (``labs.Shown``) and converted.
    """
    taken_at = _day(form.get("taken_on", ""))
    out = []
    for kind in TESTS:
        text = (form.get(f"value_{kind.key}") or "").strip()
        if not text:
            continue
        field = f"value_{kind.key}"
        try:
            value = float(text)
        except ValueError:
            raise FieldError(field, f"{kind.name}: {text!r} is not a number.") from None
        if not 0 <= value < 100_000:
            raise FieldError(field, f"{kind.name}: {value:g} is not a plausible result.")
        out.append((kind, kind.shown(units).to_si(value)))
    if not out:
        raise FieldError("value_" + TESTS[0].key, "Enter at least one result.")
    return taken_at, out


def add_results(conn, patient_id, doctor_id, taken_at, results, note: str | None = None) -> int:
    now = int(time.time())
    for kind, value in results:
        conn.execute(
            "INSERT INTO blood_tests (patient_id, taken_at, test, value, unit, ref_low, ref_high,"
            " note, entered_by, entered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (patient_id, taken_at, kind.name, value, kind.unit, kind.low, kind.high, note,
             doctor_id, now),
        )  # fmt: skip
    return len(results)


def blood_panel(conn: Connection, patient_id: int, units: str = labs.SI) -> list[dict]:
    """Per test of the standard list (then any other): its results oldest first, newest flagged.

    ``value`` and the ranges are as stored; ``shown``, ``shown_unit`` and ``shown_range``
    are in ``units`` (``si`` or ``conventional``).
    """
    rows = conn.execute(
        "SELECT * FROM blood_tests WHERE patient_id = ? ORDER BY taken_at, id", (patient_id,)
    ).fetchall()
    by_test: dict[str, list] = {}
    for r in rows:
        by_test.setdefault(r["test"], []).append(r)
    order = [t.name for t in TESTS] + sorted(set(by_test) - {t.name for t in TESTS})
    panel = []
    for name in order:
        found = by_test.get(name)
        if not found:
            continue
        last = found[-1]
        kind = BY_NAME.get(name)
        # A row in a unit other than the table's (typed by hand elsewhere) is shown as stored.
        view = kind.shown(units) if kind and last["unit"] == kind.unit else None
        shown = view.format if view else (lambda v: f"{v:g}")
        history = [
            {"taken_at": r["taken_at"], "value": r["value"], "shown": shown(r["value"]),
             "flag": flag(r["value"], r["ref_low"], r["ref_high"])}
            for r in found
        ]  # fmt: skip
        trend = None
        if len(found) > 1:
            before = found[-2]["value"]
            trend = "up" if last["value"] > before else "down" if last["value"] < before else "same"
        panel.append(
            {
                "test": name,
                "value": last["value"],
                "shown": shown(last["value"]),
                "unit": last["unit"],
                "shown_unit": view.unit if view else last["unit"],
                "taken_at": last["taken_at"],
                "range": range_text(last["ref_low"], last["ref_high"]),
                "shown_range": (
                    view.range_text(last["ref_low"], last["ref_high"])
                    if view
                    else range_text(last["ref_low"], last["ref_high"])
                ),
                "flag": flag(last["value"], last["ref_low"], last["ref_high"]),
                "trend": trend,
                "history": history,
                "spark": _spark([r["value"] for r in found]),
            }
        )
    return panel


def _spark(values: list[float], width: int = 96, height: int = 24) -> str:
    """SVG polyline points for a small trend line across visits."""
    if len(values) < 2:
        return ""
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    step = width / (len(values) - 1)
    return " ".join(
        f"{i * step:.1f},{height - 2 - (v - low) / span * (height - 4):.1f}"
        for i, v in enumerate(values)
    )


def _text(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError(f"Write the {what} first.")
    if len(value) > MAX_TEXT:
        raise ValidationError(f"The {what} is longer than {MAX_TEXT} characters.")
    return value


def add_advice(conn, patient_id: int, doctor_id: int, area: str, advice: str) -> None:
    if area not in AREAS:
        raise ValidationError("Choose an area.")
    conn.execute(
        "INSERT INTO doctor_advice (patient_id, doctor_id, area, advice, updated_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (patient_id, doctor_id, area, _text(advice, "advice"), int(time.time())),
    )


def advice(conn: Connection, patient_id: int) -> list[dict]:
    """The newest advice per area, in the dashboard's order; areas without advice included."""
    rows = conn.execute(
        "SELECT a.area, a.advice, a.updated_at, u.display_name AS doctor FROM doctor_advice a"
        " LEFT JOIN users u ON u.id = a.doctor_id WHERE a.patient_id = ?"
        " ORDER BY a.updated_at, a.id",
        (patient_id,),
    )
    newest = {r["area"]: dict(r) for r in rows}
    return [newest.get(area) or {"area": area, "advice": None} for area in AREAS]


def add_note(conn, patient_id: int, doctor_id: int, note: str) -> None:
    conn.execute(
        "INSERT INTO doctor_notes (patient_id, doctor_id, note, created_at) VALUES (?, ?, ?, ?)",
        (patient_id, doctor_id, _text(note, "note"), int(time.time())),
    )


def notes(conn: Connection, patient_id: int, limit: int = 10) -> list[dict]:
    rows = conn.execute(
        "SELECT n.note, n.created_at, u.display_name AS doctor FROM doctor_notes n"
        " LEFT JOIN users u ON u.id = n.doctor_id WHERE n.patient_id = ?"
        " ORDER BY n.created_at DESC, n.id DESC LIMIT ?",
        (patient_id, limit),
    )
    return [dict(r) for r in rows]


def changes_since(conn: Connection, patient_id: int, since: int) -> dict[str, int]:
    """What arrived after ``since`` (Unix seconds): blood test results, questionnaire
    answers, and the days habits were logged for (a day's habits count once)."""

    def count(sql: str) -> int:
        return conn.execute(sql, (patient_id, since)).fetchone()[0]

    return {
        "blood_tests": count(
            "SELECT COUNT(*) FROM blood_tests WHERE patient_id = ? AND entered_at > ?"
        ),
        "answers": count(
            "SELECT COUNT(*) FROM questionnaire_answers WHERE patient_id = ? AND answered_at > ?"
        ),
        "habit_days": count(
            "SELECT COUNT(DISTINCT day) FROM habits WHERE patient_id = ? AND logged_at > ?"
        ),
    }
