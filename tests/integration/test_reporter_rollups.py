"""The reporter's InfluxDB reads: hourly rollups equal to the raw readings, reused, never stale."""

import logging
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.common import history
from services.common.influx import InfluxClient, InfluxSettings
from services.reporter import influxdata, rollups
from services.reporter.model import VITALS, Period
from services.reporter.protocol import last_days
from tests.support.influxdb import InfluxDB
from tests.support.reports import history_lines

NOW = datetime.now(UTC)
# A half-hour offset puts the period's edges mid-hour, where rollups cannot be used.
KOLKATA = ZoneInfo("Asia/Kolkata")


def direct(influxdb, period: Period) -> dict[str, dict]:
    """Each metric's summary computed straight from the raw readings, as a reader would."""
    start_ms, end_ms = (int(t.timestamp() * 1000) for t in (period.start, period.end))
    span = f"time >= {start_ms}ms AND time < {end_ms}ms"
    where = f"patient = 'alice' AND {span}"
    out = {}
    for metric, (_, _, low, high) in VITALS.items():
        plausible = f"{where} AND metric = '{metric}' AND flagged = false"
        stats = influxdb.rows(
            'SELECT count("value") AS "count", min("value") AS "min", mean("value") AS "mean",'
            f' max("value") AS "max" FROM vitals WHERE {plausible}'
        )
        out[metric] = {
            **(stats[0] if stats else {"count": 0, "min": None, "mean": None, "max": None}),
            "flagged": influxdb.count(
                f"SELECT count(value) FROM vitals WHERE {where} AND metric = '{metric}'"
                " AND flagged = true"
            ),
            "in_range": influxdb.count(
                f"SELECT count(value) FROM vitals WHERE {plausible}"
                f" AND value >= {low} AND value <= {high}"
            ),
        }
    return out


def assert_matches(summaries, expected: dict[str, dict]) -> None:
    for s in summaries:
        want = expected[s.metric]
        assert (s.count, s.flagged, s.in_range) == (
            want["count"],
            want["flagged"],
            want["in_range"],
        )
        assert (s.minimum, s.maximum) == (want["min"], want["max"])
        if want["count"]:
            assert s.mean == pytest.approx(want["mean"], rel=1e-9)


@pytest.fixture
def client(influxdb):
    with InfluxClient(InfluxSettings(url=influxdb.url)) as c:
        c.ensure_database()
        c.write(history_lines("alice", 12, NOW, every_s=300))
        yield c


def stored_hours(influxdb) -> int:
    return influxdb.count(f'SELECT count("total") FROM "{rollups.MEASUREMENT}"')


def test_summaries_equal_the_raw_readings_and_the_closed_hours_are_stored(
    client, influxdb, monkeypatch
):
    period = last_days(3, KOLKATA)
    expected = direct(influxdb, period)
    assert expected["heart_rate"]["count"] > 500 and expected["heart_rate"]["flagged"] > 0
    summaries, _ = influxdata.vitals(client, "alice", period)
    assert_matches(summaries, expected)
    now_hour = int(datetime.now(UTC).timestamp() * 1000) // rollups.HOUR_MS * rollups.HOUR_MS
    rows = influxdb.rows(
        f'SELECT "total" FROM "{rollups.MEASUREMENT}" WHERE metric = \'heart_rate\''
    )
    start_ms = int(period.start.timestamp() * 1000)
    # whole closed hours only: not the half hour at the start, not the hour still running
    assert rows and all(start_ms < r["time"] < now_hour for r in rows)
    assert min(r["time"] for r in rows) == start_ms + 30 * 60_000

    # The second report reads the stored hours: only the edges are scanned.
    spans = []
    computed = rollups._computed
    monkeypatch.setattr(rollups, "_computed", lambda c, p, s: spans.extend(s) or computed(c, p, s))
    summaries, _ = influxdata.vitals(client, "alice", period)
    assert_matches(summaries, expected)
    first = start_ms + 30 * 60_000
    assert spans and all(
        end == first or start >= now_hour - rollups.HOUR_MS for start, end in spans
    )


def test_a_late_reading_in_a_stored_hour_is_counted_and_the_hour_restored(client, influxdb):
    period = last_days(3, UTC)
    influxdata.vitals(client, "alice", period)
    assert stored_hours(influxdb) > 0
    hour = int((NOW - timedelta(days=1)).timestamp() * 1000) // rollups.HOUR_MS * rollups.HOUR_MS
    # a reading replayed from a spool, long after its hour was rolled up
    late = "vitals,device=wch-a,metric=heart_rate,patient=alice flagged=false,value=151"
    client.write([f"{late} {hour + 1234}"])
    summaries, _ = influxdata.vitals(client, "alice", period)
    assert_matches(summaries, direct(influxdb, period))
    assert summaries[0].maximum == 151
    [row] = influxdb.rows(
        f'SELECT "total", "max" FROM "{rollups.MEASUREMENT}"'
        f" WHERE metric = 'heart_rate' AND time = {hour}ms"
    )
    assert row["max"] == 151
    assert row["total"] == influxdb.count(
        f"SELECT count(value) FROM vitals WHERE metric = 'heart_rate'"
        f" AND time >= {hour}ms AND time < {hour + rollups.HOUR_MS}ms"
    )


