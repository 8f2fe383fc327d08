"""The InfluxQL the history queries are built from: buckets, filters, quoting, paging."""

from datetime import UTC, datetime, timedelta

import pytest

from services.common import history
from services.common.history import Subject
from services.common.influx import Query, join

END = datetime(2026, 11, 1, tzinfo=UTC)
START = END - timedelta(days=30)


def test_bucket_grows_with_the_range_and_stays_under_the_point_budget():
    day = history.bucket_seconds(END - timedelta(days=1), END)
    month = history.bucket_seconds(START, END)
    hour = history.bucket_seconds(END - timedelta(hours=1), END)
    assert (hour, day, month) == (30, 300, 3 * 3600)
    for span in (timedelta(minutes=5), timedelta(days=1), timedelta(days=30), timedelta(days=365)):
        size = history.bucket_seconds(END - span, END)
        assert span.total_seconds() / size <= 300 or size == history.BUCKETS[-1]


def test_series_query_filters_flagged_readings_and_groups_by_time():
    q = history.series_query(Subject(device="wch-01"), "heart_rate", START, END)
    assert q == Query(
        'SELECT mean("value") AS "mean", min("value") AS "min", max("value") AS "max" '
        'FROM "vitals" WHERE "device" = $device AND "metric" = $metric AND '
        '"flagged" = false AND time >= $start AND time < $end GROUP BY time(3h) fill(none)',
        {
            "device": "wch-01",
            "metric": "heart_rate",
            "start": "2026-10-02T00:00:00.000000Z",
            "end": "2026-11-01T00:00:00.000000Z",
        },
    )


def test_builders_bind_values_and_never_write_them_into_the_text():
    hostile = "x' OR '1'='1\\\n"
    q = history.daily_query(Subject(device=hostile, patient=hostile), START, END, tz=hostile)
    assert hostile not in q.text and "'" not in q.text
    assert q.params["device"] == q.params["patient"] == q.params["tz"] == hostile
    with pytest.raises(ValueError):
        history.rfc3339(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        history.rows_query(Subject(device="a"), limit=0)


def test_rows_query_includes_flagged_and_pages_newest_first():
    q = history.rows_query(Subject(device="wch-01"), limit=20, before_ms=1700000000000)
    assert 'flagged" = false' not in q.text
    assert q.text.endswith(
        'WHERE "device" = $device AND time < 1700000000000ms ORDER BY time DESC LIMIT 20'
    )
    assert q.params == {"device": "wch-01"}
    assert history.rows_query(Subject(), limit=5, offset=10).text.endswith("LIMIT 5 OFFSET 10")


def test_statements_joined_into_one_request_keep_each_its_own_values():
    one = Query("SELECT 1 WHERE a = $a", {"a": "x"})
    same = Query("SELECT 2 WHERE a = $a AND b = $b", {"a": "x", "b": 1})
    assert join([one, same]) == Query(
        "SELECT 1 WHERE a = $a;\nSELECT 2 WHERE a = $a AND b = $b", {"a": "x", "b": 1}
    )
    other = Query("SELECT 3 WHERE a = $a AND ab = $ab", {"a": "y", "ab": "z"})
    assert join([one, other]) == Query(
        "SELECT 1 WHERE a = $a;\nSELECT 3 WHERE a = $a_1 AND ab = $ab",
        {"a": "x", "a_1": "y", "ab": "z"},
    )
