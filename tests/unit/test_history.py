"""The InfluxQL the history queries are built from: buckets, filters, quoting, paging."""

from datetime import UTC, datetime, timedelta

import pytest

from services.common import history
from services.common.history import Subject

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
    assert q == (
        'SELECT mean("value") AS "mean", min("value") AS "min", max("value") AS "max" '
        'FROM "vitals" WHERE "device" = \'wch-01\' AND "metric" = \'heart_rate\' AND '
        "\"flagged\" = false AND time >= '2026-10-02T00:00:00.000000Z' AND "
        "time < '2026-11-01T00:00:00.000000Z' GROUP BY time(3h) fill(none)"
    )


def test_builders_quote_hostile_input():
    q = history.latest_query(Subject(patient="x' OR '1'='1"))
    assert "\"patient\" = 'x\\' OR \\'1\\'=\\'1'" in q
    with pytest.raises(ValueError):
        history.rfc3339(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        history.rows_query(Subject(device="a"), limit=0)


def test_rows_query_includes_flagged_and_pages_newest_first():
    q = history.rows_query(Subject(device="wch-01"), limit=20, before_ms=1700000000000)
    assert 'flagged" = false' not in q
    assert q.endswith(
        "WHERE \"device\" = 'wch-01' AND time < 1700000000000ms ORDER BY time DESC LIMIT 20"
    )
    assert history.rows_query(Subject(), limit=5, offset=10).endswith("LIMIT 5 OFFSET 10")