def test_charts_from_rollups_equal_influxdb_grouping_of_the_raw_readings(client):
    period = last_days(12, UTC)  # two-hour buckets, merged from hourly slots
    bucket = history.bucket_seconds(period.start, period.end, 240)
    assert bucket == 7200
    for _ in range(2):  # computed, then read back from the stored rollups
        _, charts = influxdata.vitals(client, "alice", period)
        for metric in ("heart_rate", "spo2"):
            query = history.series_query(
                history.Subject(patient="alice"), metric, period.start, period.end, bucket
            )
            raw = client.query(query)
            assert [p.time_ms for p in charts[metric]] == [r["time"] + bucket * 500 for r in raw]
            assert [(p.low, p.high) for p in charts[metric]] == [(r["min"], r["max"]) for r in raw]
            assert [p.mean for p in charts[metric]] == pytest.approx([r["mean"] for r in raw])


def test_changed_normal_ranges_retire_the_stored_rollups(client, influxdb, monkeypatch):
    period = last_days(2, UTC)
    influxdata.vitals(client, "alice", period)
    monkeypatch.setitem(VITALS, "heart_rate", ("Heart rate", "bpm", 50.0, 70.0))
    monkeypatch.setattr(rollups, "VERSION", "changed0")
    summaries, _ = influxdata.vitals(client, "alice", period)
    assert_matches(summaries, direct(influxdb, period))
    versions = {
        r["value"]
        for r in influxdb.rows(f'SHOW TAG VALUES FROM "{rollups.MEASUREMENT}" WITH KEY = "v"')
    }
    assert "changed0" in versions and len(versions) == 2


def test_a_read_only_account_still_gets_right_reports_and_a_warning(tmp_path, caplog):
    workdir = tmp_path / "influx-auth"
    workdir.mkdir()
    server = InfluxDB(workdir, auth=("admin", "s3cret")).start()
    try:
        server.query("CREATE DATABASE vitals")
        server.query("CREATE USER \"reader\" WITH PASSWORD 'r'")
        server.query('GRANT READ ON "vitals" TO "reader"')
        with InfluxClient(InfluxSettings(url=server.url, username="admin", password="s3cret")) as c:
            c.write(history_lines("alice", 2, NOW, every_s=300))
        reader = InfluxSettings(url=server.url, username="reader", password="r")
        period = last_days(2, UTC)
        with InfluxClient(reader) as c, caplog.at_level(logging.WARNING):
            summaries, _ = influxdata.vitals(c, "alice", period)
        assert_matches(summaries, direct(server, period))
        assert "reporter.rollup_write_failed" in caplog.text
        assert server.count(f'SELECT count("total") FROM "{rollups.MEASUREMENT}"') == 0
    finally:
        server.kill()


def test_the_reporter_service_rolls_up_closed_hours_in_the_background(
    client, influxdb, make_reporter
):
    reporter = make_reporter()
    reporter.wait_log("event=reporter.rollups_done days=31", timeout=30)
    now_hour = int(datetime.now(UTC).timestamp() * 1000) // rollups.HOUR_MS * rollups.HOUR_MS
    want = {
        (r["metric"], r["time"])
        for r in influxdb.rows(
            "SELECT count(value) FROM vitals WHERE patient = 'alice'"
            f" AND time >= {now_hour - 31 * 24 * rollups.HOUR_MS}ms AND time < {now_hour}ms"
            " GROUP BY time(1h), metric fill(none)"
        )
    }
    stored = influxdb.rows(
        f'SELECT "total" FROM "{rollups.MEASUREMENT}" WHERE patient = \'alice\' GROUP BY metric'
    )
    assert len(want) > 12 * 24 * 2
    # every closed hour with readings (but the one that may have closed since the pass)
    assert len(want - {(r["metric"], r["time"]) for r in stored}) <= len(VITALS)
    assert reporter.stop() == 0


def test_rollups_can_be_turned_off():
    assert rollups.Keeper(0).wait(0.0) is None
    assert rollups.Keeper(31).wait(0.0) == 0.0


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata", "America/New_York"])
def test_snacks_per_local_day_equal_influxdb_own_grouping(client, tz):
    period = last_days(12, ZoneInfo(tz))
    span = f"time >= '{period.start.isoformat()}' AND time < '{period.end.isoformat()}'"
    direct = client.query(
        'SELECT sum("change") AS "change" FROM (SELECT difference("count") AS "change"'
        f" FROM inventory WHERE patient = 'alice' AND {span} GROUP BY device, item)"
        f" WHERE change < 0 AND {span} GROUP BY time(1d), item fill(none) tz('{tz}')"
    )
    want: dict[int, dict[str, int]] = {}
    for row in direct:
        want.setdefault(row["time"], {})[row["item"]] = -int(row["change"])
    days = influxdata.snacks(client, "alice", period, tz)
    assert len(days) >= 8
    assert {d.day_ms: d.taken for d in days} == want
