"""The demo patient's month, made up the same way on every machine: pure functions, no I/O.

What a watch worn day and night, a home blood-pressure cuff and the cabinet would have
sent over the last 30 days, and how the last week's doses went. ``backfill`` sends the
readings and counts through the product's write path and ``record`` stores the doses;
nothing here writes anything.

The story: a resting heart rate in the 50s at night and the 70s by day, an evening walk
on most days, a blood-pressure reading most mornings while the watch charges, and one
afternoon of fever nine days ago (the recorder's temperature alert, raised and cleared).
"""

import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.common.medication import schedule

DAYS = 30
STEP = timedelta(minutes=10)  # one watch reading every ten minutes in the history
SEED = 2026
FEVER_DAYS_AGO = 9
FEVER_PEAK_HOUR = 16
CHARGING_HOUR = 7  # the watch is off the wrist for its charge from 07:00 to 07:50 UTC
WALK_HOUR = 18
# a week's doses: which are missed, late or early (by their order); the rest on time
MISSED, LATE, EARLY = {9}, {4, 15}, {12}


@dataclass(frozen=True)
class Reading:
    ts_ms: int
    metric: str
    value: float


@dataclass(frozen=True)
class Counts:
    """One inventory report of the cabinet: every item's count at ``ts_ms``."""

    ts_ms: int
    items: dict[str, int]


@dataclass(frozen=True)
class Dose:
    """One scheduled dose of the week: taken at ``taken`` (None: missed)."""

    medication: str
    slot: schedule.Slot
    taken: datetime | None


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _midnight(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def fever_peak(end: datetime) -> datetime:
    return _midnight(end) - timedelta(days=FEVER_DAYS_AGO) + timedelta(hours=FEVER_PEAK_HOUR)


def walk_minutes(day: datetime, end: datetime) -> int:
    """The evening walk's length on ``day`` (0: none); none on the day of the fever."""
    if _midnight(day) == _midnight(fever_peak(end)):
        return 0
    code = day.toordinal()
    return 0 if code % 4 == 1 else 25 + code % 3 * 10


def _fever(t: datetime, end: datetime) -> float:
    """0 to 1: how far into the fever the patient is at ``t``."""
    hours = (t - fever_peak(end)).total_seconds() / 3600
    return math.exp(-((hours / 2.5) ** 2)) if abs(hours) < 12 else 0.0


def _vitals_at(t: datetime, end: datetime, rng: random.Random) -> tuple[float, float, float]:
    """Heart rate, temperature and SpO2 of one moment."""
    hour = t.hour + t.minute / 60
    asleep = hour < 6 or hour >= 23
    fever = _fever(t, end)
    walk = walk_minutes(t, end)
    walking = walk and WALK_HOUR * 60 <= t.hour * 60 + t.minute < WALK_HOUR * 60 + walk
    if walking:
        hr = 104.0
    elif asleep:
        hr = 57.0
    else:
        hr = 70 + 6 * math.sin((hour - 9) / 14 * math.pi)
    hr += 14 * fever + rng.gauss(0, 2.5)
    temp = 36.6 + 0.25 * math.sin((hour - 10) / 24 * 2 * math.pi) + 2.75 * fever
    # no jitter while feverish, so the temperature crosses its threshold once each way
    temp += 0.0 if fever > 0.02 else rng.gauss(0, 0.07)
    spo2 = 97.3 - (1.0 if asleep else 0.0) - 1.2 * fever + rng.gauss(0, 0.6)
    return round(hr, 2), round(temp, 2), round(min(max(spo2, 93.0), 99.6), 1)


def watch_readings(end: datetime, days: int = DAYS, seed: int = SEED) -> list[Reading]:
    """The watch's readings from ``days`` ago until just before ``end``, oldest first."""
    rng = random.Random(seed)
    t = _midnight(end) - timedelta(days=days)
    stop = end - timedelta(minutes=1)  # the live watch takes over from here
    out = []
    while t < stop:
        if t.hour != CHARGING_HOUR:
            hr, temp, spo2 = _vitals_at(t, end, rng)
            ms = _ms(t)  # the gateway stamps each reading as it arrives, a moment apart
            out += [
                Reading(ms, "heart_rate", hr),
                Reading(ms + 4, "temperature", temp),
                Reading(ms + 8, "spo2", spo2),
            ]
        t += STEP
    return out


def cuff_readings(end: datetime, days: int = DAYS, seed: int = SEED) -> list[Reading]:
    """Blood pressure typed in on most mornings at 07:30, while the watch charges."""
    rng = random.Random(seed + 1)
    out = []
    for ago in range(days, 0, -1):
        day = _midnight(end) - timedelta(days=ago)
        if rng.random() < 0.25:
            continue  # forgotten that morning
        ms = _ms(day + timedelta(hours=7, minutes=30))
        systolic = round(rng.gauss(121, 5))
        diastolic = round(min(rng.gauss(78, 4), systolic - 30))
        out += [Reading(ms, "bp_systolic", systolic), Reading(ms, "bp_diastolic", diastolic)]
    return out


def doses(
    medications: list[tuple[str, schedule.Schedule]], listed: datetime, now: datetime
) -> list[Dose]:
    """Every dose due since the medications were ``listed`` whose window closed by ``now``."""
    due = [
        (slot.due, name, slot)
        for name, sched in medications
        for slot in schedule.slots_between(sched, listed, now)
        if listed < slot.opens and slot.closes <= now
    ]
    rng = random.Random(SEED + 2)
    out = []
    for i, (_, name, slot) in enumerate(sorted(due, key=lambda d: (d[0], d[1]))):
        offset = timedelta(minutes=max(-40.0, min(40.0, rng.gauss(0, 12))))
        if i in LATE:
            offset = (slot.on_time_to - slot.due) + timedelta(minutes=rng.uniform(10, 40))
        elif i in EARLY:
            offset = (slot.on_time_from - slot.due) - timedelta(minutes=rng.uniform(10, 40))
        out.append(Dose(name, slot, None if i in MISSED else slot.due + offset))
    return out


def cabinet_counts(
    end: datetime,
    items: tuple[tuple[str, int], ...],
    taken: list[tuple[str, datetime]],
    days: int = DAYS,
    seed: int = SEED,
) -> list[Counts]:
    """The cabinet's reports: packs taken a few times a day, boxes out and back for doses."""
    rng = random.Random(seed + 3)
    full = dict(items)
    events: list[tuple[datetime, str, int]] = []
    for box, moment in taken:  # out, and back a minute or so later
        events += [(moment, box, -1), (moment + timedelta(seconds=rng.uniform(40, 110)), box, 1)]
    for name, positions in items:
        if positions > 1:
            events += _packs(name, positions, end, days, rng)
    counts = dict(full)
    out = []
    for moment, name, change in sorted(events):
        if moment >= end:
            continue
        counts[name] = max(0, min(full[name], counts[name] + change))
        out.append(Counts(_ms(moment), dict(counts)))
    return out


def _packs(name: str, positions: int, end: datetime, days: int, rng: random.Random):
    """A pack taken once or twice most days; restocked the morning after the last one."""
    events, left = [], positions
    for ago in range(days, 0, -1):
        day = _midnight(end) - timedelta(days=ago)
        if left == 0:
            events.append((day + timedelta(hours=10), name, positions))
            left = positions
        for _ in range(rng.choice((0, 1, 1, 2))):
            if left:
                at = day + timedelta(hours=rng.uniform(11, 21))
                events.append((at, name, -1))
                left -= 1
    return events
