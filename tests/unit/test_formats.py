"""One date format on every page, and a report's days named without the off-by-one."""

from datetime import UTC, datetime

from services.common.reports import last_days
from services.web import formats


def test_dates_and_times_have_one_format():
    ts = int(datetime(2026, 12, 1, 14, 5, 9, tzinfo=UTC).timestamp())
    assert formats.day(ts) == "1 Dec 2026"
    assert formats.when(ts * 1000) == "1 Dec 2026, 14:05:09"
    assert formats.when(ts * 1000, "Asia/Singapore") == "1 Dec 2026, 22:05:09"
    assert formats.day(ts - 14 * 3600 - 6 * 60, "America/New_York") == "30 Nov 2026"
    assert formats.when(None) == "never" and formats.day(None) == "–"
    assert formats.when(ts * 1000, "Not/AZone") == "1 Dec 2026, 14:05:09"  # unknown: UTC


def test_a_week_made_on_1_december_ends_on_1_december():
    start, end = last_days(7, UTC, datetime(2026, 12, 1, 9, 30, tzinfo=UTC))
    assert end.isoformat() == "2026-12-02T00:00:00+00:00"  # exclusive, as every period is
    assert formats.period(start.isoformat(), end.isoformat()) == "25 Nov – 1 Dec 2026"
    over_new_year = formats.period("2026-12-28T00:00:00+08:00", "2027-01-04T00:00:00+08:00")
    assert over_new_year == "28 Dec 2026 – 3 Jan 2027"
    assert formats.period("2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z") == "1 Dec 2026"
    assert formats.period(None, "2026-12-02") == "–"
    assert formats.when_iso("2026-12-01T14:05:59+00:00") == "1 Dec 2026, 14:05"
