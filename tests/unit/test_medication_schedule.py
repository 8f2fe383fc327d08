"""When doses fall due: time zones, daylight saving, windows across midnight, days of the week."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from services.common.medication import MedicationError
from services.common.medication import schedule as s

LONDON = s.zone("Europe/London")
HOUR = 3600


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_times_and_days_parse_and_refuse_nonsense():
    assert s.parse_times(" 20:00,08:00,08:00 ") == (time(8), time(20))
    assert s.parse_times("07:15:30") == (time(7, 15, 30),)
    assert s.format_times(s.parse_times("8:05,21:00:10")) == "08:05,21:00:10"
    for bad in ("", "25:00", "8", "eight"):
        with pytest.raises(MedicationError):
            s.parse_times(bad)
    assert s.parse_days("Mon, wednesday,fri") == frozenset({0, 2, 4})
    assert s.parse_days("") == frozenset()
    with pytest.raises(MedicationError):
        s.parse_days("funday")
    with pytest.raises(MedicationError):
        s.zone("Mars/Olympus")


def test_due_times_are_local_wall_clock_times():
    sched = s.Schedule((time(8),), HOUR, s.zone("Asia/Singapore"))
    slots = s.slots_between(sched, _utc(2026, 3, 1), _utc(2026, 3, 1, 12))
    assert [x.due for x in slots] == [_utc(2026, 3, 1, 0)]  # 08:00 at UTC+8
    (slot,) = slots
    assert slot.opens == _utc(2026, 2, 28, 22) and slot.closes == _utc(2026, 3, 1, 2)
    assert s.timing(slot, _utc(2026, 2, 28, 22, 30)) == s.EARLY
    assert s.timing(slot, _utc(2026, 3, 1, 0, 59)) == s.ON_TIME
    assert s.timing(slot, _utc(2026, 3, 1, 1, 30)) == s.LATE
    assert s.slot_at(sched, _utc(2026, 3, 1, 2)) is None  # closed: not a dose
    assert s.slot_at(sched, _utc(2026, 3, 1, 12)) is None


def test_a_daylight_saving_change_keeps_the_clock_time():
    sched = s.Schedule((time(8),), HOUR, LONDON)
    # clocks go forward on 29 March 2026: 08:00 is 08:00 GMT before, 07:00 UTC after
    slots = s.slots_between(sched, _utc(2026, 3, 28), _utc(2026, 3, 31))
    assert [x.due for x in slots] == [
        _utc(2026, 3, 28, 8),
        _utc(2026, 3, 29, 7),
        _utc(2026, 3, 30, 7),
    ]
    # a time the change skips is taken an hour later on the clock; a doubled one, once
    skipped = s.Schedule((time(1, 30),), 600, LONDON)
    (spring,) = s.slots_between(skipped, _utc(2026, 3, 29), _utc(2026, 3, 29, 12))
    assert spring.due == _utc(2026, 3, 29, 1, 30)  # 02:30 BST
    (autumn,) = s.slots_between(skipped, _utc(2026, 10, 25), _utc(2026, 10, 25, 12))
    assert autumn.due == _utc(2026, 10, 25, 0, 30)  # the first 01:30 (BST)


def test_a_window_crossing_midnight_belongs_to_its_day():
    sched = s.Schedule((time(23, 30),), HOUR, LONDON, days=frozenset({0}))  # Mondays
    # Monday 5 Jan 2026 23:30 GMT; a removal at 01:00 on Tuesday is that dose, late
    slot = s.slot_at(sched, _utc(2026, 1, 6, 1, 0))
    assert slot is not None and slot.due == _utc(2026, 1, 5, 23, 30)
    assert s.timing(slot, _utc(2026, 1, 6, 1, 0)) == s.LATE
    assert s.slot_at(sched, _utc(2026, 1, 6, 23, 30)) is None  # Tuesday: no dose


def test_days_of_the_week_and_dates_bound_the_doses():
    sched = s.Schedule(
        (time(9),),
        HOUR,
        LONDON,
        days=frozenset({0, 2, 4}),
        start=date(2026, 1, 7),
        end=date(2026, 1, 14),
    )
    slots = s.slots_between(sched, _utc(2026, 1, 1), _utc(2026, 1, 31))
    assert [x.due.date() for x in slots] == [date(2026, 1, d) for d in (7, 9, 12, 14)]


def test_close_doses_share_the_gap_so_a_moment_is_one_dose():
    sched = s.Schedule((time(8), time(9)), HOUR, s.zone("UTC"))
    first, second = s.slots_between(sched, _utc(2026, 1, 1, 6), _utc(2026, 1, 1, 10))
    assert first.closes == second.opens == _utc(2026, 1, 1, 8, 30)
    assert s.slot_at(sched, _utc(2026, 1, 1, 8, 29)) == first
    assert s.slot_at(sched, _utc(2026, 1, 1, 8, 31)) == second


def test_cue_and_stock_arithmetic():
    sched = s.Schedule((time(8), time(20)), HOUR, s.zone("UTC"), days=frozenset({0, 3}))
    slot = s.slot_at(sched, _utc(2026, 1, 5, 8))
    assert not s.cue_on(slot, slot.due - timedelta(seconds=HOUR + 1))
    assert s.cue_on(slot, slot.on_time_from) and not s.cue_on(slot, slot.closes)
    assert s.doses_per_day(sched) == pytest.approx(4 / 7)
    assert s.days_left(8, 2, sched) == pytest.approx(7)
