"""Daily habits: the log, goals, streaks and the weekly view (snacks and vitals beside them)."""

import time
from dataclasses import dataclass
from datetime import date, timedelta

from services.common.database import Connection

from .errors import ValidationError


@dataclass(frozen=True)
class Habit:
    key: str
    name: str  # what the reporter shows and groups by
    unit: str
    most: float  # the largest value a day can sensibly hold
    goal: float
    at_least: bool  # the goal is a minimum (sleep) or a maximum (screen time)
    unit_one: str = ""  # the unit for exactly one ("1 drink"); the unit itself if empty

    def __post_init__(self) -> None:
        if not self.unit_one:
            object.__setattr__(self, "unit_one", self.unit)


HABITS = (
    Habit("sleep", "Sleep", "h", 24, 7, True),
    Habit("exercise", "Exercise", "min", 1440, 30, True),
    Habit("water", "Water", "glasses", 40, 8, True, "glass"),
    Habit("screen", "Screen time", "h", 24, 3, False),
    Habit("alcohol", "Alcohol", "drinks", 50, 1, False, "drink"),
    Habit("tobacco", "Tobacco", "cigarettes", 100, 0, False, "cigarette"),
)
BY_KEY = {h.key: h for h in HABITS}
BY_NAME = {h.name: h for h in HABITS}


def _day(text: str, today: date) -> date:
    try:
        day = date.fromisoformat((text or "").strip())
    except ValueError:
        raise ValidationError("Choose the day (YYYY-MM-DD).") from None
    if day > today or day < today - timedelta(days=366):
        raise ValidationError("Log a day within the last year, not in the future.")
    return day


def _value(habit: Habit, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValidationError(f"{habit.name}: {text!r} is not a number.") from None
    if not 0 <= value <= habit.most:
        raise ValidationError(f"{habit.name}: enter 0 to {habit.most:g} {habit.unit}.")
    return value


def log(conn: Connection, patient_id: int, form, today: date) -> tuple[date, int]:
    """Store the habits typed in for a day; a day's value is corrected, not duplicated."""
    day = _day(form.get("day", ""), today)
    values = []
    for habit in HABITS:
        text = (form.get(habit.key) or "").strip()
        if text:
            values.append((habit, _value(habit, text)))
    if not values:
        raise ValidationError("Enter at least one habit.")
    now = int(time.time())
    for habit, value in values:
        conn.execute(
            "INSERT INTO habits (patient_id, day, habit, value, unit, logged_at)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(patient_id, day, habit)"
            " DO UPDATE SET value = excluded.value, logged_at = excluded.logged_at",
            (patient_id, day.isoformat(), habit.name, value, habit.unit, now),
        )
    return day, len(values)


def goals(conn: Connection, patient_id: int) -> dict[str, float]:
    found = {h.key: h.goal for h in HABITS}
    for r in conn.execute(
        "SELECT habit, target FROM habit_goals WHERE patient_id = ?", (patient_id,)
    ):
        if r["habit"] in found:
            found[r["habit"]] = r["target"]
    return found


def set_goals(conn: Connection, patient_id: int, form) -> None:
    """Store the goals typed in; one refused value stores none of them."""
    targets = []
    for habit in HABITS:
        text = (form.get(habit.key) or "").strip()
        if text:
            targets.append((patient_id, habit.key, _value(habit, text)))
    conn.executemany(
        "INSERT INTO habit_goals (patient_id, habit, target) VALUES (?, ?, ?)"
        " ON CONFLICT(patient_id, habit) DO UPDATE SET target = excluded.target",
        targets,
    )


def met(habit: Habit, value: float | None, goal: float) -> bool | None:
    if value is None:
        return None
    return value >= goal if habit.at_least else value <= goal


def logged(conn, patient_id: int, first: date, last: date) -> dict[str, dict[str, float]]:
    """``{day: {habit key: value}}`` for days from ``first`` to ``last`` inclusive."""
    out: dict[str, dict[str, float]] = {}
    for r in conn.execute(
        "SELECT day, habit, value FROM habits WHERE patient_id = ? AND day >= ? AND day <= ?",
        (patient_id, first.isoformat(), last.isoformat()),
    ):
        habit = BY_NAME.get(r["habit"])
        if habit:
            out.setdefault(r["day"], {})[habit.key] = r["value"]
    return out


def streaks(conn, patient_id: int, today: date, goal: dict[str, float]) -> dict[str, int]:
    """Days in a row each goal was met, ending today (or yesterday while today is unlogged)."""
    days = logged(conn, patient_id, today - timedelta(days=366), today)
    out = {}
    for habit in HABITS:
        day = today if habit.key in days.get(today.isoformat(), {}) else today - timedelta(1)
        run = 0
        while met(habit, days.get(day.isoformat(), {}).get(habit.key), goal[habit.key]):
            run += 1
            day -= timedelta(days=1)
        out[habit.key] = run
    return out


def week(
    conn,
    patient_id: int,
    end: date,
    snacks: dict[str, int] | None,
    vitals: dict[str, dict[str, float]] | None,
    snacks_since: str | None = None,
) -> list[dict]:
    """Seven days ending ``end``, newest first: habits, snacks taken and average vitals.

    Snacks are counted from ``snacks_since`` (the cabinet's first report, YYYY-MM-DD);
    a day before it, or with no cabinet at all, has no count rather than none taken.
    """
    first = end - timedelta(days=6)
    days = logged(conn, patient_id, first, end)
    goal = goals(conn, patient_id)
    rows = []
    for i in range(7):
        moment = end - timedelta(days=i)
        day = moment.isoformat()
        values = days.get(day, {})
        rows.append(
            {
                "day": day,
                "label": f"{moment:%a} {moment.day} {moment:%b}",
                "habits": {h.key: _cell(h, values.get(h.key), goal[h.key]) for h in HABITS},
                "snacks": _snacks(snacks, snacks_since, day),
                "vitals": None if vitals is None else vitals.get(day, {}),
            }
        )
    return rows


def _snacks(snacks: dict[str, int] | None, since: str | None, day: str) -> int | None:
    if snacks is None or since is None or day < since:
        return None
    return snacks.get(day, 0)


def _cell(habit: Habit, value: float | None, goal: float) -> dict:
    return {"value": value, "met": met(habit, value, goal)}
