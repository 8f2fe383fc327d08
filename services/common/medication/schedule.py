"""When doses fall due, and whether a moment is early, on time or late: pure functions.

A medication is taken at local times of day, in the patient's time zone, on every
day or on some days of the week, between optional start and end dates. Each dose
has a *window* of ``w`` seconds either side of its time in which it counts as on
time; a dose taken up to ``w`` before that is early, up to ``w`` after it is late,
and the dose *closes* (missed, if nothing was seen) ``2w`` after its time. Doses of
one medication that close in on each other share the gap at its midpoint, so a
moment belongs to at most one dose.

Local times are wall-clock times: a time that a daylight-saving change skips is
taken at the same offset as before the change (02:30 becomes 03:30), and a time
that happens twice is taken the first time.
"""

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from . import MedicationError

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EARLY, ON_TIME, LATE = "early", "on_time", "late"


@dataclass(frozen=True)
class Schedule:
    """When one medication is due: local times, window, days of the week, dates."""

    times: tuple[time, ...]
    window_s: int
    tz: ZoneInfo
    days: frozenset[int] = frozenset()  # 0 = Monday; empty = every day
    start: date | None = None
    end: date | None = None


@dataclass(frozen=True)
class Slot:
    """One scheduled dose: when it is due and the bounds of its window (UTC)."""

    due: datetime
    opens: datetime  # a removal from here on counts (as early)
    on_time_from: datetime
    on_time_to: datetime
    closes: datetime  # nothing seen by now: missed

    @property
    def key(self) -> int:
        """The dose's identity: its due time in Unix seconds."""
        return int(self.due.timestamp())


def parse_times(text: str) -> tuple[time, ...]:
    """``08:00,20:00`` (or ``HH:MM:SS``) -> sorted distinct times of day."""
    out = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            pieces = [int(x) for x in part.split(":")]
            if len(pieces) not in (2, 3):
                raise ValueError(part)
            out.add(time(*pieces))
        except ValueError as exc:
            raise MedicationError(f"{part!r} is not a time of day (HH:MM)") from exc
    if not out:
        raise MedicationError("give at least one time of day (HH:MM)")
    return tuple(sorted(out))


def format_times(times: Iterable[time]) -> str:
    return ",".join(t.strftime("%H:%M:%S" if t.second else "%H:%M") for t in times)


def parse_days(text: str) -> frozenset[int]:
    """``mon,wed,fri`` -> weekday numbers; empty text = every day."""
    out = set()
    for part in (p.strip().lower()[:3] for p in text.split(",")):
        if not part:
            continue
        if part not in DAY_NAMES:
            raise MedicationError(f"{part!r} is not a day of the week (mon ... sun)")
        out.add(DAY_NAMES.index(part))
    return frozenset(out)


def format_days(days: Iterable[int]) -> str:
    return ",".join(DAY_NAMES[d] for d in sorted(days))


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``, or a ``MedicationError`` saying it is unknown."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise MedicationError(f"{name!r} is not a known time zone (e.g. Europe/London)") from exc


def _due_on(schedule: Schedule, day: date) -> list[datetime]:
    if schedule.days and day.weekday() not in schedule.days:
        return []
    if (schedule.start and day < schedule.start) or (schedule.end and day > schedule.end):
        return []
    # fold=0: a skipped time keeps the old offset (later on the clock), a doubled one is first
    return [datetime.combine(day, t, tzinfo=schedule.tz).astimezone(UTC) for t in schedule.times]


def _slot(due: datetime, window_s: int) -> Slot:
    w = timedelta(seconds=window_s)
    return Slot(due, due - 2 * w, due - w, due + w, due + 2 * w)


def _share_gaps(slots: list[Slot]) -> list[Slot]:
    """Doses closer than their windows meet at the midpoint between them."""
    out = list(slots)
    for i in range(len(out) - 1):
        a, b = out[i], out[i + 1]
        if a.closes > b.opens:
            mid = a.due + (b.due - a.due) / 2
            out[i] = replace(a, closes=mid, on_time_to=min(a.on_time_to, mid))
            out[i + 1] = replace(b, opens=mid, on_time_from=max(b.on_time_from, mid))
    return out


def slots_between(schedule: Schedule, start: datetime, end: datetime) -> list[Slot]:
    """Every dose whose window overlaps ``[start, end)``, in order."""
    span = timedelta(seconds=2 * schedule.window_s) + timedelta(days=2)
    first = (start - span).astimezone(schedule.tz).date()
    last = (end + span).astimezone(schedule.tz).date()
    dues: set[datetime] = set()
    day = first
    while day <= last:
        dues.update(_due_on(schedule, day))
        day += timedelta(days=1)
    slots = _share_gaps([_slot(d, schedule.window_s) for d in sorted(dues)])
    return [s for s in slots if s.closes > start and s.opens < end]


def slot_at(schedule: Schedule, moment: datetime) -> Slot | None:
    """The dose whose window holds ``moment``, or None (not a dose)."""
    for slot in slots_between(schedule, moment, moment + timedelta(microseconds=1)):
        if slot.opens <= moment < slot.closes:
            return slot
    return None


def timing(slot: Slot, moment: datetime) -> str:
    """Early, on time or late, for a dose taken at ``moment`` within its window."""
    if moment < slot.on_time_from:
        return EARLY
    if moment <= slot.on_time_to:
        return ON_TIME
    return LATE


def cue_on(slot: Slot, moment: datetime) -> bool:
    """Whether the cabinet's cue is lit for this dose (from on time until it closes)."""
    return slot.on_time_from <= moment < slot.closes


def doses_per_day(schedule: Schedule) -> float:
    """The average number of doses a day (days of the week counted)."""
    days = len(schedule.days) if schedule.days else 7
    return len(schedule.times) * days / 7


def days_left(stock: float, dose: float, schedule: Schedule) -> float | None:
    """How many days ``stock`` lasts at ``dose`` per scheduled dose; None if nothing is used."""
    per_day = doses_per_day(schedule) * dose
    if per_day <= 0:
        return None
    return max(stock, 0.0) / per_day
