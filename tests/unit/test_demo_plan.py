"""The demo's made-up month: believable, the same every time, one alert raised and cleared."""

from collections import Counter
from datetime import UTC, datetime, timedelta

from services.common.alerts import AlertSettings, AlertTracker
from services.common.medication import schedule
from services.common.quality import flag_reason
from services.demo import CABINET_ITEMS, MEDICATIONS, fleet, plan

NOW = datetime(2026, 3, 18, 14, 37, 12, tzinfo=UTC)


def test_a_month_of_watch_readings_every_ten_minutes_but_while_it_charges():
    readings = plan.watch_readings(NOW)
    assert readings == plan.watch_readings(NOW)  # the same month on every machine
    first, last = readings[0].ts_ms, readings[-1].ts_ms
    assert NOW - datetime.fromtimestamp(first / 1000, UTC) >= timedelta(days=30)
    assert timedelta(0) < NOW - datetime.fromtimestamp(last / 1000, UTC) <= timedelta(minutes=11)
    assert Counter(r.metric for r in readings) == {
        "heart_rate": len(readings) // 3,
        "temperature": len(readings) // 3,
        "spo2": len(readings) // 3,
    }
    hours = {datetime.fromtimestamp(r.ts_ms / 1000, UTC).hour for r in readings}
    assert plan.CHARGING_HOUR not in hours and len(hours) == 23
    assert all(flag_reason(r.metric, r.value) is None for r in readings)  # nothing implausible


def test_nights_are_calmer_than_days_and_the_fever_is_one_afternoon():
    readings = plan.watch_readings(NOW)

    def mean(metric, hours):
        values = [
            r.value
            for r in readings
            if r.metric == metric and datetime.fromtimestamp(r.ts_ms / 1000, UTC).hour in hours
        ]
        return sum(values) / len(values)

    assert mean("heart_rate", {2, 3, 4}) + 8 < mean("heart_rate", {10, 11, 12})
    feverish = [r for r in readings if r.metric == "temperature" and r.value > 38]
    moments = {datetime.fromtimestamp(r.ts_ms / 1000, UTC) for r in feverish}
    assert max(moments) - min(moments) < timedelta(hours=8)
    assert abs(plan.fever_peak(NOW) - min(moments)) < timedelta(hours=4)


def test_the_recorder_rules_raise_exactly_one_alert_and_clear_it():
    tracker = AlertTracker(AlertSettings())
    alerts = []
    for r in plan.watch_readings(NOW) + plan.cuff_readings(NOW):
        alerts += tracker.observe("wch", r.metric, r.value, r.ts_ms, "demo")
    assert [(a.key, a.level) for a in alerts] == [
        ("temperature", "warning"),
        ("temperature", "cleared"),
    ]


def test_blood_pressure_is_typed_in_as_pairs_on_most_mornings():
    cuff = plan.cuff_readings(NOW)
    pairs = Counter(r.ts_ms for r in cuff)
    assert set(pairs.values()) == {2}
    assert 15 <= len(pairs) <= 30
    by_ts = {}
    for r in cuff:
        by_ts.setdefault(r.ts_ms, {})[r.metric] = r.value
    for pair in by_ts.values():
        assert 100 <= pair["bp_systolic"] <= 140 and 60 <= pair["bp_diastolic"] <= 95


def week_of_doses():
    listed = NOW - timedelta(days=7)
    meds = [
        (m.name, schedule.Schedule(schedule.parse_times(m.times), 3600, schedule.zone("UTC")))
        for m in MEDICATIONS
    ]
    return plan.doses(meds, listed, NOW), listed


def test_a_week_of_doses_mostly_on_time_with_one_missed():
    week, listed = week_of_doses()
    # listed at 14:37 a week ago: that evening's Vitamin C, six whole days, this morning's two
    assert len(week) == 1 + 6 * 3 + 2
    assert all(listed < d.slot.opens and d.slot.closes <= NOW for d in week)
    outcomes = Counter(
        "missed" if d.taken is None else schedule.timing(d.slot, d.taken) for d in week
    )
    assert outcomes["missed"] == 1 and outcomes["late"] == 2 and outcomes["early"] == 1
    assert outcomes["on_time"] == len(week) - 4
    assert all(d.taken is None or d.slot.opens <= d.taken < d.slot.closes for d in week)


def test_cabinet_counts_move_a_few_times_a_day_and_stay_in_bounds():
    week, _ = week_of_doses()
    item = {m.name: m.item for m in MEDICATIONS}
    taken = [(item[d.medication], d.taken) for d in week if d.taken]
    reports = plan.cabinet_counts(NOW, CABINET_ITEMS, taken)
    full = dict(CABINET_ITEMS)
    falls = Counter()
    before = dict(full)
    for report in reports:
        assert set(report.items) == set(full)
        assert all(0 <= report.items[k] <= full[k] for k in full)
        day = datetime.fromtimestamp(report.ts_ms / 1000, UTC).date()
        falls[day] += sum(max(0, before[k] - report.items[k]) for k in full)
        before = report.items
    assert max(falls.values()) <= 6  # items taken a few times a day, not a dozen an hour
    assert len(falls) >= 20
    assert [r.ts_ms for r in reports] == sorted(r.ts_ms for r in reports)


def test_the_simulated_cabinet_holds_the_medications_and_takes_them_on_time():
    args = fleet.simulator_args("Europe/Berlin", datetime(2026, 7, 1).date())
    assert args[args.index("--items") + 1] == "Aspirin:1,Vitamin C:1,Oat bars:3"
    taken = [args[i + 1] for i, a in enumerate(args) if a == "--taken-at"]
    # 08:00 and 20:00 in Berlin in summer are 06:00 and 18:00 UTC
    assert taken == ["Aspirin=06:00", "Vitamin C=06:00,18:00"]
    assert {m.item for m in MEDICATIONS} <= {name for name, _ in CABINET_ITEMS}
